// turnpike: the server binary. Wires config, shards, the admin server and signals; owns no protocol.
#include <algorithm>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "common/json_text.hpp"
#include "common/sockaddr.hpp"
#include "server/admin.hpp"
#include "server/check_report.hpp"
#include "server/check_routes.hpp"
#include "server/allocation_record.hpp"
#include "server/capacity.hpp"
#include "server/config.hpp"
#include "server/heartbeat.hpp"
#include "server/drain_runner.hpp"
#include "server/event_log.hpp"
#include "server/ice_servers.hpp"
#include "server/io_guard.hpp"
#include "server/join_token.hpp"
#include "server/log.hpp"
#include "server/metrics.hpp"
#include "server/notify.hpp"
#include "server/quickstart.hpp"
#include "server/reload.hpp"
#include "server/sessions.hpp"
#include "server/sfu_host.hpp"
#include "server/sfu_policy.hpp"
#include "server/shard.hpp"

#ifndef TURNPIKE_VERSION
#define TURNPIKE_VERSION "0.0.0"
#endif

namespace {

const char* kUsage =
    "usage: turnpike [--config FILE]     run (without --config: the embedded default config)\n"
    "       turnpike --check-config FILE validate FILE and exit 0, or name the bad key and exit 2\n"
    "       turnpike --version\n"
    "       turnpike token --config FILE --room ROOM --identity ID [--ttl SECONDS] [--no-publish]\n"
    "                      [--no-subscribe]   print an SFU join token, the ICE servers and URLs (JSON)\n";

// SO_REUSEPORT would let us share a port with another process of the same user: refuse that by
// first binding the listener address exclusively.
void probe_exclusive(const turnpike::Config& c) {
  for (const auto& l : c.all_listeners()) {
    sockaddr_storage ss;
    socklen_t len = turnpike::to_sockaddr(l.endpoint, ss);
    bool stream = l.transport == turn::Transport::Tcp || l.transport == turn::Transport::Tls;
    int fd = ::socket(ss.ss_family, (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
    int one = 1;
    if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    // SO_REUSEADDR (without SO_REUSEPORT) still fails against a listening socket, but not against
    // TIME_WAIT connections a previous run left behind: a restart must not wait two minutes.
    if (stream) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = fd < 0 ? -1 : ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len);
    int e = errno;
    if (fd >= 0) ::close(fd);
    if (rc != 0)
      throw std::runtime_error(std::string("cannot listen on ") + turn::to_string(l.transport) + " " +
                               l.endpoint.to_string() + ": " + strerror(e));
  }
}

// Each TCP/TLS connection and relay socket is a descriptor: use all the hard limit allows.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// Copies of every shard's live allocations; nullopt if a shard does not answer within the limit.
std::optional<std::vector<turn::Allocation>> snapshot_all(const std::vector<std::unique_ptr<turnpike::Shard>>& shards) {
  constexpr auto kShardAnswer = std::chrono::seconds(2);
  std::vector<std::future<std::vector<turn::Allocation>>> futures;
  for (const auto& s : shards) futures.push_back(s->snapshot());
  std::vector<turn::Allocation> all;
  auto deadline = std::chrono::steady_clock::now() + kShardAnswer;
  for (auto& f : futures) {
    if (f.wait_until(deadline) != std::future_status::ready) return std::nullopt;
    try {
      auto part = f.get();
      for (auto& a : part) all.push_back(std::move(a));
    } catch (const std::future_error&) {
      return std::nullopt;  // the shard stopped before answering
    }
  }
  return all;
}

// POST /api/v1/call-reports (server/admin_call_reports.cpp): checked against the auth.* in force
// (a reload's new REST secrets and users count at once), counted in turnpike_calls_total. Called
// from the admin thread and the SFU's: SiteMap, LiveConfig and the metrics are thread-safe.
void wire_call_reports(turnpike::AdminBackend& b, turnpike::SharedState& shared) {
  using namespace turnpike;
  b.turn_credential_ok = [&shared](const std::string& username, const std::string& credential) {
    turn::Authenticator auth(shared.live.get()->auth);
    return auth.check_password(username, credential, now().unix_s) == turn::Authenticator::Lookup::Ok;
  };
  b.call_report = [&shared](const CallReport& r, const std::string& site) {
    shared.metrics.call_reported(r.path(), site, r.duration_s);
    log::debug("call_report", {log::str("path", to_string(r.path())), log::str("site", site),
                               log::num("duration_seconds", static_cast<int64_t>(r.duration_s))});
  };
  b.call_report_rejected = [&shared](const char* reason) { shared.metrics.call_report_rejected(reason); };
}

turnpike::AdminBackend admin_backend(const turnpike::Config& cfg, turnpike::SharedState& shared,
                                     const std::vector<std::unique_ptr<turnpike::Shard>>& shards,
                                     turnpike::Reload* reload) {
  using namespace turnpike;
  AdminBackend b;
  b.region = cfg.region;
  b.token = cfg.admin_token;
  b.state = [&shared]() -> const char* {
    switch (shared.state.load()) {
      case SharedState::State::Starting: return "starting";
      case SharedState::State::Ready: return "ready";
      case SharedState::State::Draining: return "draining";
    }
    return "starting";
  };
  b.allocations = [&shards] { return snapshot_all(shards); };
  b.site_of = [&shared](const turn::IpAddress& a) { return shared.sites.site_of(a); };
  b.site_label = [&shared](const std::string& site) { return shared.sites.label(site); };
  b.internal_error = [&shared] { shared.metrics.internal_error(Metrics::Component::Admin); };
  b.sites = [&shared] { return shared.idle_timers.to_json(); };
  b.lifetime_report = [&shared](std::optional<double> timeout, const std::string& site) {
    shared.idle_timers.measured(site, timeout, now().unix_s);
    log::info("lifetime_report", {log::str("site", site), log::str("timeout_seconds", timeout ? std::to_string(*timeout) : "longer than max")});
  };
  b.nat_report = [&shared](const std::string& mapping, const std::string& filtering, const std::string& site) {
    shared.metrics.nat_client(mapping, filtering, "active", site);
    log::info("nat_report", {log::str("mapping", mapping), log::str("filtering", filtering), log::str("site", site)});
  };
  wire_call_reports(b, shared);
  b.probe_report = [&shared](const ProbeReport& r, const std::string& site) {
    shared.probe_reports.record(site, r, now().unix_s);
    log::debug("probe_report", {log::str("site", site)});
  };
  b.probe_reports = [&shared] { return shared.probe_reports.to_json(now().unix_s); };
  b.record = [&cfg, &shared](const turn::Allocation& a) {
    auto regions = shared.regions();
    auto live = shared.live.get();
    return allocation_record(a, RecordContext{cfg.region, live->auth.realm, now(), std::nullopt, regions.get()});
  };
  b.reload = [reload] {
    auto r = reload->reload("api");
    return std::make_pair(r.status, r.body);
  };
  b.metrics = [&cfg, &shared, &shards] {
    std::vector<const turn::CoreStats*> cores;
    for (const auto& s : shards) cores.push_back(&s->stats());
    std::optional<std::vector<turn::Allocation>> per_allocation;
    size_t omitted = 0;
    if (cfg.metrics_per_allocation) {
      per_allocation = snapshot_all(shards);
      if (!per_allocation) per_allocation.emplace();  // a shard did not answer: export none this time
      omitted = keep_busiest(*per_allocation, cfg.metrics_per_allocation_limit);
    }
    return shared.metrics.render(cores, per_allocation ? &*per_allocation : nullptr, omitted, now().mono_ms) +
           draining_metric_text(shared.state.load() == SharedState::State::Draining) +
           shared.probe_reports.metrics_text();
  };
  // The pre-call check's reports (server/check_report.hpp): one table for both ports, its counters
  // after the rest of /metrics.
  b.check_reports = std::make_shared<CheckReports>(cfg.check.max_reports, cfg.check.reports_per_minute);
  b.metrics = [inner = std::move(b.metrics), checks = b.check_reports] { return inner() + checks->metrics_text(); };
  return b;
}

sfu::EngineConfig sfu_engine_config(const turnpike::Config& cfg, turnpike::SharedState& shared) {
  sfu::EngineConfig e;
  e.region = cfg.region;
  for (const auto& r : cfg.residency.regions) e.region_signal_urls[r.name] = r.signal_url;
  e.token_keys = cfg.sfu.token_keys;
  for (const auto& a : cfg.sfu.media_announce) e.candidates.push_back(turn::Endpoint{a, cfg.sfu.media_listen.port});
  e.max_participants_per_room = cfg.sfu.max_participants_per_room;
  e.max_retransmit_bytes_per_second = cfg.sfu.max_retransmit_bytes_per_second;
  e.max_retransmit_percent = cfg.sfu.max_retransmit_percent;
  e.simulcast = cfg.sfu.simulcast;
  e.resume_grace_ms = static_cast<int64_t>(cfg.sfu.resume_grace_s) * 1000;
  e.max_resumable = cfg.sfu.max_connections;  // detached participants: at most as many as connections
  e.start_unix_s = turnpike::now().unix_s;
  e.ice_servers = [&shared](const std::string& identity) {  // auth.rest_secrets as reloaded
    return turnpike::ice_servers_json(*shared.live.get(), identity, turnpike::now().unix_s);
  };
  e.stun_servers = turnpike::stun_endpoints(cfg);
  e.classify = [&shared](const turn::Endpoint& from) { return turnpike::classify_path(shared.relay_directory, from); };
  e.admit = [&shared](const turn::Endpoint& from) {
    auto regions = shared.regions();
    return turnpike::sfu_admission(regions.get(), shared.relay_directory, from);
  };
  e.draining = [&cfg, &shared]() -> std::optional<std::string> {
    if (shared.state.load() != turnpike::SharedState::State::Draining) return std::nullopt;
    return cfg.drain.signal_url;
  };
  return e;
}

// Passive NAT inference (sfu/nat_inference.hpp) classified a client's mapping: counted and logged.
void nat_inferred(turnpike::SharedState& s, const turn::IpAddress& client, const char* mapping,
                  const sfu::NatEvidence& e) {
  using namespace turnpike;
  // Passive inference sees the mapping only; filtering needs the server to send first.
  std::string site = s.sites.site_of(client);
  s.metrics.nat_client(mapping, "unknown", "passive", site);
  auto list = [](const auto& v, auto&& text) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : " ") + text(x);
    return out;
  };
  auto ep = [](const turn::Endpoint& x) { return x.to_string(); };
  log::info("nat_inferred",
            {log::str("client", client.to_string()), log::str("site", site), log::str("mapping", mapping),
             log::str("srflx", list(e.srflx, [](const sfu::ReflexiveCandidate& c) {
                        return c.address.to_string() + (c.base ? "<" + c.base->to_string() : "");
                      })),
             log::str("check_sources", list(e.check_sources, ep)), log::str("hosts", list(e.hosts, ep)),
             log::str("stun", list(e.stun_servers, ep)), log::str("media", e.media.to_string())});
}

// The SFU host (sfu.enabled), wired to the metrics. Throws if it cannot bind.
std::unique_ptr<turnpike::SfuHost> make_sfu_host(const turnpike::Config& cfg, turnpike::SharedState& shared) {
  using namespace turnpike;
  std::shared_ptr<boost::asio::ssl::context> signal_tls;
  if (cfg.sfu.signal_tls) signal_tls = shared.tls.current();
  auto host = std::make_unique<SfuHost>(cfg, sfu_engine_config(cfg, shared), signal_tls);
  shared.metrics.attach_sfu(&host->stats());
  host->attach_metrics(&shared.metrics);
  host->on_join_seconds = [&m = shared.metrics](double v) { m.sfu_join_seconds(v); };
  host->on_rtt_seconds = [&m = shared.metrics](const std::string& site, double v) { m.sfu_rtt_seconds(site, v); };
  host->on_loss_ratio = [&m = shared.metrics](const std::string& site, double v) { m.sfu_loss_ratio(site, v); };
  host->on_estimated_bitrate = [&m = shared.metrics](const std::string& site, double v) { m.sfu_estimated_bitrate(site, v); };
  host->site_of = [&shared](const turn::IpAddress& a) { return shared.sites.site_of(a); };
  host->on_site_session = [&m = shared.metrics](const std::string& site, sfu::Path from, sfu::Path to) {
    m.sfu_site_session(site, from, to);
  };
  host->on_nat_mapping = [&shared](const turn::IpAddress& client, const char* mapping, const sfu::NatEvidence& e) {
    nat_inferred(shared, client, mapping, e);
  };
  if (cfg.auth.rest_secrets.empty() && !cfg.embedded_default)  // the quick start: direct media on loopback
    log::warn("sfu_without_turn_credentials", {log::str("why", "auth.rest_secrets is empty: joins get no TURN servers")});
  return host;
}

// Everything the process runs: the shared state, the shards, and the optional admin server and SFU.
struct Node {
  std::unique_ptr<turnpike::SharedState> shared;
  std::vector<std::unique_ptr<turnpike::Shard>> shards;
  std::unique_ptr<turnpike::AdminServer> admin;
  std::unique_ptr<turnpike::SfuHost> sfu_host;
  turnpike::DrainRunner* drain = nullptr;  // set by serve() before the admin server starts
  std::unique_ptr<turnpike::Reload> reload;
  // Last: its timers go before the io_contexts they run on.
  std::unique_ptr<turnpike::Heartbeats> heartbeats;
};

// /healthz's heartbeats on every shard and the SFU thread, /readyz's verdict, the capacity
// metrics, and the test-only fault hook (TURNPIKE_TEST_FAULT_HOOKS=1).
void wire_health(Node& node, turnpike::AdminBackend* backend) {
  using namespace turnpike;
  SharedState& shared = *node.shared;
  node.heartbeats = std::make_unique<Heartbeats>();
  for (size_t i = 0; i < node.shards.size(); ++i) node.heartbeats->watch("shard-" + std::to_string(i), node.shards[i]->io());
  if (node.sfu_host) node.heartbeats->watch("sfu", node.sfu_host->io());
  shared.metrics.attach_capacity([&shared] { return capacity_families(capacity_facts(shared)); });
  if (!backend) return;
  backend->health = [h = node.heartbeats.get()] { return h->verdict(); };
  backend->readiness = [&shared] { return readiness_verdict(readiness_facts(shared)); };
  if (test_fault_hooks_enabled()) {
    log::warn("test_fault_hooks_enabled", {log::str("why", "TURNPIKE_TEST_FAULT_HOOKS=1: POST /api/v1/test/block is served")});
    backend->test_block = [h = node.heartbeats.get()](const std::string& c, std::chrono::milliseconds d) {
      return h->block(c, d);
    };
  }
}

// Loads the TLS/DTLS contexts and binds every listener. Throws (start-up) on failure.
void build_node(const turnpike::Config& cfg, const std::string& config_path, Node& node) {
  using namespace turnpike;
  SharedState& shared = *node.shared;
  if (!cfg.tls_cert.empty()) {
    shared.tls.set(TlsContexts::load(cfg.tls_cert, cfg.tls_key));
    shared.set_dtls(make_turn_dtls_context(cfg.tls_cert, cfg.tls_key));
  }
  probe_exclusive(cfg);
  for (unsigned i = 0; i < cfg.threads; ++i) {
    node.shards.push_back(std::make_unique<Shard>(i, shared));
    node.shards.back()->bind_listeners();
  }
  if (cfg.sfu.enabled) node.sfu_host = make_sfu_host(cfg, shared);
  node.reload = std::make_unique<Reload>(cfg, config_path, shared, node.shards, node.sfu_host.get());
  std::optional<AdminBackend> backend;
  if (!cfg.admin_listen_text.empty() || node.sfu_host) backend = admin_backend(cfg, shared, node.shards, node.reload.get());
  if (node.sfu_host)  // the signalling port takes call reports too: the port browsers can reach
    node.sfu_host->on_call_report = [b = *backend](const std::string& method, const std::string& body,
                                                   const turn::IpAddress& from) {
      return call_report_request(b, method, false, body, from);
    };
  if (node.sfu_host)  // the pre-call check: /check/config and the page's reports (docs/check.md)
    node.sfu_host->on_check = [b = *backend, &cfg](const CheckRequest& req) {
      auto mono = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
      return check_route_signal(cfg, b, req, now().unix_s, mono);
    };
  if (cfg.admin_listen_text.empty()) backend.reset();
  wire_health(node, backend ? &*backend : nullptr);
  if (backend) {
    backend->drain = [&node] { return node.drain ? node.drain->start("api") : nlohmann::json(); };
    backend->sessions = sessions_backend(node.shards, node.sfu_host.get());
    node.admin = std::make_unique<AdminServer>(cfg.admin_listen, std::move(*backend));
  }
}

// The "started" log line, the warnings the config earns, and the embedded default's banner.
void announce_started(const turnpike::Config& cfg) {
  using namespace turnpike;
  std::string listens;
  for (const auto& l : cfg.listen) listens += std::string(listens.empty() ? "" : " ") + turn::to_string(l.transport) + "://" + l.endpoint.to_string();
  log::info("started", {log::str("version", TURNPIKE_VERSION), log::str("region", cfg.region),
                        log::str("listen", listens), log::str("admin", cfg.admin_listen_text),
                        log::str("sfu", cfg.sfu.enabled ? cfg.sfu.signal_listen_text : ""),
                        log::num("threads", cfg.threads)});
  if (cfg.core.regions && cfg.core.regions->enabled() && cfg.auth.nonce_secret.empty() &&
      cfg.residency.foreign_clients == turn::ResidencyConfig::Foreign::Redirect)
    // Allowed (uclient starts afresh at the alternate), but browsers reuse the 300's nonce there.
    log::warn("nonce_secret_unset", {log::str("why", "browsers cannot follow a residency redirect unless every node "
                                                     "shares auth.nonce_secret (docs/residency.md)")});
  if (cfg.embedded_default) {
    std::fputs(quickstart_banner(cfg, TURNPIKE_VERSION, now().unix_s).c_str(), stdout);
    std::fflush(stdout);
  }
}

// Serves until SIGINT, or a drain (SIGTERM, POST /api/v1/drain) ends; SIGHUP reloads what can
// change live (server/reload.hpp; connections and allocations stay).
void serve(const turnpike::Config& cfg, Node& node) {
  using namespace turnpike;
  SharedState& shared = *node.shared;
  boost::asio::io_context main_io;
  DrainRunner drain(main_io, cfg, shared, node.shards, node.sfu_host.get());
  node.drain = &drain;
  drain.watch_signals();
  for (auto& s : node.shards) s->start_thread();
  if (node.admin) node.admin->start();
  if (node.sfu_host) node.sfu_host->start();
  auto starting = SharedState::State::Starting;  // a drain asked for already stays
  shared.state.compare_exchange_strong(starting, SharedState::State::Ready);
  announce_started(cfg);
  node.reload->start(main_io);
  notify::ready("serving in region " + cfg.region);  // listeners bound, SIGHUP armed
  run_guarded(main_io, "main", [&shared] { shared.metrics.internal_error(Metrics::Component::Main); });
  node.reload->stop();
  if (node.sfu_host) node.sfu_host->stop();
  for (auto& s : node.shards) s->stop(drain.end_reason());
  for (auto& s : node.shards) s->join();
  if (node.admin) node.admin->stop();
  node.drain = nullptr;
}

int run(turnpike::Config cfg, const std::string& config_path) {
  using namespace turnpike;
  log::configure(cfg.log_level, cfg.log_format);
  const auto& le = cfg.log_events;
  events::configure({le.per_second, le.burst, le.redact_users, le.redact_salt});  // docs/logs.md
  Node node;
  node.shared = std::make_unique<SharedState>(cfg);
  raise_fd_limit();
  try {
    build_node(cfg, config_path, node);
  } catch (const std::exception& e) {
    log::error("start_failed", {log::str("error", e.what())});
    std::fprintf(stderr, "turnpike: %s\n", e.what());
    return 1;
  }
  serve(cfg, node);
  log::info("stopped");
  return 0;
}

}  // namespace

// `turnpike token`: a join token signed with the newest sfu.token_keys entry, and what a client
// needs beside it. Exit 2 on bad arguments or config.
int token_command(const std::vector<std::string>& args) {
  std::string config_path, room, identity;
  int64_t ttl = 3600;
  bool publish = true, subscribe = true;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    bool has_value = i + 1 < args.size();
    if (a == "--config" && has_value) config_path = args[++i];
    else if (a == "--room" && has_value) room = args[++i];
    else if (a == "--identity" && has_value) identity = args[++i];
    else if (a == "--ttl" && has_value) {
      try {
        size_t used = 0;
        ttl = std::stoll(args[++i], &used);
        if (used != args[i].size() || ttl < 1 || ttl > 86400 * 30) throw std::invalid_argument("range");
      } catch (const std::exception&) {
        std::fprintf(stderr, "turnpike token: --ttl must be 1..2592000 seconds\n");
        return 2;
      }
    } else if (a == "--no-publish") publish = false;
    else if (a == "--no-subscribe") subscribe = false;
    else {
      std::fprintf(stderr, "turnpike token: unknown or incomplete argument '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (config_path.empty() || room.empty() || identity.empty()) {
    std::fprintf(stderr, "turnpike token: --config, --room and --identity are required\n%s", kUsage);
    return 2;
  }
  turnpike::Config cfg;
  try {
    cfg = turnpike::load_config_file(config_path);
  } catch (const turnpike::ConfigError& e) {
    std::fprintf(stderr, "turnpike: invalid config %s: %s\n", config_path.c_str(), e.what());
    return 2;
  }
  if (!cfg.sfu.enabled) {
    std::fprintf(stderr, "turnpike token: %s has no sfu section\n", config_path.c_str());
    return 2;
  }
  auto t = turnpike::make_join_token(cfg, {room, identity, ttl, publish, subscribe}, turnpike::now().unix_s);
  nlohmann::json out = {
      {"token", t.token},
      {"room", room},
      {"identity", identity},
      {"region", cfg.region},
      {"expires", t.expires},
      {"ice_servers", nlohmann::json::parse(turnpike::ice_servers_json(cfg, identity, turnpike::now().unix_s))},
      {"signal_url", t.signal_url},
      {"demo_url", t.demo_url},
  };
  std::printf("%s\n", turnpike::safe_dump(out, 2).c_str());
  return 0;
}

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "token") return token_command({args.begin() + 1, args.end()});
  std::string config_path;
  bool check = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--version") {
      std::printf("turnpike %s\n", TURNPIKE_VERSION);
      return 0;
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if ((a == "--config" || a == "--check-config") && i + 1 < args.size()) {
      check = check || a == "--check-config";
      config_path = args[++i];
    } else {
      std::fprintf(stderr, "turnpike: unknown argument '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  turnpike::Config cfg;
  try {
    cfg = config_path.empty() ? turnpike::embedded_default_config() : turnpike::load_config_file(config_path);
  } catch (const turnpike::ConfigError& e) {
    std::fprintf(stderr, "turnpike: invalid config %s: %s\n", config_path.c_str(), e.what());
    return 2;
  }
  if (check) {
    std::printf("turnpike: %s is valid\n", config_path.c_str());
    return 0;
  }
  return run(std::move(cfg), config_path);
}
