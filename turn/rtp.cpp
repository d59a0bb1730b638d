// RTP, RTCP and RFC 7983 demultiplexing (turn/rtp.hpp): bounds-checked, big-endian, no allocation.
#include "turn/rtp.hpp"

#include "turn/byte_order.hpp"

namespace turn::rtp {

bool Header::parse(std::span<const uint8_t> d, Header& out, size_t& header_len) {
  if (!parse_clear(d, out, header_len)) return false;
  uint8_t pad = 0;
  if (d[0] & 0x20) {                                       // P: the last octet counts the padding
    pad = d.back();
    if (pad == 0 || pad > d.size() - header_len) return false;
  }
  out.padding = pad;
  return true;
}

bool Header::parse_clear(std::span<const uint8_t> d, Header& out, size_t& header_len) {
  if (d.size() < kSize) return false;
  if ((d[0] >> 6) != 2) return false;                      // RFC 3550 5.1: V=2
  size_t len = kSize + 4 * size_t{d[0] & 0x0Fu};           // CC: CSRC identifiers
  if (len > d.size()) return false;
  if (d[0] & 0x10) {                                       // X: RFC 3550 5.3.1 extension header
    if (len + 4 > d.size()) return false;
    len += 4 + 4 * size_t{be::u16(d.data() + len + 2)};       // profile-defined u16, length in words
    if (len > d.size()) return false;
  }
  out.marker = (d[1] & 0x80) != 0;
  out.payload_type = d[1] & 0x7F;
  out.seq = be::u16(d.data() + 2);
  out.timestamp = be::u32(d.data() + 4);
  out.ssrc = be::u32(d.data() + 8);
  out.padding = 0;
  header_len = len;
  return true;
}

size_t Header::write(std::span<uint8_t> out) const {
  if (out.size() < kSize) return 0;
  out[0] = 0x80;  // V=2, P=0, X=0, CC=0
  out[1] = static_cast<uint8_t>((marker ? 0x80 : 0) | (payload_type & 0x7F));
  be::put16(out.data() + 2, seq);
  be::put32(out.data() + 4, timestamp);
  be::put32(out.data() + 8, ssrc);
  return kSize;
}

bool RtcpHeader::parse(std::span<const uint8_t> d, RtcpHeader& out) {
  if (d.size() < kSize || (d[0] >> 6) != 2) return false;  // RFC 3550 6.4.1: V=2
  if (d[1] < 192 || d[1] > 223) return false;              // RFC 5761 4: RTCP packet types
  out.count = d[0] & 0x1F;
  out.packet_type = d[1];
  out.length_words = be::u16(d.data() + 2);
  out.ssrc = be::u32(d.data() + 4);
  return true;
}

size_t RtcpHeader::write(std::span<uint8_t> out) const {
  if (out.size() < kSize) return 0;
  out[0] = static_cast<uint8_t>(0x80 | (count & 0x1F));
  out[1] = packet_type;
  be::put16(out.data() + 2, length_words);
  be::put32(out.data() + 4, ssrc);
  return kSize;
}

bool ReportBlock::parse(std::span<const uint8_t> d, ReportBlock& out) {
  if (d.size() < kSize) return false;
  out.ssrc = be::u32(d.data());
  out.fraction_lost = d[4];
  uint32_t cum = uint32_t{d[5]} << 16 | uint32_t{d[6]} << 8 | d[7];
  out.cumulative_lost = static_cast<int32_t>(cum & 0x800000 ? cum | 0xFF000000u : cum);  // sign-extend 24 bits
  out.highest_seq = be::u32(d.data() + 8);
  out.jitter = be::u32(d.data() + 12);
  out.lsr = be::u32(d.data() + 16);
  out.dlsr = be::u32(d.data() + 20);
  return true;
}

size_t ReportBlock::write(std::span<uint8_t> out) const {
  if (out.size() < kSize) return 0;
  be::put32(out.data(), ssrc);
  out[4] = fraction_lost;
  auto cum = static_cast<uint32_t>(cumulative_lost) & 0xFFFFFF;
  out[5] = static_cast<uint8_t>(cum >> 16);
  out[6] = static_cast<uint8_t>(cum >> 8);
  out[7] = static_cast<uint8_t>(cum);
  be::put32(out.data() + 8, highest_seq);
  be::put32(out.data() + 12, jitter);
  be::put32(out.data() + 16, lsr);
  be::put32(out.data() + 20, dlsr);
  return kSize;
}

// RFC 3550 6.1: a compound packet is packets back to back whose lengths add up to the datagram.
bool plain_compound(std::span<const uint8_t> d) {
  size_t off = 0;
  for (int n = 0; off < d.size() && n < 64; ++n) {
    RtcpHeader h;
    if (!RtcpHeader::parse(d.subspan(off), h) || h.bytes() > d.size() - off) return false;
    off += h.bytes();
  }
  return off == d.size() && !d.empty();
}

const char* to_string(Kind k) {
  switch (k) {
    case Kind::Stun: return "stun";
    case Kind::Dtls: return "dtls";
    case Kind::Rtp: return "rtp";
    case Kind::Rtcp: return "rtcp";
    case Kind::Other: return "other";
  }
  return "?";
}

// RFC 7983 7: the first byte decides; 128-191 is RTP or RTCP, told apart by the packet type
// (RFC 5761 4: RTCP types 192-223 fall where RTP's marker bit and payload types 64-95 would be).
Kind classify(std::span<const uint8_t> d) {
  if (d.empty()) return Kind::Other;
  uint8_t b = d[0];
  if (b <= 3) return d.size() >= 20 && be::u32(d.data() + 4) == 0x2112A442 ? Kind::Stun : Kind::Other;
  if (b >= 20 && b <= 63) return Kind::Dtls;
  if (b >= 128 && b <= 191 && d.size() >= 8) {
    if (d[1] >= 192 && d[1] <= 223) return Kind::Rtcp;
    return d.size() >= Header::kSize ? Kind::Rtp : Kind::Other;
  }
  return Kind::Other;
}

}  // namespace turn::rtp
