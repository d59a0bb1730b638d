// Who may hold a signalling connection, and for how long before joining, sans-I/O: the policy
// server/sfu_host.cpp applies to its HTTP/WebSocket port (sfu.max_connections,
// sfu.max_connections_per_ip, sfu.join_timeout, sfu.max_join_message_bytes, sfu.max_message_bytes).
// Connections are counted from accept (HTTP requests for the SDK count too) until they close, per
// IPv4 /prefix_v4 and IPv6 /prefix_v6 (one host gets a /64 more often than one address).
#pragma once
#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "turn/address.hpp"

namespace sfu {

struct SignalLimitConfig {
  uint32_t max_connections = 2000;
  uint32_t max_connections_per_ip = 50;
  uint8_t prefix_v4 = 32, prefix_v6 = 64;
  int64_t join_timeout_ms = 10'000;
  size_t max_join_message_bytes = 32768;
  size_t max_message_bytes = 262144;
};

// Why a connection was refused or closed (turnpike_sfu_signal_rejected_total{reason}).
enum class SignalReject : uint8_t { None, MaxConnections, MaxConnectionsPerIp, JoinTimeout, MessageTooBig };
constexpr size_t kSignalRejects = 5;
const char* to_string(SignalReject r);

class SignalLimits {
 public:
  explicit SignalLimits(SignalLimitConfig cfg) : cfg_(cfg) {}

  // A new connection from `from`: None (and counted) or why it is refused. Call release() with the
  // same address when an admitted one closes.
  SignalReject admit(const turn::IpAddress& from);
  void release(const turn::IpAddress& from);

  size_t open() const { return open_; }
  size_t open_from(const turn::IpAddress& from) const;
  // The largest message a connection may send, before and after its join.
  size_t message_limit(bool joined) const { return joined ? cfg_.max_message_bytes : cfg_.max_join_message_bytes; }
  int64_t join_timeout_ms() const { return cfg_.join_timeout_ms; }
  // `a` with the bits beyond its family's prefix cleared (IPv4-mapped IPv6 judged as IPv4).
  turn::IpAddress prefix_of(const turn::IpAddress& a) const;

 private:
  struct Hash {
    size_t operator()(const turn::IpAddress& a) const noexcept { return turn::hash_value(turn::Endpoint{a, 0}); }
  };
  SignalLimitConfig cfg_;
  size_t open_ = 0;
  // At most max_connections entries: each holds at least one open connection.
  std::unordered_map<turn::IpAddress, uint32_t, Hash> per_prefix_;
};

}  // namespace sfu
