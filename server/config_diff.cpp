#include "server/config_diff.hpp"

#include <tuple>

#include "server/config_quality.hpp"

namespace turnpike {

namespace {

using Same = bool (*)(const Config&, const Config&);
struct Entry {
  const char* name;
  bool live;
  Same same;
};

std::vector<std::string> texts(const std::vector<turn::Cidr>& v) {
  std::vector<std::string> out;
  for (const auto& c : v) out.push_back(c.to_string());
  return out;
}

std::vector<std::string> texts(const std::vector<turn::IpAddress>& v) {
  std::vector<std::string> out;
  for (const auto& a : v) out.push_back(a.to_string());
  return out;
}

template <auto M>
bool same_sfu(const Config& a, const Config& b) {
  return a.sfu.*M == b.sfu.*M;
}

bool same_listen(const Config& a, const Config& b) {
  if (a.listen.size() != b.listen.size()) return false;
  for (size_t i = 0; i < a.listen.size(); ++i)
    if (a.listen[i].transport != b.listen[i].transport || !(a.listen[i].endpoint == b.listen[i].endpoint)) return false;
  return true;
}

bool same_sites(const Config& a, const Config& b) {
  if (a.sites.size() != b.sites.size()) return false;
  for (size_t i = 0; i < a.sites.size(); ++i)
    if (a.sites[i].name != b.sites[i].name || texts(a.sites[i].cidrs) != texts(b.sites[i].cidrs)) return false;
  return true;
}

bool same_urls(const std::vector<turn::TurnUri>& x, const std::vector<turn::TurnUri>& y) {
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::tie(x[i].secure, x[i].proto, x[i].host, x[i].port) != std::tie(y[i].secure, y[i].proto, y[i].host, y[i].port))
      return false;
  return true;
}

bool same_regions(const Config& a, const Config& b) {
  const auto& x = a.residency.regions;
  const auto& y = b.residency.regions;
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i].name != y[i].name || texts(x[i].networks) != texts(y[i].networks) || !same_urls(x[i].turn_urls, y[i].turn_urls) ||
        x[i].signal_url != y[i].signal_url)
      return false;
  return true;
}

bool same_residency(const Config& a, const Config& b) {
  const auto& x = a.residency;
  const auto& y = b.residency;
  return a.residency_configured == b.residency_configured && x.peer_regions == y.peer_regions &&
         x.client_regions == y.client_regions && x.foreign_clients == y.foreign_clients &&
         x.serve_unknown == y.serve_unknown;
}

bool same_nat_discovery(const Config& a, const Config& b) {
  const auto& x = a.nat_discovery;
  const auto& y = b.nat_discovery;
  return x.enabled == y.enabled && x.alternate == y.alternate && x.per_second == y.per_second && x.burst == y.burst;
}

// Live: applied by a reload without touching a socket or a table sized at start.
const std::vector<Entry>& live_entries() {
  static const std::vector<Entry> t = {
      {"auth.realm", true, [](const Config& a, const Config& b) { return a.auth.realm == b.auth.realm; }},
      {"auth.users", true, [](const Config& a, const Config& b) { return a.auth.users == b.auth.users; }},
      {"auth.rest_secrets", true, [](const Config& a, const Config& b) { return a.auth.rest_secrets == b.auth.rest_secrets; }},
      {"auth.nonce_secret", true, [](const Config& a, const Config& b) { return a.auth.nonce_secret == b.auth.nonce_secret; }},
      {"auth.nonce_lifetime", true,
       [](const Config& a, const Config& b) { return a.auth.nonce_lifetime_s == b.auth.nonce_lifetime_s; }},
      {"peers.allow", true, [](const Config& a, const Config& b) { return texts(a.peers_allow) == texts(b.peers_allow); }},
      {"peers.deny", true, [](const Config& a, const Config& b) { return texts(a.peers_deny) == texts(b.peers_deny); }},
      {"sites", true, same_sites},
      {"regions", true, same_regions},
      {"residency", true, same_residency},
      {"log.level", true, [](const Config& a, const Config& b) { return a.log_level == b.log_level; }},
      {"log.events_per_second", true,
       [](const Config& a, const Config& b) { return a.log_events.per_second == b.log_events.per_second; }},
      {"log.events_burst", true, [](const Config& a, const Config& b) { return a.log_events.burst == b.log_events.burst; }},
      {"log.redact_users", true,
       [](const Config& a, const Config& b) { return a.log_events.redact_users == b.log_events.redact_users; }},
      {"log.redact_salt", true,
       [](const Config& a, const Config& b) { return a.log_events.redact_salt == b.log_events.redact_salt; }},
      {"sfu.token_keys", true, [](const Config& a, const Config& b) { return a.sfu.token_keys == b.sfu.token_keys; }},
      {"tls.cert", true, [](const Config& a, const Config& b) { return a.tls_cert == b.tls_cert; }},
      {"tls.key", true, [](const Config& a, const Config& b) { return a.tls_key == b.tls_key; }},
  };
  return t;
}

const std::vector<Entry>& limit_entries() {
  static const std::vector<Entry> t = {
      {"quality", true, [](const Config& a, const Config& b) { return same_quality(a.core.quality, b.core.quality); }},
      {"limits.max_allocations", true, [](const Config& a, const Config& b) { return a.max_allocations == b.max_allocations; }},
      {"limits.max_allocations_per_user", true,
       [](const Config& a, const Config& b) { return a.max_allocations_per_user == b.max_allocations_per_user; }},
      {"limits.default_lifetime", true,
       [](const Config& a, const Config& b) { return a.core.default_lifetime_s == b.core.default_lifetime_s; }},
      {"limits.max_lifetime", true, [](const Config& a, const Config& b) { return a.core.max_lifetime_s == b.core.max_lifetime_s; }},
      {"limits.bandwidth_per_allocation", true,
       [](const Config& a, const Config& b) { return a.core.bandwidth_bps == b.core.bandwidth_bps; }},
      {"limits.max_permissions_per_allocation", true,
       [](const Config& a, const Config& b) {
         return a.core.max_permissions_per_allocation == b.core.max_permissions_per_allocation;
       }},
      {"limits.max_channels_per_allocation", true,
       [](const Config& a, const Config& b) { return a.core.max_channels_per_allocation == b.core.max_channels_per_allocation; }},
      {"limits.unauthenticated_excess_bytes_per_second", true,
       [](const Config& a, const Config& b) {
         return a.core.unauth_excess_bytes_per_second == b.core.unauth_excess_bytes_per_second;
       }},
      {"limits.unauthenticated_excess_burst", true,
       [](const Config& a, const Config& b) { return a.core.unauth_excess_burst_bytes == b.core.unauth_excess_burst_bytes; }},
      {"limits.max_connections", true, [](const Config& a, const Config& b) { return a.max_connections == b.max_connections; }},
      {"limits.max_connections_per_ip", true,
       [](const Config& a, const Config& b) { return a.max_connections_per_ip == b.max_connections_per_ip; }},
      {"limits.connection_idle_timeout", true,
       [](const Config& a, const Config& b) { return a.connection_idle_timeout_s == b.connection_idle_timeout_s; }},
      {"limits.connection_allocate_timeout", true,
       [](const Config& a, const Config& b) { return a.connection_allocate_timeout_s == b.connection_allocate_timeout_s; }},
      // Restart: connection counts are keyed by these prefixes, and site tables are sized by max_sites.
      {"limits.connection_prefix_v4", false,
       [](const Config& a, const Config& b) { return a.connection_prefix_v4 == b.connection_prefix_v4; }},
      {"limits.connection_prefix_v6", false,
       [](const Config& a, const Config& b) { return a.connection_prefix_v6 == b.connection_prefix_v6; }},
      {"limits.max_sites", false, [](const Config& a, const Config& b) { return a.max_sites == b.max_sites; }},
  };
  return t;
}

// Restart: sockets bound, threads started, and what the admin server and the SFU were built with.
const std::vector<Entry>& restart_entries() {
  static const std::vector<Entry> t = {
      {"region", false, [](const Config& a, const Config& b) { return a.region == b.region; }},
      {"listen", false, same_listen},
      {"relay.addresses", false, [](const Config& a, const Config& b) { return texts(a.relay_addresses) == texts(b.relay_addresses); }},
      {"relay.external_addresses", false,
       [](const Config& a, const Config& b) { return texts(a.relay_external_addresses) == texts(b.relay_external_addresses); }},
      {"relay.port_range", false,
       [](const Config& a, const Config& b) {
         return std::tie(a.relay_port_min, a.relay_port_max) == std::tie(b.relay_port_min, b.relay_port_max);
       }},
      {"threads", false, [](const Config& a, const Config& b) { return a.threads == b.threads; }},
      {"admin.listen", false, [](const Config& a, const Config& b) { return a.admin_listen_text == b.admin_listen_text; }},
      {"admin.token", false, [](const Config& a, const Config& b) { return a.admin_token == b.admin_token; }},
      {"metrics.per_allocation", false,
       [](const Config& a, const Config& b) { return a.metrics_per_allocation == b.metrics_per_allocation; }},
      {"metrics.per_allocation_limit", false,
       [](const Config& a, const Config& b) { return a.metrics_per_allocation_limit == b.metrics_per_allocation_limit; }},
      // Restart: the quality metrics' label names are fixed when they are registered.
      {"metrics.tag_labels", false,
       [](const Config& a, const Config& b) { return a.metrics_tag_labels == b.metrics_tag_labels; }},
      {"log.format", false, [](const Config& a, const Config& b) { return a.log_format == b.log_format; }},
      {"nat_discovery", false, same_nat_discovery},
      // The drain's alternates and grace are taken when the node starts (server/drain_runner.hpp).
      {"drain.alternate_urls", false,
       [](const Config& a, const Config& b) {
         return a.drain.alternate_urls.has_value() == b.drain.alternate_urls.has_value() &&
                (!a.drain.alternate_urls || same_urls(*a.drain.alternate_urls, *b.drain.alternate_urls));
       }},
      {"drain.signal_url", false, [](const Config& a, const Config& b) { return a.drain.signal_url == b.drain.signal_url; }},
      {"drain.grace_seconds", false,
       [](const Config& a, const Config& b) { return a.drain.grace_seconds == b.drain.grace_seconds; }},
      // The check's table and routes are built once (server/check_routes.hpp).
      {"check", false, [](const Config& a, const Config& b) { return a.check == b.check; }},
  };
  return t;
}

// The SFU host is built once: all of sfu.* but token_keys needs a restart.
const std::vector<Entry>& sfu_entries() {
  static const std::vector<Entry> t = {
      {"sfu", false, [](const Config& a, const Config& b) { return a.sfu.enabled == b.sfu.enabled; }},
      {"sfu.signal_listen", false,
       [](const Config& a, const Config& b) { return a.sfu.signal_listen_text == b.sfu.signal_listen_text; }},
      {"sfu.signal_tls", false, [](const Config& a, const Config& b) { return a.sfu.signal_tls == b.sfu.signal_tls; }},
      {"sfu.media_listen", false, [](const Config& a, const Config& b) { return a.sfu.media_listen == b.sfu.media_listen; }},
      {"sfu.media_announce", false,
       [](const Config& a, const Config& b) { return texts(a.sfu.media_announce) == texts(b.sfu.media_announce); }},
      {"sfu.turn_urls", false, [](const Config& a, const Config& b) { return a.sfu.turn_urls == b.sfu.turn_urls; }},
      {"sfu.ice_credential_ttl", false, same_sfu<&Config::Sfu::ice_credential_ttl_s>},
      {"sfu.max_participants_per_room", false, same_sfu<&Config::Sfu::max_participants_per_room>},
      {"sfu.max_connections", false, same_sfu<&Config::Sfu::max_connections>},
      {"sfu.max_connections_per_ip", false, same_sfu<&Config::Sfu::max_connections_per_ip>},
      {"sfu.join_timeout", false, same_sfu<&Config::Sfu::join_timeout_s>},
      {"sfu.max_join_message_bytes", false, same_sfu<&Config::Sfu::max_join_message_bytes>},
      {"sfu.max_message_bytes", false, same_sfu<&Config::Sfu::max_message_bytes>},
      {"sfu.max_retransmit_bytes_per_second", false, same_sfu<&Config::Sfu::max_retransmit_bytes_per_second>},
      {"sfu.max_retransmit_percent", false, same_sfu<&Config::Sfu::max_retransmit_percent>},
      {"sfu.simulcast", false, same_sfu<&Config::Sfu::simulcast>},
      {"sfu.resume_grace", false, same_sfu<&Config::Sfu::resume_grace_s>},
  };
  return t;
}

const std::vector<const std::vector<Entry>*>& tables() {
  static const std::vector<const std::vector<Entry>*> t = {&live_entries(), &limit_entries(), &restart_entries(),
                                                           &sfu_entries()};
  return t;
}

}  // namespace

ConfigDiff diff_config(const Config& running, const Config& fresh) {
  ConfigDiff d;
  for (const auto* table : tables())
    for (const auto& e : *table)
      if (!e.same(running, fresh)) (e.live ? d.changed : d.restart).emplace_back(e.name);
  return d;
}

std::vector<ReloadKey> reload_keys() {
  std::vector<ReloadKey> out;
  for (const auto* table : tables())
    for (const auto& e : *table) out.push_back({e.name, e.live});
  return out;
}

}  // namespace turnpike
