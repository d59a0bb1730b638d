// The load plan (plan.hpp): step windows, the target number of calls at each moment, and the
// shard's share of the call ids. Pure arithmetic over the options; no clock.
#include "loadgen/plan.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace loadgen {
namespace {

// How long a ramp from `from` to `to` calls takes at `per_s` calls per second (0: immediate).
int64_t ramp_ms(uint32_t from, uint32_t to, double per_s) {
  if (per_s <= 0) return 0;
  uint32_t delta = from > to ? from - to : to - from;
  return static_cast<int64_t>(std::ceil(1000.0 * delta / per_s));
}

}  // namespace

Plan::Plan(PlanConfig cfg) : cfg_(std::move(cfg)) {
  if (cfg_.steps.empty()) cfg_.steps.push_back(0);
  if (cfg_.shard_n == 0) cfg_.shard_n = 1;
  if (cfg_.shard_k == 0 || cfg_.shard_k > cfg_.shard_n) cfg_.shard_k = 1;
  int64_t start = 0;
  uint32_t prev = 0;
  for (size_t i = 0; i < cfg_.steps.size(); ++i) {
    bool last = i + 1 == cfg_.steps.size();
    int64_t len = last ? ramp_ms(prev, cfg_.steps[i], cfg_.ramp_per_s) + cfg_.duration_ms : cfg_.step_duration_ms;
    StepPlan s;
    s.index = static_cast<uint32_t>(i);
    s.target_calls = cfg_.steps[i];
    s.start_s = static_cast<double>(start) / 1000.0;
    s.end_s = static_cast<double>(start + len) / 1000.0;
    steps_.push_back(s);
    start += len;
    prev = cfg_.steps[i];
  }
  int64_t plan_end = start;
  if (cfg_.max_duration_ms <= 0) cfg_.max_duration_ms = plan_end + 30000;
}

int64_t Plan::end_ms() const {
  int64_t plan_end = static_cast<int64_t>(std::llround(steps_.back().end_s * 1000.0));
  return std::min(plan_end, cfg_.max_duration_ms);
}

uint32_t Plan::step_at(int64_t t_ms) const {
  uint32_t i = 0;
  for (const auto& s : steps_) {
    if (static_cast<double>(t_ms) >= s.start_s * 1000.0) i = s.index;
  }
  return i;
}

uint32_t Plan::target_at(int64_t t_ms) const {
  if (t_ms < 0) return 0;
  uint32_t i = step_at(t_ms);
  uint32_t to = steps_[i].target_calls;
  uint32_t from = i == 0 ? 0 : steps_[i - 1].target_calls;
  if (cfg_.ramp_per_s <= 0 || from == to) return to;
  double elapsed_s = (static_cast<double>(t_ms) - steps_[i].start_s * 1000.0) / 1000.0;
  // The first call of a ramp opens at its start; then one every 1/ramp seconds.
  double moved = std::floor(elapsed_s * cfg_.ramp_per_s) + (from < to ? 1.0 : 0.0);
  uint32_t delta = from > to ? from - to : to - from;
  uint32_t step = static_cast<uint32_t>(std::min<double>(moved, delta));
  return from < to ? from + step : from - step;
}

bool Plan::owns(uint32_t id) const { return id % cfg_.shard_n == cfg_.shard_k - 1; }

uint32_t Plan::owned_target_at(int64_t t_ms) const {
  uint32_t target = target_at(t_ms);
  uint32_t first = cfg_.shard_k - 1;  // the shard's lowest id
  if (target <= first) return 0;
  return (target - first + cfg_.shard_n - 1) / cfg_.shard_n;
}

std::optional<std::pair<uint32_t, uint32_t>> parse_shard(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= s.size()) return std::nullopt;
  uint32_t k = 0, n = 0;
  const char* b = s.data();
  auto r1 = std::from_chars(b, b + slash, k);
  if (r1.ec != std::errc{} || r1.ptr != b + slash) return std::nullopt;
  auto r2 = std::from_chars(b + slash + 1, b + s.size(), n);
  if (r2.ec != std::errc{} || r2.ptr != b + s.size()) return std::nullopt;
  if (k < 1 || n < 1 || k > n || n > 1024) return std::nullopt;
  return std::pair{k, n};
}

}  // namespace loadgen
