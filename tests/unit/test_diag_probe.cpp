// diag::PathProbe (`turnpike-diag probe`'s round over one transport) against the real in-process
// turn::Core (core_fixture.hpp: fake clock, fake relays, recording sink): its two connections are two
// 5-tuples of the core, relayed data between the two allocations comes in on the other's relay. Also
// the probe's statistics, its Prometheus text and JSON, the slower probes' schedule, and the CLI.
#include <algorithm>
#include <cmath>

#include "core_fixture.hpp"
#include "diag/cli.hpp"
#include "diag/path_probe.hpp"
#include "diag/probe_report.hpp"
#include "diag/probe_slow.hpp"
#include "turn/stream_framing.hpp"

namespace {

using diag::PathFailure;
using diag::PathProbe;
using diag::PathProbeConfig;
using diag::ProbeConn;

class PathProbeTest : public CoreTest {
 protected:
  int64_t now_us() const { return now.mono_ms * 1000 + sub_us; }

  FiveTuple tuple(ProbeConn c, Transport t) {
    FiveTuple ft = client(c == ProbeConn::Client ? 41001 : 41002);
    ft.transport = t;
    return ft;
  }

  // Moves what the probe sends to the core and back until nothing moves (`drop_transport`: the
  // core never sees that transport, as behind a firewall dropping it).
  void pump(PathProbe& p, Transport t, bool deliver = true) {
    for (int round = 0; round < 100; ++round) {
      bool moved = false;
      diag::ProbeTransmit tx;
      while (p.pop_output(tx)) {
        moved = true;
        if (!deliver) continue;
        FiveTuple ft = tuple(tx.conn, t);
        if (datagram(t)) {
          core->handle(tx.bytes, ft, now);
          continue;
        }
        auto& buf = to_core[static_cast<size_t>(tx.conn)];
        buf.insert(buf.end(), tx.bytes.begin(), tx.bytes.end());
        cut(buf, [&](std::span<const uint8_t> f) { core->handle(f, ft, now); });
      }
      while (!sink.client.empty()) {
        Sent s = std::move(sink.client.front());
        sink.client.pop_front();
        moved = true;
        ProbeConn c = s.to == tuple(ProbeConn::Client, t) ? ProbeConn::Client : ProbeConn::Echo;
        if (datagram(t)) {
          p.on_message(c, s.bytes, now_us());
          continue;
        }
        auto& buf = from_core[static_cast<size_t>(c)];
        buf.insert(buf.end(), s.bytes.begin(), s.bytes.end());
        cut(buf, [&](std::span<const uint8_t> f) { p.on_message(c, f, now_us()); });
      }
      auto to_peers = std::move(sink.peer);
      sink.peer.clear();
      for (auto& tp : to_peers) {
        moved = true;
        if (drop_relayed) continue;
        const Allocation::Relay* from = nullptr;
        const Allocation::Relay* to = nullptr;
        core->for_each_allocation([&](const Allocation& a) {
          for (size_t i = 0; i < a.relay_count; ++i) {
            if (a.relays[i].handle == tp.handle) from = &a.relays[i];
            if (a.relays[i].address == tp.peer) to = &a.relays[i];
          }
        });
        if (from && to) core->handle_peer(to->handle, from->address, tp.bytes, now);
      }
      if (!moved) return;
    }
    ADD_FAILURE() << "messages still moving after 100 rounds";
  }

  template <typename Fn>
  static void cut(std::vector<uint8_t>& buf, Fn fn) {
    size_t off = 0;
    for (;;) {
      size_t n = turn::stream_frame_length({buf.data() + off, buf.size() - off});
      ASSERT_NE(n, SIZE_MAX);
      if (n == 0 || buf.size() - off < n) break;
      fn(std::span<const uint8_t>(buf.data() + off, n));
      off += n;
    }
    buf.erase(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(off));
  }

  // Runs the probe to done in 1 ms steps (at most `max_ms`); each relayed hop takes `hop_us`.
  void run(PathProbe& p, Transport t, int64_t max_ms = 20000, bool deliver = true) {
    p.start(now_us());
    pump(p, t, deliver);
    for (int64_t i = 0; i < max_ms && !p.done(); ++i) {
      now.mono_ms += 1;
      core->tick(now);
      if (now_us() >= p.next_timer_us()) p.tick(now_us());
      pump(p, t, deliver);
    }
  }

  PathProbeConfig config(Transport t) {
    PathProbeConfig c;
    c.transport = t;
    c.username = "alice";
    c.password = "wonderland";
    c.echoes = 5;
    c.echo_interval_ms = 10;
    c.timeout_ms = 3000;
    return c;
  }

  int64_t sub_us = 0;
  bool drop_relayed = false;
  std::array<std::vector<uint8_t>, 2> to_core, from_core;
};

TEST_F(PathProbeTest, UdpRoundTripThroughBothRelays) {
  PathProbe p(config(Transport::Udp), 7);
  run(p, Transport::Udp);
  ASSERT_TRUE(p.done());
  const auto& r = p.result();
  EXPECT_TRUE(r.ok) << diag::to_text(r);
  EXPECT_EQ(r.sent, 5u);
  EXPECT_EQ(r.received, 5u);
  EXPECT_EQ(r.loss, 0.0);
  ASSERT_TRUE(r.rtt_ms && r.setup_ms);
  EXPECT_GE(*r.rtt_ms, 0.0);
  EXPECT_LT(*r.rtt_ms, 2.0);  // the fake network answers within the 1 ms step
  EXPECT_EQ(r.relayed.port != 0, true);
  EXPECT_EQ(r.mapped, tuple(ProbeConn::Client, Transport::Udp).client);
  EXPECT_EQ(core->allocation_count(), 0u) << "both allocations closed with Refresh lifetime 0";
}

TEST_F(PathProbeTest, TcpAndTlsFrames) {
  for (Transport t : {Transport::Tcp, Transport::Tls}) {
    to_core = {};
    from_core = {};
    PathProbe p(config(t), 9);
    run(p, t);
    EXPECT_TRUE(p.result().ok) << diag::to_text(p.result());
    EXPECT_EQ(p.result().received, 5u);
    EXPECT_EQ(core->allocation_count(), 0u);
  }
}

TEST_F(PathProbeTest, WrongPasswordIsA401Error) {
  PathProbeConfig c = config(Transport::Udp);
  c.password = "nope";
  PathProbe p(c, 1);
  run(p, Transport::Udp);
  ASSERT_TRUE(p.done());
  EXPECT_FALSE(p.result().ok);
  EXPECT_EQ(p.result().failure, PathFailure::Error);
  EXPECT_EQ(p.result().error_code, 401);
  EXPECT_EQ(p.result().stage, "allocate");
  EXPECT_EQ(std::string(diag::result_label(p.result())), "error");
}

TEST_F(PathProbeTest, BlockedTransportTimesOutWithinTheBudget) {
  PathProbe p(config(Transport::Tcp), 2);
  int64_t t0 = now.mono_ms;
  run(p, Transport::Tcp, 20000, /*deliver=*/false);
  ASSERT_TRUE(p.done());
  EXPECT_FALSE(p.result().ok);
  EXPECT_EQ(p.result().failure, PathFailure::Timeout);
  EXPECT_EQ(p.result().stage, "allocate");
  EXPECT_LE(now.mono_ms - t0, 3000 + 1000 + 10);  // timeout, then at most close_wait
  EXPECT_FALSE(p.result().setup_ms);
}

TEST_F(PathProbeTest, NothingRelayedIsNoEcho) {
  drop_relayed = true;
  PathProbe p(config(Transport::Udp), 3);
  run(p, Transport::Udp);
  EXPECT_FALSE(p.result().ok);
  EXPECT_EQ(p.result().failure, PathFailure::NoEcho);
  EXPECT_EQ(p.result().sent, 5u);
  EXPECT_EQ(p.result().received, 0u);
  EXPECT_TRUE(p.result().setup_ms);
  EXPECT_EQ(core->allocation_count(), 0u);
}

TEST_F(PathProbeTest, TransportErrorFailsAtOnce) {
  PathProbe p(config(Transport::Tls), 4);
  p.start(now_us());
  p.on_transport_error(ProbeConn::Client, PathFailure::Tls, "certificate verify failed", now_us());
  p.tick(now_us() + 1'100'000);
  EXPECT_TRUE(p.done());
  EXPECT_EQ(p.result().failure, PathFailure::Tls);
  EXPECT_EQ(p.result().detail, "certificate verify failed");
  EXPECT_NE(diag::to_text(p.result()).find("tls_handshake"), std::string::npos);
}

TEST(ProbeStats, MedianAndJitter) {
  std::vector<double> v{5, 1, 3, 2};
  EXPECT_EQ(*diag::median(v), 2.5);
  std::vector<double> odd{9, 1, 5};
  EXPECT_EQ(*diag::median(odd), 5);
  std::vector<double> none;
  EXPECT_FALSE(diag::median(none));
  std::vector<double> rtts{10, 12, 11, 15};
  EXPECT_DOUBLE_EQ(*diag::mean_abs_delta(rtts), (2.0 + 1 + 4) / 3);
  EXPECT_FALSE(diag::mean_abs_delta(std::vector<double>{1}));
}

diag::PathResult ok_result(Transport t, double rtt) {
  diag::PathResult r;
  r.transport = t;
  r.ok = true;
  r.setup_ms = 12.5;
  r.rtt_ms = rtt;
  r.jitter_ms = 0.5;
  r.sent = r.received = 10;
  return r;
}

TEST(ProbeReport, PrometheusText) {
  diag::ProbeState s;
  s.site = "lyon";
  s.record(ok_result(Transport::Udp, 20));
  diag::PathResult bad;
  bad.transport = Transport::Tcp;
  bad.failure = PathFailure::Timeout;
  bad.stage = "allocate";
  s.record(bad);
  s.record(bad);
  s.nat = diag::ProbeNat{"endpoint_independent", "address_and_port_dependent", "port_restricted_cone"};
  s.binding_lifetime_s = 30;
  std::string text = diag::to_prometheus(s);
  EXPECT_NE(text.find("turnpike_probe_up{site=\"lyon\",transport=\"udp\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("turnpike_probe_up{site=\"lyon\",transport=\"tcp\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("turnpike_probe_rtt_seconds{site=\"lyon\",transport=\"udp\"} 0.02\n"), std::string::npos);
  EXPECT_EQ(text.find("turnpike_probe_rtt_seconds{site=\"lyon\",transport=\"tcp\"}"), std::string::npos);
  EXPECT_NE(text.find("turnpike_probe_rounds_total{site=\"lyon\",transport=\"tcp\",result=\"timeout\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("turnpike_probe_failure_info{site=\"lyon\",transport=\"tcp\",reason=\"timeout\",stage=\"allocate\""),
            std::string::npos);
  EXPECT_NE(text.find("class=\"port_restricted_cone\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("turnpike_probe_binding_lifetime_seconds{site=\"lyon\"} 30\n"), std::string::npos);
}

TEST(ProbeReport, RoundJson) {
  diag::ProbeState s;
  s.site = "lyon";
  diag::PathResult bad;
  bad.transport = Transport::Tls;
  bad.failure = PathFailure::Error;
  bad.error_code = 403;
  bad.stage = "allocate";
  bad.detail = "Forbidden";
  auto j = diag::round_json({"turnpike-diag x", "2026-01-01T00:00:00Z", 4, {{"site", "lyon"}}},
                            {ok_result(Transport::Udp, 2), bad}, s);
  EXPECT_EQ(j["round"], 4);
  EXPECT_EQ(j["tags"]["site"], "lyon");
  EXPECT_EQ(j["transports"][0]["rtt_seconds"], 0.002);
  EXPECT_EQ(j["transports"][0]["loss_ratio"], 0.0);
  EXPECT_EQ(j["transports"][1]["reason"], "error");
  EXPECT_EQ(j["transports"][1]["error_code"], 403);
  EXPECT_FALSE(j.contains("nat"));
  EXPECT_EQ(diag::nat_class_label("Port Restricted Cone"), "port_restricted_cone");
  EXPECT_EQ(diag::nat_class_label(""), "unknown");
}

TEST(ProbeSlow, Schedule) {
  diag::SlowSchedule s{600000, 0};
  EXPECT_EQ(s.take(0), diag::SlowSchedule::Due::Nat);
  EXPECT_EQ(s.take(1000), diag::SlowSchedule::Due::None);
  EXPECT_EQ(s.take(600000), diag::SlowSchedule::Due::Nat);
  diag::SlowSchedule both{1000, 5000};
  EXPECT_EQ(both.take(0), diag::SlowSchedule::Due::Nat);
  EXPECT_EQ(both.take(0), diag::SlowSchedule::Due::Lifetime);
  EXPECT_EQ(both.take(999), diag::SlowSchedule::Due::None);
}

std::optional<diag::ProbeOptions> parse(std::vector<std::string> args, std::string& err) {
  return diag::parse_probe_args(args, err);
}

TEST(ProbeCli, Defaults) {
  std::string err;
  auto o = parse({"--server", "turn.example:3478", "--user", "u", "--password", "p"}, err);
  ASSERT_TRUE(o) << err;
  EXPECT_EQ(o->every_ms, 60000u);
  EXPECT_EQ(o->timeout_ms, 5000u);
  EXPECT_EQ(o->transports.size(), 3u);
  EXPECT_EQ(o->tls_port, 5349);
  EXPECT_EQ(o->rounds, 0u);
  EXPECT_EQ(o->nat_every_ms, 0u);
}

TEST(ProbeCli, AllOptions) {
  std::string err;
  auto o = parse({"--server=10.0.0.1", "--secret", "s3", "--every", "2s", "--rounds", "5", "--site", "lyon-3",
                  "--transports", "tls,udp", "--tls-port", "443", "--tcp-port", "3479", "--metrics-listen",
                  "127.0.0.1:9643", "--report", "http://n:9641/api/v1/probe-reports", "--token", "t",
                  "--nat-every", "10m", "--lifetime-every", "6h", "--echoes", "20", "--json"},
                 err);
  ASSERT_TRUE(o) << err;
  EXPECT_EQ(o->every_ms, 2000u);
  EXPECT_EQ(o->timeout_ms, 1200u);  // 3/5 of --every when not given
  EXPECT_EQ(o->rounds, 5u);
  EXPECT_EQ(o->site, "lyon-3");
  ASSERT_EQ(o->transports.size(), 2u);
  EXPECT_EQ(o->transports[0], Transport::Tls);
  EXPECT_EQ(o->tls_port, 443);
  EXPECT_EQ(o->tcp_port, 3479);
  EXPECT_EQ(o->metrics_listen->port, 9643);
  EXPECT_EQ(o->nat_every_ms, 600000u);
  EXPECT_EQ(o->lifetime_every_ms, 21600000u);
  EXPECT_EQ(o->secret, "s3");
  EXPECT_TRUE(o->json);
}

TEST(ProbeCli, UsageErrors) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--user", "u", "--password", "p"}, "--server"},
      {{"--server", "h"}, "credentials are required"},
      {{"--server", "h", "--user", "u"}, "go together"},
      {{"--server", "h", "--user", "u", "--password", "p", "--secret", "s"}, "mutually exclusive"},
      {{"--server", "h", "--secret", "s", "--transports", "udp,quic"}, "'quic'"},
      {{"--server", "h", "--secret", "s", "--transports", "udp,udp"}, "twice"},
      {{"--server", "h", "--secret", "s", "--every", "0.5"}, "--every"},
      {{"--server", "h", "--secret", "s", "--every", "2s", "--timeout-ms", "3000"}, "below --every"},
      {{"--server", "h", "--secret", "s", "--metrics-listen", "localhost:80"}, "ADDR:PORT"},
      {{"--server", "h", "--secret", "s", "--site", "a b"}, "--site"},
      {{"--server", "h", "--secret", "s", "--site", "a", "--tag", "site=b"}, "disagree"},
      {{"--server", "h", "--secret", "s", "--echoes", "0"}, "--echoes"},
      {{"--server", "h", "--secret", "s", "--bogus"}, "unknown option"},
  };
  for (const auto& [args, want] : cases) {
    std::string err;
    EXPECT_FALSE(parse(args, err)) << want;
    EXPECT_NE(err.find(want), std::string::npos) << "got: " << err << " want: " << want;
  }
  std::string err;
  auto o = parse({"--server", "h", "--secret", "s", "--tag", "site=b", "--tag", "room=3"}, err);
  ASSERT_TRUE(o) << err;
  EXPECT_EQ(o->site, "b");
  EXPECT_EQ(o->tags.size(), 1u);
}

}  // namespace
