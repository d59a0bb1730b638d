// Transport-wide congestion control feedback (sfu/twcc.hpp): the FCI parser and its cursor on
// hand-built packets of every chunk kind, malformed input, the receive-side recorder round trip,
// and the sequence number header extension.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "sfu/twcc.hpp"

#include "hex.hpp"

using namespace sfu;

namespace {

RtcpPacket only_packet(std::span<const uint8_t> d) {
  RtcpReader r(d);
  RtcpPacket p;
  EXPECT_TRUE(r.next(p));
  EXPECT_EQ(r.error(), RtcpError::None);
  return p;
}

std::vector<TwccPacketStatus> statuses(const TwccFeedback& fb) {
  std::vector<TwccPacketStatus> v(fb.status_count + 4u);
  v.resize(fb.expand(v));
  return v;
}

// What a receiver reported: seq -> arrival (the feedback sender's clock) or -1 for not received.
using Report = std::multimap<uint16_t, int64_t>;

// Parses every packet of a compound TwccRecorder built; checks the feedback packet count increments.
Report parse_all(std::span<const uint8_t> compound, int& next_count, size_t* packets = nullptr) {
  Report r;
  RtcpReader reader(compound);
  RtcpPacket p;
  while (reader.next(p)) {
    EXPECT_LE(p.raw.size(), TwccRecorder::kMaxPacketSize);
    TwccFeedback fb;
    EXPECT_EQ(TwccFeedback::parse(p, fb), RtcpError::None);
    EXPECT_EQ(fb.sender_ssrc, 0x11111111u);
    EXPECT_EQ(fb.media_ssrc, 0x22222222u);
    if (next_count >= 0) {
      EXPECT_EQ(fb.fb_pkt_count, static_cast<uint8_t>(next_count));
    }
    next_count = static_cast<uint8_t>(fb.fb_pkt_count + 1);
    for (const auto& s : statuses(fb)) r.emplace(s.seq, s.received ? fb.reference_us() + s.arrival_us : -1);
    if (packets) ++*packets;
  }
  EXPECT_EQ(reader.error(), RtcpError::None);
  return r;
}

}  // namespace

// ---- parser ----

// As libwebrtc (Chromium) writes feedback for a burst of video packets: base sequence 0x1F4D,
// 10 statuses, reference time 0x3A4B2C (x 64 ms), feedback packet count 0x11, one run-length chunk
// (T=0, S=01 "small delta", run 10: 0x200A), ten 1-byte deltas; 32 bytes, no padding.
TEST(TwccFeedback, ChromiumRunLengthSmallDeltas) {
  const auto d = hex(
      "8fcd0007"        // V=2 P=0 FMT=15, PT=205 (RTPFB), length 7 words
      "fa17c0de"        // sender SSRC
      "5d1c3a07"        // media source SSRC
      "1f4d000a"        // base sequence 8013, status count 10
      "3a4b2c11"        // reference time 0x3A4B2C, fb pkt count 17
      "200a"            // run length chunk: small delta x 10
      "a8 00 04 14 00 01 50 03 00 02");  // deltas (250 us units)
  const RtcpPacket p = only_packet(d);
  ASSERT_EQ(kind_of(p), RtcpKind::TransportCc);
  TwccFeedback fb;
  ASSERT_EQ(TwccFeedback::parse(p, fb), RtcpError::None);
  EXPECT_EQ(fb.sender_ssrc, 0xfa17c0deu);
  EXPECT_EQ(fb.media_ssrc, 0x5d1c3a07u);
  EXPECT_EQ(fb.base_seq, 0x1f4d);
  EXPECT_EQ(fb.status_count, 10);
  EXPECT_EQ(fb.reference_time, 0x3a4b2c);
  EXPECT_EQ(fb.reference_us(), int64_t{0x3a4b2c} * 64000);
  EXPECT_EQ(fb.fb_pkt_count, 17);
  EXPECT_EQ(fb.received_count, 10);
  const auto s = statuses(fb);
  ASSERT_EQ(s.size(), 10u);
  const int64_t deltas[] = {0xa8, 0, 4, 0x14, 0, 1, 0x50, 3, 0, 2};
  int64_t at = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    at += deltas[i] * 250;
    EXPECT_EQ(s[i].seq, static_cast<uint16_t>(0x1f4d + i));
    EXPECT_TRUE(s[i].received);
    EXPECT_EQ(s[i].arrival_us, at);
  }
}

// One-bit status vector (T=1, S=0): 14 symbols, 1 = received with a small delta. Here status count
// 13 clips the last symbol; padding bit set, one padding octet (libwebrtc pads this way).
TEST(TwccFeedback, OneBitStatusVector) {
  const auto d = hex(
      "afcd0006" "00000001" "00000002"
      "fffe000d"  // base 65534 (wraps), 13 statuses
      "ffffff00"  // reference time -1 (24-bit signed), count 0
      "ac01"      // 1 0 1 1 0 0 0 0 0 0 0 0 0 | 1 (beyond the count)
      "04 08 0c"  // three deltas: 1 ms, 2 ms, 3 ms
      "00 00 03");  // padding: 2 zero octets and the count (3)
  const RtcpPacket p = only_packet(d);
  TwccFeedback fb;
  ASSERT_EQ(TwccFeedback::parse(p, fb), RtcpError::None);
  EXPECT_EQ(fb.reference_time, -1);
  EXPECT_EQ(fb.reference_us(), -64000);
  EXPECT_EQ(fb.received_count, 3);
  const auto s = statuses(fb);
  ASSERT_EQ(s.size(), 13u);
  EXPECT_EQ(s[0].seq, 65534);
  EXPECT_EQ(s[1].seq, 65535);
  EXPECT_EQ(s[2].seq, 0);
  EXPECT_TRUE(s[0].received);
  EXPECT_EQ(s[0].arrival_us, 1000);
  EXPECT_FALSE(s[1].received);
  EXPECT_EQ(s[2].arrival_us, 3000);
  EXPECT_EQ(s[3].arrival_us, 6000);
  for (size_t i = 4; i < 13; ++i) EXPECT_FALSE(s[i].received);
}

// Two-bit status vector (T=1, S=1): 7 symbols; a large (2-byte signed) delta going back in time
// (reordering), then a run of not-received packets, then a run-length chunk of large deltas.
TEST(TwccFeedback, TwoBitVectorRunsAndLargeDeltas) {
  const auto d = hex(
      "8fcd0008" "00000001" "00000002"
      "0064000d"  // base 100, 13 statuses
      "00000105"  // reference 1, count 5
      "d840"      // two-bit: small, large, not received, small, 0, 0, 0 (7 statuses)
      "0004"      // run length: not received x 4
      "4002"      // run length: large delta x 2
      "28 fff0 0a 8000 7fff"
      "0000");    // zero octets after the deltas (ignored)
  const RtcpPacket p = only_packet(d);
  TwccFeedback fb;
  ASSERT_EQ(TwccFeedback::parse(p, fb), RtcpError::None);
  const auto s = statuses(fb);
  ASSERT_EQ(s.size(), 13u);
  EXPECT_EQ(s[0].arrival_us, 40 * 250);
  EXPECT_EQ(s[1].arrival_us, 40 * 250 - 16 * 250);
  EXPECT_FALSE(s[2].received);
  EXPECT_EQ(s[3].arrival_us, (40 - 16 + 10) * 250);
  for (size_t i = 4; i < 11; ++i) EXPECT_FALSE(s[i].received) << i;
  EXPECT_EQ(s[11].arrival_us, (40 - 16 + 10 - 32768) * 250);
  EXPECT_EQ(s[12].arrival_us, (40 - 16 + 10 - 32768 + 32767) * 250);
  EXPECT_EQ(s[12].seq, 112);
  // A caller array smaller than the count gets a prefix.
  std::array<TwccPacketStatus, 3> few;
  EXPECT_EQ(fb.expand(few), 3u);
  EXPECT_EQ(few[1].arrival_us, s[1].arrival_us);
}

TEST(TwccFeedback, MalformedIsAnErrorAndNothingElse) {
  const auto check = [](std::string_view h, RtcpError want) {
    const auto d = hex(h);
    const RtcpPacket p = only_packet(d);
    TwccFeedback fb;
    fb.base_seq = 777;
    EXPECT_EQ(TwccFeedback::parse(p, fb), want) << h;
    EXPECT_EQ(fb.base_seq, 777) << h;
    EXPECT_TRUE(fb.chunks.empty() && fb.deltas.empty()) << h;
  };
  check("8fcd0003 00000001 00000002 00640000", RtcpError::Truncated);                 // FCI < 8 bytes
  check("8fcd0002 00000001 00000002", RtcpError::Truncated);                       // no FCI
  check("8fcd0004 00000001 00000002 00640000 00000100", RtcpError::BadValue);      // status count 0
  check("8fcd0004 00000001 00000002 00640001 00000100", RtcpError::BadLength);     // no chunk
  check("8fcd0005 00000001 00000002 00640030 00000100 20102010", RtcpError::BadLength);  // 48 > 16+16
  check("8fcd0005 00000001 00000002 00640003 00000100 20030102", RtcpError::BadLength);  // 3 deltas, 2 bytes
  check("8fcd0005 00000001 00000002 00640002 00000100 40020102", RtcpError::BadLength);  // large: 4 bytes
  check("8fcd0005 00000001 00000002 00640002 00000100 60020102", RtcpError::BadValue);   // run of symbol 3
  check("8fcd0005 00000001 00000002 00640002 00000100 f0000102", RtcpError::BadValue);   // 2-bit symbol 3
  check("81cd0005 00000001 00000002 00640002 00000100 20020102", RtcpError::WrongType);  // NACK
}

// ---- recorder -> build -> parse ----

TEST(TwccRecorder, RoundTripWithReorderLossWrapAndLargeGaps) {
  TwccRecorder rec(0x11111111, 0x22222222);
  std::mt19937 rng(7);
  std::map<uint16_t, int64_t> sent;  // what arrived: seq -> arrival
  std::vector<uint8_t> buf(8 * 1200);
  int count = -1;
  Report got;
  int64_t now = 1'000'000;
  uint16_t seq = 65000;  // wraps
  for (int round = 0; round < 40; ++round) {
    std::vector<std::pair<uint16_t, int64_t>> batch;
    for (int i = 0; i < 60; ++i, ++seq) {
      now += std::uniform_int_distribution<int64_t>(0, 3000)(rng);
      if (round == 20 && i == 30) now += 9'000'000;  // a gap no 16-bit delta spans
      if (rng() % 10 == 0) continue;                 // lost
      batch.emplace_back(seq, now);
    }
    for (size_t i = 0; i + 1 < batch.size(); i += 7) std::swap(batch[i], batch[i + 1]);  // reordered
    for (auto [s, at] : batch) {
      rec.record(s, at);
      sent[s] = at;
    }
    ASSERT_TRUE(rec.due(now + 100'000));
    const size_t n = rec.build(now, buf);
    ASSERT_GT(n, 0u);
    EXPECT_FALSE(rec.pending());
    EXPECT_FALSE(rec.due(now + 1));
    for (auto& [s, at] : parse_all({buf.data(), n}, count)) got.emplace(s, at);
  }
  // Every arrival reported received, to 250 us; everything else reported is a loss.
  for (auto [s, at] : sent) {
    auto [lo, hi] = got.equal_range(s);
    bool found = false;
    for (auto it = lo; it != hi; ++it)
      if (it->second >= 0) {
        EXPECT_NEAR(static_cast<double>(it->second), static_cast<double>(at), 125.0) << s;
        found = true;
      }
    EXPECT_TRUE(found) << s;
  }
  for (auto [s, at] : got) {
    if (at < 0) {
      EXPECT_EQ(sent.count(s), 0u) << s;
    }
  }
  EXPECT_EQ(rec.dropped(), 0u);
}

TEST(TwccRecorder, SplitsAtThePacketSizeBound) {
  TwccRecorder rec(0x11111111, 0x22222222);
  // Alternating large deltas (reordering in time) force two-bit chunks and 2-byte deltas.
  for (int i = 0; i < 1500; ++i) rec.record(static_cast<uint16_t>(i), 5'000'000 + (i % 2 ? -20'000 : 20'000) + i * 100);
  std::vector<uint8_t> buf(16 * 1200);
  int count = -1;
  size_t packets = 0;
  const size_t n = rec.build(0, buf);
  const Report got = parse_all({buf.data(), n}, count, &packets);
  EXPECT_GE(packets, 3u);
  EXPECT_EQ(got.size(), 1500u);
  for (auto [s, at] : got) EXPECT_NEAR(static_cast<double>(at), 5'000'000.0 + (s % 2 ? -20'000 : 20'000) + s * 100, 125.0);
  // An output buffer too small for a packet takes nothing.
  rec.record(1500, 6'000'000);
  std::array<uint8_t, 20> tiny;
  EXPECT_EQ(rec.build(1, tiny), 0u);
  EXPECT_TRUE(rec.pending());
}

TEST(TwccRecorder, LateArrivalIsReportedAgainAndOldOnesDropped) {
  TwccRecorder rec(0x11111111, 0x22222222, 64);
  std::vector<uint8_t> buf(1200);
  int count = -1;
  rec.record(10, 1000);
  rec.record(12, 3000);
  Report r = parse_all({buf.data(), rec.build(0, buf)}, count);
  EXPECT_EQ(r.find(11)->second, -1);
  rec.record(11, 4000);  // late: reported lost already
  r = parse_all({buf.data(), rec.build(0, buf)}, count);
  EXPECT_EQ(r.find(11)->second, 4000);
  EXPECT_EQ(r.find(12)->second, 3000);
  rec.record(12, 5000);  // duplicate
  rec.record(200, 9000);  // far ahead: the window (64) moves
  rec.record(100, 9000);  // now too old
  EXPECT_EQ(rec.dropped(), 2u);
  r = parse_all({buf.data(), rec.build(0, buf)}, count);
  EXPECT_EQ(r.begin()->first, 200 - 63);
  EXPECT_EQ(r.rbegin()->second, 9000);
}

// ---- header extension ----

TEST(TransportSeq, ReadAndOverwriteTheExtension) {
  // RTP header with a one-byte extension block: id 3 (2 bytes: transport seq 0x0102), id 1 (mid).
  auto pkt = hex("90600001 00000010 deadbeef bede0002 31 0102 10 61 000000 ffff");
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse(pkt, p), RtpError::None);
  EXPECT_EQ(transport_seq(p, 3), 0x0102);
  EXPECT_FALSE(transport_seq(p, 1));  // 1 byte: not a transport sequence number
  EXPECT_FALSE(transport_seq(p, 5));
  EXPECT_TRUE(set_transport_seq(pkt, 3, 0xabcd));
  EXPECT_FALSE(set_transport_seq(pkt, 1, 1));
  ASSERT_EQ(RtpPacket::parse(pkt, p), RtpError::None);
  EXPECT_EQ(transport_seq(p, 3), 0xabcd);
  std::array<uint8_t, 2> v{};
  EXPECT_TRUE(write_transport_seq(v, 0x1234));
  EXPECT_EQ(read_transport_seq(v), 0x1234);
  EXPECT_FALSE(read_transport_seq(std::span(v).first(1)));
}
