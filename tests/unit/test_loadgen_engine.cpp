// loadgen::Engine end to end without sockets: its flows are 5-tuples of the real in-process
// turn::Core (core_fixture.hpp: fake relays, recording sink) on a simulated clock; what a relay
// sends to another allocation's relayed address comes in on that relay (handle_peer).
#include <deque>
#include <functional>
#include <map>
#include <set>

#include "core_fixture.hpp"
#include "loadgen/engine.hpp"

namespace {

using loadgen::Engine;
using loadgen::EngineConfig;
using loadgen::Report;

class EngineHarness : public CoreTest, public loadgen::FlowSink {
 protected:
  // FlowSink: a flow is a client 5-tuple of the core; events are handed back after each call.
  void open_flow(uint64_t flow, uint32_t) override {
    FiveTuple ft = client(static_cast<uint16_t>(20000 + flows.size()));
    ft.transport = transport;
    flows[flow] = ft;
    by_tuple[ft.client.port] = flow;
    opened.push_back(flow);
    ++opens;
  }
  void send(uint64_t flow, std::span<const uint8_t> bytes) override {
    ASSERT_FALSE(closed.count(flow)) << "send on a closed flow";
    outgoing.push_back({flow, {bytes.begin(), bytes.end()}});
    if (log_channel_data && !bytes.empty() && (bytes[0] & 0xc0) == 0x40) sent_log.emplace_back(flow, bytes.size());
  }
  void close_flow(uint64_t flow) override {
    EXPECT_TRUE(closed.insert(flow).second) << "flow closed twice";
  }
  double cpu_pct_since_last(int64_t) override { return 3.0; }

  EngineConfig config(uint32_t calls, loadgen::Profile profile, int64_t duration_ms) {
    EngineConfig c;
    c.plan.steps = {calls};
    c.plan.ramp_per_s = 10;
    c.plan.duration_ms = duration_ms;
    c.profile = profile;
    c.transport = transport;
    c.user = "alice";
    c.password = "wonderland";
    c.start_unix = now.unix_s;
    c.seed = 42;
    return c;
  }

  Now core_now(int64_t t_us) const {
    return Now{base.mono_ms + t_us / 1000, base.unix_s + t_us / 1000000};
  }

  // Moves everything that is ready: opens, client -> core, core -> client, relay -> relay.
  void settle(Engine& e, int64_t t_us) {
    now = core_now(t_us);
    for (int round = 0; round < 1000; ++round) {
      bool moved = false;
      while (!delayed.empty() && delayed.front().first <= t_us) {
        moved = true;
        route(delayed.front().second);
        delayed.pop_front();
      }
      for (auto f : std::exchange(opened, {})) {
        moved = true;
        e.on_flow_opened(f, t_us);
      }
      for (auto& [flow, bytes] : std::exchange(outgoing, {})) {
        moved = true;
        if (drop_flow && drop_flow(flow)) continue;
        if (!server_down && !closed.count(flow)) core->handle(bytes, flows[flow], now);
      }
      while (!sink.client.empty()) {
        Sent s = std::move(sink.client.front());
        sink.client.pop_front();
        moved = true;
        auto it = by_tuple.find(s.to.client.port);
        if (it != by_tuple.end() && !closed.count(it->second)) e.on_receive(it->second, s.bytes, t_us);
      }
      for (auto& p : std::exchange(sink.peer, {})) {
        moved = true;
        if (peer_delay_us > 0) delayed.emplace_back(t_us + peer_delay_us, std::move(p));
        else route(p);
      }
      if (!moved) return;
    }
    ADD_FAILURE() << "still moving after 1000 rounds";
  }

  // A relay's datagram to a peer that is another allocation's relayed address.
  void route(const ToPeer& p) {
    uint64_t to = 0;
    Endpoint from{};
    core->for_each_allocation([&](const Allocation& a) {
      for (size_t i = 0; i < a.relay_count; ++i) {
        if (a.relays[i].address == p.peer) to = a.relays[i].handle;
        if (a.relays[i].handle == p.handle) from = a.relays[i].address;
      }
    });
    if (to) core->handle_peer(to, from, p.bytes, now);
  }

  // Runs the engine on the simulated clock until it is done (bounded).
  Report run(Engine& e, int64_t limit_us, std::function<void(int64_t)> at_each = {}) {
    int64_t t = 0;
    for (int i = 0; i < 2000000 && !e.done() && t < limit_us; ++i) {
      e.tick(t);
      settle(e, t);
      if (at_each) at_each(t);
      int64_t next = e.next_wakeup_us();
      t = std::max(t + 100, std::min(next, t + 20000));
      if (i % 200 == 0) core->tick(core_now(t));
    }
    EXPECT_TRUE(e.done()) << "the run did not end by itself";
    return e.finish();
  }

  turn::Transport transport = turn::Transport::Udp;
  bool server_down = false;
  int64_t peer_delay_us = 0;                                  // relay -> relay latency
  std::deque<std::pair<int64_t, ToPeer>> delayed;             // (due, datagram)
  std::function<bool(uint64_t flow)> drop_flow;               // client -> server drops
  Now base{1'000'000, 1'800'000'000};
  std::map<uint64_t, FiveTuple> flows;
  std::map<uint16_t, uint64_t> by_tuple;
  std::vector<uint64_t> opened;
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> outgoing;
  std::set<uint64_t> closed;
  size_t opens = 0;
  bool log_channel_data = false;
  std::vector<std::pair<uint64_t, size_t>> sent_log;   // (flow, size) of ChannelData sent
};

uint64_t sum_sent(const Report& r) {
  uint64_t n = 0;
  for (const auto& s : r.streams) n += s.sent;
  return n;
}

}  // namespace

namespace {

class LoadgenEngine : public EngineHarness {
 protected:
  LoadgenEngine() {
    quotas = std::make_shared<Quotas>(1000, 1000);
    core = std::make_unique<Core>(CoreConfig{}, auth, policy, quotas, relays, sink);
  }
  size_t allocations() {
    size_t n = 0;
    core->for_each_allocation([&](const Allocation&) { ++n; });
    return n;
  }
};

TEST_F(LoadgenEngine, AudioAndVideoCallsCarryMediaWithoutLoss) {
  Engine e(config(4, loadgen::Profile::Video, 3000), *this);
  Report r = run(e, 30'000'000);
  ASSERT_EQ(r.calls.size(), 4u);
  for (const auto& c : r.calls) {
    EXPECT_FALSE(c.failed) << c.call << ": " << c.failure_stage << " " << c.failure_reason;
    EXPECT_GE(c.setup_ms, 0) << c.call;
    EXPECT_LT(c.setup_ms, 100) << c.call;
    EXPECT_EQ(c.kind, "video");
    // The relayed addresses of a and b, as the server's records of the two allocations show them.
    for (const auto& a : c.relayed) EXPECT_TRUE(turn::Endpoint::parse(a).has_value()) << c.call << ": " << a;
    EXPECT_NE(c.relayed[0], c.relayed[1]) << c.call;
  }
  ASSERT_EQ(r.streams.size(), 8u);   // one step, two directions per call
  for (const auto& s : r.streams) {
    EXPECT_GT(s.sent, 150u);          // audio at 50/s and video at 30 frames/s for ~3 s
    EXPECT_EQ(s.received, s.sent) << "call " << s.call << " dir " << int(s.direction);
    EXPECT_EQ(s.expected, s.received);
    EXPECT_EQ(s.lost, 0u);
    EXPECT_EQ(s.duplicates, 0u);
    EXPECT_GE(s.rtt_ms, 0);
  }
  EXPECT_GE(r.timeseries.size(), 3u);
  uint64_t tx = 0, rx = 0, setups = 0;
  for (const auto& s : r.timeseries) {
    tx += s.tx_packets;
    rx += s.rx_packets;
    setups += s.setups;
    EXPECT_DOUBLE_EQ(s.cpu_pct, 3.0);
  }
  EXPECT_EQ(tx, sum_sent(r));
  EXPECT_EQ(rx, tx);
  EXPECT_EQ(setups, 4u);
  EXPECT_EQ(r.timeseries[1].calls_up, 4u);
  EXPECT_TRUE(r.self_check.trustworthy);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.meta["tool"], "turnpike-loadgen");
  EXPECT_EQ(r.meta["profile"], "video");
  EXPECT_EQ(closed.size(), opens);        // every flow closed
  EXPECT_EQ(allocations(), 0u);           // and every allocation released (Refresh 0)
  EXPECT_EQ(loadgen::exit_status(r), 0);
}

TEST_F(LoadgenEngine, ReceiverReportsCrossBothRelaysAndAreRecorded) {
  // --rtcp 500ms: every call-direction's receiver reports to its sender through both relays. The
  // relay's analyser (turn::MediaQuality) reads the blocks: what it last saw about each stream is
  // the last block loadgen sent. Some of b's media to a is dropped, so the figures are not zero.
  EngineConfig cfg = config(3, loadgen::Profile::Video, 3000);
  cfg.rtcp_interval_ms = 500;
  Engine e(cfg, *this);
  uint64_t n = 0;
  drop_flow = [&](uint64_t flow) { return (flow & 1) == 1 && ++n % 7 == 0; };  // side b's sends: every 7th
  struct Seen { uint8_t fraction; int32_t cumulative; uint32_t jitter; };
  std::map<uint32_t, Seen> at_relay;   // by SSRC: the last report block the relays saw about it
  Report r = run(e, 30'000'000, [&](int64_t) {
    core->for_each_allocation([&](const Allocation& a) {
      for (int d = 0; d < 2; ++d)
        for (const auto& s : a.quality.direction(static_cast<turn::MediaQuality::Dir>(d)).streams)
          if (s.reported) at_relay[s.ssrc] = {s.reported_fraction, s.reported_cumulative, s.reported_jitter};
    });
  });
  drop_flow = nullptr;
  ASSERT_EQ(r.calls.size(), 3u);
  EXPECT_EQ(r.meta["rtcp_interval_s"], 0.5);
  size_t lossy = 0;
  for (const auto& c : r.calls) {
    EXPECT_FALSE(c.failed) << c.call << ": " << c.failure_stage << " " << c.failure_reason;
    ASSERT_EQ(c.rtcp.size(), 4u) << c.call;   // audio + video, each way
    for (const auto& s : c.rtcp) {
      EXPECT_GE(s.reports, 4u) << c.call;      // ~3 s of media, one every 0.5 s
      EXPECT_TRUE(s.clock_rate == 48000 || s.clock_rate == 90000) << s.clock_rate;
      ASSERT_EQ(s.recent.size(), loadgen::RtcpStreamRecord::kKept);
      for (size_t i = 1; i < s.recent.size(); ++i) {
        EXPECT_GT(s.recent[i].sent_s, s.recent[i - 1].sent_s);
        EXPECT_GE(s.recent[i].cumulative_lost, s.recent[i - 1].cumulative_lost);
      }
      // The report blocks b sends about a's streams cross b's lossy uplink (every 7th of its
      // datagrams dropped): one may be lost, so the relay may hold an earlier one; a's arrive.
      auto it = at_relay.find(s.ssrc);
      ASSERT_NE(it, at_relay.end()) << "no report about ssrc " << s.ssrc << " reached the relays";
      const Seen& v = it->second;
      size_t age = s.recent.size();   // 0: the last one sent
      for (size_t i = 0; i < s.recent.size(); ++i) {
        const auto& b = s.recent[s.recent.size() - 1 - i];
        if (v.fraction == b.fraction_lost && v.cumulative == b.cumulative_lost && v.jitter == b.jitter) {
          age = i;
          break;
        }
      }
      const auto& last = s.recent.back();
      EXPECT_TRUE(age == 0 || (s.direction == 0 && age < s.recent.size()))
          << "call " << c.call << " dir " << int(s.direction) << " ssrc " << s.ssrc << ": relay saw " << int(v.fraction)
          << "/" << v.cumulative << "/" << v.jitter << ", loadgen last sent " << int(last.fraction_lost) << "/"
          << last.cumulative_lost << "/" << last.jitter << " (found " << age << " back)";
      if (s.direction == 1) lossy += last.cumulative_lost > 0;
    }
  }
  EXPECT_GT(lossy, 0u) << "b -> a lost nothing: the drop did not bite";
  // The reports are not media: a lossless direction still received every packet sent.
  for (const auto& s : r.streams) {
    if (s.direction == 0) {
      EXPECT_EQ(s.received, s.sent) << "call " << s.call;
    }
  }
  // The JSON carries them, and reads back.
  const auto j = loadgen::to_json(r);
  EXPECT_EQ(j["calls"][0]["rtcp"].size(), 4u);
  Report back;
  std::string error;
  ASSERT_TRUE(loadgen::from_json(nlohmann::json::parse(j.dump()), back, error)) << error;
  EXPECT_EQ(loadgen::to_json(back), j);
}

TEST_F(LoadgenEngine, MixedOverTcpWithRestCredentials) {
  transport = turn::Transport::Tcp;
  EngineConfig c = config(8, loadgen::Profile::Mixed, 2000);
  c.user.clear();
  c.password.clear();
  c.rest_secret = "northwind";
  Engine e(c, *this);
  Report r = run(e, 30'000'000);
  ASSERT_EQ(r.calls.size(), 8u);
  std::set<std::string> kinds;
  for (const auto& call : r.calls) {
    EXPECT_FALSE(call.failed) << call.failure_stage << " " << call.failure_code << " " << call.failure_reason;
    kinds.insert(call.kind);
  }
  EXPECT_GE(kinds.size(), 2u);
  for (const auto& s : r.streams) {
    EXPECT_EQ(s.received, s.sent);
    EXPECT_EQ(s.lost, 0u);
  }
  EXPECT_EQ(allocations(), 0u);
}

TEST_F(LoadgenEngine, StepsGetTheirOwnRecords) {
  EngineConfig c = config(0, loadgen::Profile::Audio, 1500);
  c.plan.steps = {2, 4};
  c.plan.step_duration_ms = 2000;
  c.plan.ramp_per_s = 0;
  Engine e(c, *this);
  Report r = run(e, 30'000'000);
  ASSERT_EQ(r.steps.size(), 2u);
  ASSERT_EQ(r.calls.size(), 4u);
  EXPECT_EQ(r.calls[0].step, 0u);
  EXPECT_EQ(r.calls[3].step, 1u);
  size_t in0 = 0, in1 = 0;
  for (const auto& s : r.streams) {
    (s.step == 0 ? in0 : in1)++;
    EXPECT_EQ(s.lost, 0u);
    EXPECT_GT(s.received, 0u);
  }
  EXPECT_EQ(in0, 4u);   // two calls, two directions
  EXPECT_EQ(in1, 8u);
  auto steps = loadgen::summarize(r);
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_FALSE(steps[1].breakpoint);
}

TEST_F(LoadgenEngine, ALowerStepClosesTheNewestCalls) {
  EngineConfig c = config(0, loadgen::Profile::Audio, 2000);
  c.plan.steps = {4, 2};
  c.plan.step_duration_ms = 2000;
  c.plan.ramp_per_s = 0;
  Engine e(c, *this);
  size_t allocs_in_step1 = 0;
  Report r = run(e, 30'000'000, [&](int64_t t) {
    if (t >= 3'000'000 && t < 3'010'000) allocs_in_step1 = allocations();
  });
  ASSERT_EQ(r.calls.size(), 4u);
  for (const auto& call : r.calls) EXPECT_FALSE(call.failed);
  EXPECT_EQ(allocs_in_step1, 4u);   // two calls left, two allocations each
  uint64_t step1_newest = 0, step1_oldest = 0;
  for (const auto& s : r.streams) {
    if (s.step != 1) continue;
    (s.call >= 2 ? step1_newest : step1_oldest) += s.received;
  }
  EXPECT_GT(step1_oldest, 300u);
  EXPECT_LT(step1_newest, 20u);
  EXPECT_EQ(allocations(), 0u);
}

TEST_F(LoadgenEngine, AServerThatStopsAnsweringFailsTheCallsWithTimes) {
  Engine e(config(3, loadgen::Profile::Audio, 20000), *this);
  Report r = run(e, 60'000'000, [&](int64_t t) { server_down = t >= 3'000'000; });
  ASSERT_EQ(r.calls.size(), 3u);
  for (const auto& c : r.calls) {
    EXPECT_GE(c.setup_ms, 0);
    EXPECT_TRUE(c.failed);
    EXPECT_EQ(c.failure_stage, "media");
    EXPECT_EQ(c.failure_reason, "timeout");
    EXPECT_GE(c.failed_s, 3.0 + 4.0);
    EXPECT_LE(c.failed_s, 3.0 + 7.0);
  }
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_NE(r.errors[0].find("the run ended early"), std::string::npos) << r.errors[0];
  EXPECT_NE(r.errors[1].find("stopped answering"), std::string::npos) << r.errors[1];
  EXPECT_LT(r.timeseries.back().t_s, 12.0);   // not the plan's 20 s
  EXPECT_EQ(loadgen::failures_by_code(r)["timeout"], 3);
  EXPECT_EQ(loadgen::exit_status(r), 1);
  EXPECT_EQ(closed.size(), opens);
}

TEST_F(LoadgenEngine, QuotaRefusalsAreFailuresWithTheirCode) {
  quotas = std::make_shared<Quotas>(1000, 3);   // alice: 3 allocations, so the second call fails
  core = std::make_unique<Core>(CoreConfig{}, auth, policy, quotas, relays, sink);
  EngineConfig c = config(2, loadgen::Profile::Audio, 1000);
  c.plan.ramp_per_s = 1;
  Engine e(c, *this);
  Report r = run(e, 30'000'000);
  ASSERT_EQ(r.calls.size(), 2u);
  EXPECT_FALSE(r.calls[0].failed);
  EXPECT_TRUE(r.calls[1].failed);
  EXPECT_EQ(r.calls[1].failure_code, 486);
  EXPECT_EQ(r.calls[1].failure_stage, "allocate");
  EXPECT_EQ(loadgen::failures_by_code(r)["486"], 1);
  EXPECT_EQ(allocations(), 0u);   // the failed call's other allocation is released too
}

TEST_F(LoadgenEngine, WrongCredentialsStopTheRunEarly) {
  EngineConfig c = config(50, loadgen::Profile::Audio, 60000);
  c.password = "nope";
  c.plan.ramp_per_s = 0;
  Engine e(c, *this);
  Report r = run(e, 30'000'000);
  size_t failed = 0;
  for (const auto& call : r.calls) failed += call.failed && call.failure_code == 401;
  EXPECT_GE(failed, 10u);
  ASSERT_FALSE(r.errors.empty());
  EXPECT_NE(r.errors[0].find("stopped early"), std::string::npos);
}

TEST_F(LoadgenEngine, StopEndsTheRunAndKeepsTheReport) {
  Engine e(config(2, loadgen::Profile::Audio, 600000), *this);
  Report r = run(e, 30'000'000, [&](int64_t t) {
    if (t >= 2'000'000) e.stop(t);
  });
  ASSERT_EQ(r.calls.size(), 2u);
  for (const auto& c : r.calls) EXPECT_FALSE(c.failed);
  EXPECT_EQ(r.streams.size(), 4u);
  EXPECT_EQ(allocations(), 0u);
}

TEST_F(LoadgenEngine, ShardsOwnDisjointCalls) {
  EngineConfig c = config(5, loadgen::Profile::Audio, 500);
  c.plan.ramp_per_s = 0;
  c.plan.shard_k = 2;
  c.plan.shard_n = 2;
  Engine e(c, *this);
  Report r = run(e, 30'000'000);
  ASSERT_EQ(r.calls.size(), 2u);
  EXPECT_EQ(r.calls[0].call, 1u);
  EXPECT_EQ(r.calls[1].call, 3u);
  EXPECT_EQ(r.meta["shard"]["k"], 2);
}

TEST(LoadgenEngineBounds, TooManyCallsIsAClearError) {
  struct NullSink : loadgen::FlowSink {
    void open_flow(uint64_t, uint32_t) override {}
    void send(uint64_t, std::span<const uint8_t>) override {}
    void close_flow(uint64_t) override {}
    double cpu_pct_since_last(int64_t) override { return 0; }
  } sink;
  EngineConfig c;
  c.plan.steps = {10, loadgen::kEngineMaxCalls + 1};
  try {
    Engine e(c, sink);
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("at most 100000"), std::string::npos) << e.what();
  }
}

TEST_F(LoadgenEngine, ProfileNoneHoldsAllocationsWithoutMediaAndBoundsPendingSetups) {
  EngineConfig c = config(20, loadgen::Profile::None, 100000);
  c.plan.ramp_per_s = 0;
  c.max_pending = 5;
  c.lifetime_s = 30;   // refreshed every 15 s: the hold outlives three lifetimes
  Engine e(c, *this);
  e.tick(0);
  EXPECT_EQ(opens, 10u);   // five calls setting up, two flows each; the others wait
  size_t held = 0, with_peer = 0;
  Report r = run(e, 300'000'000, [&](int64_t t) {
    if (t >= 99'000'000 && t < 99'020'000) {
      held = 0;
      with_peer = 0;
      core->for_each_allocation([&](const Allocation& a) {
        ++held;
        with_peer += a.permissions.size() == 1 && a.channels.size() == 1;
      });
    }
  });
  EXPECT_EQ(held, 40u);        // every call's two allocations, still alive after 99 s
  EXPECT_EQ(with_peer, 40u);   // each with its permission and channel
  ASSERT_EQ(r.calls.size(), 20u);
  for (const auto& call : r.calls) {
    EXPECT_FALSE(call.failed) << call.call << ": " << call.failure_stage << " " << call.failure_reason;
    EXPECT_GE(call.setup_ms, 0);
    EXPECT_EQ(call.kind, "none");
  }
  EXPECT_TRUE(r.streams.empty());
  EXPECT_TRUE(r.errors.empty());
  auto steps = loadgen::summarize(r);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].directions, 0u);
  EXPECT_EQ(steps[0].setups_ok, 20u);
  EXPECT_FALSE(steps[0].breakpoint);
  EXPECT_EQ(r.timeseries.back().calls_up, 20u);
  EXPECT_EQ(loadgen::exit_status(r), 0);
  EXPECT_NE(loadgen::to_html(r).find("<svg"), std::string::npos);
  EXPECT_EQ(closed.size(), opens);
  EXPECT_EQ(allocations(), 0u);
}

TEST_F(LoadgenEngine, ProfileNoneSetsUpManyCallsWithTheDefaultBound) {
  quotas = std::make_shared<Quotas>(5000, 5000);
  CoreConfig cc;   // every simulated client shares one address: no budget on its 401s
  cc.unauth_excess_bytes_per_second = 1u << 30;
  cc.unauth_excess_burst_bytes = 1u << 30;
  core = std::make_unique<Core>(cc, auth, policy, quotas, relays, sink);
  EngineConfig c = config(1500, loadgen::Profile::None, 2000);
  c.plan.ramp_per_s = 0;
  Engine e(c, *this);
  e.tick(0);
  EXPECT_EQ(opens, 2u * c.max_pending);
  Report r = run(e, 60'000'000);
  size_t ok = 0, failed = 0;
  ASSERT_EQ(r.calls.size(), 1500u);
  for (const auto& call : r.calls) {
    ok += !call.failed && call.setup_ms >= 0;
    if (call.failed && failed++ < 3)
      ADD_FAILURE() << call.call << ": " << call.failure_stage << " " << call.failure_code << " " << call.failure_reason;
  }
  EXPECT_EQ(ok, 1500u);
  EXPECT_EQ(allocations(), 0u);
}

TEST_F(LoadgenEngine, PacketsInFlightAtTheEndArriveDuringTheDrain) {
  peer_delay_us = 60'000;   // a path with 60 ms one way: a few packets in flight at the end
  Engine e(config(2, loadgen::Profile::Audio, 2000), *this);
  Report r = run(e, 30'000'000);
  ASSERT_EQ(r.streams.size(), 4u);
  for (const auto& s : r.streams) {
    EXPECT_GT(s.sent, 90u);
    EXPECT_EQ(s.received, s.sent);
    EXPECT_EQ(s.lost, 0u);
  }
  // The drain ended once every direction caught up (well before its 2 s bound).
  EXPECT_LT(r.timeseries.back().t_s - r.steps.back().end_s, 0.2);
}

TEST_F(LoadgenEngine, PacketsStillMissingAfterTheDrainCountAsLost) {
  peer_delay_us = 800'000;   // longer than the drain: the last 40 packets of each direction never arrive
  EngineConfig c = config(2, loadgen::Profile::Audio, 3000);
  c.media_timeout_ms = 10000;
  c.drain_ms = 300;
  Engine e(c, *this);
  Report r = run(e, 30'000'000);
  ASSERT_EQ(r.streams.size(), 4u);
  for (const auto& s : r.streams) {
    EXPECT_LT(s.received, s.sent);
    EXPECT_EQ(s.lost, s.sent - s.received) << "call " << s.call << " dir " << int(s.direction);
    EXPECT_EQ(s.expected, s.sent);
  }
  auto t = loadgen::totals_json(r);
  EXPECT_EQ(t["sent"].get<uint64_t>(), t["received"].get<uint64_t>() + t["lost"].get<uint64_t>());
}

TEST_F(LoadgenEngine, OneCallsLostMediaIsNotTheServerStoppingToAnswer) {
  int64_t now_t = 0;
  // Call 1's first allocation stops reaching the server after 2 s; the others keep going.
  drop_flow = [&](uint64_t flow) { return flow == 2 && now_t >= 2'000'000; };
  EngineConfig c = config(3, loadgen::Profile::Audio, 12000);
  c.plan.ramp_per_s = 0;
  Engine e(c, *this);
  Report r = run(e, 60'000'000, [&](int64_t t) { now_t = t; });
  ASSERT_EQ(r.calls.size(), 3u);
  EXPECT_TRUE(r.calls[1].failed);
  EXPECT_EQ(r.calls[1].failure_stage, "media");
  EXPECT_FALSE(r.calls[0].failed);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].find("stopped answering"), std::string::npos) << r.errors[0];
  EXPECT_NE(r.errors[0].find("1 call received no media for 5 s"), std::string::npos) << r.errors[0];
}

TEST_F(LoadgenEngine, CallsStuckInSetupAtTheEndAreWordedAsMeasured) {
  // Call 2 never reaches the server; calls 0 and 1 are answered and carry media throughout.
  drop_flow = [&](uint64_t flow) { return flow >> 1 == 2; };
  EngineConfig c = config(3, loadgen::Profile::Audio, 6000);
  c.plan.ramp_per_s = 0;
  Engine e(c, *this);
  Report r = run(e, 60'000'000);
  ASSERT_EQ(r.calls.size(), 3u);
  EXPECT_TRUE(r.calls[2].failed);
  EXPECT_EQ(r.calls[2].failure_stage, "setup");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0], "1 call did not finish setup within 5 s before the run ended");
}

TEST_F(LoadgenEngine, MediaStartPhaseIsPerCallAndDeterministic) {
  auto first_sends = [&](uint64_t seed) {
    EngineConfig c = config(6, loadgen::Profile::Audio, 500);
    c.plan.ramp_per_s = 0;
    c.seed = seed;
    flows.clear();
    by_tuple.clear();
    closed.clear();
    sent_log.clear();
    opens = 0;
    std::map<uint64_t, int64_t> first;   // flow -> first ChannelData send
    Engine e(c, *this);
    size_t seen = 0;
    run(e, 30'000'000, [&](int64_t t) {
      for (; seen < sent_log.size(); ++seen)
        if (!first.count(sent_log[seen].first)) first[sent_log[seen].first] = t;
    });
    return first;
  };
  log_channel_data = true;
  auto a = first_sends(7), b = first_sends(7), c = first_sends(8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::set<int64_t> distinct;
  for (const auto& [flow, t] : a) distinct.insert(t / 1000);
  EXPECT_GE(distinct.size(), 4u);   // 12 flows set up in the same instant do not start together
}

}  // namespace

// Step boundaries and interval samples both read the receivers' RTT samples: with steps as long as
// the interval, every interval with media still has its RTT (the step must not take them all).
TEST_F(LoadgenEngine, IntervalsKeepTheirRttWhenStepsEndOnThem) {
  EngineConfig c = config(0, loadgen::Profile::Audio, 1000);
  c.plan.steps = {2, 2, 2, 2};
  c.plan.step_duration_ms = 1000;
  c.plan.ramp_per_s = 0;
  Engine e(c, *this);
  Report r = run(e, 30'000'000);
  size_t with_media = 0, with_rtt = 0;
  for (const auto& s : r.timeseries) {
    if (s.t_s < 1.0 || s.rx_packets < 50) continue;   // media flowing the whole interval
    ++with_media;
    if (s.rtt_p50_ms >= 0) ++with_rtt;
  }
  ASSERT_GE(with_media, 2u);
  EXPECT_EQ(with_rtt, with_media);
}
