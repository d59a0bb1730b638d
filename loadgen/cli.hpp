// The command line of turnpike-loadgen, parsed into plain options with errors that say what is
// wrong (the binary exits 2 on any of them). Pure: no I/O, no clock.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loadgen/media.hpp"
#include "loadgen/plan.hpp"
#include "turn/address.hpp"

namespace loadgen {

// Bounds on what one run may ask for.
inline constexpr uint32_t kMaxCalls = 100000;
inline constexpr uint32_t kMaxSteps = 64;
inline constexpr uint32_t kMaxThreads = 64;
inline constexpr uint32_t kMaxLocals = 64;
inline constexpr int64_t kMaxRunMs = 7LL * 24 * 3600 * 1000;   // a week

struct RunOptions {
  std::string server_host;          // a name or a numeric address (brackets removed)
  uint16_t server_port = 0;         // 0: the transport's default (3478, 5349 for tls/dtls)
  turn::Transport transport = turn::Transport::Udp;
  std::string user, password, rest_secret, realm;
  PlanConfig plan;                  // steps, ramp, durations, shard
  Profile profile = Profile::Audio;
  std::string report_dir;           // empty: no files
  bool use_send = false;            // --send: Send/Data indications instead of channels
  std::vector<turn::IpAddress> locals;   // --local: bind addresses, round-robin (empty: any)
  uint32_t threads = 1;
  int64_t interval_ms = 1000;
  int64_t rtcp_interval_ms = 0;      // --rtcp D: receiver reports every D (0: none)
  std::string ca_file;              // --ca: verify the server's certificate against it (tls/dtls)
  size_t max_packet = 1200;         // --mtu: the largest media packet (RTP header included)
  bool relay_v6 = false;            // --relay-family ipv6: REQUESTED-ADDRESS-FAMILY IPv6
  uint32_t lifetime_s = 600;        // --lifetime
  bool progress = true;             // --quiet turns the progress lines off
  uint64_t seed = 0;                // --seed (0: from the clock)
  uint32_t max_pending = 500;       // --max-pending: calls setting up at once (all threads)
  uint16_t default_port() const;
};

struct MergeOptions {
  std::string out_dir;
  std::vector<std::string> inputs;  // report dirs or report.json files
};

struct CliResult {
  enum class Kind { Run, Merge, Help, Version, Error } kind = Kind::Error;
  RunOptions run;
  MergeOptions merge;
  std::string error;                // Kind::Error: what was wrong, one line
};

// args: argv[1..]. Never throws.
CliResult parse_cli(const std::vector<std::string>& args);

// "500ms", "30s", "5m", "1h" (a bare number is seconds) -> milliseconds; nullopt when malformed,
// negative or longer than kMaxRunMs.
std::optional<int64_t> parse_duration_ms(std::string_view s);
// "HOST", "HOST:PORT", "[V6]", "[V6]:PORT", or a bare IPv6 address; false when malformed.
bool parse_server(std::string_view s, std::string& host, uint16_t& port);

std::string usage();

}  // namespace loadgen
