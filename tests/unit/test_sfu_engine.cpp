// The SFU engine's media path without sockets (sfu/engine.hpp, sfu_fixture.hpp): a publisher and a
// subscriber join with real Chromium offers, ICE and DTLS run through the engine in memory, and
// SRTP is made with the keys each DTLS client exported. Covered: forwarding (the subscriber's
// copy keeps the publisher's SSRC, sequence and timestamp, with its own payload type and mid),
// NACK and PLI handling, subscriptions coming and going, and what tick() sends and ends.
#include <gtest/gtest.h>

#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sfu/engine.hpp"
#include "sfu/rtcp.hpp"
#include "sfu/rtp.hpp"
#include "sfu/sdp.hpp"
#include "sfu/srtp.hpp"
#include "sfu_fixture.hpp"

using namespace sfu;
using namespace sfu_fixture;
using json = nlohmann::json;

namespace {

constexpr uint32_t kAudioSsrc = 2968317932;  // a_sendonly_audio_video.sdp, mid 0
constexpr uint32_t kVideoSsrc = 596868569;   // a_sendonly_audio_video.sdp, mid 1 (primary of its FID group)
constexpr uint32_t kSubscriberSsrc = 0x11223344;
constexpr const char* kPubAt = "198.51.100.20:5000";
constexpr const char* kSubAt = "198.51.100.30:6000";

class SfuEngine : public EngineTest {
 protected:
  DtlsClient pub_dtls, sub_dtls;
  Client pub, sub;
  SrtpSessionPair pub_srtp, sub_srtp;
  uint8_t pub_video_pt = 0, pub_audio_pt = 0;  // as the publisher's answer negotiated them
  uint8_t sub_pt = 0, sub_mid_ext = 0;         // the subscriber's VP8 and sdes:mid ids, mid 0
  size_t pub_seen = 0, sub_seen = 0;           // datagrams already read by rtp_to/rtcp_to

  // The publisher sends audio (mid 0) and video (mid 1); the subscriber receives the video on its mid 0.
  void SetUp() override {
    EngineTest::SetUp();
    pub = join(1, "publisher", pub_dtls.offer(chromium_sdp("a_sendonly_audio_video.sdp")));
    auto pa = answer_of(pub);
    ASSERT_TRUE(pa);
    const auto* audio = sdp::find_section(*pa, "0");
    const auto* video = sdp::find_section(*pa, "1");
    ASSERT_TRUE(audio && video && !audio->codecs.empty() && !video->codecs.empty());
    pub_audio_pt = audio->codecs.front().payload_type;
    pub_video_pt = video->codecs.front().payload_type;

    sub = join(2, "subscriber", sub_dtls.offer(chromium_sdp("e_recvonly_only.sdp")), {{"0", pub.id + "-1"}});
    auto sa = answer_of(sub);
    ASSERT_TRUE(sa);
    const auto* recv = sdp::find_section(*sa, "0");
    ASSERT_TRUE(recv && !recv->codecs.empty());
    EXPECT_EQ(recv->direction, sdp::Direction::SendOnly);
    sub_pt = recv->codecs.front().payload_type;
    sub_mid_ext = sdp::extmap_id(*recv, sdp::ext::kMid).value_or(0);
    ASSERT_NE(sub_mid_ext, 0);

    pub_srtp = connect(pub, pub_dtls, kPubAt);
    pub_seen = sink.media.size();  // what the publisher gets from here on is SRTP or STUN
    sub_srtp = connect(sub, sub_dtls, kSubAt);
    sub_seen = sink.media.size();
  }

  // One RTP packet from the publisher, SRTP-protected with its session. VP8 payload descriptor
  // S=1, PID=0; a keyframe carries the RFC 6386 9.1 start code.
  void publish(uint32_t ssrc, uint8_t pt, uint16_t seq, bool keyframe = false) {
    std::array<uint8_t, 256> pkt{};
    pkt[0] = 0x80;
    pkt[1] = pt;
    pkt[2] = static_cast<uint8_t>(seq >> 8);
    pkt[3] = static_cast<uint8_t>(seq);
    const uint32_t ts = seq * 90u;  // the timestamp: 90 ticks (1 ms of video) per sequence number
    for (int i = 0; i < 4; ++i) pkt[4 + i] = static_cast<uint8_t>(ts >> (24 - 8 * i));
    for (int i = 0; i < 4; ++i) pkt[8 + i] = static_cast<uint8_t>(ssrc >> (24 - 8 * i));
    pkt[12] = 0x10;
    const std::array<uint8_t, 10> key{0x00, 0x00, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01};
    for (size_t i = 13; i < 112; ++i) pkt[i] = static_cast<uint8_t>(i);
    if (keyframe) std::copy(key.begin(), key.end(), pkt.begin() + 13);
    size_t len = 112;  // a 100-byte payload
    ASSERT_EQ(pub_srtp.outbound.protect_rtp(pkt, len), SrtpError::None);
    engine->media(std::span<uint8_t>(pkt.data(), len), ep(kPubAt), now);
  }

  // An RTCP compound from `at`, protected with `srtp`.
  void send_rtcp(SrtpSessionPair& srtp, const char* at, std::vector<uint8_t> buf, size_t len) {
    buf.resize(len + 64);
    ASSERT_EQ(srtp.outbound.protect_rtcp(buf, len), SrtpError::None);
    engine->media(std::span<uint8_t>(buf.data(), len), ep(at), now);
  }
  void nack(std::vector<uint16_t> seqs) {
    std::vector<uint8_t> buf(256);
    size_t n = build_nack(buf, kSubscriberSsrc, kVideoSsrc, seqs);
    ASSERT_GT(n, 0u);
    send_rtcp(sub_srtp, kSubAt, buf, n);
  }
  void pli(uint32_t media_ssrc = kVideoSsrc) {
    std::vector<uint8_t> buf(64);
    size_t n = build_pli(buf, kSubscriberSsrc, media_ssrc);
    ASSERT_GT(n, 0u);
    send_rtcp(sub_srtp, kSubAt, buf, n);
  }

  // What arrived at `at` since the last call, as SRTP datagrams (RTP or RTCP by RFC 5761 4).
  std::vector<std::vector<uint8_t>> arrived(const char* at, size_t& seen, bool rtcp) {
    std::vector<std::vector<uint8_t>> out;
    for (; seen < sink.media.size(); ++seen) {
      const auto& [to, d] = sink.media[seen];
      if (to == ep(at) && !d.empty() && d[0] >= 128 && d[0] <= 191 && looks_like_rtcp(d) == rtcp) out.push_back(d);
    }
    return out;
  }
  // Decrypted RTP that reached the subscriber since the last call.
  std::vector<std::vector<uint8_t>> rtp_to_sub() {
    std::vector<std::vector<uint8_t>> out;
    for (auto d : arrived(kSubAt, sub_seen, false)) {
      size_t len = d.size();
      EXPECT_EQ(sub_srtp.inbound.unprotect_rtp(d, len), SrtpError::None);
      d.resize(len);
      out.push_back(std::move(d));
    }
    return out;
  }
  // The RTCP packets of kind `k` that reached `at` since the last call, decrypted with `srtp`.
  std::vector<std::vector<uint8_t>> rtcp_to(const char* at, size_t& seen, SrtpSessionPair& srtp, RtcpKind k) {
    std::vector<std::vector<uint8_t>> out;
    for (auto d : arrived(at, seen, true)) {
      size_t len = d.size();
      EXPECT_EQ(srtp.inbound.unprotect_rtcp(d, len), SrtpError::None);
      RtcpReader reader(std::span<const uint8_t>(d.data(), len));
      RtcpPacket pkt;
      while (reader.next(pkt))
        if (kind_of(pkt) == k) out.emplace_back(pkt.raw.begin(), pkt.raw.end());
    }
    return out;
  }
  // One RTCP packet as rtcp_to() gave it, parsed as T (which points into `raw`).
  template <typename T>
  static T parsed(const std::vector<uint8_t>& raw) {
    RtcpReader reader(raw);
    RtcpPacket pkt;
    T out;
    EXPECT_TRUE(reader.next(pkt));
    EXPECT_EQ(T::parse(pkt, out), RtcpError::None);
    return out;
  }
  size_t plis_to_publisher() {
    size_t n = 0;
    for (const auto& raw : rtcp_to(kPubAt, pub_seen, pub_srtp, RtcpKind::Pli))
      n += parsed<Pli>(raw).media_ssrc == kVideoSsrc;
    return n;
  }
};

}  // namespace

TEST_F(SfuEngine, ThePublishersPacketsReachTheSubscriberWithItsPayloadTypeAndMid) {
  for (uint16_t seq = 1000; seq < 1005; ++seq) publish(kVideoSsrc, pub_video_pt, seq);
  auto got = rtp_to_sub();
  ASSERT_EQ(got.size(), 5u);
  for (size_t i = 0; i < got.size(); ++i) {
    RtpPacket p;
    ASSERT_EQ(RtpPacket::parse(got[i], p), RtpError::None);
    // Forwarded packets keep the publisher's SSRC, sequence and timestamp (sfu/README.md).
    EXPECT_EQ(p.ssrc, kVideoSsrc);
    EXPECT_EQ(p.sequence, 1000 + i);
    EXPECT_EQ(p.timestamp, (1000 + i) * 90);
    EXPECT_EQ(p.payload_type, sub_pt);
    const RtpExtension* mid = p.extension(sub_mid_ext);
    ASSERT_TRUE(mid);
    EXPECT_EQ(std::string(mid->value.begin(), mid->value.end()), "0");
    ASSERT_EQ(p.payload.size(), 100u);
    EXPECT_EQ(p.payload[0], 0x10);
    EXPECT_EQ(p.payload[1], 13);
  }
  EXPECT_EQ(engine->stats().forwarded_packets_video.get(), 5u);
  EXPECT_TRUE(arrived(kPubAt, pub_seen, false).empty()) << "the publisher got its own media";
}

TEST_F(SfuEngine, WhatTheSubscriberDidNotAskForIsNotForwarded) {
  publish(kAudioSsrc, pub_audio_pt, 7);     // the audio track: not subscribed
  publish(kVideoSsrc, 97, 1000);            // the video SSRC with another payload type (RTX)
  publish(0xDEADBEEF, pub_video_pt, 1001);  // an SSRC the publisher never announced
  EXPECT_TRUE(rtp_to_sub().empty());
  EXPECT_EQ(engine->stats().forwarded_packets_audio.get(), 0u);
  EXPECT_EQ(engine->stats().forwarded_packets_video.get(), 0u);
}

TEST_F(SfuEngine, ANackIsAnsweredFromTheBufferOnTheRtxStream) {
  for (uint16_t seq = 1000; seq < 1005; ++seq) publish(kVideoSsrc, pub_video_pt, seq);
  auto originals = rtp_to_sub();
  ASSERT_EQ(originals.size(), 5u);
  nack({1002});
  auto resent = rtp_to_sub();
  ASSERT_EQ(resent.size(), 1u);
  // RFC 4588 4, as the subscriber's answer negotiated it (rtx with apt=, a=ssrc-group:FID).
  auto a = answer_of(sub);
  ASSERT_TRUE(a);
  const auto* recv = sdp::find_section(*a, "0");
  ASSERT_TRUE(recv && recv->ssrc_groups.size() == 1u);
  uint32_t rtx_ssrc = recv->ssrc_groups[0].ssrcs.at(1);
  auto rtx_pt = sdp::rtx_payload_type(*recv, sub_pt);
  ASSERT_TRUE(rtx_pt);
  RtpPacket orig, rtx;
  ASSERT_EQ(RtpPacket::parse(originals[2], orig), RtpError::None);
  ASSERT_EQ(RtpPacket::parse(resent[0], rtx), RtpError::None);
  EXPECT_EQ(rtx.ssrc, rtx_ssrc);
  EXPECT_EQ(rtx.payload_type, *rtx_pt);
  EXPECT_EQ(rtx.timestamp, orig.timestamp);
  ASSERT_EQ(rtx.payload.size(), orig.payload.size() + 2);
  EXPECT_EQ(be::u16(rtx.payload.data()), 1002);  // the OSN
  EXPECT_TRUE(std::equal(orig.payload.begin(), orig.payload.end(), rtx.payload.begin() + 2));
  EXPECT_EQ(engine->stats().nack.get(), 1u);
  // A packet the buffer never held, or a NACK for a stream the subscriber does not receive.
  nack({990});
  std::vector<uint8_t> buf(256);
  size_t n = build_nack(buf, kSubscriberSsrc, kAudioSsrc, std::vector<uint16_t>{7});
  send_rtcp(sub_srtp, kSubAt, buf, n);
  EXPECT_TRUE(arrived(kSubAt, sub_seen, false).empty());
  EXPECT_EQ(engine->stats().nack.get(), 1u);
}

TEST_F(SfuEngine, ANewSubscriberAsksForAKeyframeUntilOneArrives) {
  // Connecting asked the publisher for a keyframe (PLI, RFC 4585 6.3.1) for the subscription.
  EXPECT_GE(plis_to_publisher(), 1u);
  now += 500;
  engine->tick(now);
  EXPECT_EQ(plis_to_publisher(), 1u) << "asked again 500 ms later";
  publish(kVideoSsrc, pub_video_pt, 1000, /*keyframe=*/true);
  now += 500;
  engine->tick(now);
  EXPECT_EQ(plis_to_publisher(), 0u) << "the keyframe came";
}

TEST_F(SfuEngine, ASubscribersPliReachesThePublisherAtMostEvery300Ms) {
  publish(kVideoSsrc, pub_video_pt, 1000, /*keyframe=*/true);
  plis_to_publisher();
  uint64_t before = engine->stats().pli.get();
  now += 1000;
  pli();
  EXPECT_EQ(plis_to_publisher(), 1u);
  now += 100;
  pli();
  EXPECT_EQ(plis_to_publisher(), 0u) << "within 300 ms of the last";
  now += 250;
  pli();
  EXPECT_EQ(plis_to_publisher(), 1u);
  EXPECT_EQ(engine->stats().pli.get() - before, 2u);
  pli(kAudioSsrc);  // not a stream it receives
  EXPECT_EQ(plis_to_publisher(), 0u);
}

TEST_F(SfuEngine, TickReportsToThePublisherAndToTheSubscriber) {
  for (uint16_t seq = 1000; seq < 1010; ++seq) publish(kVideoSsrc, pub_video_pt, seq);
  rtp_to_sub();
  // The publisher's SR anchors ours to the subscriber (RFC 3550 6.4.1).
  std::vector<uint8_t> buf(128);
  SenderInfo info;
  info.ntp = 0xE000000000000000ull;
  info.rtp_timestamp = 90'000;
  info.packet_count = 10;
  info.octet_count = 1000;
  size_t n = build_sr(buf, kVideoSsrc, info, {});
  send_rtcp(pub_srtp, kPubAt, buf, n);
  now += 1000;
  engine->tick(now);

  auto rrs = rtcp_to(kPubAt, pub_seen, pub_srtp, RtcpKind::ReceiverReport);
  ASSERT_EQ(rrs.size(), 1u);
  auto rr = parsed<ReceiverReport>(rrs[0]);
  ASSERT_EQ(rr.blocks.size(), 1u);
  EXPECT_EQ(rr.blocks[0].ssrc, kVideoSsrc);
  EXPECT_EQ(rr.blocks[0].fraction_lost, 0);
  auto srs = rtcp_to(kSubAt, sub_seen, sub_srtp, RtcpKind::SenderReport);
  ASSERT_EQ(srs.size(), 1u);
  auto sr = parsed<SenderReport>(srs[0]);
  EXPECT_EQ(sr.ssrc, kVideoSsrc);
  EXPECT_EQ(sr.info.packet_count, 10u);
  EXPECT_EQ(sr.info.octet_count, 10u * 100u);
  EXPECT_EQ(sr.info.rtp_timestamp, 90'000u + 90'000u) << "the publisher's clock one second on";

  // Not again before a second has passed.
  now += 500;
  engine->tick(now);
  EXPECT_TRUE(rtcp_to(kPubAt, pub_seen, pub_srtp, RtcpKind::ReceiverReport).empty());
  EXPECT_TRUE(rtcp_to(kSubAt, sub_seen, sub_srtp, RtcpKind::SenderReport).empty());
}

TEST_F(SfuEngine, AReofferWithoutTheSubscriptionStopsForwarding) {
  publish(kVideoSsrc, pub_video_pt, 1000);
  ASSERT_EQ(rtp_to_sub().size(), 1u);
  const std::string offer = sub_dtls.offer(chromium_sdp("e_recvonly_only.sdp"));
  engine->signal_message(sub.conn, json{{"type", "offer"}, {"sdp", offer}}.dump(), now, kUnix);
  auto a = answer_of(sub);
  ASSERT_TRUE(a);
  EXPECT_EQ(sdp::find_section(*a, "0")->direction, sdp::Direction::Inactive);
  publish(kVideoSsrc, pub_video_pt, 1001);
  EXPECT_TRUE(rtp_to_sub().empty());
  // Subscribing again (as the SDK renegotiates) resumes it.
  engine->signal_message(sub.conn, json{{"type", "offer"}, {"sdp", offer}, {"subscriptions", {{"0", pub.id + "-1"}}}}.dump(),
                         now, kUnix);
  publish(kVideoSsrc, pub_video_pt, 1002);
  EXPECT_EQ(rtp_to_sub().size(), 1u);
}

TEST_F(SfuEngine, APublisherLeavingEndsItsTracksForTheSubscriber) {
  // Both media sessions were reported to the host per connection (its per-site counts), as counted.
  EXPECT_EQ(sink.sessions.size(), 2u);
  EXPECT_EQ(sink.sessions[pub.conn], Path::Direct);
  EXPECT_EQ(engine->stats().sessions[static_cast<size_t>(Path::Direct)].get(), 2u);
  engine->signal_message(pub.conn, R"({"type":"leave"})", now, kUnix);
  EXPECT_EQ(sink.sessions.count(pub.conn), 0u);  // its session ended with it
  EXPECT_EQ(sink.sessions.size(), 1u);
  EXPECT_TRUE(sink.session_mismatches.empty());
  auto ended = sink.of(sub.conn, "track_unpublished");
  ASSERT_EQ(ended.size(), 2u);  // audio and video
  EXPECT_EQ(sink.of(sub.conn, "participant_left").size(), 1u);
  EXPECT_EQ(engine->stats().tracks_video.get(), 0u);
  publish(kVideoSsrc, pub_video_pt, 1000);  // from its old address: nobody is there any more
  EXPECT_TRUE(rtp_to_sub().empty());
}

TEST_F(SfuEngine, TickEndsAParticipantWhoseConsentExpired) {
  // RFC 7675: 30 s without a valid check. The publisher keeps checking; the subscriber does not.
  for (int i = 0; i < 7; ++i) {
    now += 5'000;
    check(pub, kPubAt, false);
    engine->tick(now);
  }
  auto errors = sink.of(sub.conn, "error");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["code"], "ice_failed");
  EXPECT_TRUE(sink.of(pub.conn, "error").empty());
  EXPECT_EQ(sink.of(pub.conn, "participant_left").size(), 1u);
  EXPECT_EQ(engine->stats().ice_failures.get(), 1u);
  publish(kVideoSsrc, pub_video_pt, 1000);
  EXPECT_TRUE(rtp_to_sub().empty());
}

TEST_F(SfuEngine, TrickledCandidatesAreReadByTheSdpParser) {
  Client third = join(3, "third", chromium_sdp("e_recvonly_only.sdp"));
  auto trickle = [&](json candidate) {
    engine->signal_message(third.conn, json{{"type", "candidate"}, {"candidate", candidate}}.dump(), now, kUnix);
  };
  // A relay candidate of another TURN server (as RTCIceCandidate.toJSON() gives it): media from
  // that address is relay_external.
  trickle({{"candidate", "candidate:3 1 udp 41885439 192.0.2.99 61000 typ relay raddr 198.51.100.40 rport 50000 "
                         "generation 0 ufrag abcd"}});
  // Malformed ones are ignored, not half-read.
  trickle("candidate:x 1 udp 1 192.0.2.98 61000 typ");
  trickle("a=candidate:4 1 udp 1 192.0.2.98 0 typ relay");
  EXPECT_TRUE(sink.of(third.conn, "error").empty());
  check(third, "192.0.2.99:61000", true);
  answer_probes(third, "192.0.2.99:61000");
  EXPECT_EQ(paths_of(third), (std::vector<std::string>{"relay_external"}));
  check(third, "192.0.2.98:61000", true);
  answer_probes(third, "192.0.2.98:61000");
  EXPECT_EQ(paths_of(third), (std::vector<std::string>{"relay_external", "direct"}));
}
