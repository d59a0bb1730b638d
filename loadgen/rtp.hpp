// RTP fixed header (RFC 3550 5.1) and the loadgen probe trailer carried at the start of each payload,
// so that what a relay carries looks like a call and the far end can measure it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

namespace loadgen {

// RFC 3550 5.1: V=2, no padding, no extension, no CSRC when written; parse accepts CSRCs and an
// extension header (skipped, RFC 3550 5.3.1) and refuses V != 2, a header longer than the packet, or
// a padding count (P bit) of 0 or larger than what follows the header.
struct RtpHeader {
  bool marker = false;
  uint8_t payload_type = 0;   // 7 bits
  uint16_t seq = 0;
  uint32_t timestamp = 0;
  uint32_t ssrc = 0;
  uint8_t padding = 0;        // parse: padding bytes at the end of the packet (P bit); write ignores it
  static constexpr size_t kSize = 12;
  // Bytes taken by the header (12 + CSRCs + extension) in `header_len`; false when malformed. The
  // payload is d[header_len, d.size() - padding).
  static bool parse(std::span<const uint8_t> d, RtpHeader& out, size_t& header_len);
  // Writes the 12-byte header; returns 0 when out is too small.
  size_t write(std::span<uint8_t> out) const;
};

// Ours: the first 28 payload bytes of every loadgen packet.
//   magic "TPLG" | call id (u32) | sent_us (u64) | echo_sent_us (u64) | echo_hold_us (u32)
// sent_us: the sender's clock (microseconds since its run started). echo_*: the last probe this side
// received in the other direction and how long ago (the RFC 3550 6.4.1 LSR/DLSR idea), so the
// original sender measures RTT on its own clock: rtt = now - echo_sent_us - echo_hold_us.
struct Probe {
  uint32_t call_id = 0;
  uint64_t sent_us = 0;
  uint64_t echo_sent_us = 0;   // 0: nothing received yet
  uint32_t echo_hold_us = 0;
  static constexpr uint32_t kMagic = 0x54504c47;  // "TPLG"
  static constexpr size_t kSize = 28;
  static bool parse(std::span<const uint8_t> payload, Probe& out);
  size_t write(std::span<uint8_t> out) const;
};

}  // namespace loadgen
