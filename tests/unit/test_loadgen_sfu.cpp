// `turnpike-loadgen sfu`'s engine (loadgen/sfu_engine.hpp) against the real in-process sfu::Engine:
// signalling text and media datagrams are carried between the two in memory, with a clock that
// moves 5 ms a step. Every synthetic participant joins, does ICE and DTLS-SRTP with the SFU, the
// publishers' packets reach every subscriber, and the loadgen's counts agree with the SFU's.
#include <gtest/gtest.h>

#include <deque>
#include <nlohmann/json.hpp>

#include "loadgen/sfu_engine.hpp"
#include "sfu/engine.hpp"
#include "sfu/token.hpp"

namespace {

using nlohmann::json;
using loadgen::sfuload::RunConfig;
using loadgen::sfuload::SfuEngine;

constexpr int64_t kUnix = 1'800'000'000;
constexpr const char* kKey = "loadgen-sfu-test-key";

turn::Endpoint ep(const std::string& s) { return *turn::Endpoint::parse(s); }
const turn::Endpoint kSfu = ep("198.51.100.10:40000");
turn::Endpoint participant_ep(uint32_t p) { return ep("192.0.2.1:" + std::to_string(10000 + p)); }

struct Wire {
  enum class Kind { Open, Close, ToSfu, ToLoadgen, MediaToSfu, MediaToLoadgen } kind;
  uint32_t p = 0;
  std::string text;
  std::vector<uint8_t> bytes;
};

// Both sinks: everything either side hands out is queued and delivered by pump().
struct Harness : sfu::EngineSink, loadgen::sfuload::SfuSink {
  std::deque<Wire> q;
  std::vector<std::string> closed_by_sfu;
  void send_media(const turn::Endpoint& to, std::span<const uint8_t> d) override {
    if (to.port >= 10000) q.push_back({Wire::Kind::MediaToLoadgen, to.port - 10000u, {}, {d.begin(), d.end()}});
  }
  void send_signal(sfu::ConnectionId c, const std::string& text) override {
    q.push_back({Wire::Kind::ToLoadgen, static_cast<uint32_t>(c - 1), text, {}});
  }
  void close_signal(sfu::ConnectionId, const char* why) override { closed_by_sfu.emplace_back(why); }
  void send_signal(uint32_t p, const std::string& text) override { q.push_back({Wire::Kind::ToSfu, p, text, {}}); }
  void send_media(uint32_t p, const turn::Endpoint& to, std::span<const uint8_t> d) override {
    EXPECT_EQ(to, kSfu);
    q.push_back({Wire::Kind::MediaToSfu, p, {}, {d.begin(), d.end()}});
  }
  void open_signal(uint32_t p) override { q.push_back({Wire::Kind::Open, p, {}, {}}); }
  void close_signal(uint32_t p) override { q.push_back({Wire::Kind::Close, p, {}, {}}); }
};

class LoadgenSfu : public ::testing::Test {
 protected:
  Harness h;
  std::unique_ptr<sfu::Engine> sfu;
  std::unique_ptr<SfuEngine> lg;
  int64_t now = 1'000;

  void make(RunConfig rc) {
    sfu::EngineConfig cfg;
    cfg.region = "eu-west";
    cfg.token_keys = {kKey};
    cfg.candidates = {kSfu};
    cfg.start_unix_s = kUnix;
    sfu = std::make_unique<sfu::Engine>(cfg, h);
    rc.region = "eu-west";
    rc.token_key = kKey;
    rc.start_unix = kUnix;
    lg = std::make_unique<SfuEngine>(rc, h);
  }

  int64_t unix_s() const { return kUnix + now / 1000; }

  void deliver(Wire& w) {
    const sfu::ConnectionId conn = w.p + 1;
    switch (w.kind) {
      case Wire::Kind::Open:
        sfu->signal_opened(conn, now);
        lg->signal_opened(w.p, now);
        break;
      case Wire::Kind::Close: sfu->signal_closed(conn, now); break;
      case Wire::Kind::ToSfu: sfu->signal_message(conn, w.text, now, unix_s()); break;
      case Wire::Kind::ToLoadgen: lg->signal_message(w.p, w.text, now); break;
      case Wire::Kind::MediaToSfu: sfu->media(w.bytes, participant_ep(w.p), now); break;
      case Wire::Kind::MediaToLoadgen: lg->media(w.p, w.bytes, kSfu, now); break;
    }
  }

  // Runs until the loadgen has finished (bounded in steps).
  json run() {
    lg->start(now);
    for (int step = 0; step < 20'000 && !lg->finished(); ++step) {
      now += 5;
      lg->tick(now);
      sfu->tick(now);
      for (size_t n = 0; n < 100'000 && !h.q.empty(); ++n) {
        Wire w = std::move(h.q.front());
        h.q.pop_front();
        deliver(w);
      }
    }
    EXPECT_TRUE(lg->finished());
    return lg->report();
  }
};

TEST_F(LoadgenSfu, EverySubscriberGetsEveryPacketAndTheCountsMatchTheSfus) {
  RunConfig rc;
  rc.publishers = 2;
  rc.subscribers = 3;
  rc.audio = true;
  rc.video_pps = 50;
  rc.duration_ms = 2'000;
  rc.drain_ms = 200;
  rc.join_rate = 200;
  make(rc);
  json r = run();
  SCOPED_TRACE(r.dump(1));
  EXPECT_EQ(r["result"], "ok");
  EXPECT_EQ(r["participants"]["connected"], 5);
  EXPECT_EQ(r["participants"]["failed"], 0);
  ASSERT_EQ(r["subscribers"].size(), 3u);
  uint64_t received = 0;
  for (const auto& s : r["subscribers"]) {
    ASSERT_EQ(s["tracks"].size(), 4u);  // two publishers, video and audio each
    for (const auto& t : s["tracks"]) {
      EXPECT_GT(t["expected"].get<uint64_t>(), 40u);
      EXPECT_EQ(t["received"], t["expected"]);
    }
    received += s["received"].get<uint64_t>();
  }
  const auto& st = sfu->stats();
  EXPECT_EQ(received, st.forwarded_packets_video.get() + st.forwarded_packets_audio.get());
  EXPECT_EQ(r["totals"]["lost"], 0);
  EXPECT_EQ(SfuEngine::exit_status(r), 0);
  for (const auto& p : r["publishers"]) EXPECT_GT(p["tracks"][0]["sent"].get<uint64_t>(), 100u);
}

TEST_F(LoadgenSfu, AWrongTokenKeyFailsEveryParticipantWithItsReason) {
  RunConfig rc;
  rc.publishers = 1;
  rc.subscribers = 1;
  rc.duration_ms = 200;
  rc.drain_ms = 50;
  make(rc);
  sfu->set_join_config({"another-key-entirely"}, {});
  json r = run();
  EXPECT_EQ(r["result"], "fail");
  EXPECT_EQ(r["participants"]["failed"], 2);
  EXPECT_EQ(r["failures_by_reason"]["error: bad_token"], 2);
  EXPECT_EQ(SfuEngine::exit_status(r), 1);
}

// Two rooms: each subscriber subscribes to (and is accounted against) its own room's publisher only.
TEST_F(LoadgenSfu, RoomsAreSeparate) {
  RunConfig rc;
  rc.rooms = 2;
  rc.publishers = 1;
  rc.subscribers = 2;
  rc.duration_ms = 1'000;
  rc.drain_ms = 200;
  make(rc);
  json r = run();
  EXPECT_EQ(r["result"], "ok") << r.dump(1);
  EXPECT_EQ(r["participants"]["connected"], 6);
  for (const auto& s : r["subscribers"]) EXPECT_EQ(s["tracks"].size(), 1u);  // only its own room's publisher
}

// Participants driven one by one: a subscriber that joins an empty room offers nothing, and
// subscribes (a renegotiated offer with the `subscriptions` map) when the publisher's track appears.
TEST_F(LoadgenSfu, ASubscriberThatJoinedFirstSubscribesWhenTheTrackIsPublished) {
  using loadgen::sfuload::Participant;
  using loadgen::sfuload::ParticipantConfig;
  make(RunConfig{});
  loadgen::sfuload::DtlsClientContext ctx(sfu::Certificate::generate(kUnix));
  std::map<uint32_t, const loadgen::sfuload::SendCounter*> senders;
  auto config = [](uint32_t index, bool publisher) {
    ParticipantConfig c;
    c.index = index;
    c.publisher = publisher;
    c.video_ssrc = 1000 + index;
    c.rtcp_ssrc = 2000 + index;
    c.seed = 77 + index;
    sfu::token::Claims claims;
    claims.room = "late-room";
    claims.identity = publisher ? "pub" : "sub";
    claims.region = "eu-west";
    claims.exp = kUnix + 600;
    c.token = sfu::token::encode(claims, kKey);
    return c;
  };
  Participant sub(config(0, false), ctx, h, senders), pub(config(1, true), ctx, h, senders);
  senders[pub.sending()[0].ssrc] = &pub.sending()[0];
  Participant* parts[] = {&sub, &pub};
  auto pump = [&](int steps) {
    for (int step = 0; step < steps; ++step) {
      now += 5;
      for (auto* p : parts) p->tick(now);
      sfu->tick(now);
      while (!h.q.empty()) {
        Wire w = std::move(h.q.front());
        h.q.pop_front();
        if (w.kind == Wire::Kind::ToLoadgen) parts[w.p]->signal_message(w.text, now);
        else if (w.kind == Wire::Kind::MediaToLoadgen) parts[w.p]->media(w.bytes, kSfu, now);
        else deliver(w);
      }
    }
  };
  sfu->signal_opened(1, now);
  sub.signal_opened(now);
  pump(20);
  EXPECT_EQ(sub.state(), Participant::State::Signalling);  // joined, nothing to offer yet
  EXPECT_FALSE(sub.id().empty());
  EXPECT_EQ(sub.subscribed_tracks(), 0u);
  sfu->signal_opened(2, now);
  pub.signal_opened(now);
  pump(400);  // 2 s
  ASSERT_TRUE(pub.connected()) << pub.failure();
  ASSERT_TRUE(sub.connected()) << sub.failure();
  EXPECT_EQ(sub.subscribed_tracks(), 1u);
  pub.stop_sending();
  pump(40);
  const auto& got = sub.receiving();
  ASSERT_EQ(got.size(), 1u);
  const auto& r = got.begin()->second;
  EXPECT_EQ(r.ssrc, pub.sending()[0].ssrc);
  EXPECT_GT(r.received, 20u);
  EXPECT_EQ(r.received, pub.sending()[0].sent - r.first_index);
}

}  // namespace
