// The per-site idle-timer estimate and repeated end marks (server/idle_timers.hpp).
#include <gtest/gtest.h>

#include "server/idle_timers.hpp"

using namespace turnpike;

TEST(IdleTimerEstimate, MidwayBetweenLongestSurvivedAndShortestBroken) {
  auto e = estimate_idle_timer({1.5, 2.5, 3.5, 4.5, 5.5}, {6.5, 7.5, 8.5});
  ASSERT_TRUE(e);
  EXPECT_DOUBLE_EQ(e->seconds, 6.0);
  EXPECT_DOUBLE_EQ(e->lower, 5.5);
  EXPECT_DOUBLE_EQ(e->upper, 6.5);
  EXPECT_EQ(e->contradicting, 0u);
}

TEST(IdleTimerEstimate, NeedsBothKindsOfEvidence) {
  EXPECT_FALSE(estimate_idle_timer({1, 2, 3}, {}));
  EXPECT_FALSE(estimate_idle_timer({1, 2, 3}, {40}));        // one break is not enough
  EXPECT_FALSE(estimate_idle_timer({}, {40, 50, 60}));
  EXPECT_TRUE(estimate_idle_timer({20, 25}, {31, 40}));
}

TEST(IdleTimerEstimate, ToleratesAFewContradictionsButNotMany) {
  // A 30 s timer, with one long silence survived by a client behind another NAT at the site.
  auto e = estimate_idle_timer({5, 10, 20, 25, 29, 120}, {31, 33, 40, 60, 90});
  ASSERT_TRUE(e);
  EXPECT_DOUBLE_EQ(e->seconds, 30.0);
  EXPECT_EQ(e->contradicting, 1u);
  EXPECT_FALSE(estimate_idle_timer({5, 50, 100, 200}, {4, 40, 90, 150}));  // no timer explains this
}

TEST(EndMark, ManySessionsLostAtTheSameAge) {
  std::vector<double> ages = {2700, 2702, 2695, 2710, 2699, 120, 600, 3000};
  auto m = repeated_end_mark(ages);
  ASSERT_TRUE(m);
  EXPECT_NEAR(m->seconds, 2700, 10);
  EXPECT_EQ(m->count, 5u);
  EXPECT_FALSE(repeated_end_mark({100, 400, 900, 1600, 2500, 3600}));
  EXPECT_FALSE(repeated_end_mark({10, 10, 10, 10, 10, 10}));  // short sessions: not a mark
}

TEST(IdleTimers, PerSiteJsonAndMeasurements) {
  IdleTimers t;
  for (double g : {2.0, 3.0, 4.0}) t.gap("hq", true, g);
  for (double g : {6.0, 7.0}) t.gap("hq", false, g);
  t.loss("hq", "rebinding", 30);
  t.measured("branch", 45.0, 1'800'000'000);
  t.measured("lab", std::nullopt, 1'800'000'000);
  auto j = t.to_json();
  ASSERT_EQ(j["sites"].size(), 3u);
  for (const auto& s : j["sites"]) {
    if (s["site"] == "hq") {
      EXPECT_DOUBLE_EQ(s["idle_timer_seconds"].get<double>(), 5.0);
      EXPECT_EQ(s["rebound_gaps"]["count"], 2);
      EXPECT_EQ(s["losses"]["rebinding"], 1);
    } else if (s["site"] == "branch") {
      EXPECT_DOUBLE_EQ(s["measured"]["timeout_seconds"].get<double>(), 45.0);
      EXPECT_TRUE(s["idle_timer_seconds"].is_null());
    } else {
      EXPECT_TRUE(s["measured"]["timeout_seconds"].is_null());
    }
  }
}

// Issue 14 item 7: reports with ever new sites fill only the room for other sites; configured sites
// always get in, and the bound hit is counted.
TEST(IdleTimers, ConfiguredSitesAreNeverCrowdedOut) {
  int full = 0;
  IdleTimers t({"hq", "branch"}, 4, [&] { ++full; });
  for (int i = 0; i < 100; ++i) t.measured("flood-" + std::to_string(i), 30.0, 1000 + i);
  EXPECT_EQ(t.sites().size(), 4u);
  EXPECT_EQ(full, 96);
  EXPECT_EQ(t.overflowed(), 96u);
  t.measured("hq", 45.0, 2000);
  t.gap("branch", true, 12.0);
  t.loss("branch", "timeout", 300);
  auto views = t.sites();
  ASSERT_EQ(views.size(), 6u);
  bool hq = false;
  for (const auto& v : views)
    if (v.site == "hq") hq = v.has_measurement && v.measured_seconds == 45.0;
  EXPECT_TRUE(hq);
  t.measured("flood-0", 31.0, 3000);  // already in: updated, not refused
  EXPECT_EQ(full, 96);
}
