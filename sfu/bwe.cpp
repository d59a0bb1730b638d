// Send-side bandwidth estimation (draft-ietf-rmcat-gcc-02, after libwebrtc's goog_cc): send
// history, packet groups, trendline filter and overuse detector, acked throughput, AIMD, and the
// estimator combining them with the loss-based controller and REMB.
#include "sfu/bwe.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace sfu {

const char* to_string(BandwidthUsage u) {
  switch (u) {
    case BandwidthUsage::Normal: return "normal";
    case BandwidthUsage::Overusing: return "overusing";
    case BandwidthUsage::Underusing: return "underusing";
  }
  return "?";
}

// ---- send history ----

SendHistory::SendHistory(size_t capacity) : ring_(std::bit_ceil(std::clamp<size_t>(capacity, 16, 65536))) {}

void SendHistory::on_sent(uint16_t seq, int64_t send_us, uint32_t bytes) {
  const int64_t s = highest_ < 0 ? seq
                                 : highest_ + static_cast<int16_t>(static_cast<uint16_t>(seq - static_cast<uint16_t>(highest_)));
  if (s < 0 || (highest_ >= 0 && s <= highest_ - static_cast<int64_t>(ring_.size()))) return;
  highest_ = std::max(highest_, s);
  ring_[static_cast<size_t>(s) & (ring_.size() - 1)] = Entry{s, send_us, bytes, false, false};
}

SendHistory::Entry* SendHistory::find(uint16_t seq) {
  if (highest_ < 0) return nullptr;
  const int64_t s = highest_ + static_cast<int16_t>(static_cast<uint16_t>(seq - static_cast<uint16_t>(highest_)));
  if (s < 0 || s > highest_) return nullptr;
  Entry& e = ring_[static_cast<size_t>(s) & (ring_.size() - 1)];
  return e.seq == s ? &e : nullptr;
}

// ---- packet groups ----

namespace {
constexpr int64_t kGroupLengthUs = 5000;
constexpr int64_t kBurstDeltaUs = 5000;
constexpr int64_t kMaxBurstUs = 100000;
constexpr int64_t kArrivalOffsetThresholdUs = 3'000'000;
constexpr int kReorderedResetThreshold = 3;
}  // namespace

bool InterArrival::belongs_to_burst(int64_t send_us, int64_t arrival_us) const {
  const int64_t arrival_delta = arrival_us - current_.last_arrival;
  const int64_t send_delta = send_us - current_.last_send;
  if (send_delta == 0) return true;
  const int64_t propagation_delta = arrival_delta - send_delta;
  return propagation_delta < 0 && arrival_delta <= kBurstDeltaUs && arrival_us - current_.first_arrival < kMaxBurstUs;
}

bool InterArrival::add(int64_t send_us, int64_t arrival_us, Deltas& out) {
  if (!current_.valid) {
    current_ = Group{send_us, send_us, arrival_us, arrival_us, true};
    return false;
  }
  if (send_us < current_.first_send) return false;  // sent before the current group: out of order
  bool ready = false;
  if (send_us - current_.first_send > kGroupLengthUs && !belongs_to_burst(send_us, arrival_us)) {
    if (previous_.valid) {
      out.send_ms = static_cast<double>(current_.last_send - previous_.last_send) / 1000.0;
      out.arrival_ms = static_cast<double>(current_.last_arrival - previous_.last_arrival) / 1000.0;
      out.arrival_us = current_.last_arrival;
      const int64_t arrival_delta = current_.last_arrival - previous_.last_arrival;
      if (arrival_delta > kArrivalOffsetThresholdUs) {  // the receiver's clock jumped: start over
        *this = InterArrival{};
        return false;
      }
      if (arrival_delta < 0) {  // a reordered group
        if (++reordered_ >= kReorderedResetThreshold) *this = InterArrival{};
        return false;
      }
      reordered_ = 0;
      ready = true;
    }
    previous_ = current_;
    current_ = Group{send_us, send_us, arrival_us, arrival_us, true};
    return ready;
  }
  current_.last_send = std::max(current_.last_send, send_us);
  current_.last_arrival = arrival_us;
  return false;
}

// ---- trendline filter and overuse detector ----

namespace {
constexpr double kSmoothing = 0.9;
constexpr double kThresholdGain = 4.0;
constexpr int kMinDeltas = 60;
constexpr int kMaxDeltas = 1000;
constexpr double kOverusingTimeMs = 10;
constexpr double kMaxAdaptOffsetMs = 15;
constexpr double kUp = 0.01, kDown = 0.00018;
constexpr double kMinThreshold = 6, kMaxThreshold = 600;
constexpr double kMaxThresholdStepMs = 100;
}  // namespace

void TrendlineDetector::update(const InterArrival::Deltas& d) {
  const double arrival_ms = static_cast<double>(d.arrival_us) / 1000.0;
  num_deltas_ = std::min(num_deltas_ + 1, kMaxDeltas);
  if (first_arrival_ms_ < 0) first_arrival_ms_ = arrival_ms;
  accumulated_ += d.arrival_ms - d.send_ms;
  smoothed_ = kSmoothing * smoothed_ + (1 - kSmoothing) * accumulated_;
  history_[next_] = {arrival_ms - first_arrival_ms_, smoothed_};
  next_ = (next_ + 1) % kWindow;
  size_ = std::min(size_ + 1, kWindow);
  double trend = prev_trend_;
  if (size_ == kWindow) {  // least-squares slope of smoothed delay over arrival time
    double mx = 0, my = 0;
    for (const auto& p : history_) { mx += p[0]; my += p[1]; }
    mx /= kWindow;
    my /= kWindow;
    double num = 0, den = 0;
    for (const auto& p : history_) {
      num += (p[0] - mx) * (p[1] - my);
      den += (p[0] - mx) * (p[0] - mx);
    }
    if (den != 0) trend = num / den;
  }
  detect(trend, d.send_ms, arrival_ms);
}

void TrendlineDetector::detect(double trend, double send_delta_ms, double now_ms) {
  if (num_deltas_ < 2) {
    state_ = BandwidthUsage::Normal;
    return;
  }
  modified_trend_ = std::min(num_deltas_, kMinDeltas) * trend * kThresholdGain;
  if (modified_trend_ > threshold_) {
    time_over_ms_ = time_over_ms_ < 0 ? send_delta_ms / 2 : time_over_ms_ + send_delta_ms;
    ++overuse_count_;
    if (time_over_ms_ > kOverusingTimeMs && overuse_count_ > 1 && trend >= prev_trend_) {
      time_over_ms_ = 0;
      overuse_count_ = 0;
      state_ = BandwidthUsage::Overusing;
    }
  } else if (modified_trend_ < -threshold_) {
    time_over_ms_ = -1;
    overuse_count_ = 0;
    state_ = BandwidthUsage::Underusing;
  } else {
    time_over_ms_ = -1;
    overuse_count_ = 0;
    state_ = BandwidthUsage::Normal;
  }
  prev_trend_ = trend;
  update_threshold(modified_trend_, now_ms);
}

void TrendlineDetector::update_threshold(double modified_trend, double now_ms) {
  if (last_threshold_ms_ < 0) last_threshold_ms_ = now_ms;
  const double magnitude = std::fabs(modified_trend);
  if (magnitude > threshold_ + kMaxAdaptOffsetMs) {  // a spike: do not follow it
    last_threshold_ms_ = now_ms;
    return;
  }
  const double k = magnitude < threshold_ ? kDown : kUp;
  const double dt = std::clamp(now_ms - last_threshold_ms_, 0.0, kMaxThresholdStepMs);
  threshold_ = std::clamp(threshold_ + k * (magnitude - threshold_) * dt, kMinThreshold, kMaxThreshold);
  last_threshold_ms_ = now_ms;
}

// ---- acknowledged throughput ----

void AckedBitrate::add(int64_t arrival_us, uint32_t bytes) {
  const int64_t now_ms = arrival_us / 1000;
  const double window = estimate_kbps_ < 0 ? 500 : 150;
  if (now_ms < prev_ms_) {  // the receiver's clock went back
    prev_ms_ = -1;
    sum_bytes_ = 0;
    window_ms_ = 0;
  }
  if (prev_ms_ >= 0) {
    window_ms_ += static_cast<double>(now_ms - prev_ms_);
    if (static_cast<double>(now_ms - prev_ms_) > window) {  // nothing for a whole window
      sum_bytes_ = 0;
      window_ms_ = std::fmod(window_ms_, window);
    }
  }
  prev_ms_ = now_ms;
  double sample = -1;
  if (window_ms_ >= window) {
    sample = 8.0 * static_cast<double>(sum_bytes_) / window;
    window_ms_ -= window;
    sum_bytes_ = 0;
  }
  sum_bytes_ += bytes;
  if (sample < 0) return;
  if (estimate_kbps_ < 0) {
    estimate_kbps_ = sample;
    return;
  }
  const double uncertainty = 10 * std::fabs(estimate_kbps_ - sample) / std::max(estimate_kbps_, 1.0);
  const double sample_var = uncertainty * uncertainty;
  const double predicted_var = variance_ + 5;
  estimate_kbps_ = (sample_var * estimate_kbps_ + predicted_var * sample) / (sample_var + predicted_var);
  variance_ = sample_var * predicted_var / (sample_var + predicted_var);
}

std::optional<int64_t> AckedBitrate::bps() const {
  if (estimate_kbps_ < 0) return std::nullopt;
  return static_cast<int64_t>(estimate_kbps_ * 1000);
}

}  // namespace sfu
