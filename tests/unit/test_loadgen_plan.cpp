// loadgen::Plan: step windows, ramps from the previous target, max-duration, and shards.
#include <gtest/gtest.h>

#include "loadgen/plan.hpp"

using loadgen::Plan;
using loadgen::PlanConfig;

TEST(LoadgenPlan, CallsIsOneStepRampedThenHeld) {
  PlanConfig c;
  c.steps = {100};
  c.ramp_per_s = 20;
  c.duration_ms = 30000;
  Plan p(c);
  ASSERT_EQ(p.steps().size(), 1u);
  EXPECT_EQ(p.steps()[0].target_calls, 100u);
  EXPECT_DOUBLE_EQ(p.steps()[0].start_s, 0);
  EXPECT_DOUBLE_EQ(p.steps()[0].end_s, 35);   // 5 s of ramp + 30 s hold
  EXPECT_EQ(p.end_ms(), 35000);
  EXPECT_EQ(p.target_at(0), 1u);              // the first call opens at the start
  EXPECT_EQ(p.target_at(999), 20u);
  EXPECT_EQ(p.target_at(2500), 51u);
  EXPECT_EQ(p.target_at(5000), 100u);
  EXPECT_EQ(p.target_at(20000), 100u);
  EXPECT_EQ(p.step_at(34000), 0u);
}

TEST(LoadgenPlan, ZeroRampOpensEverythingAtOnce) {
  PlanConfig c;
  c.steps = {40};
  c.ramp_per_s = 0;
  c.duration_ms = 1000;
  Plan p(c);
  EXPECT_EQ(p.target_at(0), 40u);
  EXPECT_EQ(p.end_ms(), 1000);
}

TEST(LoadgenPlan, StepsRampFromThePreviousTarget) {
  PlanConfig c;
  c.steps = {50, 100, 200};
  c.ramp_per_s = 10;
  c.step_duration_ms = 30000;
  c.duration_ms = 20000;
  Plan p(c);
  ASSERT_EQ(p.steps().size(), 3u);
  EXPECT_DOUBLE_EQ(p.steps()[1].start_s, 30);
  EXPECT_DOUBLE_EQ(p.steps()[2].start_s, 60);
  EXPECT_DOUBLE_EQ(p.steps()[2].end_s, 60 + 10 + 20);   // ramp 100 -> 200 at 10/s, then the hold
  EXPECT_EQ(p.step_at(29999), 0u);
  EXPECT_EQ(p.step_at(30000), 1u);
  EXPECT_EQ(p.target_at(29999), 50u);
  EXPECT_EQ(p.target_at(30000), 51u);
  EXPECT_EQ(p.target_at(34999), 100u);
  EXPECT_EQ(p.target_at(40000), 100u);
  EXPECT_EQ(p.target_at(65000), 151u);
  EXPECT_EQ(p.end_ms(), 90000);
}

TEST(LoadgenPlan, DecreasingStepRampsDown) {
  PlanConfig c;
  c.steps = {100, 40};
  c.ramp_per_s = 20;
  c.step_duration_ms = 10000;
  c.duration_ms = 5000;
  Plan p(c);
  EXPECT_EQ(p.target_at(10000), 100u);
  EXPECT_EQ(p.target_at(11000), 80u);
  EXPECT_EQ(p.target_at(13000), 40u);
}

TEST(LoadgenPlan, MaxDurationBoundsTheRun) {
  PlanConfig c;
  c.steps = {10};
  c.ramp_per_s = 0;
  c.duration_ms = 60000;
  c.max_duration_ms = 5000;
  EXPECT_EQ(Plan(c).end_ms(), 5000);
  c.max_duration_ms = 0;   // default: the plan plus 30 s, so the plan's end
  Plan p(c);
  EXPECT_EQ(p.end_ms(), 60000);
  EXPECT_EQ(p.config().max_duration_ms, 90000);
}

TEST(LoadgenPlan, ShardsSplitIdsAndTargets) {
  PlanConfig c;
  c.steps = {10};
  c.ramp_per_s = 0;
  c.duration_ms = 1000;
  c.shard_n = 3;
  uint32_t total = 0;
  for (uint32_t k = 1; k <= 3; ++k) {
    c.shard_k = k;
    Plan p(c);
    uint32_t owned = 0;
    for (uint32_t id = 0; id < 10; ++id) owned += p.owns(id);
    EXPECT_EQ(p.owned_target_at(0), owned) << "shard " << k;
    total += p.owned_target_at(0);
  }
  EXPECT_EQ(total, 10u);
  c.shard_k = 3;
  c.steps = {2};
  EXPECT_EQ(Plan(c).owned_target_at(0), 0u);   // ids 0 and 1 belong to shards 1 and 2
}

TEST(LoadgenPlan, OwnedTargetSumsToTargetAlongARamp) {
  PlanConfig c;
  c.steps = {37};
  c.ramp_per_s = 7;
  c.duration_ms = 1000;
  c.shard_n = 4;
  for (int64_t t = 0; t < 7000; t += 250) {
    uint32_t sum = 0;
    for (uint32_t k = 1; k <= 4; ++k) {
      c.shard_k = k;
      sum += Plan(c).owned_target_at(t);
    }
    c.shard_k = 1;
    EXPECT_EQ(sum, Plan(c).target_at(t)) << "t=" << t;
  }
}

TEST(LoadgenPlan, ParseShard) {
  EXPECT_EQ(loadgen::parse_shard("1/1"), (std::pair<uint32_t, uint32_t>{1, 1}));
  EXPECT_EQ(loadgen::parse_shard("3/4"), (std::pair<uint32_t, uint32_t>{3, 4}));
  EXPECT_EQ(loadgen::parse_shard("1024/1024"), (std::pair<uint32_t, uint32_t>{1024, 1024}));
  for (const char* bad : {"", "/", "0/1", "2/1", "1/1025", "1/", "/2", "a/b", "1/2/3", "1 /2", "-1/2", "1/2x"})
    EXPECT_FALSE(loadgen::parse_shard(bad)) << bad;
}
