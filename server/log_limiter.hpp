// Rate limits for the troubleshooting log events (issue 17, docs/logs.md): a token bucket per event
// kind, so a flood of bad requests cannot fill a disk. A line refused is counted; the next line of
// that kind carries the count (`suppressed`). A small, thread-safe, clock-free type: the caller
// gives the time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace turnpike {

enum class LogKind : uint8_t { AuthFailed, Refused, SfuJoin, SfuJoinRefused, SfuLeave };
constexpr size_t kLogKinds = 5;

class LogRateLimiter {
 public:
  // At most `per_second` lines per second per kind, after a burst of `burst`; 0 per_second: no limit.
  LogRateLimiter(uint32_t per_second, uint32_t burst);

  struct Verdict {
    bool emit = false;        // write this line
    uint64_t suppressed = 0;  // lines of this kind refused since the last one written (when emit)
  };
  Verdict admit(LogKind kind, int64_t now_ms);

 private:
  struct Bucket {
    double tokens = 0;
    int64_t last_ms = 0;
    bool started = false;
    uint64_t suppressed = 0;
  };
  uint32_t per_second_;
  uint32_t burst_;
  std::mutex mu_;
  std::array<Bucket, kLogKinds> buckets_{};
};

}  // namespace turnpike
