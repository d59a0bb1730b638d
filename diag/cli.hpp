// Command-line parsing for `turnpike-diag` subcommands: pure functions, so that usage errors are
// unit-tested without running anything.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "turn/address.hpp"

namespace diag {

// "host", "host:port", "1.2.3.4:port", "[v6]:port", or a bare IPv6 literal ("::1").
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
std::optional<HostPort> parse_host_port(std::string_view text, uint16_t default_port);

// http://host[:port][/path] or https://...; the target defaults to "/".
struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets for IPv6 literals
  uint16_t port = 0;
  std::string target;
};
std::optional<Url> parse_url(std::string_view text);

struct NatOptions {
  HostPort server;
  bool json = false;
  uint32_t timeout_ms = 3000;
  std::optional<uint16_t> tcp_port;
  std::optional<turn::IpAddress> local_address;
  uint16_t local_port = 0;  // of the main socket; 0: any
  std::optional<Url> report;
  std::string report_url;                                   // as given
  std::vector<std::pair<std::string, std::string>> tags;    // --tag key=value, in order
  std::optional<std::string> token;                         // --token (the caller adds TURNPIKE_ADMIN_TOKEN)
  std::optional<std::string> cacert;                        // --cacert FILE for https
  bool help = false;
};

// Parses the arguments after "nat". On a usage error, returns nullopt and sets `error`.
std::optional<NatOptions> parse_nat_args(const std::vector<std::string>& args, std::string& error);

struct LifetimeOptions {
  HostPort server;
  bool json = false;
  bool quiet = false;              // no progress on stderr
  uint32_t min_ms = 1000;          // --min
  uint32_t max_ms = 600000;        // --max
  uint32_t precision_ms = 500;     // --precision
  uint32_t parallel = 10;          // --parallel: trial sockets at once
  bool established = false;        // --established
  uint32_t timeout_ms = 3000;      // --timeout-ms: one Binding exchange
  std::optional<turn::IpAddress> local_address;
  std::optional<Url> report;
  std::string report_url;
  std::vector<std::pair<std::string, std::string>> tags;
  std::optional<std::string> token;
  std::optional<std::string> cacert;
  bool help = false;
};

// Parses the arguments after "lifetime". On a usage error, returns nullopt and sets `error`.
std::optional<LifetimeOptions> parse_lifetime_args(const std::vector<std::string>& args, std::string& error);

// A duration: seconds ("30", "0.5"), or with a unit ("90s", "2m", "500ms", "6h"); in milliseconds,
// rounded. nullopt if it is not one (negative, exponent, junk, more than 2^32 ms).
std::optional<uint32_t> parse_duration_ms(std::string_view text);

// `turnpike-diag probe`: continuous path probes from a site (docs/diag.md "probe").
struct ProbeOptions {
  HostPort server;
  bool json = false;                // one JSON object per round on stdout
  uint32_t timeout_ms = 5000;       // --timeout-ms: allocations and permissions up within this
  uint32_t every_ms = 60000;        // --every
  uint64_t rounds = 0;              // --rounds: 0 runs until SIGINT/SIGTERM
  std::string site;                 // --site (default: the host name)
  std::vector<turn::Transport> transports{turn::Transport::Udp, turn::Transport::Tcp, turn::Transport::Tls};
  std::optional<uint16_t> tcp_port;  // default: the server's port
  uint16_t tls_port = 5349;
  std::string user, password, secret;  // --user/--password, or --secret (TURN REST)
  uint32_t echoes = 10;             // --echoes
  std::optional<HostPort> metrics_listen;  // --metrics-listen ADDR:PORT
  uint32_t nat_every_ms = 0;        // --nat-every: 0 never
  uint32_t lifetime_every_ms = 0;   // --lifetime-every: 0 never
  uint32_t lifetime_max_ms = 120000;  // --lifetime-max
  std::optional<Url> report;
  std::string report_url;
  std::vector<std::pair<std::string, std::string>> tags;
  std::optional<std::string> token;
  std::optional<std::string> cacert;  // also verifies the TLS probe's server certificate
  bool help = false;
};

// Parses the arguments after "probe". On a usage error, returns nullopt and sets `error`.
std::optional<ProbeOptions> parse_probe_args(const std::vector<std::string>& args, std::string& error);

constexpr size_t kMaxTags = 16;
extern const char* const kNatUsage;
extern const char* const kLifetimeUsage;
extern const char* const kProbeUsage;

}  // namespace diag
