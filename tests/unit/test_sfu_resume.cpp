// Protocol version 2 (sfu/engine_resume.cpp, sfu/PROTOCOL.md "Version 2"): a participant whose
// WebSocket closes is kept for sfu.resume_grace with its media flowing and the room told nothing; a
// new WebSocket resumes it with the session token; after the grace it is removed as in version 1.
// Also `mute`. Real Chromium offers, ICE and DTLS through the engine in memory (sfu_fixture.hpp).
#include <gtest/gtest.h>

#include <array>
#include <string>

#include "sfu/engine.hpp"
#include "sfu/srtp.hpp"
#include "sfu_fixture.hpp"

using namespace sfu;
using namespace sfu_fixture;

namespace {

constexpr uint32_t kVideoSsrc = 596868569;  // a_sendonly_audio_video.sdp, mid 1
constexpr const char* kPubAt = "198.51.100.20:5000";
constexpr const char* kSubAt = "198.51.100.30:6000";
constexpr int64_t kGraceMs = 15'000;

class SfuResume : public EngineTest {
 protected:
  DtlsClient pub_dtls, sub_dtls;
  Client pub, sub;
  SrtpSessionPair pub_srtp, sub_srtp;
  uint8_t pub_video_pt = 0;
  std::string pub_token;
  std::string pub_offer;

  void configure(EngineConfig& cfg) override {
    cfg.resume_grace_ms = kGraceMs;
    cfg.max_resumable = 2;
  }

  std::string token_for(const std::string& identity) const {
    token::Claims claims;
    claims.room = "ward-9";
    claims.identity = identity;
    claims.region = "eu-west";
    claims.exp = kUnix + 600;
    return token::encode(claims, kKey);
  }

  // A version 2 join; the `joined` message.
  json join_v2(ConnectionId conn, const std::string& identity) {
    engine->signal_opened(conn, now);
    engine->signal_message(conn, json{{"type", "join"}, {"token", token_for(identity)}, {"version", 2}}.dump(), now,
                           kUnix);
    auto joined = sink.of(conn, "joined");
    EXPECT_EQ(joined.size(), 1u);
    return joined.empty() ? json{} : joined[0];
  }

  // The publisher joins with version 2 (and the fixture's offer exchange), the subscriber with version 1.
  void SetUp() override {
    EngineTest::SetUp();
    json joined = join_v2(1, "nurse");
    pub_token = joined.value("session_token", "");
    pub_offer = pub_dtls.offer(chromium_sdp("a_sendonly_audio_video.sdp"));
    engine->signal_message(1, json{{"type", "offer"}, {"sdp", pub_offer}}.dump(), now, kUnix);
    pub = client_of(1, joined.value("participant", ""), pub_offer);
    auto pa = answer_of(pub);
    ASSERT_TRUE(pa);
    const auto* video = sdp::find_section(*pa, "1");
    ASSERT_TRUE(video && !video->codecs.empty());
    pub_video_pt = video->codecs.front().payload_type;
    sub = join(2, "doctor", sub_dtls.offer(chromium_sdp("e_recvonly_only.sdp")), {{"0", pub.id + "-1"}});
    pub_srtp = connect(pub, pub_dtls, kPubAt);
    sub_srtp = connect(sub, sub_dtls, kSubAt);
  }

  // The client's view of the credentials from its last answer on `conn`.
  Client client_of(ConnectionId conn, const std::string& id, const std::string& offer) {
    Client c;
    c.conn = conn;
    c.id = id;
    auto answers = sink.of(conn, "answer");
    EXPECT_FALSE(answers.empty());
    if (answers.empty()) return c;
    sdp::Error err;
    auto a = sdp::parse(answers.back()["sdp"].get<std::string>(), err);
    auto o = sdp::parse(offer, err);
    EXPECT_TRUE(a && o);
    if (!a || !o) return c;
    c.local_ufrag = sdp::ice_credentials(*a)->ufrag;
    c.local_pwd = sdp::ice_credentials(*a)->pwd;
    c.remote_ufrag = sdp::ice_credentials(*o)->ufrag;
    c.remote_pwd = sdp::ice_credentials(*o)->pwd;
    return c;
  }

  void publish(uint16_t seq) {
    std::array<uint8_t, 256> pkt{};
    pkt[0] = 0x80;
    pkt[1] = pub_video_pt;
    pkt[2] = static_cast<uint8_t>(seq >> 8);
    pkt[3] = static_cast<uint8_t>(seq);
    for (int i = 0; i < 4; ++i) pkt[8 + i] = static_cast<uint8_t>(kVideoSsrc >> (24 - 8 * i));
    pkt[12] = 0x10;
    size_t len = 112;
    ASSERT_EQ(pub_srtp.outbound.protect_rtp(pkt, len), SrtpError::None);
    engine->media(std::span<uint8_t>(pkt.data(), len), ep(kPubAt), now);
  }

  size_t srtp_to(const char* at) const {
    size_t n = 0;
    for (const auto& [to, d] : sink.media) n += to == ep(at) && !d.empty() && d[0] >= 128 && d[0] <= 191;
    return n;
  }

  void resume(ConnectionId conn, const std::string& token) {
    engine->signal_opened(conn, now);
    engine->signal_message(conn, json{{"type", "resume"}, {"session_token", token}, {"version", 2}}.dump(), now,
                           kUnix);
  }

  // Ticks the engine every 50 ms for `ms`, sending keepalive checks for both clients (consent).
  void wait(int64_t ms) {
    for (int64_t t = 0; t < ms; t += 50) {
      now += 50;
      if (t % 5000 == 0) {
        check(pub, kPubAt, true);
        check(sub, kSubAt, true);
      }
      engine->tick(now);
    }
  }
};

TEST_F(SfuResume, AVersion2JoinGetsAnUnguessableSessionTokenAndVersion1None) {
  EXPECT_EQ(pub_token.size(), 48u);  // 24 random bytes, hex
  auto joined = sink.of(2, "joined");
  ASSERT_EQ(joined.size(), 1u);
  EXPECT_FALSE(joined[0].contains("session_token"));
  EXPECT_FALSE(joined[0].contains("features"));
  json other = join_v2(3, "porter");
  EXPECT_NE(other.value("session_token", ""), pub_token);
  // What the SDK needs to know before it publishes: simulcast (sfu.simulcast, on by default).
  EXPECT_EQ(other["features"], json::array({"simulcast"}));
}

TEST_F(SfuResume, Version1IsRemovedAtOnceWhenItsSocketCloses) {
  engine->signal_closed(2, now);
  ASSERT_EQ(sink.of(1, "participant_left").size(), 1u);
  EXPECT_EQ(sink.of(1, "participant_left")[0]["participant"], sub.id);
}

TEST_F(SfuResume, ASocketClosedByTheClientWithNormalOrGoingAwayLeavesAtOnce) {
  engine->signal_closed(1, now, true);  // close code 1001: the tab closed
  ASSERT_EQ(sink.of(2, "participant_left").size(), 1u);
  resume(3, pub_token);
  EXPECT_EQ(sink.of(3, "error")[0]["code"], "resume_failed");
}

TEST_F(SfuResume, ADetachedParticipantKeepsItsMediaFlowingAndTheRoomSeesNoLeave) {
  engine->signal_closed(1, now);
  wait(5'000);
  EXPECT_TRUE(sink.of(2, "participant_left").empty());
  EXPECT_TRUE(sink.of(2, "track_unpublished").empty());
  size_t before = srtp_to(kSubAt);
  for (uint16_t s = 1; s <= 5; ++s) publish(s);
  EXPECT_EQ(srtp_to(kSubAt), before + 5);
}

TEST_F(SfuResume, ANewSocketResumesWithTheCurrentStateAndOffersWorkAgain) {
  engine->signal_closed(1, now);
  wait(3'000);
  resume(3, pub_token);
  auto resumed = sink.of(3, "resumed");
  ASSERT_EQ(resumed.size(), 1u);
  EXPECT_EQ(resumed[0]["participant"], pub.id);
  EXPECT_EQ(resumed[0]["session_token"], pub_token);
  ASSERT_EQ(resumed[0]["participants"].size(), 1u);
  EXPECT_EQ(resumed[0]["participants"][0]["id"], sub.id);
  EXPECT_EQ(resumed[0]["tracks"].size(), 2u);  // its own audio and video
  EXPECT_EQ(sink.joined.back(), 3u);           // the host lifts its pre-join limits
  // An ICE restart offer on the new socket is answered with new credentials.
  std::string restart = pub_offer;
  for (auto [from, to] : {std::pair<std::string, std::string>{"a=ice-ufrag:" + pub.remote_ufrag, "a=ice-ufrag:rstu"},
                          {"a=ice-pwd:" + pub.remote_pwd, "a=ice-pwd:restartedpasswordrestarted"}})
    for (size_t at = restart.find(from); at != std::string::npos; at = restart.find(from, at + to.size()))
      restart.replace(at, from.size(), to);
  engine->signal_message(3, json{{"type", "offer"}, {"sdp", restart}}.dump(), now, kUnix);
  auto answers = sink.of(3, "answer");
  ASSERT_EQ(answers.size(), 1u);
  Client again = client_of(3, pub.id, restart);
  EXPECT_NE(again.local_ufrag, pub.local_ufrag);
  // Long after the grace it is still there, and the room never saw it leave.
  wait(kGraceMs + 1'000);
  EXPECT_TRUE(sink.of(2, "participant_left").empty());
}

TEST_F(SfuResume, AResumeTakesOverAConnectionTheServerStillThinksOpen) {
  resume(3, pub_token);  // the old socket dropped silently: the server has not seen it close
  ASSERT_EQ(sink.of(3, "resumed").size(), 1u);
  ASSERT_FALSE(sink.closed.empty());
  EXPECT_EQ(sink.closed.back(), "resumed");
  engine->signal_closed(1, now);  // the old socket's close arrives later: nothing happens
  wait(kGraceMs + 1'000);
  EXPECT_TRUE(sink.of(2, "participant_left").empty());
  engine->signal_message(3, json{{"type", "ping"}}.dump(), now, kUnix);
  EXPECT_EQ(sink.of(3, "pong").size(), 1u);
}

TEST_F(SfuResume, AfterTheGraceTheParticipantIsRemovedAndCannotResume) {
  engine->signal_closed(1, now);
  wait(kGraceMs - 1'000);
  EXPECT_TRUE(sink.of(2, "participant_left").empty());
  wait(2'000);
  ASSERT_EQ(sink.of(2, "participant_left").size(), 1u);
  EXPECT_EQ(sink.of(2, "track_unpublished").size(), 2u);
  resume(3, pub_token);
  auto errors = sink.of(3, "error");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["code"], "resume_failed");
  EXPECT_EQ(sink.closed.back(), "resume_failed");
}

TEST_F(SfuResume, AnUnknownOrMalformedTokenIsRefused) {
  resume(3, std::string(48, '0'));
  ASSERT_EQ(sink.of(3, "error").size(), 1u);
  EXPECT_EQ(sink.of(3, "error")[0]["code"], "resume_failed");
  engine->signal_opened(4, now);
  engine->signal_message(4, R"({"type":"resume","session_token":7})", now, kUnix);
  EXPECT_EQ(sink.of(4, "error")[0]["code"], "malformed");
  engine->signal_message(2, json{{"type", "resume"}, {"session_token", pub_token}}.dump(), now, kUnix);
  EXPECT_EQ(sink.of(2, "error").back()["message"], "already joined");
  EXPECT_TRUE(sink.of(2, "resumed").empty());
}

TEST_F(SfuResume, DetachedSessionsAreBoundedTheOldestGivesWay) {
  join_v2(3, "porter");
  json b = join_v2(4, "clerk");
  engine->signal_closed(1, now);
  now += 10;
  engine->signal_closed(3, now);
  now += 10;
  EXPECT_TRUE(sink.of(2, "participant_left").empty());
  engine->signal_closed(4, now);  // max_resumable 2: the publisher, detached first, is removed
  auto left = sink.of(2, "participant_left");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0]["participant"], pub.id);
  resume(5, b.value("session_token", ""));
  EXPECT_EQ(sink.of(5, "resumed").size(), 1u);
}

TEST_F(SfuResume, MuteIsToldToTheRoomAndShownInTheTrackList) {
  engine->signal_message(1, json{{"type", "mute"}, {"track", pub.id + "-1"}, {"muted", true}}.dump(), now, kUnix);
  auto muted = sink.of(2, "track_muted");
  ASSERT_EQ(muted.size(), 1u);
  EXPECT_EQ(muted[0]["participant"], pub.id);
  EXPECT_EQ(muted[0]["track"], pub.id + "-1");
  engine->signal_message(1, json{{"type", "mute"}, {"track", pub.id + "-1"}, {"muted", true}}.dump(), now, kUnix);
  EXPECT_EQ(sink.of(2, "track_muted").size(), 1u);  // no change: not told again
  json late = join_v2(3, "porter");
  bool shown = false;
  for (const auto& p : late["participants"])
    for (const auto& t : p["tracks"]) shown = shown || (t["id"] == pub.id + "-1" && t["muted"] == true);
  EXPECT_TRUE(shown);
  engine->signal_message(1, json{{"type", "mute"}, {"mid", "1"}, {"muted", false}}.dump(), now, kUnix);
  ASSERT_EQ(sink.of(2, "track_unmuted").size(), 1u);
  engine->signal_message(1, json{{"type", "mute"}, {"track", "nope"}, {"muted", true}}.dump(), now, kUnix);
  engine->signal_message(1, json{{"type", "mute"}, {"mid", "1"}}.dump(), now, kUnix);
  EXPECT_EQ(sink.of(1, "error").size(), 2u);
}

class SfuResumeOff : public EngineTest {
 protected:
  void configure(EngineConfig& cfg) override { cfg.resume_grace_ms = 0; }
};

TEST_F(SfuResumeOff, WithoutAGraceVersion2HasNoTokenAndLeavesAtOnce) {
  engine->signal_opened(1, now);
  token::Claims claims;
  claims.room = "ward-9";
  claims.identity = "nurse";
  claims.region = "eu-west";
  claims.exp = kUnix + 600;
  engine->signal_message(1, json{{"type", "join"}, {"token", token::encode(claims, kKey)}, {"version", 2}}.dump(),
                         now, kUnix);
  auto joined = sink.of(1, "joined");
  ASSERT_EQ(joined.size(), 1u);
  EXPECT_FALSE(joined[0].contains("session_token"));
  EXPECT_EQ(joined[0]["version"], 2);
  join(2, "doctor", chromium_sdp("e_recvonly_only.sdp"));
  engine->signal_closed(1, now);
  EXPECT_EQ(sink.of(2, "participant_left").size(), 1u);
}

}  // namespace
