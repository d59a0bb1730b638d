// RTP fixed header (RFC 3550 5.1) and the loadgen probe: bounds-checked, big-endian, no allocation.
#include "loadgen/rtp.hpp"

namespace loadgen {

namespace {
uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
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

bool RtpHeader::parse(std::span<const uint8_t> d, RtpHeader& out, size_t& header_len) {
  if (d.size() < kSize) return false;
  if ((d[0] >> 6) != 2) return false;                      // RFC 3550 5.1: V=2
  size_t len = kSize + 4 * size_t{d[0] & 0x0Fu};           // CC: CSRC identifiers
  if (len > d.size()) return false;
  if (d[0] & 0x10) {                                       // X: RFC 3550 5.3.1 extension header
    if (len + 4 > d.size()) return false;
    len += 4 + 4 * size_t{rd16(d.data() + len + 2)};       // profile-defined u16, length in words
    if (len > d.size()) return false;
  }
  uint8_t pad = 0;
  if (d[0] & 0x20) {                                       // P: the last octet counts the padding
    pad = d.back();
    if (pad == 0 || pad > d.size() - len) return false;
  }
  out.marker = (d[1] & 0x80) != 0;
  out.payload_type = d[1] & 0x7F;
  out.seq = rd16(d.data() + 2);
  out.timestamp = rd32(d.data() + 4);
  out.ssrc = rd32(d.data() + 8);
  out.padding = pad;
  header_len = len;
  return true;
}

size_t RtpHeader::write(std::span<uint8_t> out) const {
  if (out.size() < kSize) return 0;
  out[0] = 0x80;  // V=2, P=0, X=0, CC=0
  out[1] = static_cast<uint8_t>((marker ? 0x80 : 0) | (payload_type & 0x7F));
  wr16(out.data() + 2, seq);
  wr32(out.data() + 4, timestamp);
  wr32(out.data() + 8, ssrc);
  return kSize;
}

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
