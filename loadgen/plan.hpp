// The load plan: how many calls should be up at each moment, step by step, and which of them this
// shard (--shard K/N) owns. Pure functions of the options and the elapsed time.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "loadgen/report.hpp"

namespace loadgen {

struct PlanConfig {
  std::vector<uint32_t> steps;     // targets (whole plan): --steps 50,100,200, or {--calls N}
  double ramp_per_s = 20;          // new calls per second (whole plan); 0 = all at once
  int64_t step_duration_ms = 0;    // each step but the last; 0 with a single step
  int64_t duration_ms = 0;         // hold at the last step's target (the soak)
  int64_t max_duration_ms = 0;     // hard bound on the whole run (0: derived, see Plan)
  uint32_t shard_k = 1, shard_n = 1;
};

class Plan {
 public:
  explicit Plan(PlanConfig cfg);
  // Step windows: step i lasts step_duration (its ramp included); the last step lasts until its
  // target is reached plus `duration`. Times in ms since the run started.
  const std::vector<StepPlan>& steps() const { return steps_; }
  int64_t end_ms() const;                  // when calls stop (min of the plan and max_duration)
  uint32_t step_at(int64_t t_ms) const;
  // Calls (whole plan) that should have been opened by t: ramps from the previous step's target.
  uint32_t target_at(int64_t t_ms) const;
  // Whether this shard owns global call id `id` (0-based): id % N == K-1.
  bool owns(uint32_t id) const;
  // This shard's share of target_at(t).
  uint32_t owned_target_at(int64_t t_ms) const;
  const PlanConfig& config() const { return cfg_; }

 private:
  PlanConfig cfg_;
  std::vector<StepPlan> steps_;
};

// "K/N" with 1 <= K <= N <= 1024.
std::optional<std::pair<uint32_t, uint32_t>> parse_shard(const std::string& s);

}  // namespace loadgen
