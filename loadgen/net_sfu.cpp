// `turnpike-loadgen sfu`'s sockets (net_sfu.hpp): TCP + WebSocket signalling and a UDP media socket
// per participant, on one epoll loop. Media datagrams go out with sendto to the SFU's candidate.
#include "loadgen/net_sfu.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <stdexcept>

#include "common/sockaddr.hpp"
#include "loadgen/prng.hpp"

namespace loadgen::net {

namespace {
constexpr uint64_t kUdpTag = 1ULL << 32;  // epoll tags: participant index, | kUdpTag for its media socket
constexpr size_t kMaxSignalBuffer = 4 << 20;  // unsent signalling per participant; beyond, it is dropped
constexpr int kReadsPerEvent = 64;

// base64 (RFC 4648 4) of 16 bytes: a Sec-WebSocket-Key.
std::string ws_key(uint64_t seed) {
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string k;
  for (int i = 0; i < 21; ++i) k.push_back(kB64[prng::next(seed) % 64]);
  k.push_back(kB64[(prng::next(seed) % 4) * 16]);  // 22 characters carry 16 bytes: the last has 2 bits
  return k + "==";
}
}  // namespace

struct SfuLoop::Conn {
  int tcp = -1, udp = -1;
  bool connected = false, opened = false, closing = false;
  ws::Client ws;
  std::string out;
  explicit Conn(uint64_t seed) : ws(seed) {}
  ~Conn() {
    if (tcp >= 0) ::close(tcp);
    if (udp >= 0) ::close(udp);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
};

SfuLoop::SfuLoop(SockAddr signal, std::string host_header, std::string path, SockAddr local, std::atomic<bool>& stop)
    : signal_(signal), local_(local), host_header_(std::move(host_header)), path_(std::move(path)), stop_(stop) {
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
  start_ns_ = std::chrono::steady_clock::now().time_since_epoch().count();
}

SfuLoop::~SfuLoop() {
  conns_.clear();
  if (epoll_ >= 0) ::close(epoll_);
}

int64_t SfuLoop::now_ms() const {
  return (std::chrono::steady_clock::now().time_since_epoch().count() - start_ns_) / 1'000'000;
}

double SfuLoop::cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

void SfuLoop::watch(int fd, uint64_t tag, uint32_t events, bool modify) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag;
  epoll_ctl(epoll_, modify ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
}

// A TCP connection to the signalling port (the WebSocket handshake once it is up) and the media socket.
void SfuLoop::open_signal(uint32_t p) {
  if (p >= conns_.size() || conns_[p]->tcp >= 0) return;
  Conn& c = *conns_[p];
  c.udp = ::socket(local_.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  c.tcp = ::socket(signal_.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.udp < 0 || c.tcp < 0) return drop(p, std::string("socket: ") + std::strerror(errno));
  int big = 1 << 20;
  setsockopt(c.udp, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  setsockopt(c.udp, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  if (::bind(c.udp, reinterpret_cast<const sockaddr*>(&local_.ss), local_.len) != 0)
    return drop(p, std::string("bind: ") + std::strerror(errno));
  int one = 1;
  setsockopt(c.tcp, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(c.tcp, reinterpret_cast<const sockaddr*>(&signal_.ss), signal_.len) != 0 && errno != EINPROGRESS)
    return drop(p, std::string("connect: ") + std::strerror(errno));
  watch(c.tcp, p, EPOLLIN | EPOLLOUT, false);
  watch(c.udp, p | kUdpTag, EPOLLIN, false);
}

void SfuLoop::close_signal(uint32_t p) {
  if (p >= conns_.size()) return;
  Conn& c = *conns_[p];
  c.closing = true;
  flush(p);
  if (c.tcp >= 0) {
    ::shutdown(c.tcp, SHUT_WR);
    ::close(c.tcp);
    c.tcp = -1;
  }
}

void SfuLoop::send_signal(uint32_t p, const std::string& text) {
  if (p >= conns_.size() || conns_[p]->tcp < 0) return;
  Conn& c = *conns_[p];
  if (c.out.size() > kMaxSignalBuffer) return drop(p, "signalling backlog");
  c.ws.text(text, c.out);
  flush(p);
}

void SfuLoop::send_media(uint32_t p, const turn::Endpoint& to, std::span<const uint8_t> d) {
  if (p >= conns_.size() || conns_[p]->udp < 0) return;
  sockaddr_storage ss{};
  socklen_t len = turnpike::to_sockaddr(to, ss);
  if (::sendto(conns_[p]->udp, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&ss), len) < 0) ++send_drops_;
}

void SfuLoop::flush(uint32_t p) {
  Conn& c = *conns_[p];
  if (c.tcp < 0 || !c.connected) return;
  while (!c.out.empty()) {
    ssize_t n = ::send(c.tcp, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) return drop(p, std::string("send: ") + std::strerror(errno));
    c.out.erase(0, static_cast<size_t>(n));
  }
  watch(c.tcp, p, c.out.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT, true);
}

// The signalling connection is gone: the participant fails (unless the run closed it).
void SfuLoop::drop(uint32_t p, const std::string& why) {
  Conn& c = *conns_[p];
  if (c.tcp >= 0) {
    ::close(c.tcp);
    c.tcp = -1;
  }
  if (!c.closing && engine_) engine_->signal_closed(p, why, now_ms());
}

void SfuLoop::tcp_connected(uint32_t p) {
  Conn& c = *conns_[p];
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c.tcp, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return drop(p, std::string("connect: ") + std::strerror(err));
  c.connected = true;
  c.out.insert(0, ws::handshake_request(host_header_, path_, ws_key(p * 7919ULL + 17)));
  flush(p);
}

void SfuLoop::tcp_read(uint32_t p) {
  Conn& c = *conns_[p];
  char buf[65536];
  for (int i = 0; i < kReadsPerEvent && c.tcp >= 0; ++i) {
    ssize_t n = ::recv(c.tcp, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) return drop(p, n == 0 ? "closed by the SFU" : std::string("recv: ") + std::strerror(errno));
    ws::Error e = c.ws.feed({reinterpret_cast<const uint8_t*>(buf), static_cast<size_t>(n)});
    if (c.ws.open() && !c.opened) {
      c.opened = true;
      engine_->signal_opened(p, now_ms());
    }
    for (const auto& m : c.ws.take_messages()) engine_->signal_message(p, m, now_ms());
    c.out += c.ws.take_output();
    if (e != ws::Error::None) return drop(p, std::string("websocket: ") + ws::to_string(e));
    if (c.ws.closed()) return drop(p, "websocket closed by the SFU");
    flush(p);
  }
}

void SfuLoop::tcp_event(uint32_t p, uint32_t events) {
  Conn& c = *conns_[p];
  if (c.tcp < 0) return;
  if (!c.connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) tcp_connected(p);
  else if (events & EPOLLOUT) flush(p);
  if (c.tcp >= 0 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) tcp_read(p);
}

void SfuLoop::udp_read(uint32_t p) {
  Conn& c = *conns_[p];
  std::array<uint8_t, 2048> buf{};
  for (int i = 0; i < kReadsPerEvent && c.udp >= 0; ++i) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ssize_t n = ::recvfrom(c.udp, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&ss), &len);
    if (n < 0) return;
    auto from = turnpike::from_sockaddr(ss);
    if (from) engine_->media(p, std::span<uint8_t>(buf.data(), static_cast<size_t>(n)), *from, now_ms());
  }
}

bool SfuLoop::run(sfuload::SfuEngine& engine, bool progress, std::string& error) {
  engine_ = &engine;
  conns_.clear();
  for (size_t p = 0; p < engine.size(); ++p) conns_.push_back(std::make_unique<Conn>(p * 2654435761ULL + 1));
  engine.start(now_ms());
  std::array<epoll_event, 256> evs{};
  int64_t next_line = 1000;
  while (!engine.finished()) {
    int n = epoll_wait(epoll_, evs.data(), static_cast<int>(evs.size()), 1);
    if (n < 0 && errno != EINTR) return error = std::string("epoll_wait: ") + std::strerror(errno), false;
    for (int i = 0; i < n; ++i) {
      auto p = static_cast<uint32_t>(evs[i].data.u64 & 0xFFFFFFFF);
      if (p >= conns_.size()) continue;
      if (evs[i].data.u64 & kUdpTag) udp_read(p);
      else tcp_event(p, evs[i].events);
    }
    const int64_t now = now_ms();
    if (stop_.load()) engine.stop(now);
    engine.tick(now);
    if (progress && now >= next_line) {
      next_line = now + 1000;
      auto pr = engine.progress();
      static constexpr const char* kPhases[] = {"publishers joining", "subscribers joining", "media", "draining", "done"};
      std::cerr << now / 1000 << "s: " << kPhases[static_cast<int>(pr.phase)] << ", started " << pr.started << ", connected "
                << pr.connected << ", failed " << pr.failed << ", sent " << pr.sent << ", received " << pr.received << "\n";
    }
  }
  for (size_t p = 0; p < conns_.size(); ++p) close_signal(static_cast<uint32_t>(p));
  engine_ = nullptr;
  return true;
}

}  // namespace loadgen::net
