// Turnpike's configuration: loaded from YAML, validated in full before anything starts.
// Every key, its default and its meaning are documented once, in docs/configuration.md.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "server/drain.hpp"
#include "turn/address.hpp"
#include "turn/auth.hpp"
#include "turn/core.hpp"

namespace turnpike {

// A configuration error names the key (a dotted path) and why it is wrong.
struct ConfigError : std::runtime_error {
  ConfigError(const std::string& key, const std::string& why) : std::runtime_error(key + ": " + why), key(key) {}
  std::string key;
};

struct ListenConfig {
  turn::Transport transport = turn::Transport::Udp;
  turn::Endpoint endpoint;
};

struct Config {
  std::string region = "local";
  std::vector<ListenConfig> listen;
  std::vector<turn::IpAddress> relay_addresses;
  std::vector<turn::IpAddress> relay_external_addresses;  // parallel to relay_addresses, or empty
  uint16_t relay_port_min = 49152, relay_port_max = 65535;
  turn::AuthConfig auth;
  std::vector<turn::Cidr> peers_allow, peers_deny;
  std::string admin_listen_text;   // empty: no admin server
  turn::Endpoint admin_listen;
  std::string admin_token;         // empty: the admin API is open (bind admin.listen to loopback)
  bool metrics_per_allocation = false;
  uint64_t metrics_per_allocation_limit = 500;
  // metrics.tag_labels: allocation tag keys (turn/tags.hpp) that label the relay quality metrics.
  std::vector<std::string> metrics_tag_labels = {"site"};
  static constexpr size_t kMaxTagLabels = 4;
  unsigned threads = 0;            // 0: one per core
  std::string log_level = "info";  // debug | info | warn | error
  std::string log_format = "json"; // json | text
  // log.events_per_second, log.events_burst, log.redact_users, log.redact_salt (config_log.cpp,
  // docs/logs.md): the troubleshooting events' rate per kind, and hashed user identities.
  struct LogEvents {
    uint32_t per_second = 10;
    uint32_t burst = 20;
    bool redact_users = false;
    std::string redact_salt;
  } log_events;
  uint64_t max_allocations = 10000;
  uint64_t max_allocations_per_user = 100;
  uint64_t max_connections_per_ip = 200;     // TCP/TLS connections from one client address
  uint32_t connection_idle_timeout_s = 30;   // TCP/TLS: no complete message and no allocation
  uint64_t max_connections = 20000;          // TCP/TLS/DTLS connections on this node, all clients
  uint32_t connection_prefix_v4 = 32;        // max_connections_per_ip counts per IPv4 /32 ...
  uint32_t connection_prefix_v6 = 64;        // ... and per IPv6 /64
  uint32_t connection_allocate_timeout_s = 60;  // TCP/TLS/DTLS: no allocation this long after connect: closed
  uint32_t max_sites = 256;                  // site label values beyond the configured sites (then "other")
  std::string tls_cert, tls_key;             // PEM files; required by tls listeners
  turn::CoreConfig core;
  // The SFU (sfu.*): off unless sfu.signal_listen is set.
  struct Sfu {
    bool enabled = false;
    turn::Endpoint signal_listen;            // HTTP + WebSocket: /signal, /sdk/turnpike.js, /demo/
    std::string signal_listen_text;
    bool signal_tls = false;                 // wss:// and https:// with tls.cert/tls.key
    turn::Endpoint media_listen;             // the one UDP port for all media (RFC 7983 demux)
    std::vector<turn::IpAddress> media_announce;  // addresses in our ICE candidates; default media_listen's
    std::vector<std::string> token_keys;     // HS256 keys for join tokens, for rotation
    std::vector<std::string> turn_urls;      // ICE servers handed out; default: derived from listen
    uint32_t ice_credential_ttl_s = 3600;    // TURN REST credentials handed out with a join
    uint32_t max_participants_per_room = 50;
    uint32_t max_connections = 2000;         // signalling WebSocket/HTTP connections, all clients
    uint32_t max_connections_per_ip = 50;    // ... from one IPv4 /32 or IPv6 /64
    uint32_t join_timeout_s = 10;            // a WebSocket that has not joined by then is closed
    uint32_t max_join_message_bytes = 32768; // largest signalling message before join
    uint32_t max_message_bytes = 262144;     // largest signalling message after join
    uint64_t max_retransmit_bytes_per_second = 640'000;  // NACK resends to one subscriber (~5 Mbit/s)
    uint32_t max_retransmit_percent = 50;                // ... at most this share of its forwarded media
    bool simulcast = true;  // receive simulcast layers, forward one per subscriber (sfu/PROTOCOL.md)
    uint32_t resume_grace_s = 15;            // protocol v2: a participant outlives its WebSocket this long
  } sfu;
  // NAT behavior discovery (RFC 5780, nat_discovery.*): off unless enabled. The primary address is
  // the first UDP listen entry; `listeners` are the other three combinations, bound as UDP listeners.
  struct NatDiscovery {
    bool enabled = false;
    turn::Endpoint alternate;
    uint32_t per_second = 10, burst = 40;    // RFC 5780 answers per source IP
    std::vector<turn::Endpoint> listeners;   // derived: (primary IP, alt port), (alt IP, primary port), alternate
  } nat_discovery;
  // Sites (sites.*): named client networks for per-site metrics. Clients elsewhere count under their
  // /24 (IPv4) or /48 (IPv6).
  struct Site {
    std::string name;
    std::vector<turn::Cidr> cidrs;
  };
  std::vector<Site> sites;
  // Data residency (regions.*, residency.*): the catalog and this node's policy; off without a catalog.
  turn::ResidencyConfig residency;
  bool residency_configured = false;
  DrainConfig drain;                         // drain.* (server/config_drain.cpp)
  // The pre-call check (check.*, server/config_check.cpp, docs/check.md): /check/ on the SFU's port.
  struct Check {
    bool enabled = true;                     // served while the SFU is on
    bool require_token = false;              // /check/config hands out TURN credentials only with a join token
    std::string expected_region;             // the region a site expects to be served from ("": not checked)
    uint32_t max_reports = 1000;             // reports kept for GET /api/v1/check-reports (oldest evicted)
    uint32_t reports_per_minute = 60;        // POSTs from the page, all clients together (a token bucket)
    uint32_t credential_ttl_s = 300;         // the TURN REST credentials /check/config hands out
    bool operator==(const Check&) const = default;
  } check;
  bool embedded_default = false;

  // Every socket to listen on: `listen`, then the RFC 5780 listeners (UDP).
  std::vector<ListenConfig> all_listeners() const {
    auto all = listen;
    for (const auto& e : nat_discovery.listeners) all.push_back({turn::Transport::Udp, e});
    return all;
  }   // loaded from the built-in default (prints the demo user)
};

// Parses and validates; throws ConfigError naming the first bad key.
Config load_config_text(const std::string& yaml);
// The environment ${NAME} in a config file reads (config_secrets.hpp): a value, or nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
std::optional<std::string> process_env(const std::string& name);
// A config file: ${NAME} expanded from `env` and the *_file secrets read (config_secrets.hpp), then
// as load_config_text.
Config load_config_file(const std::string& path, const EnvLookup& env = process_env);
// The built-in default: UDP on 127.0.0.1:3478, relay on 127.0.0.1, user "demo" with a random password.
Config embedded_default_config();

}  // namespace turnpike
