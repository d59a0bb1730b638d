// A token bucket per source, sans-I/O (time comes from the caller): how the core keeps answers
// that are larger than their requests, or sent elsewhere (RFC 5780 6), from being used for
// amplification. A source is an IPv4 address or an IPv6 /64 (one subscriber's prefix: an attacker
// holds all of it). The table is bounded: when full, sources whose bucket has refilled (which carry
// no state: a new bucket is the same) are evicted first; if none has, a new source is refused (a
// limiter must not fail open) and counted. Idle sources are forgotten on expire().
#pragma once
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <unordered_map>

#include "turn/address.hpp"

namespace turn {

class SourceLimiter {
 public:
  SourceLimiter(uint32_t per_second, uint32_t burst, size_t max_sources = kMaxSources)
      : rate_(per_second), burst_(burst), max_sources_(max_sources) {}
  static constexpr size_t kMaxSources = 16384;
  // A reloaded rate (SIGHUP): sources keep their buckets, capped at the new burst on their next use.
  void set_rate(uint32_t per_second, uint32_t burst) {
    rate_ = per_second;
    burst_ = burst;
  }
  static constexpr int64_t kIdleMs = 60'000;

  // Takes `cost` tokens for `source`; false when its bucket has fewer (nothing is taken then), or
  // when the table is full of sources still being limited.
  bool allow(const IpAddress& source, int64_t now_ms, uint32_t cost = 1) {
    Endpoint key{source_key(source), 0};
    auto it = buckets_.find(key);
    if (it == buckets_.end()) {
      if (buckets_.size() >= max_sources_ && !make_room(now_ms)) {
        ++table_full_;
        return false;
      }
      it = buckets_.emplace(key, Bucket{cap(), now_ms}).first;
    }
    Bucket& b = it->second;
    refill(b, now_ms);
    int64_t need = int64_t{cost} * 1000;
    if (b.milli < need) return false;
    b.milli -= need;
    return true;
  }
  void expire(int64_t now_ms) {
    std::erase_if(buckets_, [&](const auto& kv) { return now_ms - kv.second.last_ms > kIdleMs; });
  }
  size_t size() const { return buckets_.size(); }
  uint64_t table_full() const { return table_full_; }  // new sources refused: the table was full

  // IPv4 as is (an IPv4-mapped IPv6 address as its IPv4 address); IPv6 to its /64.
  static IpAddress source_key(const IpAddress& a) {
    IpAddress k = a.unmapped();
    if (!k.is_v4()) std::fill(k.bytes.begin() + 8, k.bytes.end(), 0);
    return k;
  }

 private:
  struct Bucket { int64_t milli; int64_t last_ms; };
  int64_t cap() const { return int64_t{burst_} * 1000; }  // milli-tokens
  void refill(Bucket& b, int64_t now_ms) const {
    b.milli = std::min(cap(), b.milli + std::max<int64_t>(0, now_ms - b.last_ms) * int64_t{rate_});
    b.last_ms = std::max(b.last_ms, now_ms);
  }
  // Evicts every source whose bucket has refilled; at most one sweep per 100 ms, so a flood of new
  // sources against a full table costs O(1) each.
  bool make_room(int64_t now_ms) {
    if (now_ms - last_sweep_ms_ < 100 && last_sweep_ms_ != 0) return false;
    last_sweep_ms_ = now_ms;
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      refill(it->second, now_ms);
      it = it->second.milli >= cap() ? buckets_.erase(it) : std::next(it);
    }
    return buckets_.size() < max_sources_;
  }
  uint32_t rate_, burst_;
  size_t max_sources_;
  int64_t last_sweep_ms_ = 0;
  uint64_t table_full_ = 0;
  std::unordered_map<Endpoint, Bucket> buckets_;
};

}  // namespace turn
