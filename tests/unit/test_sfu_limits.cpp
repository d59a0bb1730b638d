// Bounds on what a client makes the SFU do (issue 14): NACK resends (retransmit_limit.hpp, item 2)
// and signalling connections (signal_limits.hpp, item 8).
#include <gtest/gtest.h>

#include "sfu/retransmit_limit.hpp"
#include "sfu/signal_limits.hpp"

using namespace sfu;

namespace {
turn::IpAddress ip(const char* s) { return *turn::IpAddress::parse(s); }
}  // namespace

TEST(TokenBucket, SpendsTheBurstThenTheRate) {
  TokenBucket b(10'000, 2'500);  // 10 kB/s, a quarter second of burst
  EXPECT_TRUE(b.take(2'000, 0));
  EXPECT_FALSE(b.take(1'000, 0));  // 500 left
  EXPECT_TRUE(b.take(500, 0));
  EXPECT_FALSE(b.take(1, 0));
  EXPECT_TRUE(b.take(1'000, 100));   // 100 ms earn 1000 bytes
  EXPECT_FALSE(b.take(1, 100));
  EXPECT_TRUE(b.take(2'500, 10'000));  // never more than the burst, however long it rested
  EXPECT_FALSE(b.take(1, 10'000));
}

TEST(TokenBucket, ASecondOfAskingGetsAboutTheRate) {
  TokenBucket b(640'000, 160'000);
  uint64_t sent = 0;
  for (int64_t t = 0; t < 1000; ++t)
    for (int i = 0; i < 100; ++i)
      if (b.take(1'200, t)) sent += 1'200;
  EXPECT_LE(sent, 640'000u + 160'000u);
  EXPECT_GE(sent, 640'000u);
}

TEST(ResendShare, ResendsCannotOutgrowTheForwardedMedia) {
  ResendShare share(50, 10'000);  // half of what was forwarded, 10 kB held at most
  EXPECT_EQ(share.available(), 10'000u);  // the start-up allowance
  EXPECT_TRUE(share.take(10'000));
  EXPECT_FALSE(share.take(1));
  share.earn(1'000);                      // 1000 bytes of media forwarded: 500 bytes of resends
  EXPECT_EQ(share.available(), 500u);
  EXPECT_FALSE(share.take(501));
  EXPECT_TRUE(share.take(500));
  // Asking again and again buys, over any stretch, at most half the stream plus the allowance.
  uint64_t forwarded = 0, resent = 0;
  for (int i = 0; i < 1'000; ++i) {
    share.earn(1'200);
    forwarded += 1'200;
    for (int k = 0; k < 10; ++k)
      if (share.take(1'200)) resent += 1'200;
  }
  EXPECT_LE(resent, forwarded / 2 + 10'000);
  EXPECT_GE(resent, forwarded / 2 - 1'200);
  for (int i = 0; i < 100; ++i) share.earn(1'000'000);
  EXPECT_EQ(share.available(), 10'000u);  // credit does not pile up past the cap
}

TEST(RecentResends, APacketIsResentOncePerInterval) {
  RecentResends r;
  EXPECT_FALSE(r.recent(7, 0, 100));
  r.note(7, 0);
  EXPECT_TRUE(r.recent(7, 0, 100));    // the same compound asks again
  EXPECT_TRUE(r.recent(7, 99, 100));   // the next compound, too soon
  EXPECT_FALSE(r.recent(7, 100, 100));
  EXPECT_FALSE(r.recent(8, 0, 100));
  // A sequence number 512 later shares the slot: it is a different packet.
  EXPECT_FALSE(r.recent(7 + RecentResends::kSlots, 0, 100));
  r.note(65535, 0);
  EXPECT_TRUE(r.recent(65535, 50, 100));
}

TEST(SignalLimits, GlobalAndPerPrefixCaps) {
  SignalLimitConfig cfg;
  cfg.max_connections = 5;
  cfg.max_connections_per_ip = 2;
  SignalLimits l(cfg);
  EXPECT_EQ(l.admit(ip("198.51.100.1")), SignalReject::None);
  EXPECT_EQ(l.admit(ip("198.51.100.1")), SignalReject::None);
  EXPECT_EQ(l.admit(ip("198.51.100.1")), SignalReject::MaxConnectionsPerIp);
  EXPECT_EQ(l.admit(ip("::ffff:198.51.100.1")), SignalReject::MaxConnectionsPerIp);  // mapped: the same host
  EXPECT_EQ(l.admit(ip("198.51.100.2")), SignalReject::None);
  // One IPv6 /64 is one client.
  EXPECT_EQ(l.admit(ip("2001:db8:1:2::1")), SignalReject::None);
  EXPECT_EQ(l.admit(ip("2001:db8:1:2:ffff::9")), SignalReject::None);
  EXPECT_EQ(l.open(), 5u);
  EXPECT_EQ(l.admit(ip("2001:db8:1:3::1")), SignalReject::MaxConnections);
  EXPECT_EQ(l.open_from(ip("2001:db8:1:2::77")), 2u);
  l.release(ip("198.51.100.1"));
  EXPECT_EQ(l.open(), 4u);
  EXPECT_EQ(l.admit(ip("198.51.100.1")), SignalReject::None);
  // Releasing what was never admitted changes nothing.
  l.release(ip("203.0.113.1"));
  EXPECT_EQ(l.open(), 5u);
}

TEST(SignalLimits, PrefixesFollowTheConfig) {
  SignalLimitConfig cfg;
  cfg.prefix_v4 = 24;
  cfg.prefix_v6 = 48;
  cfg.max_connections_per_ip = 1;
  SignalLimits l(cfg);
  EXPECT_EQ(l.prefix_of(ip("198.51.100.77")), ip("198.51.100.0"));
  EXPECT_EQ(l.prefix_of(ip("2001:db8:1:2::1")), ip("2001:db8:1::"));
  EXPECT_EQ(l.admit(ip("198.51.100.1")), SignalReject::None);
  EXPECT_EQ(l.admit(ip("198.51.100.200")), SignalReject::MaxConnectionsPerIp);
  SignalLimitConfig odd;
  odd.prefix_v4 = 20;
  EXPECT_EQ(SignalLimits(odd).prefix_of(ip("198.51.100.77")), ip("198.51.96.0"));
}

TEST(SignalLimits, MessageLimitsAndDeadline) {
  SignalLimits l(SignalLimitConfig{});
  EXPECT_EQ(l.message_limit(false), 32768u);
  EXPECT_EQ(l.message_limit(true), 262144u);
  EXPECT_EQ(l.join_timeout_ms(), 10'000);
  EXPECT_STREQ(to_string(SignalReject::JoinTimeout), "join_timeout");
}
