// Drain in the SFU engine (EngineConfig::draining, server/drain.hpp): while the node drains, a new
// join is sent to drain.signal_url (error "draining") or refused, and who is in a room stays.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "sfu/engine.hpp"
#include "sfu/token.hpp"
#include "sfu_fixture.hpp"

using namespace sfu;
using namespace sfu_fixture;
using json = nlohmann::json;

namespace {

class SfuDrain : public EngineTest {
 protected:
  std::optional<std::string> drain;
  void configure(EngineConfig& cfg) override {
    cfg.draining = [this] { return drain; };
  }
  void send_join(ConnectionId conn, const std::string& identity) {
    token::Claims claims;
    claims.room = "ward-9";
    claims.identity = identity;
    claims.region = "eu-west";
    claims.exp = kUnix + 600;
    engine->signal_opened(conn, now);
    engine->signal_message(conn, json{{"type", "join"}, {"token", token::encode(claims, kKey)}}.dump(), now, kUnix);
  }
};

}  // namespace

TEST_F(SfuDrain, NewJoinsGoToTheSignalUrlWhileTheRoomStays) {
  send_join(1, "alice");
  ASSERT_EQ(sink.of(1, "joined").size(), 1u);
  drain = "wss://192.0.2.7:8443/signal";
  send_join(2, "bob");
  EXPECT_TRUE(sink.of(2, "joined").empty());
  auto errs = sink.of(2, "error");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0]["code"], "draining");
  EXPECT_EQ(errs[0]["signal_url"], "wss://192.0.2.7:8443/signal");
  EXPECT_EQ(sink.closed, (std::vector<std::string>{"draining"}));
  EXPECT_EQ(engine->stats().participants.get(), 1u);  // alice is still in the room
  EXPECT_TRUE(sink.of(1, "participant_joined").empty());
  engine->signal_message(1, R"({"type":"ping"})", now, kUnix);
  EXPECT_EQ(sink.of(1, "pong").size(), 1u);
}

TEST_F(SfuDrain, WithoutASignalUrlNewJoinsAreRefused) {
  drain = "";
  send_join(3, "carol");
  auto errs = sink.of(3, "error");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0]["code"], "draining");
  EXPECT_FALSE(errs[0].contains("signal_url"));
  EXPECT_EQ(engine->stats().participants.get(), 0u);
  drain.reset();  // serving again
  send_join(4, "dave");
  EXPECT_EQ(sink.of(4, "joined").size(), 1u);
}
