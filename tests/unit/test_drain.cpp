// The drain policy (server/drain.hpp) and its keys (server/config_drain.cpp): the state machine,
// the default alternates, and clear errors for bad drain.* values.
#include <gtest/gtest.h>

#include "server/config.hpp"
#include "server/drain.hpp"

using namespace turnpike;

namespace {

turn::Endpoint ep(const char* text) { return *turn::Endpoint::parse(text); }

std::string base_config(const std::string& extra) {
  return "listen:\n  - { transport: udp, address: 127.0.0.1, port: 3478 }\n"
         "relay: { addresses: [127.0.0.1] }\n"
         "auth: { realm: t, users: { a: b } }\n" +
         extra;
}

std::string error_key(const std::string& yaml) {
  try {
    load_config_text(yaml);
  } catch (const ConfigError& e) {
    return e.key;
  }
  return "(no error)";
}

}  // namespace

TEST(DrainPolicy, ExitsWhenEmptyOrWhenTheGraceRunsOut) {
  DrainPolicy d(10);
  EXPECT_EQ(d.step(0, 0, 0), DrainPolicy::Step::Serve);  // not draining: never exit
  EXPECT_TRUE(d.start(1000));
  EXPECT_FALSE(d.start(2000));  // a second start changes nothing
  EXPECT_EQ(d.started_ms(), 1000);
  EXPECT_EQ(d.deadline_ms(), 11'000);
  EXPECT_EQ(d.step(3, 0, 5000), DrainPolicy::Step::Wait);
  EXPECT_EQ(d.step(0, 1, 5000), DrainPolicy::Step::Wait);
  EXPECT_EQ(d.step(0, 0, 5000), DrainPolicy::Step::Done);
  EXPECT_EQ(d.step(1, 0, 10'999), DrainPolicy::Step::Wait);
  EXPECT_EQ(d.step(1, 0, 11'000), DrainPolicy::Step::TimedOut);
  EXPECT_EQ(d.step(0, 0, 20'000), DrainPolicy::Step::Done);
  EXPECT_STREQ(to_string(DrainPolicy::Step::TimedOut), "timed_out");
}

TEST(DrainPolicy, ProgressLinesComeAtTheirInterval) {
  DrainPolicy d(300);
  EXPECT_FALSE(d.progress_due(10'000, 5000));  // not draining
  d.start(0);
  EXPECT_FALSE(d.progress_due(4999, 5000));
  EXPECT_TRUE(d.progress_due(5000, 5000));
  EXPECT_FALSE(d.progress_due(9000, 5000));
  EXPECT_TRUE(d.progress_due(10'000, 5000));
}

TEST(DrainAlternates, ConfiguredListWinsElseTheOwnRegionsOtherServers) {
  turn::ResidencyConfig rc;
  rc.own = "eu";
  rc.regions = {{"eu", {}, {*turn::TurnUri::parse("turn:192.0.2.1:3478"), *turn::TurnUri::parse("turn:192.0.2.2:3478"),
                            *turn::TurnUri::parse("turns:turn.eu.test")}, ""},
                {"us", {}, {*turn::TurnUri::parse("turn:198.51.100.1:3478")}, ""}};
  DrainConfig cfg;
  auto alts = drain_alternates(cfg, rc, {ep("192.0.2.1:3478")});
  ASSERT_EQ(alts.size(), 2u);  // this node's own URL is left out; the name stays (never an ALTERNATE-SERVER)
  EXPECT_EQ(alts[0].endpoint()->to_string(), "192.0.2.2:3478");
  EXPECT_EQ(alts[1].host, "turn.eu.test");
  cfg.alternate_urls = std::vector<turn::TurnUri>{*turn::TurnUri::parse("turn:203.0.113.5")};
  alts = drain_alternates(cfg, rc, {ep("192.0.2.1:3478")});
  ASSERT_EQ(alts.size(), 1u);
  EXPECT_EQ(alts[0].endpoint()->to_string(), "203.0.113.5:3478");
  EXPECT_TRUE(drain_alternates(DrainConfig{}, turn::ResidencyConfig{}, {}).empty());  // no catalog: none
}

TEST(DrainAlternates, ChosenAsResidencyRedirectsChooseThem) {
  std::vector<turn::TurnUri> urls = {*turn::TurnUri::parse("turn:[2001:db8::9]"),
                                     *turn::TurnUri::parse("turn:192.0.2.9:3478?transport=tcp"),
                                     *turn::TurnUri::parse("turn:192.0.2.8:3478")};
  EXPECT_EQ(turn::alternate_among(urls, turn::Transport::Udp, turn::Family::V4)->to_string(), "192.0.2.8:3478");
  EXPECT_EQ(turn::alternate_among(urls, turn::Transport::Tcp, turn::Family::V4)->to_string(), "192.0.2.9:3478");
  EXPECT_EQ(turn::alternate_among(urls, turn::Transport::Udp, turn::Family::V6)->to_string(), "[2001:db8::9]:3478");
  EXPECT_FALSE(turn::alternate_among(urls, turn::Transport::Tls, turn::Family::V4));
}

TEST(DrainConfigKeys, ParsedWithDefaults) {
  auto c = load_config_text(base_config(""));
  EXPECT_FALSE(c.drain.alternate_urls);
  EXPECT_EQ(c.drain.grace_seconds, 300u);
  EXPECT_TRUE(c.drain.signal_url.empty());
  c = load_config_text(base_config(
      "drain:\n  alternate_urls: [\"turn:192.0.2.2:3478?transport=udp\", \"turns:[2001:db8::2]:443\"]\n"
      "  signal_url: wss://192.0.2.2:8443/signal\n  grace_seconds: 30\n"));
  ASSERT_TRUE(c.drain.alternate_urls);
  ASSERT_EQ(c.drain.alternate_urls->size(), 2u);
  EXPECT_EQ((*c.drain.alternate_urls)[1].endpoint()->to_string(), "[2001:db8::2]:443");
  EXPECT_EQ(c.drain.signal_url, "wss://192.0.2.2:8443/signal");
  EXPECT_EQ(c.drain.grace_seconds, 30u);
  c = load_config_text(base_config("drain: { alternate_urls: [] }\n"));
  ASSERT_TRUE(c.drain.alternate_urls);
  EXPECT_TRUE(c.drain.alternate_urls->empty());
}

TEST(DrainConfigKeys, BadValuesNameTheKey) {
  EXPECT_EQ(error_key(base_config("drain: { alternate_urls: [\"http://192.0.2.2\"] }\n")), "drain.alternate_urls[0]");
  EXPECT_EQ(error_key(base_config("drain: { alternate_urls: [\"turn:192.0.2.2\", \"turn:a.example\"] }\n")),
            "drain.alternate_urls[1]");
  EXPECT_EQ(error_key(base_config("drain: { alternate_urls: turn:192.0.2.2 }\n")), "drain.alternate_urls");
  EXPECT_EQ(error_key(base_config("drain: { signal_url: http://x/signal }\n")), "drain.signal_url");
  EXPECT_EQ(error_key(base_config("drain: { signal_url: \"wss://a b\" }\n")), "drain.signal_url");
  EXPECT_EQ(error_key(base_config("drain: { grace_seconds: 0 }\n")), "drain.grace_seconds");
  EXPECT_EQ(error_key(base_config("drain: { grace_seconds: -5 }\n")), "drain.grace_seconds");
  EXPECT_EQ(error_key(base_config("drain: { grace_seconds: 10s }\n")), "drain.grace_seconds");
  EXPECT_EQ(error_key(base_config("drain: { grace: 10 }\n")), "drain.grace");
  EXPECT_EQ(error_key(base_config("drain: [1]\n")), "drain");
}

TEST(DrainMetric, GaugeText) {
  EXPECT_NE(draining_metric_text(true).find("\nturnpike_draining 1\n"), std::string::npos);
  EXPECT_NE(draining_metric_text(false).find("# TYPE turnpike_draining gauge\n"), std::string::npos);
}
