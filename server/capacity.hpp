// Capacity: what this node holds against its limits, for /readyz (server/health.hpp) and the
// capacity metrics (server/metrics_capacity.cpp, docs/metrics.md): allocations against
// limits.max_allocations, relay ports against relay.port_range, open TCP/TLS client connections,
// and when the served certificates expire.
#pragma once
#include <prometheus/metric_family.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "server/health.hpp"
#include "turn/address.hpp"

namespace turnpike {

struct SharedState;

// Open TCP and TLS client connections, counted by the shards as sessions open and close.
class ConnectionCount {
 public:
  void opened(turn::Transport t) { at(t).fetch_add(1, std::memory_order_relaxed); }
  void closed(turn::Transport t) { at(t).fetch_sub(1, std::memory_order_relaxed); }
  uint64_t open(turn::Transport t) const { return at(t).load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t>& at(turn::Transport t) { return t == turn::Transport::Tls ? tls_ : tcp_; }
  const std::atomic<uint64_t>& at(turn::Transport t) const { return t == turn::Transport::Tls ? tls_ : tcp_; }
  std::atomic<uint64_t> tcp_{0}, tls_{0};
};

struct CapacityFacts {
  uint64_t allocations = 0, max_allocations = 0;
  std::vector<PortUse> relay_ports;  // one per relay address (relay.addresses)
  uint64_t tcp_connections = 0, tls_connections = 0;
  uint64_t max_connections = 0;  // limits.max_connections: TCP, TLS and DTLS connections together
  // notAfter of the served certificate as Unix seconds: TURN over TLS/DTLS, and wss:// signalling
  // (sfu.signal_tls, which serves the same tls.cert); nullopt when not served.
  std::optional<int64_t> turn_cert_expiry, signal_cert_expiry;
};

// Gathered from the shared state at probe or scrape time (any thread).
CapacityFacts capacity_facts(SharedState& s);
// /readyz's facts: the process state and the capacity.
ReadinessFacts readiness_facts(SharedState& s);

// The capacity families (server/metrics_capacity.cpp).
std::vector<prometheus::MetricFamily> capacity_families(const CapacityFacts& f);

}  // namespace turnpike
