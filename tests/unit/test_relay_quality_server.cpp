// The server side of relay quality: quality.* config, the record's "quality", the metrics.
#include <gtest/gtest.h>

#include <string>

#include "server/allocation_record.hpp"
#include "server/config.hpp"
#include "server/metrics.hpp"

using namespace turnpike;

namespace {

const std::string kBase = R"(
region: local
listen: [ { transport: udp, address: 127.0.0.1, port: 3478 } ]
relay: { addresses: [127.0.0.1], port_range: [49152, 65535] }
auth: { realm: turnpike.test, users: { alice: wonderland } }
)";

std::string bad_key(const std::string& quality) {
  try {
    load_config_text(kBase + "quality: " + quality + "\n");
  } catch (const ConfigError& e) {
    return e.key;
  }
  return "(accepted)";
}

std::vector<uint8_t> rtp_packet(uint32_t ssrc, uint16_t seq, uint32_t ts) {
  std::vector<uint8_t> p(60, 0);
  turn::rtp::Header h;
  h.ssrc = ssrc;
  h.seq = seq;
  h.timestamp = ts;
  h.payload_type = 111;
  h.write(p);
  return p;
}

TEST(QualityConfig, DefaultsAndOverrides) {
  auto c = load_config_text(kBase);
  EXPECT_TRUE(c.core.quality.enabled);
  EXPECT_EQ(c.core.quality.interval_s, 10u);
  auto q = load_config_text(kBase + "quality: { enabled: false, interval: 2, degraded: { loss: 0.05 }, bad: { rtt_ms: 900 } }\n");
  EXPECT_FALSE(q.core.quality.enabled);
  EXPECT_EQ(q.core.quality.interval_s, 2u);
  EXPECT_DOUBLE_EQ(q.core.quality.degraded.loss, 0.05);
  EXPECT_DOUBLE_EQ(q.core.quality.bad.rtt_ms, 900);
}

TEST(QualityConfig, BadValuesNameTheirKey) {
  EXPECT_EQ(bad_key("{ enabled: yes }"), "quality.enabled");
  EXPECT_EQ(bad_key("{ interval: 0 }"), "quality.interval");
  EXPECT_EQ(bad_key("{ interval: 2.5 }"), "quality.interval");
  EXPECT_EQ(bad_key("{ degraded: { loss: 1.5 } }"), "quality.degraded.loss");
  EXPECT_EQ(bad_key("{ degraded: { loss: nan } }"), "quality.degraded.loss");
  EXPECT_EQ(bad_key("{ degraded: { lost: 0.1 } }"), "quality.degraded.lost");
  EXPECT_EQ(bad_key("{ bad: { jitter_ms: 10 } }"), "quality.bad.jitter_ms");  // below degraded (30)
  EXPECT_EQ(bad_key("{ max_streams: 0 }"), "quality.max_streams");
  EXPECT_EQ(bad_key("{ colour: red }"), "quality.colour");
  EXPECT_EQ(bad_key("[1, 2]"), "quality");
}

TEST(QualityRecord, StreamsLegsAndVerdict) {
  turn::Allocation a;
  a.five_tuple.transport = turn::Transport::Tcp;
  turn::QualityConfig cfg;
  a.quality.begin(0);
  for (uint16_t s = 0; s < 100; ++s)
    if (s != 50) a.quality.observe(turn::MediaQuality::ToPeer, rtp_packet(77, s, s * 960u), s * 20'000, cfg);
  a.quality.close_interval(2'000'000, true, cfg);
  RecordContext ctx{"local", "turnpike.test", {2000, 1'800'000'000, 0, 2'000'000}, std::nullopt, nullptr};
  auto q = allocation_record(a, ctx)["quality"];
  EXPECT_EQ(q["verdict"], "degraded");
  EXPECT_EQ(q["reasons"], nlohmann::json::array({"tcp"}));
  EXPECT_TRUE(q["media_over_tcp"].get<bool>());
  EXPECT_EQ(q["to_peer"]["expected"], 100);
  EXPECT_EQ(q["to_peer"]["lost"], 1);
  EXPECT_EQ(q["to_peer"]["streams"][0]["ssrc"], 77);
  EXPECT_EQ(q["to_peer"]["streams"][0]["clock_rate"], 48000);
  EXPECT_EQ(q["to_peer"]["streams"][0]["kind"], "audio");
  EXPECT_EQ(q["to_peer"]["kinds"]["rtp"], 99);
  EXPECT_TRUE(q["rtt_ms"]["total"].is_null());
  EXPECT_EQ(q["to_client"]["streams"].size(), 0u);
}

TEST(QualityMetrics, VerdictGaugesMoveWithTheAllocation) {
  Metrics m("9.9.9", "local");
  m.set_tag_labeler([](const turn::Allocation&) { return Metrics::Labels{{"site", "ward-5"}}; });
  turn::Allocation a;
  a.id = 7;
  turn::QualityConfig cfg;
  a.quality.begin(0);
  m.allocation_created(a);
  for (uint16_t s = 0; s < 100; ++s)
    if (s % 10) a.quality.observe(turn::MediaQuality::ToPeer, rtp_packet(1, s, s * 960u), s * 20'000, cfg);
  auto s = a.quality.close_interval(2'000'000, false, cfg);
  m.quality_sample(a, s);
  turn::CoreStats core;
  core.payloads[static_cast<size_t>(turn::rtp::Kind::Rtp)].add(90);
  std::vector<turn::Allocation> per{a};
  std::string text = m.render({&core}, &per, 0, 0);
  auto has = [&](const std::string& series) { EXPECT_NE(text.find(series), std::string::npos) << series; };
  has("turnpike_allocations_by_quality{site=\"ward-5\",verdict=\"degraded\"} 1");
  has("turnpike_allocations_by_quality{site=\"ward-5\",verdict=\"no_media\"} 0");
  has("turnpike_relay_loss_ratio_count{direction=\"to_peer\",site=\"ward-5\"} 1");
  has("turnpike_relay_payloads_total{kind=\"rtp\"} 90");
  has("turnpike_relay_payloads_total{kind=\"stun\"} 0");
  has("turnpike_allocation_loss_ratio{id=\"7\",user=\"\",direction=\"to_peer\"} 0.0909");
  m.allocation_ended(a, turn::EndReason::Deleted, 0);
  text = m.render({&core}, nullptr, 0, 0);
  has("turnpike_allocations_by_quality{site=\"ward-5\",verdict=\"degraded\"} 0");
}

}  // namespace
