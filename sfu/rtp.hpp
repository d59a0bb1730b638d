// RTP packets (RFC 3550 5.1) with header extensions (RFC 8285), parsed from a bounds-checked span
// into a view whose spans point into the caller's buffer; the per-subscriber rewrite; keyframe
// detection for VP8 (RFC 7741) and H.264 (RFC 6184). No allocation, no exceptions.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "turn/byte_order.hpp"

namespace sfu {

// Big-endian field access (turn/byte_order.hpp), shared with the relay's and loadgen's codecs.
namespace be = ::turn::be;

// RFC 7983 demux: first byte 128..191 is RTP or RTCP (version 2).
inline bool looks_like_rtp_or_rtcp(std::span<const uint8_t> d) { return !d.empty() && d[0] >= 128 && d[0] <= 191; }
// RFC 5761 4: RTP or RTCP, and the second byte with the marker bit masked is 64..95 (RTCP packet
// types 192..223); at least a 4-byte RTCP header plus the sender SSRC.
inline bool looks_like_rtcp(std::span<const uint8_t> d) {
  return d.size() >= 8 && looks_like_rtp_or_rtcp(d) && (d[1] & 0x7F) >= 64 && (d[1] & 0x7F) <= 95;
}
// RFC 5761 4 / RFC 7983: RTP when it is not RTCP; at least the 12-byte fixed header.
inline bool looks_like_rtp(std::span<const uint8_t> d) {
  return d.size() >= 12 && looks_like_rtp_or_rtcp(d) && !((d[1] & 0x7F) >= 64 && (d[1] & 0x7F) <= 95);
}

// One header extension element (RFC 8285 4.2, 4.3): local id and value, pointing into the packet.
struct RtpExtension {
  uint8_t id = 0;
  std::span<const uint8_t> value;
};

enum class RtpError : uint8_t {
  None,
  Truncated,          // shorter than the 12-byte fixed header
  BadVersion,         // version field is not 2
  CsrcOverrun,        // CC says more CSRCs than the packet holds
  ExtensionOverrun,   // extension header or its length field runs past the packet
  BadExtension,       // an RFC 8285 element runs past the extension block
  TooManyExtensions,  // more than RtpPacket::kMaxExtensions elements
  BadPadding,         // padding count 0, or larger than what follows the header
};
const char* to_string(RtpError e);

// RTP packet view (RFC 3550 5.1). Spans point into the parsed buffer, which must outlive the view.
struct RtpPacket {
  static constexpr size_t kFixedHeaderSize = 12;
  static constexpr size_t kMaxExtensions = 16;
  static constexpr uint16_t kOneByteProfile = 0xBEDE;  // RFC 8285 4.2
  static constexpr uint16_t kTwoByteProfile = 0x1000;  // RFC 8285 4.3: 0x100X, X = appbits

  bool padding = false;
  bool marker = false;
  uint8_t payload_type = 0;
  uint16_t sequence = 0;
  uint32_t timestamp = 0;
  uint32_t ssrc = 0;
  uint8_t csrc_count = 0;
  bool has_extension = false;
  uint16_t extension_profile = 0;          // 0xBEDE, 0x100X, or another (elements then not parsed)
  std::span<const uint8_t> extension_data;  // the extension block after its 4-byte header
  std::array<RtpExtension, kMaxExtensions> extensions{};
  uint8_t extension_count = 0;
  size_t header_size = 0;                  // fixed header + CSRCs + extension block
  uint8_t padding_size = 0;                // 0 when !padding, and in parse_header()
  std::span<const uint8_t> payload;        // after the header, without padding
  std::span<const uint8_t> raw;            // the whole packet

  // Full parse of a plaintext packet: header, extensions, padding.
  static RtpError parse(std::span<const uint8_t> d, RtpPacket& out);
  // Header only, for SRTP packets: the payload (which carries the encrypted padding and the auth
  // tag) is opaque, so the padding count is not read and `payload` is everything after the header.
  static RtpError parse_header(std::span<const uint8_t> d, RtpPacket& out);

  uint32_t csrc(size_t i) const { return i < csrc_count ? be::u32(raw.data() + 12 + 4 * i) : 0; }
  bool one_byte_extensions() const { return has_extension && extension_profile == kOneByteProfile; }
  bool two_byte_extensions() const { return has_extension && (extension_profile & 0xFFF0) == kTwoByteProfile; }
  // The first element with this id, or nullptr.
  const RtpExtension* extension(uint8_t id) const;
  std::span<const RtpExtension> extension_list() const { return {extensions.data(), extension_count}; }
};

// Publisher extension id -> subscriber extension id (RFC 8285 5: ids are negotiated per m-line, so
// they differ between the publisher's and each subscriber's SDP). 0: not sent to the subscriber.
struct ExtensionIdMap {
  std::array<uint8_t, 256> to{};
  void set(uint8_t publisher_id, uint8_t subscriber_id) { to[publisher_id] = subscriber_id; }
  uint8_t operator[](uint8_t publisher_id) const { return to[publisher_id]; }
};

// What changes when a publisher's packet is forwarded to one subscriber.
struct RtpRewrite {
  uint32_t ssrc = 0;
  uint8_t payload_type = 0;            // 0..127
  uint16_t sequence = 0;
  uint32_t timestamp_offset = 0;       // added modulo 2^32
  const ExtensionIdMap* extension_map = nullptr;  // nullptr: no extension forwarded
  // The mid extension (RFC 8843 15, urn:ietf:params:rtp-hdrext:sdes:mid). The publisher's element
  // with publisher_mid_id is never copied; when mid_id != 0 and mid is not empty, an element
  // {mid_id, mid} is written instead: in every packet if mid_always, otherwise only in packets where
  // the publisher sent its mid (libwebrtc stops sending mid once the receiver has acknowledged it).
  uint8_t publisher_mid_id = 0;
  uint8_t mid_id = 0;
  std::span<const uint8_t> mid{};      // 1..16 bytes keeps the one-byte form possible; at most 255
  bool mid_always = false;
};

// Room rewrite() leaves after the packet so that SrtpSession::protect_rtp can work in place: the
// largest RTP auth tag of the supported profiles (HMAC-SHA1-80: 10 bytes, AES-GCM: 16 bytes).
constexpr size_t kSrtpRtpTrailerRoom = 16;

// Writes `in` into `out` with r applied: SSRC, payload type, sequence, timestamp + offset; CSRCs,
// marker, payload and padding copied; extensions mapped by r.extension_map (unmapped ones dropped)
// and the mid replaced. The one-byte form (RFC 8285 4.2) when every element has id 1..14 and a
// 1..16-byte value, the two-byte form (4.3, profile 0x1000) otherwise; no extension block when no
// element remains. Returns the packet's size, or 0 if size + kSrtpRtpTrailerRoom > out.size() or the
// rewrite is impossible (an element longer than 255 bytes). `in` and `out` must not overlap.
size_t rewrite(const RtpPacket& in, std::span<uint8_t> out, const RtpRewrite& r);

// Keyframe detection: does this packet start a frame a decoder can start from?
// VP8 (RFC 7741 4.2, 4.3, 9.1): S=1 and PID=0, and the VP8 payload header has P=0 (key frame) and
// the key frame start code 9D 01 2A.
bool vp8_is_keyframe(std::span<const uint8_t> payload);
// H.264 (RFC 6184 5.6-5.8): an IDR slice (NAL type 5) or SPS (7), as a single NAL unit, inside a
// STAP-A, or at the start (S=1) of an FU-A.
bool h264_is_keyframe(std::span<const uint8_t> payload);
// Opus (RFC 7587): every packet is independently decodable.
constexpr bool opus_is_keyframe(std::span<const uint8_t>) { return true; }

enum class MediaCodec : uint8_t { Opus, Vp8, H264, Other };
bool is_keyframe(MediaCodec codec, std::span<const uint8_t> payload);

}  // namespace sfu
