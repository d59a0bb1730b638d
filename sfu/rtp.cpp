#include "sfu/rtp.hpp"

#include <cstring>
#include <optional>

namespace sfu {

const char* to_string(RtpError e) {
  switch (e) {
    case RtpError::None: return "none";
    case RtpError::Truncated: return "truncated";
    case RtpError::BadVersion: return "bad version";
    case RtpError::CsrcOverrun: return "CSRC overrun";
    case RtpError::ExtensionOverrun: return "extension overrun";
    case RtpError::BadExtension: return "bad extension element";
    case RtpError::TooManyExtensions: return "too many extensions";
    case RtpError::BadPadding: return "bad padding";
  }
  return "?";
}

namespace {

// RFC 8285 4.2 (one-byte) and 4.3 (two-byte) elements of an extension block.
RtpError parse_elements(RtpPacket& p) {
  const auto b = p.extension_data;
  const bool one = p.one_byte_extensions();
  size_t i = 0;
  while (i < b.size()) {
    const uint8_t first = b[i];
    if (first == 0) { ++i; continue; }  // padding byte (RFC 8285 4.1)
    uint8_t id;
    size_t len;
    if (one) {
      id = first >> 4;
      if (id == 15) break;  // reserved: stop processing the block (RFC 8285 4.2)
      len = (first & 0x0F) + 1u;
      i += 1;
    } else {
      if (i + 1 >= b.size()) return RtpError::BadExtension;
      id = first;
      len = b[i + 1];
      i += 2;
    }
    if (len > b.size() - i) return RtpError::BadExtension;
    if (p.extension_count == RtpPacket::kMaxExtensions) return RtpError::TooManyExtensions;
    p.extensions[p.extension_count++] = RtpExtension{id, b.subspan(i, len)};
    i += len;
  }
  return RtpError::None;
}

RtpError parse_impl(std::span<const uint8_t> d, RtpPacket& out, bool read_padding) {
  out = RtpPacket{};
  if (d.size() < RtpPacket::kFixedHeaderSize) return RtpError::Truncated;
  if ((d[0] >> 6) != 2) return RtpError::BadVersion;
  out.padding = (d[0] & 0x20) != 0;
  out.has_extension = (d[0] & 0x10) != 0;
  out.csrc_count = d[0] & 0x0F;
  out.marker = (d[1] & 0x80) != 0;
  out.payload_type = d[1] & 0x7F;
  out.sequence = be::u16(&d[2]);
  out.timestamp = be::u32(&d[4]);
  out.ssrc = be::u32(&d[8]);
  out.raw = d;
  size_t off = RtpPacket::kFixedHeaderSize + 4u * out.csrc_count;
  if (off > d.size()) return RtpError::CsrcOverrun;
  if (out.has_extension) {
    // RFC 3550 5.3.1: 16-bit profile, 16-bit length in 32-bit words, then the data.
    if (d.size() - off < 4) return RtpError::ExtensionOverrun;
    out.extension_profile = be::u16(&d[off]);
    const size_t words = be::u16(&d[off + 2]);
    off += 4;
    if (words * 4 > d.size() - off) return RtpError::ExtensionOverrun;
    out.extension_data = d.subspan(off, words * 4);
    off += words * 4;
    if (out.one_byte_extensions() || out.two_byte_extensions()) {
      if (auto e = parse_elements(out); e != RtpError::None) return e;
    }
  }
  out.header_size = off;
  size_t end = d.size();
  if (out.padding && read_padding) {
    // RFC 3550 5.1: the last octet counts the padding octets, itself included.
    const uint8_t n = d[d.size() - 1];
    if (n == 0 || n > d.size() - off) return RtpError::BadPadding;
    out.padding_size = n;
    end -= n;
  }
  out.payload = d.subspan(off, end - off);
  return RtpError::None;
}

}  // namespace

RtpError RtpPacket::parse(std::span<const uint8_t> d, RtpPacket& out) { return parse_impl(d, out, true); }
RtpError RtpPacket::parse_header(std::span<const uint8_t> d, RtpPacket& out) { return parse_impl(d, out, false); }

const RtpExtension* RtpPacket::extension(uint8_t id) const {
  for (size_t i = 0; i < extension_count; ++i)
    if (extensions[i].id == id) return &extensions[i];
  return nullptr;
}

namespace {

// One header extension element to write (RFC 8285 4): the subscriber's id and the value.
struct Element {
  uint8_t id;
  std::span<const uint8_t> value;
};
using Elements = std::array<Element, RtpPacket::kMaxExtensions + 1>;

// The elements to write: mapped publisher elements, then the subscriber's mid. Returns their count.
size_t gather_elements(const RtpPacket& in, const RtpRewrite& r, Elements& el) {
  size_t n = 0;
  bool publisher_sent_mid = false;
  for (const auto& e : in.extension_list()) {
    if (r.publisher_mid_id != 0 && e.id == r.publisher_mid_id) {
      publisher_sent_mid = true;
      continue;
    }
    const uint8_t to = r.extension_map ? (*r.extension_map)[e.id] : 0;
    if (to == 0 || (r.mid_id != 0 && to == r.mid_id)) continue;
    el[n++] = Element{to, e.value};
  }
  if (r.mid_id != 0 && !r.mid.empty() && (r.mid_always || publisher_sent_mid)) el[n++] = Element{r.mid_id, r.mid};
  return n;
}

// RFC 8285 4.2 / 4.3: the one-byte form when every id is 1..14 and every value 1..16 bytes long,
// else the two-byte form (values up to 255 bytes). Returns the element bytes before padding to 32
// bits; nullopt when an element fits neither form.
std::optional<size_t> extension_body(std::span<const Element> el, bool& one_byte) {
  one_byte = true;
  for (const auto& e : el) {
    if (e.value.size() > 255) return std::nullopt;
    if (e.id > 14 || e.value.empty() || e.value.size() > 16) one_byte = false;
  }
  size_t body = 0;
  for (const auto& e : el) body += (one_byte ? 1 : 2) + e.value.size();
  return body;
}

// RFC 8285 4.1: the extension block (profile, length in words, elements, zero padding) at p.
// Returns the bytes written (4 + ext_words * 4).
size_t write_extension(uint8_t* p, std::span<const Element> el, bool one_byte, size_t ext_words) {
  be::put16(p, one_byte ? RtpPacket::kOneByteProfile : RtpPacket::kTwoByteProfile);
  be::put16(p + 2, static_cast<uint16_t>(ext_words));
  size_t off = 4;
  for (const auto& e : el) {
    const size_t len = e.value.size();
    if (one_byte) {
      p[off++] = static_cast<uint8_t>(e.id << 4 | (len - 1));
    } else {
      p[off++] = e.id;
      p[off++] = static_cast<uint8_t>(len);
    }
    if (len) std::memcpy(p + off, e.value.data(), len);
    off += len;
  }
  while (off < 4 + ext_words * 4) p[off++] = 0;  // padding bytes (RFC 8285 4.1)
  return off;
}

}  // namespace

size_t rewrite(const RtpPacket& in, std::span<uint8_t> out, const RtpRewrite& r) {
  Elements elements{};
  const size_t n = gather_elements(in, r, elements);
  const std::span<const Element> el(elements.data(), n);
  bool one_byte = true;
  const auto body = extension_body(el, one_byte);
  if (!body) return 0;
  const size_t ext_words = (*body + 3) / 4;
  if (ext_words > 0xFFFF) return 0;
  const size_t csrc_bytes = 4u * in.csrc_count;
  const size_t tail = in.payload.size() + in.padding_size;  // payload and padding copied as they are
  const size_t header = RtpPacket::kFixedHeaderSize + csrc_bytes + (n ? 4 + ext_words * 4 : 0);
  const size_t total = header + tail;
  if (total + kSrtpRtpTrailerRoom > out.size()) return 0;
  if (in.raw.size() < RtpPacket::kFixedHeaderSize + csrc_bytes) return 0;
  if (in.payload.data() + tail > in.raw.data() + in.raw.size()) return 0;

  // RFC 3550 5.1: the fixed header with the subscriber's payload type, sequence, timestamp and SSRC.
  uint8_t* p = out.data();
  p[0] = static_cast<uint8_t>(0x80 | (in.padding ? 0x20 : 0) | (n ? 0x10 : 0) | in.csrc_count);
  p[1] = static_cast<uint8_t>((in.marker ? 0x80 : 0) | (r.payload_type & 0x7F));
  be::put16(p + 2, r.sequence);
  be::put32(p + 4, in.timestamp + r.timestamp_offset);
  be::put32(p + 8, r.ssrc);
  if (csrc_bytes) std::memcpy(p + 12, in.raw.data() + 12, csrc_bytes);
  size_t off = RtpPacket::kFixedHeaderSize + csrc_bytes;
  if (n) off += write_extension(p + off, el, one_byte, ext_words);
  if (tail) std::memcpy(p + off, in.payload.data(), tail);
  return total;
}

bool vp8_is_keyframe(std::span<const uint8_t> d) {
  // RFC 7741 4.2 payload descriptor.
  if (d.empty()) return false;
  const uint8_t b0 = d[0];
  const bool x = b0 & 0x80, s = b0 & 0x10;
  const uint8_t pid = b0 & 0x07;
  size_t off = 1;
  if (x) {
    if (d.size() < 2) return false;
    const uint8_t b1 = d[1];
    off = 2;
    if (b1 & 0x80) {  // I: PictureID, 7 or 15 bits (M)
      if (off >= d.size()) return false;
      off += (d[off] & 0x80) ? 2 : 1;
    }
    if (b1 & 0x40) off += 1;           // L: TL0PICIDX
    if (b1 & 0x30) off += 1;           // T or K: TID/Y/KEYIDX
  }
  if (!s || pid != 0) return false;
  // RFC 7741 4.3 / RFC 6386 9.1: 3-byte frame tag (P is bit 0 of the first: 0 = key frame), then
  // the start code 9D 01 2A and the 4-byte dimensions.
  if (off > d.size() || d.size() - off < 10) return false;
  const uint8_t* h = d.data() + off;
  return (h[0] & 0x01) == 0 && h[3] == 0x9D && h[4] == 0x01 && h[5] == 0x2A;
}

namespace {
bool h264_key_nal(uint8_t type) { return type == 5 || type == 7; }
}  // namespace

bool h264_is_keyframe(std::span<const uint8_t> d) {
  if (d.empty()) return false;
  const uint8_t type = d[0] & 0x1F;
  if (type >= 1 && type <= 23) return h264_key_nal(type);  // single NAL unit (RFC 6184 5.6)
  if (type == 24) {                                         // STAP-A (5.7.1): [size16, NAL]...
    size_t off = 1;
    while (d.size() - off >= 2) {
      const size_t len = be::u16(&d[off]);
      off += 2;
      if (len == 0 || len > d.size() - off) return false;
      if (h264_key_nal(d[off] & 0x1F)) return true;
      off += len;
    }
    return false;
  }
  if (type == 28) {  // FU-A (5.8): FU indicator, FU header S|E|R|type
    return d.size() >= 2 && (d[1] & 0x80) && h264_key_nal(d[1] & 0x1F);
  }
  return false;
}

bool is_keyframe(MediaCodec codec, std::span<const uint8_t> payload) {
  switch (codec) {
    case MediaCodec::Opus: return opus_is_keyframe(payload);
    case MediaCodec::Vp8: return vp8_is_keyframe(payload);
    case MediaCodec::H264: return h264_is_keyframe(payload);
    case MediaCodec::Other: return false;
  }
  return false;
}

}  // namespace sfu
