// The ICE servers an SFU participant is handed (RFC 7064/7065 URLs) and the TURN REST credentials
// that go with them: pure functions of the config and the wall clock.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "server/config.hpp"
#include "turn/address.hpp"

namespace turnpike {

// A transport address as it appears in a TURN/STUN URL (RFC 7064/7065): IPv6 in brackets.
std::string url_host_port(const turn::Endpoint& ep);

// This node's STUN and TURN URLs: sfu.turn_urls as given (split by scheme), else derived from the
// TURN listeners, an unspecified address replaced by the sfu.media_announce address of its family.
struct IceUrls {
  std::vector<std::string> turn, stun;
};
IceUrls ice_urls(const Config& cfg);

// The ICE servers JSON for `identity` at `now_unix_s`: the STUN URLs, and the TURN URLs with TURN
// REST credentials valid for sfu.ice_credential_ttl (none without auth.rest_secrets).
std::string ice_servers_json(const Config& cfg, const std::string& identity, int64_t now_unix_s);

// The STUN servers handed out, where literal (port 3478 when the URL has none, RFC 7064): the
// SFU's passive NAT evidence compares srflx mappings towards them.
std::vector<turn::Endpoint> stun_endpoints(const Config& cfg);

}  // namespace turnpike
