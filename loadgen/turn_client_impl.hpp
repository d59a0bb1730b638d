// The private state of loadgen::TurnClient, shared by turn_client.cpp (the public operations, timers,
// data) and turn_client_requests.cpp (requests, long-term credentials, responses). Not an interface.
#pragma once
#include <array>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "loadgen/turn_client.hpp"
#include "turn/message.hpp"

namespace loadgen {

namespace client_detail {

// What a transaction asks for; each maps to one ClientFailure::stage.
enum class Kind : uint8_t { Allocate, Refresh, Permission, ChannelBind, Close };
const char* stage(Kind k);

// RFC 8656 9 and 12: permissions last 300 s, channel bindings 600 s; refreshed with a margin.
constexpr int64_t kPermissionRefreshMs = 240'000;
constexpr int64_t kChannelRefreshMs = 540'000;
constexpr size_t kMaxPeers = 16;
// At most one Permission and one ChannelBind per peer, plus one Allocate, Refresh or Close each.
constexpr size_t kMaxPending = 2 * kMaxPeers + 3;
constexpr size_t kMaxOutput = 64;      // control messages not yet popped; beyond, dropped (retransmitted)
constexpr uint16_t kFirstChannel = 0x4000;  // RFC 8656 12
constexpr uint8_t kMaxSends = 7;            // RFC 8489 6.2.1: Rc, transmissions of one request

// One request in flight (RFC 8489 6.2): what was sent, for retransmission over datagrams.
struct Transaction {
  Kind kind = Kind::Allocate;
  uint8_t peer = 0;                    // Permission, ChannelBind: index into peers
  turn::stun::TransactionId id{};
  std::vector<uint8_t> bytes;
  int64_t started_ms = 0, next_send_ms = 0, rto_ms = 0;
  uint8_t sends = 1;
  bool signed_request = false;         // carried MESSAGE-INTEGRITY(-SHA256)
  bool stale_retried = false;          // a 438 was already retried once
};

struct Peer {
  turn::Endpoint endpoint;
  uint16_t channel = 0;                // 0 without channels
  bool permitted = false, bound = false;
  int64_t permission_due_ms = INT64_MAX, channel_due_ms = INT64_MAX;  // next refresh
};

// RFC 8489 9.2: what the server's 401/438 taught: realm, nonce and the key derived from them.
struct Credentials {
  std::string realm, nonce;
  std::vector<uint8_t> key;
  bool sha256 = false;                 // MESSAGE-INTEGRITY-SHA256 with a SHA-256 key
  std::vector<uint8_t> algorithms;     // PASSWORD-ALGORITHMS to echo (RFC 8489 9.2.4); empty: none
  uint16_t algorithm = 0;              // PASSWORD-ALGORITHM sent with them
};

}  // namespace client_detail

struct TurnClient::Impl {
  using Kind = client_detail::Kind;
  using Transaction = client_detail::Transaction;

  ClientConfig cfg;
  uint64_t rng = 0;                    // splitmix64 state: transaction ids
  ClientState state = ClientState::Idle;
  ClientFailure failure;
  turn::Endpoint relayed, mapped;
  int64_t allocated_at = 0;
  bool had_allocation = false;
  int64_t refresh_due_ms = INT64_MAX;
  client_detail::Credentials creds;
  std::vector<Transaction> pending;    // at most kMaxPending
  std::vector<client_detail::Peer> peers;  // at most kMaxPeers
  std::deque<std::vector<uint8_t>> out;    // at most kMaxOutput
  uint64_t requests = 0, retransmits = 0, error_responses = 0, dropped_output = 0;

  Impl(ClientConfig c, uint64_t seed);
  bool stream() const { return !turn::datagram(cfg.transport); }
  turn::stun::TransactionId next_txid();
  void emit(std::span<const uint8_t> bytes);

  // turn_client_requests.cpp
  void send_request(Kind kind, uint8_t peer, int64_t now_ms, bool stale_retried = false);
  bool build(Kind kind, uint8_t peer, const turn::stun::TransactionId& id, std::vector<uint8_t>& out) const;
  void sign(turn::stun::Builder& b) const;
  bool learn_challenge(const turn::stun::Message& m);
  void on_response(const turn::stun::Message& m, int64_t now_ms);
  void on_success(const Transaction& t, const turn::stun::Message& m, int64_t now_ms);
  void on_error(const Transaction& t, const turn::stun::Message& m, int64_t now_ms);
  void on_allocated(const Transaction& t, const turn::stun::Message& m, int64_t now_ms);

  // turn_client.cpp
  void fail(Kind kind, int code, std::string reason, int64_t now_ms);
  void start_peer(uint8_t index, int64_t now_ms);
  bool has_pending(Kind kind, uint8_t peer) const;
  void expire_transactions(int64_t now_ms);
  void run_refreshes(int64_t now_ms);
  const client_detail::Peer* find_peer(const turn::Endpoint& e) const;
};

}  // namespace loadgen
