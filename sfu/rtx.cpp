// RTX retransmissions and padding toward subscribers (sfu/rtx.hpp).
#include "sfu/rtx.hpp"

#include <cstring>

#include "sfu/rtp.hpp"

namespace sfu {

namespace {

void write_header(std::span<uint8_t> p, const RtxStream& rtx) {
  p[1] = static_cast<uint8_t>((p[1] & 0x80) | (rtx.payload_type & 0x7F));
  be::put16(&p[2], rtx.sequence);
  be::put32(&p[8], rtx.ssrc);
}

}  // namespace

size_t to_rtx(std::span<uint8_t> packet, size_t n, RtxStream& rtx, size_t trailer_room) {
  if (n > packet.size() || n + 2 + trailer_room > packet.size()) return 0;
  RtpPacket p;
  if (RtpPacket::parse(packet.first(n), p) != RtpError::None) return 0;
  const size_t at = p.header_size;  // RFC 4588 4: the OSN leads the RTX payload
  const uint16_t osn = p.sequence;
  std::memmove(&packet[at + 2], &packet[at], n - at);
  be::put16(&packet[at], osn);
  write_header(packet, rtx);
  ++rtx.sequence;
  return n + 2;
}

size_t build_padding(std::span<uint8_t> out, RtxStream& rtx, uint32_t timestamp, uint8_t ext_id, uint8_t padding) {
  if (padding == 0 || ext_id > 14) return 0;
  const size_t ext = ext_id ? 8 : 0;  // 0xBEDE, length 1: id/len, 2 bytes, 1 byte of element padding
  const size_t n = 12 + ext + padding;
  if (n > out.size()) return 0;
  std::memset(out.data(), 0, n);
  out[0] = static_cast<uint8_t>(0x80 | 0x20 | (ext ? 0x10 : 0));  // V=2, P, X
  be::put32(&out[4], timestamp);
  write_header(out, rtx);
  if (ext) {
    out[12] = 0xBE;
    out[13] = 0xDE;
    be::put16(&out[14], 1);
    out[16] = static_cast<uint8_t>(ext_id << 4 | 1);  // a 2-byte element
  }
  out[n - 1] = padding;
  ++rtx.sequence;
  return n;
}

}  // namespace sfu
