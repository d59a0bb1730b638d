// What a participant can make the SFU engine do to others (issue 14): a spoofed nomination must not
// move its media to a victim (item 3, RFC 8445 7.2.2 return routability), and an offer announcing
// another participant's SSRC must not take that SSRC over (item 11). Real Chromium offers
// (tests/fixtures/chromium_sdp/) and checks built as Chromium builds them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sfu/engine.hpp"
#include "sfu/rtcp.hpp"
#include "sfu/sdp.hpp"
#include "sfu/srtp.hpp"
#include "sfu_fixture.hpp"
#include "turn/attributes.hpp"
#include "turn/crypto.hpp"
#include "turn/message.hpp"

using namespace sfu;
using namespace sfu_fixture;
using json = nlohmann::json;
namespace stun = turn::stun;
namespace attr = turn::stun::attr;

namespace {

constexpr uint64_t kBudget = 16'000;  // NACK resends per subscriber and second (a quarter of it as burst)

class SfuEngineAbuse : public EngineTest {
 protected:
  void configure(EngineConfig& cfg) override {
    cfg.max_retransmit_bytes_per_second = kBudget;
    // 192.0.2.0/24 plays this node's TURN relay: a media path there is reported as relay_udp.
    cfg.classify = [](const turn::Endpoint& from) {
      return turn::Cidr::parse("192.0.2.0/24")->contains(from.address) ? Path::RelayUdp : Path::Direct;
    };
  }
};

}  // namespace

// Item 3: checks with USE-CANDIDATE from a spoofed source (the victim's address) do not move the
// participant's media there; only an address that answers the SFU's own Binding request does.
TEST_F(SfuEngineAbuse, SpoofedNominationDoesNotMoveMediaUntilTheAddressAnswers) {
  Client a = join(1, "attacker", chromium_sdp("a_sendonly_audio_video.sdp"));
  check(a, "198.51.100.20:5000", true);
  EXPECT_EQ(sink.requests_to(ep("198.51.100.20:5000")), 1u);  // our probe
  EXPECT_TRUE(paths_of(a).empty()) << "the first address is not used before it answers either";
  answer_probes(a, "198.51.100.20:5000");
  EXPECT_EQ(paths_of(a), (std::vector<std::string>{"direct"}));
  EXPECT_EQ(engine->stats().ice_probes_answered.get(), 1u);

  // The attacker nominates the victim's address (here, a relay address: the path would say so).
  for (int i = 0; i < 20; ++i) {
    check(a, "192.0.2.7:6000", true);
    now += 100;
    engine->tick(now);
  }
  EXPECT_EQ(paths_of(a), (std::vector<std::string>{"direct"})) << "media moved to an unproven address";
  // The victim got a bounded number of our probes (backoff), not one per spoofed check.
  EXPECT_GE(sink.requests_to(ep("192.0.2.7:6000")), 1u);
  EXPECT_LE(sink.requests_to(ep("192.0.2.7:6000")), 4u);
  // A forged answer: the attacker knows the password (it is its own browser's) but not the
  // transaction id, which only the victim saw.
  size_t before = sink.media.size();
  std::array<uint8_t, 512> buf{};
  stun::TransactionId guess{};
  stun::Builder b(buf, stun::Method::Binding, stun::Class::Success, guess);
  b.add_xor_address(attr::XorMappedAddress, ep("198.51.100.10:40000"));
  b.add_integrity(turn::crypto::bytes(a.remote_pwd));
  b.add_fingerprint();
  std::vector<uint8_t> forged(b.bytes().begin(), b.bytes().end());
  engine->media(forged, ep("192.0.2.7:6000"), now);
  EXPECT_EQ(sink.media.size(), before);
  EXPECT_EQ(paths_of(a), (std::vector<std::string>{"direct"}));

  // A real move (the browser behind that address answers): media follows.
  answer_probes(a, "192.0.2.7:6000");
  EXPECT_EQ(paths_of(a), (std::vector<std::string>{"direct", "relay_udp"}));
}

// Item 11: SSRCs are per participant; an offer announcing an SSRC another participant of the room
// publishes is refused for that track, and the owner keeps it.
TEST_F(SfuEngineAbuse, AnSsrcAlreadyPublishedInTheRoomIsRefused) {
  std::string offer = chromium_sdp("a_sendonly_audio_video.sdp");
  Client owner = join(1, "owner", offer);
  EXPECT_TRUE(sink.of(1, "error").empty());
  // The owner renegotiates with the same SSRCs on the same mids: that is no conflict.
  engine->signal_message(1, json{{"type", "offer"}, {"sdp", offer}}.dump(), now, kUnix);
  EXPECT_TRUE(sink.of(1, "error").empty());

  Client thief = join(2, "thief", offer);  // the SSRCs the owner's subscribers see in their answers
  auto errors = sink.of(2, "error");
  ASSERT_EQ(errors.size(), 2u);  // audio and video
  for (const auto& e : errors) {
    EXPECT_EQ(e["code"], "bad_sdp");
    EXPECT_NE(e["message"].get<std::string>().find("already used in this room"), std::string::npos) << e.dump();
  }
  EXPECT_EQ(engine->stats().ssrc_conflicts.get(), 2u);
  EXPECT_TRUE(sink.of(1, "track_published").empty()) << "the thief's copies were published";
  // Its answer takes nothing from it.
  sdp::Error err;
  auto answer = sdp::parse(sink.of(2, "answer").back()["sdp"].get<std::string>(), err);
  ASSERT_TRUE(answer);
  for (const auto& m : answer->media) EXPECT_TRUE(m.rejected() || m.direction == sdp::Direction::Inactive);

  // The thief leaving takes nothing of the owner's: a newcomer sees the owner's two tracks.
  engine->signal_message(2, R"({"type":"leave"})", now, kUnix);
  join(3, "newcomer", chromium_sdp("e_recvonly_only.sdp"));
  auto joined = sink.of(3, "joined");
  ASSERT_EQ(joined.size(), 1u);
  ASSERT_EQ(joined[0]["participants"].size(), 1u);
  EXPECT_EQ(joined[0]["participants"][0]["identity"], "owner");
  EXPECT_EQ(joined[0]["participants"][0]["tracks"].size(), 2u);
}

TEST_F(SfuEngineAbuse, JoinIsReportedToTheHost) {
  join(7, "someone", chromium_sdp("a_sendonly_audio_video.sdp"));
  EXPECT_EQ(sink.joined, (std::vector<ConnectionId>{7}));
}

TEST_F(SfuEngineAbuse, InvalidUtf8NeverThrowsFromSignalling) {
  // nlohmann's parser refuses invalid UTF-8 in JSON text; error messages quoting an offer must
  // survive multi-byte characters (cut or not): answers are dumped with replacement.
  join(1, "someone", chromium_sdp("a_sendonly_audio_video.sdp"));
  json msg = {{"type", "offer"}, {"sdp", chromium_sdp("a_sendonly_audio_video.sdp") + "a=\xc3\xa9\xe2\x82\xac\r\n"}};
  EXPECT_NO_THROW(engine->signal_message(1, msg.dump(), now, kUnix));
  EXPECT_NO_THROW(engine->signal_message(1, json{{"type", "offer"}, {"sdp", "\xc3\xa9"}}.dump(), now, kUnix));
}

// Item 2: one SRTCP compound of Generic NACKs (RFC 4585 6.2.1) naming the same packets over and over
// buys each packet at most once per interval, and no more than the per-compound cap.
TEST_F(SfuEngineAbuse, NackCompoundCannotAmplify) {
  DtlsClient pub_dtls, sub_dtls;
  Client pub = join(1, "publisher", pub_dtls.offer(chromium_sdp("a_sendonly_audio_video.sdp")));
  auto published = sink.of(1, "answer");
  sdp::Error err;
  auto pub_answer = sdp::parse(published.back()["sdp"].get<std::string>(), err);
  ASSERT_TRUE(pub_answer);
  const auto* video = sdp::find_section(*pub_answer, "1");
  ASSERT_TRUE(video && !video->codecs.empty());
  const uint8_t pt = video->codecs.front().payload_type;
  const uint32_t video_ssrc = 596868569;  // the fixture's primary video SSRC
  Client sub = join(2, "subscriber", sub_dtls.offer(chromium_sdp("e_recvonly_only.sdp")), {{"0", pub.id + "-1"}});
  auto pub_srtp = connect(pub, pub_dtls, "198.51.100.20:5000");
  auto sub_srtp = connect(sub, sub_dtls, "198.51.100.30:6000");
  const auto sub_addr = ep("198.51.100.30:6000");
  auto to_sub = [&] {
    size_t n = 0, bytes = 0;
    for (const auto& [to, d] : sink.media)
      if (to == sub_addr && !d.empty() && d[0] >= 128) ++n, bytes += d.size();
    return std::pair{n, bytes};
  };

  // 50 video packets, forwarded once each.
  for (uint16_t seq = 1000; seq < 1050; ++seq) {
    std::array<uint8_t, 256> pkt{};
    pkt[0] = 0x80;
    pkt[1] = pt;
    pkt[2] = seq >> 8;
    pkt[3] = seq & 0xff;
    pkt[7] = 90;
    for (int i = 0; i < 4; ++i) pkt[8 + i] = static_cast<uint8_t>(video_ssrc >> (24 - 8 * i));
    pkt[12] = 0x10;  // VP8 payload descriptor, S=1, not a keyframe
    for (size_t i = 13; i < 113; ++i) pkt[i] = static_cast<uint8_t>(i);
    size_t len = 113;
    ASSERT_EQ(pub_srtp.outbound.protect_rtp(pkt, len), SrtpError::None);
    engine->media(std::span<uint8_t>(pkt.data(), len), ep("198.51.100.20:5000"), now);
  }
  auto [forwarded, forwarded_bytes] = to_sub();
  ASSERT_EQ(forwarded, 50u) << "the subscription does not receive the track";

  // One ~1.7 KB compound: 60 NACKs, each for all 50 packets (3000 resends asked for).
  auto compound = [&] {
    std::vector<uint8_t> buf(2048);
    RtcpWriter w(buf);
    std::vector<uint16_t> seqs;
    for (uint16_t s = 1000; s < 1050; ++s) seqs.push_back(s);
    for (int i = 0; i < 60; ++i) EXPECT_TRUE(w.append(build_nack(w.remaining(), 0x11223344, video_ssrc, seqs)));
    size_t len = w.size();
    EXPECT_EQ(sub_srtp.outbound.protect_rtcp(buf, len), SrtpError::None);
    buf.resize(len);
    return buf;
  };
  auto nacks = compound();
  engine->media(nacks, sub_addr, now);
  auto [after, after_bytes] = to_sub();
  size_t resent = after - forwarded;
  EXPECT_GT(resent, 0u);
  EXPECT_LE(resent, 50u) << "each packet resent at most once per compound";
  EXPECT_LE(after_bytes - forwarded_bytes, 5 * nacks.size());
  EXPECT_GT(engine->stats().nack_limited_repeat.get() + engine->stats().nack_limited_cap.get(), 0u);

  // The same compound again 10 ms later: what was resent is not resent (within the interval); of
  // what the budget refused, only what 10 ms of budget buys (160 bytes: one packet).
  uint64_t repeats = engine->stats().nack_limited_repeat.get();
  auto again = compound();
  engine->media(again, sub_addr, now + 10);
  EXPECT_LE(to_sub().first - after, 1u);
  EXPECT_GE(engine->stats().nack_limited_repeat.get() - repeats, resent);

  // Compounds every 100 ms for 10 s: bounded by the per-subscriber byte budget (what is budgeted
  // is the stored packet; what goes out adds the mid extension and the SRTP tag).
  for (int i = 0; i < 100; ++i) {
    now += 100;
    auto c = compound();
    engine->media(c, sub_addr, now);
  }
  auto [total, total_bytes] = to_sub();
  EXPECT_LE(total_bytes - after_bytes, (kBudget * 10 + kBudget / 4) * 3 / 2);
  EXPECT_GT(total - after, 0u);
  EXPECT_GT(engine->stats().nack_limited_budget.get(), 0u);
}
