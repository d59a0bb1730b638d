// Conversions between turn::Endpoint and the kernel's socket addresses, for the code that calls
// bind/connect/sendto/recvmmsg directly (server/, diag/, loadgen/). IPv4-mapped IPv6 sources come
// back as IPv4. Needs turn/ (turnpike_turn) on the including target.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <optional>

#include "turn/address.hpp"

namespace turnpike {

// Fills `ss` (zeroed first) and returns the length to pass with it.
inline socklen_t to_sockaddr(const turn::Endpoint& ep, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (ep.address.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(ep.port);
    std::memcpy(&sin->sin_addr, ep.address.bytes.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(ep.port);
  std::memcpy(&sin6->sin6_addr, ep.address.bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

// nullopt for a family other than AF_INET and AF_INET6.
inline std::optional<turn::Endpoint> from_sockaddr(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    return turn::Endpoint{turn::IpAddress::v4(reinterpret_cast<const uint8_t*>(&sin->sin_addr)), ntohs(sin->sin_port)};
  }
  if (ss.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    return turn::Endpoint{turn::IpAddress::v6(reinterpret_cast<const uint8_t*>(&sin6->sin6_addr)).unmapped(),
                          ntohs(sin6->sin6_port)};
  }
  return std::nullopt;
}

// The same, into `ep` (left as it was on false): for receive loops that reuse one Endpoint.
inline bool from_sockaddr(const sockaddr_storage& ss, turn::Endpoint& ep) {
  auto got = from_sockaddr(ss);
  if (got) ep = *got;
  return got.has_value();
}

}  // namespace turnpike
