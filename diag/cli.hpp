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

constexpr size_t kMaxTags = 16;
extern const char* const kNatUsage;

}  // namespace diag
