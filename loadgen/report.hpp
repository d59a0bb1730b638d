// What a run measured, as plain data: per call, per call-direction-step, and per interval; the
// per-step summaries (percentiles over calls) and the breakpoint are computed from it, so a merged
// report (turnpike-loadgen merge) is summarized exactly like a single one.
// Serialized as DIR/report.json (to_json/from_json), DIR/timeseries.csv and DIR/report.html.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace loadgen {

// One plain RTCP receiver report block loadgen sent (--rtcp), as sent.
struct RtcpBlockRecord {
  uint8_t fraction_lost = 0;   // since the previous report, in 1/256
  int32_t cumulative_lost = 0;
  uint32_t highest_seq = 0;    // extended highest sequence number received
  uint32_t jitter = 0;         // RFC 3550 A.8, in the stream's timestamp units
  double sent_s = 0;           // since the run started
};

// The receiver reports about one stream of a call: sent by the stream's receiving side, through
// both relays, to its sender. The last few blocks, so that what a relay last saw can be found even
// when the newest reports were lost on the way.
struct RtcpStreamRecord {
  static constexpr size_t kKept = 4;
  uint8_t direction = 0;       // the stream's direction (0: a->b, reported by b)
  uint32_t ssrc = 0;           // the stream's (its sender's) SSRC
  uint32_t clock_rate = 0;
  uint64_t reports = 0;        // report blocks sent about it
  std::vector<RtcpBlockRecord> recent;   // the last kKept blocks sent, oldest first
};

// One call: two allocations in a pair, the media between them.
struct CallRecord {
  uint32_t call = 0;           // global id in the plan (shard K/N owns ids with id % N == K-1)
  uint32_t step = 0;           // the step it was opened in (0-based)
  std::string kind;            // "audio", "video", "screen"
  double started_s = 0;        // since the run started
  double setup_ms = -1;        // both allocations allocated and both peers ready; -1: never set up
  bool failed = false;         // setup failed, or the call failed later (a refresh, the server gone)
  std::string failure_stage;   // ClientFailure::stage
  int failure_code = 0;        // STUN error code, 0 for timeout/transport
  std::string failure_reason;
  double failed_s = 0;         // when, since the run started
  // The relayed transport addresses of allocations a and b ("ip:port"; "" while not allocated):
  // how the server's own records of the call's allocations are found.
  std::string relayed[2];
  std::vector<RtcpStreamRecord> rtcp;   // --rtcp: per stream of either direction; empty otherwise
};

// One direction of one call over one step window (counter deltas within the window).
struct StreamStepRecord {
  uint32_t call = 0;
  uint8_t direction = 0;       // 0: a->b, 1: b->a
  uint32_t step = 0;
  uint64_t sent = 0;           // packets sent in the window
  uint64_t expected = 0;       // by sequence numbers (RFC 3550 A.3), summed over the direction's streams
  uint64_t received = 0;
  uint64_t lost = 0;
  uint64_t reordered = 0;
  uint64_t duplicates = 0;
  uint64_t bytes = 0;          // received
  double jitter_ms = 0;        // RFC 3550 A.8, the largest of the direction's streams at window end
  double rtt_ms = -1;          // median RTT sample in the window, -1: none
  double loss_pct() const { return expected ? 100.0 * static_cast<double>(lost) / static_cast<double>(expected) : 0.0; }
};

// One interval of the time series (DIR/timeseries.csv): counts are within the interval.
struct Sample {
  double t_s = 0;              // interval end, since the run started
  uint32_t step = 0;
  uint32_t offered_calls = 0;  // the plan's target at t (this shard's share)
  uint32_t calls_up = 0;       // calls set up and not failed or closed
  uint64_t tx_packets = 0, rx_packets = 0, tx_bytes = 0, rx_bytes = 0;
  uint64_t expected = 0, lost = 0;
  uint32_t setups = 0, failures = 0;
  double jitter_p95_ms = 0;    // over call-directions at t
  double rtt_p50_ms = -1, rtt_p95_ms = -1;
  double setup_p95_ms = -1;    // over calls set up in the interval
  double cpu_pct = 0;          // loadgen's own CPU (user+sys) over the interval, % of one core
  double send_lag_p99_ms = 0;  // how late packets left against their schedule
};

struct StepPlan {
  uint32_t index = 0;
  uint32_t target_calls = 0;   // whole plan (all shards)
  double start_s = 0, end_s = 0;
};

struct Thresholds {            // the breakpoint: the first step where any of these is exceeded
  double p95_loss_pct = 1.0;
  double p95_jitter_ms = 30.0;
  double setup_failure_pct = 1.0;
};

struct Percentiles { double p50 = 0, p95 = 0, p99 = 0, max = 0; };

struct StepSummary {
  uint32_t index = 0;
  uint32_t target_calls = 0;
  uint32_t calls = 0;              // calls with data in the step
  uint32_t directions = 0;         // call-directions in the loss/jitter percentiles
  uint32_t rtt_directions = 0;     // call-directions with an RTT sample (rtt_ms percentiles)
  uint32_t setups_attempted = 0, setup_failures = 0;
  uint32_t setups_ok = 0;          // calls opened in the step and set up (setup_ms percentiles)
  double setup_failure_pct = 0;
  Percentiles setup_ms, loss_pct, jitter_ms, rtt_ms;   // over calls (loss/jitter/rtt: call-directions)
  uint64_t sent = 0, received = 0, lost = 0, reordered = 0, duplicates = 0, bytes = 0;
  double throughput_mbps = 0;      // received bytes over the step's duration
  bool breakpoint = false;
  std::vector<std::string> reasons;   // e.g. "p95 loss 3.2% > 1%"
};

// Whether the loadgen's own figures can be trusted (it watches its CPU and send lag).
struct SelfCheck {
  double cpu_p95_pct = 0;          // of one core, per thread
  double send_lag_p99_ms = 0;
  bool trustworthy = true;
  std::vector<std::string> reasons;
};

struct Report {
  nlohmann::json meta = nlohmann::json::object();  // tool, version, command, server, transport,
                                                   // profile, shard {k,n}, start_unix, interval_s
  std::vector<StepPlan> steps;
  std::vector<CallRecord> calls;
  std::vector<StreamStepRecord> streams;
  std::vector<Sample> timeseries;
  SelfCheck self_check;
  Thresholds thresholds;
  std::vector<std::string> errors;   // run-level problems (e.g. "server stopped answering at 12.3 s")
};

// Percentile by nearest rank over `v` (sorted in place); zeros when empty.
Percentiles percentiles(std::vector<double>& v);
std::vector<StepSummary> summarize(const Report& r);
// The first step past a threshold (its reasons filled in), or nullopt.
std::optional<uint32_t> breakpoint(const std::vector<StepSummary>& steps);
// Failures by code ("486", "timeout", ...) over all calls.
nlohmann::json failures_by_code(const Report& r);
// The exit status: 0 completed with no failures and no breakpoint, 1 failures or a breakpoint.
int exit_status(const Report& r);

// report.json: everything above plus the summaries, totals, breakpoint and result.
nlohmann::json to_json(const Report& r);
// Reads a report.json written by to_json (merge's input). False with `error` on anything malformed.
bool from_json(const nlohmann::json& j, Report& out, std::string& error);
std::string to_csv(const Report& r);      // timeseries.csv, one row per Sample, header first
std::string to_html(const Report& r);     // report.html: self-contained, inline SVG, no fetches

// turnpike-loadgen merge: the shards of one plan into one report. Calls and streams are
// concatenated (ids are global), samples summed by interval (percentile columns: the max over
// shards, flagged in meta), steps and thresholds must agree. False with `error` otherwise.
bool merge(const std::vector<Report>& shards, Report& out, std::string& error);

// Derived per-sample rates for CSV and HTML: the sample's duration (the distance to the previous
// sample, at most meta.interval_s), tx/rx Mbit/s and loss % (lost/expected, -1 with nothing expected).
struct SampleRates { double duration_s = 0, tx_mbps = 0, rx_mbps = 0, loss_pct = -1; };
std::vector<SampleRates> sample_rates(const Report& r);
// report.json's totals: calls, setups_ok, failures, sent, received, lost, reordered, duplicates,
// bytes, loss_pct (lost/expected over every call-direction and step).
nlohmann::json totals_json(const Report& r);
// The result in one word ("ok", "failures", "breakpoint"), as in report.json.
std::string result_word(const Report& r, const std::vector<StepSummary>& steps);

}  // namespace loadgen
