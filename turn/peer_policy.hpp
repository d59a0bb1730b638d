// Which peer addresses a relay may send to or accept from (RFC 8656 17: the server decides).
// Denied: the built-in list (loopback, RFC 1918, shared, link-local incl. cloud metadata, multicast,
// unspecified, reserved, and IPv6 counterparts) unless `allow` names the address, plus `deny`.
// An IPv6 address that embeds an IPv4 address (NAT64, IPv4-mapped/-compatible, SIIT, 6to4, Teredo)
// reaches that IPv4 address, so it is judged by the IPv4 policy: allowed only if every IPv4
// address it embeds is allowed and no explicit `deny` names the IPv6 address itself.
#pragma once
#include <array>
#include <vector>

#include "turn/address.hpp"

namespace turn {

class PeerPolicy {
 public:
  PeerPolicy(std::vector<Cidr> allow = {}, std::vector<Cidr> deny = {});
  bool allowed(const IpAddress& peer) const;
  static const std::vector<Cidr>& builtin_deny();
  // The IPv4 addresses an IPv6 address reaches through a translation or tunnel prefix (RFC 6052,
  // RFC 8215, RFC 4291 2.5.5, RFC 7915/SIIT, RFC 3056, RFC 4380); empty for any other address.
  struct Embedded {
    std::array<IpAddress, 2> v4{};
    size_t count = 0;
  };
  static Embedded embedded_v4(const IpAddress& a);

 private:
  std::vector<Cidr> allow_, deny_;
};

}  // namespace turn
