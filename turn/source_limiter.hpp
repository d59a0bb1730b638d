// A token bucket per source IP address, sans-I/O (time comes from the caller): how the core keeps
// answers that are larger than their requests, or sent elsewhere (RFC 5780 6), from being used for
// amplification. The table is bounded; sources idle for a while are forgotten on expire().
#pragma once
#include <algorithm>
#include <cstdint>
#include <unordered_map>

#include "turn/address.hpp"

namespace turn {

class SourceLimiter {
 public:
  SourceLimiter(uint32_t per_second, uint32_t burst) : rate_(per_second), burst_(burst) {}
  static constexpr size_t kMaxSources = 16384;
  static constexpr int64_t kIdleMs = 60'000;

  // Takes one token for `source`; false when its bucket is empty (or the table is full of others).
  bool allow(const IpAddress& source, int64_t now_ms) {
    Endpoint key{source, 0};
    auto it = buckets_.find(key);
    if (it == buckets_.end()) {
      if (buckets_.size() >= kMaxSources) return false;
      it = buckets_.emplace(key, Bucket{int64_t{burst_} * 1000, now_ms}).first;
    }
    Bucket& b = it->second;
    int64_t cap = int64_t{burst_} * 1000;  // milli-tokens
    b.milli = std::min(cap, b.milli + (now_ms - b.last_ms) * int64_t{rate_});
    b.last_ms = now_ms;
    if (b.milli < 1000) return false;
    b.milli -= 1000;
    return true;
  }
  void expire(int64_t now_ms) {
    std::erase_if(buckets_, [&](const auto& kv) { return now_ms - kv.second.last_ms > kIdleMs; });
  }
  size_t size() const { return buckets_.size(); }

 private:
  struct Bucket { int64_t milli; int64_t last_ms; };
  uint32_t rate_, burst_;
  std::unordered_map<Endpoint, Bucket> buckets_;
};

}  // namespace turn
