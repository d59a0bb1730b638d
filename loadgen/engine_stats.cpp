// The engine's measurements (engine.hpp): per call-direction records at each step boundary, one
// Sample per interval, and the Report at the end with the loadgen's own health (SelfCheck).
#include <algorithm>
#include <cstdio>

#include "loadgen/engine_impl.hpp"

namespace loadgen {
namespace {

constexpr size_t kRttWindowBound = 4096;      // RTT samples kept per call-direction and step
constexpr size_t kRttIntervalBound = 200000;  // RTT samples kept per interval, all calls

ReceptionCounters sum(const Direction& d) {
  ReceptionCounters s;
  for (const auto& r : d.receivers) {
    const auto& c = r.counters();
    s.expected += c.expected;
    s.received += c.received;
    s.duplicates += c.duplicates;
    s.reordered += c.reordered;
    s.bytes += c.bytes;
    s.jitter_ms = std::max(s.jitter_ms, c.jitter_ms);
  }
  return s;
}

double median_ms(std::vector<uint32_t>& us) {
  if (us.empty()) return -1;
  auto mid = us.begin() + static_cast<std::ptrdiff_t>(us.size() / 2);
  std::nth_element(us.begin(), mid, us.end());
  return *mid / 1000.0;
}

template <typename T>
void append_bounded(std::vector<T>& to, const std::vector<uint32_t>& from, size_t bound) {
  for (uint32_t v : from) {
    if (to.size() >= bound) return;
    to.push_back(static_cast<T>(v));
  }
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

}  // namespace

double LagHistogram::p99_ms() const {
  if (total == 0) return 0;
  uint64_t rank = (total * 99 + 99) / 100, seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += n[i];
    if (seen >= rank) return static_cast<double>(i + 1) / 10.0;
  }
  return static_cast<double>(kBuckets) / 10.0;
}

namespace {

// The record of one call-direction for the step ending now: counters as deltas since the previous
// boundary (see step_boundary for `final`); advances dir.lost_reported.
StreamStepRecord step_record(uint32_t call, int d, Direction& dir, uint32_t step, const ReceptionCounters& now,
                             bool final) {
  uint64_t s = dir.sent_total;
  StreamStepRecord r;
  r.call = call;
  r.direction = static_cast<uint8_t>(d);
  r.step = step;
  r.sent = s - dir.step_snap_sent;
  r.expected = now.expected - dir.step_snap.expected;
  r.received = now.received - dir.step_snap.received;
  uint64_t lost_total = now.lost();
  if (final) {
    uint64_t unreceived = s > now.received ? s - now.received : 0;
    if (unreceived > lost_total) {
      r.expected += unreceived - lost_total;
      lost_total = unreceived;
    }
  }
  r.lost = lost_total > dir.lost_reported ? lost_total - dir.lost_reported : 0;
  dir.lost_reported += r.lost;
  r.reordered = now.reordered - dir.step_snap.reordered;
  r.duplicates = now.duplicates - dir.step_snap.duplicates;
  r.bytes = now.bytes - dir.step_snap.bytes;
  r.jitter_ms = now.jitter_ms;
  r.rtt_ms = median_ms(dir.rtt_window);
  return r;
}

}  // namespace

// The counters of every call-direction that carried media in the step, as deltas since the
// previous boundary; jitter as it stands at the boundary, RTT the median of the window's samples.
// The final window (after the drain) also counts every packet sent and never received as lost
// and expected: lost = max(expected - received, sent - received) over the whole run, minus what
// earlier windows reported, so a packet in flight at the end is never "sent, not received, not lost".
void Engine::Impl::step_boundary(uint32_t step, int64_t now_us, bool final) {
  const StepPlan& sp = plan.steps()[std::min<size_t>(step, plan.steps().size() - 1)];
  int64_t start_us = t0_us + static_cast<int64_t>(sp.start_s * 1e6);
  std::vector<uint32_t> rtt;
  for (auto& p : calls) {
    Call& c = *p;
    if (c.media_start_us < 0 || c.media_start_us > now_us) continue;
    bool active = c.media_end_us < 0 || c.media_end_us > start_us;
    for (int d = 0; d < 2; ++d) {
      Direction& dir = c.dir[d];
      if (dir.ssrcs.empty()) continue;   // --profile none: no streams
      for (auto& r : dir.receivers) {
        r.take_rtt_samples(rtt);
        append_bounded(dir.rtt_window, rtt, kRttWindowBound);
        append_bounded(iv_rtt_us, rtt, kRttIntervalBound);   // the interval's samples too
        rtt.clear();
      }
      ReceptionCounters now = sum(dir);
      if (active) streams.push_back(step_record(c.id, d, dir, step, now, final));
      dir.step_snap = now;
      dir.step_snap_sent = dir.sent_total;
      dir.rtt_window.clear();
    }
  }
}

// One interval: counts since the last sample, and the state of the calls now.
void Engine::Impl::sample(int64_t now_us) {
  Sample s;
  int64_t rel = rel_ms(now_us);
  s.t_s = static_cast<double>(rel) / 1000.0;
  s.step = cur_step;
  s.offered_calls = plan.owned_target_at(rel);
  std::vector<double> jitter;
  std::vector<uint32_t> rtt;
  uint64_t expected = 0, lost = 0;
  for (auto& p : calls) {
    Call& c = *p;
    if (c.media_start_us < 0) continue;
    bool up = c.state == CallState::Media;
    if (up) ++s.calls_up;
    for (auto& dir : c.dir) {
      ReceptionCounters sc = sum(dir);
      expected += sc.expected;
      lost += sc.lost();
      if (up && !dir.ssrcs.empty()) jitter.push_back(sc.jitter_ms);
      for (auto& r : dir.receivers) {
        r.take_rtt_samples(rtt);
        append_bounded(dir.rtt_window, rtt, kRttWindowBound);
        append_bounded(iv_rtt_us, rtt, kRttIntervalBound);
        rtt.clear();
      }
    }
  }
  s.tx_packets = tx_packets;
  s.tx_bytes = tx_bytes;
  s.rx_packets = rx_packets;
  s.rx_bytes = rx_bytes;
  tx_packets = tx_bytes = rx_packets = rx_bytes = 0;
  s.expected = expected > prev_expected ? expected - prev_expected : 0;
  s.lost = lost > prev_lost ? lost - prev_lost : 0;
  prev_expected = expected;
  prev_lost = lost;
  s.setups = iv_setups;
  s.failures = iv_failures;
  iv_setups = iv_failures = 0;
  s.jitter_p95_ms = jitter.empty() ? 0 : percentiles(jitter).p95;
  if (!iv_rtt_us.empty()) {
    for (double& v : iv_rtt_us) v /= 1000.0;
    Percentiles p = percentiles(iv_rtt_us);
    s.rtt_p50_ms = p.p50;
    s.rtt_p95_ms = p.p95;
    iv_rtt_us.clear();
  }
  if (!iv_setup_ms.empty()) s.setup_p95_ms = percentiles(iv_setup_ms).p95;
  iv_setup_ms.clear();
  s.cpu_pct = sink.cpu_pct_since_last(now_us);
  s.send_lag_p99_ms = iv_lag.p99_ms();
  iv_lag.clear();
  samples.push_back(s);

  double secs = samples.size() > 1 ? s.t_s - samples[samples.size() - 2].t_s : s.t_s;
  last_progress = Engine::Progress{s.t_s, s.step, s.offered_calls, s.calls_up, total_failures,
                                   secs > 0 ? static_cast<double>(s.rx_bytes) * 8 / secs / 1e6 : 0,
                                   s.expected ? 100.0 * static_cast<double>(s.lost) / static_cast<double>(s.expected) : 0,
                                   s.jitter_p95_ms, s.rtt_p50_ms, ending};
}

// Timeout failures as run-level errors, worded as what was measured: the server stopped answering
// only when nothing at all came from it on any flow for a while before the timeouts.
void Engine::Impl::add_timeout_errors(std::vector<std::string>& out) const {
  auto calls_n = [](uint32_t n) { return std::to_string(n) + (n == 1 ? " call" : " calls"); };
  if (server_silent.n)
    out.push_back("the server stopped answering" +
                  (silent_since_s >= 0 ? " after " + fmt("%.1f s", silent_since_s) : std::string(" from the start")) +
                  " (nothing from it on any flow since): " + calls_n(server_silent.n) +
                  " failed on timeouts, the first at " + fmt("%.1f s", server_silent.first_s));
  if (setup_timeouts.n)
    out.push_back(calls_n(setup_timeouts.n) + " did not finish setup within " +
                  fmt("%g s", static_cast<double>(cfg.setup_timeout_ms) / 1000.0) + ", the first at " +
                  fmt("%.1f s", setup_timeouts.first_s));
  if (end_setup_timeouts.n)
    out.push_back(calls_n(end_setup_timeouts.n) + " did not finish setup within " +
                  fmt("%g s", static_cast<double>(kStuckSetupUs) / 1e6) + " before the run ended");
  if (media_timeouts.n)
    out.push_back(calls_n(media_timeouts.n) + " received no media for " +
                  fmt("%g s", static_cast<double>(cfg.media_timeout_ms) / 1000.0) + " while the server answered on other flows, the first at " +
                  fmt("%.1f s", media_timeouts.first_s));
  if (request_timeouts.n)
    out.push_back(calls_n(request_timeouts.n) + " failed on request timeouts (no answer to a retransmitted request), the first at " +
                  fmt("%.1f s", request_timeouts.first_s));
}

// The run as data: meta, the plan, every call and call-direction-step, the time series, and
// whether the loadgen itself kept up (CPU p95 <= 85% of a core, send lag p99 <= 20 ms).
Report Engine::Impl::build_report() {
  Report r;
  r.meta = cfg.meta;
  r.meta["tool"] = "turnpike-loadgen";
  r.meta["profile"] = to_string(cfg.profile);
  r.meta["transport"] = turn::to_string(cfg.transport);
  r.meta["shard"] = {{"k", plan.config().shard_k}, {"n", plan.config().shard_n}};
  r.meta["start_unix"] = cfg.start_unix;
  r.meta["interval_s"] = static_cast<double>(cfg.interval_ms) / 1000.0;
  if (cfg.rtcp_interval_ms > 0) r.meta["rtcp_interval_s"] = static_cast<double>(cfg.rtcp_interval_ms) / 1000.0;
  r.meta["calls"] = plan.config().steps.empty() ? 0 : plan.config().steps.back();
  r.steps = plan.steps();
  for (const auto& p : calls) r.calls.push_back(p->rec);
  r.streams = streams;
  r.timeseries = samples;
  r.errors = errors;
  add_timeout_errors(r.errors);
  std::vector<double> cpu;
  for (const auto& s : samples) cpu.push_back(s.cpu_pct);
  SelfCheck& sc = r.self_check;
  sc.cpu_p95_pct = cpu.empty() ? 0 : percentiles(cpu).p95;
  sc.send_lag_p99_ms = run_lag.p99_ms();
  if (sc.cpu_p95_pct > 85) {
    sc.trustworthy = false;
    sc.reasons.push_back("loadgen CPU p95 " + fmt("%.0f%%", sc.cpu_p95_pct) + " of a core > 85%: add --threads or machines");
  }
  if (sc.send_lag_p99_ms > 20) {
    sc.trustworthy = false;
    sc.reasons.push_back("send lag p99 " + fmt("%.1f ms", sc.send_lag_p99_ms) + " > 20 ms: packets left late");
  }
  return r;
}

}  // namespace loadgen
