// Send-side bandwidth estimation per subscriber, in the spirit of Google Congestion Control
// (draft-ietf-rmcat-gcc-02) as libwebrtc implements it: the packets we sent (SendHistory) matched
// to the subscriber's transport-wide feedback (sfu/twcc.hpp), a delay-based controller (packet
// groups, trendline filter, overuse detector with an adaptive threshold, AIMD rate control) and a
// loss-based one; REMB when the subscriber sends no transport-wide feedback. Sans-I/O: every call
// takes the caller's time; nothing allocates after construction.
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "sfu/twcc.hpp"

namespace sfu {

// The packets sent to one subscriber by transport-wide sequence number (the number we stamp in the
// transport-cc header extension of each packet sent to it): a ring of `capacity` (a power of two,
// allocated once) behind the newest; feedback naming an older, unsent or future number finds nothing.
class SendHistory {
 public:
  static constexpr size_t kDefaultCapacity = 4096;
  struct Entry {
    int64_t seq = -1;  // unwrapped; -1: empty slot
    int64_t send_us = 0;
    uint32_t bytes = 0;
    bool acked = false;          // reported received
    bool reported_lost = false;  // reported not received (and not received since)
  };
  explicit SendHistory(size_t capacity = kDefaultCapacity);
  // Sequence numbers are given in sending order (each the previous + 1, wrapping; gaps allowed).
  void on_sent(uint16_t seq, int64_t send_us, uint32_t bytes);
  Entry* find(uint16_t seq);
  size_t capacity() const { return ring_.size(); }

 private:
  std::vector<Entry> ring_;
  int64_t highest_ = -1;
};

enum class BandwidthUsage : uint8_t { Normal, Overusing, Underusing };
const char* to_string(BandwidthUsage u);

// Packet groups (GCC 5.2, libwebrtc's InterArrival): packets sent within 5 ms of a group's first, or
// arriving in a burst (within 5 ms of the previous, less than 100 ms after the group's first,
// with a negative propagation delta), form a group; each completed group gives its send and
// arrival time deltas from the previous one. Packets sent before the current group are ignored.
class InterArrival {
 public:
  struct Deltas {
    double send_ms = 0;     // last send time of the group minus that of the previous
    double arrival_ms = 0;  // last arrival of the group minus that of the previous
    int64_t arrival_us = 0; // the completed group's last arrival (when the deltas are known)
  };
  bool add(int64_t send_us, int64_t arrival_us, Deltas& out);

 private:
  struct Group {
    int64_t first_send = 0, last_send = 0, first_arrival = 0, last_arrival = 0;
    bool valid = false;
  };
  bool belongs_to_burst(int64_t send_us, int64_t arrival_us) const;
  Group current_, previous_;
  int reordered_ = 0;
};

// Trendline filter and overuse detector (GCC 5.3-5.4, libwebrtc's TrendlineEstimator): the delay
// variation accumulated and smoothed (0.9), its least-squares slope over the last 20 groups,
// scaled by min(groups, 60) x 4 and compared with an adaptive threshold gamma (12.5 ms at start,
// k_u 0.01 / k_d 0.00018 per ms toward |trend|, clamped to 6..600, not adapted when |trend| is
// more than 15 over it); overusing after 10 ms of a rising trend above it, underusing below -gamma.
class TrendlineDetector {
 public:
  static constexpr size_t kWindow = 20;
  void update(const InterArrival::Deltas& d);
  BandwidthUsage state() const { return state_; }
  double threshold() const { return threshold_; }
  double modified_trend() const { return modified_trend_; }

 private:
  void detect(double trend, double send_delta_ms, double now_ms);
  void update_threshold(double modified_trend, double now_ms);
  std::array<std::array<double, 2>, kWindow> history_{};  // (arrival ms since the first, smoothed delay)
  size_t size_ = 0, next_ = 0;
  int num_deltas_ = 0;
  double first_arrival_ms_ = -1, accumulated_ = 0, smoothed_ = 0, prev_trend_ = 0, modified_trend_ = 0;
  double threshold_ = 12.5, last_threshold_ms_ = -1, time_over_ms_ = -1;
  int overuse_count_ = 0;
  BandwidthUsage state_ = BandwidthUsage::Normal;
};

// Acknowledged throughput (libwebrtc's BitrateEstimator): bytes the subscriber received, in windows
// of its arrival clock (500 ms for the first sample, then 150 ms), combined by a Bayesian update
// that trusts samples far from the estimate less.
class AckedBitrate {
 public:
  void add(int64_t arrival_us, uint32_t bytes);
  std::optional<int64_t> bps() const;

 private:
  double estimate_kbps_ = -1, variance_ = 50, window_ms_ = 0;
  int64_t sum_bytes_ = 0, prev_ms_ = -1;
};

// AIMD rate control (GCC 5.5, libwebrtc's AimdRateControl): hold / increase / decrease driven by
// the detector. Increase is multiplicative (increase_per_s, GCC's 8 %/s) while the link capacity is unknown or the acked
// throughput is beyond it, additive (about a packet per response time, rtt + 100 ms) near it;
// overuse decreases to 0.85 x acked throughput (at most once per min(max(rtt, 10 ms), 200 ms))
// and updates the capacity estimate. An increase never goes past 1.5 x acked + 10 kbit/s.
class AimdRateControl {
 public:
  AimdRateControl(int64_t start_bps, int64_t min_bps, int64_t max_bps, double max_over_acked,
                  double increase_per_s = 1.08);
  void update(BandwidthUsage usage, std::optional<int64_t> acked_bps, int64_t now_us);
  void set_rtt_us(int64_t rtt_us) { rtt_us_ = rtt_us; }
  // A probe's result (libwebrtc's SetEstimate from ProbeBitrateEstimator): the path carried this
  // much without overuse, so the rate may start there.
  void raise_to(int64_t bps) { current_ = std::clamp(std::max(current_, static_cast<double>(bps)), min_, max_); }
  int64_t bps() const { return static_cast<int64_t>(current_); }

 private:
  enum class State : uint8_t { Hold, Increase, Decrease };
  void change_state(BandwidthUsage usage, int64_t now_us);
  double increase(double throughput, int64_t now_us);
  double decrease(double throughput, int64_t now_us);
  double additive_increase_bps_per_s() const;
  void capacity_update(double sample_bps, double alpha);
  double capacity_upper() const;
  double capacity_lower() const;
  double current_, min_, max_, max_over_acked_, increase_per_s_;
  double capacity_ = -1, deviation_ = 0.4;  // link capacity estimate (bps) and its normalized variance
  int64_t rtt_us_ = 200000, last_change_us_ = -1;
  double last_throughput_ = 0;
  State state_ = State::Hold;
};

struct BweConfig {
  int64_t min_bps = 30'000;
  int64_t max_bps = 10'000'000;
  int64_t start_bps = 1'000'000;
  int64_t remb_timeout_us = 3'000'000;  // REMB is used when no transport-wide feedback for this long
  int64_t loss_window_us = 1'000'000;   // loss-based controller: one decision per window
  uint32_t loss_window_min_packets = 20;
  double max_over_acked = 1.5;  // delay-based increase capped at this x acked + 10 kbit/s; 0: no cap
  double increase_per_s = 1.08;  // multiplicative increase per second (GCC: 1.08)
};

// The estimator for one subscriber: on_sent() for every packet sent to it (stamped with a
// transport-wide sequence number), on_feedback() for every transport-wide feedback it sends,
// on_remb() for its REMB. The estimate is min(delay-based, loss-based) within [min_bps, max_bps];
// the loss-based rate, unlimited until the first lossy window, is per loss window: x (1 - 0.5 loss)
// (from the current estimate) above 10 % loss, x 1.05 below 2 %, held between, and unlimited again
// after 3 windows below 2 % in a row. REMB's rate (clamped)
// is the estimate while no transport-wide feedback came in remb_timeout_us.
class SendSideBwe {
 public:
  explicit SendSideBwe(const BweConfig& config = {}, size_t history_capacity = SendHistory::kDefaultCapacity);
  void on_sent(uint16_t transport_seq, int64_t send_us, size_t bytes);
  // Returns how many statuses matched a sent packet (0: nothing of ours, nothing changed).
  size_t on_feedback(const TwccFeedback& fb, int64_t now_us);
  void on_remb(uint64_t bps, int64_t now_us);
  void set_rtt_us(int64_t rtt_us) { delay_.set_rtt_us(rtt_us); }
  // The caller probed the path (padding on top of its media) and the acknowledged throughput
  // reached `bps` with no overuse: the delay-based rate starts from there (loss still limits).
  void on_probe_result(int64_t bps) {
    delay_.raise_to(bps);
    estimate_ = clamp(std::min(delay_.bps(), loss_based_));
  }

  int64_t estimate_bps() const { return estimate_; }
  std::optional<int64_t> acked_bps() const { return acked_.bps(); }
  BandwidthUsage state() const { return detector_.state(); }
  uint64_t feedback_used() const { return feedback_used_; }  // feedback packets that matched
  int64_t delay_based_bps() const { return delay_.bps(); }
  int64_t loss_based_bps() const { return loss_based_; }
  double last_loss_fraction() const { return last_loss_; }  // of the last complete loss window
  const TrendlineDetector& detector() const { return detector_; }
  SendHistory& history() { return history_; }

 private:
  void account(SendHistory::Entry& e, const TwccPacketStatus& s, int64_t reference_us);
  void update_loss(int64_t now_us);
  int64_t clamp(int64_t bps) const;

  BweConfig config_;
  SendHistory history_;
  InterArrival inter_arrival_;
  TrendlineDetector detector_;
  AckedBitrate acked_;
  AimdRateControl delay_;
  int64_t loss_based_;
  int64_t estimate_;
  uint64_t feedback_used_ = 0;
  int64_t reference_ticks_ = 0;  // the feedback reference time, unwrapped
  int32_t last_reference_ = 0;
  bool have_reference_ = false;
  int64_t last_twcc_us_ = -1, loss_window_start_us_ = -1;
  uint32_t window_received_ = 0, window_lost_ = 0;
  double last_loss_ = 0;
  int clean_windows_ = 0;
};

}  // namespace sfu
