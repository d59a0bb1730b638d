// The per-step summaries (percentiles over calls and call-directions), the breakpoint, the exit
// status, timeseries.csv and merge. JSON is report_json.cpp, HTML report_html.cpp.
#include "loadgen/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

namespace loadgen {

namespace {

// A direction that sent at least this many packets in a step and received none (so no sequence
// numbers to count `expected` from) lost them all; fewer may still be in flight at the window's end.
constexpr uint64_t kAllLostMinSent = 10;

// Loss of one call-direction in its step, or nullopt when it carried nothing.
std::optional<double> direction_loss(const StreamStepRecord& s) {
  if (s.expected > 0) return s.loss_pct();
  if (s.received == 0 && s.sent >= kAllLostMinSent) return 100.0;
  return std::nullopt;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

void flag(StepSummary& s, const Thresholds& t) {
  if (s.directions > 0 && s.loss_pct.p95 > t.p95_loss_pct)
    s.reasons.push_back("p95 loss " + fmt("%.2f", s.loss_pct.p95) + "% > " + fmt("%g", t.p95_loss_pct) + "%");
  if (s.directions > 0 && s.jitter_ms.p95 > t.p95_jitter_ms)
    s.reasons.push_back("p95 jitter " + fmt("%.1f", s.jitter_ms.p95) + " ms > " + fmt("%g", t.p95_jitter_ms) + " ms");
  if (s.setups_attempted > 0 && s.setup_failure_pct > t.setup_failure_pct)
    s.reasons.push_back("setup failures " + fmt("%.2f", s.setup_failure_pct) + "% (" +
                        std::to_string(s.setup_failures) + " of " + std::to_string(s.setups_attempted) +
                        ") > " + fmt("%g", t.setup_failure_pct) + "%");
  s.breakpoint = !s.reasons.empty();
}

void add_streams(StepSummary& s, const Report& r) {
  std::vector<double> loss, jitter, rtt;
  std::unordered_set<uint32_t> calls;
  for (const auto& d : r.streams) {
    if (d.step != s.index) continue;
    s.sent += d.sent;
    s.received += d.received;
    s.lost += d.lost;
    s.reordered += d.reordered;
    s.duplicates += d.duplicates;
    s.bytes += d.bytes;
    const auto l = direction_loss(d);
    if (!l) continue;
    calls.insert(d.call);
    loss.push_back(*l);
    if (d.received > 0) jitter.push_back(d.jitter_ms);
    if (d.rtt_ms >= 0) rtt.push_back(d.rtt_ms);
  }
  s.calls = static_cast<uint32_t>(calls.size());
  s.directions = static_cast<uint32_t>(loss.size());
  s.rtt_directions = static_cast<uint32_t>(rtt.size());
  s.loss_pct = percentiles(loss);
  s.jitter_ms = percentiles(jitter);
  s.rtt_ms = percentiles(rtt);
}

void add_calls(StepSummary& s, const Report& r) {
  std::vector<double> setup;
  for (const auto& c : r.calls) {
    if (c.step != s.index) continue;
    ++s.setups_attempted;
    if (c.setup_ms >= 0) setup.push_back(c.setup_ms);
    else if (c.failed) ++s.setup_failures;
  }
  s.setups_ok = static_cast<uint32_t>(setup.size());
  s.setup_ms = percentiles(setup);
  s.setup_failure_pct = s.setups_attempted ? 100.0 * s.setup_failures / s.setups_attempted : 0.0;
}

}  // namespace

Percentiles percentiles(std::vector<double>& v) {
  Percentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  const auto rank = [&](double q) {  // nearest rank: the ceil(q/100 * n)-th smallest, 1-based
    auto k = static_cast<size_t>(std::ceil(q / 100.0 * static_cast<double>(v.size())));
    return v[std::clamp<size_t>(k, 1, v.size()) - 1];
  };
  p.p50 = rank(50);
  p.p95 = rank(95);
  p.p99 = rank(99);
  p.max = v.back();
  return p;
}

std::vector<StepSummary> summarize(const Report& r) {
  std::vector<StepSummary> out;
  out.reserve(r.steps.size());
  for (const auto& plan : r.steps) {
    StepSummary s;
    s.index = plan.index;
    s.target_calls = plan.target_calls;
    add_streams(s, r);
    add_calls(s, r);
    const double dur = plan.end_s - plan.start_s;
    s.throughput_mbps = dur > 0 ? static_cast<double>(s.bytes) * 8 / 1e6 / dur : 0.0;
    flag(s, r.thresholds);
    out.push_back(std::move(s));
  }
  return out;
}

std::optional<uint32_t> breakpoint(const std::vector<StepSummary>& steps) {
  for (const auto& s : steps)
    if (s.breakpoint) return s.index;
  return std::nullopt;
}

namespace {
std::string failure_key(const CallRecord& c) {
  if (c.failure_code > 0) return std::to_string(c.failure_code);
  if (c.failure_reason == "timeout") return "timeout";
  if (c.failure_stage == "transport") return "transport";
  return "other";
}
}  // namespace

nlohmann::json failures_by_code(const Report& r) {
  std::map<std::string, uint64_t> by;
  for (const auto& c : r.calls)
    if (c.failed) ++by[failure_key(c)];
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, n] : by) j[k] = n;
  return j;
}

std::string result_word(const Report& r, const std::vector<StepSummary>& steps) {
  if (breakpoint(steps)) return "breakpoint";
  const bool failed = std::any_of(r.calls.begin(), r.calls.end(), [](const CallRecord& c) { return c.failed; });
  return failed || !r.errors.empty() ? "failures" : "ok";
}

int exit_status(const Report& r) { return result_word(r, summarize(r)) == "ok" ? 0 : 1; }

// ---- timeseries.csv ----

std::vector<SampleRates> sample_rates(const Report& r) {
  double interval = 0;
  if (auto it = r.meta.find("interval_s"); it != r.meta.end() && it->is_number()) interval = it->get<double>();
  std::vector<SampleRates> out(r.timeseries.size());
  double prev_t = 0;
  for (size_t i = 0; i < r.timeseries.size(); ++i) {
    const Sample& s = r.timeseries[i];
    const double gap = s.t_s - prev_t;
    double dur = gap > 0 ? gap : interval;
    if (interval > 0 && dur > interval) dur = interval;
    if (s.t_s > prev_t) prev_t = s.t_s;
    SampleRates& o = out[i];
    o.duration_s = dur;
    o.tx_mbps = dur > 0 ? static_cast<double>(s.tx_bytes) * 8 / 1e6 / dur : 0.0;
    o.rx_mbps = dur > 0 ? static_cast<double>(s.rx_bytes) * 8 / 1e6 / dur : 0.0;
    o.loss_pct = s.expected ? 100.0 * static_cast<double>(s.lost) / static_cast<double>(s.expected) : -1.0;
  }
  return out;
}

std::string to_csv(const Report& r) {
  std::string out =
      "t_s,step,offered_calls,calls_up,tx_packets,rx_packets,tx_bytes,rx_bytes,expected,lost,setups,"
      "failures,jitter_p95_ms,rtt_p50_ms,rtt_p95_ms,setup_p95_ms,cpu_pct,send_lag_p99_ms,tx_mbps,rx_mbps,"
      "loss_pct\n";
  const auto rates = sample_rates(r);
  char line[8192];  // 21 fields; a double's %.3f is at most ~320 characters
  for (size_t i = 0; i < r.timeseries.size(); ++i) {
    const Sample& s = r.timeseries[i];
    const SampleRates& d = rates[i];
    std::snprintf(line, sizeof line,
                  "%.3f,%u,%u,%u,%llu,%llu,%llu,%llu,%llu,%llu,%u,%u,%.3f,%.3f,%.3f,%.3f,%.1f,%.3f,%.3f,%.3f,%.3f\n",
                  s.t_s, s.step, s.offered_calls, s.calls_up, static_cast<unsigned long long>(s.tx_packets),
                  static_cast<unsigned long long>(s.rx_packets), static_cast<unsigned long long>(s.tx_bytes),
                  static_cast<unsigned long long>(s.rx_bytes), static_cast<unsigned long long>(s.expected),
                  static_cast<unsigned long long>(s.lost), s.setups, s.failures, s.jitter_p95_ms, s.rtt_p50_ms,
                  s.rtt_p95_ms, s.setup_p95_ms, s.cpu_pct, s.send_lag_p99_ms, d.tx_mbps, d.rx_mbps, d.loss_pct);
    out += line;
  }
  return out;
}

// ---- merge ----

namespace {

bool whole(const nlohmann::json& v) {  // a non-negative integer, signed or not
  return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
}

// The shard numbers a report stands for: meta.shard.k, or a merged report's merged_from; n.
struct ShardId {
  std::vector<uint32_t> ks;
  uint32_t n = 1;
  std::string label;   // "shard 2/4", "merged shards 1,3/4"
};

ShardId shard_id(const nlohmann::json& meta) {
  ShardId id;
  const auto sh = meta.find("shard");
  if (sh == meta.end() || !sh->is_object()) {
    id.ks = {1};
    id.label = "shard 1/1";
    return id;
  }
  if (auto n = sh->find("n"); n != sh->end() && whole(*n)) id.n = n->get<uint32_t>();
  const auto k = sh->find("k");
  if (k != sh->end() && whole(*k)) id.ks = {k->get<uint32_t>()};
  if (auto mf = meta.find("merged_from"); k != sh->end() && k->is_string() && mf != meta.end() && mf->is_array())
    for (const auto& e : *mf)
      if (whole(e)) id.ks.push_back(e.get<uint32_t>());
  std::string ks;
  for (uint32_t v : id.ks) ks += (ks.empty() ? "" : ",") + std::to_string(v);
  id.label = (id.ks.size() == 1 ? "shard " : "merged shards ") + ks + "/" + std::to_string(id.n);
  return id;
}

bool same_plan(const Report& a, const Report& b, std::string& why) {
  const auto& x = a.steps;
  const auto& y = b.steps;
  bool steps_equal = x.size() == y.size();
  for (size_t i = 0; steps_equal && i < x.size(); ++i)
    steps_equal = x[i].index == y[i].index && x[i].target_calls == y[i].target_calls &&
                  x[i].start_s == y[i].start_s && x[i].end_s == y[i].end_s;
  if (!steps_equal) {
    why = "the steps differ";
    return false;
  }
  const auto interval = [](const Report& r) {
    return r.meta.is_object() ? r.meta.value("interval_s", nlohmann::json()) : nlohmann::json();
  };
  if (interval(a) != interval(b)) {
    why = "the sampling intervals differ (meta.interval_s)";
    return false;
  }
  const auto& s = a.thresholds;
  const auto& t = b.thresholds;
  if (s.p95_loss_pct != t.p95_loss_pct || s.p95_jitter_ms != t.p95_jitter_ms || s.setup_failure_pct != t.setup_failure_pct) {
    why = "the thresholds differ";
    return false;
  }
  return true;
}

// Refuses shards of different plans, the same shard twice and call ids present in two shards.
bool check_shards(const std::vector<Report>& shards, const std::vector<ShardId>& ids, std::string& error) {
  std::set<uint32_t> ks;
  std::unordered_map<uint32_t, size_t> owner;  // call id -> shard index
  for (size_t i = 0; i < shards.size(); ++i) {
    std::string why;
    if (i > 0 && !same_plan(shards[0], shards[i], why)) {
      error = ids[i].label + " is not of the same plan as " + ids[0].label + ": " + why;
      return false;
    }
    if (ids[i].n != ids[0].n) {
      error = ids[i].label + " and " + ids[0].label + " split the plan into different shard counts";
      return false;
    }
    for (uint32_t k : ids[i].ks)
      if (!ks.insert(k).second) {
        error = "shard " + std::to_string(k) + "/" + std::to_string(ids[i].n) + " is given twice";
        return false;
      }
    for (const auto& c : shards[i].calls)
      if (auto [it, fresh] = owner.emplace(c.call, i); !fresh) {
        error = "call " + std::to_string(c.call) + " is in both " + ids[it->second].label + " and " + ids[i].label +
                " (the same shard twice?)";
        return false;
      }
  }
  return true;
}

void add_sample(Sample& a, const Sample& b) {
  a.offered_calls += b.offered_calls;
  a.calls_up += b.calls_up;
  a.tx_packets += b.tx_packets;
  a.rx_packets += b.rx_packets;
  a.tx_bytes += b.tx_bytes;
  a.rx_bytes += b.rx_bytes;
  a.expected += b.expected;
  a.lost += b.lost;
  a.setups += b.setups;
  a.failures += b.failures;
  a.jitter_p95_ms = std::max(a.jitter_p95_ms, b.jitter_p95_ms);
  a.rtt_p50_ms = std::max(a.rtt_p50_ms, b.rtt_p50_ms);
  a.rtt_p95_ms = std::max(a.rtt_p95_ms, b.rtt_p95_ms);
  a.setup_p95_ms = std::max(a.setup_p95_ms, b.setup_p95_ms);
  a.cpu_pct = std::max(a.cpu_pct, b.cpu_pct);
  a.send_lag_p99_ms = std::max(a.send_lag_p99_ms, b.send_lag_p99_ms);
}

// Two samples of one shard in one slot (its last, short interval at the end of the run lands in
// the slot of the one before): counts add up, levels (calls offered and up) are the later one's.
void add_own_sample(Sample& a, const Sample& b) {
  const uint32_t offered = b.offered_calls, up = b.calls_up;
  add_sample(a, b);
  a.offered_calls = offered;
  a.calls_up = up;
}

// Samples of all shards summed by (step, interval): t_s rounded to the interval grid.
std::vector<Sample> merge_samples(const std::vector<Report>& shards) {
  double interval = 0;
  if (auto it = shards[0].meta.find("interval_s"); it != shards[0].meta.end() && it->is_number())
    interval = it->get<double>();
  const double grid = interval > 0 ? interval : 0.001;
  std::map<std::pair<int64_t, uint32_t>, Sample> by;  // (interval number, step)
  for (const auto& r : shards) {
    std::map<std::pair<int64_t, uint32_t>, Sample> own;   // this shard's, one per slot
    for (const auto& s : r.timeseries) {
      const double slot = std::round(s.t_s / grid);
      const auto key = std::make_pair(std::isfinite(slot) ? static_cast<int64_t>(std::clamp(slot, -9e15, 9e15)) : 0, s.step);
      auto [it, fresh] = own.try_emplace(key, s);
      if (fresh) it->second.t_s = static_cast<double>(key.first) * grid;
      else add_own_sample(it->second, s);
    }
    for (const auto& [key, s] : own) {
      auto [it, fresh] = by.try_emplace(key, s);
      if (!fresh) add_sample(it->second, s);
    }
  }
  std::vector<Sample> out;
  out.reserve(by.size());
  for (auto& [k, s] : by) out.push_back(s);
  return out;
}

nlohmann::json merged_meta(const std::vector<Report>& shards, const std::vector<ShardId>& ids) {
  nlohmann::json meta = shards[0].meta.is_object() ? shards[0].meta : nlohmann::json::object();
  std::vector<uint32_t> from;
  for (const auto& id : ids) from.insert(from.end(), id.ks.begin(), id.ks.end());
  std::sort(from.begin(), from.end());
  meta["shard"] = {{"k", "merged"}, {"n", ids[0].n}};
  meta["merged_from"] = from;
  meta["percentiles_in_timeseries"] = "max over shards";
  return meta;
}

}  // namespace

bool merge(const std::vector<Report>& shards, Report& out, std::string& error) {
  if (shards.empty()) {
    error = "nothing to merge";
    return false;
  }
  std::vector<ShardId> ids;
  for (const auto& r : shards) ids.push_back(shard_id(r.meta));
  if (!check_shards(shards, ids, error)) return false;
  Report m;
  m.meta = merged_meta(shards, ids);
  m.steps = shards[0].steps;
  m.thresholds = shards[0].thresholds;
  for (size_t i = 0; i < shards.size(); ++i) {
    const Report& r = shards[i];
    m.calls.insert(m.calls.end(), r.calls.begin(), r.calls.end());
    m.streams.insert(m.streams.end(), r.streams.begin(), r.streams.end());
    m.self_check.cpu_p95_pct = std::max(m.self_check.cpu_p95_pct, r.self_check.cpu_p95_pct);
    m.self_check.send_lag_p99_ms = std::max(m.self_check.send_lag_p99_ms, r.self_check.send_lag_p99_ms);
    m.self_check.trustworthy = m.self_check.trustworthy && r.self_check.trustworthy;
    for (const auto& why : r.self_check.reasons) m.self_check.reasons.push_back(ids[i].label + ": " + why);
    for (const auto& e : r.errors) m.errors.push_back(ids[i].label + ": " + e);
  }
  std::sort(m.calls.begin(), m.calls.end(), [](const CallRecord& a, const CallRecord& b) { return a.call < b.call; });
  std::stable_sort(m.streams.begin(), m.streams.end(), [](const StreamStepRecord& a, const StreamStepRecord& b) {
    return std::tie(a.step, a.call, a.direction) < std::tie(b.step, b.call, b.direction);
  });
  m.timeseries = merge_samples(shards);
  out = std::move(m);
  return true;
}

}  // namespace loadgen
