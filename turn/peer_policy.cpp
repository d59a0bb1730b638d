#include "turn/peer_policy.hpp"

namespace turn {

const std::vector<Cidr>& PeerPolicy::builtin_deny() {
  static const std::vector<Cidr> list = [] {
    std::vector<Cidr> v;
    for (const char* s : {"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
                          "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4",
                          "240.0.0.0/4", "::/128", "::1/128", "fe80::/10", "fc00::/7", "ff00::/8", "fec0::/10"})
      v.push_back(*Cidr::parse(s));
    return v;
  }();
  return list;
}

PeerPolicy::PeerPolicy(std::vector<Cidr> allow, std::vector<Cidr> deny)
    : allow_(std::move(allow)), deny_(std::move(deny)) {}

bool PeerPolicy::allowed(const IpAddress& raw) const {
  // An IPv4-mapped IPv6 peer is judged as the IPv4 address it reaches.
  IpAddress peer = raw.unmapped();
  for (const auto& c : deny_)
    if (c.contains(peer)) return false;
  for (const auto& c : allow_)
    if (c.contains(peer)) return true;
  for (const auto& c : builtin_deny())
    if (c.contains(peer)) return false;
  return true;
}

}  // namespace turn
