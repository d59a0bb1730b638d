// The loadgen probe trailer carried at the start of each payload,
// so that what a relay carries looks like a call and the far end can measure it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "turn/rtp.hpp"

namespace loadgen {

// RFC 3550 5.1: the one RTP header codec, shared with the relay's analyser (turn/rtp.hpp).
using RtpHeader = turn::rtp::Header;

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
