// RTCP (RFC 3550 6.4, RFC 4585 6, RFC 5104 4.3.1): compound packets read with bounds checks, one
// small type per packet kind decoded from a packet's body into a value whose lists point into the
// caller's buffer, builders into caller buffers, and the SSRC rewrite of forwarded feedback.
// No allocation, no exceptions.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "sfu/rtp.hpp"

namespace sfu {

// Packet types (RFC 3550 12.1, RFC 4585 6.1, RFC 3611).
namespace rtcp_type {
constexpr uint8_t kSr = 200, kRr = 201, kSdes = 202, kBye = 203, kApp = 204, kRtpfb = 205, kPsfb = 206, kXr = 207;
}
// Feedback message types (FMT): RFC 4585 6.2.1 / 6.3.1, RFC 5104 4.3.1,
// draft-holmer-rmcat-transport-wide-cc-extensions 3.1, draft-alvestrand-rmcat-remb 2.
namespace rtcp_fmt {
constexpr uint8_t kNack = 1, kTransportCc = 15;   // RTPFB
constexpr uint8_t kPli = 1, kFir = 4, kAfb = 15;  // PSFB; REMB is an AFB whose FCI starts "REMB"
}

enum class RtcpError : uint8_t {
  None,
  Truncated,   // shorter than a header, or than the fields the packet type requires
  BadVersion,  // version is not 2
  BadLength,   // the length field runs past the buffer, or a list does not fit the body
  BadPadding,  // padding count 0 or larger than the packet body
  WrongType,   // parse() of one kind given a packet of another
  BadValue,    // a field holds a value its format reserves (TWCC: status count 0, status symbol 3)
};
const char* to_string(RtcpError e);

// Room an RTCP buffer needs after the packet for SrtpSession::protect_rtcp: the E-bit/SRTCP index
// word and the largest auth tag of the supported profiles (RFC 3711 3.4; 4 + 16 for AES-GCM).
constexpr size_t kSrtcpTrailerRoom = 20;

// The 4-byte common header (RFC 3550 6.4.1): V=2, P, count (RC/SC) or FMT, PT, length in 32-bit
// words minus one. parse() checks only these 4 bytes: it is what can be read of an SRTCP packet.
struct RtcpHeader {
  static constexpr size_t kSize = 4;
  bool padding = false;
  uint8_t count = 0;  // RC, SC or FMT
  uint8_t type = 0;
  uint16_t length_words = 0;
  size_t packet_size() const { return (length_words + size_t{1}) * 4; }
  static RtcpError parse(std::span<const uint8_t> d, RtcpHeader& out);
};

// One packet of a compound: its header, its body (after the header, padding removed) and all of it.
struct RtcpPacket {
  RtcpHeader header;
  std::span<const uint8_t> body;
  std::span<const uint8_t> raw;
  uint8_t type() const { return header.type; }
  uint8_t count() const { return header.count; }
  uint8_t fmt() const { return header.count; }
};

// Iterates the packets of a compound (RFC 3550 6.1): each length must lie inside the buffer, and
// padding must be consistent. Reduced-size RTCP (RFC 5506) is accepted: no first-packet rule.
//   RtcpReader r(bytes); RtcpPacket p; while (r.next(p)) {...}; if (r.error() != RtcpError::None) ...
class RtcpReader {
 public:
  explicit RtcpReader(std::span<const uint8_t> compound) : rest_(compound) {}
  bool next(RtcpPacket& out);
  RtcpError error() const { return error_; }  // None after a clean end
 private:
  std::span<const uint8_t> rest_;
  RtcpError error_ = RtcpError::None;
};
// Walks the whole compound; None if every packet is well-formed as far as the reader checks and
// there is at least one.
RtcpError validate_compound(std::span<const uint8_t> compound);

// A list of fixed-size items over a span the parser has checked to hold size() * Stride bytes.
template <typename T, size_t Stride, T (*Decode)(const uint8_t*)>
class ItemList {
 public:
  ItemList() = default;
  explicit ItemList(std::span<const uint8_t> raw) : raw_(raw.first(raw.size() / Stride * Stride)) {}
  size_t size() const { return raw_.size() / Stride; }
  bool empty() const { return raw_.empty(); }
  T operator[](size_t i) const { return Decode(raw_.data() + i * Stride); }  // i < size()
  std::span<const uint8_t> raw() const { return raw_; }
  struct iterator {
    const ItemList* list;
    size_t i;
    T operator*() const { return (*list)[i]; }
    iterator& operator++() { ++i; return *this; }
    bool operator==(const iterator& o) const { return i == o.i; }
  };
  iterator begin() const { return {this, 0}; }
  iterator end() const { return {this, size()}; }
 private:
  std::span<const uint8_t> raw_;
};

inline uint32_t decode_ssrc(const uint8_t* p) { return be::u32(p); }
using SsrcList = ItemList<uint32_t, 4, &decode_ssrc>;

// Report block (RFC 3550 6.4.1), 24 bytes.
struct ReportBlock {
  static constexpr size_t kSize = 24;
  uint32_t ssrc = 0;
  uint8_t fraction_lost = 0;       // fixed point, /256
  int32_t cumulative_lost = 0;     // 24-bit signed on the wire (RFC 3550 6.4.1, A.3)
  uint32_t highest_sequence = 0;   // extended highest sequence number received
  uint32_t jitter = 0;             // interarrival jitter, timestamp units
  uint32_t lsr = 0;                // middle 32 bits of the last SR's NTP timestamp
  uint32_t dlsr = 0;               // delay since that SR, 1/65536 s
  static ReportBlock decode(const uint8_t* p);
  void encode(uint8_t* p) const;
  bool operator==(const ReportBlock&) const = default;
};
using ReportBlockList = ItemList<ReportBlock, ReportBlock::kSize, &ReportBlock::decode>;

// Sender info (RFC 3550 6.4.1).
struct SenderInfo {
  uint64_t ntp = 0;  // NTP timestamp, 32.32 fixed point
  uint32_t rtp_timestamp = 0;
  uint32_t packet_count = 0;
  uint32_t octet_count = 0;
  bool operator==(const SenderInfo&) const = default;
};

// SR (RFC 3550 6.4.1).
struct SenderReport {
  uint32_t ssrc = 0;
  SenderInfo info;
  ReportBlockList blocks;
  static RtcpError parse(const RtcpPacket& p, SenderReport& out);
};

// RR (RFC 3550 6.4.2).
struct ReceiverReport {
  uint32_t ssrc = 0;
  ReportBlockList blocks;
  static RtcpError parse(const RtcpPacket& p, ReceiverReport& out);
};

// BYE (RFC 3550 6.6): SC SSRC/CSRCs and an optional reason.
struct Bye {
  SsrcList ssrcs;
  std::span<const uint8_t> reason;
  static RtcpError parse(const RtcpPacket& p, Bye& out);
};

// Generic NACK (RFC 4585 6.2.1): FCI items of PID and BLP (bit i: PID+i+1 lost too).
struct NackItem {
  uint16_t pid = 0;
  uint16_t blp = 0;
  static NackItem decode(const uint8_t* p) { return {be::u16(p), be::u16(p + 2)}; }
};
using NackItemList = ItemList<NackItem, 4, &NackItem::decode>;
struct GenericNack {
  uint32_t sender_ssrc = 0;
  uint32_t media_ssrc = 0;
  NackItemList items;  // at least one
  static RtcpError parse(const RtcpPacket& p, GenericNack& out);
  // The lost sequence numbers in FCI order, at most out.size() of them; returns how many written.
  size_t expand(std::span<uint16_t> out) const;
  size_t sequence_count() const;  // how many expand() would give with room for all
};
// Upper bound of sequence numbers one NACK item names (PID and 16 BLP bits).
constexpr size_t kMaxSequencesPerNackItem = 17;

// Transport-wide congestion control feedback (RTPFB FMT 15): identified here; the FCI is decoded
// by TwccFeedback (sfu/twcc.hpp).
struct TransportCc {
  uint32_t sender_ssrc = 0;
  uint32_t media_ssrc = 0;
  std::span<const uint8_t> fci;
  static RtcpError parse(const RtcpPacket& p, TransportCc& out);
};

// PLI (RFC 4585 6.3.1): no FCI.
struct Pli {
  uint32_t sender_ssrc = 0;
  uint32_t media_ssrc = 0;
  static RtcpError parse(const RtcpPacket& p, Pli& out);
};

// FIR (RFC 5104 4.3.1): media source SSRC 0, FCI entries of target SSRC and command sequence number.
struct FirEntry {
  uint32_t ssrc = 0;
  uint8_t sequence = 0;
  static FirEntry decode(const uint8_t* p) { return {be::u32(p), p[4]}; }
};
using FirEntryList = ItemList<FirEntry, 8, &FirEntry::decode>;
struct Fir {
  uint32_t sender_ssrc = 0;
  uint32_t media_ssrc = 0;
  FirEntryList entries;  // at least one
  static RtcpError parse(const RtcpPacket& p, Fir& out);
};

// REMB (draft-alvestrand-rmcat-remb 2.2): PSFB FMT 15, FCI "REMB", SSRC count, 6-bit exponent,
// 18-bit mantissa, SSRCs. bitrate_bps saturates at UINT64_MAX.
struct Remb {
  uint32_t sender_ssrc = 0;
  uint64_t bitrate_bps = 0;
  SsrcList ssrcs;
  static RtcpError parse(const RtcpPacket& p, Remb& out);
};

enum class RtcpKind : uint8_t {
  SenderReport, ReceiverReport, Sdes, Bye, App, Xr,
  GenericNack, TransportCc, OtherRtpfb,
  Pli, Fir, Remb, OtherPsfb,
  Unknown,
};
RtcpKind kind_of(const RtcpPacket& p);

// Builders: each writes one packet at the start of out and returns its size, or 0 if it does not
// fit or the arguments cannot be encoded (more than 31 report blocks/SSRCs, no NACK sequence).
size_t build_sr(std::span<uint8_t> out, uint32_t ssrc, const SenderInfo& info, std::span<const ReportBlock> blocks);
size_t build_rr(std::span<uint8_t> out, uint32_t ssrc, std::span<const ReportBlock> blocks);
size_t build_sdes_cname(std::span<uint8_t> out, uint32_t ssrc, std::string_view cname);  // RFC 3550 6.5.1, cname <= 255
size_t build_bye(std::span<uint8_t> out, std::span<const uint32_t> ssrcs);
size_t build_pli(std::span<uint8_t> out, uint32_t sender_ssrc, uint32_t media_ssrc);
size_t build_fir(std::span<uint8_t> out, uint32_t sender_ssrc, uint32_t target_ssrc, uint8_t sequence);
// Packs sequence numbers into PID/BLP items; give them in RTP order (wraparound allowed):
// a number within PID+1..PID+16 of the current item joins it, any other starts a new item.
size_t build_nack(std::span<uint8_t> out, uint32_t sender_ssrc, uint32_t media_ssrc,
                  std::span<const uint16_t> sequences);
// REMB with the smallest exponent that keeps the mantissa within 18 bits (rounding down).
size_t build_remb(std::span<uint8_t> out, uint32_t sender_ssrc, uint64_t bitrate_bps, std::span<const uint32_t> ssrcs);

// A compound (RFC 3550 6.1) built into one buffer, keeping kSrtcpTrailerRoom free at the end:
//   RtcpWriter w(buf); w.append(build_rr(w.remaining(), ...)); w.append(build_pli(w.remaining(), ...));
//   if (w.ok()) send(w.bytes());
class RtcpWriter {
 public:
  explicit RtcpWriter(std::span<uint8_t> out)
      : out_(out.size() > kSrtcpTrailerRoom ? out.first(out.size() - kSrtcpTrailerRoom) : out.first(0)) {}
  std::span<uint8_t> remaining() const { return out_.subspan(size_); }
  bool append(size_t written) {
    if (written == 0 || written > out_.size() - size_) return ok_ = false;
    size_ += written;
    return true;
  }
  bool ok() const { return ok_ && size_ > 0; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {out_.data(), size_}; }
 private:
  std::span<uint8_t> out_;
  size_t size_ = 0;
  bool ok_ = true;
};

// Rewrites, in place, a subscriber's plaintext compound so it can be sent to a publisher. Media
// source SSRCs (report blocks' SSRC, the media SSRC of RTPFB/PSFB, FIR entries, REMB SSRCs) found
// in `map` (subscriber-side SSRC -> publisher's SSRC) are replaced; those not found are left and
// counted in *unmapped. When sender_ssrc is set, every sender field (SR/RR/APP/XR/feedback sender
// SSRC, SDES chunk SSRCs, BYE SSRCs) becomes it. The compound is validated first and left untouched
// on error.
struct SsrcMapping {
  uint32_t from = 0;
  uint32_t to = 0;
};
RtcpError rewrite_ssrcs(std::span<uint8_t> compound, std::optional<uint32_t> sender_ssrc,
                        std::span<const SsrcMapping> map, size_t* unmapped = nullptr);

}  // namespace sfu
