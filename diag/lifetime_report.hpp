// The result of `turnpike-diag lifetime` (RFC 5780 4.6 mapping lifetime) as a plain value, the pure
// verdict over it, and its JSON and text renderings. No sockets, no clock.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "turn/address.hpp"

namespace diag {

enum class LifetimeResult : uint8_t {
  Measured,       // the timeout is bracketed (timeout_ms set)
  LongerThanMax,  // a mapping survived max_ms of silence
  Unreachable,    // no answer to Binding (Test I), or the server stopped answering mid-way
  Unsupported,    // the server refuses RESPONSE-PORT (e.g. 420) or ignores it
  NotDelivered,   // answers to RESPONSE-PORT do not reach a mapping even right after it was made
  Error,          // a local socket error, a refused Binding, or no conclusion within the bounds
};
// "measured", "longer_than_max", "unreachable", "unsupported", "not_delivered", "error".
const char* to_string(LifetimeResult r);

// One decided trial.
struct LifetimeTrial {
  uint32_t gap_ms = 0;     // the silence the NAT saw (estimated, see README)
  bool survived = false;
  std::optional<turn::Endpoint> local, mapped;  // of this trial's socket X
  uint32_t requests = 0;   // RESPONSE-PORT requests sent for it
  uint64_t at_ms = 0;      // when it was decided, from the start
};

struct LifetimeReport {
  turn::Endpoint server;
  LifetimeResult result = LifetimeResult::Error;
  std::optional<uint32_t> timeout_ms;  // Measured: the midpoint of (lower_ms, upper_ms]
  uint32_t lower_ms = 0;               // the longest silence a mapping survived (0: none yet)
  std::optional<uint32_t> upper_ms;    // the shortest longer silence one did not survive
  uint32_t min_ms = 0, max_ms = 0, precision_ms = 0;
  bool established = false;
  uint64_t elapsed_ms = 0;
  std::optional<turn::Endpoint> local;           // the first socket's local address
  std::optional<turn::Endpoint> mapped;          // ... and its mapped address
  std::optional<turn::Endpoint> checker_mapped;  // the checker's mapped address
  bool no_nat = false;                           // mapped == local
  std::string software;                          // SOFTWARE of the first answer
  std::optional<uint32_t> rtt_ms;                // of the first Binding
  std::optional<int> error_code;                 // an error answer that ended the run
  std::string error_reason;
  std::string error;                             // why there is no result; empty for a result
  std::string verdict;
  std::vector<std::string> notes;
  std::vector<LifetimeTrial> trials;             // in the order they were decided
  uint32_t cancelled_trials = 0;  // stopped once their answer could no longer change the result
  uint32_t failed_trials = 0;     // no Binding answer, or no conclusion (retried)
  uint32_t rate_limited = 0;      // RESPONSE-PORT requests the server refused as over its rate limit
  uint32_t requests = 0;          // STUN requests sent in all
  uint32_t ignored_datagrams = 0;  // not STUN, malformed, or not answering anything of ours
};

// The verdict and notes for a finished report (pure).
void make_lifetime_verdict(LifetimeReport& r);

// Seconds as text: "8", "4.5", "12.125".
std::string seconds_text(uint64_t ms);
// Seconds for people: to 10 ms (the JSON keeps milliseconds).
std::string shown_seconds(uint64_t ms);

// Key order as documented (ordered_json); parse it as any JSON.
nlohmann::ordered_json to_json(const LifetimeReport& r);
std::string to_text(const LifetimeReport& r);

}  // namespace diag
