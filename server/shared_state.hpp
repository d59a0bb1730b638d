// What all shards, the admin server and the SFU host share: the config, authentication and peer
// policy, quotas, EVEN-PORT reservations, connection limits, TLS/DTLS contexts, metrics, the relay
// directory, site labels, idle-timer evidence and the residency policy in force.
#pragma once
#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "server/capacity.hpp"
#include "server/config.hpp"
#include "server/connection_policy.hpp"
#include "server/idle_timers.hpp"
#include "server/live_config.hpp"
#include "server/metrics.hpp"
#include "server/relay_directory.hpp"
#include "server/probe_reports.hpp"
#include "server/sites.hpp"
#include "server/tag_labels.hpp"
#include "server/tls.hpp"
#include "turn/core.hpp"

namespace turnpike {

// Ports held for EVEN-PORT with the R bit (RFC 8656 7.2), claimable from any shard by token.
class Reservations {
 public:
  static constexpr int64_t kHoldMs = 30'000;  // RFC 8656 7.2 suggests about 30 seconds
  ~Reservations();
  turn::stun::ReservationToken put(int fd, const turn::Endpoint& ep, int64_t until_ms);
  bool take(const turn::stun::ReservationToken& t, int& fd, turn::Endpoint& ep);
  void expire(int64_t now_ms);
  uint64_t held_on(const turn::IpAddress& a);  // ports held on relay address `a` (capacity)

 private:
  struct Entry { int fd; turn::Endpoint endpoint; int64_t expires_ms; };
  std::mutex mu_;
  std::map<std::array<uint8_t, 8>, Entry> entries_;
};

// What all shards share; read-only after start except the atomics and mutex-guarded parts.
struct SharedState {
  explicit SharedState(const Config& c)
      : config(c),
        auth(std::make_shared<const turn::Authenticator>(c.auth)),
        policy(std::make_shared<const turn::PeerPolicy>(c.peers_allow, c.peers_deny)),
        quotas(std::make_shared<turn::Quotas>(c.max_allocations, c.max_allocations_per_user)),
        connections(ConnectionPolicy::Limits{c.max_connections, c.max_connections_per_ip,
                                             static_cast<uint8_t>(c.connection_prefix_v4),
                                             static_cast<uint8_t>(c.connection_prefix_v6),
                                             int64_t{c.connection_allocate_timeout_s} * 1000}),
        metrics(TURNPIKE_VERSION, c.region) {
    relay_directory.set_relay_addresses(c.relay_addresses);
    metrics.attach_idle_timers(&idle_timers);
    metrics.set_regions(c.core.regions);
    metrics.set_tag_labeler([this](const turn::Allocation& a) { return tag_labels.labels(a.tags, {}); });
    connections.set_idle_timeout_ms(int64_t{c.connection_idle_timeout_s} * 1000);
  }
  const Config& config;  // as started: restart-only keys
  LiveConfig live{config};  // the config in force (server/reload.cpp replaces it)
  // As at start: each shard's core holds the reloaded ones (Shard::reload).
  std::shared_ptr<const turn::Authenticator> auth;
  std::shared_ptr<const turn::PeerPolicy> policy;
  std::shared_ptr<turn::Quotas> quotas;
  Reservations reservations;
  ConnectionPolicy connections;
  // A connection refused by `connections` (verdict not Admit): counted, logged now and then.
  void connection_refused(ConnectionPolicy::Verdict v, const turn::Endpoint& client, turn::Transport t);
  TlsContexts tls;
  // DTLS server context (same certificate); replaced on SIGHUP.
  std::mutex dtls_mu;
  SSL_CTX* dtls_ctx = nullptr;
  void set_dtls(SSL_CTX* ctx) {
    std::lock_guard lock(dtls_mu);
    if (dtls_ctx) SSL_CTX_free(dtls_ctx);
    dtls_ctx = ctx;
  }
  static SSL_CTX* current_dtls(void* self) {
    auto* s = static_cast<SharedState*>(self);
    std::lock_guard lock(s->dtls_mu);
    if (s->dtls_ctx) SSL_CTX_up_ref(s->dtls_ctx);
    return s->dtls_ctx;
  }
  ~SharedState() { set_dtls(nullptr); }
  std::atomic<uint64_t> refused_connections{0};
  std::atomic<uint64_t> site_overflows{0};
  void site_overflow(Metrics::SiteTable t);  // counted, logged the first and every 1000th time
  Metrics metrics;
  RelayDirectory relay_directory;
  SiteMap sites{config.sites, config.max_sites, [this] { site_overflow(Metrics::SiteTable::Labels); }};
  // Room for every label SiteMap hands out (max_sites, "other", "unknown") beside the configured sites.
  IdleTimers idle_timers{sites.configured_names(), size_t{config.max_sites} + 2,
                         [this] { site_overflow(Metrics::SiteTable::IdleTimers); }};
  // The labels of the quality metrics from allocation tags (metrics.tag_labels), bounded as sites are.
  TagLabels tag_labels{config.metrics_tag_labels, sites, config.max_sites,
                       [this] { site_overflow(Metrics::SiteTable::Labels); }};
  // The last probe report of each site (POST /api/v1/probe-reports), as many sites as labels.
  ProbeReports probe_reports{config.sites.size() + size_t{config.max_sites} + 2};
  // The residency policy in force (replaced on SIGHUP), for records.
  std::shared_ptr<const turn::RegionPolicy> regions() const {
    std::lock_guard lock(regions_mu);
    return regions_now;
  }
  void set_regions(std::shared_ptr<const turn::RegionPolicy> r) {
    metrics.set_regions(r);
    std::lock_guard lock(regions_mu);
    regions_now = std::move(r);
  }
  mutable std::mutex regions_mu;
  std::shared_ptr<const turn::RegionPolicy> regions_now = config.core.regions;
  std::shared_ptr<turn::FlowRegistry> flows = std::make_shared<turn::FlowRegistry>();
  // What /readyz reports: starting until every shard runs, ready, then draining once stopping.
  enum class State : int { Starting, Ready, Draining };
  std::atomic<State> state{State::Starting};
  ConnectionCount streams;  // open TCP/TLS client connections (turnpike_connections)
};

}  // namespace turnpike
