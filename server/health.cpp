#include "server/health.hpp"

namespace turnpike {

HealthVerdict health_verdict(const std::vector<HeartbeatStamp>& stamps, int64_t now_ms, int64_t deadline_ms) {
  HealthVerdict v;
  for (const auto& s : stamps) {
    int64_t silent = now_ms > s.last_alive_ms ? now_ms - s.last_alive_ms : 0;  // a stamp after `now`: alive
    v.silent_ms.emplace_back(s.component, silent);
    if (silent > deadline_ms) v.late.push_back(s.component);
  }
  v.ok = v.late.empty();
  return v;
}

bool relay_ports_exhausted(const PortUse& p) {
  if (p.limit == 0) return false;
  uint64_t free = p.in_use >= p.limit ? 0 : p.limit - p.in_use;
  return free * 100 < p.limit * kRelayPortsFreePercent;
}

ReadinessVerdict readiness_verdict(const ReadinessFacts& f) {
  if (f.starting) return {false, "starting"};
  if (f.draining) return {false, "draining"};
  if (f.max_allocations > 0 && f.allocations >= f.max_allocations) return {false, "at_capacity"};
  for (const auto& p : f.relay_ports)
    if (relay_ports_exhausted(p)) return {false, "relay_ports_exhausted"};
  return {};
}

}  // namespace turnpike
