// turnpike-diag: network diagnostics run from a site. Subcommands:
//   nat        RFC 5780 NAT behaviour discovery (diag::NatProbe), optionally reported to Turnpike.
//   lifetime   the NAT's UDP mapping idle timeout, RFC 5780 4.6 (diag::LifetimeProbe), likewise.
// This file does the I/O (POSIX UDP/TCP sockets with poll(), the HTTP report); the logic is in
// the sans-I/O library.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "common/json_text.hpp"  // strings from the wire (SOFTWARE, reason phrases) may not be UTF-8
#include "common/sockaddr.hpp"
#include "diag/cli.hpp"
#include "diag/http_post.hpp"
#include "diag/lifetime_probe.hpp"
#include "diag/nat_probe.hpp"
#include "diag/nat_report.hpp"
#include "turn/message.hpp"

#ifndef TURNPIKE_VERSION
#define TURNPIKE_VERSION "dev"
#endif

namespace {

using turn::Endpoint;
using turn::IpAddress;

constexpr int kExitOk = 0, kExitUnreachable = 1, kExitUsage = 2, kExitReportFailed = 3;

// The probes' clock (issue 16's convention): int64_t milliseconds of the steady clock.
int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

using turnpike::from_sockaddr;
using turnpike::to_sockaddr;

int family_of(const IpAddress& a) { return a.is_v4() ? AF_INET : AF_INET6; }

// The server's address: a literal, or the first result of getaddrinfo (IPv4 first unless
// `family` asks for IPv6).
std::optional<IpAddress> resolve(const std::string& host, int family, std::string& error) {
  if (auto ip = IpAddress::parse(host)) return ip;
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) {
    error = gai_strerror(rc);
    return std::nullopt;
  }
  std::optional<IpAddress> v4, v6;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    sockaddr_storage ss{};
    std::memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    auto ep = from_sockaddr(ss);
    if (!ep) continue;
    if (ep->address.is_v4() && !v4) v4 = ep->address;
    if (!ep->address.is_v4() && !v6) v6 = ep->address;
  }
  freeaddrinfo(res);
  if (v4) return v4;
  if (v6) return v6;
  error = "no address";
  return std::nullopt;
}

// The source address the kernel picks toward `server` (a connected UDP socket sends nothing).
std::optional<IpAddress> source_address_toward(const Endpoint& server) {
  int fd = socket(family_of(server.address), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_storage ss;
  socklen_t len = to_sockaddr(server, ss);
  std::optional<IpAddress> out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
    sockaddr_storage local{};
    socklen_t ll = sizeof local;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) == 0)
      if (auto ep = from_sockaddr(local)) out = ep->address;
  }
  close(fd);
  return out;
}

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd& operator=(Fd&& o) noexcept {
    reset();
    fd = o.fd;
    o.fd = -1;
    return *this;
  }
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) close(fd);
    fd = -1;
  }
};

// A non-blocking socket bound to `local`; its bound address in `bound`.
Fd open_bound(int type, const Endpoint& local, Endpoint& bound, std::string& error) {
  Fd s(socket(family_of(local.address), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (s.fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return Fd{};
  }
  if (!local.address.is_v4()) {
    int one = 1;
    setsockopt(s.fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  sockaddr_storage ss;
  socklen_t len = to_sockaddr(local, ss);
  if (bind(s.fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    error = "bind " + local.to_string() + ": " + std::strerror(errno);
    return Fd{};
  }
  sockaddr_storage got{};
  socklen_t gl = sizeof got;
  getsockname(s.fd, reinterpret_cast<sockaddr*>(&got), &gl);
  bound = from_sockaddr(got).value_or(local);
  return s;
}

// The TCP fallback: one connection, one request, STUN messages read off the stream by their
// length field (RFC 8489 6.2.2: no other framing).
struct TcpConn {
  Fd sock;
  bool connecting = false;
  bool failed = false;
  Endpoint peer;
  std::vector<uint8_t> out, in;
};

struct Io {
  std::array<Fd, diag::kUdpSockets> udp;
  TcpConn tcp;
  IpAddress local_ip;
  std::string first_send_error;
};

void send_transmit(Io& io, diag::NatProbe& probe, const diag::Transmit& t) {
  if (t.transport == turn::Transport::Tcp) {
    TcpConn& c = io.tcp;
    if (c.sock.fd < 0 && !c.failed) {
      std::string err;
      Endpoint bound;
      c.sock = open_bound(SOCK_STREAM, Endpoint{io.local_ip, 0}, bound, err);
      c.peer = t.to;
      sockaddr_storage ss;
      socklen_t len = to_sockaddr(t.to, ss);
      if (c.sock.fd < 0 || (connect(c.sock.fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS)) {
        c.failed = true;
        c.sock.reset();
        probe.on_transport_error(diag::SocketRole::Tcp, now_ms());
        return;
      }
      c.connecting = true;
    }
    c.out.insert(c.out.end(), t.bytes.begin(), t.bytes.end());
    return;
  }
  const Fd& s = io.udp[static_cast<size_t>(t.socket)];
  sockaddr_storage ss;
  socklen_t len = to_sockaddr(t.to, ss);
  if (sendto(s.fd, t.bytes.data(), t.bytes.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) < 0 &&
      io.first_send_error.empty())
    io.first_send_error = "sendto " + t.to.to_string() + ": " + std::strerror(errno);
}

void tcp_fail(Io& io, diag::NatProbe& probe) {
  io.tcp.failed = true;
  io.tcp.sock.reset();
  probe.on_transport_error(diag::SocketRole::Tcp, now_ms());
}

void tcp_ready(Io& io, diag::NatProbe& probe, short revents) {
  TcpConn& c = io.tcp;
  if (c.connecting && (revents & (POLLOUT | POLLERR | POLLHUP))) {
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c.sock.fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err != 0) return tcp_fail(io, probe);
    c.connecting = false;
  }
  if (!c.connecting && !c.out.empty()) {
    ssize_t n = send(c.sock.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return tcp_fail(io, probe);
    if (n > 0) c.out.erase(c.out.begin(), c.out.begin() + n);
  }
  if (!c.connecting && (revents & (POLLIN | POLLHUP | POLLERR))) {
    uint8_t buf[4096];
    ssize_t n = recv(c.sock.fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return tcp_fail(io, probe);
    if (n > 0) c.in.insert(c.in.end(), buf, buf + n);
    while (c.in.size() >= turn::stun::kHeaderSize) {
      if (!turn::stun::looks_like_stun(c.in)) {  // not a STUN server on that port
        probe.on_datagram(diag::SocketRole::Tcp, c.peer, c.in, now_ms());
        return tcp_fail(io, probe);
      }
      size_t total = turn::stun::kHeaderSize + (size_t(c.in[2]) << 8 | c.in[3]);
      if (c.in.size() < total) break;
      probe.on_datagram(diag::SocketRole::Tcp, c.peer, std::span<const uint8_t>(c.in.data(), total), now_ms());
      c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(total));
    }
  }
}

void udp_ready(Io& io, diag::NatProbe& probe, size_t index) {
  uint8_t buf[2048];
  for (;;) {
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    ssize_t n = recvfrom(io.udp[index].fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&ss), &sl);
    if (n < 0) return;  // EAGAIN, or an ICMP error surfaced: nothing to hand over
    auto from = from_sockaddr(ss);
    if (!from) continue;
    probe.on_datagram(static_cast<diag::SocketRole>(index), *from,
                      std::span<const uint8_t>(buf, static_cast<size_t>(n)), now_ms());
  }
}

void drive(Io& io, diag::NatProbe& probe) {
  for (;;) {
    diag::Action a = probe.next_action(now_ms());
    if (a.kind == diag::Action::Kind::Done) return;
    if (a.kind == diag::Action::Kind::Send) {
      send_transmit(io, probe, a.transmit);
      continue;
    }
    std::vector<pollfd> fds;
    for (const Fd& s : io.udp) fds.push_back(pollfd{s.fd, POLLIN, 0});
    if (io.tcp.sock.fd >= 0)
      fds.push_back(pollfd{io.tcp.sock.fd, static_cast<short>(POLLIN | (io.tcp.connecting || !io.tcp.out.empty() ? POLLOUT : 0)), 0});
    const int64_t at_ms = now_ms();
    int wait = a.until_ms > at_ms ? static_cast<int>(a.until_ms - at_ms) : 0;
    int n = poll(fds.data(), fds.size(), wait);
    if (n <= 0) continue;
    for (size_t i = 0; i < io.udp.size(); ++i)
      if (fds[i].revents) udp_ready(io, probe, i);
    if (fds.size() > io.udp.size() && fds.back().revents && io.tcp.sock.fd == fds.back().fd)
      tcp_ready(io, probe, fds.back().revents);
  }
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// POSTs a result to --report's URL; returns `rc`, or kExitReportFailed if it was kExitOk and the
// report failed.
int post_report(const char* cmd, const diag::Url& url, const std::string& url_text, const std::string& body,
                const std::optional<std::string>& token, const std::optional<std::string>& cacert, bool json, int rc) {
  try {
    diag::HttpResponse res =
        diag::http_post(url, body, "application/json", token, cacert, std::chrono::milliseconds(10000));
    if (res.status < 200 || res.status > 299) {
      std::string text = res.body.substr(0, 300);
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      std::cerr << "turnpike-diag " << cmd << ": report to " << url_text << " failed: HTTP " << res.status << " "
                << res.reason << (text.empty() ? "" : ": " + text)
                << (res.status == 401 && !token ? " (no --token or TURNPIKE_ADMIN_TOKEN given)" : "") << "\n";
      if (rc == kExitOk) rc = kExitReportFailed;
    } else if (!json) {
      std::cout << "\nreported to " << url_text << " (HTTP " << res.status << ")\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "turnpike-diag " << cmd << ": report to " << url_text << " failed: " << e.what() << "\n";
    if (rc == kExitOk) rc = kExitReportFailed;
  }
  return rc;
}

// Where a subcommand probes to and from: the server resolved (in --local's family, if given) and
// the local address to bind: --local, else the source the kernel routes toward the server. An exit
// code other than kExitOk, with the reason printed, when that fails.
int resolve_target(const char* cmd, const diag::HostPort& spec, const std::optional<IpAddress>& local,
                   Endpoint& server, IpAddress& local_ip) {
  std::string error;
  auto server_ip = resolve(spec.host, local ? family_of(*local) : AF_UNSPEC, error);
  if (!server_ip) {
    std::cerr << "turnpike-diag " << cmd << ": cannot resolve " << spec.host << ": " << error << "\n";
    return kExitUnreachable;
  }
  if (local && local->family != server_ip->family) {
    std::cerr << "turnpike-diag " << cmd << ": --local " << local->to_string() << " and the server "
              << server_ip->to_string() << " are of different address families\n";
    return kExitUsage;
  }
  server = Endpoint{*server_ip, spec.port};
  if (local && !local->is_unspecified()) local_ip = *local;
  else if (auto src = source_address_toward(server)) local_ip = *src;
  else local_ip = server_ip->is_v4() ? IpAddress::v4(0u) : IpAddress::v6(std::array<uint8_t, 16>{}.data());
  return kExitOk;
}

// A subcommand's options: a usage error exits 2 and --help prints its usage (both leave `rc` set
// and return nothing); the admin token falls back to TURNPIKE_ADMIN_TOKEN.
template <class Options>
std::optional<Options> subcommand_options(const char* name, const std::vector<std::string>& args,
                                          std::optional<Options> (*parse)(const std::vector<std::string>&, std::string&),
                                          const char* usage, int& rc) {
  std::string error;
  auto opts = parse(args, error);
  if (!opts) {
    std::cerr << "turnpike-diag " << name << ": " << error << "\n(see turnpike-diag " << name << " --help)\n";
    rc = kExitUsage;
    return std::nullopt;
  }
  if (opts->help) {
    std::cout << usage;
    rc = kExitOk;
    return std::nullopt;
  }
  if (!opts->token)
    if (const char* env = std::getenv("TURNPIKE_ADMIN_TOKEN"); env && *env) opts->token = env;
  return opts;
}

int run_nat(const std::vector<std::string>& args) {
  int exit_code = kExitOk;
  auto opts = subcommand_options("nat", args, diag::parse_nat_args, diag::kNatUsage, exit_code);
  if (!opts) return exit_code;
  const diag::NatOptions& o = *opts;

  Endpoint server;
  Io io;
  if (int rc = resolve_target("nat", o.server, o.local_address, server, io.local_ip); rc != kExitOk) return rc;

  diag::NatProbeConfig cfg;
  cfg.server = server;
  cfg.tcp_port = o.tcp_port.value_or(server.port);
  cfg.timeout_ms = o.timeout_ms;
  std::string error;
  for (size_t i = 0; i < diag::kUdpSockets; ++i) {
    Endpoint bound;
    io.udp[i] = open_bound(SOCK_DGRAM, Endpoint{io.local_ip, i == 0 ? o.local_port : uint16_t(0)}, bound, error);
    if (io.udp[i].fd < 0) {
      std::cerr << "turnpike-diag nat: " << error << "\n";
      return o.local_address ? kExitUsage : kExitUnreachable;
    }
    if (!bound.address.is_unspecified()) cfg.local[i] = bound;
  }

  if (!o.json)
    std::cerr << "probing NAT behaviour via " << server.to_string() << " from " << io.local_ip.to_string()
              << " (a few seconds; at most " << (o.timeout_ms * 8 + 999) / 1000 << " s)...\n";
  diag::NatProbe probe(cfg);
  drive(io, probe);
  const diag::NatReport& report = probe.report();

  nlohmann::ordered_json tags = nlohmann::ordered_json::object();
  for (const auto& [k, v] : o.tags) tags[k] = v;
  nlohmann::ordered_json j = {{"tool", "turnpike-diag " TURNPIKE_VERSION}, {"time", utc_now()}, {"tags", tags}};
  const nlohmann::ordered_json result = diag::to_json(report);
  for (const auto& [k, v] : result.items()) j[k] = v;
  if (o.json) {
    std::cout << turnpike::safe_dump(j, 2) << "\n";
  } else {
    std::cout << diag::to_text(report);
    if (!o.tags.empty()) {
      std::cout << "\ntags:";
      for (const auto& [k, v] : o.tags) std::cout << " " << k << "=" << v;
      std::cout << "\n";
    }
    if (!report.udp_reachable && !io.first_send_error.empty()) std::cout << "\nlocal error: " << io.first_send_error << "\n";
  }
  std::cout.flush();

  int rc = report.udp_reachable || report.tcp_reachable.value_or(false) ? kExitOk : kExitUnreachable;
  if (o.report)
    rc = post_report("nat", *o.report, o.report_url, turnpike::safe_dump(j), opts->token, o.cacert,
                     o.json, rc);
  return rc;
}

// --- lifetime ---

volatile sig_atomic_t g_interrupted = 0;
extern "C" void on_interrupt(int) { g_interrupted = 1; }

// The sockets of a LifetimeProbe: one UDP socket per socket id it asks for, bound to `local_ip`.
struct LifetimeIo {
  std::map<diag::LifetimeSocket, Fd> socks;
  IpAddress local_ip;
  std::string& local_error;  // the first local failure, shown when there is no result
};

void lifetime_open(LifetimeIo& io, diag::LifetimeProbe& probe, diag::LifetimeSocket id) {
  Endpoint bound;
  std::string err;
  Fd s = open_bound(SOCK_DGRAM, Endpoint{io.local_ip, 0}, bound, err);
  if (s.fd < 0) {
    if (io.local_error.empty()) io.local_error = err;
    probe.on_opened(id, std::nullopt, now_ms());
    return;
  }
  io.socks[id] = std::move(s);
  probe.on_opened(id, bound, now_ms());
}

void lifetime_send(LifetimeIo& io, const diag::LifetimeAction& a) {
  auto it = io.socks.find(a.socket);
  if (it == io.socks.end()) return;
  sockaddr_storage ss;
  socklen_t len = to_sockaddr(a.to, ss);
  if (sendto(it->second.fd, a.bytes.data(), a.bytes.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) < 0 &&
      io.local_error.empty())
    io.local_error = "sendto " + a.to.to_string() + ": " + std::strerror(errno);
}

// Waits (at most 1 s, so that Ctrl-C is seen) until `until_ms` for datagrams and hands them over.
void lifetime_wait(LifetimeIo& io, diag::LifetimeProbe& probe, int64_t until_ms) {
  std::vector<pollfd> fds;
  std::vector<diag::LifetimeSocket> ids;
  for (const auto& [id, s] : io.socks) {
    fds.push_back(pollfd{s.fd, POLLIN, 0});
    ids.push_back(id);
  }
  const int64_t at_ms = now_ms();
  int wait = until_ms > at_ms ? static_cast<int>(std::min<int64_t>(until_ms - at_ms, 1000)) : 0;
  if (poll(fds.data(), fds.size(), wait) <= 0) return;  // a timeout, or EINTR (Ctrl-C)
  for (size_t i = 0; i < fds.size(); ++i) {
    if (!fds[i].revents) continue;
    uint8_t buf[2048];
    for (;;) {
      sockaddr_storage from_ss{};
      socklen_t sl = sizeof from_ss;
      ssize_t n = recvfrom(fds[i].fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from_ss), &sl);
      if (n < 0) break;  // EAGAIN, or an ICMP error surfaced
      auto from = from_sockaddr(from_ss);
      if (!from) continue;
      probe.on_datagram(ids[i], *from, std::span<const uint8_t>(buf, static_cast<size_t>(n)), now_ms());
    }
  }
}

// Drives a LifetimeProbe to Done.
void drive_lifetime(diag::LifetimeProbe& probe, const IpAddress& local_ip, std::string& local_error) {
  LifetimeIo io{{}, local_ip, local_error};
  bool interrupted = false;
  for (;;) {
    if (g_interrupted && !interrupted) {
      interrupted = true;
      probe.interrupt(now_ms());
    }
    diag::LifetimeAction a = probe.next_action(now_ms());
    switch (a.kind) {
      case diag::LifetimeAction::Kind::Done: return;
      case diag::LifetimeAction::Kind::Open: lifetime_open(io, probe, a.socket); break;
      case diag::LifetimeAction::Kind::Close: io.socks.erase(a.socket); break;
      case diag::LifetimeAction::Kind::Send: lifetime_send(io, a); break;
      case diag::LifetimeAction::Kind::Wait: lifetime_wait(io, probe, a.until_ms); break;
    }
  }
}

int run_lifetime(const std::vector<std::string>& args) {
  int exit_code = kExitOk;
  auto opts = subcommand_options("lifetime", args, diag::parse_lifetime_args, diag::kLifetimeUsage, exit_code);
  if (!opts) return exit_code;
  const diag::LifetimeOptions& o = *opts;

  Endpoint server;
  IpAddress local_ip;
  if (int rc = resolve_target("lifetime", o.server, o.local_address, server, local_ip); rc != kExitOk) return rc;

  const int64_t t0 = now_ms();
  diag::LifetimeConfig cfg;
  cfg.server = server;
  cfg.min_ms = o.min_ms;
  cfg.max_ms = o.max_ms;
  cfg.precision_ms = o.precision_ms;
  cfg.parallel = o.parallel;
  cfg.split = std::min<uint32_t>(7, o.parallel);
  cfg.established = o.established;
  cfg.timeout_ms = o.timeout_ms;
  if (!o.quiet)
    cfg.progress = [t0](const std::string& line) {
      char stamp[32];
      std::snprintf(stamp, sizeof stamp, "[%6.1f s] ", static_cast<double>(now_ms() - t0) / 1000.0);
      std::cerr << stamp << line << "\n";
    };
  if (!o.quiet)
    std::cerr << "measuring how long the NAT keeps an idle UDP mapping, via " << server.to_string() << " from "
              << local_ip.to_string() << ": gaps " << diag::seconds_text(o.min_ms) << ".."
              << diag::seconds_text(o.max_ms) << " s to " << diag::seconds_text(o.precision_ms)
              << " s; this takes a few times the timeout (Ctrl-C stops with what is known)\n";

  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;  // a second Ctrl-C kills
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  diag::LifetimeProbe probe(cfg);
  std::string local_error;
  drive_lifetime(probe, local_ip, local_error);
  const diag::LifetimeReport& report = probe.report();

  nlohmann::ordered_json tags = nlohmann::ordered_json::object();
  for (const auto& [k, v] : o.tags) tags[k] = v;
  nlohmann::ordered_json j = {{"tool", "turnpike-diag " TURNPIKE_VERSION}, {"time", utc_now()}, {"tags", tags}};
  const nlohmann::ordered_json fields = diag::to_json(report);
  for (const auto& [k, v] : fields.items()) j[k] = v;
  const bool result = report.result == diag::LifetimeResult::Measured ||
                      report.result == diag::LifetimeResult::LongerThanMax;
  if (o.json) {
    std::cout << turnpike::safe_dump(j, 2) << "\n";
  } else {
    std::cout << diag::to_text(report);
    if (!o.tags.empty()) {
      std::cout << "\ntags:";
      for (const auto& [k, v] : o.tags) std::cout << " " << k << "=" << v;
      std::cout << "\n";
    }
    if (!result && !local_error.empty()) std::cout << "\nlocal error: " << local_error << "\n";
  }
  std::cout.flush();
  if (!result) {
    if (o.report) std::cerr << "turnpike-diag lifetime: nothing reported to " << o.report_url << ": no result\n";
    return kExitUnreachable;
  }
  if (o.report)
    return post_report("lifetime", *o.report, o.report_url, turnpike::safe_dump(j), opts->token,
                       o.cacert, o.json, kExitOk);
  return kExitOk;
}

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);
};
constexpr Command kCommands[] = {
    {"nat", "RFC 5780 NAT behaviour discovery from this site (mapping, filtering, hairpinning, ALG)", run_nat},
    {"lifetime", "how long the NAT keeps an idle UDP mapping (RFC 5780 4.6 idle timeout search)", run_lifetime},
};

void usage(std::ostream& os) {
  os << "usage: turnpike-diag COMMAND [options]\n       turnpike-diag COMMAND --help\n\ncommands:\n";
  for (const Command& c : kCommands) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "  %-10s", c.name);
    os << buf << c.summary << "\n";
  }
  os << "\nother: --help, --version\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(std::cerr);
    return kExitUsage;
  }
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    usage(std::cout);
    return kExitOk;
  }
  if (cmd == "--version") {
    std::cout << "turnpike-diag " TURNPIKE_VERSION "\n";
    return kExitOk;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const Command& c : kCommands)
    if (cmd == c.name) return c.run(args);
  std::cerr << "turnpike-diag: unknown command '" << cmd << "'\n\n";
  usage(std::cerr);
  return kExitUsage;
}
