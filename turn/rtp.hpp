// RTP and RTCP headers as a relay sees them (RFC 3550 5.1, 6.4), and the RFC 7983 demultiplexing of
// what a relayed datagram carries. SRTP (RFC 3711) leaves the RTP header and the first 8 bytes of
// each SRTCP packet in clear: these parsers read only what is clear. Bounds-checked, no allocation.
// One codec for the relay's analyser (turn/media_quality.*) and turnpike-loadgen's media.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

namespace turn::rtp {

// RFC 3550 5.1: V=2, no padding, no extension, no CSRC when written; parse accepts CSRCs and an
// extension header (skipped, RFC 3550 5.3.1) and refuses V != 2, a header longer than the packet, or
// a padding count (P bit) of 0 or larger than what follows the header.
struct Header {
  bool marker = false;
  uint8_t payload_type = 0;   // 7 bits
  uint16_t seq = 0;
  uint32_t timestamp = 0;
  uint32_t ssrc = 0;
  uint8_t padding = 0;        // parse: padding bytes at the end of the packet (P bit); write ignores it
  static constexpr size_t kSize = 12;
  // Bytes taken by the header (12 + CSRCs + extension) in `header_len`; false when malformed. The
  // payload is d[header_len, d.size() - padding).
  static bool parse(std::span<const uint8_t> d, Header& out, size_t& header_len);
  // The header of an SRTP packet (RFC 3711 3.1): the same, but the last octet (the auth tag, or
  // encrypted padding) is not read, so the P bit is not checked and `padding` stays 0.
  static bool parse_clear(std::span<const uint8_t> d, Header& out, size_t& header_len);
  // Writes the 12-byte header; returns 0 when out is too small.
  size_t write(std::span<uint8_t> out) const;
};

// RFC 3550 6.4.1: the common header of one RTCP packet and its sender SSRC (clear in SRTCP too).
struct RtcpHeader {
  uint8_t count = 0;          // RC / SC / FMT: 5 bits
  uint8_t packet_type = 0;    // 200 SR, 201 RR, 202 SDES, 203 BYE, 204 APP, 205/206 feedback
  uint16_t length_words = 0;  // the packet's length in 32-bit words minus one
  uint32_t ssrc = 0;          // the sender's SSRC
  static constexpr size_t kSize = 8;
  static constexpr uint8_t kSenderReport = 200, kReceiverReport = 201;
  size_t bytes() const { return (size_t{length_words} + 1) * 4; }
  static bool parse(std::span<const uint8_t> d, RtcpHeader& out);
  size_t write(std::span<uint8_t> out) const;
};

// RFC 3550 6.4.1: one reception report block of an SR or RR.
struct ReportBlock {
  uint32_t ssrc = 0;          // the source this block is about
  uint8_t fraction_lost = 0;  // since the previous report, in 1/256
  int32_t cumulative_lost = 0;  // 24-bit signed
  uint32_t highest_seq = 0;   // extended highest sequence number received
  uint32_t jitter = 0;        // interarrival jitter, in the source's timestamp units
  uint32_t lsr = 0, dlsr = 0;
  static constexpr size_t kSize = 24;
  static bool parse(std::span<const uint8_t> d, ReportBlock& out);
  size_t write(std::span<uint8_t> out) const;
};

// Calls `fn(const ReportBlock&)` for each report block of a plain (unencrypted) compound RTCP packet;
// false, and no call, when `d` is not one: its packets' lengths do not add up to exactly its size
// (SRTCP's encrypted body and trailer never do), or a packet is malformed. Offsets: SR 28, RR 8.
template <class Fn>
bool for_each_report_block(std::span<const uint8_t> d, Fn&& fn);

// RFC 7983 (and RFC 5761 4 for RTP versus RTCP): what a datagram relayed between two ICE agents is.
enum class Kind : uint8_t { Stun, Dtls, Rtp, Rtcp, Other };
constexpr size_t kKinds = 5;
const char* to_string(Kind k);  // stun, dtls, rtp, rtcp, other
Kind classify(std::span<const uint8_t> d);

// ---- implementation of the template ----------------------------------------------------------
bool plain_compound(std::span<const uint8_t> d);

template <class Fn>
bool for_each_report_block(std::span<const uint8_t> d, Fn&& fn) {
  if (!plain_compound(d)) return false;
  for (size_t off = 0; off < d.size();) {
    RtcpHeader h;
    RtcpHeader::parse(d.subspan(off), h);
    size_t first = h.packet_type == RtcpHeader::kSenderReport ? 28 : h.packet_type == RtcpHeader::kReceiverReport ? 8 : 0;
    if (first != 0) {
      for (size_t i = 0; i < h.count && first + (i + 1) * ReportBlock::kSize <= h.bytes(); ++i) {
        ReportBlock b;
        if (ReportBlock::parse(d.subspan(off + first + i * ReportBlock::kSize), b)) fn(b);
      }
    }
    off += h.bytes();
  }
  return true;
}

}  // namespace turn::rtp
