#include "turn/peer_policy.hpp"

namespace turn {

const std::vector<Cidr>& PeerPolicy::builtin_deny() {
  static const std::vector<Cidr> list = [] {
    std::vector<Cidr> v;
    for (const char* s : {"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
                          "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4",
                          "240.0.0.0/4", "::/128", "::1/128", "100::/64", "fe80::/10", "fc00::/7", "ff00::/8", "fec0::/10"})
      v.push_back(*Cidr::parse(s));
    return v;
  }();
  return list;
}

PeerPolicy::PeerPolicy(std::vector<Cidr> allow, std::vector<Cidr> deny)
    : allow_(std::move(allow)), deny_(std::move(deny)) {}

namespace {
IpAddress v4_at(const IpAddress& a, size_t i0, size_t i1, size_t i2, size_t i3, uint8_t x = 0) {
  const uint8_t b[4] = {static_cast<uint8_t>(a.bytes[i0] ^ x), static_cast<uint8_t>(a.bytes[i1] ^ x),
                        static_cast<uint8_t>(a.bytes[i2] ^ x), static_cast<uint8_t>(a.bytes[i3] ^ x)};
  return IpAddress::v4(b);
}
bool zeros(const IpAddress& a, size_t from, size_t to) {
  for (size_t i = from; i < to; ++i)
    if (a.bytes[i]) return false;
  return true;
}
}  // namespace

PeerPolicy::Embedded PeerPolicy::embedded_v4(const IpAddress& a) {
  Embedded e;
  if (a.is_v4()) return e;
  const auto& b = a.bytes;
  auto add = [&](IpAddress v4) { e.v4[e.count++] = v4; };
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {
    // 64:ff9b::/96, the well-known NAT64 prefix (RFC 6052 2.1): the last 32 bits.
    if (zeros(a, 4, 12)) add(v4_at(a, 12, 13, 14, 15));
    // 64:ff9b:1::/48, local-use NAT64 (RFC 8215), /48 layout of RFC 6052 2.2: bits 48..63 and
    // 72..87, around the u-octet (bits 64..71).
    else if (b[4] == 0x00 && b[5] == 0x01) add(v4_at(a, 6, 7, 9, 10));
  } else if (zeros(a, 0, 10) && b[10] == 0xff && b[11] == 0xff) {
    add(v4_at(a, 12, 13, 14, 15));  // ::ffff:0:0/96, IPv4-mapped (RFC 4291 2.5.5.2)
  } else if (zeros(a, 0, 15) && b[15] <= 1) {
    // :: and ::1 (unspecified, loopback: RFC 4291 2.5.2, 2.5.3) are themselves, not IPv4-compatible.
  } else if (zeros(a, 0, 12)) {
    add(v4_at(a, 12, 13, 14, 15));  // ::/96, IPv4-compatible (RFC 4291 2.5.5.1; deprecated)
  } else if (zeros(a, 0, 8) && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0) {
    add(v4_at(a, 12, 13, 14, 15));  // ::ffff:0:0:0/96, IPv4-translated (SIIT, RFC 2765 / RFC 7915)
  } else if (b[0] == 0x20 && b[1] == 0x02) {
    add(v4_at(a, 2, 3, 4, 5));  // 2002::/16, 6to4 (RFC 3056 2): bits 16..47
  } else if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00) {
    // 2001::/32, Teredo (RFC 4380 4): the server at bits 32..63, the client's address obfuscated
    // (inverted) in the last 32 bits. Both are reached.
    add(v4_at(a, 4, 5, 6, 7));
    add(v4_at(a, 12, 13, 14, 15, 0xff));
  }
  return e;
}

bool PeerPolicy::allowed(const IpAddress& raw) const {
  // An IPv4-mapped IPv6 peer is judged as the IPv4 address it reaches.
  IpAddress peer = raw.unmapped();
  for (const auto& c : deny_)
    if (c.contains(peer)) return false;
  // An IPv6 form of IPv4 addresses: each IPv4 address decides (an explicit allow of the IPv6
  // prefix cannot open what the IPv4 policy denies).
  if (auto e = embedded_v4(peer); e.count > 0) {
    for (size_t i = 0; i < e.count; ++i)
      if (!allowed(e.v4[i])) return false;
    return true;
  }
  for (const auto& c : allow_)
    if (c.contains(peer)) return true;
  for (const auto& c : builtin_deny())
    if (c.contains(peer)) return false;
  return true;
}

}  // namespace turn
