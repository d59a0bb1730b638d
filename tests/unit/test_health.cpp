// /healthz and /readyz as policy (server/health.hpp), the heartbeats behind them
// (server/heartbeat.hpp), their admin routes and the test-only fault hook (server/admin_health.hpp),
// and the capacity families (server/metrics_capacity.cpp). tests/integration/test_health.py drives
// the same against the real binary.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <prometheus/text_serializer.h>

#include <sstream>
#include <thread>

#include "server/admin.hpp"
#include "server/capacity.hpp"
#include "server/health.hpp"
#include "server/heartbeat.hpp"

namespace turnpike {
namespace {

using nlohmann::json;

TEST(HealthVerdict, AllStampsWithinTheDeadlineIsOk) {
  auto v = health_verdict({{"shard-0", 10'000}, {"shard-1", 9'000}, {"sfu", 8'000}}, 10'000, 2'000);
  EXPECT_TRUE(v.ok);
  EXPECT_TRUE(v.late.empty());
  ASSERT_EQ(v.silent_ms.size(), 3u);
  EXPECT_EQ(v.silent_ms[2], (std::pair<std::string, int64_t>{"sfu", 2'000}));  // at the deadline: not late
}

TEST(HealthVerdict, NamesEveryLateComponent) {
  auto v = health_verdict({{"shard-0", 10'000}, {"shard-1", 7'999}, {"sfu", 1'000}}, 10'000, 2'000);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.late, (std::vector<std::string>{"shard-1", "sfu"}));
}

TEST(HealthVerdict, StampAfterNowIsAliveAndNoComponentsIsOk) {
  auto v = health_verdict({{"shard-0", 10'500}}, 10'000);
  EXPECT_TRUE(v.ok);
  EXPECT_EQ(v.silent_ms[0].second, 0);
  EXPECT_TRUE(health_verdict({}, 10'000).ok);
}

TEST(ReadinessVerdict, ReadyWithRoomToSpare) {
  ReadinessFacts f;
  f.allocations = 9;
  f.max_allocations = 10;
  f.relay_ports = {{100, 1000}, {0, 1000}};
  auto v = readiness_verdict(f);
  EXPECT_TRUE(v.ready);
  EXPECT_EQ(v.reason, "");
}

TEST(ReadinessVerdict, StartingAndDrainingComeFirst) {
  ReadinessFacts f;
  f.allocations = 10;
  f.max_allocations = 10;
  f.starting = true;
  EXPECT_EQ(readiness_verdict(f).reason, "starting");
  f.starting = false;
  f.draining = true;
  EXPECT_EQ(readiness_verdict(f).reason, "draining");
}

TEST(ReadinessVerdict, AtCapacityAtMaxAllocations) {
  ReadinessFacts f;
  f.allocations = 10;
  f.max_allocations = 10;
  auto v = readiness_verdict(f);
  EXPECT_FALSE(v.ready);
  EXPECT_EQ(v.reason, "at_capacity");
  f.max_allocations = 0;  // no limit
  EXPECT_TRUE(readiness_verdict(f).ready);
}

TEST(ReadinessVerdict, RelayPortsExhaustedBelowTwoPercentFreeOnAnyAddress) {
  EXPECT_FALSE(relay_ports_exhausted({980, 1000}));  // 20 free: 2 %
  EXPECT_TRUE(relay_ports_exhausted({981, 1000}));
  EXPECT_TRUE(relay_ports_exhausted({1200, 1000}));  // more than the range (never, but safe)
  EXPECT_FALSE(relay_ports_exhausted({1, 2}));
  EXPECT_TRUE(relay_ports_exhausted({2, 2}));
  EXPECT_FALSE(relay_ports_exhausted({0, 0}));
  ReadinessFacts f;
  f.relay_ports = {{0, 1000}, {990, 1000}};
  EXPECT_EQ(readiness_verdict(f).reason, "relay_ports_exhausted");
}

AdminBackend backend() {
  AdminBackend b;
  b.token = "0123456789abcdef";
  b.state = [] { return "ready"; };
  return b;
}

TEST(AdminHealth, HealthzNamesLateComponents) {
  auto b = backend();
  EXPECT_EQ(AdminServer::route(b, "GET", "/healthz", "").status, 200u);  // no heartbeats: the process runs
  b.health = [] { return health_verdict({{"shard-0", 5'000}, {"shard-1", 1'000}}, 5'000); };
  auto r = AdminServer::route(b, "GET", "/healthz", "");
  EXPECT_EQ(r.status, 503u);
  auto body = json::parse(r.body);
  EXPECT_EQ(body["status"], "unhealthy");
  EXPECT_EQ(body["late"], json::array({"shard-1"}));
  EXPECT_EQ(body["components"]["shard-1"]["silent_ms"], 4000);
  b.health = [] { return health_verdict({{"shard-0", 5'000}}, 5'100); };
  r = AdminServer::route(b, "GET", "/healthz", "");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(json::parse(r.body)["status"], "ok");
  EXPECT_FALSE(json::parse(r.body).contains("late"));
}

TEST(AdminHealth, ReadyzSaysWhy) {
  auto b = backend();
  ReadinessVerdict v;
  b.readiness = [&v] { return v; };
  auto r = AdminServer::route(b, "GET", "/readyz", "");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(json::parse(r.body), (json{{"status", "ready"}}));
  v = {false, "at_capacity"};
  r = AdminServer::route(b, "GET", "/readyz", "");
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(json::parse(r.body), (json{{"status", "at_capacity"}, {"ready", false}, {"reason", "at_capacity"}}));
}

TEST(AdminHealth, TestBlockIs404WithoutTheHook) {
  auto b = backend();
  auto r = AdminServer::route(b, "POST", "/api/v1/test/block", "Bearer 0123456789abcdef",
                              R"({"component":"shard-0","seconds":1})");
  EXPECT_EQ(r.status, 404u);
}

TEST(AdminHealth, TestBlockChecksTokenAndBody) {
  auto b = backend();
  std::vector<std::pair<std::string, int64_t>> blocked;
  b.test_block = [&blocked](const std::string& c, std::chrono::milliseconds d) {
    if (c != "shard-0") return false;
    blocked.emplace_back(c, d.count());
    return true;
  };
  const std::string auth = "Bearer 0123456789abcdef";
  auto post = [&](const std::string& body, const std::string& a) {
    return AdminServer::route(b, "POST", "/api/v1/test/block", a, body);
  };
  EXPECT_EQ(post(R"({"component":"shard-0","seconds":1})", "").status, 401u);
  EXPECT_EQ(AdminServer::route(b, "GET", "/api/v1/test/block", auth).status, 405u);
  for (const char* bad : {"", "[]", R"({"seconds":1})", R"({"component":1,"seconds":1})",
                          R"({"component":"shard-0"})", R"({"component":"shard-0","seconds":0})",
                          R"({"component":"shard-0","seconds":61})", R"({"component":"shard-0","seconds":"5"})"})
    EXPECT_EQ(post(bad, auth).status, 400u) << bad;
  EXPECT_EQ(post(R"({"component":"shard-9","seconds":1})", auth).status, 404u);
  EXPECT_TRUE(blocked.empty());  // nothing bad blocked anything
  auto r = post(R"({"component":"shard-0","seconds":2.5})", auth);
  EXPECT_EQ(r.status, 202u);
  EXPECT_EQ(blocked, (std::vector<std::pair<std::string, int64_t>>{{"shard-0", 2500}}));
}

TEST(Heartbeats, StampWhileTheThreadRunsAndStopWhileItIsBlocked) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  Heartbeats h;
  h.watch("shard-0", io);
  std::thread t([&io] { io.run(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(kHeartbeatPeriodMs * 3));
  auto running = h.stamps();
  ASSERT_EQ(running.size(), 1u);
  EXPECT_TRUE(h.verdict().ok);
  EXPECT_FALSE(h.block("shard-9", std::chrono::milliseconds(10)));
  EXPECT_TRUE(h.block("shard-0", std::chrono::milliseconds(kHeartbeatPeriodMs * 4)));
  std::this_thread::sleep_for(std::chrono::milliseconds(kHeartbeatPeriodMs * 3));
  auto blocked = h.stamps();
  // Blocked from (at most one period after) `running`: no stamp for the last two periods.
  EXPECT_LE(blocked[0].last_alive_ms - running[0].last_alive_ms, kHeartbeatPeriodMs + 50);
  io.stop();
  t.join();
}

TEST(CapacityFamilies, GaugesAndLabels) {
  CapacityFacts f;
  f.max_allocations = 2;
  f.relay_ports = {{3, 1000}, {1, 1000}};
  f.tcp_connections = 4;
  f.tls_connections = 5;
  f.max_connections = 20000;
  f.turn_cert_expiry = 1'800'000'000;
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, capacity_families(f));
  std::string text = out.str();
  for (const char* line :
       {"turnpike_allocations_limit 2\n", "turnpike_relay_ports_in_use 4\n", "turnpike_relay_ports_limit 2000\n",
        "turnpike_connections{transport=\"tcp\"} 4\n", "turnpike_connections{transport=\"tls\"} 5\n",
        "turnpike_connections_limit 20000\n",
        "turnpike_tls_certificate_expiry_timestamp_seconds{use=\"turn\"} 1800000000\n",
        "# TYPE turnpike_connections gauge\n"})
    EXPECT_NE(text.find(line), std::string::npos) << line << " in\n" << text;
  EXPECT_EQ(text.find("use=\"signal\""), std::string::npos);
  f.turn_cert_expiry.reset();
  std::ostringstream none;
  prometheus::TextSerializer().Serialize(none, capacity_families(f));
  EXPECT_EQ(none.str().find("turnpike_tls_certificate_expiry"), std::string::npos);  // no certificate: no family
}

}  // namespace
}  // namespace turnpike
