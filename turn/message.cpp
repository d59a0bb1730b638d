#include "turn/message.hpp"

#include <cstring>

#include "turn/attributes.hpp"
#include "turn/crypto.hpp"

namespace turn::stun {

namespace {
uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t rd32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
void wr16(uint8_t* p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
void wr32(uint8_t* p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
size_t pad4(size_t n) { return (n + 3) & ~size_t{3}; }

// HMAC over the message up to `attr_offset`, with the header length field rewritten as if the
// message ended after the integrity attribute (RFC 8489 14.5).
template <typename Mac>
auto integrity_over(std::span<const uint8_t> msg, size_t attr_offset, size_t mac_len, Mac mac) {
  uint8_t hdr[kHeaderSize];
  std::memcpy(hdr, msg.data(), kHeaderSize);
  wr16(hdr + 2, static_cast<uint16_t>(attr_offset + 4 + mac_len - kHeaderSize));
  return mac(hdr, msg.subspan(kHeaderSize, attr_offset - kHeaderSize));
}
}  // namespace

const char* to_string(Method m) {
  switch (m) {
    case Method::Binding: return "binding";
    case Method::Allocate: return "allocate";
    case Method::Refresh: return "refresh";
    case Method::Send: return "send";
    case Method::Data: return "data";
    case Method::CreatePermission: return "create_permission";
    case Method::ChannelBind: return "channel_bind";
  }
  return "unknown";
}

const char* to_string(ParseError e) {
  switch (e) {
    case ParseError::None: return "ok";
    case ParseError::Truncated: return "truncated";
    case ParseError::NotStun: return "not STUN";
    case ParseError::BadLength: return "bad length";
    case ParseError::AttributeOverrun: return "attribute overruns message";
    case ParseError::TooManyAttributes: return "too many attributes";
    case ParseError::FingerprintNotLast: return "FINGERPRINT not last";
    case ParseError::BadFingerprint: return "bad FINGERPRINT";
  }
  return "?";
}

bool attr::known(uint16_t t) {
  switch (t) {
    case MappedAddress: case Username: case MessageIntegrity: case ErrorCode: case UnknownAttributes:
    case ChannelNumber: case Lifetime: case XorPeerAddress: case Data: case Realm: case Nonce:
    case XorRelayedAddress: case RequestedAddressFamily: case EvenPort: case RequestedTransport:
    case DontFragment: case MessageIntegritySha256: case PasswordAlgorithm: case Userhash:
    case XorMappedAddress: case ReservationToken: case Priority: case UseCandidate:
      return true;
    default:
      return !comprehension_required(t);
  }
}

bool looks_like_stun(std::span<const uint8_t> d) {
  return d.size() >= kHeaderSize && (d[0] & 0xC0) == 0 && rd32(d.data() + 4) == kMagicCookie;
}

uint16_t encode_type(uint16_t m, Class c) {
  // RFC 8489 5: M11..M7 C1 M6..M4 C0 M3..M0
  uint16_t cls = static_cast<uint16_t>(c);
  return static_cast<uint16_t>((m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) |
                               ((cls & 1) << 4) | ((cls & 2) << 7));
}

namespace {

// RFC 8489 14.7: FINGERPRINT (at `pos`, value length `l`) is 4 bytes, the last attribute, and the
// CRC-32 of the message up to it XOR 0x5354554e.
ParseError check_fingerprint(std::span<const uint8_t> d, size_t pos, uint16_t l) {
  if (l != 4) return ParseError::BadFingerprint;
  if (pos + 8 != d.size()) return ParseError::FingerprintNotLast;
  uint32_t want = crypto::crc32(d.subspan(0, pos)) ^ kFingerprintXor;
  if (rd32(d.data() + pos + 4) != want) return ParseError::BadFingerprint;
  return ParseError::None;
}

}  // namespace

// RFC 8489 5 and 14: the header, then each attribute bounds-checked against the message.
ParseError Message::parse(std::span<const uint8_t> d, Message& out) {
  out = Message{};
  if (d.size() < kHeaderSize) return ParseError::Truncated;
  if (!looks_like_stun(d)) return ParseError::NotStun;
  size_t len = rd16(d.data() + 2);
  if (len % 4 != 0 || len + kHeaderSize != d.size()) return ParseError::BadLength;
  uint16_t type = rd16(d.data());
  out.method_ = static_cast<uint16_t>((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
  out.cls_ = static_cast<Class>(((type >> 4) & 1) | ((type >> 7) & 2));
  std::memcpy(out.txid_.data(), d.data() + 8, 12);
  out.bytes_ = d;
  size_t pos = kHeaderSize;
  bool integrity_seen = false;
  while (pos < d.size()) {
    if (out.has_fingerprint_) return ParseError::FingerprintNotLast;
    if (d.size() - pos < 4) return ParseError::AttributeOverrun;
    uint16_t t = rd16(d.data() + pos), l = rd16(d.data() + pos + 2);
    if (d.size() - pos - 4 < l) return ParseError::AttributeOverrun;
    if (out.count_ == kMaxAttributes) return ParseError::TooManyAttributes;
    out.attrs_[out.count_++] = RawAttribute{t, static_cast<uint16_t>(pos), d.subspan(pos + 4, l)};
    if (!integrity_seen) out.usable_ = out.count_;
    if (t == attr::MessageIntegrity || t == attr::MessageIntegritySha256) integrity_seen = true;
    if (t == attr::Fingerprint) {
      if (auto e = check_fingerprint(d, pos, l); e != ParseError::None) return e;
      out.has_fingerprint_ = true;
    }
    pos += 4 + pad4(l);
    if (pos > d.size()) return ParseError::AttributeOverrun;
  }
  return ParseError::None;
}

const RawAttribute* Message::find(uint16_t type) const {
  for (size_t i = 0; i < count_; ++i) {
    if (attrs_[i].type != type) continue;
    // After MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT count (RFC 8489 14.5, 14.6).
    if (i < usable_ || type == attr::Fingerprint || type == attr::MessageIntegritySha256) return &attrs_[i];
  }
  return nullptr;
}

bool Message::verify_integrity(std::span<const uint8_t> key) const {
  const RawAttribute* a = find(attr::MessageIntegrity);
  if (!a || a->value.size() != 20) return false;
  auto mac = integrity_over(bytes_, a->offset, 20, [&](const uint8_t* hdr, std::span<const uint8_t> body) {
    return crypto::try_hmac_sha1(key, {hdr, kHeaderSize}, body);
  });
  return crypto::verify_mac(mac, a->value);  // fails closed on an OpenSSL error
}

bool Message::verify_integrity_sha256(std::span<const uint8_t> key) const {
  const RawAttribute* a = find(attr::MessageIntegritySha256);
  // RFC 8489 14.6: at least 16 bytes, a multiple of 4, at most 32.
  if (!a || a->value.size() < 16 || a->value.size() > 32 || a->value.size() % 4) return false;
  auto mac = integrity_over(bytes_, a->offset, a->value.size(), [&](const uint8_t* hdr, std::span<const uint8_t> body) {
    return crypto::try_hmac_sha256(key, {hdr, kHeaderSize}, body);
  });
  return crypto::verify_mac(mac, a->value);  // fails closed on an OpenSSL error
}

Builder::Builder(std::span<uint8_t> buffer, uint16_t method, Class cls, const TransactionId& txid)
    : buf_(buffer), txid_(txid) {
  if (buf_.size() < kHeaderSize) { ok_ = false; size_ = 0; return; }
  wr16(buf_.data(), encode_type(method, cls));
  wr16(buf_.data() + 2, 0);
  wr32(buf_.data() + 4, kMagicCookie);
  std::memcpy(buf_.data() + 8, txid.data(), 12);
}

void Builder::set_length(size_t body) { wr16(buf_.data() + 2, static_cast<uint16_t>(body)); }

uint8_t* Builder::reserve(uint16_t type, size_t len) {
  size_t need = 4 + pad4(len);
  if (!ok_ || len > 0xFFFF || buf_.size() - size_ < need) { ok_ = false; return nullptr; }
  uint8_t* p = buf_.data() + size_;
  wr16(p, type);
  wr16(p + 2, static_cast<uint16_t>(len));
  std::memset(p + 4 + len, 0, pad4(len) - len);
  size_ += need;
  set_length(size_ - kHeaderSize);
  return p + 4;
}

void Builder::add(uint16_t type, std::span<const uint8_t> v) {
  if (uint8_t* p = reserve(type, v.size()); p && !v.empty()) std::memcpy(p, v.data(), v.size());
}
void Builder::add(uint16_t type, std::string_view v) { add(type, crypto::bytes(v)); }

void Builder::add_u32(uint16_t type, uint32_t v) {
  if (uint8_t* p = reserve(type, 4)) wr32(p, v);
}

void Builder::add_xor_address(uint16_t type, const Endpoint& ep) {
  uint8_t tmp[20];
  size_t n = XorAddress{ep}.encode(tmp, txid_);
  add(type, {tmp, n});
}

void Builder::add_address(uint16_t type, const Endpoint& ep) {
  uint8_t tmp[20];
  size_t n = PlainAddress{ep}.encode(tmp);
  add(type, {tmp, n});
}

void Builder::add_error(int code, std::string_view reason) {
  uint8_t tmp[4 + 763];
  size_t n = ErrorCode{code, std::string(reason.substr(0, 763))}.encode(tmp);
  add(attr::ErrorCode, {tmp, n});
}

void Builder::add_integrity(std::span<const uint8_t> key) {
  size_t at = size_;
  uint8_t* p = reserve(attr::MessageIntegrity, 20);
  if (!p) return;
  // The length field already counts this attribute, as RFC 8489 14.5 requires.
  auto mac = crypto::hmac_sha1(key, {buf_.data(), at});
  std::memcpy(p, mac.data(), 20);
}

void Builder::add_integrity_sha256(std::span<const uint8_t> key) {
  size_t at = size_;
  uint8_t* p = reserve(attr::MessageIntegritySha256, 32);
  if (!p) return;
  auto mac = crypto::hmac_sha256(key, {buf_.data(), at});
  std::memcpy(p, mac.data(), 32);
}

void Builder::add_fingerprint() {
  size_t at = size_;
  uint8_t* p = reserve(attr::Fingerprint, 4);
  if (!p) return;
  wr32(p, crypto::crc32({buf_.data(), at}) ^ kFingerprintXor);
}

}  // namespace turn::stun
