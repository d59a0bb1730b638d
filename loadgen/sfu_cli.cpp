// `turnpike-loadgen sfu`'s command line (sfu_cli.hpp): every option parsed and bounded.
#include "loadgen/sfu_cli.hpp"

#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <optional>

#include "loadgen/cli.hpp"
#include "turn/address.hpp"

namespace loadgen::sfuload {
namespace {

template <typename T>
bool number(std::string_view s, T& out, T lo, T hi) {
  uint64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc{} || r.ptr != s.data() + s.size() || v < lo || v > hi) return false;
  out = static_cast<T>(v);
  return true;
}

// ws://HOST:PORT[/PATH]; wss:// is not spoken (the loadgen runs beside the SFU, on its own network).
bool parse_signal(std::string_view s, SfuOptions& o) {
  if (!s.starts_with("ws://")) return false;
  s.remove_prefix(5);
  auto slash = s.find('/');
  std::string_view hostport = s.substr(0, slash);
  o.signal_path = slash == std::string_view::npos ? "/signal" : std::string(s.substr(slash));
  return loadgen::parse_server(hostport, o.signal_host, o.signal_port) && o.signal_port != 0 &&
         o.signal_path.size() <= 256;
}

std::optional<int64_t> duration(std::string_view v, int64_t lo, int64_t hi) {
  auto d = loadgen::parse_duration_ms(v);
  if (!d || *d < lo || *d > hi) return std::nullopt;
  return d;
}

using Handler = std::function<std::string(std::string_view, SfuOptions&)>;
using Handlers = std::map<std::string_view, Handler>;

// Where the SFU is, the key, and the rooms.
Handlers signal_handlers() {
  return {
    {"--signal", [](std::string_view v, SfuOptions& o) -> std::string {
       return parse_signal(v, o) ? "" : "--signal: expected ws://HOST:PORT/PATH";
     }},
    {"--token-secret", [](std::string_view v, SfuOptions& o) -> std::string {
       o.token_secret = v;
       return v.empty() || v.size() > 512 ? "--token-secret: empty or longer than 512 bytes" : "";
     }},
    {"--token-secret-file", [](std::string_view v, SfuOptions& o) -> std::string {
       o.token_secret_file = v;
       return v.empty() ? "--token-secret-file: expected a file" : "";
     }},
    {"--token-secret-env", [](std::string_view v, SfuOptions& o) -> std::string {
       o.token_secret_env = v;
       return v.empty() ? "--token-secret-env: expected a variable name" : "";
     }},
    {"--region", [](std::string_view v, SfuOptions& o) -> std::string {
       o.run.region = v;
       return v.empty() || v.size() > 64 ? "--region: empty or longer than 64 bytes" : "";
     }},
    {"--room", [](std::string_view v, SfuOptions& o) -> std::string {
       o.run.room = v;
       return v.empty() || v.size() > 64 ? "--room: empty or longer than 64 bytes" : "";
     }},
    {"--rooms", [](std::string_view v, SfuOptions& o) -> std::string {
       return number<uint32_t>(v, o.run.rooms, 1, 100) ? "" : "--rooms: expected 1..100";
     }},
    {"--publishers", [](std::string_view v, SfuOptions& o) -> std::string {
       return number<uint32_t>(v, o.run.publishers, 1, 100) ? "" : "--publishers: expected 1..100";
     }},
    {"--subscribers-per-room", [](std::string_view v, SfuOptions& o) -> std::string {
       return number<uint32_t>(v, o.run.subscribers, 0, kMaxParticipants) ? "" : "--subscribers-per-room: expected 0..1000";
     }},
  };
}

// How long, how much media, how fast, what fails the run, where the report goes.
Handlers run_handlers() {
  return {
    {"--duration", [](std::string_view v, SfuOptions& o) -> std::string {
       auto d = duration(v, 100, kMaxDurationMs);
       if (d) o.run.duration_ms = *d;
       return d ? "" : "--duration: expected 100ms..10m";
     }},
    {"--connect-timeout", [](std::string_view v, SfuOptions& o) -> std::string {
       auto d = duration(v, 1000, 120'000);
       if (d) o.run.connect_timeout_ms = *d;
       return d ? "" : "--connect-timeout: expected 1s..2m";
     }},
    {"--drain", [](std::string_view v, SfuOptions& o) -> std::string {
       auto d = duration(v, 0, 10'000);
       if (d) o.run.drain_ms = *d;
       return d ? "" : "--drain: expected 0..10s";
     }},
  };
}

Handlers media_handlers() {
  return {
    {"--video-kbps", [](std::string_view v, SfuOptions& o) -> std::string {
       return number<uint32_t>(v, o.run.video_kbps, 16, 20'000) ? "" : "--video-kbps: expected 16..20000";
     }},
    {"--video-pps", [](std::string_view v, SfuOptions& o) -> std::string {
       return number<uint32_t>(v, o.run.video_pps, 1, 2'000) ? "" : "--video-pps: expected 1..2000";
     }},
    {"--join-rate", [](std::string_view v, SfuOptions& o) -> std::string {
       if (v.ends_with("/s")) v.remove_suffix(2);
       return number<uint32_t>(v, o.run.join_rate, 1, 10'000) ? "" : "--join-rate: expected 1..10000 per second";
     }},
    {"--max-loss-pct", [](std::string_view v, SfuOptions& o) -> std::string {
       double d = 0;
       auto r = std::from_chars(v.data(), v.data() + v.size(), d);
       bool ok = !v.empty() && r.ec == std::errc{} && r.ptr == v.data() + v.size() && std::isfinite(d) && d >= 0 && d <= 100;
       o.run.max_loss_pct = d;
       return ok ? "" : "--max-loss-pct: expected 0..100";
     }},
    {"--local", [](std::string_view v, SfuOptions& o) -> std::string {
       o.local = v;
       return turn::IpAddress::parse(v) ? "" : "--local: expected a numeric address";
     }},
    {"--report", [](std::string_view v, SfuOptions& o) -> std::string {
       o.report_dir = v;
       return v.empty() ? "--report: expected a directory" : "";
     }},
    {"--seed", [](std::string_view v, SfuOptions& o) -> std::string {
       return number<uint64_t>(v, o.run.seed, 1, UINT64_MAX) ? "" : "--seed: expected a positive integer";
     }},
  };
}

std::string check(const SfuOptions& o) {
  if (o.signal_host.empty()) return "--signal is required";
  if (o.run.region.empty()) return "--region is required (the SFU's region: tokens name it)";
  if (o.run.participants() > kMaxParticipants)
    return "--rooms x (--publishers + --subscribers-per-room) is " + std::to_string(o.run.participants()) +
           "; at most " + std::to_string(kMaxParticipants);
  if (uint64_t{o.run.video_kbps} * 125 / o.run.video_pps > 1100)
    return "--video-kbps / --video-pps makes packets over 1100 bytes: raise --video-pps";
  return "";
}

}  // namespace

SfuCliResult parse_sfu_cli(const std::vector<std::string>& args) {
  SfuCliResult r;
  auto table = signal_handlers();
  table.merge(run_handlers());
  table.merge(media_handlers());
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a == "--help" || a == "-h") return r.kind = SfuCliResult::Kind::Help, r;
    if (a == "--audio") { r.options.run.audio = true; continue; }
    if (a == "--quiet") { r.options.progress = false; continue; }
    std::string_view name = a.substr(0, a.find('=')), value;
    auto h = table.find(name);
    if (h == table.end()) return r.error = "sfu: unknown option " + std::string(name), r;
    if (name.size() < a.size()) {
      value = a.substr(name.size() + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return r.error = std::string(name) + ": expected a value", r;
    }
    if (std::string e = h->second(value, r.options); !e.empty()) return r.error = e, r;
  }
  if (std::string e = check(r.options); !e.empty()) return r.error = e, r;
  r.kind = SfuCliResult::Kind::Run;
  return r;
}

std::string sfu_usage() {
  return R"(usage: turnpike-loadgen sfu --signal ws://HOST:PORT/signal --region R [options]

Synthetic SFU participants (signalling, ICE, DTLS-SRTP, RTP/RTCP) against a running Turnpike SFU:
per room P publishers (VP8-shaped video, optionally Opus-shaped audio) and S subscribers who
subscribe to every publisher; then media for --duration, and a report of what every subscriber
received against what it should have. Exit 0 ok, 1 failures or loss over --max-loss-pct, 2 usage.

  --signal URL                ws://HOST:PORT/PATH of the SFU's signalling (required)
  --region R                  the SFU's region (tokens carry it; required)
  --token-secret-file F       an sfu.token_keys key, first line of F
  --token-secret-env NAME     ... or from this environment variable (default TURNPIKE_SFU_TOKEN_KEY)
  --token-secret K            ... or given here (visible in ps)
  --room R                    room name, or prefix R-1..R-N with --rooms (default loadgen)
  --rooms N                   1..100 (default 1)
  --publishers P              per room, 1..100 (default 1)
  --subscribers-per-room S    per room, 0..1000 (default 4); rooms x (P + S) <= 1000
  --duration D                media with everyone connected, 100ms..10m (default 10s)
  --video-kbps K              per publisher (default 500)
  --video-pps N               video packets per second per publisher (default 60)
  --audio                     publishers also send 50 packets/s of Opus-shaped audio
  --join-rate N/s             participants started per second (default 50)
  --connect-timeout D         join to SRTP keys, per participant (default 30s)
  --drain D                   after publishers stop, before counting (default 1s)
  --max-loss-pct X            a subscriber losing more fails the run (default 0)
  --local ADDR                the media sockets' address (default 0.0.0.0)
  --report DIR                write DIR/report.json
  --seed N                    SSRCs, ICE credentials and the like (default from the clock)
  --quiet                     no progress lines
)";
}

}  // namespace loadgen::sfuload
