// A TURN client allocation as a state machine (RFC 8656 section 7-12, over the turn/ codec):
// Allocate with long-term credentials (RFC 8489 9.2: the first request unauthenticated, the 401's
// REALM and NONCE, then signed; 438 Stale Nonce retried with the new nonce), CreatePermission and
// ChannelBind for one or more peers, Refresh of the allocation, the permissions and the channels
// before they expire, retransmission over datagram transports (RFC 8489 6.2.1), and the wrapping of
// application data as ChannelData or Send indications and the unwrapping of ChannelData and Data
// indications. Sans-I/O: the caller passes the bytes received (one datagram, or one frame cut from a
// stream with turn::stream_frame_length) and `now`, and sends what pop_output() returns.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "turn/address.hpp"
#include "turn/message.hpp"

namespace loadgen {

struct ClientConfig {
  turn::Transport transport = turn::Transport::Udp;  // Tcp/Tls: stream framing, no retransmits
  std::string username, password;      // long-term; for TURN REST the caller passes the derived pair
  turn::Family relay_family = turn::Family::V4;      // REQUESTED-ADDRESS-FAMILY when V6
  uint32_t lifetime_s = 600;           // LIFETIME asked for; refreshed at half of what is granted
  bool use_channels = true;            // false: Send/Data indications only (no ChannelBind)
  int64_t rto_ms = 500;                // initial RTO on datagram transports, doubling (RFC 8489 6.2.1)
  int64_t transaction_timeout_ms = 8000;  // a transaction that gets no answer in this time fails
  std::string software = "turnpike-loadgen";
};

enum class ClientState : uint8_t {
  Idle, Allocating, Allocated, Failed, Closing, Closed,
};
const char* to_string(ClientState s);

// Why a client failed: the step, the STUN error code (0 when there was none) and what happened.
struct ClientFailure {
  std::string stage;    // "allocate", "permission", "channel_bind", "refresh", "transport"
  int code = 0;         // 401, 437, 438, 486, 508, ...; 0 for a timeout or transport error
  std::string reason;   // the server's reason phrase, "timeout", or the transport's error
  int64_t at_ms = 0;
};

// Application data received from a peer through the relay.
struct Delivery {
  bool ok = false;                     // false: not application data (consumed or ignored)
  turn::Endpoint peer;
  std::span<const uint8_t> payload;    // valid while the bytes passed in are
};

class TurnClient {
 public:
  TurnClient(ClientConfig cfg, uint64_t seed);
  ~TurnClient();
  TurnClient(TurnClient&&) noexcept;
  TurnClient& operator=(TurnClient&&) noexcept;

  // RFC 8656 7.1: sends the first Allocate.
  void start(int64_t now_ms);
  // Once Allocated: asks for a permission for `peer` (RFC 8656 9) and, with channels, binds the next
  // free channel number to it (RFC 8656 11). May be called before Allocated: queued until then.
  void add_peer(const turn::Endpoint& peer, int64_t now_ms);
  // One datagram or stream frame from the server. STUN responses advance the state machine;
  // ChannelData and Data indications come back as a Delivery.
  Delivery on_message(std::span<const uint8_t> bytes, int64_t now_ms);
  // Retransmits, transaction timeouts and refreshes.
  void tick(int64_t now_ms);
  // The earliest time tick() has something to do (INT64_MAX: nothing).
  int64_t next_timer_ms() const;
  // Control messages to send, in order; false when there are none.
  bool pop_output(std::vector<uint8_t>& out);
  // Wraps application data for `peer`: ChannelData once its channel is bound (padded to 4 on stream
  // transports), else a Send indication (RFC 8656 10.1). Returns the bytes written, 0 when the peer
  // is not ready (no permission yet) or `out` is too small.
  size_t wrap(const turn::Endpoint& peer, std::span<const uint8_t> payload, std::span<uint8_t> out) const;
  // Refresh with LIFETIME 0 (RFC 8656 7.2): ends the allocation; Closed once answered or timed out.
  void close(int64_t now_ms);

  ClientState state() const;
  bool peer_ready(const turn::Endpoint& peer) const;   // permission installed (and channel bound)
  const turn::Endpoint& relayed() const;                // XOR-RELAYED-ADDRESS
  const turn::Endpoint& mapped() const;                 // XOR-MAPPED-ADDRESS
  const ClientFailure& failure() const;                 // valid when state() == Failed
  int64_t allocated_at_ms() const;                      // when the Allocate success arrived
  // Counters: requests sent (first transmissions), retransmissions, error responses received.
  uint64_t requests() const;
  uint64_t retransmits() const;
  uint64_t error_responses() const;  // including the 401 and 438 challenges that were answered

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace loadgen
