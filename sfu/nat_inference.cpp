#include "sfu/nat_inference.hpp"

#include <algorithm>
#include <map>

namespace sfu {

const char* to_string(NatMapping m) {
  switch (m) {
    case NatMapping::NoNat: return "no_nat";
    case NatMapping::EndpointIndependent: return "endpoint_independent";
    case NatMapping::AddressDependent: return "address_dependent";
    case NatMapping::AddressAndPortDependent: return "address_and_port_dependent";
    case NatMapping::Unknown: return "unknown";
  }
  return "unknown";
}

namespace {

bool contains(const std::vector<turn::Endpoint>& v, const turn::Endpoint& e) {
  return std::find(v.begin(), v.end(), e) != v.end();
}

// Our STUN addresses share one IP and differ in port: mappings towards them differ only if the NAT
// is port-dependent.
bool stun_servers_differ_in_port_only(const std::vector<turn::Endpoint>& s) {
  if (s.size() < 2) return false;
  for (const auto& x : s)
    if (!(x.address == s.front().address)) return false;
  for (const auto& x : s)
    if (x.port != s.front().port) return true;
  return false;
}

using MappingsByBase = std::map<std::string, std::vector<turn::Endpoint>>;

// Step 2: the mappings towards our STUN addresses, from the NAT whose public IP sent the checks,
// grouped by the socket (base) they belong to when the browser says; else taken as one socket.
MappingsByBase mappings_by_base(const NatEvidence& e) {
  MappingsByBase by_base;
  for (const auto& c : e.srflx) {
    bool same_nat = false;
    for (const auto& src : e.check_sources) same_nat = same_nat || src.address == c.address.address;
    if (!same_nat) continue;
    auto& v = by_base[c.base ? c.base->to_string() : ""];
    if (!contains(v, c.address)) v.push_back(c.address);
  }
  return by_base;
}

// Step 4: compare with the mapping towards the media address.
NatMapping compare_with_media(const NatEvidence& e, const MappingsByBase& by_base, bool port_only) {
  bool media_on_stun_ip = false;
  for (const auto& s : e.stun_servers) media_on_stun_ip = media_on_stun_ip || s.address == e.media.address;
  bool preserved = false;
  for (const auto& src : e.check_sources)
    for (const auto& [_, v] : by_base) preserved = preserved || (v.size() == 1 && v.front() == src);
  bool single = true;  // every socket showed one mapping towards all our STUN addresses
  for (const auto& [_, v] : by_base) single = single && v.size() == 1;
  if (!single) return NatMapping::Unknown;
  if (preserved) return media_on_stun_ip ? NatMapping::Unknown  // only the port changed: EIM or ADM
                                         : NatMapping::EndpointIndependent;
  if (media_on_stun_ip) return NatMapping::AddressAndPortDependent;  // only the port changed, and the mapping did
  // Another IP got another mapping; the same IP's other port got the same one: address-dependent.
  return port_only ? NatMapping::AddressDependent : NatMapping::Unknown;
}

}  // namespace

NatMapping infer_mapping(const NatEvidence& e) {
  if (e.check_sources.empty()) return NatMapping::Unknown;
  // Step 1: a check straight from a host candidate crossed no NAT.
  for (const auto& src : e.check_sources)
    if (contains(e.hosts, src)) return NatMapping::NoNat;
  const MappingsByBase by_base = mappings_by_base(e);
  if (by_base.empty()) return NatMapping::Unknown;
  bool port_only = stun_servers_differ_in_port_only(e.stun_servers);
  // Step 3: one socket, two of our ports on one IP, two mappings: the mapping depends on the port.
  for (const auto& [_, v] : by_base)
    if (v.size() > 1 && port_only) return NatMapping::AddressAndPortDependent;
  return compare_with_media(e, by_base, port_only);
}

}  // namespace sfu
