// Which peer addresses a relay may send to or accept from (RFC 8656 17: the server decides).
// Denied: the built-in list (loopback, RFC 1918, shared, link-local incl. cloud metadata, multicast,
// unspecified, reserved, and IPv6 counterparts) unless `allow` names the address, plus `deny`.
#pragma once
#include <vector>

#include "turn/address.hpp"

namespace turn {

class PeerPolicy {
 public:
  PeerPolicy(std::vector<Cidr> allow = {}, std::vector<Cidr> deny = {});
  bool allowed(const IpAddress& peer) const;
  static const std::vector<Cidr>& builtin_deny();

 private:
  std::vector<Cidr> allow_, deny_;
};

}  // namespace turn
