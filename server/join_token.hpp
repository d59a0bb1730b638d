// SFU join tokens as `turnpike token` prints them and the embedded default's demo links: a JWT signed
// with the newest sfu.token_keys entry, and the signalling and demo URLs of this node.
#pragma once
#include <cstdint>
#include <string>

#include "server/config.hpp"

namespace turnpike {

struct JoinRequest {
  std::string room, identity;
  int64_t ttl_s = 3600;
  bool publish = true, subscribe = true;
};

struct JoinToken {
  std::string token;
  int64_t expires = 0;     // unix seconds
  std::string signal_url;  // ws[s]://HOST:PORT/signal
  std::string demo_url;    // http[s]://HOST:PORT/demo/#token=...
};

// `cfg.sfu.enabled` with at least one token key (load_config guarantees both together).
JoinToken make_join_token(const Config& cfg, const JoinRequest& req, int64_t now_unix_s);

}  // namespace turnpike
