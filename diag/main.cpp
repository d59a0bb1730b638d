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

#include <atomic>
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
#include "diag/net_util.hpp"
#include "turn/message.hpp"

#ifndef TURNPIKE_VERSION
#define TURNPIKE_VERSION "dev"
#endif

namespace {

using turn::Endpoint;
using turn::IpAddress;

// Shared with the probe subcommand (diag/net_util.hpp).
using diag::net::Fd;
using diag::net::kExitOk;
using diag::net::kExitUnreachable;
using diag::net::kExitUsage;
using diag::net::now_ms;
using diag::net::open_bound;
using diag::net::post_report;
using diag::net::resolve_target;
using diag::net::subcommand_options;
using diag::net::utc_now;
using turnpike::from_sockaddr;
using turnpike::to_sockaddr;

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
void drive_lifetime(diag::LifetimeProbe& probe, const IpAddress& local_ip, std::string& local_error,
                    const std::atomic<bool>* stop = nullptr) {
  LifetimeIo io{{}, local_ip, local_error};
  bool interrupted = false;
  for (;;) {
    if ((g_interrupted || (stop && stop->load())) && !interrupted) {
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
    {"probe", "continuous TURN path probes over UDP, TCP and TLS: setup, RTT, jitter, loss (a site's service)",
     diag::run_probe},
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

// The slower probes of `turnpike-diag probe` (diag/probe_slow.cpp), on the sockets above.
std::optional<diag::NatReport> diag::net::run_nat_once(const Endpoint& server, const IpAddress& local_ip,
                                                       uint32_t timeout_ms) {
  Io io;
  io.local_ip = local_ip;
  diag::NatProbeConfig cfg;
  cfg.server = server;
  cfg.tcp_port = server.port;
  cfg.timeout_ms = timeout_ms;
  std::string error;
  for (size_t i = 0; i < diag::kUdpSockets; ++i) {
    Endpoint bound;
    io.udp[i] = open_bound(SOCK_DGRAM, Endpoint{local_ip, 0}, bound, error);
    if (io.udp[i].fd < 0) return std::nullopt;
    if (!bound.address.is_unspecified()) cfg.local[i] = bound;
  }
  diag::NatProbe probe(cfg);
  drive(io, probe);
  return probe.report();
}

std::optional<diag::LifetimeReport> diag::net::run_lifetime_once(const diag::LifetimeConfig& cfg,
                                                                 const IpAddress& local_ip,
                                                                 const std::atomic<bool>& stop) {
  diag::LifetimeProbe probe(cfg);
  std::string local_error;
  drive_lifetime(probe, local_ip, local_error, &stop);
  return probe.report();
}

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
