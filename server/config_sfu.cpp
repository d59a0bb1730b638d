// sfu.* (docs/configuration.md): the SFU's listeners, join tokens, ICE servers and bounds.
#include <string>

#include "server/config_impl.hpp"
#include "turn/turn_uri.hpp"

namespace turnpike::config_detail {

namespace {

using turn::Endpoint;

// The addresses the SFU's ICE candidates announce; the media listener's own when it is concrete.
void parse_media_announce(const YAML::Node& a, Config::Sfu& s) {
  if (a && !a.IsNull()) {
    if (!a.IsSequence()) throw ConfigError("sfu.media_announce", "must be a list of addresses");
    for (size_t i = 0; i < a.size(); ++i) {
      auto ip = address(a[i], "sfu.media_announce[" + std::to_string(i) + "]");
      if (ip.is_unspecified()) throw ConfigError("sfu.media_announce[" + std::to_string(i) + "]", "must be concrete");
      s.media_announce.push_back(ip);
    }
  }
  if (s.media_announce.empty()) {
    if (s.media_listen.address.is_unspecified())
      throw ConfigError("sfu.media_announce", "required when sfu.media_listen is a wildcard address");
    s.media_announce.push_back(s.media_listen.address);
  }
}

void parse_token_keys(const YAML::Node& keys, Config::Sfu& s) {
  if (!keys || !keys.IsSequence() || keys.size() == 0)
    throw ConfigError("sfu.token_keys", "must list at least one key for join tokens (newest first)");
  for (size_t i = 0; i < keys.size(); ++i) {
    auto k = str(keys[i], "sfu.token_keys[" + std::to_string(i) + "]");
    if (k.size() < 16) throw ConfigError("sfu.token_keys[" + std::to_string(i) + "]", "must be at least 16 characters");
    s.token_keys.push_back(k);
  }
}

// The ICE servers handed to browsers: RFC 7065 turn:/turns: URIs or RFC 7064 stun: URIs.
void parse_sfu_turn_urls(const YAML::Node& u, Config::Sfu& s) {
  if (!u.IsSequence()) throw ConfigError("sfu.turn_urls", "must be a list of turn:, turns: or stun: URLs");
  for (size_t i = 0; i < u.size(); ++i) {
    std::string k = "sfu.turn_urls[" + std::to_string(i) + "]", why;
    auto url = str(u[i], k);
    if (url.rfind("stun:", 0) != 0 && !turn::TurnUri::parse(url, &why))
      throw ConfigError(k, url.rfind("turn", 0) == 0 ? why : "must start with turn:, turns: or stun:");
    s.turn_urls.push_back(url);
  }
}

}  // namespace

// sfu: the signalling and media listeners, join tokens, ICE servers and the SFU's bounds.
void parse_sfu(const YAML::Node& n, Config& c) {
  only_keys(n, "sfu", {"signal_listen", "signal_tls", "media_listen", "media_announce", "token_keys",
                       "ice_credential_ttl", "max_participants_per_room", "turn_urls", "max_connections",
                       "max_connections_per_ip", "join_timeout", "max_join_message_bytes", "max_message_bytes",
                       "max_retransmit_bytes_per_second", "max_retransmit_percent", "simulcast", "resume_grace"});
  auto& s = c.sfu;
  auto endpoint = [&](const char* key, turn::Endpoint& out) {
    std::string text = str(n[key], std::string("sfu.") + key);
    auto ep = Endpoint::parse(text);
    if (!ep || ep->port == 0) throw ConfigError(std::string("sfu.") + key, "must be ADDRESS:PORT, e.g. 127.0.0.1:8443");
    out = *ep;
    return text;
  };
  if (!n["signal_listen"]) throw ConfigError("sfu.signal_listen", "required when sfu is configured");
  s.signal_listen_text = endpoint("signal_listen", s.signal_listen);
  if (!n["media_listen"]) throw ConfigError("sfu.media_listen", "required when sfu is configured");
  endpoint("media_listen", s.media_listen);
  if (n["signal_tls"]) s.signal_tls = boolean(n["signal_tls"], "sfu.signal_tls");
  parse_media_announce(n["media_announce"], s);
  parse_token_keys(n["token_keys"], s);
  if (const auto& u = n["turn_urls"]; u && !u.IsNull()) parse_sfu_turn_urls(u, s);
  if (n["ice_credential_ttl"])
    s.ice_credential_ttl_s = static_cast<uint32_t>(uint(n["ice_credential_ttl"], "sfu.ice_credential_ttl", 60, 86400 * 7));
  if (n["max_participants_per_room"])
    s.max_participants_per_room =
        static_cast<uint32_t>(uint(n["max_participants_per_room"], "sfu.max_participants_per_room", 2, 1000));
  auto u32 = [&](const char* key, uint32_t& out, uint64_t lo, uint64_t hi) {
    if (n[key]) out = static_cast<uint32_t>(uint(n[key], std::string("sfu.") + key, lo, hi));
  };
  u32("max_connections", s.max_connections, 1, 1'000'000);
  u32("max_connections_per_ip", s.max_connections_per_ip, 1, 1'000'000);
  u32("join_timeout", s.join_timeout_s, 1, 600);
  u32("max_join_message_bytes", s.max_join_message_bytes, 1024, 1 << 20);
  u32("max_message_bytes", s.max_message_bytes, 1024, 16 << 20);
  if (n["max_retransmit_bytes_per_second"])
    s.max_retransmit_bytes_per_second =
        uint(n["max_retransmit_bytes_per_second"], "sfu.max_retransmit_bytes_per_second", 16'000, 1'000'000'000);
  u32("max_retransmit_percent", s.max_retransmit_percent, 1, 1000);
  if (n["simulcast"]) s.simulcast = boolean(n["simulcast"], "sfu.simulcast");
  u32("resume_grace", s.resume_grace_s, 0, 300);
  if (s.max_message_bytes < s.max_join_message_bytes)
    throw ConfigError("sfu.max_message_bytes", "is below sfu.max_join_message_bytes");
  s.enabled = true;
}

}  // namespace turnpike::config_detail
