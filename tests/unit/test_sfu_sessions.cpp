// The engine's admin view (sfu/engine_admin.cpp, GET /api/v1/rooms and DELETE of a participant in
// docs/admin-api.md): two participants join with real Chromium offers and connect through the
// engine in memory (sfu_fixture.hpp); the snapshot shows them with path, region, join time and
// bytes; removing one closes its signalling, tells the other, and stops its media.
#include <gtest/gtest.h>

#include <array>
#include <string>

#include "sfu/engine.hpp"
#include "sfu/srtp.hpp"
#include "sfu_fixture.hpp"
#include "turn/address.hpp"

using namespace sfu;
using namespace sfu_fixture;

namespace {

constexpr uint32_t kVideoSsrc = 596868569;  // a_sendonly_audio_video.sdp, mid 1
constexpr const char* kPubAt = "192.0.2.20:5000";   // "our TURN relay": relay_udp, region eu-west
constexpr const char* kSubAt = "198.51.100.30:6000";  // direct, region eu-west

class SfuSessions : public EngineTest {
 protected:
  DtlsClient pub_dtls, sub_dtls;
  Client pub, sub;
  SrtpSessionPair pub_srtp, sub_srtp;
  uint8_t pub_video_pt = 0;

  void configure(EngineConfig& cfg) override {
    cfg.classify = [](const turn::Endpoint& from) {
      return turn::Cidr::parse("192.0.2.0/24")->contains(from.address) ? Path::RelayUdp : Path::Direct;
    };
    cfg.admit = [](const turn::Endpoint&) {
      EngineConfig::Admission a;
      a.region = "eu-west";
      return a;
    };
  }

  void SetUp() override {
    EngineTest::SetUp();
    pub = join(1, "nurse", pub_dtls.offer(chromium_sdp("a_sendonly_audio_video.sdp")));
    auto pa = answer_of(pub);
    ASSERT_TRUE(pa);
    const auto* video = sdp::find_section(*pa, "1");
    ASSERT_TRUE(video && !video->codecs.empty());
    pub_video_pt = video->codecs.front().payload_type;
    sub = join(2, "doctor", sub_dtls.offer(chromium_sdp("e_recvonly_only.sdp")), {{"0", pub.id + "-1"}});
    pub_srtp = connect(pub, pub_dtls, kPubAt);
    sub_srtp = connect(sub, sub_dtls, kSubAt);
  }

  // One 100-byte VP8 packet from the publisher, SRTP-protected.
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
};

TEST_F(SfuSessions, RoomsListsTheRoomWithItsCount) {
  auto rooms = engine->rooms(10);
  ASSERT_EQ(rooms.size(), 1u);
  EXPECT_EQ(rooms[0].name, "ward-9");
  EXPECT_EQ(rooms[0].participant_count, 2u);
  EXPECT_TRUE(rooms[0].participants.empty()) << "the list carries counts only";
  EXPECT_TRUE(engine->rooms(0).empty()) << "bounded by max_rooms";
  EXPECT_FALSE(engine->room("ward-10"));
}

TEST_F(SfuSessions, ARoomShowsEachParticipantsPathRegionJoinAndBytes) {
  for (uint16_t seq = 1; seq <= 3; ++seq) publish(seq);
  auto room = engine->room("ward-9");
  ASSERT_TRUE(room);
  ASSERT_EQ(room->participants.size(), 2u);
  const ParticipantInfo* nurse = nullptr;
  const ParticipantInfo* doctor = nullptr;
  for (const auto& p : room->participants) (p.identity == "nurse" ? nurse : doctor) = &p;
  ASSERT_TRUE(nurse && doctor);
  EXPECT_EQ(nurse->id, pub.id);
  EXPECT_EQ(doctor->id, sub.id);
  EXPECT_EQ(nurse->path, Path::RelayUdp);
  EXPECT_EQ(doctor->path, Path::Direct);
  EXPECT_EQ(nurse->region, "eu-west");
  EXPECT_EQ(doctor->region, "eu-west");
  EXPECT_TRUE(nurse->connected && doctor->connected);
  EXPECT_EQ(nurse->joined_unix_ms, kUnix * 1000) << "the join, on the wall clock of the first message";
  EXPECT_EQ(nurse->tracks, 2u);
  EXPECT_EQ(doctor->tracks, 0u);
  EXPECT_GE(nurse->bytes_in, 3u * 112) << "the three SRTP packets it sent";
  EXPECT_GE(doctor->bytes_out, 3u * 112) << "the three forwarded to it";
  EXPECT_EQ(doctor->bytes_in, 0u);
}

TEST_F(SfuSessions, RemovingAParticipantClosesItTellsTheOtherAndStopsItsMedia) {
  auto removed = engine->remove_participant("ward-9", pub.id, now);
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->identity, "nurse");
  auto errors = sink.of(pub.conn, "error");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["code"], "removed");
  ASSERT_FALSE(sink.closed.empty());
  EXPECT_EQ(sink.closed.back(), "removed");
  auto left = sink.of(sub.conn, "participant_left");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0]["participant"], pub.id);
  EXPECT_EQ(sink.of(sub.conn, "track_unpublished").size(), 2u);
  for (const auto& c : engine->stats().signalling_errors)
    EXPECT_EQ(c.get(), 0u) << "the operator's doing, not the client's";
  EXPECT_EQ(engine->stats().participants.get(), 1u);
  size_t before = srtp_to(kSubAt);
  publish(9);  // from its old address: its transports are gone
  EXPECT_EQ(srtp_to(kSubAt), before);
  auto room = engine->room("ward-9");
  ASSERT_TRUE(room);
  ASSERT_EQ(room->participants.size(), 1u);
  EXPECT_EQ(room->participants[0].id, sub.id);
  // Its connection closing afterwards (as the host reports it) changes nothing more.
  engine->signal_closed(pub.conn, now);
  EXPECT_EQ(engine->stats().participants.get(), 1u);
}

TEST_F(SfuSessions, RemovingAnUnknownParticipantOrRoomChangesNothing) {
  EXPECT_FALSE(engine->remove_participant("ward-9", "000000000000", now));
  EXPECT_FALSE(engine->remove_participant("ward-10", pub.id, now));
  EXPECT_EQ(engine->stats().participants.get(), 2u);
  EXPECT_TRUE(sink.of(sub.conn, "participant_left").empty());
}

TEST_F(SfuSessions, TheLastParticipantRemovedClosesTheRoom) {
  ASSERT_TRUE(engine->remove_participant("ward-9", pub.id, now));
  ASSERT_TRUE(engine->remove_participant("ward-9", sub.id, now));
  EXPECT_TRUE(engine->rooms(10).empty());
  EXPECT_EQ(engine->stats().rooms.get(), 0u);
}

}  // namespace
