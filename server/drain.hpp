// Drain (docs/configuration.md, drain.*): SIGTERM or POST /api/v1/drain stops taking new work while
// what runs goes on. Sans-I/O: the keys, the state machine (counts and now in, "exit now?" out) and
// the choice of alternates, so unit tests reach every rule; server/drain_runner.* wires them.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "turn/address.hpp"
#include "turn/region_policy.hpp"
#include "turn/turn_uri.hpp"

namespace turnpike {

struct DrainConfig {
  // drain.alternate_urls: where new Allocates go (300 ALTERNATE-SERVER). nullopt (key absent): the
  // own region's other turn_urls in the residency catalog. An empty list: every new Allocate gets 403.
  std::optional<std::vector<turn::TurnUri>> alternate_urls;
  std::string signal_url;        // drain.signal_url: where new SFU joins go; empty: refused
  uint32_t grace_seconds = 300;  // drain.grace_seconds: then what is left ends (drain_timeout)
};

// The alternates a draining node offers: drain.alternate_urls when set, else the turn_urls of the
// node's own region (`own`) in the catalog, less those with a literal address and port this node
// listens on (`own_endpoints`). Empty: every new Allocate is refused.
std::vector<turn::TurnUri> drain_alternates(const DrainConfig& cfg, const turn::ResidencyConfig& residency,
                                            const std::vector<turn::Endpoint>& own_endpoints);

// The drain's state: serving, then draining from start() until the work is gone or the grace ends.
class DrainPolicy {
 public:
  enum class State : uint8_t { Serving, Draining };
  enum class Step : uint8_t {
    Serve,     // not draining
    Wait,      // draining; allocations or participants remain and the grace has not run out
    Done,      // draining and nothing remains: exit now
    TimedOut,  // the grace ran out: end what remains (drain_timeout) and exit
  };
  explicit DrainPolicy(uint32_t grace_seconds) : grace_ms_(int64_t{grace_seconds} * 1000) {}

  // Starts the drain at `now_ms`; false when one was already under way (nothing changes).
  bool start(int64_t now_ms);
  State state() const { return state_; }
  bool draining() const { return state_ == State::Draining; }
  int64_t started_ms() const { return started_ms_; }
  int64_t deadline_ms() const { return started_ms_ + grace_ms_; }
  Step step(uint64_t allocations, uint64_t participants, int64_t now_ms) const;
  // Whether a drain_progress line is due at `now_ms` (one every `every_ms`); notes that it was.
  bool progress_due(int64_t now_ms, int64_t every_ms);

 private:
  int64_t grace_ms_;
  State state_ = State::Serving;
  int64_t started_ms_ = 0;
  int64_t progress_ms_ = 0;
};

const char* to_string(DrainPolicy::Step s);  // serve, wait, done, timed_out

// The turnpike_draining gauge (docs/metrics.md) in the Prometheus text format, appended to /metrics.
std::string draining_metric_text(bool draining);

}  // namespace turnpike
