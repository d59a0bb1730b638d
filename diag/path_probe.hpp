// One continuous-probe round over one transport (`turnpike-diag probe`): two TURN allocations over
// the same transport (RFC 8656 7: Allocate with the 401 nonce round trip, RFC 8489 9.2), each
// permitting and binding a channel to the other's relayed address (RFC 8656 9, 11), then echo packets
// from the first through both relays to the second and back (the relayed round trip), and Refresh
// with LIFETIME 0 (RFC 8656 7.2) on both. Every packet goes between the probe and the server only,
// so it works behind any NAT or firewall that lets that transport through. Reuses loadgen's
// sans-I/O TurnClient. Sans-I/O: the caller opens the two connections, sends what pop_output()
// returns, hands over datagrams (or frames cut from the stream with turn::stream_frame_length) and
// transport failures, and calls tick() at next_timer_us(). Time is int64_t microseconds of the
// caller's steady clock (as loadgen's engine: a loopback or LAN round trip is well under 1 ms);
// the TurnClients underneath get milliseconds.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "turn/address.hpp"

namespace diag {

// The two connections of a path probe: the client side (its allocation sends the echo packets and
// measures them) and the echo side (its allocation sends each one back).
enum class ProbeConn : uint8_t { Client = 0, Echo = 1 };

struct PathProbeConfig {
  turn::Transport transport = turn::Transport::Udp;
  std::string username, password;   // long-term (for TURN REST, the derived pair)
  uint32_t echoes = 10;             // echo packets per round
  int64_t echo_interval_ms = 20;    // between two echo packets
  int64_t timeout_ms = 5000;        // allocations and permissions must be up within this
  int64_t echo_wait_ms = 1000;      // after the last echo packet, for the stragglers
  int64_t close_wait_ms = 1000;     // for the Refresh LIFETIME 0 answers
  std::string software = "turnpike-diag probe";
};

// Why a path failed, as a short class (the `reason` label and JSON field) and the details.
enum class PathFailure : uint8_t {
  None,
  Timeout,     // no answer in time (a firewall dropping the transport, or the server down)
  Refused,     // connection refused (TCP RST) or ICMP unreachable
  Tls,         // TLS handshake failed
  Error,       // the server answered with a STUN error (code: 401, 403, 437, 486, 508, ...)
  Closed,      // the server closed the connection
  NoEcho,      // allocations up, but nothing came back through the relays
  Network,     // another local socket error
};
const char* to_string(PathFailure f);

struct PathResult {
  turn::Transport transport = turn::Transport::Udp;
  bool ok = false;
  PathFailure failure = PathFailure::None;
  std::string stage;      // "connect", "allocate", "permission", "channel_bind", "echo" when failed
  int error_code = 0;     // the STUN error code of a PathFailure::Error
  std::string detail;     // reason phrase or local error text
  std::optional<double> setup_ms;   // client Allocate sent -> its success
  uint32_t sent = 0, received = 0;
  std::optional<double> rtt_ms;     // median relayed round trip
  std::optional<double> jitter_ms;  // mean |RTT(i) - RTT(i-1)| in arrival order (RFC 3550's D)
  double loss = 0;                  // 1 - received / sent
  turn::Endpoint relayed, mapped;   // of the client allocation
};

// A transmission for the caller: bytes on one of the two connections.
struct ProbeTransmit {
  ProbeConn conn = ProbeConn::Client;
  std::vector<uint8_t> bytes;
};

class PathProbe {
 public:
  PathProbe(PathProbeConfig cfg, uint64_t seed);
  ~PathProbe();
  PathProbe(PathProbe&&) noexcept;
  PathProbe& operator=(PathProbe&&) noexcept;

  // Sends both Allocates (queued until the caller's connections are up; stream transports count
  // the connection and handshake in the setup time).
  void start(int64_t now_us);
  // One datagram or stream frame that arrived on `conn`.
  void on_message(ProbeConn conn, std::span<const uint8_t> bytes, int64_t now_us);
  // The connection failed (connect refused, TLS handshake, reset, closed, ...): the round fails.
  void on_transport_error(ProbeConn conn, PathFailure kind, std::string detail, int64_t now_us);
  void tick(int64_t now_us);
  int64_t next_timer_us() const;  // INT64_MAX when done
  bool pop_output(ProbeTransmit& out);
  bool done() const;              // result final and the allocations closed (or given up on)
  const PathResult& result() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The median of `v` (sorted in place); nullopt when empty.
std::optional<double> median(std::vector<double>& v);
// Mean absolute difference of consecutive values; nullopt with fewer than two.
std::optional<double> mean_abs_delta(std::span<const double> v);

}  // namespace diag
