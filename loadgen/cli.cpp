// turnpike-loadgen's command line (cli.hpp): every option parsed and bounded, errors in one line.
#include "loadgen/cli.hpp"

#include <charconv>
#include <cmath>
#include <functional>
#include <map>

namespace loadgen {
namespace {

template <typename T>
bool parse_uint(std::string_view s, T& out, T lo, T hi) {
  uint64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc{} || r.ptr != s.data() + s.size()) return false;
  if (v < lo || v > hi) return false;
  out = static_cast<T>(v);
  return true;
}

bool parse_double(std::string_view s, double& out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size() && std::isfinite(out);
}

std::optional<turn::Transport> parse_transport(std::string_view s) {
  if (s == "udp") return turn::Transport::Udp;
  if (s == "tcp") return turn::Transport::Tcp;
  if (s == "tls") return turn::Transport::Tls;
  if (s == "dtls") return turn::Transport::Dtls;
  return std::nullopt;
}

// "20/s" or "20": calls per second, 0 = all at once.
bool parse_ramp(std::string_view s, double& out) {
  if (s.size() > 2 && s.substr(s.size() - 2) == "/s") s.remove_suffix(2);
  return parse_double(s, out) && out >= 0 && out <= 100000;
}

bool parse_steps(std::string_view s, std::vector<uint32_t>& out) {
  out.clear();
  while (true) {
    auto comma = s.find(',');
    uint32_t v = 0;
    if (!parse_uint<uint32_t>(s.substr(0, comma), v, 1, kMaxCalls)) return false;
    out.push_back(v);
    if (out.size() > kMaxSteps) return false;
    if (comma == std::string_view::npos) return true;
    s.remove_prefix(comma + 1);
  }
}

bool parse_locals(std::string_view s, std::vector<turn::IpAddress>& out) {
  out.clear();
  while (true) {
    auto comma = s.find(',');
    auto a = turn::IpAddress::parse(s.substr(0, comma));
    if (!a || out.size() >= kMaxLocals) return false;
    out.push_back(*a);
    if (comma == std::string_view::npos) return true;
    s.remove_prefix(comma + 1);
  }
}

struct Seen {
  bool calls = false, steps = false, duration = false, step_duration = false, server = false;
  uint32_t calls_n = 0;
};

using Handler = std::function<std::string(std::string_view, RunOptions&, Seen&)>;
using HandlerMap = std::map<std::string_view, Handler>;

// The server, how to reach it, and the credentials.
HandlerMap server_handlers() {
  return {
    {"--server", [](std::string_view v, RunOptions& o, Seen& s) -> std::string {
       s.server = true;
       return parse_server(v, o.server_host, o.server_port) ? "" : "--server: expected HOST[:PORT]";
     }},
    {"--transport", [](std::string_view v, RunOptions& o, Seen&) -> std::string {
       auto t = parse_transport(v);
       if (!t) return "--transport: expected udp, tcp, tls or dtls";
       o.transport = *t;
       return "";
     }},
    {"--user", [](std::string_view v, RunOptions& o, Seen&) -> std::string {
       o.user = v;
       return v.empty() || v.size() > 512 ? "--user: empty or longer than 512 bytes" : "";
     }},
    {"--password", [](std::string_view v, RunOptions& o, Seen&) -> std::string {
       o.password = v;
       return v.size() > 512 ? "--password: longer than 512 bytes" : "";
     }},
    {"--rest-secret", [](std::string_view v, RunOptions& o, Seen&) -> std::string {
       o.rest_secret = v;
       return v.empty() || v.size() > 512 ? "--rest-secret: empty or longer than 512 bytes" : "";
     }},
    {"--realm", [](std::string_view v, RunOptions& o, Seen&) -> std::string {
       o.realm = v;
       return v.size() > 763 ? "--realm: longer than 763 bytes" : "";
     }},
    {"--ca", [](std::string_view v, RunOptions& o, Seen&) -> std::string {
       o.ca_file = v;
       return v.empty() ? "--ca: expected a PEM file" : "";
     }},
    {"--relay-family", [](std::string_view v, RunOptions& o, Seen&) -> std::string {
       if (v != "ipv4" && v != "ipv6") return "--relay-family: expected ipv4 or ipv6";
       o.relay_v6 = v == "ipv6";
       return "";
     }},
    {"--lifetime", [](std::string_view v, RunOptions& o, Seen&) -> std::string {
       return parse_uint<uint32_t>(v, o.lifetime_s, 30, 3600) ? "" : "--lifetime: expected 30..3600 seconds";
     }},
  };
}

// The plan: how many calls, how fast, for how long, and this process's share.
HandlerMap plan_handlers() {
  return {
    {"--calls", [](std::string_view v, RunOptions&, Seen& s) -> std::string {
       s.calls = true;
       return parse_uint<uint32_t>(v, s.calls_n, 1, kMaxCalls)
                  ? "" : "--calls: expected 1.." + std::to_string(kMaxCalls);
     }},
    {"--ramp", [](std::string_view v, RunOptions& o, Seen&) -> std::string {
       return parse_ramp(v, o.plan.ramp_per_s) ? "" : "--ramp: expected calls per second, e.g. 20/s (0: all at once)";
     }},
    {"--steps", [](std::string_view v, RunOptions& o, Seen& s) -> std::string {
       s.steps = true;
       return parse_steps(v, o.plan.steps)
                  ? "" : "--steps: expected targets like 50,100,200 (each 1.." + std::to_string(kMaxCalls) +
                             ", at most " + std::to_string(kMaxSteps) + ")";
     }},
    {"--step-duration", [](std::string_view v, RunOptions& o, Seen& s) -> std::string {
       s.step_duration = true;
       auto d = parse_duration_ms(v);
       if (!d || *d <= 0) return "--step-duration: expected a duration like 30s, 5m, 500ms";
       o.plan.step_duration_ms = *d;
       return "";
     }},
    {"--duration", [](std::string_view v, RunOptions& o, Seen& s) -> std::string {
       s.duration = true;
       auto d = parse_duration_ms(v);
       if (!d) return "--duration: expected a duration like 30s, 5m, 1h, 500ms";
       o.plan.duration_ms = *d;
       return "";
     }},
    {"--max-duration", [](std::string_view v, RunOptions& o, Seen&) -> std::string {
       auto d = parse_duration_ms(v);
       if (!d || *d <= 0) return "--max-duration: expected a duration like 10m";
       o.plan.max_duration_ms = *d;
       return "";
     }},
    {"--shard", [](std::string_view v, RunOptions& o, Seen&) -> std::string {
       auto s = parse_shard(std::string(v));
       if (!s) return "--shard: expected K/N with 1 <= K <= N <= 1024";
       o.plan.shard_k = s->first;
       o.plan.shard_n = s->second;
       return "";
     }},
  };
}

// How the calls run and report: media, sockets, threads, bounds, the seed.
HandlerMap run_handlers() {
  return {
    {"--profile", [](std::string_view v, RunOptions& o, Seen&) -> std::string {
       auto p = parse_profile(v);
       if (!p) return "--profile: expected audio, video, mixed or none";
       o.profile = *p;
       return "";
     }},
    {"--report", [](std::string_view v, RunOptions& o, Seen&) -> std::string {
       o.report_dir = v;
       return v.empty() ? "--report: expected a directory" : "";
     }},
    {"--local", [](std::string_view v, RunOptions& o, Seen&) -> std::string {
       return parse_locals(v, o.locals) ? "" : "--local: expected numeric addresses, comma-separated (at most 64)";
     }},
    {"--threads", [](std::string_view v, RunOptions& o, Seen&) -> std::string {
       return parse_uint<uint32_t>(v, o.threads, 1, kMaxThreads) ? "" : "--threads: expected 1..64";
     }},
    {"--interval", [](std::string_view v, RunOptions& o, Seen&) -> std::string {
       auto d = parse_duration_ms(v);
       if (!d || *d < 100 || *d > 3600000) return "--interval: expected a duration from 100ms to 1h";
       o.interval_ms = *d;
       return "";
     }},
    {"--rtcp", [](std::string_view v, RunOptions& o, Seen&) -> std::string {
       auto d = parse_duration_ms(v);
       if (!d || *d < 100 || *d > 3600000) return "--rtcp: expected a duration from 100ms to 1h";
       o.rtcp_interval_ms = *d;
       return "";
     }},
    {"--mtu", [](std::string_view v, RunOptions& o, Seen&) -> std::string {
       return parse_uint<size_t>(v, o.max_packet, 200, 1400) ? "" : "--mtu: expected 200..1400 bytes";
     }},
    {"--max-pending", [](std::string_view v, RunOptions& o, Seen&) -> std::string {
       return parse_uint<uint32_t>(v, o.max_pending, 1, kMaxCalls) ? "" : "--max-pending: expected 1.." + std::to_string(kMaxCalls);
     }},
    {"--seed", [](std::string_view v, RunOptions& o, Seen&) -> std::string {
       return parse_uint<uint64_t>(v, o.seed, 0, UINT64_MAX) ? "" : "--seed: expected a number";
     }},
  };
}

// Each option that takes a value: what it sets, or the error text (empty: fine).
const HandlerMap& handlers() {
  static const HandlerMap h = [] {
    HandlerMap all = server_handlers();
    all.merge(plan_handlers());
    all.merge(run_handlers());
    return all;
  }();
  return h;
}

// The options that only make sense together, and the ones that must be there.
std::string check_run(RunOptions& o, const Seen& s) {
  if (!s.server) return "--server is required";
  bool lt = !o.user.empty() || !o.password.empty();
  if (lt && !o.rest_secret.empty()) return "--user/--password and --rest-secret are mutually exclusive";
  if (!lt && o.rest_secret.empty()) return "credentials are required: --user U --password P, or --rest-secret S";
  if (lt && (o.user.empty() || o.password.empty())) return "--user and --password go together";
  if (s.calls && s.steps) return "--calls and --steps are mutually exclusive (--steps gives the targets)";
  if (!s.calls && !s.steps) return "--calls N (or --steps 50,100,200) is required";
  if (!s.duration) return "--duration is required (the hold at the last step's target, e.g. 30s)";
  if (s.calls) o.plan.steps = {s.calls_n};
  if (o.plan.steps.size() > 1 && !s.step_duration) return "--steps with more than one step needs --step-duration";
  if (o.plan.steps.size() == 1) o.plan.step_duration_ms = 0;
  if (o.ca_file.size() && o.transport != turn::Transport::Tls && o.transport != turn::Transport::Dtls)
    return "--ca applies to --transport tls or dtls";
  int64_t total = o.plan.duration_ms + o.plan.step_duration_ms * static_cast<int64_t>(o.plan.steps.size());
  if (total > kMaxRunMs) return "the plan is longer than a week";
  return "";
}

CliResult parse_merge(const std::vector<std::string>& args) {
  CliResult r;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") return CliResult{CliResult::Kind::Help, {}, {}, {}};
    if (args[i] == "--report") {
      if (i + 1 >= args.size()) return r.error = "merge: --report needs a directory", r;
      r.merge.out_dir = args[++i];
    } else if (args[i].starts_with("--")) {
      return r.error = "merge: unknown option " + args[i], r;
    } else if (r.merge.inputs.size() >= 4096) {
      return r.error = "merge: more than 4096 inputs", r;
    } else {
      r.merge.inputs.push_back(args[i]);
    }
  }
  if (r.merge.out_dir.empty()) return r.error = "merge: --report OUT is required", r;
  if (r.merge.inputs.empty()) return r.error = "merge: at least one input report is required", r;
  r.kind = CliResult::Kind::Merge;
  return r;
}

}  // namespace

uint16_t RunOptions::default_port() const {
  return transport == turn::Transport::Tls || transport == turn::Transport::Dtls ? 5349 : 3478;
}

std::optional<int64_t> parse_duration_ms(std::string_view s) {
  struct Unit { std::string_view suffix; double ms; };
  static constexpr Unit units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
  double scale = 1000;
  for (const auto& u : units) {
    if (s.size() > u.suffix.size() && s.substr(s.size() - u.suffix.size()) == u.suffix) {
      scale = u.ms;
      s.remove_suffix(u.suffix.size());
      break;
    }
  }
  double v = 0;
  if (!parse_double(s, v) || v < 0) return std::nullopt;
  double ms = v * scale;
  if (ms > static_cast<double>(kMaxRunMs)) return std::nullopt;
  return static_cast<int64_t>(std::llround(ms));
}

bool parse_server(std::string_view s, std::string& host, uint16_t& port) {
  port = 0;
  if (s.empty() || s.size() > 255) return false;
  std::string_view h = s, p;
  if (s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    h = s.substr(1, close - 1);
    auto rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      p = rest.substr(1);
      if (p.empty()) return false;
    }
  } else if (auto colon = s.find(':'); colon != std::string_view::npos && s.find(':', colon + 1) == std::string_view::npos) {
    h = s.substr(0, colon);
    p = s.substr(colon + 1);
    if (p.empty()) return false;
  }
  if (h.empty()) return false;
  for (char c : h) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == ':' || c == '_' || c == '%';
    if (!ok) return false;
  }
  if (!p.empty() && !parse_uint<uint16_t>(p, port, 1, 65535)) return false;
  host = std::string(h);
  return true;
}

CliResult parse_cli(const std::vector<std::string>& args) {
  CliResult r;
  if (!args.empty() && args[0] == "merge") return parse_merge(args);
  if (args.empty()) return r.error = "no options given (see --help)", r;
  Seen seen;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") return CliResult{CliResult::Kind::Help, {}, {}, {}};
    if (a == "--version") return CliResult{CliResult::Kind::Version, {}, {}, {}};
    if (a == "--send") { r.run.use_send = true; continue; }
    if (a == "--quiet") { r.run.progress = false; continue; }
    std::string_view name = a, value;
    bool inline_value = false;
    if (auto eq = name.find('='); a.starts_with("--") && eq != std::string_view::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    auto h = handlers().find(name);
    if (h == handlers().end()) return r.error = "unknown option " + std::string(name) + " (see --help)", r;
    if (!inline_value) {
      if (i + 1 >= args.size()) return r.error = std::string(name) + " needs a value", r;
      value = args[++i];
    }
    if (auto e = h->second(value, r.run, seen); !e.empty()) return r.error = e, r;
  }
  if (auto e = check_run(r.run, seen); !e.empty()) return r.error = e, r;
  if (r.run.server_port == 0) r.run.server_port = r.run.default_port();
  r.kind = CliResult::Kind::Run;
  return r;
}

std::string usage() {
  return R"(turnpike-loadgen: calls through a TURN server (RFC 8656), measured.

usage:
  turnpike-loadgen --server HOST[:PORT] [--transport udp|tcp|tls|dtls]
                   (--user U --password P | --rest-secret S) [--realm R]
                   (--calls N [--ramp R/s] | --steps 50,100,200 --step-duration 30s [--ramp R/s])
                   --duration D [--max-duration D] [--profile audio|video|mixed|none]
                   [--report DIR] [--send] [--shard K/N] [--local ADDR,...] [--threads N]
                   [--interval 1s] [--max-pending N] [--ca FILE] [--mtu BYTES]
                   [--relay-family ipv4|ipv6] [--lifetime S] [--seed N] [--rtcp D] [--quiet]
  turnpike-loadgen merge --report OUT IN...      (IN: a report directory or a report.json)
  turnpike-loadgen sfu --signal ws://HOST:PORT/signal --region R ...   (synthetic SFU participants;
                   turnpike-loadgen sfu --help)
  turnpike-loadgen --help | --version

options (a value may also be given as --option=VALUE):
  --server HOST[:PORT]  the TURN server (a name or an address; [v6]:port; default port 3478,
                        5349 for tls and dtls)
  --transport T         udp (default), tcp, tls or dtls (certificates are not verified
                        unless --ca FILE is given)
  --user U --password P long-term credentials, or
  --rest-secret S       TURN REST credentials (username "<expiry>:loadgen<call>", password
                        base64(HMAC-SHA1(S, username)))
  --realm R             the realm expected (informational; the server's 401 gives the realm)
  --calls N             hold N calls (two allocations each, media both ways); at most 100000
  --ramp R/s            open R new calls per second (default 20/s; 0: all at once)
  --steps A,B,C         step targets (at most 64); each step lasts --step-duration, the last one
                        its ramp plus --duration
  --step-duration D     how long each step but the last lasts (needed with several steps)
  --duration D          how long to hold the last target (e.g. 30s, 5m, 1h, 500ms)
  --max-duration D      bounds the whole run (default: the plan plus 30s)
  --profile P           audio (default): Opus-like 50 packets/s; video: audio + 30 fps video
                        0.3-2.5 Mbit/s; mixed: 50% audio, 35% video, 15% screen share;
                        none: no media, each call's two allocations with their permission and
                        channel (or Send mode) set up and held (refreshed) until the plan ends
  --report DIR          write DIR/report.json, DIR/timeseries.csv, DIR/report.html
  --send                Send/Data indications instead of channels
  --shard K/N           run this process's share of the plan (call ids with id % N == K-1)
  --local A,B           bind the client sockets to these addresses, round-robin
  --threads N           event loops (default 1, at most 64); the process merges their reports
  --interval D          time-series interval and progress line period (default 1s)
  --max-pending N       at most N calls setting up at once, over all threads (default 500); the
                        plan's other calls wait their turn, so --ramp 0 never bursts thousands
                        of Allocates into the socket buffers at once
  --ca FILE             tls/dtls: verify the server's certificate against this PEM file
  --mtu BYTES           the largest media packet, RTP header included (200-1400, default 1200)
  --relay-family F      ipv4 (default) or ipv6: the relayed address family asked for
                        (REQUESTED-ADDRESS-FAMILY)
  --lifetime S          the allocation lifetime asked for (30-3600 s, default 600); refreshed
                        at half of what the server grants
  --seed N              the seed of everything drawn (media sizes, phases; default: the clock)
  --rtcp D              every D, each call-direction's receiver sends its sender a plain RTCP
                        receiver report (RFC 3550 6.4.2) through both relays: fraction lost,
                        cumulative lost, jitter as it measured them (report.json calls[].rtcp)
  --quiet               no progress lines
  --help, -h            this text; --version: the version

exit status: 0 the run completed with no failures and no breakpoint; 1 it completed with
failures or a breakpoint; 2 bad usage, or it could not run at all.
)";
}

}  // namespace loadgen
