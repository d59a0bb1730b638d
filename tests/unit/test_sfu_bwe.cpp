// Send-side bandwidth estimation (sfu/bwe.hpp): the send history, the detector on synthetic delay
// trends, and the whole loop on a simulated link: packets sent at the estimate (or a fixed rate)
// through a bottleneck (drop-tail queue, propagation delay, optional random loss), arrivals
// recorded by a TwccRecorder on the receiver's clock, its feedback parsed and given back to the
// estimator after the return delay.
#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <random>
#include <vector>

#include "sfu/bwe.hpp"

using namespace sfu;

namespace {

// A bottleneck of `capacity_bps` with a drop-tail queue of at most max_queue_us of data, then
// propagation; random loss before the queue.
struct Link {
  double capacity_bps;
  int64_t prop_us = 20000;
  int64_t max_queue_us = 300000;
  double loss = 0;
  int64_t free_at = 0;
  std::mt19937 rng{42};
  // Arrival time, or -1 when dropped.
  int64_t transmit(int64_t now, size_t bytes) {
    if (loss > 0 && std::uniform_real_distribution<double>(0, 1)(rng) < loss) return -1;
    const int64_t start = std::max(now, free_at);
    if (start - now > max_queue_us) return -1;
    free_at = start + static_cast<int64_t>(static_cast<double>(bytes) * 8e6 / capacity_bps);
    return free_at + prop_us;
  }
};

struct Sim {
  explicit Sim(const BweConfig& cfg, double capacity_bps) : bwe(cfg), link{capacity_bps} {}
  SendSideBwe bwe;
  Link link;
  TwccRecorder rec{0x11111111, 0x22222222};
  static constexpr int64_t kReceiverClockOffset = 123'456'789;  // the receiver's clock is its own
  static constexpr size_t kPacket = 1200;
  std::deque<std::pair<int64_t, uint16_t>> in_flight;
  std::deque<std::pair<int64_t, std::vector<uint8_t>>> feedback;
  std::vector<uint8_t> buf = std::vector<uint8_t>(8 * 1200);
  uint16_t seq = 0;
  double credit = 0;
  int64_t now = 0;
  uint64_t sent = 0, lost = 0;
  int64_t max_queue_seen_us = 0;

  // Runs for `us` of simulated time in 1 ms steps, sending at rate(bwe) bits per second.
  void run(int64_t us, const std::function<double(const SendSideBwe&)>& rate) {
    for (const int64_t until = now + us; now < until; now += 1000) {
      credit = std::min(credit + rate(bwe) / 8 / 1000, 4.0 * kPacket);
      while (credit >= kPacket) {
        credit -= kPacket;
        bwe.on_sent(seq, now, kPacket);
        const int64_t at = link.transmit(now, kPacket);
        ++sent;
        if (at < 0) ++lost;
        else in_flight.emplace_back(at, seq);
        max_queue_seen_us = std::max(max_queue_seen_us, link.free_at - now);
        ++seq;
      }
      while (!in_flight.empty() && in_flight.front().first <= now) {
        rec.record(in_flight.front().second, in_flight.front().first + kReceiverClockOffset);
        in_flight.pop_front();
      }
      if (rec.due(now + kReceiverClockOffset)) {
        const size_t n = rec.build(now + kReceiverClockOffset, buf);
        feedback.emplace_back(now + link.prop_us, std::vector<uint8_t>(buf.begin(), buf.begin() + static_cast<long>(n)));
      }
      while (!feedback.empty() && feedback.front().first <= now) {
        deliver(feedback.front().second);
        feedback.pop_front();
      }
    }
  }
  void deliver(std::span<const uint8_t> compound) {
    RtcpReader r(compound);
    RtcpPacket p;
    while (r.next(p)) {
      TwccFeedback fb;
      ASSERT_EQ(TwccFeedback::parse(p, fb), RtcpError::None);
      bwe.on_feedback(fb, now);
    }
  }
  // Mean estimate over the next `us`, sampled every 100 ms.
  double mean_estimate(int64_t us, const std::function<double(const SendSideBwe&)>& rate) {
    double sum = 0;
    int n = 0;
    for (int64_t t = 0; t < us; t += 100000, ++n) {
      run(100000, rate);
      sum += static_cast<double>(bwe.estimate_bps());
    }
    return sum / n;
  }
};

double at_estimate(const SendSideBwe& b) { return static_cast<double>(b.estimate_bps()); }

}  // namespace

TEST(SendHistory, FindsBySequenceAcrossTheWrapWithinTheWindow) {
  SendHistory h(16);
  for (uint32_t i = 0; i < 40; ++i) h.on_sent(static_cast<uint16_t>(65520 + i), i * 1000, 100 + i);
  ASSERT_NE(h.find(static_cast<uint16_t>(65520 + 39)), nullptr);
  EXPECT_EQ(h.find(static_cast<uint16_t>(65520 + 39))->send_us, 39000);
  EXPECT_EQ(h.find(static_cast<uint16_t>(65520 + 24))->bytes, 124u);
  EXPECT_EQ(h.find(static_cast<uint16_t>(65520 + 23)), nullptr);  // pushed out of the ring
  EXPECT_EQ(h.find(static_cast<uint16_t>(65520 + 40)), nullptr);  // not sent yet
  EXPECT_EQ(h.find(30000), nullptr);
}

TEST(TrendlineDetector, RisingDelayIsOverusingFlatIsNormal) {
  TrendlineDetector flat, rising;
  for (int i = 0; i < 100; ++i) {
    const int64_t t = i * 10000;
    flat.update({10, 10, t});
    rising.update({10, 12, t});  // each group arrives 2 ms later than it was sent: queue grows
  }
  EXPECT_EQ(flat.state(), BandwidthUsage::Normal);
  EXPECT_EQ(rising.state(), BandwidthUsage::Overusing);
  TrendlineDetector draining;
  for (int i = 0; i < 100; ++i) draining.update({10, 8, i * 10000});
  EXPECT_EQ(draining.state(), BandwidthUsage::Underusing);
  EXPECT_GE(rising.threshold(), 6.0);
  EXPECT_LE(rising.threshold(), 600.0);
}

TEST(SendSideBwe, ConvergesBelowTheBottleneck) {
  const double capacity = 600'000;
  Sim sim(BweConfig{}, capacity);  // starts at 1 Mbit/s, above the link
  sim.run(6'000'000, at_estimate);
  EXPECT_GT(sim.bwe.feedback_used(), 40u);
  const double mean = sim.mean_estimate(10'000'000, at_estimate);
  EXPECT_LT(mean, capacity);
  EXPECT_GT(mean, 0.6 * capacity);
  ASSERT_TRUE(sim.bwe.acked_bps());
  EXPECT_GT(static_cast<double>(*sim.bwe.acked_bps()), 0.5 * capacity);
  EXPECT_LE(static_cast<double>(*sim.bwe.acked_bps()), 1.05 * capacity);
}

TEST(SendSideBwe, DoesNotCollapseBelowCapacity) {
  Sim sim(BweConfig{}, 3'000'000);
  const auto fixed = [](const SendSideBwe&) { return 500'000.0; };
  sim.run(3'000'000, fixed);
  const double mean = sim.mean_estimate(10'000'000, fixed);
  EXPECT_GE(mean, 500'000);
  EXPECT_NE(sim.bwe.state(), BandwidthUsage::Overusing);
  EXPECT_EQ(sim.lost, 0u);
  EXPECT_LT(sim.max_queue_seen_us, 20'000);
}

TEST(SendSideBwe, RampsUpWhenCapacityIsRaised) {
  Sim sim(BweConfig{}, 300'000);
  sim.run(10'000'000, at_estimate);
  const double low = sim.mean_estimate(2'000'000, at_estimate);
  EXPECT_LT(low, 300'000);
  EXPECT_GT(low, 150'000);
  sim.link.capacity_bps = 2'500'000;
  sim.run(10'000'000, at_estimate);
  const double after_10s = static_cast<double>(sim.bwe.estimate_bps());
  EXPECT_GT(after_10s, 1.8 * low);  // GCC's multiplicative 8 %/s: at most x2.16 in 10 s
  sim.run(25'000'000, at_estimate);
  const double after_35s = static_cast<double>(sim.bwe.estimate_bps());
  EXPECT_GT(after_35s, 1'800'000);
  EXPECT_LT(sim.mean_estimate(5'000'000, at_estimate), 2'500'000);
  std::printf("[ bwe      ] 300 kbit/s link: %.0f; raised to 2.5 Mbit/s: %.0f after 10 s, %.0f after 35 s\n", low,
              after_10s, after_35s);
}

TEST(SendSideBwe, FasterIncreaseIsAConfigurationChoice) {
  BweConfig cfg;
  cfg.increase_per_s = 1.25;
  Sim sim(cfg, 300'000);
  sim.run(10'000'000, at_estimate);
  sim.link.capacity_bps = 2'500'000;
  sim.run(10'000'000, at_estimate);
  EXPECT_GT(sim.bwe.estimate_bps(), 1'500'000);
}

TEST(SendSideBwe, RandomLossPullsDownAtFifteenPercentNotAtOne) {
  const auto run = [](double loss) {
    Sim sim(BweConfig{}, 100'000'000);  // no queueing to speak of
    sim.link.loss = loss;
    const auto fixed = [](const SendSideBwe&) { return 1'000'000.0; };
    sim.run(8'000'000, fixed);
    return std::make_pair(sim.bwe.estimate_bps(), sim.bwe.last_loss_fraction());
  };
  const auto [high, high_loss] = run(0.15);
  const auto [low, low_loss] = run(0.01);
  EXPECT_NEAR(high_loss, 0.15, 0.05);
  EXPECT_LT(low_loss, 0.03);
  EXPECT_LT(high, 800'000);  // 1 Mbit/s x 0.925 per window (1 s), and falling
  EXPECT_GE(low, 1'000'000);         // not pulled down
}

TEST(SendSideBwe, RembOnlyWithoutTransportFeedback) {
  BweConfig cfg;
  SendSideBwe bwe(cfg);
  bwe.on_remb(400'000, 0);
  EXPECT_EQ(bwe.estimate_bps(), 400'000);
  bwe.on_remb(50'000'000, 1000);
  EXPECT_EQ(bwe.estimate_bps(), cfg.max_bps);
  bwe.on_remb(1, 2000);
  EXPECT_EQ(bwe.estimate_bps(), cfg.min_bps);
  // Transport-wide feedback takes over; REMB is ignored until it has been silent remb_timeout_us.
  Sim sim(cfg, 5'000'000);
  sim.run(2'000'000, [](const SendSideBwe&) { return 800'000.0; });
  const int64_t twcc = sim.bwe.estimate_bps();
  sim.bwe.on_remb(100'000, sim.now);
  EXPECT_EQ(sim.bwe.estimate_bps(), twcc);
  sim.bwe.on_remb(100'000, sim.now + cfg.remb_timeout_us);
  EXPECT_EQ(sim.bwe.estimate_bps(), 100'000);
}

TEST(SendSideBwe, FeedbackForUnsentPacketsChangesNothing) {
  SendSideBwe bwe;
  TwccRecorder rec(1, 2);
  for (uint16_t s = 100; s < 200; ++s) rec.record(s, int64_t{s} * 1000);
  std::vector<uint8_t> buf(1200);
  const size_t n = rec.build(0, buf);
  RtcpReader r({buf.data(), n});
  RtcpPacket p;
  ASSERT_TRUE(r.next(p));
  TwccFeedback fb;
  ASSERT_EQ(TwccFeedback::parse(p, fb), RtcpError::None);
  EXPECT_EQ(bwe.on_feedback(fb, 0), 0u);
  EXPECT_EQ(bwe.feedback_used(), 0u);
  EXPECT_EQ(bwe.estimate_bps(), 1'000'000);
  for (uint16_t s = 0; s < 150; ++s) bwe.on_sent(s, int64_t{s} * 1000, 1000);
  EXPECT_EQ(bwe.on_feedback(fb, 0), 50u);  // 100..149 are ours; 150..199 were never sent
  EXPECT_EQ(bwe.feedback_used(), 1u);
}

// Sending less than the estimate (one low layer): by default the estimate stays within 1.5 x the
// acknowledged throughput + 10 kbit/s (libwebrtc's rule: no credit for capacity never used);
// max_over_acked = 0 lets it grow, so a caller without probing can try a higher layer.
TEST(SendSideBwe, ApplicationLimitedGrowthIsCappedUnlessConfigured) {
  const auto fixed = [](const SendSideBwe&) { return 200'000.0; };
  Sim capped(BweConfig{}, 3'000'000);
  capped.run(10'000'000, fixed);
  EXPECT_LE(capped.bwe.estimate_bps(), 1'100'000);  // barely above the 1 Mbit/s start (before any acked rate)
  BweConfig open;
  open.start_bps = 300'000;
  open.max_over_acked = 0;
  open.increase_per_s = 1.25;
  Sim uncapped(open, 3'000'000);
  uncapped.run(10'000'000, fixed);
  EXPECT_GT(uncapped.bwe.estimate_bps(), 1'500'000);
  BweConfig low_start;
  low_start.start_bps = 300'000;
  Sim from_low(low_start, 3'000'000);
  from_low.run(10'000'000, fixed);
  EXPECT_LE(from_low.bwe.estimate_bps(), 360'000);  // 1.5 x ~200 kbit/s acked + 10 kbit/s
}
