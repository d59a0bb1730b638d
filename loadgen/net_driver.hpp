// The socket driver of turnpike-loadgen (main.cpp, net_*.cpp): the only code with sockets, clocks
// and threads. One event loop (epoll) per thread drives one Engine; each engine flow is one
// socket to the server: connected UDP, TCP (frames cut with turn::stream_frame_length), TLS over
// TCP or DTLS over connected UDP (OpenSSL).
#pragma once
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <openssl/ssl.h>

#include "loadgen/engine.hpp"
#include "turn/address.hpp"

namespace loadgen::net {

struct SockAddr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family() const { return ss.ss_family; }
};

// HOST[:PORT] by getaddrinfo (a name or a numeric address), preferring `family` (AF_UNSPEC: any).
bool resolve(const std::string& host, uint16_t port, bool stream, int family, SockAddr& out, std::string& error);
SockAddr to_sockaddr(const turn::IpAddress& a, uint16_t port);

// The process-wide TLS and DTLS client contexts (verification only with a CA file).
struct TlsContexts {
  SSL_CTX* tls = nullptr;
  SSL_CTX* dtls = nullptr;
  std::string server_name;     // SNI and the name verified, when the server was given by name
  bool init(bool want_tls, bool want_dtls, const std::string& ca_file, std::string& error);
  ~TlsContexts();
};
std::string openssl_error();

// One flow: a socket, its TLS state and its buffers.
struct Flow {
  uint64_t id = 0;
  int fd = -1;
  turn::Transport transport = turn::Transport::Udp;
  SSL* ssl = nullptr;
  bool connecting = false, handshaking = false, open = false;
  int64_t deadline_us = 0;            // connect + handshake must finish by then
  std::vector<uint8_t> rbuf;          // stream transports: bytes not yet framed
  std::vector<uint8_t> wbuf;          // stream transports: bytes not yet written
  bool want_write = false;            // EPOLLOUT armed
};

// Per-loop counters the summary reports.
struct LoopStats {
  uint64_t send_drops = 0;            // datagrams the kernel refused (EAGAIN/ENOBUFS), stream bytes over the bound
};

// Progress shared with the main thread.
struct Shared {
  std::atomic<bool> stop{false};
  std::mutex mu;
};

class Loop : public FlowSink {
 public:
  Loop(const SockAddr& server, std::vector<SockAddr> locals, turn::Transport transport, TlsContexts& tls,
       Shared& shared);
  ~Loop() override;
  // Runs the engine to its end; false with `error` when the loop could not start.
  bool run(Engine& engine, std::string& error);
  Engine::Progress progress();   // thread-safe copy of the last published progress
  const LoopStats& stats() const { return stats_; }

  void open_flow(uint64_t flow, uint32_t local_index) override;
  void send(uint64_t flow, std::span<const uint8_t> bytes) override;
  void close_flow(uint64_t flow) override;
  double cpu_pct_since_last(int64_t now_us) override;

 private:
  struct Event { uint64_t flow; bool opened; std::string reason; };
  void start_flow(Flow& f, int64_t now_us);
  bool start_tls(Flow& f, std::string& error);
  void on_ready(Flow& f, uint32_t events, int64_t now_us);
  void continue_handshake(Flow& f, int64_t now_us);
  void read_datagrams(Flow& f, int64_t now_us);
  void read_udp(Flow& f, int64_t now_us);
  void read_stream(Flow& f, int64_t now_us);
  size_t read_stream_once(Flow& f);
  bool deliver_stream_frames(Flow& f, int64_t now_us);
  void flush(Flow& f);
  void queue_stream(Flow& f, std::span<const uint8_t> bytes);
  void fail(Flow& f, std::string reason);
  void set_events(Flow& f, bool want_write);
  void drain_events(int64_t now_us);
  void check_deadlines(int64_t now_us);

  SockAddr server_;
  std::vector<SockAddr> locals_;
  turn::Transport transport_;
  TlsContexts& tls_;
  Shared& shared_;
  Engine* engine_ = nullptr;
  int ep_ = -1;
  std::unordered_map<uint64_t, std::unique_ptr<Flow>> flows_;
  std::unordered_set<uint64_t> pending_;           // connecting or handshaking
  std::vector<std::unique_ptr<Flow>> graveyard_;   // closed during dispatch, freed after it
  std::deque<Event> events_;
  std::vector<uint8_t> buf_;
  std::vector<uint8_t> batch_;   // recvmmsg slots
  LoopStats stats_;
  int64_t cpu_last_us_ = 0, wall_last_us_ = 0;
  int64_t last_deadline_check_us_ = 0;
  Engine::Progress progress_;
};

int64_t steady_now_us();

}  // namespace loadgen::net
