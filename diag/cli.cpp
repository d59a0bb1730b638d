#include "diag/cli.hpp"

#include <cctype>
#include <charconv>

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

std::optional<NatOptions> parse_nat_args(const std::vector<std::string>& args, std::string& error) {
  NatOptions o;
  bool have_server = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i], value;
    bool inline_value = false;
    if (name.starts_with("--")) {
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        inline_value = true;
      }
    } else {
      error = "unexpected argument '" + name + "'";
      return std::nullopt;
    }
    auto flag = [&]() {
      if (inline_value) { error = name + " takes no value"; return false; }
      return true;
    };
    auto take = [&]() -> bool {
      if (inline_value) return true;
      if (i + 1 >= args.size()) { error = name + " needs a value"; return false; }
      value = args[++i];
      return true;
    };
    if (name == "--help" || name == "-h") {
      if (!flag()) return std::nullopt;
      o.help = true;
    } else if (name == "--json") {
      if (!flag()) return std::nullopt;
      o.json = true;
    } else if (name == "--server") {
      if (!take()) return std::nullopt;
      auto hp = parse_host_port(value, 3478);
      if (!hp) { error = "--server: '" + value + "' is not HOST[:PORT]"; return std::nullopt; }
      o.server = *hp;
      have_server = true;
    } else if (name == "--timeout-ms") {
      if (!take()) return std::nullopt;
      auto v = parse_uint(value, 10, 600000);
      if (!v) { error = "--timeout-ms: '" + value + "' is not a number of milliseconds in 10..600000"; return std::nullopt; }
      o.timeout_ms = *v;
    } else if (name == "--tcp-port") {
      if (!take()) return std::nullopt;
      auto v = parse_uint(value, 1, 65535);
      if (!v) { error = "--tcp-port: '" + value + "' is not a port (1..65535)"; return std::nullopt; }
      o.tcp_port = static_cast<uint16_t>(*v);
    } else if (name == "--local") {
      if (!take()) return std::nullopt;
      auto hp = parse_host_port(value, 0);
      auto ip = hp ? turn::IpAddress::parse(hp->host) : std::nullopt;
      if (!ip) { error = "--local: '" + value + "' is not an IP address, with an optional :PORT"; return std::nullopt; }
      o.local_address = ip;
      o.local_port = hp->port;
    } else if (name == "--report") {
      if (!take()) return std::nullopt;
      o.report = parse_url(value);
      if (!o.report) { error = "--report: '" + value + "' is not an http:// or https:// URL"; return std::nullopt; }
      o.report_url = value;
    } else if (name == "--tag") {
      if (!take()) return std::nullopt;
      auto eq = value.find('=');
      if (eq == std::string::npos || eq == 0) { error = "--tag: '" + value + "' is not KEY=VALUE"; return std::nullopt; }
      std::string key = value.substr(0, eq), val = value.substr(eq + 1);
      if (!valid_label(key) || !valid_label(val)) {
        error = "--tag: '" + value + "': names and values are 1-64 characters of letters, digits, - _ . / :";
        return std::nullopt;
      }
      if (o.tags.size() == kMaxTags) { error = "--tag: at most " + std::to_string(kMaxTags) + " tags"; return std::nullopt; }
      for (const auto& [k, v] : o.tags)
        if (k == key) { error = "--tag: '" + key + "' given twice"; return std::nullopt; }
      o.tags.emplace_back(key, val);
    } else if (name == "--token") {
      if (!take()) return std::nullopt;
      if (value.empty()) { error = "--token: empty"; return std::nullopt; }
      o.token = value;
    } else if (name == "--cacert") {
      if (!take()) return std::nullopt;
      o.cacert = value;
    } else {
      error = "unknown option '" + name + "'";
      return std::nullopt;
    }
  }
  if (!o.help && !have_server) {
    error = "--server HOST[:PORT] is required";
    return std::nullopt;
  }
  return o;
}

}  // namespace diag
