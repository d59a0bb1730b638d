// The engine's private state (engine.hpp), shared by engine.cpp (calls and flows),
// engine_media.cpp (media both ways) and engine_stats.cpp (steps, samples, the report).
#pragma once
#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <queue>
#include <vector>

#include "loadgen/engine.hpp"
#include "loadgen/turn_client.hpp"

namespace loadgen {

enum class CallState : uint8_t { Opening, Setup, Media, Closing, Done };

// At the end of the run, a call still not set up after this long counts as failed.
inline constexpr int64_t kStuckSetupUs = 5000000;

// One direction of a call: the sources on the sending side and the receivers (same index) on
// the other side, with the counters at the last step boundary and interval.
struct Direction {
  std::vector<MediaSource> sources;
  std::vector<Receiver> receivers;
  std::vector<uint32_t> ssrcs;
  ReceptionCounters step_snap;        // receivers' sums at the last step boundary
  uint64_t lost_reported = 0;         // lost packets in the records written so far
  uint64_t sent_total = 0;            // packets sent by the sources
  uint64_t step_snap_sent = 0;
  std::vector<uint32_t> rtt_window;   // RTT samples (us) since the last step boundary, bounded
  int64_t last_rx_us = 0;
};

struct Call {
  Call(uint32_t id_, uint32_t local_, const ClientConfig& a, const ClientConfig& b, uint64_t seed)
      : id(id_), local(local_), side{TurnClient(a, seed ^ (2ULL * id_)), TurnClient(b, seed ^ (2ULL * id_ + 1))} {}
  uint32_t id, local;
  TurnClient side[2];
  bool flow_open[2] = {false, false};
  bool peers_added = false;
  CallState state = CallState::Opening;
  bool closed_by_plan = false;        // a lower step's target closed it
  int64_t started_us = 0, media_start_us = -1, media_end_us = -1, close_deadline_us = 0;
  int64_t timer_at_ms[2] = {INT64_MAX, INT64_MAX};   // what the timer heap holds for each side
  CallRecord rec;
  Direction dir[2];                   // 0: a -> b, 1: b -> a
};

// A heap entry: a client timer (kind 0, `which` = side), a media source due (kind 1, `which`
// = direction, `stream`), a closing call's deadline (kind 2) or a receiver report due (kind 3,
// `which` = the direction reported on). Stale entries are skipped when popped.
struct Timer {
  int64_t at_us;
  uint32_t local;
  uint8_t kind, which, stream;
  bool operator>(const Timer& o) const { return at_us > o.at_us; }
};

// Send lag in 100 us buckets up to 200 ms, then one overflow bucket.
struct LagHistogram {
  static constexpr size_t kBuckets = 2001;
  std::array<uint64_t, kBuckets> n{};
  uint64_t total = 0;
  void add(uint64_t lag_us) {
    ++n[std::min<uint64_t>(lag_us / 100, kBuckets - 1)];
    ++total;
  }
  double p99_ms() const;
  void clear() { n.fill(0); total = 0; }
};

struct Engine::Impl {
  Impl(EngineConfig c, FlowSink& s);

  EngineConfig cfg;
  FlowSink& sink;
  Plan plan;
  ClientConfig client_cfg;
  bool started = false, ending = false, finished = false;
  int64_t t0_us = 0, end_us = 0, hard_end_us = 0;
  int64_t drain_until_us = 0;         // set at the end: media stops, the counters are read then
  uint32_t opened = 0;                // calls opened so far (this shard)
  uint32_t plan_closed = 0;           // calls closed because a step lowered the target
  uint32_t setting_up = 0;            // calls in Opening or Setup (bounded by cfg.max_pending)
  int64_t last_now_us = 0;
  std::vector<std::unique_ptr<Call>> calls;   // by local index (id / shard_n)
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers;
  std::vector<uint8_t> payload, wire, out;

  // Measurements.
  uint32_t cur_step = 0;
  int64_t next_sample_ms = 0;
  uint64_t tx_packets = 0, tx_bytes = 0, rx_packets = 0, rx_bytes = 0;
  uint64_t prev_expected = 0, prev_lost = 0;
  uint32_t iv_setups = 0, iv_failures = 0, total_failures = 0, total_setups = 0;
  std::vector<double> iv_setup_ms;
  std::vector<double> iv_rtt_us;     // RTT samples of the interval, whoever took them (bounded)
  LagHistogram iv_lag, run_lag;
  std::vector<StreamStepRecord> streams;
  std::vector<Sample> samples;
  std::vector<std::string> errors;
  uint64_t run_tx = 0, run_rx = 0;    // media packets sent, and arrivals matched, over the run
  int64_t last_server_rx_us = -1;     // when anything last arrived from the server, on any flow
  // Timeout failures by what was measured (the run-level errors), each with its first time.
  struct TimeoutCount { uint32_t n = 0; double first_s = -1; };
  TimeoutCount server_silent, setup_timeouts, end_setup_timeouts, media_timeouts, request_timeouts;
  double silent_since_s = -1;         // the server's last answer before the first silent timeout
  Engine::Progress last_progress;

  // engine.cpp: calls and flows.
  int64_t rel_ms(int64_t now_us) const { return (now_us - t0_us) / 1000; }
  Call* find(uint64_t flow);
  static uint64_t flow_of(const Call& c, int side) { return (static_cast<uint64_t>(c.id) << 1) | static_cast<uint64_t>(side); }
  void open_calls(int64_t now_us);
  void open_call(uint32_t id, int64_t now_us);
  ClientConfig side_config(uint32_t id, int64_t now_us) const;
  void pump(Call& c, int side);
  void schedule_client(Call& c, int side);
  void advance(Call& c, int64_t now_us);
  void fail_call(Call& c, const std::string& stage, int code, const std::string& reason, int64_t now_us,
                 TimeoutCount* timeout_kind = nullptr);
  void count_timeout(const Call& c, TimeoutCount* kind, int64_t now_us);
  bool others_waiting(const Call& except) const;
  bool drained() const;
  void begin_close(Call& c, int64_t now_us);
  void finalize(Call& c);
  void run_timers(int64_t now_us);
  void sweep(int64_t now_us);
  void end_if_all_failed(int64_t now_us);
  void begin_drain(int64_t now_us);
  void end_run(int64_t now_us);

  // engine_media.cpp
  void start_media(Call& c, int64_t now_us);
  void send_media(Call& c, int d, size_t k, int64_t now_us);
  void receive_media(Call& c, int side, std::span<const uint8_t> payload, int64_t now_us);
  void send_rtcp(Call& c, int d, int64_t now_us);

  // engine_stats.cpp
  void step_boundary(uint32_t step, int64_t now_us, bool final = false);
  void sample(int64_t now_us);
  Report build_report();
  void add_timeout_errors(std::vector<std::string>& out) const;
};

}  // namespace loadgen
