// Drain policy (server/drain.hpp): sans-I/O.
#include "server/drain.hpp"

#include <algorithm>

namespace turnpike {

std::vector<turn::TurnUri> drain_alternates(const DrainConfig& cfg, const turn::ResidencyConfig& residency,
                                            const std::vector<turn::Endpoint>& own_endpoints) {
  if (cfg.alternate_urls) return *cfg.alternate_urls;
  std::vector<turn::TurnUri> out;
  for (const auto& r : residency.regions) {
    if (r.name != residency.own) continue;
    for (const auto& u : r.turn_urls) {
      auto ep = u.endpoint();
      if (ep && std::find(own_endpoints.begin(), own_endpoints.end(), *ep) != own_endpoints.end()) continue;
      out.push_back(u);
    }
  }
  return out;
}

bool DrainPolicy::start(int64_t now_ms) {
  if (state_ == State::Draining) return false;
  state_ = State::Draining;
  started_ms_ = progress_ms_ = now_ms;
  return true;
}

DrainPolicy::Step DrainPolicy::step(uint64_t allocations, uint64_t participants, int64_t now_ms) const {
  if (state_ != State::Draining) return Step::Serve;
  if (allocations == 0 && participants == 0) return Step::Done;
  if (now_ms >= deadline_ms()) return Step::TimedOut;
  return Step::Wait;
}

bool DrainPolicy::progress_due(int64_t now_ms, int64_t every_ms) {
  if (state_ != State::Draining || now_ms - progress_ms_ < every_ms) return false;
  progress_ms_ = now_ms;
  return true;
}

const char* to_string(DrainPolicy::Step s) {
  switch (s) {
    case DrainPolicy::Step::Serve: return "serve";
    case DrainPolicy::Step::Wait: return "wait";
    case DrainPolicy::Step::Done: return "done";
    case DrainPolicy::Step::TimedOut: return "timed_out";
  }
  return "?";
}

std::string draining_metric_text(bool draining) {
  return std::string("# HELP turnpike_draining 1 while this node drains (SIGTERM or POST /api/v1/drain), else 0.\n"
                     "# TYPE turnpike_draining gauge\n"
                     "turnpike_draining ") +
         (draining ? "1" : "0") + "\n";
}

}  // namespace turnpike
