// The relay-quality analyser (turn/rtp.*, turn/media_quality.*): RFC 7983 demultiplexing, RTP and
// RTCP headers, RFC 3550 loss / reordering / jitter, RTT per leg, verdicts; and through turn::Core.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core_fixture.hpp"
#include "turn/media_quality.hpp"
#include "turn/rtp.hpp"

namespace {

using turn::MediaQuality;
using turn::QualityConfig;
using turn::Verdict;
namespace rtp = turn::rtp;

std::vector<uint8_t> rtp_packet(uint32_t ssrc, uint16_t seq, uint32_t ts, uint8_t pt = 111, size_t payload = 100) {
  std::vector<uint8_t> p(rtp::Header::kSize + payload, 0xAB);
  rtp::Header h;
  h.ssrc = ssrc;
  h.seq = seq;
  h.timestamp = ts;
  h.payload_type = pt;
  h.write(p);
  return p;
}

std::vector<uint8_t> stun_binding(unsigned cls, uint8_t id) {
  std::vector<uint8_t> m(20, 0);
  uint16_t type = 0x0001 | (cls & 2 ? 0x0100 : 0) | (cls & 1 ? 0x0010 : 0);
  m[0] = static_cast<uint8_t>(type >> 8);
  m[1] = static_cast<uint8_t>(type);
  m[4] = 0x21, m[5] = 0x12, m[6] = 0xA4, m[7] = 0x42;
  for (size_t i = 8; i < 20; ++i) m[i] = id;
  return m;
}

// A plain RR from `sender` with one block about `about`.
std::vector<uint8_t> receiver_report(uint32_t sender, uint32_t about, uint8_t fraction, int32_t cumulative, uint32_t jitter) {
  std::vector<uint8_t> p(8 + rtp::ReportBlock::kSize);
  rtp::RtcpHeader h;
  h.count = 1;
  h.packet_type = rtp::RtcpHeader::kReceiverReport;
  h.length_words = static_cast<uint16_t>(p.size() / 4 - 1);
  h.ssrc = sender;
  h.write(p);
  rtp::ReportBlock b;
  b.ssrc = about;
  b.fraction_lost = fraction;
  b.cumulative_lost = cumulative;
  b.jitter = jitter;
  b.write(std::span(p).subspan(8));
  return p;
}

TEST(RelayRtp, ClassifiesPerRfc7983) {
  EXPECT_EQ(rtp::classify(stun_binding(0, 1)), rtp::Kind::Stun);
  std::vector<uint8_t> dtls(40, 0);
  dtls[0] = 22;
  EXPECT_EQ(rtp::classify(dtls), rtp::Kind::Dtls);
  EXPECT_EQ(rtp::classify(rtp_packet(1, 1, 1)), rtp::Kind::Rtp);
  EXPECT_EQ(rtp::classify(receiver_report(1, 2, 0, 0, 0)), rtp::Kind::Rtcp);
  std::vector<uint8_t> other(30, 0x50);
  EXPECT_EQ(rtp::classify(other), rtp::Kind::Other);
  EXPECT_EQ(rtp::classify({}), rtp::Kind::Other);
  std::vector<uint8_t> not_stun = stun_binding(0, 1);
  not_stun[4] = 0;  // no magic cookie
  EXPECT_EQ(rtp::classify(not_stun), rtp::Kind::Other);
}

TEST(RelayRtp, SrtpHeaderIgnoresTheEncryptedPadding) {
  auto p = rtp_packet(7, 9, 10);
  p[0] |= 0x20;   // P bit; the last byte is an auth tag byte, not a padding count
  p.back() = 250;
  rtp::Header h;
  size_t len = 0;
  EXPECT_FALSE(rtp::Header::parse(p, h, len));
  ASSERT_TRUE(rtp::Header::parse_clear(p, h, len));
  EXPECT_EQ(h.ssrc, 7u);
  EXPECT_EQ(h.seq, 9);
  EXPECT_EQ(len, rtp::Header::kSize);
}

TEST(RelayRtp, ReportBlockRoundTripsANegativeCumulativeLoss) {
  auto rr = receiver_report(5, 6, 64, -3, 480);
  int n = 0;
  ASSERT_TRUE(rtp::for_each_report_block(rr, [&](const rtp::ReportBlock& b) {
    ++n;
    EXPECT_EQ(b.ssrc, 6u);
    EXPECT_EQ(b.fraction_lost, 64);
    EXPECT_EQ(b.cumulative_lost, -3);
    EXPECT_EQ(b.jitter, 480u);
  }));
  EXPECT_EQ(n, 1);
  rr.insert(rr.end(), 14, 0x33);  // an SRTCP trailer: the lengths no longer add up
  EXPECT_FALSE(rtp::for_each_report_block(rr, [&](const rtp::ReportBlock&) { ++n; }));
  EXPECT_EQ(n, 1);
}

struct Feed {
  MediaQuality q;
  QualityConfig cfg;
  int64_t t0 = 5'000'000'000;
  void at(MediaQuality::Dir d, const std::vector<uint8_t>& p, int64_t us) { q.observe(d, p, t0 + us, cfg); }
};

TEST(RelayQuality, CountsLossReorderingAndDuplicates) {
  Feed f;
  for (uint16_t s = 0; s < 100; ++s) {
    if (s % 10 == 3) continue;  // 10 lost
    f.at(MediaQuality::ToPeer, rtp_packet(1, static_cast<uint16_t>(65500 + s), s * 960u), s * 20'000);
  }
  f.at(MediaQuality::ToPeer, rtp_packet(1, static_cast<uint16_t>(65500 + 93), 93 * 960u), 2'000'000);  // late: found
  f.at(MediaQuality::ToPeer, rtp_packet(1, static_cast<uint16_t>(65500 + 99), 99 * 960u), 2'000'100);  // duplicate
  const auto& d = f.q.direction(MediaQuality::ToPeer);
  ASSERT_EQ(d.streams.size(), 1u);
  EXPECT_EQ(d.expected(), 100u);  // across the wrap from 65535 to 0
  EXPECT_EQ(d.lost(), 9u);
  EXPECT_EQ(d.reordered(), 1u);
  EXPECT_EQ(d.duplicates(), 1u);
  EXPECT_EQ(d.kinds[static_cast<size_t>(rtp::Kind::Rtp)], 92u);
}

TEST(RelayQuality, InfersTheClockRateAndMeasuresJitter) {
  Feed f;
  // Audio at 48 kHz every 20 ms, arriving alternately 5 ms early and late: |D| = 10 ms.
  for (int i = 0; i < 400; ++i) {
    int64_t jitter_us = (i % 2) ? 5'000 : -5'000;
    f.at(MediaQuality::ToClient, rtp_packet(2, static_cast<uint16_t>(i), static_cast<uint32_t>(i) * 960u), i * 20'000 + jitter_us);
  }
  // Video at 90 kHz, 30 frames a second, three packets per frame back to back, arriving on time.
  for (int i = 0; i < 90; ++i)
    for (int k = 0; k < 3; ++k)
      f.at(MediaQuality::ToClient, rtp_packet(3, static_cast<uint16_t>(i * 3 + k), static_cast<uint32_t>(i) * 3000u, 96),
           i * 33'333 + k * 100);
  const auto& d = f.q.direction(MediaQuality::ToClient);
  ASSERT_EQ(d.streams.size(), 2u);
  EXPECT_EQ(d.streams[0].clock_rate, 48000u);
  EXPECT_STREQ(d.streams[0].kind(), "audio");
  EXPECT_NEAR(d.streams[0].jitter_ms(), 10.0, 0.5);
  EXPECT_EQ(d.streams[1].clock_rate, 90000u);
  EXPECT_STREQ(d.streams[1].kind(), "video");
  EXPECT_LT(d.streams[1].jitter_ms(), 0.2);  // a frame's burst is not jitter
  EXPECT_NEAR(d.jitter_ms(), 10.0, 0.5);
}

TEST(RelayQuality, RetransmissionStreamsAreToldApart) {
  Feed f;
  // Video at 30 fps; every third frame's first packet is resent on an RTX SSRC a frame later.
  uint16_t rtx_seq = 0;
  for (int i = 0; i < 90; ++i) {
    for (int k = 0; k < 2; ++k)
      f.at(MediaQuality::ToPeer, rtp_packet(10, static_cast<uint16_t>(i * 2 + k), i * 3000u, 96), i * 33'333 + k * 200);
    if (i % 3 == 1)
      f.at(MediaQuality::ToPeer, rtp_packet(11, rtx_seq++, (i - 1) * 3000u, 97), i * 33'333 + 500);
  }
  const auto& d = f.q.direction(MediaQuality::ToPeer);
  ASSERT_EQ(d.streams.size(), 2u);
  EXPECT_FALSE(d.streams[0].rtx);
  EXPECT_STREQ(d.streams[0].kind(), "video");
  EXPECT_TRUE(d.streams[1].rtx);
  EXPECT_STREQ(d.streams[1].kind(), "rtx");
  EXPECT_LT(d.streams[1].jitter_ms(), 0);  // no jitter of its own
  EXPECT_LT(d.jitter_ms(), 1.0);
}

TEST(RelayQuality, RttPerLegFromBindingTransactions) {
  Feed f;
  f.at(MediaQuality::ToPeer, stun_binding(0, 1), 0);          // the client asks the peer
  f.at(MediaQuality::ToClient, stun_binding(2, 1), 30'000);   // the peer answers: peer leg 30 ms
  f.at(MediaQuality::ToClient, stun_binding(0, 2), 40'000);   // the peer asks the client
  f.at(MediaQuality::ToPeer, stun_binding(2, 2), 45'000);     // client leg 5 ms
  f.at(MediaQuality::ToPeer, stun_binding(0, 3), 50'000);     // retransmitted: no sample (Karn)
  f.at(MediaQuality::ToPeer, stun_binding(0, 3), 60'000);
  f.at(MediaQuality::ToClient, stun_binding(2, 3), 70'000);
  f.at(MediaQuality::ToClient, stun_binding(2, 9), 80'000);   // an answer to nothing seen
  EXPECT_EQ(f.q.peer_leg().samples, 1u);
  EXPECT_EQ(f.q.peer_leg().last_us, 30'000);
  EXPECT_EQ(f.q.client_leg().samples, 1u);
  EXPECT_EQ(f.q.client_leg().last_us, 5'000);
}

TEST(RelayQuality, ReportBlocksDescribeTheOtherDirection) {
  Feed f;
  f.at(MediaQuality::ToClient, rtp_packet(42, 1, 0), 0);
  f.at(MediaQuality::ToPeer, receiver_report(7, 42, 128, 12, 960), 10);  // the client reports on 42
  f.at(MediaQuality::ToPeer, receiver_report(7, 99, 1, 1, 1), 20);       // about a stream not seen
  auto srtcp = receiver_report(7, 42, 255, 255, 255);
  srtcp.insert(srtcp.end(), 14, 0);
  f.at(MediaQuality::ToPeer, srtcp, 30);
  const auto& s = f.q.direction(MediaQuality::ToClient).streams.at(0);
  EXPECT_TRUE(s.reported);
  EXPECT_EQ(s.reported_fraction, 128);
  EXPECT_EQ(s.reported_cumulative, 12);
  EXPECT_EQ(s.reported_jitter, 960u);
  EXPECT_EQ(f.q.direction(MediaQuality::ToPeer).report_blocks, 2u);
  EXPECT_EQ(f.q.direction(MediaQuality::ToPeer).rtcp_encrypted, 1u);
}

TEST(RelayQuality, BoundsTheStreamsTracked) {
  Feed f;
  f.cfg.max_streams = 4;
  for (uint32_t ssrc = 1; ssrc <= 10; ++ssrc) f.at(MediaQuality::ToPeer, rtp_packet(ssrc, 1, 1), ssrc);
  EXPECT_EQ(f.q.direction(MediaQuality::ToPeer).streams.size(), 4u);
  EXPECT_EQ(f.q.direction(MediaQuality::ToPeer).streams_untracked, 6u);
}

// One interval of 100 packets with `lost` of them missing, then its sample.
MediaQuality::Sample interval_with_loss(Feed& f, int lost, bool tcp = false, int64_t start_us = 0) {
  static uint16_t seq = 0;
  for (int i = 0; i < 100; ++i, ++seq)
    if (i >= lost) f.at(MediaQuality::ToPeer, rtp_packet(1, seq, seq * 960u), start_us + i * 20'000);
  return f.q.close_interval(f.t0 + start_us + 2'000'000, tcp, f.cfg);
}

TEST(RelayQuality, VerdictFollowsTheIntervalsLoss) {
  Feed f;
  f.q.begin(f.t0);
  EXPECT_EQ(f.q.verdict(), Verdict::NoMedia);
  auto s = interval_with_loss(f, 0);
  EXPECT_TRUE(s.media);
  EXPECT_EQ(s.verdict, Verdict::Good);
  EXPECT_EQ(s.previous, Verdict::NoMedia);
  s = interval_with_loss(f, 5, false, 2'000'000);
  EXPECT_NEAR(s.loss[0], 0.05, 0.011);
  EXPECT_EQ(s.verdict, Verdict::Degraded);
  EXPECT_EQ(s.reasons, turn::kReasonLoss);
  s = interval_with_loss(f, 20, false, 4'000'000);
  EXPECT_EQ(s.verdict, Verdict::Bad);
  EXPECT_EQ(f.q.worst(), Verdict::Bad);
  s = interval_with_loss(f, 0, true, 6'000'000);
  EXPECT_EQ(s.verdict, Verdict::Degraded);  // media over TCP
  EXPECT_EQ(s.reasons, turn::kReasonTcp);
  EXPECT_TRUE(s.became_media_over_tcp);
  EXPECT_TRUE(f.q.media_over_tcp());
  s = f.q.close_interval(f.t0 + 9'000'000, true, f.cfg);  // no packets: the verdict stays
  EXPECT_FALSE(s.media);
  EXPECT_EQ(s.verdict, Verdict::Degraded);
  EXPECT_EQ(f.q.intervals(Verdict::Good), 1u);
  EXPECT_EQ(f.q.intervals(Verdict::Degraded), 2u);
  EXPECT_EQ(f.q.intervals(Verdict::Bad), 1u);
}

TEST(RelayQuality, RttAndJitterThresholds) {
  Feed f;
  f.q.begin(f.t0);
  f.at(MediaQuality::ToPeer, stun_binding(0, 1), 0);
  f.at(MediaQuality::ToClient, stun_binding(2, 1), 400'000);  // 400 ms: past degraded (300)
  auto s = interval_with_loss(f, 0, false, 500'000);
  EXPECT_EQ(s.verdict, Verdict::Degraded);
  EXPECT_EQ(s.reasons, turn::kReasonRtt);
  EXPECT_NEAR(s.rtt_ms[1], 400.0, 0.01);
  EXPECT_LT(s.rtt_ms[0], 0);
}

// ---- through the core ------------------------------------------------------------------------

class CoreQualityTest : public CoreTest {
 protected:
  CoreQualityTest() {
    CoreConfig cfg;
    cfg.quality.interval_s = 2;
    cfg.quality.min_packets = 10;
    core = std::make_unique<Core>(cfg, auth, policy, quotas, relays, sink);
  }
};

TEST_F(CoreQualityTest, ChannelDataAndPeerDataAreAnalysed) {
  auto ft = client();
  ASSERT_EQ(allocate(ft).code, 200);
  ASSERT_EQ(channel_bind(ft, 0x4000, "203.0.113.5:5000").code, 200);
  auto peer = *Endpoint::parse("203.0.113.5:5000");
  for (uint16_t s = 0; s < 50; ++s) {
    if (s == 10) continue;
    auto p = rtp_packet(0x1234, s, s * 960u);
    std::vector<uint8_t> cd(4 + p.size());
    ChannelData::write_header(cd.data(), 0x4000, static_cast<uint16_t>(p.size()));
    std::copy(p.begin(), p.end(), cd.begin() + 4);
    core->handle(cd, ft, now);
    core->handle_peer(core->find(ft)->relays[0].handle, peer, rtp_packet(0x9999, s, s * 960u), now);
    now.mono_ms += 20;
  }
  const Allocation* a = core->find(ft);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->quality.direction(MediaQuality::ToPeer).lost(), 1u);
  EXPECT_EQ(a->quality.direction(MediaQuality::ToPeer).streams.at(0).ssrc, 0x1234u);
  EXPECT_EQ(a->quality.direction(MediaQuality::ToClient).expected(), 50u);
  EXPECT_EQ(a->quality.direction(MediaQuality::ToPeer).kinds[2], 49u);
  EXPECT_EQ(a->quality.direction(MediaQuality::ToClient).kinds[2], 49u);  // s == 10 skipped both ways
  EXPECT_EQ(core->stats().payloads[static_cast<size_t>(rtp::Kind::Rtp)].get(), 98u);
  advance(2);
  ASSERT_EQ(sink.quality_samples.size(), 1u);
  EXPECT_TRUE(sink.quality_samples[0].media);
  EXPECT_NEAR(sink.quality_samples[0].loss[0], 0.02, 0.001);
  EXPECT_EQ(sink.quality_samples[0].verdict, Verdict::Degraded);  // 2 % lost to the peer
}

TEST_F(CoreQualityTest, OffMeansNothingIsAnalysed) {
  CoreConfig cfg;
  cfg.quality.enabled = false;
  core = std::make_unique<Core>(cfg, auth, policy, quotas, relays, sink);
  auto ft = client();
  ASSERT_EQ(allocate(ft).code, 200);
  ASSERT_EQ(channel_bind(ft, 0x4000, "203.0.113.5:5000").code, 200);
  auto p = rtp_packet(1, 1, 1);
  std::vector<uint8_t> cd(4 + p.size());
  ChannelData::write_header(cd.data(), 0x4000, static_cast<uint16_t>(p.size()));
  std::copy(p.begin(), p.end(), cd.begin() + 4);
  core->handle(cd, ft, now);
  EXPECT_EQ(core->find(ft)->stats.packets_to_peer, 1u);
  EXPECT_EQ(core->find(ft)->quality.direction(MediaQuality::ToPeer).packets, 0u);
  advance(3);
  EXPECT_TRUE(sink.quality_samples.empty());
}

}  // namespace

namespace {

TEST_F(CoreQualityTest, AShortAllocationIsJudgedAsItEnds) {
  auto ft = client();
  ASSERT_EQ(allocate(ft).code, 200);
  ASSERT_EQ(channel_bind(ft, 0x4000, "203.0.113.5:5000").code, 200);
  for (uint16_t s = 0; s < 40; ++s) {
    auto p = rtp_packet(5, s, s * 960u);
    std::vector<uint8_t> cd(4 + p.size());
    ChannelData::write_header(cd.data(), 0x4000, static_cast<uint16_t>(p.size()));
    std::copy(p.begin(), p.end(), cd.begin() + 4);
    if (s % 10 != 5) core->handle(cd, ft, now);  // 4 of 40 lost: 10 %
    now.mono_ms += 20;
  }
  auto ended = core->end_allocation(core->find(ft)->id, now);  // under the 2 s interval
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->quality.verdict(), Verdict::Bad);
  ASSERT_EQ(sink.quality_samples.size(), 1u);
  EXPECT_TRUE(sink.quality_samples[0].media);
  EXPECT_EQ(sink.quality_samples[0].verdict, Verdict::Bad);
}

TEST_F(CoreQualityTest, SendsRefusedAsTooBigCountOnTheirAllocation) {
  auto ft = client();
  ASSERT_EQ(allocate(ft).code, 200);
  uint64_t handle = core->find(ft)->relays[0].handle;
  EXPECT_EQ(core->peer_send_failed(handle, true), Transport::Udp);
  EXPECT_EQ(core->peer_send_failed(handle, false), Transport::Udp);
  EXPECT_EQ(core->find(ft)->stats.dropped_too_big, 1u);
  EXPECT_EQ(core->peer_send_failed(handle + 100, true), std::nullopt);
}

}  // namespace
