// TURN over DTLS (RFC 8656 3.1, RFC 7350): one UDP socket per listener and shard; per client
// address an OpenSSL DTLS 1.2 session driven through common/datagram_bio.hpp, so each record
// OpenSSL writes leaves as one datagram. A stateless cookie exchange (HelloVerifyRequest, through
// DTLSv1_listen) keeps spoofed ClientHellos from getting more than a small answer or any state.
#pragma once
#include <openssl/ssl.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "turn/address.hpp"
#include "turn/core.hpp"

namespace turnpike {

// Creates the DTLS server SSL_CTX from the same certificate as TLS. Throws at start-up on failure.
SSL_CTX* make_turn_dtls_context(const std::string& cert, const std::string& key);

class TurnDtlsListener {
 public:
  struct Limits {
    size_t max_sessions = 10000;
    int64_t handshake_timeout_ms = 10'000;
    int64_t idle_timeout_ms = 30'000;
    std::function<int64_t()> idle_timeout;  // when set, read instead of idle_timeout_ms (reloadable)
    // Sessions per client address, shared with TCP/TLS (limits.max_connections_per_ip); optional.
    std::function<bool(const turn::IpAddress&)> acquire;
    std::function<void(const turn::IpAddress&)> release;
    // Whether a session without an allocation since `since_ms` is to close now
    // (ConnectionPolicy::allocate_overdue, limits.connection_allocate_timeout); optional.
    std::function<bool(int64_t since_ms, int64_t now_ms, bool allocated)> allocate_overdue;
    std::function<void()> on_allocate_overdue;  // counted
  };
  // `fd` is the bound, non-blocking UDP socket; `local` what clients reach it as.
  // `context` returns the current SSL_CTX (new sessions use it; SIGHUP may replace it), up-ref'd.
  using ContextSource = SSL_CTX* (*)(void*);
  TurnDtlsListener(int fd, const turn::Endpoint& local, ContextSource context, void* context_arg,
                   turn::Core& core, Limits limits);
  ~TurnDtlsListener();

  // A datagram from `from`: handshake progress, or records carrying STUN/ChannelData to the core.
  void on_datagram(const turn::Endpoint& from, std::span<const uint8_t> data, turn::Now now);
  // Bytes for the client of `ft`: one DTLS record (one datagram).
  void send(const turn::FiveTuple& ft, std::span<const std::span<const uint8_t>> parts);
  // Retransmissions, timeouts and idle sessions; call about every 100-500 ms.
  void tick(turn::Now now);
  void close_all(turn::Now now);
  int fd() const { return fd_; }
  const turn::Endpoint& local() const { return local_; }
  size_t sessions() const { return sessions_.size(); }

  struct Session;  // public for the BIO callbacks

 private:
  void drop(const turn::Endpoint& client, const char* why, turn::Now now);
  std::unique_ptr<Session> new_session(const turn::Endpoint& from);
  Session* admit(const turn::Endpoint& from, std::span<const uint8_t> data, turn::Now now);
  int fd_;
  turn::Endpoint local_;
  ContextSource context_;
  void* context_arg_;
  turn::Core& core_;
  Limits limits_;
  std::unordered_map<turn::Endpoint, std::unique_ptr<Session>> sessions_;
  std::unique_ptr<Session> gate_;  // the stateless cookie exchange; promoted to a session on success
  std::vector<uint8_t> plain_;  // decrypted records, reused
};

}  // namespace turnpike
