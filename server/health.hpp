// The policies behind /healthz and /readyz, as pure functions of facts (unit-tested in
// tests/unit/test_health.cpp); server/heartbeat.* and server/capacity.* gather the facts.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace turnpike {

// /healthz: a component (an I/O shard, the SFU thread) is late when its own loop has not stamped
// its "last alive" time within the deadline.
constexpr int64_t kHeartbeatPeriodMs = 500;    // how often each component stamps
constexpr int64_t kHeartbeatDeadlineMs = 2000;  // silent longer than this: late

struct HeartbeatStamp {
  std::string component;  // "shard-0", "sfu"
  int64_t last_alive_ms = 0;  // monotonic
};

struct HealthVerdict {
  bool ok = true;
  std::vector<std::string> late;  // components silent past the deadline, in stamp order
  std::vector<std::pair<std::string, int64_t>> silent_ms;  // every component: ms since its stamp
};

HealthVerdict health_verdict(const std::vector<HeartbeatStamp>& stamps, int64_t now_ms,
                             int64_t deadline_ms = kHeartbeatDeadlineMs);

// /readyz: ready unless starting, draining or at capacity.
struct PortUse {
  uint64_t in_use = 0;  // relay ports open on one relay address (allocations and EVEN-PORT reservations)
  uint64_t limit = 0;   // the size of relay.port_range
};

// Relay ports count as exhausted on an address with fewer than this share of its range free:
// random port picks (server/shard.cpp, 128 tries) start failing there.
constexpr uint64_t kRelayPortsFreePercent = 2;
bool relay_ports_exhausted(const PortUse& p);

struct ReadinessFacts {
  bool starting = false;
  bool draining = false;
  uint64_t allocations = 0;      // live allocations and held reservations (turn::Quotas::total)
  uint64_t max_allocations = 0;  // limits.max_allocations; 0: no limit
  std::vector<PortUse> relay_ports;  // one per relay address
};

struct ReadinessVerdict {
  bool ready = true;
  // Empty when ready; else "starting", "draining", "at_capacity" or "relay_ports_exhausted".
  std::string reason;
};

ReadinessVerdict readiness_verdict(const ReadinessFacts& f);

}  // namespace turnpike
