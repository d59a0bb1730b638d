// Simulcast: a=rid / a=simulcast in a real Chromium offer and the SFU's answer (RFC 8851, RFC 8853),
// the VP8 payload descriptor (RFC 7741 4.2), the per-subscription layer rewriter and layer choice.
#include <gtest/gtest.h>

#include <array>
#include <fstream>
#include <sstream>
#include <vector>

#include "sfu/sdp.hpp"
#include "sfu/active_speaker.hpp"
#include "sfu/rtp.hpp"
#include "sfu/rtx.hpp"
#include "sfu/simulcast.hpp"

using namespace sfu;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream f(std::string(TURNPIKE_SOURCE_DIR) + "/tests/fixtures/chromium_sdp/" + name + ".sdp", std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

sdp::SessionDescription parsed(const std::string& text, sdp::Error& err) {
  auto sd = sdp::parse(text, err);
  return sd.value_or(sdp::SessionDescription{});
}

sdp::AnswerOptions options() {
  sdp::AnswerOptions o;
  o.ice = {"TpSf", "turnpikeSfuIcePassword0"};
  o.fingerprint.algorithm = "sha-256";
  o.fingerprint.value.assign(32, 0xAB);
  o.addresses = {*turn::Endpoint::parse("198.18.0.1:3478")};
  return o;
}

}  // namespace

TEST(SdpSimulcast, ChromiumOfferParses) {
  sdp::Error err;
  auto sd = parsed(fixture("i_simulcast"), err);
  ASSERT_FALSE(err) << err.to_string();
  const auto& v = sd.media.at(1);
  ASSERT_EQ(v.rids.size(), 3u);
  EXPECT_EQ(v.rids[0].id, "q");
  EXPECT_TRUE(v.rids[0].send);
  ASSERT_TRUE(v.simulcast);
  ASSERT_EQ(v.simulcast->send.size(), 3u);
  EXPECT_EQ(v.simulcast->send[2].rids.front(), "f");
  EXPECT_TRUE(v.simulcast->recv.empty());
  EXPECT_TRUE(v.ssrcs.empty());  // SSRCs come from the rtp-stream-id extension
  // Written back, it reads the same.
  auto again = parsed(sdp::to_string(sd), err);
  EXPECT_EQ(again, sd);
}

TEST(SdpSimulcast, Grammar) {
  const std::string head =
      "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=rtpmap:96 VP8/90000\r\n";
  sdp::Error err;
  auto sd = parsed(head + "a=rid:lo send max-width=320;max-height=180\r\na=rid:hi send\r\na=simulcast:send ~lo;hi,x recv r\r\n", err);
  ASSERT_FALSE(err) << err.to_string();
  const auto& m = sd.media[0];
  EXPECT_EQ(m.rids[0].params, "max-width=320;max-height=180");
  EXPECT_TRUE(m.simulcast->send[0].paused);
  EXPECT_EQ(m.simulcast->send[1].rids, (std::vector<std::string>{"hi", "x"}));
  EXPECT_EQ(m.simulcast->recv[0].rids.front(), "r");
  EXPECT_EQ(parsed(sdp::to_string(sd), err), sd);
  for (const char* bad : {"a=rid:q sideways\r\n", "a=rid:q\r\n", "a=rid:bad!id send\r\n", "a=rid:q send\r\na=rid:q send\r\n",
                          "a=rid:aaaaaaaaaaaaaaaaaaaaaaaa send\r\n", "a=simulcast:send\r\n", "a=simulcast:send q;;h\r\n",
                          "a=simulcast:send q send h\r\n", "a=simulcast:up q\r\n", "a=simulcast:send q\r\na=simulcast:send q\r\n",
                          "a=simulcast:send a;b;c;d;e;f;g;h;i\r\n"}) {
    sdp::Error e;
    EXPECT_FALSE(sdp::parse(head + bad, e)) << bad;
    EXPECT_TRUE(e) << bad;
  }
  std::string many = head;
  for (int i = 0; i < 9; ++i) many += "a=rid:r" + std::to_string(i) + " send\r\n";
  sdp::Error e;
  EXPECT_FALSE(sdp::parse(many, e));
  EXPECT_EQ(e.code, sdp::Errc::TooMany);
}

TEST(SdpSimulcast, AnswerReceivesTheLayers) {
  sdp::Error err;
  auto offer = parsed(fixture("i_simulcast"), err);
  auto o = options();
  auto without = sdp::build_answer(offer, o);
  EXPECT_FALSE(without.media[1].simulcast);  // not asked for: one layer, as before
  o.simulcast = true;
  auto a = sdp::build_answer(offer, o);
  const auto& v = a.media[1];
  ASSERT_TRUE(v.simulcast);
  ASSERT_EQ(v.simulcast->recv.size(), 3u);
  EXPECT_TRUE(v.simulcast->send.empty());
  ASSERT_EQ(v.rids.size(), 3u);
  EXPECT_FALSE(v.rids[1].send);
  EXPECT_EQ(v.rids[1].id, "h");
  EXPECT_TRUE(sdp::extmap_id(v, sdp::ext::kRid));
  EXPECT_TRUE(sdp::extmap_id(v, sdp::ext::kRepairedRid));
  EXPECT_FALSE(a.media[0].simulcast);  // audio
  EXPECT_FALSE(a.media[2].simulcast);  // recvonly
  EXPECT_FALSE(sdp::extmap_id(a.media[2], sdp::ext::kRid));
  auto text = sdp::to_string(a);
  EXPECT_NE(text.find("a=simulcast:recv q;h;f\r\n"), std::string::npos);
  EXPECT_NE(text.find("a=rid:q recv\r\n"), std::string::npos);
}

namespace {

// RFC 7741 4.2: X=1, S=1, PID=0; I=1, L=1, T=1; M=1 picture id; TL0PICIDX; TID/Y/KEYIDX; then a
// key frame header (P=0) with the start code.
std::vector<uint8_t> vp8_payload(uint16_t picture_id, uint8_t tl0, bool key) {
  return {0x90, 0xE0, static_cast<uint8_t>(0x80 | (picture_id >> 8)), static_cast<uint8_t>(picture_id & 0xFF), tl0, 0x20,
          static_cast<uint8_t>(key ? 0x10 : 0x11), 0x02, 0x00, 0x9D, 0x01, 0x2A};
}

}  // namespace

TEST(Vp8Descriptor, ParsesAndRewrites) {
  auto p = vp8_payload(0x1234, 77, true);
  Vp8Descriptor d;
  ASSERT_TRUE(Vp8Descriptor::parse(p, d));
  EXPECT_TRUE(d.start);
  EXPECT_TRUE(d.long_picture_id);
  EXPECT_EQ(d.picture_id, 0x1234);
  EXPECT_EQ(d.tl0picidx, 77);
  EXPECT_EQ(d.size, 6u);
  d.write(p, 0x7FFE, 3);
  Vp8Descriptor again;
  ASSERT_TRUE(Vp8Descriptor::parse(p, again));
  EXPECT_EQ(again.picture_id, 0x7FFE);
  EXPECT_EQ(again.tl0picidx, 3);
  // Short (7-bit) picture id, no TL0PICIDX.
  std::vector<uint8_t> s{0x90, 0x80, 0x05, 0x10};
  ASSERT_TRUE(Vp8Descriptor::parse(s, d));
  EXPECT_FALSE(d.long_picture_id);
  EXPECT_EQ(d.picture_id, 5);
  EXPECT_EQ(d.size, 3u);
  // Truncated descriptors.
  for (size_t n = 0; n < 5; ++n) {
    auto t = vp8_payload(0x1234, 77, true);
    t.resize(n);
    EXPECT_FALSE(Vp8Descriptor::parse(t, d)) << n;
  }
}

namespace {

struct Source {
  int layer;
  uint16_t seq;
  uint32_t ts;
  uint16_t pid;
  uint8_t tl0;
};

bool send(LayerForwarder& f, Source& s, bool key, int64_t now, LayerOutput& out, Vp8Descriptor& d) {
  auto payload = vp8_payload(s.pid, s.tl0, key);
  Vp8Descriptor::parse(payload, d);
  LayerPacket p{s.layer, s.seq, s.ts, key, &d, 90000};
  bool sent = f.on_packet(p, now, out);
  ++s.seq;
  s.ts += 3000;
  ++s.pid;
  ++s.tl0;
  return sent;
}

}  // namespace

TEST(LayerForwarder, SingleLayerPassesUnchanged) {
  LayerForwarder f;
  LayerOutput out;
  LayerPacket p{0, 65530, 123456, false, nullptr, 48000};
  EXPECT_FALSE(f.on_packet(p, 1, out));  // no target: nothing forwarded
  f.set_target(0);
  for (int i = 0; i < 10; ++i) {
    p.sequence = static_cast<uint16_t>(65530 + i);
    ASSERT_TRUE(f.on_packet(p, 1 + i, out));
    EXPECT_EQ(out.sequence, p.sequence);
    EXPECT_EQ(out.timestamp, p.timestamp);
  }
  EXPECT_FALSE(f.wants_keyframe());
  EXPECT_EQ(f.switches(), 0u);
  EXPECT_EQ(f.source_sequence(65535), 65535);
}

TEST(LayerForwarder, SwitchesOnKeyframeAndStaysContinuous) {
  LayerForwarder f;
  f.set_target(0);
  Source lo{0, 1000, 90000, 500, 10}, hi{2, 40000, 7000000, 30000, 200};
  LayerOutput out;
  Vp8Descriptor d;
  int64_t now = 1000;
  uint16_t last_seq = 0;
  uint32_t last_ts = 0;
  uint16_t last_pid = 0;
  for (int i = 0; i < 5; ++i, now += 33) {
    EXPECT_TRUE(send(f, lo, i == 0, now, out, d));
    EXPECT_FALSE(send(f, hi, false, now, out, d));
    last_seq = out.sequence;
  }
  f.set_target(2);
  EXPECT_TRUE(f.wants_keyframe());
  // Until the high layer's keyframe, the low layer keeps flowing.
  EXPECT_FALSE(send(f, hi, false, now, out, d));
  ASSERT_TRUE(send(f, lo, false, now, out, d));
  last_seq = out.sequence;
  last_ts = out.timestamp;
  last_pid = out.picture_id;
  uint8_t last_tl0 = out.tl0picidx;
  now += 40;
  ASSERT_TRUE(send(f, hi, true, now, out, d));
  EXPECT_EQ(out.sequence, static_cast<uint16_t>(last_seq + 1));
  EXPECT_EQ(out.timestamp, last_ts + 40 * 90);
  EXPECT_EQ(out.picture_id, (last_pid + 1) & 0x7FFF);
  EXPECT_EQ(out.tl0picidx, static_cast<uint8_t>(last_tl0 + 1));
  EXPECT_EQ(f.current(), 2);
  EXPECT_FALSE(f.wants_keyframe());
  EXPECT_EQ(f.switches(), 1u);
  // The low layer is no longer forwarded; the high one continues in order.
  EXPECT_FALSE(send(f, lo, true, now, out, d));
  uint16_t switched = out.sequence;
  ASSERT_TRUE(send(f, hi, false, now + 33, out, d));
  EXPECT_EQ(out.sequence, static_cast<uint16_t>(switched + 1));
  // NACKs map back within the current layer only.
  EXPECT_EQ(f.source_sequence(out.sequence), static_cast<uint16_t>(hi.seq - 1));
  EXPECT_FALSE(f.source_sequence(last_seq));
  EXPECT_FALSE(f.source_sequence(static_cast<uint16_t>(out.sequence + 1)));
  // A packet of the high layer from before the switch (reordered) is dropped.
  Source old = hi;
  old.seq = static_cast<uint16_t>(hi.seq - 10);
  EXPECT_FALSE(send(f, old, false, now, out, d));
}

TEST(LayerForwarder, SequenceWrapAcrossSwitches) {
  LayerForwarder f;
  f.set_target(1);
  Source a{1, 65533, 0xFFFFF000, 0x7FFE, 255}, b{0, 10, 5, 1, 1};
  LayerOutput out;
  Vp8Descriptor d;
  std::vector<uint16_t> seqs;
  int64_t now = 10;
  for (int i = 0; i < 6; ++i, now += 10) {
    ASSERT_TRUE(send(f, a, i == 0, now, out, d));
    seqs.push_back(out.sequence);
  }
  f.set_target(0);
  ASSERT_TRUE(send(f, b, true, now, out, d));
  seqs.push_back(out.sequence);
  for (size_t i = 1; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], static_cast<uint16_t>(seqs[i - 1] + 1));
  EXPECT_EQ(out.picture_id, 4);  // 0x7FFE + 6 wraps past 0x7FFF
}

TEST(ChooseLayer, FitsBudgetWithHysteresis) {
  std::vector<LayerOffer> l{{150'000, true}, {500'000, true}, {1'500'000, true}};
  EXPECT_EQ(choose_layer(l, 300'000, 2, LayerForwarder::kNone), 0);
  EXPECT_EQ(choose_layer(l, 560'000, 2, 0), 0);   // 500k + 15% does not fit: stay
  EXPECT_EQ(choose_layer(l, 580'000, 2, 0), 1);
  EXPECT_EQ(choose_layer(l, 520'000, 2, 1), 1);   // staying needs only the rate
  EXPECT_EQ(choose_layer(l, 10'000'000, 2, 1), 2);
  EXPECT_EQ(choose_layer(l, 10'000'000, 1, 1), 1);  // the subscriber's maximum
  EXPECT_EQ(choose_layer(l, 10'000, 2, 2), 0);      // nothing fits: the lowest, never none
  l[0].active = false;
  EXPECT_EQ(choose_layer(l, 10'000, 2, 2), 1);      // paused low layer: the lowest active one
  l[1].active = l[2].active = false;
  EXPECT_EQ(choose_layer(l, 10'000'000, 2, 2), LayerForwarder::kNone);
}

TEST(Rtx, RetransmissionCarriesTheOriginalSequenceNumber) {
  // A packet with a one-byte extension block and 3 bytes of padding, as rewrite() writes them.
  std::vector<uint8_t> p{0xB0, 0x60, 0x12, 0x34, 0, 0, 0x10, 0, 0xAA, 0xBB, 0xCC, 0xDD, 0xBE, 0xDE, 0x00, 0x01, 0x10, 0x07, 0, 0,
                         1, 2, 3, 4, 5, 0, 0, 3};
  const size_t n = p.size();
  p.resize(n + 2 + 16);
  RtxStream rtx{0x01020304, 107, 500};
  size_t m = to_rtx(p, n, rtx, 16);
  ASSERT_EQ(m, n + 2);
  RtpPacket r;
  ASSERT_EQ(RtpPacket::parse({p.data(), m}, r), RtpError::None);
  EXPECT_EQ(r.ssrc, 0x01020304u);
  EXPECT_EQ(r.payload_type, 107);
  EXPECT_EQ(r.sequence, 500);
  EXPECT_EQ(r.timestamp, 0x1000u);
  EXPECT_EQ(r.padding_size, 3);
  ASSERT_EQ(r.payload.size(), 7u);
  EXPECT_EQ(r.payload[0], 0x12);  // OSN
  EXPECT_EQ(r.payload[1], 0x34);
  EXPECT_EQ(r.payload[2], 1);
  EXPECT_EQ(r.payload[6], 5);
  ASSERT_TRUE(r.extension(1));
  EXPECT_EQ(rtx.sequence, 501);
  // No room for the OSN and the trailer, or not RTP: nothing written.
  std::vector<uint8_t> tight(p.begin(), p.begin() + static_cast<long>(n));
  EXPECT_EQ(to_rtx(tight, n, rtx, 16), 0u);
  std::vector<uint8_t> junk(64, 0);
  EXPECT_EQ(to_rtx(junk, 20, rtx, 16), 0u);
  EXPECT_EQ(rtx.sequence, 501);
}

TEST(Rtx, PaddingOnlyPacketsParseWithAnEmptyPayload) {
  std::array<uint8_t, 300> out{};
  RtxStream rtx{7, 99, 65535};
  size_t n = build_padding(out, rtx, 1234, 3, 224);
  ASSERT_EQ(n, 12u + 8 + 224);
  RtpPacket r;
  ASSERT_EQ(RtpPacket::parse({out.data(), n}, r), RtpError::None);
  EXPECT_TRUE(r.payload.empty());
  EXPECT_EQ(r.padding_size, 224);
  EXPECT_EQ(r.sequence, 65535);
  EXPECT_EQ(rtx.sequence, 0);
  const RtpExtension* e = r.extension(3);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->value.size(), 2u);  // where the transport-wide sequence number is stamped
  EXPECT_EQ(build_padding(out, rtx, 0, 15, 224), 0u);  // not a one-byte id
  EXPECT_EQ(build_padding(std::span<uint8_t>(out).first(100), rtx, 0, 3, 224), 0u);
  EXPECT_EQ(build_padding(out, rtx, 0, 0, 100), 112u);  // no extension
}

TEST(ActiveSpeaker, AudioLevelsRankAndFade) {
  const std::array<uint8_t, 1> loud{0x80 | 20}, quiet_voice{0x80 | 110}, no_voice{20};
  auto l = AudioLevel::parse(loud);
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->voice);
  EXPECT_EQ(l->level, 20);
  EXPECT_FALSE(AudioLevel::parse({}));
  SpeechActivity a, b, c;
  for (int64_t t = 0; t < 600; t += 20) {
    a.on_level(*AudioLevel::parse(loud), t);
    b.on_level(*AudioLevel::parse(quiet_voice), t);
    c.on_level(*AudioLevel::parse(no_voice), t);  // loud but not voice (RFC 6464 V=0)
  }
  EXPECT_TRUE(a.speaking(600));
  EXPECT_FALSE(b.speaking(600));  // -110 dBov: voice, but below the speaking loudness
  EXPECT_FALSE(c.speaking(600));
  EXPECT_GT(a.loudness(600), b.loudness(600));
  EXPECT_TRUE(a.speaking(1500));
  EXPECT_FALSE(a.speaking(1700));  // a second of silence
}
