// Idle-timer evidence shared by all shards (issue: NAT and firewall timers that cut long calls).
// Each UDP allocation has a FlowClock: when a packet last crossed its 5-tuple either way (the moment
// a NAT's idle timer restarts). FlowRegistry indexes live flows by (user, client IP) so that a client
// coming back on a new 5-tuple (its NAT mapping died and the NAT picked a new port) is recognised
// as a rebinding, whichever shard owns the old allocation. Touched per packet only through the
// owner's relaxed atomic store; the registry's mutex only on allocate, end, 437 and new Allocate.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "turn/address.hpp"

namespace turn {

struct FlowClock {
  std::atomic<int64_t> last_ms{0};      // monotonic ms of the last packet either way
  int64_t created_ms = 0;
  std::atomic<bool> lost{false};        // its loss is already recorded (rebinding, expired credential)
};

class FlowRegistry {
 public:
  static constexpr size_t kMaxPerKey = 64;

  void add(const std::string& user, const IpAddress& ip, uint16_t port, std::shared_ptr<FlowClock> c) {
    std::lock_guard lock(mu_);
    auto& v = flows_[key(user, ip)];
    if (v.size() >= kMaxPerKey) v.erase(v.begin());
    v.push_back({port, std::move(c)});
  }
  void remove(const std::string& user, const IpAddress& ip, uint16_t port) {
    std::lock_guard lock(mu_);
    auto it = flows_.find(key(user, ip));
    if (it == flows_.end()) return;
    std::erase_if(it->second, [&](const Entry& e) { return e.port == port; });
    if (it->second.empty()) flows_.erase(it);
  }
  struct Rebound {
    int64_t gap_ms;  // silence of the old flow until now
    int64_t age_ms;  // the old flow's age when it went silent
  };
  // The user came back from `ip` on `port`: another live flow of theirs from that IP, on another
  // port, silent for at least `min_gap_ms` and not yet counted, died in the NAT. Marked counted.
  std::optional<Rebound> take_rebound(const std::string& user, const IpAddress& ip, uint16_t port, int64_t now_ms,
                                      int64_t min_gap_ms) {
    std::lock_guard lock(mu_);
    auto it = flows_.find(key(user, ip));
    if (it == flows_.end()) return std::nullopt;
    std::optional<Rebound> best;
    FlowClock* chosen = nullptr;
    for (auto& e : it->second) {
      if (e.port == port || e.clock->lost.load()) continue;
      int64_t last = e.clock->last_ms.load(std::memory_order_relaxed);
      int64_t gap = now_ms - last;
      if (gap < min_gap_ms) continue;
      if (!best || gap < best->gap_ms) {  // the most recent of them: the one just abandoned
        best = Rebound{gap, last - e.clock->created_ms};
        chosen = e.clock.get();
      }
    }
    if (chosen) chosen->lost.store(true);
    return best;
  }

 private:
  struct Entry {
    uint16_t port;
    std::shared_ptr<FlowClock> clock;
  };
  static std::string key(const std::string& user, const IpAddress& ip) { return ip.to_string() + "|" + user; }
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<Entry>> flows_;
};

}  // namespace turn
