// turnpike-loadgen: calls through a TURN server, measured (see docs/loadgen.md). Parses the
// command line (cli.hpp), runs one engine per thread over the socket driver (net_driver.hpp),
// shows progress, writes the reports and exits 0 (ok), 1 (failures or a breakpoint) or 2 (bad
// usage, or the run could not happen at all). `merge` combines the reports of shards.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "loadgen/cli.hpp"
#include "loadgen/engine.hpp"
#include "loadgen/net_driver.hpp"
#include "loadgen/net_sfu.hpp"
#include "loadgen/report.hpp"

#ifndef TURNPIKE_VERSION
#define TURNPIKE_VERSION "dev"
#endif

namespace {

using namespace loadgen;

net::Shared* g_shared = nullptr;

extern "C" void on_signal(int) {
  if (g_shared) g_shared->stop.store(true);
}

void install_signals(net::Shared& shared) {
  g_shared = &shared;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

// Raises the descriptor limit to the hard limit; an error when the plan needs more than that.
bool raise_nofile(uint64_t needed, std::string& error) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return true;
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur != RLIM_INFINITY && needed > rl.rlim_cur) {
    error = "the plan needs about " + std::to_string(needed) + " file descriptors (two per call); the limit is " +
            std::to_string(rl.rlim_cur) + " (raise `ulimit -n` or use --shard across processes)";
    return false;
  }
  return true;
}

bool write_file(const std::filesystem::path& p, const std::string& text, std::string& error) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) error = "cannot write " + p.string();
  return static_cast<bool>(f);
}

bool write_reports(const Report& r, const std::string& dir, std::string& error) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return error = "cannot create " + dir + ": " + ec.message(), false;
  std::filesystem::path d(dir);
  return write_file(d / "report.json", to_json(r).dump(2) + "\n", error) &&
         write_file(d / "timeseries.csv", to_csv(r), error) && write_file(d / "report.html", to_html(r), error);
}

std::string fixed(double v, int prec) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

// The end-of-run summary: totals, failures by code, the steps, the breakpoint and self-check.
void print_summary(const Report& r, std::ostream& os) {
  nlohmann::json j = to_json(r);
  const auto& t = j["totals"];
  os << "calls: " << t.value("calls", 0) << ", set up: " << t.value("setups_ok", 0) << ", failed: "
     << t.value("failures", 0) << "\n";
  os << "packets: sent " << t.value("sent", 0) << ", received " << t.value("received", 0) << ", lost "
     << t.value("lost", 0) << " (" << fixed(t.value("loss_pct", 0.0), 3) << "%), reordered "
     << t.value("reordered", 0) << ", duplicates " << t.value("duplicates", 0) << "\n";
  if (!j["failures"]["by_code"].empty()) os << "failures by code: " << j["failures"]["by_code"].dump() << "\n";
  for (const auto& s : j["steps"]) {
    os << "step " << s.value("index", 0) << " (" << s.value("target_calls", 0) << " calls): setup p95 "
       << (s.value("setups_ok", 0) ? fixed(s["setup_ms"].value("p95", 0.0), 1) + " ms" : std::string("no data"));
    if (s.value("directions", 0) == 0) {
      os << ", loss/jitter: no data";
    } else {
      os << ", loss p95 " << fixed(s["loss_pct"].value("p95", 0.0), 2) << "%, jitter p95 "
         << fixed(s["jitter_ms"].value("p95", 0.0), 1) << " ms";
    }
    os << ", rtt p50 "
       << (s.value("rtt_directions", 0) ? fixed(s["rtt_ms"].value("p50", 0.0), 1) + " ms" : std::string("no data")) << "\n";
  }
  if (j["breakpoint"].is_object()) {
    os << "breakpoint: step " << j["breakpoint"].value("step", 0) << " (" << j["breakpoint"].value("target_calls", 0)
       << " calls): ";
    for (const auto& why : j["breakpoint"]["reasons"]) os << why.get<std::string>() << "; ";
    os << "\n";
  }
  for (const auto& e : r.errors) os << "error: " << e << "\n";
  if (!r.self_check.trustworthy)
    for (const auto& why : r.self_check.reasons) os << "self-check: figures not trustworthy: " << why << "\n";
  os << "result: " << j.value("result", std::string("?")) << "\n";
}

int run_merge(const MergeOptions& m) {
  std::vector<Report> shards;
  for (const auto& in : m.inputs) {
    std::filesystem::path p(in);
    if (std::filesystem::is_directory(p)) p /= "report.json";
    std::ifstream f(p);
    if (!f) return std::cerr << "turnpike-loadgen merge: cannot read " << p.string() << "\n", 2;
    nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
    Report r;
    std::string error;
    if (j.is_discarded()) return std::cerr << "turnpike-loadgen merge: " << p.string() << ": not JSON\n", 2;
    if (!from_json(j, r, error)) return std::cerr << "turnpike-loadgen merge: " << p.string() << ": " << error << "\n", 2;
    shards.push_back(std::move(r));
  }
  Report out;
  std::string error;
  if (!merge(shards, out, error)) return std::cerr << "turnpike-loadgen merge: " << error << "\n", 2;
  if (!write_reports(out, m.out_dir, error)) return std::cerr << "turnpike-loadgen merge: " << error << "\n", 2;
  print_summary(out, std::cout);
  return exit_status(out);
}

struct Setup {
  net::SockAddr server;
  std::vector<net::SockAddr> locals;
  net::TlsContexts tls;
};

// Everything that can stop a run before it starts (exit 2): the address, local binds, OpenSSL.
bool prepare(const RunOptions& o, Setup& s, std::string& error) {
  int family = AF_UNSPEC;
  if (!o.locals.empty()) family = o.locals[0].is_v4() ? AF_INET : AF_INET6;
  bool stream = o.transport == turn::Transport::Tcp || o.transport == turn::Transport::Tls;
  if (!net::resolve(o.server_host, o.server_port, stream, family, s.server, error)) return false;
  for (const auto& a : o.locals) {
    if ((a.is_v4() ? AF_INET : AF_INET6) == s.server.family()) s.locals.push_back(net::to_sockaddr(a, 0));
  }
  if (!o.locals.empty() && s.locals.empty())
    return error = "no --local address of the server's family (" + std::string(s.server.family() == AF_INET ? "IPv4" : "IPv6") + ")", false;
  if (!turn::IpAddress::parse(o.server_host)) s.tls.server_name = o.server_host;
  bool tls = o.transport == turn::Transport::Tls, dtls = o.transport == turn::Transport::Dtls;
  if ((tls || dtls) && !s.tls.init(tls, dtls, o.ca_file, error)) return false;
  uint32_t max_calls = 0;
  for (uint32_t t : o.plan.steps) max_calls = std::max(max_calls, t);
  uint64_t mine = (max_calls + o.plan.shard_n - 1) / o.plan.shard_n;
  return raise_nofile(2 * mine + 64, error);
}

EngineConfig engine_config(const RunOptions& o, const std::string& command, int64_t start_unix, uint32_t thread) {
  EngineConfig c;
  c.plan = o.plan;
  // Thread t of shard K/N owns the ids id % N == K-1 with (id / N) % T == t, i.e. shard K + N*t of
  // N*T: together the threads own exactly the process's share, whatever --threads other processes use.
  c.plan.shard_n = o.plan.shard_n * o.threads;
  c.plan.shard_k = o.plan.shard_k + o.plan.shard_n * thread;
  c.profile = o.profile;
  c.transport = o.transport;
  c.user = o.user;
  c.password = o.password;
  c.rest_secret = o.rest_secret;
  c.start_unix = start_unix;
  c.use_channels = !o.use_send;
  c.relay_v6 = o.relay_v6;
  c.lifetime_s = o.lifetime_s;
  c.max_packet = o.max_packet;
  c.interval_ms = o.interval_ms;
  c.rtcp_interval_ms = o.rtcp_interval_ms;
  // --max-pending is for the process: each thread's engine gets its share (at least 1).
  c.max_pending = std::max<uint32_t>(1, (o.max_pending + o.threads - 1 - thread) / o.threads);
  c.seed = (o.seed ? o.seed : static_cast<uint64_t>(start_unix) * 2654435761ULL) + thread;
  c.meta = {{"version", TURNPIKE_VERSION}, {"command", command},
            {"server", o.server_host + ":" + std::to_string(o.server_port)}, {"threads", o.threads},
            {"realm", o.realm}, {"channels", !o.use_send}};
  return c;
}

// One line: calls up, throughput, loss, jitter, RTT, failures (summed or worst over threads).
std::string progress_line(const std::vector<Engine::Progress>& ps) {
  Engine::Progress a;
  double loss = 0;
  for (const auto& p : ps) {
    a.t_s = std::max(a.t_s, p.t_s);
    a.step = std::max(a.step, p.step);
    a.offered += p.offered;
    a.calls_up += p.calls_up;
    a.failures += p.failures;
    a.mbps += p.mbps;
    loss = std::max(loss, p.loss_pct);
    a.jitter_p95_ms = std::max(a.jitter_p95_ms, p.jitter_p95_ms);
    a.rtt_p50_ms = std::max(a.rtt_p50_ms, p.rtt_p50_ms);
    a.closing = a.closing || p.closing;
  }
  std::ostringstream os;
  os << fixed(a.t_s, 1) << "s step " << a.step << ": calls " << a.calls_up << "/" << a.offered << ", "
     << fixed(a.mbps, 2) << " Mbit/s, loss " << fixed(loss, 2) << "%, jitter p95 " << fixed(a.jitter_p95_ms, 1)
     << " ms, rtt p50 " << (a.rtt_p50_ms < 0 ? std::string("-") : fixed(a.rtt_p50_ms, 1) + " ms") << ", failures "
     << a.failures << (a.closing ? " (closing)" : "");
  return os.str();
}

struct Worker {
  std::unique_ptr<net::Loop> loop;
  std::unique_ptr<Engine> engine;
  Report report;
  std::string error;
  std::atomic<bool> finished{false};
};

// The threads' reports as one: merged (call ids are disjoint) with the process's shard restored.
// Errors and self-check reasons are labelled "thread t: " (not with the internal per-thread
// shard numbers merge would use).
bool combine(std::vector<std::unique_ptr<Worker>>& ws, const RunOptions& o, Report& out, std::string& error) {
  if (ws.size() == 1) {
    out = std::move(ws[0]->report);
  } else {
    std::vector<Report> parts;
    std::vector<std::string> errors, reasons;
    for (size_t t = 0; t < ws.size(); ++t) {
      Report& r = ws[t]->report;
      std::string label = "thread " + std::to_string(t) + ": ";
      for (auto& e : r.errors) errors.push_back(label + e);
      for (auto& why : r.self_check.reasons) reasons.push_back(label + why);
      r.errors.clear();
      r.self_check.reasons.clear();
      parts.push_back(std::move(r));
    }
    if (!merge(parts, out, error)) return false;
    out.meta.erase("merged_from");
    out.errors = std::move(errors);
    out.self_check.reasons = std::move(reasons);
  }
  out.meta["shard"] = {{"k", o.plan.shard_k}, {"n", o.plan.shard_n}};
  return true;
}

// One event loop and engine per --threads; false (with the reason) if a loop cannot start.
bool make_workers(const RunOptions& o, const std::string& command, Setup& setup, net::Shared& shared,
                  std::vector<std::unique_ptr<Worker>>& ws, std::string& error) {
  int64_t start_unix = static_cast<int64_t>(std::time(nullptr));
  try {
    for (uint32_t t = 0; t < o.threads; ++t) {
      auto w = std::make_unique<Worker>();
      w->loop = std::make_unique<net::Loop>(setup.server, setup.locals, o.transport, setup.tls, shared);
      w->engine = std::make_unique<Engine>(engine_config(o, command, start_unix, t), *w->loop);
      ws.push_back(std::move(w));
    }
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
  return true;
}

// Until every worker has finished: a progress line on stderr each time the first thread's clock
// moves (rewritten in place on a terminal), when `progress` (not --quiet).
void show_progress(std::vector<std::unique_ptr<Worker>>& ws, bool progress) {
  bool tty = isatty(STDERR_FILENO);
  double shown = -1;
  while (true) {
    bool all = true;
    for (auto& w : ws) all = all && w->finished.load();
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::vector<Engine::Progress> ps;
    for (auto& w : ws) ps.push_back(w->loop->progress());
    if (!progress || ps[0].t_s == shown || ps[0].t_s <= 0) continue;
    shown = ps[0].t_s;
    if (tty) std::cerr << "\r\033[K" << progress_line(ps) << std::flush;
    else std::cerr << progress_line(ps) << "\n";
  }
  if (tty && progress) std::cerr << "\n";
}

// Packets the loadgen counted as sent but could not hand to the kernel: its loss figures are off.
void note_send_drops(uint64_t drops, Report& report) {
  if (drops == 0) return;
  report.self_check.trustworthy = false;
  report.self_check.reasons.push_back(std::to_string(drops) +
                                      " packets could not be sent (socket buffers full): loss includes the loadgen's own");
}

int run_load(const RunOptions& o, const std::string& command) {
  Setup setup;
  std::string error;
  if (!prepare(o, setup, error)) return std::cerr << "turnpike-loadgen: " << error << "\n", 2;
  net::Shared shared;
  install_signals(shared);
  std::vector<std::unique_ptr<Worker>> ws;
  if (!make_workers(o, command, setup, shared, ws, error)) return std::cerr << "turnpike-loadgen: " << error << "\n", 2;
  std::vector<std::thread> threads;
  for (auto& wp : ws) {
    Worker* w = wp.get();
    threads.emplace_back([w] {
      if (w->loop->run(*w->engine, w->error)) w->report = w->engine->finish();
      w->finished.store(true);
    });
  }
  show_progress(ws, o.progress);
  for (auto& t : threads) t.join();
  for (auto& w : ws)
    if (!w->error.empty()) return std::cerr << "turnpike-loadgen: " << w->error << "\n", 2;
  uint64_t drops = 0;
  for (auto& w : ws) drops += w->loop->stats().send_drops;
  Report report;
  if (!combine(ws, o, report, error)) return std::cerr << "turnpike-loadgen: " << error << "\n", 2;
  note_send_drops(drops, report);
  print_summary(report, std::cout);
  if (!o.report_dir.empty()) {
    if (!write_reports(report, o.report_dir, error)) return std::cerr << "turnpike-loadgen: " << error << "\n", 2;
    std::cout << "reports: " << o.report_dir << "/report.json, timeseries.csv, report.html\n";
  }
  if (shared.stop.load()) std::cout << "stopped early by a signal\n";
  return exit_status(report);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // argv as given, with the secrets masked (the command goes into report.json).
  std::string command = "turnpike-loadgen";
  bool secret_next = false;
  for (const auto& a : args) {
    bool secret = a == "--password" || a == "--rest-secret" || a == "--token-secret";
    if (secret_next) command += " ***";
    else if (a.starts_with("--password=") || a.starts_with("--rest-secret=") || a.starts_with("--token-secret=")) command += " " + a.substr(0, a.find('=')) + "=***";
    else command += " " + a;
    secret_next = secret;
  }
  if (!args.empty() && args[0] == "sfu") return loadgen::net::run_sfu({args.begin() + 1, args.end()}, command);
  CliResult r = parse_cli(args);
  switch (r.kind) {
    case CliResult::Kind::Help:
      std::cout << usage();
      return 0;
    case CliResult::Kind::Version:
      std::cout << "turnpike-loadgen " << TURNPIKE_VERSION << "\n";
      return 0;
    case CliResult::Kind::Error:
      std::cerr << "turnpike-loadgen: " << r.error << "\n";
      return 2;
    case CliResult::Kind::Merge:
      return run_merge(r.merge);
    case CliResult::Kind::Run:
      break;
  }
  return run_load(r.run, command);
}
