// Passive NAT mapping inference (RFC 4787 4.1 terms) from what an ICE session shows the SFU, without
// help from the client: the server-reflexive candidates a browser learned from this node's STUN
// addresses (the socket's mappings towards them), and the source addresses of its connectivity
// checks to the media port (the same socket's mapping towards media). Pure functions; docs/nat.md
// says what each signal can and cannot tell.
#pragma once
#include <optional>
#include <vector>

#include "turn/address.hpp"

namespace sfu {

enum class NatMapping : uint8_t { NoNat, EndpointIndependent, AddressDependent, AddressAndPortDependent, Unknown };
const char* to_string(NatMapping m);  // no_nat, endpoint_independent, ... (the metrics' label values)

struct ReflexiveCandidate {
  turn::Endpoint address;              // the mapping (typ srflx)
  std::optional<turn::Endpoint> base;  // raddr/rport when the browser discloses it (not 0.0.0.0:0)
};

struct NatEvidence {
  std::vector<turn::Endpoint> stun_servers;   // this node's STUN addresses the client was given
  turn::Endpoint media;                       // our media address its checks went to
  std::vector<turn::Endpoint> hosts;          // its host candidates (literal addresses only)
  std::vector<ReflexiveCandidate> srflx;      // its server-reflexive candidates
  std::vector<turn::Endpoint> check_sources;  // sources of its valid checks, relayed ones left out
};

NatMapping infer_mapping(const NatEvidence& e);

}  // namespace sfu
