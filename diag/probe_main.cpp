// `turnpike-diag probe`: a round every --every over each transport (PathRunner), its own /metrics
// (MetricsServer), each round printed (text or --json) and POSTed with --report; the NAT class and
// binding lifetime on their slower intervals (--nat-every, --lifetime-every) in a worker thread.
// One poll() loop; SIGINT/SIGTERM end it after the round in progress is abandoned.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <climits>
#include <ctime>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/json_text.hpp"
#include "diag/cli.hpp"
#include "diag/net_util.hpp"
#include "diag/probe_net.hpp"
#include "diag/probe_report.hpp"
#include "diag/probe_slow.hpp"
#include "turn/auth.hpp"
#include "turn/crypto.hpp"

#ifndef TURNPIKE_VERSION
#define TURNPIKE_VERSION "dev"
#endif

namespace diag {

namespace {

using net::Endpoint;
using net::IpAddress;

volatile sig_atomic_t g_stop = 0;
extern "C" void on_stop(int) { g_stop = 1; }

uint64_t random_seed() {
  std::array<uint8_t, 8> r{};
  turn::crypto::random_bytes(r);
  uint64_t v = 0;
  for (uint8_t b : r) v = v << 8 | b;
  return v;
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "unknown";
  std::string s;
  for (char c : std::string(buf).substr(0, 64))
    s += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return s;
}

struct Probe {
  ProbeOptions opts;
  Endpoint server;
  IpAddress local_ip;
  SSL_CTX* tls = nullptr;
  ProbeState state;
  std::vector<std::unique_ptr<net::PathRunner>> runners;  // the round in progress
  uint64_t round = 0;
  int64_t round_started_ms = 0;
  int rc = net::kExitOk;
  SlowProbes slow;

  PathProbeConfig path_config(turn::Transport t) const {
    PathProbeConfig c;
    c.transport = t;
    c.echoes = opts.echoes;
    c.timeout_ms = opts.timeout_ms;
    c.echo_wait_ms = std::min<int64_t>(1000, opts.timeout_ms);
    c.close_wait_ms = std::min<int64_t>(1000, opts.timeout_ms);
    if (opts.secret.empty()) {
      c.username = opts.user;
      c.password = opts.password;
    } else {  // TURN REST (RFC 7635-style usernames: "<expiry>:<name>"), valid for an hour
      c.username = std::to_string(std::time(nullptr) + 3600) + ":probe-" + state.site;
      c.password = turn::rest_password(opts.secret, c.username);
    }
    return c;
  }

  Endpoint endpoint_of(turn::Transport t) const {
    uint16_t port = t == turn::Transport::Tls ? opts.tls_port
                    : t == turn::Transport::Tcp ? opts.tcp_port.value_or(server.port) : server.port;
    return Endpoint{server.address, port};
  }

  void start_round(int64_t now_ms) {
    ++round;
    round_started_ms = now_ms;
    std::string sni = turn::IpAddress::parse(opts.server.host) ? std::string() : opts.server.host;
    for (turn::Transport t : opts.transports) {
      auto r = std::make_unique<net::PathRunner>(path_config(t), random_seed(), endpoint_of(t), local_ip, tls, sni);
      r->start(net::now_us());
      runners.push_back(std::move(r));
    }
  }

  void finish_round();
};

void Probe::finish_round() {
  std::vector<PathResult> results;
  for (const auto& r : runners) {
    results.push_back(r->result());
    state.record(r->result());
  }
  runners.clear();
  ProbeRoundInfo info{"turnpike-diag " TURNPIKE_VERSION, net::utc_now(), round, {{"site", state.site}}};
  for (const auto& kv : opts.tags) info.tags.push_back(kv);
  nlohmann::ordered_json j = round_json(info, results, state);
  if (opts.json) {
    std::cout << turnpike::safe_dump(j) << "\n";
  } else {
    std::cout << info.time << " round " << round << " (site " << state.site << ")\n";
    for (const auto& r : results) std::cout << "  " << to_text(r) << "\n";
  }
  std::cout.flush();
  if (opts.report) {
    int report_rc = net::post_report("probe", *opts.report, opts.report_url, turnpike::safe_dump(j), opts.token,
                                     opts.cacert, true, net::kExitOk);
    if (report_rc != net::kExitOk) rc = report_rc;
  }
}

// Waits for the sockets of the round, the /metrics clients, or the next deadline.
void wait_once(Probe& p, net::MetricsServer* metrics, int64_t until) {
  std::vector<pollfd> fds;
  std::vector<size_t> counts;
  for (const auto& r : p.runners) counts.push_back(r->add_pollfds(fds));
  size_t metrics_at = fds.size(), metrics_n = metrics ? metrics->add_pollfds(fds) : 0;
  int64_t now = net::now_us();
  int64_t until_us = until >= INT64_MAX / 1000 ? INT64_MAX : until * 1000;
  for (const auto& r : p.runners) until_us = std::min(until_us, r->next_timer_us());
  int wait = until_us > now ? static_cast<int>(std::min<int64_t>((until_us - now + 999) / 1000, 500)) : 0;
  int n = poll(fds.data(), fds.size(), wait);
  now = net::now_us();
  size_t at = 0;
  for (size_t i = 0; i < p.runners.size(); ++i) {
    if (n > 0) p.runners[i]->on_ready(fds.data() + at, counts[i], now);
    else p.runners[i]->pump(now);
    at += counts[i];
  }
  if (metrics) {
    if (n > 0) metrics->on_ready(fds.data() + metrics_at, metrics_n, now / 1000);
    metrics->expire(now / 1000);
  }
}

bool round_done(const Probe& p) {
  for (const auto& r : p.runners)
    if (!r->done()) return false;
  return true;
}

void run_loop(Probe& p, net::MetricsServer* metrics) {
  int64_t next_round = net::now_ms();
  while (!g_stop) {
    int64_t now = net::now_ms();
    p.slow.poll(p.state, now);
    if (p.runners.empty() && now >= next_round) {
      p.start_round(now);
      next_round += p.opts.every_ms;
      if (next_round <= now) next_round = now + p.opts.every_ms;  // a late round does not bunch up
    }
    if (!p.runners.empty() && round_done(p)) {
      p.finish_round();
      if (p.opts.rounds && p.round >= p.opts.rounds) return;
      continue;
    }
    wait_once(p, metrics, p.runners.empty() ? next_round : INT64_MAX);
  }
}

int probe_setup(Probe& p, std::optional<net::MetricsServer>& metrics) {
  const ProbeOptions& o = p.opts;
  if (int rc = net::resolve_target("probe", o.server, std::nullopt, p.server, p.local_ip); rc != net::kExitOk) return rc;
  std::string error;
  p.tls = net::make_probe_tls_ctx(o.cacert, error);
  if (!p.tls) {
    std::cerr << "turnpike-diag probe: " << error << "\n";
    return net::kExitUsage;
  }
  if (o.metrics_listen) {
    Endpoint at{*IpAddress::parse(o.metrics_listen->host), o.metrics_listen->port};
    net::Fd l = net::listen_tcp(at, error);
    if (l.fd < 0) {
      std::cerr << "turnpike-diag probe: --metrics-listen: " << error << "\n";
      return net::kExitUsage;
    }
    metrics.emplace(std::move(l), [&p] { return to_prometheus(p.state); });
  }
  p.slow.configure(o, p.server, p.local_ip);
  return net::kExitOk;
}

// The TURN secret or password from the environment (TURNPIKE_TURN_SECRET, TURNPIKE_TURN_PASSWORD)
// when the command line has neither: a service keeps them out of `ps`.
std::vector<std::string> with_env_credentials(std::vector<std::string> args) {
  for (const auto& a : args)
    if (a.starts_with("--secret") || a.starts_with("--password") || a == "--help" || a == "-h") return args;
  bool user = std::any_of(args.begin(), args.end(), [](const std::string& a) { return a.starts_with("--user"); });
  const char* secret = std::getenv("TURNPIKE_TURN_SECRET");
  const char* password = std::getenv("TURNPIKE_TURN_PASSWORD");
  if (user && password && *password) args.insert(args.end(), {"--password", password});
  else if (!user && secret && *secret) args.insert(args.end(), {"--secret", secret});
  return args;
}

}  // namespace

int run_probe(const std::vector<std::string>& given) {
  int exit_code = net::kExitOk;
  const std::vector<std::string> args = with_env_credentials(given);
  auto opts = net::subcommand_options("probe", args, parse_probe_args, kProbeUsage, exit_code);
  if (!opts) return exit_code;
  Probe p;
  p.opts = *opts;
  p.state.site = p.opts.site.empty() ? host_name() : p.opts.site;
  std::optional<net::MetricsServer> metrics;
  if (int rc = probe_setup(p, metrics); rc != net::kExitOk) {
    if (p.tls) SSL_CTX_free(p.tls);
    return rc;
  }
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::cerr << "turnpike-diag probe: " << p.server.to_string() << " every " << seconds_text(p.opts.every_ms)
            << " s, site " << p.state.site
            << (metrics ? ", metrics on http://" + p.opts.metrics_listen->host + ":" +
                              std::to_string(p.opts.metrics_listen->port) + "/metrics"
                        : std::string())
            << "\n";
  run_loop(p, metrics ? &*metrics : nullptr);
  p.runners.clear();
  if (!p.slow.stop()) {  // a NAT run still on its sockets: exit without tearing down under it
    std::cout.flush();
    std::cerr.flush();
    std::_Exit(p.rc);
  }
  SSL_CTX_free(p.tls);
  return p.rc;
}

}  // namespace diag
