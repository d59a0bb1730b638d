#include "server/quickstart.hpp"

#include <tuple>

#include "server/join_token.hpp"

namespace turnpike {

namespace {
constexpr int64_t kDemoTtl = 24 * 3600;
}

std::string quickstart_banner(const Config& cfg, const std::string& version, int64_t now_unix_s) {
  std::string user, pw;
  if (!cfg.auth.users.empty()) std::tie(user, pw) = *cfg.auth.users.begin();
  std::string out = "turnpike " + version + " on the embedded default config\n";
  out += "  TURN/STUN: udp 127.0.0.1:3478, realm " + cfg.auth.realm + "\n";
  out += "  demo user: " + user + " / " + pw + "\n";
  out += "  admin:     http://" + cfg.admin_listen_text + "/healthz\n";
  if (cfg.sfu.enabled && !cfg.sfu.token_keys.empty()) {
    out += "  SFU demo:  open both links in a browser on this machine (room demo, valid 24 h):\n";
    for (const char* guest : {"guest-1", "guest-2"}) {
      JoinToken t = make_join_token(cfg, JoinRequest{"demo", guest, kDemoTtl}, now_unix_s);
      out += std::string("    ") + guest + ": " + t.demo_url + "\n";
    }
  }
  out += "  relaying to loopback and private peers is refused (peers.allow); see conf/local.yaml\n";
  return out;
}

}  // namespace turnpike
