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

  explicit ConnectionPolicy(Limits l) : limits_(l) {}
  // Admit counts the connection until release(); the other verdicts change nothing.
  Verdict acquire(const turn::IpAddress& a);
  void release(const turn::IpAddress& a);
  uint64_t total() const;
  size_t networks() const;
  turn::IpAddress network(const turn::IpAddress& a) const;
  // Whether a connection opened at `opened_ms` is to be closed at `now_ms` for having no allocation.
  bool allocate_overdue(int64_t opened_ms, int64_t now_ms, bool allocated) const {
    return !allocated && now_ms - opened_ms >= limits_.allocate_timeout_ms;
  }
  const Limits& limits() const { return limits_; }

 private:
  Limits limits_;
  mutable std::mutex mu_;
  uint64_t total_ = 0;
  std::unordered_map<turn::Endpoint, uint64_t> per_network_;  // port 0: keyed by the network address
};

}  // namespace turnpike
