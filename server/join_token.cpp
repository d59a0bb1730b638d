#include "server/join_token.hpp"

#include "server/ice_servers.hpp"
#include "sfu/token.hpp"

namespace turnpike {

JoinToken make_join_token(const Config& cfg, const JoinRequest& req, int64_t now_unix_s) {
  sfu::token::Claims claims;
  claims.room = req.room;
  claims.identity = req.identity;
  claims.region = cfg.region;
  claims.iat = now_unix_s;
  claims.exp = now_unix_s + req.ttl_s;
  claims.publish = req.publish;
  claims.subscribe = req.subscribe;
  JoinToken out;
  out.token = sfu::token::encode(claims, cfg.sfu.token_keys.front());
  out.expires = claims.exp;
  std::string scheme = cfg.sfu.signal_tls ? "s" : "";
  std::string host = url_host_port(cfg.sfu.signal_listen);
  out.signal_url = "ws" + scheme + "://" + host + "/signal";
  out.demo_url = "http" + scheme + "://" + host + "/demo/#token=" + out.token;
  return out;
}

}  // namespace turnpike
