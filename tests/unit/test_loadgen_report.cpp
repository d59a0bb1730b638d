// loadgen/report.hpp: percentiles, per-step summaries and the breakpoint, exit status, report.json
// round trip and validation, timeseries.csv, merge of shards, report.html.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "loadgen/report.hpp"

namespace {

using loadgen::CallRecord;
using loadgen::Report;
using loadgen::Sample;
using loadgen::StepPlan;
using loadgen::StreamStepRecord;

StreamStepRecord stream(uint32_t call, uint8_t dir, uint32_t step, uint64_t expected, uint64_t lost, double jitter,
                        double rtt = -1) {
  StreamStepRecord s;
  s.call = call;
  s.direction = dir;
  s.step = step;
  s.sent = expected;
  s.expected = expected;
  s.lost = lost;
  s.received = expected - lost;
  s.bytes = s.received * 160;
  s.jitter_ms = jitter;
  s.rtt_ms = rtt;
  return s;
}

CallRecord call(uint32_t id, uint32_t step, double setup_ms, bool failed = false, int code = 0) {
  CallRecord c;
  c.call = id;
  c.step = step;
  c.kind = "audio";
  c.started_s = step * 10.0 + id * 0.01;
  c.setup_ms = setup_ms;
  c.relayed[0] = "192.0.2.1:" + std::to_string(40000 + 2 * id);
  c.relayed[1] = "192.0.2.1:" + std::to_string(40001 + 2 * id);
  c.failed = failed;
  if (failed) {
    c.failure_stage = code ? "allocate" : "transport";
    c.failure_code = code;
    c.failure_reason = code ? "Allocation Quota Reached" : "timeout";
    c.failed_s = c.started_s + 1;
  }
  return c;
}

// Two steps of 10 s (targets 10, 20) with healthy calls: 0..9 in step 0, 10..19 in step 1, every
// call carrying both directions in every step from its own on. Shard k of n owns id % n == k-1.
Report healthy(uint32_t shard_k = 1, uint32_t shard_n = 1) {
  Report r;
  r.meta = {{"tool", "turnpike-loadgen"}, {"version", "0.1.0"}, {"command", "turnpike-loadgen --server x"},
            {"server", "192.0.2.1:3478"}, {"transport", "udp"}, {"profile", "audio"}, {"calls", 20},
            {"shard", {{"k", shard_k}, {"n", shard_n}}}, {"start_unix", 1800000000}, {"interval_s", 1.0},
            {"threads", 1}};
  r.steps = {StepPlan{0, 10, 0, 10}, StepPlan{1, 20, 10, 20}};
  for (uint32_t id = 0; id < 20; ++id) {
    if (id % shard_n != shard_k - 1) continue;
    const uint32_t step = id < 10 ? 0 : 1;
    r.calls.push_back(call(id, step, 20 + id));
    for (uint32_t s = step; s < 2; ++s)
      for (uint8_t d = 0; d < 2; ++d) r.streams.push_back(stream(id, d, s, 500, 0, 2.0 + id * 0.1, 10 + id));
  }
  for (int t = 1; t <= 20; ++t) {
    Sample s;
    s.t_s = t;
    s.step = t <= 10 ? 0 : 1;
    s.offered_calls = s.calls_up = (t <= 10 ? 10 : 20) / shard_n;
    s.tx_packets = s.rx_packets = 100ull * s.calls_up;
    s.tx_bytes = s.rx_bytes = 16000ull * s.calls_up;
    s.expected = s.rx_packets;
    s.jitter_p95_ms = 3;
    s.rtt_p50_ms = 12;
    s.rtt_p95_ms = 20;
    s.cpu_pct = 10 + t;
    s.send_lag_p99_ms = 0.5;
    r.timeseries.push_back(s);
  }
  return r;
}

TEST(LoadgenReport, PercentilesByNearestRank) {
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);
  const auto p = loadgen::percentiles(v);
  EXPECT_EQ(p.p50, 50);
  EXPECT_EQ(p.p95, 95);
  EXPECT_EQ(p.p99, 99);
  EXPECT_EQ(p.max, 100);
  std::vector<double> one{7};
  const auto q = loadgen::percentiles(one);
  EXPECT_EQ(q.p50, 7);
  EXPECT_EQ(q.p99, 7);
  std::vector<double> three{3, 1, 2};  // ranks ceil(1.5)=2, ceil(2.85)=3
  const auto t = loadgen::percentiles(three);
  EXPECT_EQ(t.p50, 2);
  EXPECT_EQ(t.p95, 3);
  std::vector<double> none;
  const auto z = loadgen::percentiles(none);
  EXPECT_EQ(z.p50, 0);
  EXPECT_EQ(z.max, 0);
}

TEST(LoadgenReport, SummarizesEachStep) {
  Report r = healthy();
  r.streams[0].lost = 50;  // call 0 a->b in step 0: 10% loss
  r.streams[0].received = 450;
  const auto sums = loadgen::summarize(r);
  ASSERT_EQ(sums.size(), 2u);
  const auto& s0 = sums[0];
  EXPECT_EQ(s0.index, 0u);
  EXPECT_EQ(s0.target_calls, 10u);
  EXPECT_EQ(s0.calls, 10u);
  EXPECT_EQ(s0.directions, 20u);
  EXPECT_EQ(s0.setups_attempted, 10u);
  EXPECT_EQ(s0.setup_failures, 0u);
  EXPECT_EQ(s0.setups_ok, 10u);
  EXPECT_EQ(s0.setup_ms.p50, 24);  // 20..29, rank 5
  EXPECT_EQ(s0.setup_ms.max, 29);
  EXPECT_DOUBLE_EQ(s0.loss_pct.max, 10.0);
  EXPECT_DOUBLE_EQ(s0.loss_pct.p95, 0.0);  // 1 of 20 directions: rank 19 is still 0
  EXPECT_EQ(s0.sent, 20u * 500);
  EXPECT_EQ(s0.lost, 50u);
  EXPECT_EQ(s0.received, 20u * 500 - 50);
  EXPECT_DOUBLE_EQ(s0.throughput_mbps, static_cast<double>(s0.bytes) * 8 / 1e6 / 10);
  EXPECT_DOUBLE_EQ(s0.rtt_ms.max, 19);
  EXPECT_FALSE(s0.breakpoint);
  const auto& s1 = sums[1];
  EXPECT_EQ(s1.calls, 20u);
  EXPECT_EQ(s1.setups_attempted, 10u);  // only the calls opened in step 1
  EXPECT_EQ(s1.directions, 40u);
  EXPECT_FALSE(loadgen::breakpoint(sums));
  EXPECT_EQ(loadgen::exit_status(r), 0);
}

TEST(LoadgenReport, RttOnlyWhereMeasuredAndSilentDirectionsCountAsLost) {
  Report r = healthy();
  for (auto& s : r.streams) s.rtt_ms = -1;
  r.streams[0].rtt_ms = 42;
  // Call 1 b->a in step 0 sent 500 and nothing arrived: no sequence numbers, all lost.
  auto silent = std::find_if(r.streams.begin(), r.streams.end(),
                             [](const StreamStepRecord& s) { return s.call == 1 && s.direction == 1 && s.step == 0; });
  ASSERT_NE(silent, r.streams.end());
  silent->received = silent->expected = silent->lost = 0;
  const auto s0 = loadgen::summarize(r)[0];
  EXPECT_EQ(s0.rtt_directions, 1u);
  EXPECT_EQ(s0.rtt_ms.p50, 42);
  EXPECT_DOUBLE_EQ(s0.loss_pct.max, 100.0);
}

TEST(LoadgenReport, BreakpointOnP95Loss) {
  Report r = healthy();
  for (auto& s : r.streams)
    if (s.step == 1 && s.call < 5) s.lost = 16, s.received = s.expected - 16;  // 3.2% on 10 of 40 directions
  const auto sums = loadgen::summarize(r);
  EXPECT_FALSE(sums[0].breakpoint);
  ASSERT_TRUE(sums[1].breakpoint);
  ASSERT_EQ(sums[1].reasons.size(), 1u);
  EXPECT_EQ(sums[1].reasons[0], "p95 loss 3.20% > 1%");
  EXPECT_EQ(loadgen::breakpoint(sums), 1u);
  EXPECT_EQ(loadgen::exit_status(r), 1);
}

TEST(LoadgenReport, BreakpointOnP95Jitter) {
  Report r = healthy();
  for (auto& s : r.streams)
    if (s.step == 0) s.jitter_ms = 45.06;
  const auto sums = loadgen::summarize(r);
  ASSERT_TRUE(sums[0].breakpoint);
  EXPECT_EQ(sums[0].reasons, std::vector<std::string>{"p95 jitter 45.1 ms > 30 ms"});
  EXPECT_EQ(loadgen::breakpoint(sums), 0u);
}

TEST(LoadgenReport, BreakpointOnSetupFailures) {
  Report r = healthy();
  r.calls[12] = call(12, 1, -1, true, 486);  // 1 of 10 opened in step 1
  const auto sums = loadgen::summarize(r);
  EXPECT_EQ(sums[1].setup_failures, 1u);
  EXPECT_DOUBLE_EQ(sums[1].setup_failure_pct, 10.0);
  ASSERT_TRUE(sums[1].breakpoint);
  EXPECT_EQ(sums[1].reasons, std::vector<std::string>{"setup failures 10.00% (1 of 10) > 1%"});
  EXPECT_EQ(loadgen::failures_by_code(r), nlohmann::json({{"486", 1}}));
  // A call that set up and failed later is a failure, not a setup failure.
  Report later = healthy();
  later.calls[3].failed = true;
  later.calls[3].failure_stage = "refresh";
  later.calls[3].failure_reason = "timeout";
  EXPECT_FALSE(loadgen::breakpoint(loadgen::summarize(later)));
  EXPECT_EQ(loadgen::failures_by_code(later), nlohmann::json({{"timeout", 1}}));
  EXPECT_EQ(loadgen::exit_status(later), 1);
  EXPECT_EQ(loadgen::to_json(later)["result"], "failures");
}

TEST(LoadgenReport, ThresholdsComeFromTheReport) {
  Report r = healthy();
  r.thresholds.p95_jitter_ms = 3.0;  // the healthy jitter is 2.0..3.9 ms
  EXPECT_TRUE(loadgen::breakpoint(loadgen::summarize(r)));
}

TEST(LoadgenReport, RunErrorsMakeTheExitStatusOne) {
  Report r = healthy();
  r.errors.push_back("server stopped answering at 12.3 s");
  EXPECT_EQ(loadgen::exit_status(r), 1);
}

TEST(LoadgenReport, JsonLayoutAndRoundTrip) {
  Report r = healthy();
  r.calls[12] = call(12, 1, -1, true, 486);
  r.self_check.trustworthy = false;
  r.self_check.reasons = {"cpu p95 97% of a core"};
  r.errors = {"something"};
  const auto j = loadgen::to_json(r);
  for (const char* k : {"meta", "thresholds", "steps", "breakpoint", "totals", "failures", "self_check", "errors",
                        "calls", "streams", "timeseries", "result", "exit_status"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["totals"]["calls"], 20);
  EXPECT_EQ(j["totals"]["setups_ok"], 19);
  EXPECT_EQ(j["totals"]["failures"], 1);
  EXPECT_EQ(j["failures"]["by_code"]["486"], 1);
  EXPECT_EQ(j["failures"]["events"][0]["code"], 486);
  EXPECT_EQ(j["breakpoint"]["step"], 1);
  EXPECT_EQ(j["breakpoint"]["target_calls"], 20);
  EXPECT_EQ(j["steps"][1]["loss_pct"]["p95"], 0.0);
  EXPECT_EQ(j["steps"][0]["start_s"], 0.0);
  EXPECT_EQ(j["result"], "breakpoint");
  EXPECT_EQ(j["exit_status"], 1);

  Report back;
  std::string error;
  ASSERT_TRUE(loadgen::from_json(nlohmann::json::parse(j.dump()), back, error)) << error;
  EXPECT_EQ(loadgen::to_json(back), j);
}

TEST(LoadgenReport, JsonDumpsWhateverBytesTheStringsHold) {
  Report r = healthy();
  r.meta["command"] = std::string("turnpike-loadgen --user \xff\xfe");
  r.calls[0].failed = true;
  r.calls[0].failure_reason = std::string("quota \xc3");  // a server's reason phrase cut mid-character
  const auto j = loadgen::to_json(r);
  EXPECT_NO_THROW((void)j.dump());
  EXPECT_EQ(j["calls"][0]["failure_reason"], "quota ?");
}

TEST(LoadgenReport, FromJsonRejectsMalformedReports) {
  const auto good = loadgen::to_json(healthy());
  const auto rejects = [&](auto mutate, const std::string& where) {
    nlohmann::json j = good;
    mutate(j);
    Report out;
    std::string error;
    EXPECT_FALSE(loadgen::from_json(j, out, error)) << where;
    EXPECT_NE(error.find(where), std::string::npos) << error;
  };
  rejects([](auto& j) { j = nlohmann::json::array(); }, "not a JSON object");
  rejects([](auto& j) { j.erase("meta"); }, "meta is missing");
  rejects([](auto& j) { j["meta"]["tool"] = "other"; }, "meta.tool");
  rejects([](auto& j) { j["calls"][3]["step"] = -1; }, "calls[3].step");
  rejects([](auto& j) { j["calls"][3]["step"] = 1.5; }, "calls[3].step");
  rejects([](auto& j) { j["calls"][3]["step"] = 7; }, "calls[3].step 7 is not a step");
  rejects([](auto& j) { j["calls"][0].erase("setup_ms"); }, "calls[0].setup_ms is missing");
  rejects([](auto& j) { j["streams"][2]["lost"] = "many"; }, "streams[2].lost");
  rejects([](auto& j) { j["streams"][2]["direction"] = 2; }, "streams[2].direction");
  rejects([](auto& j) { j["streams"][2]["sent"] = -4; }, "streams[2].sent");
  rejects([](auto& j) { j["timeseries"][0]["t_s"] = nullptr; }, "timeseries[0].t_s");
  rejects([](auto& j) { j["steps"] = nlohmann::json::object(); }, "steps is not an array");
  rejects([](auto& j) { j["steps"][1]["index"] = 5; }, "steps[1].index");
  rejects([](auto& j) { j["thresholds"]["p95_loss_pct"] = true; }, "thresholds.p95_loss_pct");
  rejects([](auto& j) { j["self_check"]["reasons"] = {1, 2}; }, "self_check.reasons");
  rejects([](auto& j) { j["errors"] = "x"; }, "errors");
  rejects([](auto& j) { j["meta"]["shard"] = {{"k", 3}, {"n", 2}}; }, "meta.shard.k");
  rejects([](auto& j) { j["calls"][1]["failure_code"] = 70000; }, "calls[1].failure_code");
  rejects([](auto& j) { j["calls"][2]["relayed"] = {"192.0.2.1:40004"}; }, "calls[2].relayed");
  rejects([](auto& j) { j["calls"][2]["relayed"] = {"192.0.2.1:40004", 5}; }, "calls[2].relayed");
}

TEST(LoadgenReport, RtcpRecordsRoundTripAndAreChecked) {
  Report r = healthy();
  loadgen::RtcpStreamRecord s;
  s.direction = 1;
  s.ssrc = 0xdeadbeef;
  s.clock_rate = 48000;
  s.reports = 5;
  s.recent = {{12, 3, 65636, 96, 2.5}, {0, -2, 65736, 48, 4.5}};
  r.calls[1].rtcp.push_back(s);
  const auto j = loadgen::to_json(r);
  EXPECT_EQ(j["calls"][0]["rtcp"], nlohmann::json::array());
  EXPECT_EQ(j["calls"][1]["rtcp"][0]["recent"][1]["cumulative_lost"], -2);
  Report back;
  std::string error;
  ASSERT_TRUE(loadgen::from_json(nlohmann::json::parse(j.dump()), back, error)) << error;
  EXPECT_EQ(loadgen::to_json(back), j);
  const auto rejects = [&](auto mutate, const std::string& where) {
    nlohmann::json m = j;
    mutate(m);
    Report out;
    std::string err;
    EXPECT_FALSE(loadgen::from_json(m, out, err)) << where;
    EXPECT_NE(err.find(where), std::string::npos) << err;
  };
  rejects([](auto& m) { m["calls"][1]["rtcp"] = 3; }, "calls[1].rtcp is not an array");
  rejects([](auto& m) { m["calls"][1]["rtcp"][0]["direction"] = 2; }, "calls[1].rtcp[0].direction");
  rejects([](auto& m) { m["calls"][1]["rtcp"][0]["recent"][0]["cumulative_lost"] = 1 << 24; },
          "calls[1].rtcp[0].recent[0].cumulative_lost");
  rejects([](auto& m) { m["calls"][1]["rtcp"][0]["recent"][0]["fraction_lost"] = 256; },
          "calls[1].rtcp[0].recent[0].fraction_lost");
  rejects([](auto& m) {
    for (int i = 0; i < 3; ++i) m["calls"][1]["rtcp"][0]["recent"].push_back(m["calls"][1]["rtcp"][0]["recent"][0]);
  }, "calls[1].rtcp[0].recent has more than 4");
}

TEST(LoadgenReport, FromJsonReadsReportsWithoutRelayedAddresses) {
  // Reports written before calls[].relayed existed still read (and merge): the addresses are "".
  nlohmann::json j = loadgen::to_json(healthy());
  EXPECT_EQ(j["calls"][0]["relayed"], nlohmann::json::array({"192.0.2.1:40000", "192.0.2.1:40001"}));
  for (auto& c : j["calls"]) c.erase("relayed");
  Report out;
  std::string error;
  ASSERT_TRUE(loadgen::from_json(j, out, error)) << error;
  EXPECT_EQ(out.calls[0].relayed[0], "");
  EXPECT_EQ(out.calls[0].relayed[1], "");
}

TEST(LoadgenReport, CsvHasAHeaderAndOneRowPerSample) {
  Report r = healthy();
  r.timeseries[0].lost = 10;
  const std::string csv = loadgen::to_csv(r);
  const std::string header = csv.substr(0, csv.find('\n'));
  EXPECT_EQ(header,
            "t_s,step,offered_calls,calls_up,tx_packets,rx_packets,tx_bytes,rx_bytes,expected,lost,setups,failures,"
            "jitter_p95_ms,rtt_p50_ms,rtt_p95_ms,setup_p95_ms,cpu_pct,send_lag_p99_ms,tx_mbps,rx_mbps,loss_pct");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 21);
  // First sample: 10 calls, 160000 bytes in 1 s = 1.28 Mbit/s, 10 of 1000 lost = 1%.
  const std::string row = csv.substr(header.size() + 1, csv.find('\n', header.size() + 1) - header.size() - 1);
  EXPECT_EQ(row, "1.000,0,10,10,1000,1000,160000,160000,1000,10,0,0,3.000,12.000,20.000,-1.000,11.0,0.500,1.280,1.280,1.000");
}

TEST(LoadgenReport, MergeSumsShardsAndRecomputesPercentiles) {
  const Report a = healthy(1, 2), b = healthy(2, 2), whole = healthy();
  Report m;
  std::string error;
  ASSERT_TRUE(loadgen::merge({a, b}, m, error)) << error;
  const auto ja = loadgen::to_json(a), jb = loadgen::to_json(b), jm = loadgen::to_json(m);
  for (const char* k : {"calls", "setups_ok", "failures", "sent", "received", "lost", "bytes"})
    EXPECT_EQ(jm["totals"][k].get<uint64_t>(), ja["totals"][k].get<uint64_t>() + jb["totals"][k].get<uint64_t>()) << k;
  // Percentiles over the union are those of the unsharded run.
  const auto sm = loadgen::summarize(m), sw = loadgen::summarize(whole);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(sm[i].setup_ms.p50, sw[i].setup_ms.p50);
    EXPECT_EQ(sm[i].jitter_ms.p95, sw[i].jitter_ms.p95);
    EXPECT_EQ(sm[i].rtt_ms.p99, sw[i].rtt_ms.p99);
    EXPECT_EQ(sm[i].calls, sw[i].calls);
  }
  EXPECT_EQ(jm["meta"]["shard"]["k"], "merged");
  EXPECT_EQ(jm["meta"]["shard"]["n"], 2);
  EXPECT_EQ(jm["meta"]["merged_from"], nlohmann::json({1, 2}));
  EXPECT_EQ(jm["meta"]["percentiles_in_timeseries"], "max over shards");
  ASSERT_EQ(m.timeseries.size(), 20u);
  EXPECT_EQ(m.timeseries[0].offered_calls, 10u);
  EXPECT_EQ(m.timeseries[0].tx_bytes, 160000u);
  EXPECT_EQ(m.timeseries[19].calls_up, 20u);
  EXPECT_EQ(m.timeseries[19].cpu_pct, 30);  // max, not sum
  // The merged report reads back and merges no further with its own shards.
  Report back;
  ASSERT_TRUE(loadgen::from_json(jm, back, error)) << error;
  EXPECT_FALSE(loadgen::merge({back, a}, m, error));
}

TEST(LoadgenReport, MergeKeepsTheLastLevelOfASampleInTheSameSlot) {
  // Each shard's last sample (the end of the run, 20.004 s) lands in the slot of its 20 s sample:
  // its counts add up, but calls offered and up are levels, the later one's, then summed over shards.
  Report a = healthy(1, 2), b = healthy(2, 2);
  for (Report* r : {&a, &b}) {
    Sample end = r->timeseries.back();
    end.t_s = 20.004;
    end.tx_packets = 7;
    r->timeseries.push_back(end);
  }
  Report m;
  std::string error;
  ASSERT_TRUE(loadgen::merge({a, b}, m, error)) << error;
  ASSERT_EQ(m.timeseries.size(), 20u);
  EXPECT_EQ(m.timeseries[19].calls_up, 20u);
  EXPECT_EQ(m.timeseries[19].offered_calls, 20u);
  EXPECT_EQ(m.timeseries[19].tx_packets, 2 * (1000u + 7u));
}

TEST(LoadgenReport, MergeConcatenatesErrorsAndTakesTheWorstSelfCheck) {
  Report a = healthy(1, 2), b = healthy(2, 2);
  b.self_check = {95, 40, false, {"cpu p95 95% of a core"}};
  a.errors = {"server stopped answering at 3.0 s"};
  Report m;
  std::string error;
  ASSERT_TRUE(loadgen::merge({a, b}, m, error)) << error;
  EXPECT_FALSE(m.self_check.trustworthy);
  EXPECT_EQ(m.self_check.cpu_p95_pct, 95);
  EXPECT_EQ(m.self_check.reasons, std::vector<std::string>{"shard 2/2: cpu p95 95% of a core"});
  EXPECT_EQ(m.errors, std::vector<std::string>{"shard 1/2: server stopped answering at 3.0 s"});
}

TEST(LoadgenReport, MergeRejectsOtherPlansAndTheSameShardTwice) {
  const Report a = healthy(1, 2), b = healthy(2, 2);
  Report m;
  std::string error;
  Report other = b;
  other.steps[1].target_calls = 40;
  EXPECT_FALSE(loadgen::merge({a, other}, m, error));
  EXPECT_NE(error.find("not of the same plan"), std::string::npos) << error;
  other = b;
  other.thresholds.p95_loss_pct = 0.1;
  EXPECT_FALSE(loadgen::merge({a, other}, m, error));
  EXPECT_NE(error.find("thresholds"), std::string::npos) << error;
  other = b;
  other.meta["interval_s"] = 5.0;
  EXPECT_FALSE(loadgen::merge({a, other}, m, error));
  EXPECT_NE(error.find("interval"), std::string::npos) << error;
  EXPECT_FALSE(loadgen::merge({a, a}, m, error));
  EXPECT_NE(error.find("given twice"), std::string::npos) << error;
  other = a;  // the same calls under another shard number
  other.meta["shard"]["k"] = 2;
  EXPECT_FALSE(loadgen::merge({a, other}, m, error));
  EXPECT_NE(error.find("call 0 is in both"), std::string::npos) << error;
  EXPECT_FALSE(loadgen::merge({}, m, error));
}

TEST(LoadgenReport, HtmlHasEveryPlotTheBreakpointAndNoFetches) {
  Report r = healthy();
  for (auto& s : r.streams)
    if (s.step == 1) s.jitter_ms = 50;
  r.meta["command"] = "turnpike-loadgen --user '<script>alert(1)</script>'";
  r.self_check = {99, 80, false, {"send lag p99 80 ms > 20 ms"}};
  const std::string html = loadgen::to_html(r);
  for (const char* id : {"loss-vs-load", "jitter-vs-load", "rtt-vs-load", "throughput-vs-load", "setup-vs-load",
                         "throughput-time", "loss-time", "jitter-time", "rtt-time", "calls-time", "cpu-time"})
    EXPECT_NE(html.find(std::string("data-plot=\"") + id + "\""), std::string::npos) << id;
  EXPECT_NE(html.find("<line class=\"breakpoint\""), std::string::npos);
  EXPECT_NE(html.find("<rect class=\"breakpoint\""), std::string::npos);
  EXPECT_NE(html.find("Breakpoint at step 1 (20 calls): p95 jitter 50.0 ms &gt; 30 ms"), std::string::npos);
  EXPECT_NE(html.find("class=\"warning self-check\""), std::string::npos);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_NE(html.find("class=\"series s0\""), std::string::npos);

  const std::string ok = loadgen::to_html(healthy());
  EXPECT_EQ(ok.find("class=\"breakpoint\""), std::string::npos);
  EXPECT_NE(ok.find("No breakpoint up to 20 calls"), std::string::npos);
  EXPECT_EQ(ok.find("self-check\""), std::string::npos);
}

TEST(LoadgenReport, HtmlSaysNoDataInsteadOfAnEmptyPlot) {
  Report r = healthy();
  for (auto& s : r.streams) s.rtt_ms = -1;
  for (auto& s : r.timeseries) s.rtt_p50_ms = s.rtt_p95_ms = -1;
  const std::string html = loadgen::to_html(r);
  const auto at = html.find("data-plot=\"rtt-vs-load\"");
  ASSERT_NE(at, std::string::npos);
  const std::string plot = html.substr(at, html.find("</svg>", at) - at);
  EXPECT_NE(plot.find(">no data</text>"), std::string::npos);
  EXPECT_EQ(plot.find("class=\"series"), std::string::npos);
  const std::string empty = loadgen::to_html(Report{});
  EXPECT_NE(empty.find(">no data</text>"), std::string::npos);
}

}  // namespace

TEST(LoadgenReport, TimePlotsEndAtTheLastSampleAndTheStepsTableScrollsInItsBox) {
  Report r = healthy();
  r.steps.back().end_s = 60;            // the plan went on to 60 s, the run ended at 17.3 s
  r.timeseries.resize(17);
  r.timeseries.push_back(r.timeseries.back());
  r.timeseries.back().t_s = 17.3;
  const std::string html = loadgen::to_html(r);
  const auto at = html.find("data-plot=\"loss-time\"");   // y: 0-1 %, so 15 and 20 are x ticks
  ASSERT_NE(at, std::string::npos);
  const std::string plot = html.substr(at, html.find("</svg>", at) - at);
  // Ticks every 5 s up to 15; no 20 (the next round tick) and nothing toward the plan's 60 s.
  EXPECT_NE(plot.find(">15</text>"), std::string::npos);
  EXPECT_EQ(plot.find(">20</text>"), std::string::npos);
  EXPECT_EQ(plot.find(">60</text>"), std::string::npos);
  EXPECT_NE(html.find("<div class=\"scroll\"><table class=\"steps\">"), std::string::npos);
  EXPECT_NE(html.find(".scroll{max-width:100%;overflow-x:auto}"), std::string::npos);
}
