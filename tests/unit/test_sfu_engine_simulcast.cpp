// Simulcast through the engine (engine_simulcast.cpp), without sockets: a publisher joins with
// Chromium's simulcast offer (tests/fixtures/chromium_sdp/i_simulcast.sdp: rid q, h, f, no a=ssrc)
// and sends three layers on three SSRCs named by the rtp-stream-id extension; a subscriber gets
// one stream with the SSRC its answer announced, switched between layers on keyframes by its
// bandwidth (REMB) and its `subscribe` preferences; layers nobody watches are paused (`layers`).
#include <gtest/gtest.h>

#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sfu/engine.hpp"
#include "sfu/rtcp.hpp"
#include "sfu/rtp.hpp"
#include "sfu/sdp.hpp"
#include "sfu/simulcast.hpp"
#include "sfu/srtp.hpp"
#include "sfu/twcc.hpp"
#include "sfu_fixture.hpp"

using namespace sfu;
using namespace sfu_fixture;
using json = nlohmann::json;

namespace {

constexpr std::array<uint32_t, 3> kLayerSsrc{0x1000, 0x2000, 0x3000};  // q, h, f
constexpr std::array<const char*, 3> kRid{"q", "h", "f"};
constexpr uint8_t kMidExt = 4, kRidExt = 10, kTwccExt = 3;  // i_simulcast.sdp's extmap ids
constexpr uint32_t kSubscriberSsrc = 0x11223344;
constexpr const char* kPubAt = "198.51.100.20:5000";
constexpr const char* kSubAt = "198.51.100.30:6000";

class SfuSimulcast : public EngineTest {
 protected:
  DtlsClient pub_dtls, sub_dtls;
  Client pub, sub;
  SrtpSessionPair pub_srtp, sub_srtp;
  uint8_t vp8_pt = 0;
  uint32_t announced = 0;  // the SSRC the subscriber's answer announces
  size_t pub_seen = 0, sub_seen = 0;
  std::array<uint16_t, 3> seq{100, 20000, 60000};
  std::array<uint16_t, 3> pid{10, 2000, 30000};
  uint16_t twcc = 65530;  // the publisher's transport-wide sequence numbers (across its layers)
  bool h264 = false;      // the publisher prefers H.264 (RFC 6184 payloads; no picture id)

  // The captured Chromium simulcast offer; with h264, without VP8 (96, its RTX 97), as from a
  // client that prefers H.264 with setCodecPreferences.
  std::string publisher_offer() const {
    std::string sdp = chromium_sdp("i_simulcast.sdp");
    const std::string line = "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 ";
    if (auto at = sdp.find(line); h264 && at != std::string::npos)
      sdp.replace(at, line.size(), "m=video 9 UDP/TLS/RTP/SAVPF 102 ");
    return sdp;
  }

  void SetUp() override {
    EngineTest::SetUp();
    pub = join(1, "publisher", pub_dtls.offer(publisher_offer()));
    auto pa = answer_of(pub);
    ASSERT_TRUE(pa);
    const auto* video = sdp::find_section(*pa, "1");
    ASSERT_TRUE(video && video->simulcast);
    ASSERT_EQ(video->simulcast->recv.size(), 3u);
    vp8_pt = video->codecs.front().payload_type;
    sub = join(2, "subscriber", sub_dtls.offer(chromium_sdp("e_recvonly_only.sdp")), {{"0", pub.id + "-1"}});
    auto sa = answer_of(sub);
    ASSERT_TRUE(sa);
    const auto* recv = sdp::find_section(*sa, "0");
    ASSERT_TRUE(recv && !recv->ssrcs.empty());
    announced = recv->ssrcs.front().ssrc;
    sub_twcc_ext = sdp::extmap_id(*recv, sdp::ext::kTransportCc).value_or(0);
    pub_srtp = connect(pub, pub_dtls, kPubAt);
    pub_seen = sink.media.size();
    sub_srtp = connect(sub, sub_dtls, kSubAt);
    sub_seen = sink.media.size();
  }

  // One packet of layer `l`: one-byte extensions mid "1" and rid, VP8 descriptor with a 15-bit
  // picture id (a keyframe carries the start code).
  void publish(int l, bool keyframe) {
    auto i = static_cast<size_t>(l);
    std::vector<uint8_t> p{0x90, vp8_pt, static_cast<uint8_t>(seq[i] >> 8), static_cast<uint8_t>(seq[i]), 0, 0, 0, 0};
    uint32_t ts = seq[i] * 3000u;
    for (int k = 0; k < 4; ++k) p[4 + k] = static_cast<uint8_t>(ts >> (24 - 8 * k));
    for (int k = 0; k < 4; ++k) p.push_back(static_cast<uint8_t>(kLayerSsrc[i] >> (24 - 8 * k)));
    p.insert(p.end(), {0xBE, 0xDE, 0x00, 0x02, static_cast<uint8_t>(kMidExt << 4), '1',
                       static_cast<uint8_t>(kRidExt << 4), static_cast<uint8_t>(kRid[i][0]),
                       static_cast<uint8_t>(kTwccExt << 4 | 1), static_cast<uint8_t>(twcc >> 8), static_cast<uint8_t>(twcc), 0});
    ++twcc;
    if (h264) {
      p.push_back(keyframe ? 0x65 : 0x41);  // one NAL unit (RFC 6184 5.6): an IDR slice, or not
    } else {
      p.insert(p.end(), {0x90, 0x80, static_cast<uint8_t>(0x80 | pid[i] >> 8), static_cast<uint8_t>(pid[i])});
      if (keyframe) p.insert(p.end(), {0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A});
      else p.insert(p.end(), {0x11, 0x02, 0x00, 0x00, 0x00, 0x00});
    }
    p.resize(p.size() + 200, 0x55);  // ~60 kbit/s a layer at 30 packets a second
    size_t len = p.size();
    p.resize(len + 64);
    ASSERT_EQ(pub_srtp.outbound.protect_rtp(p, len), SrtpError::None);
    engine->media(std::span<uint8_t>(p.data(), len), ep(kPubAt), now);
    ++seq[i];
    pid[i] = (pid[i] + 1) & 0x7FFF;
  }
  void all_layers(bool keyframe) {
    for (int l = 0; l < 3; ++l) publish(l, keyframe);
    now += 33;
  }

  struct Got {
    uint32_t ssrc;
    uint16_t seq;
    uint16_t pid;
    std::optional<uint16_t> transport_seq;  // ours, at the subscriber's transport-cc id
    uint8_t payload_type = 0;
  };
  uint8_t sub_twcc_ext = 0;
  std::vector<Got> received() {
    std::vector<Got> out;
    for (; sub_seen < sink.media.size(); ++sub_seen) {
      auto [to, d] = sink.media[sub_seen];
      if (to != ep(kSubAt) || d.empty() || d[0] < 128 || d[0] > 191 || looks_like_rtcp(d)) continue;
      size_t len = d.size();
      EXPECT_EQ(sub_srtp.inbound.unprotect_rtp(d, len), SrtpError::None);
      RtpPacket p;
      EXPECT_EQ(RtpPacket::parse({d.data(), len}, p), RtpError::None);
      if (p.ssrc != announced) continue;  // the RTX stream: probing padding
      Vp8Descriptor v;
      if (!h264) EXPECT_TRUE(Vp8Descriptor::parse(p.payload, v));
      out.push_back({p.ssrc, p.sequence, v.picture_id, transport_seq(p, sub_twcc_ext), p.payload_type});
    }
    return out;
  }
  // PLIs to the publisher since the last call, by media SSRC.
  std::vector<uint32_t> plis() {
    std::vector<uint32_t> out;
    for (; pub_seen < sink.media.size(); ++pub_seen) {
      auto [to, d] = sink.media[pub_seen];
      if (to != ep(kPubAt) || !looks_like_rtcp(d)) continue;
      size_t len = d.size();
      EXPECT_EQ(pub_srtp.inbound.unprotect_rtcp(d, len), SrtpError::None);
      RtcpReader r(std::span<const uint8_t>(d.data(), len));
      RtcpPacket pkt;
      while (r.next(pkt)) {
        Pli pli;
        if (kind_of(pkt) == RtcpKind::Pli && Pli::parse(pkt, pli) == RtcpError::None) out.push_back(pli.media_ssrc);
      }
    }
    return out;
  }
  void remb(uint64_t bps) {
    std::vector<uint8_t> buf(128);
    uint32_t media = announced;
    size_t n = build_remb(buf, kSubscriberSsrc, bps, {&media, 1});
    ASSERT_GT(n, 0u);
    buf.resize(n + 64);
    ASSERT_EQ(sub_srtp.outbound.protect_rtcp(buf, n), SrtpError::None);
    engine->media(std::span<uint8_t>(buf.data(), n), ep(kSubAt), now);
  }
  void run(int ms, int keyframe_layer = -1) {
    for (int t = 0; t < ms; t += 33) {
      for (int l = 0; l < 3; ++l) publish(l, l == keyframe_layer && t == 0);
      now += 33;
      engine->tick(now);
    }
  }
  static void continuous(const std::vector<Got>& got, uint32_t ssrc) {
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].ssrc, ssrc);
      if (i == 0) continue;
      EXPECT_EQ(got[i].seq, static_cast<uint16_t>(got[i - 1].seq + 1)) << i;
      if (got[i].pid || got[i - 1].pid) EXPECT_EQ(got[i].pid, (got[i - 1].pid + 1) & 0x7FFF) << i;
    }
  }
};

class SfuSimulcastH264 : public SfuSimulcast {
 protected:
  void SetUp() override {
    h264 = true;
    SfuSimulcast::SetUp();
  }
};

}  // namespace

// H.264 simulcast: no picture id to rewrite; one stream by sequence number and timestamp, switched
// on the new layer's IDR (RFC 6184 NAL unit type 5).
TEST_F(SfuSimulcastH264, SwitchesOnIdrAsOneContinuousStream) {
  auto pa = answer_of(pub);
  ASSERT_TRUE(pa);
  const auto* video = sdp::find_section(*pa, "1");
  ASSERT_TRUE(video && video->codecs.front().name == "H264") << video->codecs.front().name;
  auto sa = answer_of(sub);
  ASSERT_TRUE(sa);
  const auto* recv = sdp::find_section(*sa, "0");
  ASSERT_TRUE(recv);
  auto h264_pt = std::find_if(recv->codecs.begin(), recv->codecs.end(), [](const auto& c) { return c.name == "H264"; });
  ASSERT_NE(h264_pt, recv->codecs.end());  // the subscriber may get VP8 or H.264; this track is H.264
  all_layers(true);
  auto first = received();
  ASSERT_EQ(first.size(), 1u);
  plis();
  run(1200);
  auto asked = plis();
  EXPECT_NE(std::find(asked.begin(), asked.end(), kLayerSsrc[2]), asked.end());
  EXPECT_EQ(engine->stats().layer_switches.get(), 0u);  // not on f's non-IDR slices
  run(200, 2);
  EXPECT_EQ(engine->stats().layer_switches.get(), 1u);
  auto got = received();
  got.insert(got.begin(), first.begin(), first.end());
  continuous(got, announced);
  for (const auto& g : got) EXPECT_EQ(g.payload_type, h264_pt->payload_type);
}

TEST_F(SfuSimulcast, OneContinuousStreamAcrossLayerSwitches) {
  all_layers(true);
  auto first = received();
  ASSERT_EQ(first.size(), 1u);  // the low layer only, under the SSRC the answer announced
  EXPECT_EQ(first[0].ssrc, announced);
  // Nothing limits the subscriber: once the layers' rates are measured, the top layer, asked
  // for with a PLI.
  plis();
  run(1200);
  auto asked = plis();
  EXPECT_NE(std::find(asked.begin(), asked.end(), kLayerSsrc[2]), asked.end());
  EXPECT_EQ(engine->stats().layer_switches.get(), 0u);  // not before f's keyframe
  run(200, 2);
  EXPECT_EQ(engine->stats().layer_switches.get(), 1u);
  auto got = received();
  got.insert(got.begin(), first.begin(), first.end());
  continuous(got, announced);
  // Bandwidth drops below what f takes (each layer here is ~60 kbit/s): back to q on its keyframe.
  remb(10'000);
  run(600);
  asked = plis();
  EXPECT_NE(std::find(asked.begin(), asked.end(), kLayerSsrc[0]), asked.end());
  run(200, 0);
  EXPECT_EQ(engine->stats().layer_switches.get(), 2u);
  auto after = received();
  after.insert(after.begin(), got.back());
  continuous(after, announced);
}

TEST_F(SfuSimulcast, SubscriberPreferencesCapAndPause) {
  all_layers(true);
  engine->signal_message(sub.conn, json{{"type", "subscribe"}, {"track", pub.id + "-1"}, {"max_layer", "h"}}.dump(), now, kUnix);
  run(300, 1);
  run(300, 1);
  EXPECT_EQ(engine->stats().layer_switches.get(), 1u);  // q -> h, never f
  run(1000, 2);
  EXPECT_EQ(engine->stats().layer_switches.get(), 1u);
  received();
  engine->signal_message(sub.conn, json{{"type", "subscribe"}, {"track", pub.id + "-1"}, {"paused", true}}.dump(), now, kUnix);
  run(300, 1);
  EXPECT_TRUE(received().empty());
  engine->signal_message(sub.conn, json{{"type", "subscribe"}, {"track", pub.id + "-1"}, {"paused", false}}.dump(), now, kUnix);
  run(100);
  EXPECT_TRUE(received().empty());  // resumes on a keyframe
  run(100, 1);
  auto got = received();
  ASSERT_FALSE(got.empty());
  continuous(got, announced);
  // Bad preferences change nothing and say why.
  size_t errors = sink.of(sub.conn, "error").size();
  engine->signal_message(sub.conn, json{{"type", "subscribe"}, {"track", "nope"}, {"paused", true}}.dump(), now, kUnix);
  engine->signal_message(sub.conn, json{{"type", "subscribe"}, {"track", pub.id + "-1"}, {"max_layer", "x"}}.dump(), now, kUnix);
  EXPECT_EQ(sink.of(sub.conn, "error").size(), errors + 2);
  run(100);
  EXPECT_FALSE(received().empty());
}

TEST_F(SfuSimulcast, LayersNobodyWatchesArePausedAndResumed) {
  all_layers(true);
  run(1200);    // layer rates measured (the first choice, before that, assumes a middle layer's worth)
  run(300, 2);  // the subscriber moves to f
  run(6000);
  auto msgs = sink.of(pub.conn, "layers");
  ASSERT_FALSE(msgs.empty());
  EXPECT_EQ(msgs.back()["track"], pub.id + "-1");
  EXPECT_EQ(msgs.back()["active"], json::array({"f"}));
  // Now it can only take q, which is paused: resumed.
  remb(10'000);
  run(1200);  // the subscriber's choice, then the publisher's dynacast (each every 500 ms)
  msgs = sink.of(pub.conn, "layers");
  EXPECT_EQ(msgs.back()["active"], json::array({"q", "f"}));
}

// A publisher nobody watches for a while (here its one subscriber pauses it; in a call, the others
// join late) has every layer paused, so it sends nothing; a subscriber who joins then still
// resumes a layer (the SDK then sends it again).
TEST_F(SfuSimulcast, AllLayersPausedThenResumedForALateSubscriber) {
  all_layers(true);
  engine->signal_message(sub.conn, json{{"type", "subscribe"}, {"track", pub.id + "-1"}, {"paused", true}}.dump(), now, kUnix);
  run(6000);
  auto msgs = sink.of(pub.conn, "layers");
  ASSERT_FALSE(msgs.empty());
  EXPECT_EQ(msgs.back()["active"], json::array());
  auto idle = [&](int ms) {
    for (int t = 0; t < ms; t += 33) {
      now += 33;
      engine->tick(now);
    }
  };
  idle(3000);  // paused layers send nothing
  DtlsClient late_dtls;
  Client late = join(3, "late", late_dtls.offer(chromium_sdp("e_recvonly_only.sdp")), {{"0", pub.id + "-1"}});
  connect(late, late_dtls, "198.51.100.40:7000");
  idle(1200);  // the late subscriber's choice, then the publisher's dynacast (each every 500 ms)
  msgs = sink.of(pub.conn, "layers");
  ASSERT_FALSE(msgs.back()["active"].empty()) << msgs.back().dump();
}

TEST_F(SfuSimulcast, TransportWideFeedbackBothWays) {
  ASSERT_NE(sub_twcc_ext, 0);
  all_layers(true);
  run(300);
  // To the publisher: feedback on every packet it numbered (RTPFB FMT 15), none lost.
  std::vector<TwccPacketStatus> seen;
  for (; pub_seen < sink.media.size(); ++pub_seen) {
    auto [to, d] = sink.media[pub_seen];
    if (to != ep(kPubAt) || !looks_like_rtcp(d)) continue;
    size_t len = d.size();
    ASSERT_EQ(pub_srtp.inbound.unprotect_rtcp(d, len), SrtpError::None);
    RtcpReader r(std::span<const uint8_t>(d.data(), len));
    RtcpPacket pkt;
    while (r.next(pkt)) {
      TwccFeedback fb;
      if (kind_of(pkt) != RtcpKind::TransportCc) continue;
      ASSERT_EQ(TwccFeedback::parse(pkt, fb), RtcpError::None);
      TwccFeedback::Cursor c(fb);
      TwccPacketStatus st;
      while (c.next(st)) seen.push_back(st);
    }
  }
  ASSERT_GE(seen.size(), 3u * 10);
  EXPECT_EQ(seen.front().seq, 65530);
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_TRUE(seen[i].received) << i;
    EXPECT_EQ(seen[i].seq, static_cast<uint16_t>(65530 + i));
  }
  // To the subscriber: our own numbers, one per packet sent to it (media, and the padding that
  // probes its path on the RTX stream), in order.
  std::vector<uint16_t> numbers;
  size_t media = 0;
  for (; sub_seen < sink.media.size(); ++sub_seen) {
    auto [to, d] = sink.media[sub_seen];
    if (to != ep(kSubAt) || !looks_like_rtp(d)) continue;
    size_t len = d.size();
    ASSERT_EQ(sub_srtp.inbound.unprotect_rtp(d, len), SrtpError::None);
    RtpPacket p;
    ASSERT_EQ(RtpPacket::parse({d.data(), len}, p), RtpError::None);
    auto n = transport_seq(p, sub_twcc_ext);
    ASSERT_TRUE(n);
    numbers.push_back(*n);
    media += p.ssrc == announced;
  }
  ASSERT_GT(media, 5u);
  for (size_t i = 1; i < numbers.size(); ++i) EXPECT_EQ(numbers[i], static_cast<uint16_t>(numbers[i - 1] + 1));
}

TEST_F(SfuSimulcast, ActiveSpeakersFromAudioLevels) {
  // i_simulcast.sdp's audio: SSRC 3946460852, opus, ssrc-audio-level (RFC 6464) as extension 1.
  auto speak = [&](uint16_t seq, uint8_t level) {
    std::vector<uint8_t> p{0x90, 111, static_cast<uint8_t>(seq >> 8), static_cast<uint8_t>(seq), 0, 0, 0, 0,
                           0xEB, 0x3A, 0x36, 0xB4, 0xBE, 0xDE, 0x00, 0x01, 0x10, static_cast<uint8_t>(0x80 | level), 0, 0};
    p.resize(p.size() + 60, 0x11);
    size_t len = p.size();
    p.resize(len + 64);
    ASSERT_EQ(pub_srtp.outbound.protect_rtp(p, len), SrtpError::None);
    engine->media(std::span<uint8_t>(p.data(), len), ep(kPubAt), now);
  };
  for (uint16_t i = 0; i < 50; ++i, now += 20) {
    speak(i, 25);
    if (i % 5 == 0) engine->tick(now);
  }
  auto to_sub = sink.of(sub.conn, "active_speakers");
  ASSERT_FALSE(to_sub.empty());
  ASSERT_EQ(to_sub.back()["speakers"].size(), 1u);
  EXPECT_EQ(to_sub.back()["speakers"][0]["participant"], pub.id);
  EXPECT_FALSE(sink.of(pub.conn, "active_speakers").empty());
  size_t before = to_sub.size();
  for (int i = 0; i < 10; ++i, now += 200) engine->tick(now);  // silence: the list empties once
  to_sub = sink.of(sub.conn, "active_speakers");
  ASSERT_EQ(to_sub.size(), before + 1);
  EXPECT_TRUE(to_sub.back()["speakers"].empty());
}
