#include "server/config.hpp"

#include "server/config_log.hpp"
#include "server/config_secrets.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "server/config_drain.hpp"
#include "server/config_impl.hpp"
#include "server/config_quality.hpp"
#include "turn/crypto.hpp"
#include "turn/tags.hpp"

namespace turnpike {

namespace config_detail {

using turn::Cidr;
using turn::Endpoint;
using turn::IpAddress;

std::string join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; }

void only_keys(const YAML::Node& n, const std::string& path, std::set<std::string> allowed) {
  if (!n.IsMap()) throw ConfigError(path.empty() ? "(top level)" : path, "must be a mapping");
  const std::string where = path.empty() ? "(top level)" : path;
  for (const auto& kv : n) {
    if (!kv.first.IsScalar()) throw ConfigError(where, "keys must be plain strings");
    auto key = kv.first.as<std::string>();
    if (key.empty()) throw ConfigError(where, "empty key (\"\")");
    if (!allowed.count(key)) throw ConfigError(join(path, key), "unknown key");
  }
}

std::string str(const YAML::Node& n, const std::string& key) {
  if (!n.IsScalar()) throw ConfigError(key, "must be a string");
  return n.as<std::string>();
}

bool boolean(const YAML::Node& n, const std::string& key) {
  auto v = n.IsScalar() ? n.as<std::string>() : std::string();
  if (v != "true" && v != "false") throw ConfigError(key, "must be true or false");
  return v == "true";
}

uint64_t uint(const YAML::Node& n, const std::string& key, uint64_t min, uint64_t max) {
  if (!n.IsScalar()) throw ConfigError(key, "must be a number");
  uint64_t v;
  try {
    auto s = n.as<std::string>();
    size_t used = 0;
    if (s.empty() || s[0] == '-') throw std::invalid_argument("negative");
    v = std::stoull(s, &used);
    if (used != s.size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    throw ConfigError(key, "must be a whole number");
  }
  if (v < min || v > max) throw ConfigError(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  return v;
}

IpAddress address(const YAML::Node& n, const std::string& key) {
  auto a = IpAddress::parse(str(n, key));
  if (!a) throw ConfigError(key, "not an IPv4 or IPv6 address: '" + n.as<std::string>() + "'");
  return *a;
}

std::vector<Cidr> cidrs(const YAML::Node& n, const std::string& key) {
  std::vector<Cidr> out;
  if (!n || n.IsNull()) return out;
  if (!n.IsSequence()) throw ConfigError(key, "must be a list of address ranges");
  for (size_t i = 0; i < n.size(); ++i) {
    auto k = key + "[" + std::to_string(i) + "]";
    auto c = Cidr::parse(str(n[i], k));
    if (!c) throw ConfigError(k, "not an address range (a.b.c.d/n or x::/n): '" + n[i].as<std::string>() + "'");
    out.push_back(*c);
  }
  return out;
}

turn::Transport transport(const std::string& s, const std::string& key) {
  if (s == "udp") return turn::Transport::Udp;
  if (s == "tcp") return turn::Transport::Tcp;
  if (s == "tls") return turn::Transport::Tls;
  if (s == "dtls") return turn::Transport::Dtls;
  throw ConfigError(key, "unknown transport '" + s + "' (udp, tcp, tls, dtls)");
}

}  // namespace config_detail

namespace {

using namespace config_detail;
using turn::Cidr;
using turn::Endpoint;
using turn::IpAddress;

// Two listeners conflict when they need the same socket type on the same address and port.
bool stream_transport(turn::Transport t) { return t == turn::Transport::Tcp || t == turn::Transport::Tls; }

void parse_listen(const YAML::Node& n, Config& c) {
  if (!n.IsSequence() || n.size() == 0) throw ConfigError("listen", "must be a non-empty list");
  for (size_t i = 0; i < n.size(); ++i) {
    auto k = "listen[" + std::to_string(i) + "]";
    only_keys(n[i], k, {"transport", "address", "port"});
    ListenConfig l;
    l.transport = transport(n[i]["transport"] ? str(n[i]["transport"], k + ".transport") : "udp", k + ".transport");
    if (!n[i]["address"]) throw ConfigError(k + ".address", "required");
    l.endpoint.address = address(n[i]["address"], k + ".address");
    l.endpoint.port = static_cast<uint16_t>(n[i]["port"] ? uint(n[i]["port"], k + ".port", 1, 65535) : 3478);
    for (const auto& other : c.listen)
      if (other.endpoint == l.endpoint && stream_transport(other.transport) == stream_transport(l.transport))
        throw ConfigError(k, "duplicates an earlier listen entry (" + l.endpoint.to_string() + ")");
    c.listen.push_back(l);
  }
}

void parse_relay_addresses(const YAML::Node& a, Config& c) {
  if (!a || !a.IsSequence() || a.size() == 0) throw ConfigError("relay.addresses", "must be a non-empty list");
  for (size_t i = 0; i < a.size(); ++i) {
    auto k = "relay.addresses[" + std::to_string(i) + "]";
    auto ip = address(a[i], k);
    if (ip.is_unspecified()) throw ConfigError(k, "must be a concrete address, not unspecified");
    for (const auto& other : c.relay_addresses)
      if (other == ip) throw ConfigError(k, "duplicate address");
    c.relay_addresses.push_back(ip);
  }
}

// One public address per relay address (a node behind 1:1 NAT announces these in XOR-RELAYED-ADDRESS).
void parse_external_addresses(const YAML::Node& e, Config& c) {
  if (!e.IsSequence() || e.size() != c.relay_addresses.size())
    throw ConfigError("relay.external_addresses", "must list one address per relay.addresses entry, in order");
  for (size_t i = 0; i < e.size(); ++i) {
    auto k = "relay.external_addresses[" + std::to_string(i) + "]";
    auto ip = address(e[i], k);
    if (ip.is_unspecified()) throw ConfigError(k, "must be a concrete address");
    if (ip.family != c.relay_addresses[i].family) throw ConfigError(k, "must be of the same family as relay.addresses[" + std::to_string(i) + "]");
    c.relay_external_addresses.push_back(ip);
  }
}

void parse_port_range(const YAML::Node& r, Config& c) {
  if (!r.IsSequence() || r.size() != 2) throw ConfigError("relay.port_range", "must be [low, high]");
  c.relay_port_min = static_cast<uint16_t>(uint(r[0], "relay.port_range[0]", 1024, 65535));
  c.relay_port_max = static_cast<uint16_t>(uint(r[1], "relay.port_range[1]", 1024, 65535));
  if (c.relay_port_min > c.relay_port_max) throw ConfigError("relay.port_range", "low is above high (wrong order)");
  if (c.relay_port_max - c.relay_port_min < 1) throw ConfigError("relay.port_range", "must span at least two ports");
}

void parse_relay(const YAML::Node& n, Config& c) {
  only_keys(n, "relay", {"addresses", "port_range", "external_addresses"});
  parse_relay_addresses(n["addresses"], c);
  if (const auto& e = n["external_addresses"]; e && !e.IsNull()) parse_external_addresses(e, c);
  if (const auto& r = n["port_range"]) parse_port_range(r, c);
}

// RFC 8489 9.2: long-term credentials, user: password.
void parse_users(const YAML::Node& u, Config& c) {
  if (!u.IsMap()) throw ConfigError("auth.users", "must be a mapping of user: password");
  for (const auto& kv : u) {
    auto name = kv.first.as<std::string>();
    auto k = "auth.users." + name;
    auto pw = str(kv.second, k);
    if (name.empty() || name.size() > 512 || name.find(':') != std::string::npos)
      throw ConfigError(k, "user names are 1 to 512 bytes without ':'");
    if (pw.empty()) throw ConfigError(k, "empty password");
    c.auth.users[name] = pw;
  }
}

// TURN REST credentials (draft-uberti-behave-turn-rest): shared secrets, newest first.
void parse_rest_secrets(const YAML::Node& s, Config& c) {
  if (!s.IsSequence()) throw ConfigError("auth.rest_secrets", "must be a list of secrets, newest first");
  for (size_t i = 0; i < s.size(); ++i) {
    auto secret = str(s[i], "auth.rest_secrets[" + std::to_string(i) + "]");
    if (secret.empty()) throw ConfigError("auth.rest_secrets[" + std::to_string(i) + "]", "empty secret");
    c.auth.rest_secrets.push_back(secret);
  }
}

void parse_auth(const YAML::Node& n, Config& c) {
  only_keys(n, "auth", {"realm", "users", "rest_secrets", "nonce_lifetime", "nonce_secret"});
  if (n["realm"]) c.auth.realm = str(n["realm"], "auth.realm");
  if (c.auth.realm.empty() || c.auth.realm.size() > 127) throw ConfigError("auth.realm", "must be 1 to 127 characters");
  if (const auto& u = n["users"]; u && !u.IsNull()) parse_users(u, c);
  if (const auto& s = n["rest_secrets"]; s && !s.IsNull()) parse_rest_secrets(s, c);
  if (n["nonce_secret"]) {
    c.auth.nonce_secret = str(n["nonce_secret"], "auth.nonce_secret");
    if (c.auth.nonce_secret.size() < 16) throw ConfigError("auth.nonce_secret", "must be at least 16 characters");
  }
  if (n["nonce_lifetime"]) c.auth.nonce_lifetime_s = static_cast<int64_t>(uint(n["nonce_lifetime"], "auth.nonce_lifetime", 10, 86400));
  if (c.auth.users.empty() && c.auth.rest_secrets.empty())
    throw ConfigError("auth", "needs at least one of users or rest_secrets");
}

void parse_limits(const YAML::Node& n, Config& c) {
  only_keys(n, "limits", {"max_allocations", "max_allocations_per_user", "default_lifetime", "max_lifetime",
                          "bandwidth_per_allocation", "max_connections_per_ip", "connection_idle_timeout",
                          "max_permissions_per_allocation", "max_channels_per_allocation",
                          "unauthenticated_excess_bytes_per_second", "unauthenticated_excess_burst",
                          "max_connections", "connection_prefix_v4", "connection_prefix_v6",
                          "connection_allocate_timeout", "max_sites"});
  auto u32 = [&](const char* key, uint32_t& out, uint64_t lo, uint64_t hi) {
    if (n[key]) out = static_cast<uint32_t>(uint(n[key], std::string("limits.") + key, lo, hi));
  };
  if (n["bandwidth_per_allocation"])
    c.core.bandwidth_bps = uint(n["bandwidth_per_allocation"], "limits.bandwidth_per_allocation", 0, 10'000'000'000ULL);
  if (n["max_connections_per_ip"])
    c.max_connections_per_ip = uint(n["max_connections_per_ip"], "limits.max_connections_per_ip", 1, 1'000'000);
  u32("connection_idle_timeout", c.connection_idle_timeout_s, 1, 3600);
  if (n["max_allocations"]) c.max_allocations = uint(n["max_allocations"], "limits.max_allocations", 1, 10'000'000);
  if (n["max_allocations_per_user"])
    c.max_allocations_per_user = uint(n["max_allocations_per_user"], "limits.max_allocations_per_user", 1, 10'000'000);
  u32("default_lifetime", c.core.default_lifetime_s, 30, 86400);
  u32("max_lifetime", c.core.max_lifetime_s, 30, 86400);
  if (c.core.max_lifetime_s < c.core.default_lifetime_s)
    throw ConfigError("limits.max_lifetime", "is below limits.default_lifetime");
  u32("max_permissions_per_allocation", c.core.max_permissions_per_allocation, 1, 65536);
  u32("max_channels_per_allocation", c.core.max_channels_per_allocation, 1, 0x8000 - 0x4000);
  u32("unauthenticated_excess_bytes_per_second", c.core.unauth_excess_bytes_per_second, 0, 1u << 30);
  u32("unauthenticated_excess_burst", c.core.unauth_excess_burst_bytes, 0, 1u << 30);
  if (n["max_connections"]) c.max_connections = uint(n["max_connections"], "limits.max_connections", 1, 10'000'000);
  u32("connection_prefix_v4", c.connection_prefix_v4, 8, 32);
  u32("connection_prefix_v6", c.connection_prefix_v6, 16, 128);
  u32("connection_allocate_timeout", c.connection_allocate_timeout_s, 5, 86400);
  u32("max_sites", c.max_sites, 1, 100000);
}

void parse_nat_discovery(const YAML::Node& n, Config& c) {
  only_keys(n, "nat_discovery", {"enabled", "alternate", "per_second", "burst"});
  auto& d = c.nat_discovery;
  if (n["enabled"]) d.enabled = boolean(n["enabled"], "nat_discovery.enabled");
  if (n["per_second"]) d.per_second = static_cast<uint32_t>(uint(n["per_second"], "nat_discovery.per_second", 1, 10000));
  if (n["burst"]) d.burst = static_cast<uint32_t>(uint(n["burst"], "nat_discovery.burst", 1, 100000));
  if (!d.enabled) return;
  if (!n["alternate"]) throw ConfigError("nat_discovery.alternate", "required when nat_discovery is enabled (ADDRESS:PORT)");
  auto alt = Endpoint::parse(str(n["alternate"], "nat_discovery.alternate"));
  if (!alt || alt->port == 0 || alt->address.is_unspecified())
    throw ConfigError("nat_discovery.alternate", "must be a concrete ADDRESS:PORT, e.g. 203.0.113.2:3479");
  d.alternate = *alt;
}

void parse_sites(const YAML::Node& n, Config& c) {
  if (!n.IsMap()) throw ConfigError("sites", "must map site names to lists of CIDRs, e.g. {hq: [198.51.100.0/24]}");
  for (const auto& kv : n) {
    auto name = kv.first.as<std::string>();
    if (name.empty() || name.size() > 64) throw ConfigError("sites", "site names must be 1 to 64 characters");
    for (unsigned char ch : name)
      if (!std::isalnum(ch) && ch != '-' && ch != '_' && ch != '.') throw ConfigError("sites." + name, "names use letters, digits, '-', '_' and '.'");
    auto list = cidrs(kv.second, "sites." + name);
    if (list.empty()) throw ConfigError("sites." + name, "must list at least one CIDR");
    c.sites.push_back({name, std::move(list)});
  }
}

// RFC 5780 needs the primary (the first UDP listener) and the alternate to differ in IP and port.
void check_nat_discovery(Config& c) {
  auto& d = c.nat_discovery;
  if (!d.enabled) return;
  const ListenConfig* primary = nullptr;
  for (const auto& l : c.listen)
    if (l.transport == turn::Transport::Udp) { primary = &l; break; }
  if (!primary) throw ConfigError("nat_discovery", "needs a udp listen entry (the primary address)");
  const auto& p = primary->endpoint;
  if (p.address.is_unspecified()) throw ConfigError("nat_discovery", "the first udp listen address must be concrete, not " + p.to_string());
  if (p.address.is_v4() != d.alternate.address.is_v4())
    throw ConfigError("nat_discovery.alternate", "must be of the same family as the primary " + p.to_string());
  if (p.address == d.alternate.address) throw ConfigError("nat_discovery.alternate", "must have another IP than the primary " + p.to_string());
  if (p.port == d.alternate.port) throw ConfigError("nat_discovery.alternate", "must have another port than the primary " + p.to_string());
  d.listeners.clear();
  for (const auto& e : {Endpoint{p.address, d.alternate.port}, Endpoint{d.alternate.address, p.port}, d.alternate}) {
    bool listed = false;  // already a udp listen entry: bound once
    for (const auto& l : c.listen) listed = listed || (l.transport == turn::Transport::Udp && l.endpoint == e);
    if (!listed) d.listeners.push_back(e);
  }
  for (const auto& e : d.listeners) {
    for (const auto& r : c.relay_addresses)
      if (r == e.address && e.port >= c.relay_port_min && e.port <= c.relay_port_max)
        throw ConfigError("nat_discovery.alternate", e.to_string() + " lies inside relay.port_range on a relay address");
    if (c.sfu.enabled && c.sfu.media_listen == e) throw ConfigError("nat_discovery.alternate", e.to_string() + " is also sfu.media_listen");
  }
  c.core.nat_discovery = turn::NatDiscoveryConfig{p, d.alternate, d.per_second, d.burst};
}

void check_tls_files(const std::string& cert, const std::string& key) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  std::string why;
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) why = "tls.cert|cannot load certificate chain '" + cert + "'";
  else if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) why = "tls.key|cannot load private key '" + key + "'";
  else if (SSL_CTX_check_private_key(ctx) != 1) why = "tls.key|does not match the certificate";
  SSL_CTX_free(ctx);
  ERR_clear_error();
  if (!why.empty()) throw ConfigError(why.substr(0, why.find('|')), why.substr(why.find('|') + 1));
}

void check_peer_lists(const Config& c) {
  for (size_t i = 0; i < c.peers_allow.size(); ++i)
    for (size_t j = 0; j < c.peers_deny.size(); ++j)
      if (c.peers_allow[i].overlaps(c.peers_deny[j]))
        throw ConfigError("peers.deny[" + std::to_string(j) + "]",
                          "overlaps peers.allow[" + std::to_string(i) + "] (" + c.peers_allow[i].to_string() + ")");
}

// Relay ports are UDP: a UDP or DTLS listener on a relay address must lie outside relay.port_range.
void check_listen_ports(const Config& c) {
  for (size_t i = 0; i < c.listen.size(); ++i) {
    const auto& l = c.listen[i].endpoint;
    if (c.listen[i].transport == turn::Transport::Tcp || c.listen[i].transport == turn::Transport::Tls)
      continue;  // relay ports are UDP
    for (const auto& r : c.relay_addresses)
      if ((r == l.address || l.address.is_unspecified()) && l.port >= c.relay_port_min && l.port <= c.relay_port_max)
        throw ConfigError("listen[" + std::to_string(i) + "].port", "lies inside relay.port_range on a relay address");
  }
}

// The SFU's signalling and media ports are its own: no TURN listener, relay port or admin port.
void check_sfu_ports(const Config& c) {
  for (size_t i = 0; i < c.listen.size(); ++i) {
    bool udp = c.listen[i].transport == turn::Transport::Udp || c.listen[i].transport == turn::Transport::Dtls;
    if (udp && c.listen[i].endpoint == c.sfu.media_listen)
      throw ConfigError("sfu.media_listen", "is also listen[" + std::to_string(i) + "]");
    if (!udp && c.listen[i].endpoint == c.sfu.signal_listen)
      throw ConfigError("sfu.signal_listen", "is also listen[" + std::to_string(i) + "]");
  }
  for (const auto& r : c.relay_addresses)
    if (r == c.sfu.media_listen.address && c.sfu.media_listen.port >= c.relay_port_min &&
        c.sfu.media_listen.port <= c.relay_port_max)
      throw ConfigError("sfu.media_listen", "lies inside relay.port_range on a relay address");
  if (c.admin_listen == c.sfu.signal_listen && !c.admin_listen_text.empty())
    throw ConfigError("sfu.signal_listen", "is also admin.listen");
}

void parse_peers(const YAML::Node& p, Config& c) {
  only_keys(p, "peers", {"allow", "deny"});
  c.peers_allow = cidrs(p["allow"], "peers.allow");
  c.peers_deny = cidrs(p["deny"], "peers.deny");
}

void parse_admin(const YAML::Node& a, Config& c) {
  only_keys(a, "admin", {"listen", "token"});
  if (a["token"]) {
    c.admin_token = str(a["token"], "admin.token");
    if (c.admin_token.size() < 16) throw ConfigError("admin.token", "must be at least 16 characters");
    for (unsigned char ch : c.admin_token)
      if (ch <= 0x20 || ch >= 0x7f) throw ConfigError("admin.token", "must be printable ASCII without spaces");
  }
  if (a["listen"]) {
    c.admin_listen_text = str(a["listen"], "admin.listen");
    auto ep = Endpoint::parse(c.admin_listen_text);
    if (!ep) throw ConfigError("admin.listen", "must be ADDRESS:PORT, e.g. 127.0.0.1:9641");
    c.admin_listen = *ep;
  }
}

// metrics.tag_labels: tag keys that are also Prometheus label names ([a-zA-Z_][a-zA-Z0-9_]*) and
// none of the quality metrics' own labels.
void parse_tag_labels(const YAML::Node& n, Config& c) {
  const std::string key = "metrics.tag_labels";
  if (!n.IsSequence()) throw ConfigError(key, "must be a list of tag keys, e.g. [site]");
  if (n.size() > Config::kMaxTagLabels)
    throw ConfigError(key, "at most " + std::to_string(Config::kMaxTagLabels) + " tag keys (each multiplies the series)");
  static const std::set<std::string> kTaken = {"le", "quantile", "leg", "direction", "verdict", "kind", "job", "instance"};
  c.metrics_tag_labels.clear();
  for (size_t i = 0; i < n.size(); ++i) {
    const std::string k = key + "[" + std::to_string(i) + "]";
    auto name = str(n[i], k);
    bool label_name = turn::tag_text_ok(name) && !std::isdigit(static_cast<unsigned char>(name[0])) &&
                      name.rfind("__", 0) != 0 &&
                      std::all_of(name.begin(), name.end(), [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'; });
    if (!label_name)
      throw ConfigError(k, "'" + name + "' must be 1-64 letters, digits and '_', not starting with a digit or '__' (a Prometheus label name)");
    if (kTaken.count(name)) throw ConfigError(k, "'" + name + "' is a label the quality metrics use already");
    if (std::find(c.metrics_tag_labels.begin(), c.metrics_tag_labels.end(), name) != c.metrics_tag_labels.end())
      throw ConfigError(k, "'" + name + "' is listed twice");
    c.metrics_tag_labels.push_back(name);
  }
}

void parse_metrics(const YAML::Node& m, Config& c) {
  only_keys(m, "metrics", {"per_allocation", "per_allocation_limit", "tag_labels"});
  if (m["tag_labels"]) parse_tag_labels(m["tag_labels"], c);
  if (m["per_allocation"]) c.metrics_per_allocation = boolean(m["per_allocation"], "metrics.per_allocation");
  if (m["per_allocation_limit"])
    c.metrics_per_allocation_limit = uint(m["per_allocation_limit"], "metrics.per_allocation_limit", 1, 100'000);
}

void parse_log(const YAML::Node& l, Config& c) {
  only_keys(l, "log", {"level", "format", "events_per_second", "events_burst", "redact_users", "redact_salt"});
  parse_log_events(l, c);  // config_log.cpp
  if (l["level"]) c.log_level = str(l["level"], "log.level");
  if (l["format"]) c.log_format = str(l["format"], "log.format");
  if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" && c.log_level != "error")
    throw ConfigError("log.level", "must be debug, info, warn or error");
  if (c.log_format != "json" && c.log_format != "text") throw ConfigError("log.format", "must be json or text");
}

void parse_tls(const YAML::Node& t, Config& c) {
  only_keys(t, "tls", {"cert", "key"});
  if (!t["cert"] || !t["key"]) throw ConfigError("tls", "needs both cert and key (PEM files)");
  c.tls_cert = str(t["cert"], "tls.cert");
  c.tls_key = str(t["key"], "tls.key");
}

void cross_check(Config& c) {
  check_peer_lists(c);
  check_listen_ports(c);
  bool needs_tls = false;
  for (const auto& l : c.listen)
    needs_tls = needs_tls || l.transport == turn::Transport::Tls || l.transport == turn::Transport::Dtls;
  if (c.sfu.enabled && c.sfu.signal_tls && c.tls_cert.empty())
    throw ConfigError("sfu.signal_tls", "needs tls.cert and tls.key");
  if (c.sfu.enabled) check_sfu_ports(c);
  if (needs_tls && c.tls_cert.empty())
    throw ConfigError("tls", "required by a tls or dtls listener (tls: { cert: FILE, key: FILE })");
  if (!c.tls_cert.empty()) check_tls_files(c.tls_cert, c.tls_key);
  bool v4 = false, v6 = false;
  for (const auto& r : c.relay_addresses) (r.is_v4() ? v4 : v6) = true;
  if (!v4 && !v6) throw ConfigError("relay.addresses", "empty");
  check_nat_discovery(c);
  check_residency(c);
  if (c.threads == 0) c.threads = std::max(1u, std::thread::hardware_concurrency());
}

YAML::Node parse_yaml(const std::string& text) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError("(yaml)", std::string("not valid YAML: ") + e.what());
  }
}

// The required sections, in the order their keys are checked.
void parse_required(const YAML::Node& root, Config& c) {
  if (root["region"]) c.region = str(root["region"], "region");
  if (c.region.empty()) throw ConfigError("region", "must not be empty");
  if (!root["listen"]) throw ConfigError("listen", "required");
  parse_listen(root["listen"], c);
  if (!root["relay"]) throw ConfigError("relay", "required");
  parse_relay(root["relay"], c);
  if (!root["auth"]) throw ConfigError("auth", "required");
  parse_auth(root["auth"], c);
}

// The optional sections, each parsed when present and not null.
void parse_optional(const YAML::Node& root, Config& c) {
  using Parse = void (*)(const YAML::Node&, Config&);
  static const std::pair<const char*, Parse> sections[] = {
      {"peers", parse_peers},
      {"admin", parse_admin},
      {"metrics", parse_metrics},
      {"sfu", parse_sfu},
      {"nat_discovery", parse_nat_discovery},
      {"sites", parse_sites},
      {"regions", parse_regions},
      {"residency", parse_residency},
      {"log", parse_log},
      {"limits", parse_limits},
      {"tls", parse_tls},
      {"drain", [](const YAML::Node& n, Config& cfg) { parse_drain(n, cfg.drain); }},
      {"quality", [](const YAML::Node& n, Config& cfg) { parse_quality(n, cfg.core.quality); }},
      {"check", parse_check},
  };
  for (const auto& [key, parse] : sections)
    if (const auto& n = root[key]; n && !n.IsNull()) parse(n, c);
  if (root["threads"]) c.threads = static_cast<unsigned>(uint(root["threads"], "threads", 1, 256));
}

Config config_from_yaml(const YAML::Node& root) {
  Config c;
  try {
    only_keys(root, "", {"region", "listen", "relay", "auth", "peers", "admin", "threads", "log", "limits", "tls",
                          "metrics", "sfu", "nat_discovery", "sites", "regions", "residency", "drain", "quality",
                          "check"});
    parse_required(root, c);
    parse_optional(root, c);
    cross_check(c);
  } catch (const YAML::Exception& e) {
    throw ConfigError("(yaml)", e.what());
  }
  return c;
}

}  // namespace

Config load_config_text(const std::string& text) { return config_from_yaml(parse_yaml(text)); }

Config load_config_file(const std::string& path, const EnvLookup& env) {
  std::ifstream in(path);
  if (!in) throw ConfigError("--config", "cannot read '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  YAML::Node root = parse_yaml(ss.str());
  try {
    resolve_secrets(root, env);  // config_secrets.hpp: ${NAME} and the *_file keys, re-read at every load
  } catch (const YAML::Exception& e) {
    throw ConfigError("(yaml)", e.what());
  }
  return config_from_yaml(root);
}

Config embedded_default_config() {
  uint8_t raw[12];
  turn::crypto::random_bytes(raw);
  std::string pw = turn::crypto::base64(raw);
  for (auto& ch : pw)
    if (ch == '/' || ch == '+') ch = 'x';
  uint8_t key[24];  // the SFU demo's join-token key: a fresh one each start
  turn::crypto::random_bytes(key);
  Config c = load_config_text(
      "region: local\n"
      "listen:\n  - { transport: udp, address: 127.0.0.1, port: 3478 }\n"
      "relay:\n  addresses: [127.0.0.1]\n  port_range: [49152, 65535]\n"
      "auth:\n  realm: turnpike.test\n  users: { demo: \"" + pw + "\" }\n"
      "admin:\n  listen: 127.0.0.1:9641\n"
      "sfu:\n  signal_listen: 127.0.0.1:9642\n  media_listen: 127.0.0.1:9643\n"
      "  token_keys: [\"" + turn::crypto::base64(key) + "\"]\n"
      "log: { level: info, format: json }\n");
  c.embedded_default = true;
  return c;
}

}  // namespace turnpike
