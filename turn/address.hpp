// Transport addresses and the 5-tuple (RFC 8656 section 2: "5-tuple").
// Plain values with no socket library underneath, so the protocol core stays sans-I/O.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace turn {

enum class Family : uint8_t { V4 = 1, V6 = 2 };  // STUN family codes (RFC 8489 14.1)

// An IPv4 or IPv6 address; IPv4 is kept in the first 4 bytes.
struct IpAddress {
  Family family = Family::V4;
  std::array<uint8_t, 16> bytes{};

  static IpAddress v4(uint32_t host_order);
  static IpAddress v4(const uint8_t b[4]);
  static IpAddress v6(const uint8_t b[16]);
  // Parses dotted quad or RFC 4291 text; nullopt on anything else.
  static std::optional<IpAddress> parse(std::string_view text);

  size_t size() const { return family == Family::V4 ? 4 : 16; }
  bool is_v4() const { return family == Family::V4; }
  bool is_unspecified() const;
  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as IPv4; anything else unchanged.
  IpAddress unmapped() const;
  std::string to_string() const;
  bool operator==(const IpAddress&) const = default;
};

struct Endpoint {
  IpAddress address;
  uint16_t port = 0;
  static std::optional<Endpoint> parse(std::string_view text);  // "1.2.3.4:5", "[::1]:5"
  std::string to_string() const;
  bool operator==(const Endpoint&) const = default;
};

enum class Transport : uint8_t { Udp = 0, Tcp = 1, Tls = 2, Dtls = 3 };
const char* to_string(Transport t);
// Datagram transports: their flows live in NAT mapping tables with idle timers.
inline bool datagram(Transport t) { return t == Transport::Udp || t == Transport::Dtls; }

// RFC 8656 section 2: client address and port, server address and port, transport.
struct FiveTuple {
  Endpoint client;
  Endpoint server;
  Transport transport = Transport::Udp;
  bool operator==(const FiveTuple&) const = default;
};

// An address range, as in "peers.allow: [127.0.0.0/8]".
struct Cidr {
  IpAddress network;
  uint8_t prefix = 0;
  static std::optional<Cidr> parse(std::string_view text);  // "a.b.c.d/n", "x::/n", or a bare address
  bool contains(const IpAddress& a) const;
  bool overlaps(const Cidr& other) const;
  std::string to_string() const;
};

size_t hash_value(const Endpoint& e);
inline size_t hash_value(const IpAddress& a) { return hash_value(Endpoint{a, 0}); }

}  // namespace turn

template <>
struct std::hash<turn::IpAddress> {
  size_t operator()(const turn::IpAddress& a) const noexcept { return turn::hash_value(a); }
};
template <>
struct std::hash<turn::Endpoint> {
  size_t operator()(const turn::Endpoint& e) const noexcept { return turn::hash_value(e); }
};
template <>
struct std::hash<turn::FiveTuple> {
  size_t operator()(const turn::FiveTuple& t) const noexcept {
    size_t h = turn::hash_value(t.client);
    h ^= turn::hash_value(t.server) * 0x9e3779b97f4a7c15ULL;
    return h ^ static_cast<size_t>(t.transport);
  }
};
