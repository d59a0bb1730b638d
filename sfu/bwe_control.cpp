// Send-side bandwidth estimation, the controllers (sfu/bwe.hpp): AIMD rate control with the link
// capacity estimate (draft-ietf-rmcat-gcc-02 5.5, libwebrtc's AimdRateControl), and SendSideBwe,
// which feeds feedback through the delay-based chain and runs the loss-based controller (GCC 6)
// and the REMB fallback.
#include <algorithm>
#include <cmath>

#include "sfu/bwe.hpp"

namespace sfu {

// ---- AIMD ----

namespace {
constexpr double kBeta = 0.85;
constexpr double kCapacityAlpha = 0.05;
constexpr double kMinIncreaseBpsPerS = 4000;
constexpr double kPacketBits = 1200 * 8;
constexpr double kFrameS = 1.0 / 30;
}  // namespace

AimdRateControl::AimdRateControl(int64_t start_bps, int64_t min_bps, int64_t max_bps, double max_over_acked,
                                 double increase_per_s)
    : current_(static_cast<double>(std::clamp(start_bps, min_bps, max_bps))), min_(static_cast<double>(min_bps)),
      max_(static_cast<double>(max_bps)), max_over_acked_(max_over_acked), increase_per_s_(increase_per_s) {}

// Link capacity: an exponential average of the throughput at overuse, with a normalized deviation
// (clamped 0.4..2.5) giving bounds at +-3 standard deviations.
void AimdRateControl::capacity_update(double sample_bps, double alpha) {
  const double sample = sample_bps / 1000, est = capacity_ < 0 ? sample : (1 - alpha) * capacity_ / 1000 + alpha * sample;
  const double error = est - sample;
  deviation_ = std::clamp((1 - alpha) * deviation_ + alpha * error * error / std::max(est, 1.0), 0.4, 2.5);
  capacity_ = est * 1000;
}

double AimdRateControl::capacity_upper() const {
  return capacity_ < 0 ? INFINITY : capacity_ + 3000 * std::sqrt(deviation_ * capacity_ / 1000);
}

double AimdRateControl::capacity_lower() const {
  return capacity_ < 0 ? 0 : std::max(0.0, capacity_ - 3000 * std::sqrt(deviation_ * capacity_ / 1000));
}

void AimdRateControl::change_state(BandwidthUsage usage, int64_t now_us) {
  switch (usage) {
    case BandwidthUsage::Normal:
      if (state_ == State::Hold) {
        last_change_us_ = now_us;
        state_ = State::Increase;
      }
      break;
    case BandwidthUsage::Overusing: state_ = State::Decrease; break;
    case BandwidthUsage::Underusing: state_ = State::Hold; break;
  }
}

// About one packet per response time (rtt + 100 ms), the packet being a frame's share at 30 fps.
double AimdRateControl::additive_increase_bps_per_s() const {
  const double frame_bits = current_ * kFrameS;
  const double packets = std::max(1.0, std::ceil(frame_bits / kPacketBits));
  const double response_s = static_cast<double>(rtt_us_ + 100000) / 1e6;
  return std::max(kMinIncreaseBpsPerS, frame_bits / packets / response_s);
}

double AimdRateControl::increase(double throughput, int64_t now_us) {
  if (capacity_ >= 0 && throughput > capacity_upper()) capacity_ = -1;  // far beyond the old capacity
  const double dt_s = last_change_us_ < 0 ? 1.0 : static_cast<double>(now_us - last_change_us_) / 1e6;
  double next = current_;
  if (capacity_ >= 0) {
    next += additive_increase_bps_per_s() * std::max(dt_s, 0.0);
  } else {
    const double alpha = std::pow(increase_per_s_, std::clamp(dt_s, 0.0, 1.0));
    next += std::max(current_ * (alpha - 1), 1000.0);
  }
  last_change_us_ = now_us;
  return next;
}

double AimdRateControl::decrease(double throughput, int64_t now_us) {
  double next = current_;
  double lowered = throughput * kBeta;
  if (lowered > 5000) lowered -= 5000;
  if (lowered > current_ && capacity_ >= 0) lowered = kBeta * capacity_;
  if (lowered < current_) next = lowered;  // never an increase on overuse
  if (throughput < capacity_lower()) capacity_ = -1;
  capacity_update(throughput, kCapacityAlpha);
  state_ = State::Hold;  // until the queues have drained
  last_change_us_ = now_us;
  return next;
}

void AimdRateControl::update(BandwidthUsage usage, std::optional<int64_t> acked_bps, int64_t now_us) {
  if (acked_bps) last_throughput_ = static_cast<double>(*acked_bps);
  const double throughput = acked_bps ? last_throughput_ : (last_throughput_ > 0 ? last_throughput_ : current_);
  if (usage == BandwidthUsage::Overusing && state_ == State::Hold && last_change_us_ >= 0) {
    // At most one decrease per min(max(rtt, 10 ms), 200 ms), unless the throughput fell below half.
    const int64_t interval = std::clamp<int64_t>(rtt_us_, 10000, 200000);
    if (now_us - last_change_us_ < interval && throughput >= current_ / 2) return;
  }
  change_state(usage, now_us);
  double next = current_;
  if (state_ == State::Increase) next = increase(throughput, now_us);
  else if (state_ == State::Decrease) next = decrease(throughput, now_us);
  if (max_over_acked_ > 0 && acked_bps && next > current_) {
    const double cap = max_over_acked_ * throughput + 10000;
    if (next > cap) next = std::max(current_, cap);
  }
  current_ = std::clamp(next, min_, max_);
}

// ---- the estimator ----

namespace {
constexpr int kReleaseWindows = 3;
}  // namespace

SendSideBwe::SendSideBwe(const BweConfig& config, size_t history_capacity)
    : config_(config), history_(history_capacity),
      delay_(config.start_bps, config.min_bps, config.max_bps, config.max_over_acked, config.increase_per_s), loss_based_(config.max_bps),
      estimate_(clamp(config.start_bps)) {}

int64_t SendSideBwe::clamp(int64_t bps) const { return std::clamp(bps, config_.min_bps, config_.max_bps); }

void SendSideBwe::on_sent(uint16_t transport_seq, int64_t send_us, size_t bytes) {
  history_.on_sent(transport_seq, send_us, static_cast<uint32_t>(std::min<size_t>(bytes, UINT32_MAX)));
}

// One status of a sent packet: loss counts (a packet reported lost and later received counts as
// received), and for a first report of reception, the throughput and the delay-based chain.
void SendSideBwe::account(SendHistory::Entry& e, const TwccPacketStatus& s, int64_t reference_us) {
  if (e.acked) return;
  if (!s.received) {
    if (!e.reported_lost) ++window_lost_;
    e.reported_lost = true;
    return;
  }
  if (e.reported_lost && window_lost_ > 0) --window_lost_;
  e.reported_lost = false;
  e.acked = true;
  ++window_received_;
  const int64_t arrival_us = reference_us + s.arrival_us;
  acked_.add(arrival_us, e.bytes);
  InterArrival::Deltas d;
  if (inter_arrival_.add(e.send_us, arrival_us, d)) detector_.update(d);
}

size_t SendSideBwe::on_feedback(const TwccFeedback& fb, int64_t now_us) {
  // The 24-bit reference time wraps (every 12 days); successive ones are unwrapped.
  if (have_reference_) {
    const int32_t diff = static_cast<int32_t>(static_cast<uint32_t>(fb.reference_time - last_reference_) << 8) >> 8;
    reference_ticks_ += diff;
  } else {
    reference_ticks_ = fb.reference_time;
    have_reference_ = true;
  }
  last_reference_ = fb.reference_time;
  const int64_t reference_us = reference_ticks_ * kTwccReferenceUnitUs;
  size_t matched = 0;
  TwccFeedback::Cursor cursor(fb);
  TwccPacketStatus s;
  while (cursor.next(s)) {
    SendHistory::Entry* e = history_.find(s.seq);
    if (!e) continue;
    ++matched;
    account(*e, s, reference_us);
  }
  if (matched == 0) return 0;
  ++feedback_used_;
  last_twcc_us_ = now_us;
  delay_.update(detector_.state(), acked_.bps(), now_us);
  update_loss(now_us);
  estimate_ = clamp(std::min(delay_.bps(), loss_based_));
  return matched;
}

void SendSideBwe::update_loss(int64_t now_us) {
  if (loss_window_start_us_ < 0) loss_window_start_us_ = now_us;
  const uint32_t expected = window_received_ + window_lost_;
  if (now_us - loss_window_start_us_ < config_.loss_window_us || expected < config_.loss_window_min_packets) return;
  last_loss_ = static_cast<double>(window_lost_) / expected;
  const int64_t current = clamp(std::min(delay_.bps(), loss_based_));
  if (last_loss_ > 0.10) {
    loss_based_ = static_cast<int64_t>(static_cast<double>(current) * (1 - 0.5 * last_loss_));
    clean_windows_ = 0;
  } else if (last_loss_ < 0.02) {
    // +5 % a clean window; after kReleaseWindows clean ones in a row the loss-based limit is lifted
    // (transient congestion loss is the delay-based controller's to handle).
    loss_based_ = ++clean_windows_ >= kReleaseWindows ? config_.max_bps
                                                      : static_cast<int64_t>(static_cast<double>(loss_based_) * 1.05);
  } else {
    clean_windows_ = 0;
  }
  loss_based_ = clamp(loss_based_);
  loss_window_start_us_ = now_us;
  window_received_ = window_lost_ = 0;
}

void SendSideBwe::on_remb(uint64_t bps, int64_t now_us) {
  if (last_twcc_us_ >= 0 && now_us - last_twcc_us_ < config_.remb_timeout_us) return;  // transport-cc leads
  estimate_ = clamp(static_cast<int64_t>(std::min<uint64_t>(bps, INT64_MAX)));
}

}  // namespace sfu
