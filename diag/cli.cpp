#include "diag/cli.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <span>
#include <string_view>

#include "diag/lifetime_probe.hpp"  // seconds_text

namespace diag {

const char* const kNatUsage =
    "usage: turnpike-diag nat --server HOST[:PORT] [options]\n"
    "\n"
    "Runs the RFC 5780 NAT behaviour tests against a STUN server from where it stands: mapping and\n"
    "filtering behaviour, hairpinning, ALG presence, UDP reachability (with a TCP fallback), and\n"
    "prints a verdict beside the classic RFC 3489 NAT type.\n"
    "\n"
    "options:\n"
    "  --server HOST[:PORT]  STUN/TURN server (port 3478 by default); it needs two IP addresses\n"
    "                        and an alternate port (OTHER-ADDRESS) for the mapping and filtering tests\n"
    "  --json                print one JSON object instead of text\n"
    "  --timeout-ms N        budget of each test, retransmissions included (default 3000)\n"
    "  --tcp-port N          port of the STUN-over-TCP fallback (default: the UDP port)\n"
    "  --local ADDR[:PORT]   local address to bind (default: the one routed to the server)\n"
    "  --report URL          POST the JSON result to URL (http:// or https://), e.g.\n"
    "                        http://turnpike:9641/api/v1/nat-reports\n"
    "  --tag KEY=VALUE       label the result (repeatable, at most 16; 1-64 characters of letters,\n"
    "                        digits, - _ . / :), e.g. --tag site=lyon --tag room=3b\n"
    "  --token T             bearer token for --report (default: $TURNPIKE_ADMIN_TOKEN)\n"
    "  --cacert FILE         CA certificates to verify an https:// report URL (default: the system's)\n"
    "  --help                this text\n"
    "\n"
    "exit status: 0 a result was produced (even \"UDP blocked\"), 1 neither UDP nor TCP reaches the\n"
    "server, 2 usage error, 3 the result was produced but --report failed.\n";

const char* const kLifetimeUsage =
    "usage: turnpike-diag lifetime --server HOST[:PORT] [options]\n"
    "\n"
    "Measures how long the NAT (or stateful firewall) in front of this host keeps an idle UDP\n"
    "mapping (RFC 5780 4.6): sockets make mappings with a Binding request and stay silent for a\n"
    "gap; another socket then asks the server (RESPONSE-PORT) to answer to the first one's public\n"
    "port. Gaps run in parallel, a fresh mapping each, and are narrowed down to the precision.\n"
    "It takes a few times the timeout (at least --max when mappings outlive it); progress goes to\n"
    "stderr.\n"
    "\n"
    "options:\n"
    "  --server HOST[:PORT]  STUN/TURN server with RFC 5780 RESPONSE-PORT (port 3478 by default);\n"
    "                        on Turnpike: nat_discovery enabled\n"
    "  --json                print one JSON object instead of text\n"
    "  --min S               shortest gap of the first round (default 1 s)\n"
    "  --max S               longest gap; a mapping surviving it is \"longer than max\" (default 600 s)\n"
    "  --precision S         stop when the timeout is bracketed this tightly (default 0.5 s); the\n"
    "                        result is the bracket's midpoint\n"
    "                        (durations: seconds, or with a unit: 0.5, 90, 2m, 500ms)\n"
    "  --parallel N          trial sockets open at once, 1..64 (default 10; one more checks them)\n"
    "  --established         make each mapping an established flow (a second Binding after 2.5 s)\n"
    "                        before the silence, as media flows are; Linux gives those its longer\n"
    "                        \"stream\" UDP timeout\n"
    "  --timeout-ms N        budget of each Binding exchange, retransmissions included (default 3000)\n"
    "  --local ADDR          local address to bind (default: the one routed to the server)\n"
    "  --quiet               no progress on stderr\n"
    "  --report URL          POST the JSON result to URL (http:// or https://), e.g.\n"
    "                        http://turnpike:9641/api/v1/lifetime-reports\n"
    "  --tag KEY=VALUE       label the result (repeatable, at most 16), e.g. --tag site=lyon\n"
    "  --token T             bearer token for --report (default: $TURNPIKE_ADMIN_TOKEN)\n"
    "  --cacert FILE         CA certificates to verify an https:// report URL (default: the system's)\n"
    "  --help                this text\n"
    "\n"
    "exit status: 0 a result (a timeout, or longer than max), 1 no result (the server does not\n"
    "answer, refuses or ignores RESPONSE-PORT, or its answers cannot reach the mapping), 2 usage\n"
    "error, 3 the result was produced but --report failed.\n";

namespace {
std::optional<uint32_t> parse_uint(std::string_view s, uint32_t min, uint32_t max) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v < min || v > max) return std::nullopt;
  return v;
}

// Tag names and values as Turnpike's admin API takes them (POST /api/v1/nat-reports).
bool valid_label(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' && c != '/' && c != ':')
      return false;
  return true;
}

bool valid_host(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h)
    if (c <= ' ' || c == '/' || c == '@' || c == '?' || c == '#' || c == '[' || c == ']' || c == 0x7f) return false;
  return true;
}
}  // namespace

std::optional<HostPort> parse_host_port(std::string_view text, uint16_t default_port) {
  HostPort hp{std::string(), default_port};
  std::string_view host = text, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
      if (port.empty()) return std::nullopt;
    }
    if (!turn::IpAddress::parse(host)) return std::nullopt;
  } else if (auto colon = text.find(':'); colon != std::string_view::npos) {
    if (text.find(':', colon + 1) != std::string_view::npos) {
      // More than one colon: a bare IPv6 literal, no port.
      if (!turn::IpAddress::parse(text)) return std::nullopt;
    } else {
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
  }
  if (!valid_host(host)) return std::nullopt;
  if (!port.empty()) {
    auto p = parse_uint(port, 1, 65535);
    if (!p) return std::nullopt;
    hp.port = static_cast<uint16_t>(*p);
  }
  hp.host = std::string(host);
  return hp;
}

std::optional<Url> parse_url(std::string_view text) {
  Url u;
  if (text.starts_with("http://")) { u.scheme = "http"; text.remove_prefix(7); }
  else if (text.starts_with("https://")) { u.scheme = "https"; text.remove_prefix(8); }
  else return std::nullopt;
  auto slash = text.find_first_of("/?#");
  std::string_view authority = text.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(text.substr(slash));
  if (u.target.front() != '/') u.target.insert(0, "/");
  if (auto hash = u.target.find('#'); hash != std::string::npos) u.target.erase(hash);
  if (authority.find('@') != std::string_view::npos) return std::nullopt;  // no userinfo: use --token
  auto hp = parse_host_port(authority, u.scheme == "https" ? 443 : 80);
  if (!hp) return std::nullopt;
  u.host = hp->host;
  u.port = hp->port;
  for (char c : u.target)
    if (c <= ' ' || c == 0x7f) return std::nullopt;
  return u;
}

namespace {
// Walks the arguments of a subcommand: "--name value", "--name=value" and flags. For each option
// (in `name`), `handle(known)` uses flag() or take() (which set `error` on a misuse) and returns
// false on a usage error; it sets `known` to false for an option it does not have.
struct Walker {
  Walker(const std::vector<std::string>& a, std::string& e) : args(a), error(e) {}
  const std::vector<std::string>& args;
  std::string& error;
  size_t i = 0;
  std::string name, value;
  bool inline_value = false;

  bool flag() {
    if (inline_value) { error = name + " takes no value"; return false; }
    return true;
  }
  bool take() {
    if (inline_value) return true;
    if (i + 1 >= args.size()) { error = name + " needs a value"; return false; }
    value = args[++i];
    return true;
  }
  template <typename F>
  bool run(F&& handle) {
    for (i = 0; i < args.size(); ++i) {
      name = args[i];
      value.clear();
      inline_value = false;
      if (!name.starts_with("--")) {
        error = "unexpected argument '" + name + "'";
        return false;
      }
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        inline_value = true;
      }
      bool known = true;
      if (!handle(known)) return false;
      if (!known) {
        error = "unknown option '" + name + "'";
        return false;
      }
    }
    return true;
  }
};

// An option table: each option's name (and short alias), and its handler, which uses the
// walker's flag() or take() and returns false on a usage error (w.error set).
template <typename Options>
struct OptionSpec {
  std::string_view name, alias;
  bool (*handle)(Walker& w, Options& o);
};

// Options shared by every subcommand: --help, --json, --server, --timeout-ms, and the --report group.
template <typename Options>
bool help_option(Walker& w, Options& o) {
  if (!w.flag()) return false;
  o.help = true;
  return true;
}

template <typename Options>
bool json_option(Walker& w, Options& o) {
  if (!w.flag()) return false;
  o.json = true;
  return true;
}

template <typename Options>
bool server_option(Walker& w, Options& o) {
  if (!w.take()) return false;
  auto hp = parse_host_port(w.value, 3478);
  if (!hp) { w.error = "--server: '" + w.value + "' is not HOST[:PORT]"; return false; }
  o.server = *hp;
  return true;
}

template <typename Options>
bool timeout_option(Walker& w, Options& o) {
  if (!w.take()) return false;
  auto v = parse_uint(w.value, 10, 600000);
  if (!v) { w.error = "--timeout-ms: '" + w.value + "' is not a number of milliseconds in 10..600000"; return false; }
  o.timeout_ms = *v;
  return true;
}

template <typename Options>
bool report_option(Walker& w, Options& o) {
  if (!w.take()) return false;
  o.report = parse_url(w.value);
  if (!o.report) { w.error = "--report: '" + w.value + "' is not an http:// or https:// URL"; return false; }
  o.report_url = w.value;
  return true;
}

template <typename Options>
bool tag_option(Walker& w, Options& o) {
  if (!w.take()) return false;
  const std::string& value = w.value;
  auto eq = value.find('=');
  if (eq == std::string::npos || eq == 0) { w.error = "--tag: '" + value + "' is not KEY=VALUE"; return false; }
  std::string key = value.substr(0, eq), val = value.substr(eq + 1);
  if (!valid_label(key) || !valid_label(val)) {
    w.error = "--tag: '" + value + "': names and values are 1-64 characters of letters, digits, - _ . / :";
    return false;
  }
  if (o.tags.size() == kMaxTags) { w.error = "--tag: at most " + std::to_string(kMaxTags) + " tags"; return false; }
  for (const auto& [k, v] : o.tags)
    if (k == key) { w.error = "--tag: '" + key + "' given twice"; return false; }
  o.tags.emplace_back(key, val);
  return true;
}

template <typename Options>
bool token_option(Walker& w, Options& o) {
  if (!w.take()) return false;
  if (w.value.empty()) { w.error = "--token: empty"; return false; }
  o.token = w.value;
  return true;
}

template <typename Options>
bool cacert_option(Walker& w, Options& o) {
  if (!w.take()) return false;
  o.cacert = w.value;
  return true;
}

template <typename Options>
constexpr OptionSpec<Options> kCommonOptions[] = {
    {"--help", "-h", help_option<Options>},
    {"--json", {}, json_option<Options>},
    {"--server", {}, server_option<Options>},
    {"--timeout-ms", {}, timeout_option<Options>},
    {"--report", {}, report_option<Options>},
    {"--tag", {}, tag_option<Options>},
    {"--token", {}, token_option<Options>},
    {"--cacert", {}, cacert_option<Options>},
};

// Runs the handler of w.name from `table`; `known` false when the table does not have it.
template <typename Options>
bool dispatch(Walker& w, Options& o, std::span<const OptionSpec<Options>> table, bool& known) {
  for (const OptionSpec<Options>& spec : table)
    if (w.name == spec.name || (!spec.alias.empty() && w.name == spec.alias)) return spec.handle(w, o);
  known = false;
  return true;
}

// Walks `args` through the common options and then the subcommand's own `table`.
template <typename Options>
bool parse_options(const std::vector<std::string>& args, std::string& error, Options& o,
                   std::span<const OptionSpec<Options>> table) {
  Walker w{args, error};
  return w.run([&](bool& known) {
    if (!dispatch<Options>(w, o, kCommonOptions<Options>, known)) return false;
    if (known) return true;
    known = true;
    return dispatch(w, o, table, known);
  });
}

bool nat_tcp_port(Walker& w, NatOptions& o) {
  if (!w.take()) return false;
  auto v = parse_uint(w.value, 1, 65535);
  if (!v) { w.error = "--tcp-port: '" + w.value + "' is not a port (1..65535)"; return false; }
  o.tcp_port = static_cast<uint16_t>(*v);
  return true;
}

bool nat_local(Walker& w, NatOptions& o) {
  if (!w.take()) return false;
  auto hp = parse_host_port(w.value, 0);
  auto ip = hp ? turn::IpAddress::parse(hp->host) : std::nullopt;
  if (!ip) { w.error = "--local: '" + w.value + "' is not an IP address, with an optional :PORT"; return false; }
  o.local_address = ip;
  o.local_port = hp->port;
  return true;
}

constexpr OptionSpec<NatOptions> kNatOptions[] = {{"--tcp-port", {}, nat_tcp_port}, {"--local", {}, nat_local}};
}  // namespace

std::optional<NatOptions> parse_nat_args(const std::vector<std::string>& args, std::string& error) {
  NatOptions o;
  if (!parse_options<NatOptions>(args, error, o, kNatOptions)) return std::nullopt;
  // parse_host_port never yields an empty host: an empty one means no --server.
  if (!o.help && o.server.host.empty()) {
    error = "--server HOST[:PORT] is required";
    return std::nullopt;
  }
  return o;
}

std::optional<uint32_t> parse_duration_ms(std::string_view text) {
  // DIGITS[.DIGITS][ms|s|m|h]: seconds unless a unit says otherwise; at most millisecond precision.
  uint64_t scale = 1000;
  if (text.ends_with("ms")) { scale = 1; text.remove_suffix(2); }
  else if (text.ends_with("s")) { text.remove_suffix(1); }
  else if (text.ends_with("m")) { scale = 60000; text.remove_suffix(1); }
  else if (text.ends_with("h")) { scale = 3600000; text.remove_suffix(1); }
  auto dot = text.find('.');
  std::string_view whole = text.substr(0, dot), frac = dot == std::string_view::npos ? "" : text.substr(dot + 1);
  if (whole.empty() || whole.size() > 7 || (dot != std::string_view::npos && (frac.empty() || frac.size() > 6)))
    return std::nullopt;
  uint64_t w = 0, f = 0, fscale = 1;
  for (char c : whole) {
    if (c < '0' || c > '9') return std::nullopt;
    w = w * 10 + uint64_t(c - '0');
  }
  for (char c : frac) {
    if (c < '0' || c > '9') return std::nullopt;
    f = f * 10 + uint64_t(c - '0');
    fscale *= 10;
  }
  uint64_t ms = w * scale + (f * scale + fscale / 2) / fscale;
  if (ms > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(ms);
}

namespace {
// A duration option within [lo_ms, hi_ms] (seconds, or with a unit).
bool duration_option(Walker& w, uint32_t& out, uint32_t lo_ms, uint32_t hi_ms) {
  if (!w.take()) return false;
  auto v = parse_duration_ms(w.value);
  if (!v || *v < lo_ms || *v > hi_ms) {
    w.error = w.name + ": '" + w.value + "' is not a duration in " + seconds_text(lo_ms) + ".." + seconds_text(hi_ms) +
              " s (e.g. 30, 0.5, 2m, 500ms)";
    return false;
  }
  out = *v;
  return true;
}

bool lifetime_min(Walker& w, LifetimeOptions& o) { return duration_option(w, o.min_ms, 50, 3600000); }
bool lifetime_max(Walker& w, LifetimeOptions& o) { return duration_option(w, o.max_ms, 100, 3600000); }
bool lifetime_precision(Walker& w, LifetimeOptions& o) { return duration_option(w, o.precision_ms, 10, 60000); }

bool lifetime_parallel(Walker& w, LifetimeOptions& o) {
  if (!w.take()) return false;
  auto v = parse_uint(w.value, 1, 64);
  if (!v) { w.error = "--parallel: '" + w.value + "' is not a number of sockets in 1..64"; return false; }
  o.parallel = *v;
  return true;
}

bool lifetime_established(Walker& w, LifetimeOptions& o) {
  if (!w.flag()) return false;
  o.established = true;
  return true;
}

bool lifetime_quiet(Walker& w, LifetimeOptions& o) {
  if (!w.flag()) return false;
  o.quiet = true;
  return true;
}

bool lifetime_local(Walker& w, LifetimeOptions& o) {
  if (!w.take()) return false;
  auto ip = turn::IpAddress::parse(w.value);
  if (!ip) {
    w.error = "--local: '" + w.value + "' is not an IP address (the ports are picked by the system)";
    return false;
  }
  o.local_address = ip;
  return true;
}

constexpr OptionSpec<LifetimeOptions> kLifetimeOptions[] = {
    {"--min", {}, lifetime_min},
    {"--max", {}, lifetime_max},
    {"--precision", {}, lifetime_precision},
    {"--parallel", {}, lifetime_parallel},
    {"--established", {}, lifetime_established},
    {"--quiet", "-q", lifetime_quiet},
    {"--local", {}, lifetime_local},
};
}  // namespace

std::optional<LifetimeOptions> parse_lifetime_args(const std::vector<std::string>& args, std::string& error) {
  LifetimeOptions o;
  if (!parse_options<LifetimeOptions>(args, error, o, kLifetimeOptions)) return std::nullopt;
  if (o.help) return o;
  // parse_host_port never yields an empty host: an empty one means no --server.
  if (o.server.host.empty()) {
    error = "--server HOST[:PORT] is required";
    return std::nullopt;
  }
  if (o.min_ms >= o.max_ms) {
    error = "--min (" + seconds_text(o.min_ms) + " s) must be below --max (" + seconds_text(o.max_ms) + " s)";
    return std::nullopt;
  }
  return o;
}

namespace {
// --- probe ---

bool probe_every(Walker& w, ProbeOptions& o) { return duration_option(w, o.every_ms, 1000, 86400000); }
bool probe_nat_every(Walker& w, ProbeOptions& o) { return duration_option(w, o.nat_every_ms, 1000, 604800000); }
bool probe_lifetime_every(Walker& w, ProbeOptions& o) { return duration_option(w, o.lifetime_every_ms, 1000, 604800000); }
bool probe_lifetime_max(Walker& w, ProbeOptions& o) { return duration_option(w, o.lifetime_max_ms, 2000, 3600000); }

bool probe_rounds(Walker& w, ProbeOptions& o) {
  if (!w.take()) return false;
  auto v = parse_uint(w.value, 0, 1000000000);
  if (!v) { w.error = "--rounds: '" + w.value + "' is not a number of rounds (0: until stopped)"; return false; }
  o.rounds = *v;
  return true;
}

bool probe_echoes(Walker& w, ProbeOptions& o) {
  if (!w.take()) return false;
  auto v = parse_uint(w.value, 1, 1000);
  if (!v) { w.error = "--echoes: '" + w.value + "' is not a number of packets in 1..1000"; return false; }
  o.echoes = *v;
  return true;
}

bool probe_site(Walker& w, ProbeOptions& o) {
  if (!w.take()) return false;
  if (!valid_label(w.value)) {
    w.error = "--site: '" + w.value + "': 1-64 characters of letters, digits, - _ . / :";
    return false;
  }
  o.site = w.value;
  return true;
}

bool probe_transports(Walker& w, ProbeOptions& o) {
  if (!w.take()) return false;
  o.transports.clear();
  std::string_view rest = w.value;
  while (true) {
    auto comma = rest.find(',');
    std::string_view t = rest.substr(0, comma);
    turn::Transport tr{};
    if (t == "udp") tr = turn::Transport::Udp;
    else if (t == "tcp") tr = turn::Transport::Tcp;
    else if (t == "tls") tr = turn::Transport::Tls;
    else { w.error = "--transports: '" + std::string(t) + "' is not udp, tcp or tls"; return false; }
    for (auto have : o.transports)
      if (have == tr) { w.error = "--transports: '" + std::string(t) + "' given twice"; return false; }
    o.transports.push_back(tr);
    if (comma == std::string_view::npos) return true;
    rest.remove_prefix(comma + 1);
  }
}

bool probe_port(Walker& w, uint16_t& out) {
  if (!w.take()) return false;
  auto v = parse_uint(w.value, 1, 65535);
  if (!v) { w.error = w.name + ": '" + w.value + "' is not a port (1..65535)"; return false; }
  out = static_cast<uint16_t>(*v);
  return true;
}
bool probe_tls_port(Walker& w, ProbeOptions& o) { return probe_port(w, o.tls_port); }
bool probe_tcp_port(Walker& w, ProbeOptions& o) {
  uint16_t p = 0;
  if (!probe_port(w, p)) return false;
  o.tcp_port = p;
  return true;
}

bool probe_text(Walker& w, std::string& out) {
  if (!w.take()) return false;
  if (w.value.empty() || w.value.size() > 512) { w.error = w.name + ": 1-512 characters"; return false; }
  out = w.value;
  return true;
}
bool probe_user(Walker& w, ProbeOptions& o) { return probe_text(w, o.user); }
bool probe_password(Walker& w, ProbeOptions& o) { return probe_text(w, o.password); }
bool probe_secret(Walker& w, ProbeOptions& o) { return probe_text(w, o.secret); }

bool probe_metrics_listen(Walker& w, ProbeOptions& o) {
  if (!w.take()) return false;
  auto hp = parse_host_port(w.value, 0);
  if (!hp || hp->port == 0 || !turn::IpAddress::parse(hp->host)) {
    w.error = "--metrics-listen: '" + w.value + "' is not ADDR:PORT (an IP address and a port)";
    return false;
  }
  o.metrics_listen = hp;
  return true;
}

constexpr OptionSpec<ProbeOptions> kProbeOptions[] = {
    {"--every", {}, probe_every},
    {"--rounds", {}, probe_rounds},
    {"--site", {}, probe_site},
    {"--transports", {}, probe_transports},
    {"--tcp-port", {}, probe_tcp_port},
    {"--tls-port", {}, probe_tls_port},
    {"--user", {}, probe_user},
    {"--password", {}, probe_password},
    {"--secret", {}, probe_secret},
    {"--echoes", {}, probe_echoes},
    {"--metrics-listen", {}, probe_metrics_listen},
    {"--nat-every", {}, probe_nat_every},
    {"--lifetime-every", {}, probe_lifetime_every},
    {"--lifetime-max", {}, probe_lifetime_max},
};

// The checks across options, once all are read: an error message, or nullopt.
std::optional<std::string> probe_conflicts(ProbeOptions& o) {
  if (o.server.host.empty()) return "--server HOST[:PORT] is required";
  bool long_term = !o.user.empty() || !o.password.empty();
  if (long_term && !o.secret.empty()) return "--user/--password and --secret are mutually exclusive";
  if (long_term && (o.user.empty() || o.password.empty())) return "--user and --password go together";
  if (!long_term && o.secret.empty()) return "credentials are required: --user U --password P, or --secret S (TURN REST)";
  for (auto it = o.tags.begin(); it != o.tags.end(); ++it) {
    if (it->first != "site") continue;
    if (!o.site.empty() && o.site != it->second) return "--site and --tag site=... disagree";
    o.site = it->second;
    o.tags.erase(it);
    break;
  }
  if (o.timeout_ms >= o.every_ms) return "--timeout-ms must be below --every (a round must end before the next)";
  return std::nullopt;
}
}  // namespace

std::optional<ProbeOptions> parse_probe_args(const std::vector<std::string>& args, std::string& error) {
  ProbeOptions o;
  bool timeout_given = false;
  for (const auto& a : args) timeout_given = timeout_given || a.starts_with("--timeout-ms");
  if (!parse_options<ProbeOptions>(args, error, o, kProbeOptions)) return std::nullopt;
  if (o.help) return o;
  // Without --timeout-ms, a round gets 5 s, or less when --every is short (a round ends before the next).
  if (!timeout_given) o.timeout_ms = std::min<uint32_t>(5000, o.every_ms * 3 / 5);
  if (auto bad = probe_conflicts(o)) {
    error = *bad;
    return std::nullopt;
  }
  return o;
}

}  // namespace diag
