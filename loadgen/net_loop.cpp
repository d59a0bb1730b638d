// The event loop of one thread (net_driver.hpp): epoll over the engine's flows, each a
// non-blocking socket connected to the server, with TLS (over TCP) or DTLS (over UDP) on top.
#include <errno.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>

#include <openssl/err.h>

#include "loadgen/net_driver.hpp"
#include "turn/stream_framing.hpp"

namespace loadgen::net {
namespace {

constexpr size_t kStreamWriteBound = 4 << 20;   // bytes queued per stream flow before dropping
constexpr size_t kStreamReadBound = 256 << 10;  // bytes buffered per stream flow without a frame
constexpr int kReadBurst = 64;                  // reads per flow and wakeup
constexpr int64_t kOpenTimeoutUs = 10000000;    // connect + handshake

bool stream(turn::Transport t) { return t == turn::Transport::Tcp || t == turn::Transport::Tls; }
bool secure(turn::Transport t) { return t == turn::Transport::Tls || t == turn::Transport::Dtls; }

std::string errno_text(const char* what, int e) { return std::string(what) + ": " + std::strerror(e); }

}  // namespace

Loop::Loop(const SockAddr& server, std::vector<SockAddr> locals, turn::Transport transport, TlsContexts& tls,
           Shared& shared)
    : server_(server), locals_(std::move(locals)), transport_(transport), tls_(tls), shared_(shared) {
  buf_.resize(65536 + 64);
}

Loop::~Loop() {
  for (auto& [id, f] : flows_) {
    if (f->ssl) SSL_free(f->ssl);
    if (f->fd >= 0) ::close(f->fd);
  }
  if (ep_ >= 0) ::close(ep_);
}

void Loop::open_flow(uint64_t flow, uint32_t local_index) {
  auto f = std::make_unique<Flow>();
  f->id = flow;
  f->transport = transport_;
  Flow& fl = *f;
  flows_[flow] = std::move(f);
  int type = stream(transport_) ? SOCK_STREAM : SOCK_DGRAM;
  fl.fd = ::socket(server_.family(), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fl.fd < 0) return fail(fl, errno_text("socket", errno));
  if (!locals_.empty()) {
    const SockAddr& l = locals_[local_index % locals_.size()];
    if (::bind(fl.fd, reinterpret_cast<const sockaddr*>(&l.ss), l.len) != 0) return fail(fl, errno_text("bind", errno));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = flow;
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, fl.fd, &ev) != 0) return fail(fl, errno_text("epoll_ctl", errno));
  fl.deadline_us = steady_now_us() + kOpenTimeoutUs;
  if (::connect(fl.fd, reinterpret_cast<const sockaddr*>(&server_.ss), server_.len) != 0) {
    if (errno != EINPROGRESS) return fail(fl, errno_text("connect", errno));
    fl.connecting = true;
    pending_.insert(flow);
    set_events(fl, true);
    return;
  }
  start_flow(fl, 0);
}

// Connected: TLS/DTLS start their handshake, plain flows are open.
void Loop::start_flow(Flow& f, int64_t now_us) {
  f.connecting = false;
  if (secure(f.transport)) {
    std::string error;
    if (!start_tls(f, error)) return fail(f, error);
    f.handshaking = true;
    pending_.insert(f.id);
    continue_handshake(f, now_us);
    return;
  }
  pending_.erase(f.id);
  f.open = true;
  set_events(f, !f.wbuf.empty());
  events_.push_back({f.id, true, {}});
}

bool Loop::start_tls(Flow& f, std::string& error) {
  bool dtls = f.transport == turn::Transport::Dtls;
  f.ssl = SSL_new(dtls ? tls_.dtls : tls_.tls);
  if (!f.ssl) return error = "SSL_new: " + openssl_error(), false;
  if (!tls_.server_name.empty()) {
    SSL_set_tlsext_host_name(f.ssl, tls_.server_name.c_str());
    SSL_set1_host(f.ssl, tls_.server_name.c_str());
  }
  if (dtls) {
    BIO* bio = BIO_new_dgram(f.fd, BIO_NOCLOSE);
    if (!bio) return error = "BIO_new_dgram: " + openssl_error(), false;
    BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &server_.ss);
    SSL_set_bio(f.ssl, bio, bio);
  } else if (SSL_set_fd(f.ssl, f.fd) != 1) {
    return error = "SSL_set_fd: " + openssl_error(), false;
  }
  SSL_set_connect_state(f.ssl);
  return true;
}

void Loop::continue_handshake(Flow& f, int64_t) {
  ERR_clear_error();
  int r = SSL_do_handshake(f.ssl);
  if (r == 1) {
    f.handshaking = false;
    pending_.erase(f.id);
    f.open = true;
    set_events(f, !f.wbuf.empty());
    events_.push_back({f.id, true, {}});
    return;
  }
  int e = SSL_get_error(f.ssl, r);
  if (e == SSL_ERROR_WANT_READ) return set_events(f, false);
  if (e == SSL_ERROR_WANT_WRITE) return set_events(f, true);
  const char* what = f.transport == turn::Transport::Dtls ? "dtls handshake: " : "tls handshake: ";
  std::string detail = e == SSL_ERROR_SYSCALL && errno ? std::strerror(errno) : openssl_error();
  if (e == SSL_ERROR_SYSCALL && !errno && detail == "no error detail") detail = "connection closed by the server";
  fail(f, what + detail);
}

void Loop::set_events(Flow& f, bool want_write) {
  if (f.fd < 0 || f.want_write == want_write) return;
  f.want_write = want_write;
  epoll_event ev{};
  ev.events = EPOLLIN | (want_write ? EPOLLOUT : 0u);
  ev.data.u64 = f.id;
  epoll_ctl(ep_, EPOLL_CTL_MOD, f.fd, &ev);
}

// The flow is dead: its socket goes now, the engine hears of it once the current call returns.
void Loop::fail(Flow& f, std::string reason) {
  if (f.fd >= 0) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, f.fd, nullptr);
    ::close(f.fd);
    f.fd = -1;
  }
  pending_.erase(f.id);
  f.open = false;
  events_.push_back({f.id, false, std::move(reason)});
}

void Loop::close_flow(uint64_t flow) {
  auto it = flows_.find(flow);
  if (it == flows_.end()) return;
  Flow& f = *it->second;
  if (f.ssl) {
    if (f.open) SSL_shutdown(f.ssl);
    SSL_free(f.ssl);
    f.ssl = nullptr;
  }
  if (f.fd >= 0) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, f.fd, nullptr);
    ::close(f.fd);
    f.fd = -1;
  }
  f.open = false;
  pending_.erase(flow);
  graveyard_.push_back(std::move(it->second));
  flows_.erase(it);
}

void Loop::send(uint64_t flow, std::span<const uint8_t> bytes) {
  auto it = flows_.find(flow);
  if (it == flows_.end() || !it->second->open) return;
  Flow& f = *it->second;
  if (stream(f.transport)) return queue_stream(f, bytes);
  if (f.ssl) {
    ERR_clear_error();
    int r = SSL_write(f.ssl, bytes.data(), static_cast<int>(bytes.size()));
    if (r <= 0) {
      int e = SSL_get_error(f.ssl, r);
      if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ || (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == ENOBUFS)))
        ++stats_.send_drops;
      else
        fail(f, "dtls: " + (e == SSL_ERROR_SYSCALL ? std::string(std::strerror(errno)) : openssl_error()));
    }
    return;
  }
  if (::send(f.fd, bytes.data(), bytes.size(), MSG_DONTWAIT) < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) ++stats_.send_drops;
    else if (errno == ECONNREFUSED) fail(f, "connection refused (ICMP port unreachable)");
    else fail(f, errno_text("send", errno));
  }
}

void Loop::queue_stream(Flow& f, std::span<const uint8_t> bytes) {
  if (f.wbuf.size() + bytes.size() > kStreamWriteBound) {
    ++stats_.send_drops;
    return;
  }
  bool idle = f.wbuf.empty();
  f.wbuf.insert(f.wbuf.end(), bytes.begin(), bytes.end());
  if (idle) flush(f);
}

void Loop::flush(Flow& f) {
  size_t done = 0;
  while (done < f.wbuf.size() && f.fd >= 0) {
    size_t n = f.wbuf.size() - done;
    if (f.ssl) {
      ERR_clear_error();
      int r = SSL_write(f.ssl, f.wbuf.data() + done, static_cast<int>(std::min<size_t>(n, 1 << 20)));
      if (r <= 0) {
        int e = SSL_get_error(f.ssl, r);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) break;
        return fail(f, "tls: " + (e == SSL_ERROR_SYSCALL ? std::string(std::strerror(errno)) : openssl_error()));
      }
      done += static_cast<size_t>(r);
    } else {
      ssize_t r = ::send(f.fd, f.wbuf.data() + done, n, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return fail(f, errno_text("send", errno));
      }
      done += static_cast<size_t>(r);
    }
  }
  f.wbuf.erase(f.wbuf.begin(), f.wbuf.begin() + static_cast<std::ptrdiff_t>(done));
  set_events(f, !f.wbuf.empty());
}

void Loop::on_ready(Flow& f, uint32_t events, int64_t now_us) {
  if (f.connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(f.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) return fail(f, errno_text("connect", err));
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    return start_flow(f, now_us);
  }
  if (f.handshaking) return continue_handshake(f, now_us);
  if (events & EPOLLOUT) flush(f);
  if (f.fd >= 0 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
    if (stream(f.transport)) read_stream(f, now_us);
    else read_datagrams(f, now_us);
  }
}

// Plain UDP: up to kBatch datagrams per recvmmsg; the engine may close the flow meanwhile.
void Loop::read_udp(Flow& f, int64_t now_us) {
  constexpr size_t kBatch = 16, kSlot = 4096;   // media packets are at most --mtu (1400) + 36
  if (batch_.size() < kBatch * kSlot) batch_.resize(kBatch * kSlot);
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  uint64_t id = f.id;
  for (int round = 0; round < kReadBurst / static_cast<int>(kBatch) && f.fd >= 0; ++round) {
    for (size_t i = 0; i < kBatch; ++i) {
      iov[i] = {batch_.data() + i * kSlot, kSlot};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(f.fd, msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == ECONNREFUSED) return fail(f, "connection refused (ICMP port unreachable)");
      return fail(f, errno_text("recvmmsg", errno));
    }
    for (int i = 0; i < n && f.fd >= 0; ++i) {
      if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) continue;   // not ours: larger than any loadgen packet
      engine_->on_receive(id, std::span<const uint8_t>(batch_.data() + i * kSlot, msgs[i].msg_len), now_us);
      drain_events(now_us);
    }
    if (n < static_cast<int>(kBatch)) return;
  }
}

// DTLS: one record per read; the engine may close the flow while it handles one.
void Loop::read_datagrams(Flow& f, int64_t now_us) {
  if (!f.ssl) return read_udp(f, now_us);
  uint64_t id = f.id;
  for (int i = 0; i < kReadBurst && f.fd >= 0; ++i) {
    ERR_clear_error();
    int r = SSL_read(f.ssl, buf_.data(), static_cast<int>(buf_.size()));
    if (r <= 0) {
      int e = SSL_get_error(f.ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
      if (e == SSL_ERROR_ZERO_RETURN) return fail(f, "dtls: closed by the server");
      if (e == SSL_ERROR_SYSCALL && errno == ECONNREFUSED) return fail(f, "connection refused (ICMP port unreachable)");
      return fail(f, "dtls: " + (e == SSL_ERROR_SYSCALL ? std::string(std::strerror(errno)) : openssl_error()));
    }
    engine_->on_receive(id, std::span<const uint8_t>(buf_.data(), static_cast<size_t>(r)), now_us);
    drain_events(now_us);
  }
}

// One read from the stream (TLS or TCP) into buf_: the bytes read, or 0 when there is nothing more
// to read now or the flow failed (fail() called).
size_t Loop::read_stream_once(Flow& f) {
  if (f.ssl) {
    ERR_clear_error();
    int r = SSL_read(f.ssl, buf_.data(), static_cast<int>(buf_.size()));
    if (r > 0) return static_cast<size_t>(r);
    int e = SSL_get_error(f.ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) fail(f, "connection closed by the server");
    else fail(f, "tls: " + (e == SSL_ERROR_SYSCALL ? std::string(std::strerror(errno)) : openssl_error()));
    return 0;
  }
  ssize_t n = ::recv(f.fd, buf_.data(), buf_.size(), MSG_DONTWAIT);
  if (n > 0) return static_cast<size_t>(n);
  if (n == 0) fail(f, "connection closed by the server");
  else if (errno != EAGAIN && errno != EWOULDBLOCK) fail(f, errno_text("recv", errno));
  return 0;
}

// The complete STUN and ChannelData frames at the front of f.rbuf to the engine (RFC 8656 12.5),
// then dropped from it; false when the flow failed or was closed meanwhile.
bool Loop::deliver_stream_frames(Flow& f, int64_t now_us) {
  uint64_t id = f.id;
  size_t off = 0;
  while (true) {
    std::span<const uint8_t> rest(f.rbuf.data() + off, f.rbuf.size() - off);
    size_t len = turn::stream_frame_length(rest);
    if (len == SIZE_MAX) {
      fail(f, "stream: neither STUN nor ChannelData from the server");
      return false;
    }
    if (len == 0 || len > rest.size()) break;
    // The engine may close the flow meanwhile: a closed Flow (and rbuf) lives until the loop's
    // next iteration (graveyard_), and nothing but this function touches rbuf.
    off += len;
    engine_->on_receive(id, rest.first(len), now_us);
    drain_events(now_us);
    if (f.fd < 0) return false;
  }
  f.rbuf.erase(f.rbuf.begin(), f.rbuf.begin() + static_cast<std::ptrdiff_t>(off));
  return true;
}

// Bytes from the stream, cut into STUN and ChannelData frames (RFC 8656 12.5).
void Loop::read_stream(Flow& f, int64_t now_us) {
  for (int i = 0; i < kReadBurst && f.fd >= 0; ++i) {
    size_t n = read_stream_once(f);
    if (n == 0) return;
    f.rbuf.insert(f.rbuf.end(), buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(n));
    if (!deliver_stream_frames(f, now_us)) return;
    if (f.rbuf.size() > kStreamReadBound) return fail(f, "stream: a frame larger than the read bound");
  }
}

void Loop::drain_events(int64_t now_us) {
  while (!events_.empty()) {
    Event e = std::move(events_.front());
    events_.pop_front();
    if (e.opened) engine_->on_flow_opened(e.flow, now_us);
    else engine_->on_flow_failed(e.flow, e.reason, now_us);
  }
}

// Connects and handshakes that take too long fail; DTLS handshakes get their retransmissions.
void Loop::check_deadlines(int64_t now_us) {
  std::vector<uint64_t> ids(pending_.begin(), pending_.end());
  for (uint64_t id : ids) {
    auto it = flows_.find(id);
    if (it == flows_.end()) continue;
    Flow& f = *it->second;
    if (now_us > f.deadline_us) {
      fail(f, f.connecting ? "connect: timeout" : std::string(f.transport == turn::Transport::Dtls ? "dtls" : "tls") +
                                                      " handshake: timeout");
    } else if (f.handshaking && f.ssl && f.transport == turn::Transport::Dtls) {
      DTLSv1_handle_timeout(f.ssl);
    }
  }
}

double Loop::cpu_pct_since_last(int64_t now_us) {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  int64_t cpu = static_cast<int64_t>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
                ru.ru_stime.tv_usec;
  double pct = now_us > wall_last_us_ && wall_last_us_ > 0
                   ? 100.0 * static_cast<double>(cpu - cpu_last_us_) / static_cast<double>(now_us - wall_last_us_)
                   : 0;
  cpu_last_us_ = cpu;
  wall_last_us_ = now_us;
  return pct;
}

Engine::Progress Loop::progress() {
  std::lock_guard<std::mutex> lock(shared_.mu);
  return progress_;
}

bool Loop::run(Engine& engine, std::string& error) {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) return error = errno_text("epoll_create1", errno), false;
  engine_ = &engine;
  cpu_pct_since_last(steady_now_us());
  bool stopped = false;
  double published = -1;
  epoll_event evs[256];
  while (!engine.done()) {
    graveyard_.clear();
    int64_t now = steady_now_us();
    if (!stopped && shared_.stop.load(std::memory_order_relaxed)) {
      stopped = true;
      engine.stop(now);
    }
    engine.tick(now);
    drain_events(now);
    if (now - last_deadline_check_us_ > 50000) {
      last_deadline_check_us_ = now;
      check_deadlines(now);
      drain_events(now);
    }
    if (Engine::Progress p = engine.progress(); p.t_s != published) {
      published = p.t_s;
      std::lock_guard<std::mutex> lock(shared_.mu);
      progress_ = p;
    }
    int64_t wake = engine.next_wakeup_us(), after = steady_now_us();
    int timeout = wake <= after ? 0 : static_cast<int>(std::min<int64_t>((wake - after + 999) / 1000, 50));
    int n = epoll_wait(ep_, evs, 256, timeout);
    if (n < 0 && errno != EINTR) return error = errno_text("epoll_wait", errno), false;
    now = steady_now_us();
    for (int i = 0; i < n; ++i) {
      auto it = flows_.find(evs[i].data.u64);
      if (it == flows_.end() || it->second->fd < 0) continue;
      on_ready(*it->second, evs[i].events, now);
      drain_events(now);
    }
  }
  return true;
}

}  // namespace loadgen::net
