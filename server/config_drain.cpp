// drain.* (server/config_drain.hpp).
#include "server/config_drain.hpp"

#include <set>
#include <string>

#include "server/config.hpp"

namespace turnpike {

namespace {

std::string scalar(const YAML::Node& n, const std::string& key) {
  if (!n.IsScalar()) throw ConfigError(key, "must be a string");
  return n.as<std::string>();
}

std::vector<turn::TurnUri> parse_alternates(const YAML::Node& u) {
  const std::string key = "drain.alternate_urls";
  if (u.IsNull()) return {};
  if (!u.IsSequence()) throw ConfigError(key, "must be a list of turn: or turns: URLs (RFC 7065)");
  constexpr size_t kMax = 64;
  if (u.size() > kMax) throw ConfigError(key, "at most " + std::to_string(kMax) + " URLs");
  std::vector<turn::TurnUri> out;
  for (size_t i = 0; i < u.size(); ++i) {
    std::string k = key + "[" + std::to_string(i) + "]", why;
    auto uri = turn::TurnUri::parse(scalar(u[i], k), &why);
    if (!uri) throw ConfigError(k, why);
    // ALTERNATE-SERVER carries an address (RFC 8489 14.15): a name cannot be sent.
    if (!uri->literal) throw ConfigError(k, "needs a literal IPv4 or [IPv6] address: ALTERNATE-SERVER carries no names");
    out.push_back(std::move(*uri));
  }
  return out;
}

std::string parse_signal_url(const YAML::Node& n) {
  const std::string key = "drain.signal_url";
  if (n.IsNull()) return {};
  std::string v = scalar(n, key);
  bool ws = v.rfind("ws://", 0) == 0 || v.rfind("wss://", 0) == 0;
  size_t host = v.find("://") + 3;
  if (!ws || v.size() <= host || v.size() > 2048)
    throw ConfigError(key, "must be a ws:// or wss:// URL of another node's /signal (at most 2048 characters)");
  for (unsigned char ch : v)
    if (ch <= ' ' || ch >= 0x7f) throw ConfigError(key, "must not contain spaces or control or non-ASCII characters");
  return v;
}

uint32_t parse_grace(const YAML::Node& n) {
  const std::string key = "drain.grace_seconds";
  constexpr uint64_t kMaxGrace = 86400;
  if (!n.IsScalar()) throw ConfigError(key, "must be a number");
  auto s = n.as<std::string>();
  uint64_t v = 0;
  size_t used = 0;
  try {
    if (s.empty() || s[0] == '-') throw std::invalid_argument("negative");
    v = std::stoull(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != s.size()) throw ConfigError(key, "must be a whole number");
  if (v < 1 || v > kMaxGrace) throw ConfigError(key, "must be between 1 and " + std::to_string(kMaxGrace));
  return static_cast<uint32_t>(v);
}

}  // namespace

void parse_drain(const YAML::Node& n, DrainConfig& d) {
  if (!n.IsMap()) throw ConfigError("drain", "must be a mapping");
  const std::set<std::string> allowed = {"alternate_urls", "signal_url", "grace_seconds"};
  for (const auto& kv : n) {
    if (!kv.first.IsScalar()) throw ConfigError("drain", "keys must be plain strings");
    auto key = kv.first.as<std::string>();
    if (!allowed.count(key)) throw ConfigError("drain." + key, "unknown key");
  }
  if (const auto& u = n["alternate_urls"]) d.alternate_urls = parse_alternates(u);
  if (const auto& s = n["signal_url"]) d.signal_url = parse_signal_url(s);
  if (const auto& g = n["grace_seconds"]) d.grace_seconds = parse_grace(g);
}

}  // namespace turnpike
