// loadgen's RTP header and probe (loadgen/rtp.hpp), media shaped like calls (MediaSource) and the
// RFC 3550 reception statistics (Receiver) of loadgen/media.hpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "loadgen/media.hpp"
#include "loadgen/rtp.hpp"

#include "hex.hpp"

using namespace loadgen;

namespace {

// One packet a MediaSource wrote, parsed back.
struct Sent {
  uint64_t t = 0;
  size_t size = 0;
  RtpHeader h;
  Probe p;
  std::vector<uint8_t> bytes;
};

Sent parse_sent(uint64_t t, std::span<const uint8_t> d) {
  Sent s;
  s.t = t;
  s.size = d.size();
  size_t hl = 0;
  EXPECT_TRUE(RtpHeader::parse(d, s.h, hl));
  EXPECT_EQ(hl, RtpHeader::kSize);
  EXPECT_TRUE(Probe::parse(d.subspan(hl), s.p));
  s.bytes.assign(d.begin(), d.end());
  return s;
}

// Drives a source on time (each packet at its due time) until `until_us`.
std::vector<Sent> run(MediaSource& src, uint64_t until_us) {
  std::vector<Sent> out;
  std::vector<uint8_t> buf(2000);
  for (int guard = 0; guard < 1'000'000 && src.next_due_us() < until_us; ++guard) {
    const uint64_t t = src.next_due_us();
    const size_t n = src.next(t, 0, 0, buf);
    EXPECT_GT(n, 0u);
    if (n == 0) break;
    out.push_back(parse_sent(t, {buf.data(), n}));
  }
  return out;
}

RtpHeader rtp(uint16_t seq, uint32_t ts = 0) {
  RtpHeader h;
  h.seq = seq;
  h.timestamp = ts;
  h.ssrc = 1;
  return h;
}
Probe probe(uint64_t sent_us, uint64_t echo_sent_us = 0, uint32_t echo_hold_us = 0) {
  return Probe{7, sent_us, echo_sent_us, echo_hold_us};
}
// Feeds sequence numbers, each sent 20 ms after the previous and arriving 5 ms later.
void feed(Receiver& r, std::initializer_list<uint32_t> seqs, uint64_t& t) {
  for (uint32_t s : seqs) {
    r.on_packet(rtp(static_cast<uint16_t>(s)), probe(t), 100, t + 5000);
    t += 20000;
  }
}

}  // namespace

// ---- RtpHeader, Probe ----------------------------------------------------------------------

TEST(LoadgenRtp, WriteParseRoundTrip) {
  RtpHeader h;
  h.marker = true;
  h.payload_type = 96;
  h.seq = 0xFFFE;
  h.timestamp = 0xDEADBEEF;
  h.ssrc = 0x01020304;
  uint8_t buf[RtpHeader::kSize];
  ASSERT_EQ(h.write(buf), RtpHeader::kSize);
  EXPECT_EQ(std::vector<uint8_t>(buf, buf + 12), hex("80 E0 FF FE DE AD BE EF 01 02 03 04"));
  RtpHeader back;
  size_t hl = 0;
  ASSERT_TRUE(RtpHeader::parse(buf, back, hl));
  EXPECT_EQ(hl, 12u);
  EXPECT_TRUE(back.marker);
  EXPECT_EQ(back.payload_type, 96);
  EXPECT_EQ(back.seq, 0xFFFE);
  EXPECT_EQ(back.timestamp, 0xDEADBEEFu);
  EXPECT_EQ(back.ssrc, 0x01020304u);
  EXPECT_EQ(back.padding, 0);
  uint8_t small[11];
  EXPECT_EQ(h.write(small), 0u);
}

TEST(LoadgenRtp, CsrcsAndExtensionAreSkipped) {
  // CC=2, X=1: 2 CSRCs, then profile 0xBEDE with 2 words of extension, then the payload.
  const auto d = hex("92 60 00 01 00 00 00 02 00 00 00 03  11 11 11 11 22 22 22 22  BE DE 00 02 "
                     "10 30 32 01 02 03 00 00  AA BB");
  RtpHeader h;
  size_t hl = 0;
  ASSERT_TRUE(RtpHeader::parse(d, h, hl));
  EXPECT_EQ(hl, 12u + 8 + 4 + 8);
  EXPECT_FALSE(h.marker);
  EXPECT_EQ(h.payload_type, 0x60);
  EXPECT_EQ(h.seq, 1);
  EXPECT_EQ(h.ssrc, 3u);
  // An extension header with length 0 is 4 bytes.
  const auto e = hex("90 00 00 01 00 00 00 02 00 00 00 03 12 34 00 00");
  ASSERT_TRUE(RtpHeader::parse(e, h, hl));
  EXPECT_EQ(hl, 16u);
}

TEST(LoadgenRtp, PaddingCountMustFit) {
  // P=1, 3 padding bytes (the last says 3) after a 2-byte payload.
  const auto ok = hex("A0 00 00 01 00 00 00 02 00 00 00 03 AA BB 00 00 03");
  RtpHeader h;
  size_t hl = 0;
  ASSERT_TRUE(RtpHeader::parse(ok, h, hl));
  EXPECT_EQ(hl, 12u);
  EXPECT_EQ(h.padding, 3);
  EXPECT_FALSE(RtpHeader::parse(hex("A0 00 00 01 00 00 00 02 00 00 00 03 AA BB 00 00 00"), h, hl));  // count 0
  EXPECT_FALSE(RtpHeader::parse(hex("A0 00 00 01 00 00 00 02 00 00 00 03 AA 06"), h, hl));  // > what follows
  EXPECT_TRUE(RtpHeader::parse(hex("A0 00 00 01 00 00 00 02 00 00 00 03 AA 02"), h, hl));   // all of it
}

TEST(LoadgenRtp, MalformedIsRejected) {
  RtpHeader h;
  size_t hl = 0;
  EXPECT_FALSE(RtpHeader::parse({}, h, hl));
  EXPECT_FALSE(RtpHeader::parse(hex("80 00 00 01 00 00 00 02 00 00 00"), h, hl));        // 11 bytes
  EXPECT_FALSE(RtpHeader::parse(hex("40 00 00 01 00 00 00 02 00 00 00 03"), h, hl));     // V=1
  EXPECT_FALSE(RtpHeader::parse(hex("C0 00 00 01 00 00 00 02 00 00 00 03"), h, hl));     // V=3
  EXPECT_FALSE(RtpHeader::parse(hex("81 00 00 01 00 00 00 02 00 00 00 03"), h, hl));     // CC=1, no CSRC
  EXPECT_FALSE(RtpHeader::parse(hex("8F 00 00 01 00 00 00 02 00 00 00 03 00 00 00 00"), h, hl));  // CC=15
  EXPECT_FALSE(RtpHeader::parse(hex("90 00 00 01 00 00 00 02 00 00 00 03 BE DE 00"), h, hl));     // ext hdr cut
  EXPECT_FALSE(RtpHeader::parse(hex("90 00 00 01 00 00 00 02 00 00 00 03 BE DE 00 02 00 00 00 00"), h, hl));
  EXPECT_FALSE(RtpHeader::parse(hex("90 00 00 01 00 00 00 02 00 00 00 03 BE DE FF FF"), h, hl));  // huge length
  EXPECT_TRUE(RtpHeader::parse(hex("80 00 00 01 00 00 00 02 00 00 00 03"), h, hl));       // bare header
}

TEST(LoadgenRtp, ParsesChromiumRtp) {
  std::ifstream f(std::string(TURNPIKE_SOURCE_DIR) + "/tests/fixtures/chromium/chromium_channeldata_rtp.bin",
                  std::ios::binary);
  std::vector<uint8_t> d{std::istreambuf_iterator<char>(f), {}};
  if (d.size() <= 4) GTEST_SKIP() << "fixture missing";
  d.erase(d.begin(), d.begin() + 4);  // the ChannelData header
  RtpHeader h;
  size_t hl = 0;
  ASSERT_TRUE(RtpHeader::parse(d, h, hl));
  EXPECT_GE(hl, 12u);
  EXPECT_LE(hl, d.size());
  Probe p;
  EXPECT_FALSE(Probe::parse(std::span<const uint8_t>(d).subspan(hl), p));  // not ours
}

TEST(LoadgenRtp, ProbeRoundTripAndMagic) {
  const Probe p{0xA1B2C3D4, 0x0102030405060708ull, 0x1112131415161718ull, 0x21222324};
  uint8_t buf[Probe::kSize + 4] = {};
  ASSERT_EQ(p.write(buf), Probe::kSize);
  EXPECT_EQ(std::vector<uint8_t>(buf, buf + 28),
            hex("54 50 4C 47 A1 B2 C3 D4 01 02 03 04 05 06 07 08 11 12 13 14 15 16 17 18 21 22 23 24"));
  Probe back;
  ASSERT_TRUE(Probe::parse(buf, back));
  EXPECT_EQ(back.call_id, p.call_id);
  EXPECT_EQ(back.sent_us, p.sent_us);
  EXPECT_EQ(back.echo_sent_us, p.echo_sent_us);
  EXPECT_EQ(back.echo_hold_us, p.echo_hold_us);
  EXPECT_FALSE(Probe::parse({buf, 27}, back));  // short
  buf[0] = 'X';
  EXPECT_FALSE(Probe::parse(buf, back));        // magic
  uint8_t small[27];
  EXPECT_EQ(p.write(small), 0u);
}

// ---- Receiver ------------------------------------------------------------------------------

// RFC 3550 A.8 by hand, 48 kHz: packets sent every 20 ms (960 ticks) arrive 0, 5, 0, 10 ms late,
// so the transits are 0, 240, 0, 480 ticks and D = 240, -240, 480:
//   J1 = 240/16 = 15; J2 = 15 + (240 - 15)/16 = 29.0625; J3 = 29.0625 + (480 - 29.0625)/16 = 57.24609375
// ticks = 57.24609375 / 48 ms = 1.192626953125 ms.
TEST(LoadgenReceiver, JitterMatchesRfc3550ByHand) {
  Receiver r(48000);
  const uint64_t delay_us[] = {0, 5000, 0, 10000};
  const double after_ms[] = {0, 15.0 / 48, 29.0625 / 48, 57.24609375 / 48};
  for (int i = 0; i < 4; ++i) {
    const uint64_t sent = 1'000'000 + i * 20000ull;
    r.on_packet(rtp(static_cast<uint16_t>(100 + i), 960u * i), probe(sent), 120, sent + 20000 + delay_us[i]);
    EXPECT_DOUBLE_EQ(r.counters().jitter_ms, after_ms[i]) << i;
  }
  EXPECT_DOUBLE_EQ(r.counters().jitter_ms, 1.192626953125);
  // A constant delay is no jitter: J decays by 15/16 per packet.
  Receiver c(90000);
  for (int i = 0; i < 100; ++i) c.on_packet(rtp(static_cast<uint16_t>(i)), probe(i * 33333ull), 1000, i * 33333ull + 40000);
  EXPECT_DOUBLE_EQ(c.counters().jitter_ms, 0.0);
}

TEST(LoadgenReceiver, LossFromGaps) {
  Receiver r(48000);
  uint64_t t = 0;
  for (uint32_t s = 0; s < 100; ++s)
    if (s != 10 && s != 11 && s != 50) feed(r, {s}, t);
  EXPECT_EQ(r.counters().expected, 100u);
  EXPECT_EQ(r.counters().received, 97u);
  EXPECT_EQ(r.counters().lost(), 3u);
  EXPECT_EQ(r.counters().reordered, 0u);
  EXPECT_EQ(r.counters().duplicates, 0u);
  EXPECT_EQ(r.counters().bytes, 9700u);
  // A loss at the end is not known until a later packet arrives (RFC 3550 A.3: the highest seen).
  feed(r, {102}, t);
  EXPECT_EQ(r.counters().expected, 103u);
  EXPECT_EQ(r.counters().lost(), 5u);
}

TEST(LoadgenReceiver, ReportBlocksFollowRfc3550A3) {
  Receiver r(48000);
  uint64_t t = 0;
  // Nothing received yet: an empty block.
  auto b0 = r.report_block(0x1234);
  EXPECT_EQ(b0.ssrc, 0x1234u);
  EXPECT_EQ(b0.fraction_lost, 0);
  EXPECT_EQ(b0.cumulative_lost, 0);
  EXPECT_EQ(b0.highest_seq, 0u);
  // 65530..65535, 0..93 without 10 and 11 (a wrap: cycles 1 in the extended number): 100 expected,
  // 98 received. The jitter: the RFC 3550 A.8 figure in timestamp units.
  for (uint32_t s = 65530; s < 65536; ++s) feed(r, {s}, t);
  for (uint32_t s = 0; s < 94; ++s)
    if (s != 10 && s != 11) feed(r, {s}, t);
  auto b1 = r.report_block(0x1234);
  EXPECT_EQ(b1.fraction_lost, (2 << 8) / 100);    // 2 of 100 since the last report: 5/256
  EXPECT_EQ(b1.cumulative_lost, 2);
  EXPECT_EQ(b1.highest_seq, 65536u + 93);
  EXPECT_EQ(b1.jitter, static_cast<uint32_t>(r.counters().jitter_ms * 48));
  EXPECT_EQ(b1.lsr, 0u);
  // The next interval: 10 more expected, 5 received (every other one lost): 128/256, 7 in all.
  for (uint32_t s = 94; s < 104; s += 2) feed(r, {s + 1}, t);
  auto b2 = r.report_block(0x1234);
  EXPECT_EQ(b2.fraction_lost, 128);
  EXPECT_EQ(b2.cumulative_lost, 7);
  EXPECT_EQ(b2.highest_seq, 65536u + 103);
  // Nothing new: fraction 0, the cumulative count stays.
  auto b3 = r.report_block(0x1234);
  EXPECT_EQ(b3.fraction_lost, 0);
  EXPECT_EQ(b3.cumulative_lost, 7);
}

TEST(LoadgenReceiver, ReorderingFillsTheGap) {
  Receiver r(48000);
  uint64_t t = 0;
  feed(r, {1, 2, 4, 3, 5, 8, 6, 7}, t);
  EXPECT_EQ(r.counters().expected, 8u);
  EXPECT_EQ(r.counters().received, 8u);
  EXPECT_EQ(r.counters().lost(), 0u);
  EXPECT_EQ(r.counters().reordered, 3u);
  EXPECT_EQ(r.counters().duplicates, 0u);
  // A packet sent before the first one that arrived moves the base: it is late, not lost.
  Receiver b(48000);
  t = 0;
  feed(b, {10, 11, 8}, t);
  EXPECT_EQ(b.counters().expected, 4u);  // 8..11
  EXPECT_EQ(b.counters().received, 3u);
  EXPECT_EQ(b.counters().reordered, 1u);
  feed(b, {9}, t);
  EXPECT_EQ(b.counters().lost(), 0u);
}

TEST(LoadgenReceiver, Duplicates) {
  Receiver r(48000);
  uint64_t t = 0;
  feed(r, {1, 2, 2, 3, 1, 5, 3, 4, 4}, t);
  EXPECT_EQ(r.counters().duplicates, 4u);
  EXPECT_EQ(r.counters().received, 5u);
  EXPECT_EQ(r.counters().reordered, 1u);  // 4, after 5
  EXPECT_EQ(r.counters().expected, 5u);
  EXPECT_EQ(r.counters().bytes, 900u);    // every arrival
  // Far back in the window (4000 behind) is still known.
  Receiver w(48000);
  t = 0;
  for (uint32_t s = 0; s < 4100; ++s) feed(w, {s}, t);
  feed(w, {200, 4099, 50}, t);
  EXPECT_EQ(w.counters().duplicates, 3u);
  EXPECT_EQ(w.counters().received, 4100u);
  // Older than the window: never counted as a new packet (a lone jump, unconfirmed).
  feed(w, {2}, t);
  EXPECT_EQ(w.counters().received, 4100u);
  EXPECT_EQ(w.counters().expected, 4100u);
}

TEST(LoadgenReceiver, SequenceWrap) {
  Receiver r(48000);
  uint64_t t = 0;
  feed(r, {65530, 65531, 65532, 65533, 65535, 0, 1, 2, 65534, 4, 5}, t);
  EXPECT_EQ(r.counters().expected, 12u);  // 65530..65535, 0..5
  EXPECT_EQ(r.counters().received, 11u);
  EXPECT_EQ(r.counters().lost(), 1u);     // 3
  EXPECT_EQ(r.counters().reordered, 1u);  // 65534 after 2
  // Many cycles: 200000 packets in order, no loss.
  Receiver m(90000);
  t = 0;
  for (uint32_t i = 0; i < 200000; ++i) {
    m.on_packet(rtp(static_cast<uint16_t>(60000 + i)), probe(t), 50, t);
    t += 1000;
  }
  EXPECT_EQ(m.counters().expected, 200000u);
  EXPECT_EQ(m.counters().lost(), 0u);
  EXPECT_EQ(m.counters().reordered, 0u);
}

TEST(LoadgenReceiver, LargeJumps) {
  // Forward, confirmed by the next packet: a burst of loss.
  Receiver f(48000);
  uint64_t t = 0;
  feed(f, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, t);
  feed(f, {5000}, t);
  EXPECT_EQ(f.counters().received, 10u);  // not believed yet
  feed(f, {5001, 5002}, t);
  EXPECT_EQ(f.counters().received, 13u);
  EXPECT_EQ(f.counters().expected, 5003u);
  EXPECT_EQ(f.counters().lost(), 4990u);
  // A lone stray sequence number is ignored.
  Receiver s(48000);
  t = 0;
  feed(s, {0, 1, 2, 30000, 3, 4}, t);
  EXPECT_EQ(s.counters().received, 5u);
  EXPECT_EQ(s.counters().expected, 5u);
  // Backward (the sender restarted): a new run; expected adds up over both.
  Receiver b(48000);
  t = 0;
  feed(b, {40000, 40001, 40002, 40003, 30000, 30001, 30002, 30004}, t);
  EXPECT_EQ(b.counters().received, 8u);
  EXPECT_EQ(b.counters().expected, 4u + 5u);
  EXPECT_EQ(b.counters().lost(), 1u);
  feed(b, {30003, 30001}, t);
  EXPECT_EQ(b.counters().lost(), 0u);
  EXPECT_EQ(b.counters().duplicates, 1u);
}

TEST(LoadgenReceiver, RttSamplesAreBounded) {
  Receiver r(48000);
  // Echoes of our own probes: rtt = now - echo_sent - hold; absurd ones dropped.
  r.on_packet(rtp(1), probe(0, 1000, 500), 100, 31500);                 // 30000
  r.on_packet(rtp(2), probe(0, 40000, 0), 100, 30000);                  // negative: dropped
  r.on_packet(rtp(3), probe(0, 1000, 90000), 100, 40000);               // hold > elapsed: dropped
  r.on_packet(rtp(4), probe(0, 1000, 0), 100, 1000 + 61'000'000);       // > 60 s: dropped
  r.on_packet(rtp(5), probe(0, 0, 0), 100, 70'000'000);                 // nothing echoed
  std::vector<uint32_t> out{42};
  r.take_rtt_samples(out);
  EXPECT_EQ(out, (std::vector<uint32_t>{42, 30000}));
  out.clear();
  r.take_rtt_samples(out);
  EXPECT_TRUE(out.empty());
  for (uint32_t i = 0; i < 10000; ++i) r.on_packet(rtp(static_cast<uint16_t>(6 + i)), probe(0, 1, 0), 100, 1 + i);
  r.take_rtt_samples(out);
  EXPECT_LE(out.size(), Receiver::kMaxRttSamples);
  EXPECT_GE(out.size(), Receiver::kMaxRttSamples / 4);
  EXPECT_TRUE(std::is_sorted(out.begin(), out.end()));  // spread over the interval, in order
  EXPECT_GT(out.back(), 9000u);
  EXPECT_LT(out.front(), 1000u);
}

// Two directions through a path with a known one-way delay: each side echoes the last probe it
// received, with how long it held it; the RTT measured is twice the delay.
TEST(LoadgenReceiver, RttFromTwoWayExchange) {
  constexpr uint64_t kDelay = 17'000;
  MediaSource a(MediaKind::Audio, 0xA, 1, 5, 1'000'000, 1200), b(MediaKind::Video, 0xB, 1, 5, 1'000'000, 1200);
  Receiver at_a(clock_rate(MediaKind::Video)), at_b(clock_rate(MediaKind::Audio));
  struct InFlight { uint64_t arrive; std::vector<uint8_t> bytes; bool to_b; };
  std::deque<InFlight> wire;
  std::vector<uint8_t> buf(1500);
  for (uint64_t now = 1'000'000; now < 4'000'000; now += 100) {
    while (!wire.empty() && wire.front().arrive <= now) {
      const InFlight& f = wire.front();
      RtpHeader h;
      Probe p;
      size_t hl = 0;
      ASSERT_TRUE(RtpHeader::parse(f.bytes, h, hl));
      ASSERT_TRUE(Probe::parse(std::span<const uint8_t>(f.bytes).subspan(hl), p));
      (f.to_b ? at_b : at_a).on_packet(h, p, f.bytes.size(), now);
      wire.pop_front();
    }
    for (auto [src, rx, to_b] : {std::tuple{&a, &at_a, true}, std::tuple{&b, &at_b, false}}) {
      const uint64_t echo = rx->last_probe_sent_us();
      const auto hold = static_cast<uint32_t>(echo ? now - rx->last_probe_arrival_us() : 0);
      while (size_t n = src->next(now, echo, hold, buf)) wire.push_back({now + kDelay, {buf.begin(), buf.begin() + n}, to_b});
    }
  }
  for (Receiver* r : {&at_a, &at_b}) {
    std::vector<uint32_t> rtt;
    r->take_rtt_samples(rtt);
    ASSERT_GT(rtt.size(), 50u);
    for (uint32_t v : rtt) EXPECT_EQ(v, 2 * kDelay);
    EXPECT_EQ(r->counters().lost(), 0u);
    EXPECT_DOUBLE_EQ(r->counters().jitter_ms, 0.0);  // every packet delayed the same
  }
}

// A video stream through a path that drops, swaps and duplicates known packets: the counters match
// what the path did, exactly.
TEST(LoadgenReceiver, CountsWhatThePathDid) {
  MediaSource src(MediaKind::Video, 0x77, 2, 11, 0, 1200);
  const auto sent = run(src, 10'000'000);
  ASSERT_GT(sent.size(), 1000u);
  std::vector<const Sent*> path;
  uint64_t dropped = 0, dups = 0, swapped = 0;
  for (size_t i = 0; i + 1 < sent.size(); ++i) {  // the last one always arrives
    if (i % 17 == 5) { ++dropped; continue; }
    if (i % 31 == 7 && i + 2 < sent.size() && (i + 1) % 17 != 5) {  // i+1 overtakes i
      path.push_back(&sent[i + 1]);
      path.push_back(&sent[i]);
      ++swapped;
      ++i;
      continue;
    }
    path.push_back(&sent[i]);
    if (i % 101 == 3) { path.push_back(&sent[i]); ++dups; }
  }
  path.push_back(&sent.back());
  Receiver r(clock_rate(MediaKind::Video));
  uint64_t now = 0, bytes = 0;
  for (const Sent* p : path) {
    now = std::max(now, p->t) + 2000;
    r.on_packet(p->h, p->p, p->size, now);
    bytes += p->size;
  }
  const auto& c = r.counters();
  EXPECT_EQ(c.expected, sent.size());
  EXPECT_EQ(c.lost(), dropped);
  EXPECT_EQ(c.received, sent.size() - dropped);
  EXPECT_EQ(c.duplicates, dups);
  EXPECT_EQ(c.reordered, swapped);
  EXPECT_EQ(c.bytes, bytes);
  EXPECT_GT(c.jitter_ms, 0.0);
  EXPECT_LT(c.jitter_ms, 100.0);
}

// ---- MediaSource ---------------------------------------------------------------------------

TEST(LoadgenMedia, AudioIs50PacketsPerSecond) {
  MediaSource s(MediaKind::Audio, 0x1234, 9, 42, 5'000'000, 1200);
  EXPECT_GE(s.next_due_us(), 5'000'000u);
  EXPECT_LT(s.next_due_us(), 5'020'000u);
  const auto pk = run(s, 15'000'000);
  EXPECT_NEAR(static_cast<double>(pk.size()), 500, 1);
  std::set<size_t> sizes;
  for (size_t i = 0; i < pk.size(); ++i) {
    EXPECT_GE(pk[i].size, 100u);
    EXPECT_LE(pk[i].size, 200u);
    sizes.insert(pk[i].size);
    EXPECT_EQ(pk[i].h.payload_type, 111);
    EXPECT_EQ(pk[i].h.ssrc, 0x1234u);
    EXPECT_EQ(pk[i].h.marker, i == 0);
    EXPECT_EQ(pk[i].p.call_id, 9u);
    EXPECT_EQ(pk[i].p.sent_us, pk[i].t);
    if (i > 0) {
      EXPECT_EQ(pk[i].t - pk[i - 1].t, 20000u);
      EXPECT_EQ(static_cast<uint16_t>(pk[i].h.seq - pk[i - 1].h.seq), 1);
      EXPECT_EQ(pk[i].h.timestamp - pk[i - 1].h.timestamp, 960u);
    }
  }
  EXPECT_GT(sizes.size(), 50u);  // sizes vary
  EXPECT_EQ(s.packets(), pk.size());
  EXPECT_EQ(s.last_lag_us(), 0u);
  EXPECT_EQ(s.skipped(), 0u);
  EXPECT_EQ(s.bitrate_bps(), 0u);
}

TEST(LoadgenMedia, VideoBitrateFramesAndPackets) {
  std::set<uint32_t> rates;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const size_t kMax = 1000 + 20 * seed;
    MediaSource s(MediaKind::Video, 77, 3, seed, 0, kMax);
    EXPECT_GE(s.bitrate_bps(), 300'000u);
    EXPECT_LE(s.bitrate_bps(), 2'500'000u);
    rates.insert(s.bitrate_bps());
    const uint64_t t0 = s.next_due_us();
    const auto pk = run(s, t0 + 9'000'000 - 1);  // 3 keyframe intervals
    uint64_t bytes = 0;
    std::vector<size_t> frames;  // bytes per frame
    size_t frame = 0;
    for (size_t i = 0; i < pk.size(); ++i) {
      EXPECT_LE(pk[i].size, kMax);
      EXPECT_GE(pk[i].size, MediaSource::kMinPacket);
      EXPECT_EQ(pk[i].h.payload_type, 96);
      bytes += pk[i].size;
      frame += pk[i].size;
      if (i + 1 < pk.size() && !pk[i].h.marker) {  // a frame's packets: back to back, one timestamp
        EXPECT_EQ(pk[i + 1].t, pk[i].t);
        EXPECT_EQ(pk[i + 1].h.timestamp, pk[i].h.timestamp);
      }
      if (pk[i].h.marker) {
        if (i + 1 < pk.size()) {
          EXPECT_EQ(pk[i + 1].h.timestamp - pk[i].h.timestamp, 3000u);
        }
        frames.push_back(frame);
        frame = 0;
      }
    }
    EXPECT_EQ(frames.size(), 270u);
    EXPECT_NEAR(bytes * 8 / 9.0, s.bitrate_bps(), s.bitrate_bps() * 0.05) << seed;
    std::vector<size_t> deltas(frames.begin() + 1, frames.begin() + 90);
    std::sort(deltas.begin(), deltas.end());
    const double median = deltas[deltas.size() / 2];
    EXPECT_GT(deltas.front(), median * 0.6);
    EXPECT_LT(deltas.back(), median * 1.4);
    for (size_t k : {0, 90, 180}) {  // keyframes, about 5x
      EXPECT_GT(frames[k], median * 3.5) << k;
      EXPECT_LT(frames[k], median * 7) << k;
    }
  }
  EXPECT_GT(rates.size(), 15u);
}

TEST(LoadgenMedia, ScreenIsBursty) {
  MediaSource s(MediaKind::Screen, 5, 5, 99, 0, 1200);
  const auto pk = run(s, 60'000'000);
  std::vector<uint64_t> per_second(60, 0);
  size_t in_frame = 0;
  std::vector<size_t> packets_per_frame;
  for (size_t i = 0; i < pk.size(); ++i) {
    EXPECT_LE(pk[i].size, 1200u);
    EXPECT_EQ(pk[i].h.payload_type, 97);
    per_second[pk[i].t / 1'000'000] += pk[i].size * 8;
    ++in_frame;
    if (pk[i].h.marker) {
      packets_per_frame.push_back(in_frame);
      in_frame = 0;
    } else if (i + 1 < pk.size()) {
      EXPECT_EQ(pk[i + 1].h.timestamp, pk[i].h.timestamp);
    }
  }
  std::vector<uint64_t> sorted = per_second;
  std::sort(sorted.begin(), sorted.end());
  const uint64_t median = sorted[30], max = sorted.back();
  EXPECT_GT(max, 10 * median) << "median " << median << " max " << max;
  EXPECT_LE(max, 2'600'000u);   // at most 2.5 Mbit/s during a burst
  EXPECT_GT(max, 1'000'000u);
  EXPECT_LT(median, 200'000u);  // idle: a few small frames
  const auto small = std::count_if(packets_per_frame.begin(), packets_per_frame.end(), [](size_t n) { return n <= 3; });
  EXPECT_GT(small, static_cast<long>(packets_per_frame.size() / 2));
  // A burst every 4-8 s (each over one or two seconds): 7-30 busy seconds in a minute.
  const auto busy = std::count_if(per_second.begin(), per_second.end(), [&](uint64_t b) { return b > 5 * median; });
  EXPECT_GE(busy, 7);
  EXPECT_LE(busy, 30);
}

TEST(LoadgenMedia, DeterministicPerSeed) {
  auto bytes_of = [](uint64_t seed, uint32_t ssrc) {
    MediaSource s(MediaKind::Video, ssrc, 11, seed, 1000, 1200);
    std::vector<uint8_t> all;
    for (const auto& p : run(s, 2'000'000)) all.insert(all.end(), p.bytes.begin(), p.bytes.end());
    return all;
  };
  EXPECT_EQ(bytes_of(7, 1), bytes_of(7, 1));
  EXPECT_NE(bytes_of(7, 1), bytes_of(8, 1));
  EXPECT_NE(bytes_of(7, 1), bytes_of(7, 2));
}

TEST(LoadgenMedia, FillerIsNotCompressible) {
  MediaSource s(MediaKind::Audio, 1, 1, 1, 0, 1200);
  const auto pk = run(s, 1'000'000);
  std::array<size_t, 256> hist{};
  size_t n = 0;
  for (const auto& p : pk)
    for (size_t i = MediaSource::kMinPacket; i < p.bytes.size(); ++i, ++n) ++hist[p.bytes[i]];
  ASSERT_GT(n, 3000u);
  for (size_t c : hist) EXPECT_LT(c, n / 256 * 2 + 20);  // no byte value dominates
}

TEST(LoadgenMedia, FallingBehindSkipsInsteadOfBursting) {
  MediaSource s(MediaKind::Audio, 1, 1, 3, 0, 1200);
  std::vector<uint8_t> buf(1500);
  const uint64_t t0 = s.next_due_us();
  ASSERT_GT(s.next(t0, 0, 0, buf), 0u);
  EXPECT_EQ(s.next(t0, 0, 0, buf), 0u);  // nothing more due
  // 500 ms late: what is due goes out (a short catch-up), each with its lag.
  size_t n = 0;
  uint64_t first_lag = 0;
  while (s.next(t0 + 500'000, 0, 0, buf) > 0) {
    if (n++ == 0) first_lag = s.last_lag_us();
    ASSERT_LT(n, 100u);
  }
  EXPECT_EQ(n, 25u);
  EXPECT_EQ(first_lag, 480'000u);
  EXPECT_EQ(s.last_lag_us(), 0u);
  EXPECT_EQ(s.skipped(), 0u);
  RtpHeader before;
  size_t hl = 0;
  ASSERT_TRUE(RtpHeader::parse(buf, before, hl));
  // 5 s stalled: the 250 packets due are skipped and the stream resumes on schedule.
  const uint64_t t1 = t0 + 5'500'000 + 7000;
  for (int i = 0; i < 2 && s.next(t1, 0, 0, buf) > 0; ++i) {
  }
  EXPECT_GE(s.next_due_us(), t1 - 20'000);
  EXPECT_NEAR(static_cast<double>(s.skipped()), 250, 1);
  const uint64_t due = s.next_due_us() > t1 ? s.next_due_us() : t1;
  const size_t sent_before = s.packets();
  while (s.next(due, 0, 0, buf) > 0) {
  }
  EXPECT_LE(s.packets() - sent_before, 1u);
  RtpHeader after;
  ASSERT_TRUE(RtpHeader::parse(buf, after, hl));
  EXPECT_LE(static_cast<uint16_t>(after.seq - before.seq), 2);  // no sequence gap: not network loss
  EXPECT_NEAR(static_cast<double>(after.timestamp - before.timestamp), 5.0 * 48000, 2 * 960);  // time went on
  // An output buffer too small: nothing written, nothing lost.
  const uint64_t due2 = s.next_due_us();
  EXPECT_EQ(s.next(due2, 0, 0, {buf.data(), 20}), 0u);
  EXPECT_EQ(s.next_due_us(), due2);
  const size_t sz = s.next(due2, 123, 456, buf);
  ASSERT_GT(sz, 0u);
  Probe p;
  ASSERT_TRUE(Probe::parse(std::span<const uint8_t>(buf).subspan(12, sz - 12), p));
  EXPECT_EQ(p.sent_us, due2);
  EXPECT_EQ(p.echo_sent_us, 123u);
  EXPECT_EQ(p.echo_hold_us, 456u);
}

TEST(LoadgenMedia, SmallMaxPacket) {
  MediaSource s(MediaKind::Video, 1, 1, 1, 0, 10);  // clamped to the header and probe
  const auto pk = run(s, 200'000);
  ASSERT_FALSE(pk.empty());
  for (const auto& p : pk) EXPECT_EQ(p.size, MediaSource::kMinPacket);
  MediaSource a(MediaKind::Audio, 1, 1, 1, 0, 60);
  for (const auto& p : run(a, 200'000)) EXPECT_EQ(p.size, 60u);
}

// ---- profiles ------------------------------------------------------------------------------

TEST(LoadgenProfile, NamesAndParsing) {
  EXPECT_STREQ(to_string(MediaKind::Audio), "audio");
  EXPECT_STREQ(to_string(MediaKind::Video), "video");
  EXPECT_STREQ(to_string(MediaKind::Screen), "screen");
  for (Profile p : {Profile::Audio, Profile::Video, Profile::Mixed}) EXPECT_EQ(parse_profile(to_string(p)), p);
  EXPECT_FALSE(parse_profile("Audio"));
  EXPECT_FALSE(parse_profile(""));
  EXPECT_FALSE(parse_profile("screen"));
  EXPECT_EQ(clock_rate(MediaKind::Audio), 48000u);
  EXPECT_EQ(clock_rate(MediaKind::Video), 90000u);
  EXPECT_EQ(clock_rate(MediaKind::Screen), 90000u);
  EXPECT_EQ(payload_type(MediaKind::Audio), 111);
  EXPECT_EQ(payload_type(MediaKind::Video), 96);
  EXPECT_EQ(payload_type(MediaKind::Screen), 97);
}

TEST(LoadgenProfile, StreamsPerCall) {
  EXPECT_EQ(streams_for_call(Profile::Audio, 3), std::vector<MediaKind>{MediaKind::Audio});
  EXPECT_EQ(streams_for_call(Profile::Video, 3), (std::vector<MediaKind>{MediaKind::Audio, MediaKind::Video}));
  EXPECT_STREQ(call_kind(Profile::Audio, 3), "audio");
  EXPECT_STREQ(call_kind(Profile::Video, 3), "video");
  std::map<std::string, int> n;
  for (uint32_t id = 0; id < 10000; ++id) {
    const auto s = streams_for_call(Profile::Mixed, id);
    EXPECT_EQ(s, streams_for_call(Profile::Mixed, id));
    ASSERT_FALSE(s.empty());
    EXPECT_EQ(s.front(), MediaKind::Audio);
    EXPECT_STREQ(call_kind(Profile::Mixed, id), to_string(s.back()));
    ++n[call_kind(Profile::Mixed, id)];
  }
  EXPECT_NEAR(n["audio"], 5000, 200);
  EXPECT_NEAR(n["video"], 3500, 200);
  EXPECT_NEAR(n["screen"], 1500, 150);
  // Shards see the same split: a call's streams depend on its id only (consecutive ids mix).
  std::set<std::string> first_ten;
  for (uint32_t id = 0; id < 10; ++id) first_ten.insert(call_kind(Profile::Mixed, id));
  EXPECT_GE(first_ten.size(), 2u);
}
