// The socket and process helpers every `turnpike-diag` subcommand shares (main.cpp's nat and
// lifetime, probe_main.cpp's probe): the steady clock, name resolution, bound non-blocking sockets,
// the --report POST, option handling. The binary's side only: not part of turnpike_diag.
#pragma once
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include "diag/cli.hpp"
#include "diag/lifetime_probe.hpp"
#include "diag/nat_report.hpp"
#include "turn/address.hpp"

namespace diag::net {

using turn::Endpoint;
using turn::IpAddress;

constexpr int kExitOk = 0, kExitUnreachable = 1, kExitUsage = 2, kExitReportFailed = 3;

// The probes' clock (issue 16's convention): int64_t milliseconds of the steady clock.
int64_t now_ms();
int64_t now_us();  // the same clock in microseconds (probe rounds)
int family_of(const IpAddress& a);
// The server's address: a literal, or the first result of getaddrinfo (IPv4 first unless
// `family` asks for IPv6).
std::optional<IpAddress> resolve(const std::string& host, int family, std::string& error);
// The source address the kernel picks toward `server` (a connected UDP socket sends nothing).
std::optional<IpAddress> source_address_toward(const Endpoint& server);

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
Fd open_bound(int type, const Endpoint& local, Endpoint& bound, std::string& error);
std::string utc_now();
// POSTs a result to --report's URL; returns `rc`, or kExitReportFailed if it was kExitOk and the
// report failed.
int post_report(const char* cmd, const diag::Url& url, const std::string& url_text, const std::string& body,
                const std::optional<std::string>& token, const std::optional<std::string>& cacert, bool json, int rc);
// Where a subcommand probes to and from: the server resolved (in --local's family, if given) and
// the local address to bind: --local, else the source the kernel routes toward the server. An exit
// code other than kExitOk, with the reason printed, when that fails.
int resolve_target(const char* cmd, const diag::HostPort& spec, const std::optional<IpAddress>& local,
                   Endpoint& server, IpAddress& local_ip);

// One NAT behaviour run and one lifetime run on main.cpp's sockets, for `probe`'s slower intervals
// (blocking: probe_slow.cpp runs them on its worker thread). nullopt when the sockets cannot open.
std::optional<NatReport> run_nat_once(const Endpoint& server, const IpAddress& local_ip, uint32_t timeout_ms);
// `stop` set: the lifetime search ends at once with what it knows (as Ctrl-C does).
std::optional<LifetimeReport> run_lifetime_once(const LifetimeConfig& cfg, const IpAddress& local_ip,
                                                const std::atomic<bool>& stop);

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

}  // namespace diag::net

namespace diag {
// `turnpike-diag probe` (diag/probe_main.cpp).
int run_probe(const std::vector<std::string>& args);
}  // namespace diag
