#include "server/log_limiter.hpp"

#include <algorithm>

namespace turnpike {

LogRateLimiter::LogRateLimiter(uint32_t per_second, uint32_t burst)
    : per_second_(per_second), burst_(std::max<uint32_t>(burst, 1)) {}

LogRateLimiter::Verdict LogRateLimiter::admit(LogKind kind, int64_t now_ms) {
  if (per_second_ == 0) return {true, 0};
  std::lock_guard<std::mutex> lock(mu_);
  Bucket& b = buckets_[static_cast<size_t>(kind)];
  if (!b.started) {
    b.started = true;
    b.tokens = burst_;
    b.last_ms = now_ms;
  }
  if (now_ms > b.last_ms) {
    b.tokens = std::min<double>(burst_, b.tokens + static_cast<double>(now_ms - b.last_ms) * per_second_ / 1000.0);
    b.last_ms = now_ms;
  }
  if (b.tokens < 1) {
    ++b.suppressed;
    return {false, 0};
  }
  b.tokens -= 1;
  Verdict v{true, b.suppressed};
  b.suppressed = 0;
  return v;
}

}  // namespace turnpike
