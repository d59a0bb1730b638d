#include "server/idle_timers.hpp"

#include <algorithm>
#include <cmath>

namespace turnpike {

std::optional<IdleTimerEstimate> estimate_idle_timer(std::vector<double> survived, std::vector<double> broken,
                                                     size_t min_each) {
  if (survived.size() < min_each || broken.size() < min_each) return std::nullopt;
  struct Point { double s; bool broke; };
  std::vector<Point> pts;
  for (double s : survived) pts.push_back({s, false});
  for (double s : broken) pts.push_back({s, true});
  std::sort(pts.begin(), pts.end(), [](const Point& a, const Point& b) { return a.s < b.s || (a.s == b.s && !a.broke && b.broke); });
  // Split k: pts[0..k) read as "survived", pts[k..) as "broke"; errors on each side.
  size_t n = pts.size(), broken_left = 0, survived_right = survived.size();
  size_t best_k = 0, best_err = survived_right;
  for (size_t k = 1; k <= n; ++k) {
    if (pts[k - 1].broke) ++broken_left;
    else --survived_right;
    if (k < n && pts[k].s == pts[k - 1].s) continue;  // no split between equal values
    size_t err = broken_left + survived_right;
    if (err < best_err) { best_err = err; best_k = k; }
  }
  double lower = -1, upper = -1;
  for (size_t i = 0; i < best_k; ++i) if (!pts[i].broke) lower = std::max(lower, pts[i].s);
  for (size_t i = best_k; i < n; ++i) if (pts[i].broke && (upper < 0 || pts[i].s < upper)) upper = pts[i].s;
  if (lower < 0 || upper < 0 || best_err * 4 > n) return std::nullopt;
  return IdleTimerEstimate{(lower + upper) / 2, lower, upper, n, best_err};
}

std::optional<EndMark> repeated_end_mark(const std::vector<double>& ages, size_t min_count) {
  if (ages.size() < min_count) return std::nullopt;
  std::optional<EndMark> best;
  for (double a : ages) {
    if (a < 60) continue;  // marks are minutes long; short sessions end for all sorts of reasons
    double tol = std::max(5.0, a * 0.03);
    std::vector<double> near;
    for (double b : ages) if (std::fabs(b - a) <= tol) near.push_back(b);
    if (near.size() < min_count || near.size() * 10 < ages.size() * 3) continue;  // at least 30%
    std::sort(near.begin(), near.end());
    if (!best || near.size() > best->count) best = EndMark{near[near.size() / 2], near.size()};
  }
  return best;
}

IdleTimers::Site* IdleTimers::site(const std::string& name) {
  auto it = sites_.find(name);
  if (it != sites_.end()) return &it->second;
  bool configured = std::find(configured_.begin(), configured_.end(), name) != configured_.end();
  if (!configured) {
    if (others_ >= max_other_) {
      // Called under mu_: the callback only counts (Metrics::site_overflow) and logs.
      ++overflowed_;
      if (on_full_) on_full_();
      return nullptr;
    }
    ++others_;
  }
  return &sites_[name];
}

namespace {
void push(std::deque<double>& d, double v) {
  if (d.size() >= IdleTimers::kSamples) d.pop_front();
  d.push_back(v);
}
}  // namespace

void IdleTimers::gap(const std::string& name, bool survived, double seconds) {
  std::lock_guard lock(mu_);
  Site* s = site(name);
  if (!s) return;
  push(survived ? s->survived : s->broken, seconds);
  ++(survived ? s->survived_total : s->broken_total);
}

void IdleTimers::loss(const std::string& name, const std::string& cause, double age_s) {
  std::lock_guard lock(mu_);
  Site* s = site(name);
  if (!s) return;
  ++s->losses[cause];
  push(s->loss_ages, age_s);
}

void IdleTimers::measured(const std::string& name, std::optional<double> timeout_s, int64_t unix_s) {
  std::lock_guard lock(mu_);
  Site* s = site(name);
  if (!s) return;
  s->has_measurement = true;
  s->measured_seconds = timeout_s;
  s->measured_unix_s = unix_s;
}

std::vector<IdleTimers::SiteView> IdleTimers::sites() const {
  std::lock_guard lock(mu_);
  std::vector<SiteView> out;
  for (const auto& [name, s] : sites_) {
    SiteView v;
    v.site = name;
    v.estimate = estimate_idle_timer({s.survived.begin(), s.survived.end()}, {s.broken.begin(), s.broken.end()});
    v.end_mark = repeated_end_mark({s.loss_ages.begin(), s.loss_ages.end()});
    v.has_measurement = s.has_measurement;
    v.measured_seconds = s.measured_seconds;
    out.push_back(std::move(v));
  }
  return out;
}

nlohmann::json IdleTimers::to_json() const {
  using nlohmann::json;
  auto views = sites();
  std::lock_guard lock(mu_);
  json list = json::array();
  for (const auto& v : views) {
    const Site& s = sites_.at(v.site);
    auto max_of = [](const std::deque<double>& d) { return d.empty() ? json(nullptr) : json(*std::max_element(d.begin(), d.end())); };
    auto min_of = [](const std::deque<double>& d) { return d.empty() ? json(nullptr) : json(*std::min_element(d.begin(), d.end())); };
    json site = {
        {"site", v.site},
        {"idle_timer_seconds", v.estimate ? json(v.estimate->seconds) : json(nullptr)},
        {"survived_gaps", {{"count", s.survived_total}, {"longest_seconds", max_of(s.survived)},
                           {"recent", std::vector<double>(s.survived.end() - std::min<size_t>(s.survived.size(), 16), s.survived.end())}}},
        {"rebound_gaps", {{"count", s.broken_total}, {"shortest_seconds", min_of(s.broken)},
                          {"recent", std::vector<double>(s.broken.end() - std::min<size_t>(s.broken.size(), 16), s.broken.end())}}},
        {"losses", s.losses},
    };
    if (v.estimate)
      site["estimate"] = {{"lower_seconds", v.estimate->lower}, {"upper_seconds", v.estimate->upper},
                          {"evidence", v.estimate->evidence}, {"contradicting", v.estimate->contradicting}};
    if (v.end_mark) site["end_mark"] = {{"seconds", v.end_mark->seconds}, {"sessions", v.end_mark->count}};
    if (v.has_measurement)
      site["measured"] = {{"timeout_seconds", v.measured_seconds ? json(*v.measured_seconds) : json(nullptr)},
                          {"at_unix", s.measured_unix_s}};
    list.push_back(std::move(site));
  }
  return {{"sites", std::move(list)}};
}

}  // namespace turnpike
