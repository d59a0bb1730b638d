#include "server/ice_servers.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/json_text.hpp"
#include "turn/auth.hpp"

namespace turnpike {

std::string url_host_port(const turn::Endpoint& ep) {
  return ep.address.is_v4() ? ep.to_string() : "[" + ep.address.to_string() + "]:" + std::to_string(ep.port);
}

IceUrls ice_urls(const Config& cfg) {
  IceUrls out;
  auto& turn_urls = out.turn;
  auto& stun_urls = out.stun;
  if (!cfg.sfu.turn_urls.empty()) {
    for (const auto& u : cfg.sfu.turn_urls) (u.rfind("stun:", 0) == 0 ? stun_urls : turn_urls).push_back(u);
    return out;
  }
  for (const auto& l : cfg.listen) {
    turn::Endpoint ep = l.endpoint;
    if (ep.address.is_unspecified()) {
      bool found = false;
      for (const auto& a : cfg.sfu.media_announce)
        if (a.family == ep.address.family) { ep.address = a; found = true; break; }
      if (!found) continue;
    }
    std::string hp = url_host_port(ep);
    switch (l.transport) {
      case turn::Transport::Udp:
        turn_urls.push_back("turn:" + hp + "?transport=udp");
        stun_urls.push_back("stun:" + hp);
        // With RFC 5780 on, the primary's port alternate too: two mappings from one socket towards
        // one IP's two ports show a port-dependent NAT (passive inference, docs/nat.md).
        if (cfg.core.nat_discovery && l.endpoint == cfg.core.nat_discovery->primary)
          stun_urls.push_back("stun:" + url_host_port(turn::Endpoint{ep.address, cfg.core.nat_discovery->alternate.port}));
        break;
      case turn::Transport::Tcp: turn_urls.push_back("turn:" + hp + "?transport=tcp"); break;
      case turn::Transport::Tls: turn_urls.push_back("turns:" + hp + "?transport=tcp"); break;
      case turn::Transport::Dtls: break;  // browsers do not speak TURN over DTLS
    }
  }
  return out;
}

std::string ice_servers_json(const Config& cfg, const std::string& identity, int64_t now_unix_s) {
  IceUrls urls = ice_urls(cfg);
  nlohmann::json servers = nlohmann::json::array();
  if (!urls.stun.empty()) servers.push_back({{"urls", urls.stun}});
  if (!urls.turn.empty() && !cfg.auth.rest_secrets.empty()) {
    // A ':' in the identity would read as a region pin (`<expiry>:<user>:<region>`): the browser's
    // TURN allocation would be judged by that region instead of its address.
    std::string user = identity;
    std::replace(user.begin(), user.end(), ':', '_');
    std::string username = std::to_string(now_unix_s + cfg.sfu.ice_credential_ttl_s) + ":" + user;
    servers.push_back({{"urls", urls.turn},
                       {"username", username},
                       {"credential", turn::rest_password(cfg.auth.rest_secrets.front(), username)}});
  }
  return safe_dump(servers);
}

std::vector<turn::Endpoint> stun_endpoints(const Config& cfg) {
  std::vector<turn::Endpoint> out;
  for (const auto& url : ice_urls(cfg).stun) {
    std::string hp = url.substr(5, url.find('?') == std::string::npos ? std::string::npos : url.find('?') - 5);
    auto ep = turn::Endpoint::parse(hp);
    if (!ep) ep = turn::Endpoint::parse(hp + ":3478");  // RFC 7064: the default port
    if (ep) out.push_back(*ep);
  }
  return out;
}

}  // namespace turnpike
