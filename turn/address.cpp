#include "turn/address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace turn {

IpAddress IpAddress::v4(uint32_t host_order) {
  IpAddress a;
  a.family = Family::V4;
  a.bytes[0] = host_order >> 24;
  a.bytes[1] = host_order >> 16;
  a.bytes[2] = host_order >> 8;
  a.bytes[3] = host_order;
  return a;
}

IpAddress IpAddress::v4(const uint8_t b[4]) {
  IpAddress a;
  a.family = Family::V4;
  std::memcpy(a.bytes.data(), b, 4);
  return a;
}

IpAddress IpAddress::v6(const uint8_t b[16]) {
  IpAddress a;
  a.family = Family::V6;
  std::memcpy(a.bytes.data(), b, 16);
  return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() > 63) return std::nullopt;
  char buf[64];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = 0;
  uint8_t out[16];
  if (inet_pton(AF_INET, buf, out) == 1) return v4(out);
  if (inet_pton(AF_INET6, buf, out) == 1) return v6(out);
  return std::nullopt;
}

bool IpAddress::is_unspecified() const {
  for (size_t i = 0; i < size(); ++i)
    if (bytes[i]) return false;
  return true;
}

IpAddress IpAddress::unmapped() const {
  static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (family == Family::V6 && std::memcmp(bytes.data(), prefix, 12) == 0) return v4(bytes.data() + 12);
  return *this;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  auto addr = IpAddress::parse(host);
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (!addr || ec != std::errc{} || ptr != port.data() + port.size() || p > 65535 || port.empty()) return std::nullopt;
  return Endpoint{*addr, static_cast<uint16_t>(p)};
}

std::string Endpoint::to_string() const {
  if (address.is_v4()) return address.to_string() + ":" + std::to_string(port);
  return "[" + address.to_string() + "]:" + std::to_string(port);
}

const char* to_string(Transport t) {
  switch (t) {
    case Transport::Udp: return "udp";
    case Transport::Tcp: return "tcp";
    case Transport::Tls: return "tls";
    case Transport::Dtls: return "dtls";
  }
  return "?";
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  auto addr = IpAddress::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  unsigned max = addr->is_v4() ? 32 : 128;
  unsigned prefix = max;
  if (slash != std::string_view::npos) {
    auto p = text.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (p.empty() || ec != std::errc{} || ptr != p.data() + p.size() || prefix > max) return std::nullopt;
  }
  Cidr c{*addr, static_cast<uint8_t>(prefix)};
  // Normalise: clear host bits so that contains() and overlaps() compare networks.
  for (unsigned i = 0; i < addr->size(); ++i) {
    unsigned bit = i * 8;
    if (bit >= prefix) c.network.bytes[i] = 0;
    else if (bit + 8 > prefix) c.network.bytes[i] &= static_cast<uint8_t>(0xff << (8 - (prefix - bit)));
  }
  return c;
}

static bool prefix_match(const IpAddress& a, const IpAddress& b, unsigned prefix) {
  unsigned full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(a.bytes.data(), b.bytes.data(), full) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a.bytes[full] & mask) == (b.bytes[full] & mask);
}

bool Cidr::contains(const IpAddress& a) const {
  IpAddress x = a.family == network.family ? a : a.unmapped();
  if (x.family != network.family) return false;
  return prefix_match(x, network, prefix);
}

bool Cidr::overlaps(const Cidr& o) const {
  if (o.network.family != network.family) return false;
  return prefix_match(network, o.network, std::min(prefix, o.prefix));
}

std::string Cidr::to_string() const { return network.to_string() + "/" + std::to_string(prefix); }

size_t hash_value(const Endpoint& e) {
  // FNV-1a over the bytes that matter; cheap and good enough for per-shard tables.
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < e.address.size(); ++i) h = (h ^ e.address.bytes[i]) * 1099511628211ULL;
  h = (h ^ (e.port & 0xff)) * 1099511628211ULL;
  h = (h ^ (e.port >> 8)) * 1099511628211ULL;
  return static_cast<size_t>(h ^ static_cast<uint64_t>(e.address.family));
}

}  // namespace turn
