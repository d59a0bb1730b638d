// The loadgen probe: bounds-checked, big-endian, no allocation.
#include "loadgen/rtp.hpp"

namespace loadgen {

namespace {
uint32_t rd32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
uint64_t rd64(const uint8_t* p) { return uint64_t{rd32(p)} << 32 | rd32(p + 4); }
void wr16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void wr32(uint8_t* p, uint32_t v) {
  wr16(p, static_cast<uint16_t>(v >> 16));
  wr16(p + 2, static_cast<uint16_t>(v));
}
void wr64(uint8_t* p, uint64_t v) {
  wr32(p, static_cast<uint32_t>(v >> 32));
  wr32(p + 4, static_cast<uint32_t>(v));
}
}  // namespace

bool Probe::parse(std::span<const uint8_t> payload, Probe& out) {
  if (payload.size() < kSize || rd32(payload.data()) != kMagic) return false;
  out.call_id = rd32(payload.data() + 4);
  out.sent_us = rd64(payload.data() + 8);
  out.echo_sent_us = rd64(payload.data() + 16);
  out.echo_hold_us = rd32(payload.data() + 24);
  return true;
}

size_t Probe::write(std::span<uint8_t> out) const {
  if (out.size() < kSize) return 0;
  wr32(out.data(), kMagic);
  wr32(out.data() + 4, call_id);
  wr64(out.data() + 8, sent_us);
  wr64(out.data() + 16, echo_sent_us);
  wr32(out.data() + 24, echo_hold_us);
  return kSize;
}

}  // namespace loadgen
