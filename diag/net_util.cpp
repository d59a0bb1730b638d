#include "diag/net_util.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "common/sockaddr.hpp"
#include "diag/http_post.hpp"

namespace diag::net {

using turnpike::from_sockaddr;
using turnpike::to_sockaddr;

// The probes' clock (issue 16's convention): int64_t milliseconds of the steady clock.
int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

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

}  // namespace diag::net
