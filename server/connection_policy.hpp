// Admission of TCP/TLS/DTLS connections (limits.*, docs/configuration.md), kept apart from the I/O
// so that unit tests reach every decision:
//  - at most limits.max_connections_per_ip from one network: the client's IPv4 /connection_prefix_v4
//    or IPv6 /connection_prefix_v6 (an IPv6 host owns a whole /64, so per address means nothing);
//  - at most limits.max_connections on the node, all clients;
//  - a connection with no allocation limits.connection_allocate_timeout_s after it opened is closed,
//    whatever it sends meanwhile (Binding requests do not keep it alive).
// One instance serves all shards: thread-safe. The table holds one entry per network with a live
// connection, so it is bounded by max_connections.
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "turn/address.hpp"

namespace turnpike {

// `a` with every bit past `prefix` cleared (IPv4-mapped IPv6 is read as IPv4).
turn::IpAddress network_of(const turn::IpAddress& a, uint8_t prefix);

class ConnectionPolicy {
 public:
  struct Limits {
    uint64_t max_total = 20000;
    uint64_t max_per_prefix = 200;
    uint8_t prefix_v4 = 32, prefix_v6 = 64;
    int64_t allocate_timeout_ms = 60'000;
  };
  enum class Verdict { Admit, OverPrefix, OverTotal };

  explicit ConnectionPolicy(Limits l) : limits_(l), allocate_timeout_ms_(l.allocate_timeout_ms) {}
  // Reloaded limits (SIGHUP); the prefixes key the counts and stay. Connections above a lowered
  // limit stay open; later ones are refused.
  void set_limits(uint64_t max_total, uint64_t max_per_prefix, int64_t allocate_timeout_ms, int64_t idle_timeout_ms) {
    std::lock_guard lock(mu_);
    limits_.max_total = max_total;
    limits_.max_per_prefix = max_per_prefix;
    allocate_timeout_ms_ = allocate_timeout_ms;
    idle_timeout_ms_ = idle_timeout_ms;
  }
  // limits.connection_idle_timeout: a TCP/TLS/DTLS connection idle this long without an allocation
  // (or stalled mid-frame) closes.
  int64_t idle_timeout_ms() const { return idle_timeout_ms_.load(std::memory_order_relaxed); }
  void set_idle_timeout_ms(int64_t ms) { idle_timeout_ms_ = ms; }
  // Admit counts the connection until release(); the other verdicts change nothing.
  Verdict acquire(const turn::IpAddress& a);
  void release(const turn::IpAddress& a);
  uint64_t total() const;
  size_t networks() const;
  turn::IpAddress network(const turn::IpAddress& a) const;
  // Whether a connection opened at `opened_ms` is to be closed at `now_ms` for having no allocation.
  bool allocate_overdue(int64_t opened_ms, int64_t now_ms, bool allocated) const {
    return !allocated && now_ms - opened_ms >= allocate_timeout_ms_.load(std::memory_order_relaxed);
  }

 private:
  Limits limits_;  // max_total and max_per_prefix under mu_; the prefixes never change
  std::atomic<int64_t> allocate_timeout_ms_;
  std::atomic<int64_t> idle_timeout_ms_{30'000};
  mutable std::mutex mu_;
  uint64_t total_ = 0;
  std::unordered_map<turn::Endpoint, uint64_t> per_network_;  // port 0: keyed by the network address
};

}  // namespace turnpike
