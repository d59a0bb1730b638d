#include "sfu/retransmit_limit.hpp"

#include <algorithm>

namespace sfu {

bool TokenBucket::take(uint64_t bytes, int64_t now_ms) {
  if (last_ms_ < 0) last_ms_ = now_ms;
  if (now_ms > last_ms_) {
    // Bytes per millisecond with the fraction carried (an idle hour earns no more than the burst).
    uint64_t elapsed = std::min<uint64_t>(static_cast<uint64_t>(now_ms - last_ms_), 3'600'000);
    uint64_t milli = rate_ * elapsed + carry_;
    tokens_ = std::min(burst_, tokens_ + milli / 1000);
    carry_ = tokens_ == burst_ ? 0 : milli % 1000;
    last_ms_ = now_ms;
  }
  if (bytes > tokens_) return false;
  tokens_ -= bytes;
  return true;
}

void ResendShare::earn(uint64_t forwarded_bytes) {
  credit_ = std::min(cap_ * 100, credit_ + forwarded_bytes * percent_);
}

bool ResendShare::take(uint64_t bytes) {
  if (bytes * 100 > credit_) return false;
  credit_ -= bytes * 100;
  return true;
}

bool RecentResends::recent(uint16_t sequence, int64_t now_ms, int64_t interval_ms) const {
  const Slot& s = slots_[sequence % kSlots];
  return s.used && s.sequence == sequence && now_ms - s.at_ms < interval_ms;
}

void RecentResends::note(uint16_t sequence, int64_t now_ms) { slots_[sequence % kSlots] = {sequence, true, now_ms}; }

}  // namespace sfu
