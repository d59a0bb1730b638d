// Conversions between turn::Endpoint and the kernel's socket addresses, for the code that calls
// sendto/recvmmsg directly. IPv4-mapped IPv6 sources come back as IPv4.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "turn/address.hpp"

namespace turnpike {

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

inline bool from_sockaddr(const sockaddr_storage& ss, turn::Endpoint& ep) {
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    ep.address = turn::IpAddress::v4(reinterpret_cast<const uint8_t*>(&sin->sin_addr));
    ep.port = ntohs(sin->sin_port);
    return true;
  }
  if (ss.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    ep.address = turn::IpAddress::v6(reinterpret_cast<const uint8_t*>(&sin6->sin6_addr)).unmapped();
    ep.port = ntohs(sin6->sin6_port);
    return true;
  }
  return false;
}

}  // namespace turnpike
