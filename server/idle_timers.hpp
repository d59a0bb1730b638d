// Idle-timer estimation per client site, from production traffic (docs/idle-timers.md): silent
// gaps a UDP flow survived, silent gaps after which its client came back on a new 5-tuple (the NAT
// mapping died), session losses with their ages, and turnpike-diag lifetime measurements.
// Thread-safe: events are rare (a gap of a second or more, a loss), never per packet.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace turnpike {

struct IdleTimerEstimate {
  double seconds = 0;           // the estimate: midway between the bounds
  double lower = 0, upper = 0;  // longest silence survived, shortest that broke a flow
  size_t evidence = 0;          // gaps it rests on
  size_t contradicting = 0;     // gaps on the wrong side of it (mixed NATs behind one site)
};

// The estimate from survived and broken gaps (seconds): the split that misclassifies fewest, once
// there are at least `min_each` of both and no more than a quarter contradict it.
std::optional<IdleTimerEstimate> estimate_idle_timer(std::vector<double> survived, std::vector<double> broken,
                                                     size_t min_each = 2);

// Many sessions lost at the same age: a timer or a cap that fires on a mark (e.g. 45 minutes).
struct EndMark {
  double seconds = 0;
  size_t count = 0;
};
std::optional<EndMark> repeated_end_mark(const std::vector<double>& ages, size_t min_count = 5);

class IdleTimers {
 public:
  static constexpr size_t kSamples = 256;  // per site and kind, the newest kept
  static constexpr size_t kMaxSites = 1024;

  // `configured`: the sites.* names, always admitted and never crowded out; at most `max_other`
  // other sites (SiteMap caps labels at limits.max_sites, plus "other" and "unknown"). Evidence for
  // a site beyond is dropped and counted (overflowed(), `on_full`).
  explicit IdleTimers(std::vector<std::string> configured = {}, size_t max_other = kMaxSites,
                      std::function<void()> on_full = {})
      : configured_(std::move(configured)), max_other_(max_other), on_full_(std::move(on_full)) {}

  void gap(const std::string& site, bool survived, double seconds);
  void loss(const std::string& site, const std::string& cause, double age_s);
  void measured(const std::string& site, std::optional<double> timeout_s, int64_t unix_s);

  struct SiteView {
    std::string site;
    std::optional<IdleTimerEstimate> estimate;
    std::optional<EndMark> end_mark;
    std::optional<double> measured_seconds;  // the latest turnpike-diag lifetime (null: longer than its max)
    bool has_measurement = false;
  };
  std::vector<SiteView> sites() const;
  uint64_t overflowed() const {
    std::lock_guard lock(mu_);
    return overflowed_;
  }
  nlohmann::json to_json() const;  // GET /api/v1/sites

 private:
  struct Site {
    std::deque<double> survived, broken, loss_ages;
    std::map<std::string, uint64_t> losses;
    uint64_t survived_total = 0, broken_total = 0;
    bool has_measurement = false;
    std::optional<double> measured_seconds;
    int64_t measured_unix_s = 0;
  };
  Site* site(const std::string& name);  // under mu_; null when the table is full
  std::vector<std::string> configured_;
  size_t max_other_;
  std::function<void()> on_full_;
  mutable std::mutex mu_;
  std::map<std::string, Site> sites_;
  size_t others_ = 0;
  uint64_t overflowed_ = 0;
};

}  // namespace turnpike
