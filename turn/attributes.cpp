#include "turn/attributes.hpp"

#include <cstdint>
#include "turn/utf8.hpp"

#include <cstring>

namespace turn::stun {

namespace {
uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
void wr16(uint8_t* p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }

// Shared layout of (XOR-)address attributes: reserved, family, port, address (RFC 8489 14.1).
std::optional<Endpoint> decode_address(std::span<const uint8_t> v) {
  if (v.size() < 4) return std::nullopt;
  Endpoint ep;
  ep.port = rd16(v.data() + 2);
  if (v[1] == 0x01 && v.size() == 8) ep.address = IpAddress::v4(v.data() + 4);
  else if (v[1] == 0x02 && v.size() == 20) ep.address = IpAddress::v6(v.data() + 4);
  else return std::nullopt;
  return ep;
}

size_t encode_address(uint8_t* out, const Endpoint& ep) {
  out[0] = 0;
  out[1] = static_cast<uint8_t>(ep.address.family);
  wr16(out + 2, ep.port);
  std::memcpy(out + 4, ep.address.bytes.data(), ep.address.size());
  return 4 + ep.address.size();
}

// XOR with the magic cookie and, for IPv6, the transaction id (RFC 8489 14.2).
void apply_xor(uint8_t* v, size_t len, const TransactionId& txid) {
  static const uint8_t cookie[4] = {0x21, 0x12, 0xA4, 0x42};
  v[2] ^= cookie[0];
  v[3] ^= cookie[1];
  for (size_t i = 0; i < 4 && 4 + i < len; ++i) v[4 + i] ^= cookie[i];
  for (size_t i = 0; i + 8 < len; ++i) v[8 + i] ^= txid[i];
}
}  // namespace

std::optional<XorAddress> XorAddress::decode(std::span<const uint8_t> v, const TransactionId& txid) {
  if (v.size() != 8 && v.size() != 20) return std::nullopt;
  uint8_t tmp[20];
  std::memcpy(tmp, v.data(), v.size());
  apply_xor(tmp, v.size(), txid);
  auto ep = decode_address({tmp, v.size()});
  if (!ep) return std::nullopt;
  return XorAddress{*ep};
}

size_t XorAddress::encode(uint8_t out[20], const TransactionId& txid) const {
  size_t n = encode_address(out, endpoint);
  apply_xor(out, n, txid);
  return n;
}

std::optional<PlainAddress> PlainAddress::decode(std::span<const uint8_t> v) {
  auto ep = decode_address(v);
  if (!ep) return std::nullopt;
  return PlainAddress{*ep};
}

size_t PlainAddress::encode(uint8_t out[20]) const { return encode_address(out, endpoint); }

std::optional<ErrorCode> ErrorCode::decode(std::span<const uint8_t> v) {
  if (v.size() < 4 || v.size() > 4 + 763) return std::nullopt;
  int cls = v[2] & 0x07, num = v[3];
  if (cls < 3 || cls > 6 || num > 99) return std::nullopt;
  return ErrorCode{cls * 100 + num, std::string(reinterpret_cast<const char*>(v.data() + 4), v.size() - 4)};
}

size_t ErrorCode::encode(uint8_t* out) const {
  out[0] = out[1] = 0;
  out[2] = static_cast<uint8_t>(code / 100);
  out[3] = static_cast<uint8_t>(code % 100);
  std::memcpy(out + 4, reason.data(), reason.size());
  return 4 + reason.size();
}

std::optional<UnknownAttributes> UnknownAttributes::decode(std::span<const uint8_t> v) {
  if (v.size() % 2) return std::nullopt;
  UnknownAttributes u;
  for (size_t i = 0; i < v.size(); i += 2) u.types.push_back(rd16(v.data() + i));
  return u;
}

std::optional<Lifetime> Lifetime::decode(std::span<const uint8_t> v) {
  if (v.size() != 4) return std::nullopt;
  return Lifetime{uint32_t(v[0]) << 24 | uint32_t(v[1]) << 16 | uint32_t(v[2]) << 8 | v[3]};
}

std::optional<ChangeRequest> ChangeRequest::decode(std::span<const uint8_t> v) {
  if (v.size() != 4) return std::nullopt;
  uint32_t flags = uint32_t(v[0]) << 24 | uint32_t(v[1]) << 16 | uint32_t(v[2]) << 8 | v[3];
  return ChangeRequest{(flags & kChangeIp) != 0, (flags & kChangePort) != 0};  // other bits: ignored (7.2)
}

std::optional<ResponsePort> ResponsePort::decode(std::span<const uint8_t> v) {
  if (v.size() != 4) return std::nullopt;
  return ResponsePort{rd16(v.data())};
}

std::optional<ChannelNumber> ChannelNumber::decode(std::span<const uint8_t> v) {
  if (v.size() != 4) return std::nullopt;
  return ChannelNumber{rd16(v.data())};
}

std::optional<RequestedTransport> RequestedTransport::decode(std::span<const uint8_t> v) {
  if (v.size() != 4) return std::nullopt;
  return RequestedTransport{v[0]};
}

std::optional<AddressFamily> AddressFamily::decode(std::span<const uint8_t> v) {
  if (v.size() != 4 || (v[0] != 0x01 && v[0] != 0x02)) return std::nullopt;
  return AddressFamily{static_cast<Family>(v[0])};
}

std::optional<EvenPort> EvenPort::decode(std::span<const uint8_t> v) {
  if (v.size() != 1 && v.size() != 4) return std::nullopt;  // 1 byte; some clients pad the value
  return EvenPort{(v[0] & 0x80) != 0};
}

std::optional<ReservationToken> ReservationToken::decode(std::span<const uint8_t> v) {
  if (v.size() != 8) return std::nullopt;
  ReservationToken t;
  std::memcpy(t.token.data(), v.data(), 8);
  return t;
}

std::optional<PasswordAlgorithm> PasswordAlgorithm::decode(std::span<const uint8_t> v) {
  if (v.size() < 4) return std::nullopt;
  uint16_t plen = rd16(v.data() + 2);
  if (4 + ((plen + 3u) & ~3u) != v.size() && 4u + plen != v.size()) return std::nullopt;
  return PasswordAlgorithm{rd16(v.data())};
}

std::optional<PasswordAlgorithms> PasswordAlgorithms::decode(std::span<const uint8_t> v) {
  PasswordAlgorithms out;
  size_t pos = 0;
  while (pos < v.size()) {
    if (v.size() - pos < 4) return std::nullopt;
    uint16_t plen = rd16(v.data() + pos + 2);
    size_t step = 4 + ((plen + 3u) & ~3u);
    if (v.size() - pos < step) return std::nullopt;
    out.algorithms.push_back(rd16(v.data() + pos));
    pos += step;
  }
  return out;
}

std::span<const uint8_t> PasswordAlgorithms::server_value() {
  static const uint8_t value[8] = {0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00};
  return value;
}

std::optional<Text> Text::decode(std::span<const uint8_t> v, size_t max_bytes, size_t max_chars) {
  if (v.size() > max_bytes) return std::nullopt;
  auto chars = utf8::count(v);
  if (!chars || *chars > max_chars) return std::nullopt;
  return Text{std::string(reinterpret_cast<const char*>(v.data()), v.size())};
}

uint16_t first_bad_text_attribute(const Message& m) {
  for (const auto& a : m.attributes()) {
    size_t max_bytes = 0, max_chars = SIZE_MAX;
    switch (a.type) {
      case attr::Username: max_bytes = kMaxUsername; break;
      case attr::Realm: max_bytes = kMaxRealm; max_chars = kMaxTextChars; break;
      case attr::Nonce: max_bytes = kMaxNonce; max_chars = kMaxTextChars; break;
      case attr::Software: max_bytes = kMaxSoftware; max_chars = kMaxTextChars; break;
      case attr::AlternateDomain: max_bytes = 255; break;  // RFC 8489 14.16: a domain name
      default: continue;
    }
    if (!Text::decode(a.value, max_bytes, max_chars)) return a.type;
  }
  return 0;
}

}  // namespace turn::stun
