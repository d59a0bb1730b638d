// The loadgen probe: bounds-checked, big-endian, no allocation.
#include "loadgen/rtp.hpp"

#include "turn/byte_order.hpp"

namespace loadgen {

bool Probe::parse(std::span<const uint8_t> payload, Probe& out) {
  if (payload.size() < kSize || turn::be::u32(payload.data()) != kMagic) return false;
  out.call_id = turn::be::u32(payload.data() + 4);
  out.sent_us = turn::be::u64(payload.data() + 8);
  out.echo_sent_us = turn::be::u64(payload.data() + 16);
  out.echo_hold_us = turn::be::u32(payload.data() + 24);
  return true;
}

size_t Probe::write(std::span<uint8_t> out) const {
  if (out.size() < kSize) return 0;
  turn::be::put32(out.data(), kMagic);
  turn::be::put32(out.data() + 4, call_id);
  turn::be::put64(out.data() + 8, sent_us);
  turn::be::put64(out.data() + 16, echo_sent_us);
  turn::be::put32(out.data() + 24, echo_hold_us);
  return kSize;
}

}  // namespace loadgen
