#include "diag/probe_net.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/sockaddr.hpp"
#include "turn/stream_framing.hpp"

namespace diag::net {

namespace {
constexpr size_t kMaxStreamBuffer = 1 << 20;  // a server that floods us: the connection is dropped
constexpr size_t kMaxClients = 16;
constexpr size_t kMaxRequest = 8192;

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  if (!e) return "handshake failed";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

PathFailure failure_of_errno(int err) {
  return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH ? PathFailure::Refused
         : err == ECONNRESET || err == EPIPE                             ? PathFailure::Closed
                                                                          : PathFailure::Network;
}
}  // namespace

SSL_CTX* make_probe_tls_ctx(const std::optional<std::string>& cacert, std::string& error) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    error = "SSL_CTX_new: " + openssl_error();
    return nullptr;
  }
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  if (cacert) {
    if (SSL_CTX_load_verify_locations(ctx, cacert->c_str(), nullptr) != 1) {
      error = "--cacert " + *cacert + ": " + openssl_error();
      SSL_CTX_free(ctx);
      return nullptr;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  return ctx;
}

struct PathRunner::Conn {
  ProbeConn role = ProbeConn::Client;
  Fd fd;
  SSL* ssl = nullptr;
  bool connecting = false, handshaking = false, failed = false;
  std::vector<uint8_t> out, in;
  ~Conn() {
    if (ssl) SSL_free(ssl);
  }
};

PathRunner::PathRunner(PathProbeConfig cfg, uint64_t seed, const Endpoint& server, const IpAddress& local_ip,
                       SSL_CTX* tls, std::string sni)
    : probe_(std::move(cfg), seed), transport_(probe_.result().transport), server_(server), local_ip_(local_ip),
      tls_(tls), sni_(std::move(sni)) {
  for (size_t i = 0; i < conns_.size(); ++i) {
    conns_[i] = std::make_unique<Conn>();
    conns_[i]->role = static_cast<ProbeConn>(i);
  }
}

PathRunner::~PathRunner() = default;

void PathRunner::fail(Conn& c, PathFailure kind, const std::string& why, int64_t now) {
  if (c.failed) return;
  c.failed = true;
  c.fd.reset();
  c.out.clear();
  probe_.on_transport_error(c.role, kind, why, now);
}

// Connected UDP (ICMP errors surface as ECONNREFUSED), or TCP connecting in the background.
void PathRunner::open(Conn& c, int64_t now) {
  bool stream = transport_ != turn::Transport::Udp;
  Endpoint bound;
  std::string err;
  c.fd = open_bound(stream ? SOCK_STREAM : SOCK_DGRAM, Endpoint{local_ip_, 0}, bound, err);
  if (c.fd.fd < 0) return fail(c, PathFailure::Network, err, now);
  sockaddr_storage ss;
  socklen_t len = turnpike::to_sockaddr(server_, ss);
  if (connect(c.fd.fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (!stream || errno != EINPROGRESS) return fail(c, failure_of_errno(errno), std::strerror(errno), now);
    c.connecting = true;
  }
  if (transport_ == turn::Transport::Tls) {
    c.ssl = SSL_new(tls_);
    if (!c.ssl) return fail(c, PathFailure::Tls, openssl_error(), now);
    SSL_set_fd(c.ssl, c.fd.fd);
    if (!sni_.empty()) {
      SSL_set_tlsext_host_name(c.ssl, sni_.c_str());
      SSL_set1_host(c.ssl, sni_.c_str());
    }
    c.handshaking = true;
  }
}

void PathRunner::start(int64_t now) {
  for (auto& c : conns_) open(*c, now);
  probe_.start(now);
  pump(now);
}

size_t PathRunner::add_pollfds(std::vector<pollfd>& fds) const {
  size_t n = 0;
  for (const auto& c : conns_) {
    short events = POLLIN;
    if (c->connecting || !c->out.empty() || c->handshaking) events |= POLLOUT;
    fds.push_back(pollfd{c->fd.fd, events, 0});  // -1 after a failure: poll ignores it
    ++n;
  }
  return n;
}

void PathRunner::handshake(Conn& c, int64_t now) {
  int rc = SSL_connect(c.ssl);
  if (rc == 1) {
    c.handshaking = false;
    return;
  }
  int e = SSL_get_error(c.ssl, rc);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
  if (e == SSL_ERROR_SYSCALL && errno != 0) return fail(c, failure_of_errno(errno), std::strerror(errno), now);
  fail(c, PathFailure::Tls, openssl_error(), now);
}

void PathRunner::flush(Conn& c, int64_t now) {
  while (!c.out.empty() && !c.connecting && !c.handshaking && !c.failed) {
    ssize_t n = 0;
    if (c.ssl) {
      int w = SSL_write(c.ssl, c.out.data(), static_cast<int>(c.out.size()));
      if (w <= 0) {
        int e = SSL_get_error(c.ssl, w);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
        return fail(c, PathFailure::Closed, "TLS write: " + openssl_error(), now);
      }
      n = w;
    } else {
      n = send(c.fd.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (transport_ == turn::Transport::Udp && errno != ECONNREFUSED) {  // a datagram lost locally
          c.out.clear();
          return;
        }
        return fail(c, failure_of_errno(errno), std::strerror(errno), now);
      }
    }
    c.out.erase(c.out.begin(), c.out.begin() + n);
  }
}

void PathRunner::read_stream(Conn& c, std::span<const uint8_t> bytes, int64_t now) {
  c.in.insert(c.in.end(), bytes.begin(), bytes.end());
  size_t at = 0;
  for (;;) {
    std::span<const uint8_t> rest(c.in.data() + at, c.in.size() - at);
    size_t len = turn::stream_frame_length(rest);
    if (len == SIZE_MAX || c.in.size() > kMaxStreamBuffer) return fail(c, PathFailure::Network, "not TURN on that port", now);
    if (len == 0 || rest.size() < len) break;
    probe_.on_message(c.role, rest.subspan(0, len), now);
    at += len;
  }
  c.in.erase(c.in.begin(), c.in.begin() + static_cast<ptrdiff_t>(at));
}

// One read: the byte count, 0 when nothing is waiting, -1 when the connection failed (reported).
ssize_t PathRunner::receive(Conn& c, std::span<uint8_t> buf, int64_t now) {
  if (c.ssl) {
    int r = SSL_read(c.ssl, buf.data(), static_cast<int>(buf.size()));
    if (r > 0) return r;
    int e = SSL_get_error(c.ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    fail(c, PathFailure::Closed, e == SSL_ERROR_ZERO_RETURN ? "closed by the server" : openssl_error(), now);
    return -1;
  }
  ssize_t n = recv(c.fd.fd, buf.data(), buf.size(), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
  if (n < 0) {
    fail(c, failure_of_errno(errno), std::strerror(errno), now);
    return -1;
  }
  if (n == 0 && transport_ != turn::Transport::Udp) {
    fail(c, PathFailure::Closed, "closed by the server", now);
    return -1;
  }
  return n == 0 ? -2 : n;  // -2: an empty datagram
}

void PathRunner::read(Conn& c, int64_t now) {
  std::array<uint8_t, 4096> buf;
  for (int i = 0; i < 64 && !c.failed; ++i) {
    ssize_t n = receive(c, buf, now);
    if (n == -2) continue;
    if (n <= 0) return;
    std::span<const uint8_t> got(buf.data(), static_cast<size_t>(n));
    if (transport_ == turn::Transport::Udp) probe_.on_message(c.role, got, now);
    else read_stream(c, got, now);
  }
}

void PathRunner::on_ready(const pollfd* fds, size_t n, int64_t now) {
  for (size_t i = 0; i < n && i < conns_.size(); ++i) {
    Conn& c = *conns_[i];
    if (c.failed || fds[i].fd != c.fd.fd || !fds[i].revents) continue;
    if (c.connecting) {
      int err = 0;
      socklen_t el = sizeof err;
      getsockopt(c.fd.fd, SOL_SOCKET, SO_ERROR, &err, &el);
      if (err != 0) {
        fail(c, failure_of_errno(err), std::strerror(err), now);
        continue;
      }
      c.connecting = false;
    }
    if (c.handshaking) handshake(c, now);
    if (!c.failed && !c.handshaking) read(c, now);
    if (!c.failed) flush(c, now);
  }
  pump(now);
}

void PathRunner::pump(int64_t now) {
  if (now >= probe_.next_timer_us()) probe_.tick(now);
  ProbeTransmit t;
  while (probe_.pop_output(t)) {
    Conn& c = *conns_[static_cast<size_t>(t.conn)];
    if (c.failed) continue;
    if (transport_ == turn::Transport::Udp && !c.out.empty()) c.out.clear();  // one datagram at a time
    c.out.insert(c.out.end(), t.bytes.begin(), t.bytes.end());
    if (transport_ == turn::Transport::Udp) {
      ssize_t n = send(c.fd.fd, c.out.data(), c.out.size(), 0);
      if (n < 0 && errno == ECONNREFUSED) fail(c, PathFailure::Refused, std::strerror(errno), now);
      c.out.clear();
      continue;
    }
    if (c.connecting && c.handshaking) continue;
    if (c.handshaking) handshake(c, now);
    flush(c, now);
  }
}

int64_t PathRunner::next_timer_us() const { return probe_.next_timer_us(); }
bool PathRunner::done() const { return probe_.done(); }
const PathResult& PathRunner::result() const { return probe_.result(); }

// --- /metrics ---

Fd listen_tcp(const Endpoint& at, std::string& error) {
  Endpoint bound;
  Fd s = open_bound(SOCK_STREAM, at, bound, error);
  if (s.fd < 0) return s;
  if (listen(s.fd, 16) != 0) {
    error = "listen " + at.to_string() + ": " + std::strerror(errno);
    return Fd{};
  }
  return s;
}

MetricsServer::MetricsServer(Fd listener, std::function<std::string()> body)
    : listener_(std::move(listener)), body_(std::move(body)) {}

size_t MetricsServer::add_pollfds(std::vector<pollfd>& fds) const {
  fds.push_back(pollfd{listener_.fd, POLLIN, 0});
  for (const auto& c : clients_) fds.push_back(pollfd{c.fd.fd, static_cast<short>(c.out.empty() ? POLLIN : POLLOUT), 0});
  return 1 + clients_.size();
}

void MetricsServer::answer(Client& c) {
  bool get = c.in.starts_with("GET ") || c.in.starts_with("HEAD ");
  std::string path = c.in.substr(c.in.find(' ') + 1);
  path = path.substr(0, path.find_first_of(" ?"));
  std::string status = "200 OK", type = "text/plain; version=0.0.4; charset=utf-8", body;
  if (!get) status = "405 Method Not Allowed", body = "GET only\n";
  else if (path == "/metrics") body = body_();
  else if (path == "/healthz") body = "ok\n";
  else status = "404 Not Found", body = "GET /metrics\n";
  c.out = "HTTP/1.1 " + status + "\r\nContent-Type: " + type + "\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\nConnection: close\r\n\r\n" + (c.in.starts_with("HEAD ") ? std::string() : body);
}

// A client's request read, answered, and the connection closed once the answer is out.
void MetricsServer::serve(Client& c) {
  if (c.out.empty()) {
    char buf[2048];
    ssize_t r = recv(c.fd.fd, buf, sizeof buf, 0);
    if (r <= 0) return c.fd.reset();
    c.in.append(buf, static_cast<size_t>(r));
    if (c.in.size() > kMaxRequest) return c.fd.reset();
    if (c.in.find("\r\n\r\n") != std::string::npos || c.in.find("\n\n") != std::string::npos) answer(c);
  }
  if (c.out.empty()) return;
  ssize_t w = send(c.fd.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
  if (w > 0) c.out.erase(0, static_cast<size_t>(w));
  if ((w < 0 && errno != EAGAIN) || c.out.empty()) c.fd.reset();  // failed, or answered: close
}

void MetricsServer::on_ready(const pollfd* fds, size_t n, int64_t now) {
  for (size_t i = 1; i < n && i - 1 < clients_.size(); ++i) {
    Client& c = clients_[i - 1];
    if (fds[i].revents && fds[i].fd == c.fd.fd) serve(c);
  }
  std::erase_if(clients_, [](const Client& c) { return c.fd.fd < 0; });
  if (n == 0 || !(fds[0].revents & POLLIN)) return;
  int fd = accept4(listener_.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0 && clients_.size() < kMaxClients) clients_.push_back(Client{Fd(fd), {}, {}, now});
  else if (fd >= 0) close(fd);
}

void MetricsServer::expire(int64_t now) {
  std::erase_if(clients_, [now](const Client& c) { return now - c.since_ms > 5000; });
}

}  // namespace diag::net
