// `turnpike-diag probe`'s sockets: a PathRunner drives one diag::PathProbe over its two
// connections to the server (connected UDP, TCP, or TLS over TCP with OpenSSL, all non-blocking,
// stream frames cut with turn::stream_frame_length); MetricsServer answers GET /metrics on
// --metrics-listen. Both are polled by the probe's one poll() loop (probe_main.cpp).
#pragma once
#include <poll.h>
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "diag/net_util.hpp"
#include "diag/path_probe.hpp"

using SSL_CTX = struct ssl_ctx_st;
using SSL = struct ssl_st;

namespace diag::net {

// The TLS client context: verifies the server against `cacert` when given (and the name in
// `host`), else accepts any certificate (the probe measures the path; TURN's own integrity
// protects the exchange). nullptr and `error` when it cannot be made.
SSL_CTX* make_probe_tls_ctx(const std::optional<std::string>& cacert, std::string& error);

class PathRunner {
 public:
  PathRunner(PathProbeConfig cfg, uint64_t seed, const Endpoint& server, const IpAddress& local_ip, SSL_CTX* tls,
             std::string sni);
  ~PathRunner();
  PathRunner(const PathRunner&) = delete;
  PathRunner& operator=(const PathRunner&) = delete;

  // Times: microseconds of the steady clock (now_us()), as PathProbe's.
  void start(int64_t now);
  // Appends its sockets to `fds` (with the events it waits for); returns how many.
  size_t add_pollfds(std::vector<pollfd>& fds) const;
  // Handles the revents of the `n` entries it added at `fds`.
  void on_ready(const pollfd* fds, size_t n, int64_t now);
  // Timers due and queued output.
  void pump(int64_t now);
  int64_t next_timer_us() const;
  bool done() const;
  const PathResult& result() const;

 private:
  struct Conn;
  void open(Conn& c, int64_t now);
  void fail(Conn& c, PathFailure kind, const std::string& why, int64_t now);
  void flush(Conn& c, int64_t now);
  void handshake(Conn& c, int64_t now);
  void read(Conn& c, int64_t now);
  ssize_t receive(Conn& c, std::span<uint8_t> buf, int64_t now);
  void read_stream(Conn& c, std::span<const uint8_t> bytes, int64_t now);

  PathProbe probe_;
  turn::Transport transport_;
  Endpoint server_;
  IpAddress local_ip_;
  SSL_CTX* tls_;
  std::string sni_;
  std::array<std::unique_ptr<Conn>, 2> conns_;
};

// GET /metrics (and /healthz) over HTTP/1.0-style one-request connections; `body` gives the text.
class MetricsServer {
 public:
  MetricsServer(Fd listener, std::function<std::string()> body);
  size_t add_pollfds(std::vector<pollfd>& fds) const;
  void on_ready(const pollfd* fds, size_t n, int64_t now_ms);
  void expire(int64_t now_ms);  // drops clients silent for 5 s

 private:
  struct Client {
    Fd fd;
    std::string in, out;
    int64_t since_ms = 0;
  };
  void answer(Client& c);
  void serve(Client& c);
  Fd listener_;
  std::function<std::string()> body_;
  std::vector<Client> clients_;  // at most kMaxClients
};

// A listening TCP socket on `at` (non-blocking); an invalid Fd and `error` when it cannot.
Fd listen_tcp(const Endpoint& at, std::string& error);

}  // namespace diag::net
