// The pre-call check's reports (server/check_report.hpp, server/check_routes.cpp): the strict schema,
// the bounded table and its rate limit, the routes on both ports, /check/config and the config keys.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "server/admin.hpp"
#include "server/check_report.hpp"
#include "server/check_routes.hpp"
#include "server/config.hpp"
#include "turn/auth.hpp"

namespace turnpike {
namespace {

using nlohmann::json;

json good() {
  return json::parse(R"({"version":1,"verdict":"degraded","reasons":["UDP is blocked"],"tags":{"site":"ward-3"},
    "transports":{"udp":{"ok":false,"setup_ms":null,"error":"error 701"},"tcp":{"ok":true,"setup_ms":80.5},
                  "tls":{"ok":true,"setup_ms":120,"url":"turns:203.0.113.1:443?transport=tcp"}},
    "media":{"transport":"tcp","rtt_ms":12.5,"jitter_ms":1.5,"loss":0.02,"sent":150,"received":147,"up_kbps":900,"down_kbps":850,"seconds":3},
    "nat":{"mapping":"unknown","udp_reachable":false,"mapped":[],"servers":3},
    "region":{"served":"eu","expected":"eu","ok":true},
    "browser":{"user_agent":"UA","camera":"allowed","microphone":"absent","cameras":1,"microphones":0,"mtu_hint":null,"mtu_source":"n/a"},
    "duration_ms":9000})");
}

std::string why(json body) {
  CheckReport r;
  r.verdict = "untouched";
  auto bad = parse_check_report(body, r);
  EXPECT_EQ(r.verdict, "untouched");
  return bad.value_or("");
}

TEST(CheckReport, AcceptsTheFullReport) {
  CheckReport r;
  ASSERT_FALSE(parse_check_report(good(), r));
  EXPECT_EQ(r.verdict, "degraded");
  EXPECT_EQ(r.ok[0], 0);
  EXPECT_EQ(r.ok[1], 1);
  EXPECT_EQ(r.ok[2], 1);
  EXPECT_DOUBLE_EQ(*r.rtt_ms, 12.5);
  EXPECT_DOUBLE_EQ(*r.loss, 0.02);
  EXPECT_EQ(r.mapping, "unknown");
  ASSERT_FALSE(parse_check_report(json::parse(R"({"version":1,"verdict":"blocked","media":null})"), r));
  EXPECT_EQ(r.ok[0], -1);
}

TEST(CheckReport, RefusesWhatTheSchemaDoesNotSay) {
  auto with = [](const std::string& pointer, json v) {
    auto b = good();
    b[json::json_pointer(pointer)] = std::move(v);
    return b;
  };
  EXPECT_NE(why(json::array()).find("JSON object"), std::string::npos);
  EXPECT_NE(why(with("/version", 2)).find("version"), std::string::npos);
  EXPECT_NE(why(with("/verdict", "fine")).find("verdict"), std::string::npos);
  EXPECT_NE(why(with("/extra", 1)).find("extra"), std::string::npos);
  EXPECT_NE(why(with("/transports/sctp", json{{"ok", true}})).find("transports"), std::string::npos);
  auto sctp = good();
  sctp["transports"] = {{"sctp", {{"ok", true}}}};
  EXPECT_NE(why(sctp).find("sctp"), std::string::npos);
  EXPECT_NE(why(with("/transports/udp/ok", "yes")).find("transports.udp.ok"), std::string::npos);
  EXPECT_NE(why(with("/transports/udp/setup_ms", -1)).find("setup_ms"), std::string::npos);
  EXPECT_NE(why(with("/media/loss", 1.5)).find("media.loss"), std::string::npos);
  EXPECT_NE(why(with("/media/sent", 1.5)).find("media.sent"), std::string::npos);
  EXPECT_NE(why(with("/nat/mapping", "symmetric")).find("nat.mapping"), std::string::npos);
  EXPECT_NE(why(with("/nat/mapped", json::array({1}))).find("nat.mapped"), std::string::npos);
  EXPECT_NE(why(with("/browser/user_agent", std::string(513, 'u'))).find("user_agent"), std::string::npos);
  EXPECT_NE(why(with("/browser/camera", "maybe")).find("browser.camera"), std::string::npos);
  EXPECT_NE(why(with("/reasons", json::array({"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m"}))).find("reasons"), std::string::npos);
  auto no_verdict = good();
  no_verdict.erase("verdict");
  EXPECT_NE(why(no_verdict).find("verdict"), std::string::npos);
}

TEST(CheckReports, TableIsBoundedAndRateLimited) {
  CheckReports t(2, 3);
  CheckReport r;
  ASSERT_FALSE(parse_check_report(good(), r));
  EXPECT_TRUE(t.admit(0));
  EXPECT_TRUE(t.admit(0));
  EXPECT_TRUE(t.admit(0));
  EXPECT_FALSE(t.admit(0));   // the bucket holds a minute's worth
  EXPECT_TRUE(t.admit(20));   // 3 a minute: one back after 20 s
  auto a = t.add(r, good(), "ward-3", 100), b = t.add(r, good(), "ward-3", 101), c = t.add(r, good(), "lab", 102);
  EXPECT_FALSE(t.find(a));    // evicted: the oldest goes
  ASSERT_TRUE(t.find(c));
  EXPECT_EQ((*t.find(c))["report"], good());
  EXPECT_EQ(t.list(10, "").size(), 2u);
  EXPECT_EQ(t.list(10, "lab").size(), 1u);
  EXPECT_EQ(t.list(10, "")[0]["id"], c);  // newest first
  EXPECT_EQ(t.list(1, "")[0]["id"], c);
  auto text = t.metrics_text();
  EXPECT_NE(text.find("turnpike_check_reports_total{site=\"ward-3\",verdict=\"degraded\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("turnpike_check_transport_ok{site=\"lab\",transport=\"udp\"} 0"), std::string::npos);
  EXPECT_NE(text.find("turnpike_check_transport_ok{site=\"lab\",transport=\"tls\"} 1"), std::string::npos);
  EXPECT_NE(text.find("turnpike_check_rtt_seconds{site=\"lab\"} 0.0125"), std::string::npos);
  EXPECT_NE(text.find("turnpike_check_reports_dropped_total{reason=\"rate_limited\"} 1"), std::string::npos);
  EXPECT_NE(text.find("turnpike_check_reports_dropped_total{reason=\"evicted\"} 1"), std::string::npos);
  EXPECT_NE(text.find("turnpike_check_reports_stored 2"), std::string::npos);
  EXPECT_NE(b, c);
}

struct CheckRoutes : ::testing::Test {
  Config cfg = load_config_text(R"(
region: eu
listen: [{transport: udp, address: 203.0.113.1, port: 3478}, {transport: tcp, address: 203.0.113.1, port: 3478}]
relay: {addresses: [203.0.113.1]}
auth: {realm: r, rest_secrets: [s3cret]}
nat_discovery: {enabled: true, alternate: "203.0.113.2:3479"}
sfu: {signal_listen: "203.0.113.1:8080", media_listen: "203.0.113.2:5000", token_keys: [key-0123456789abcdef]}
check: {reports_per_minute: 2, max_reports: 5, expected_region: eu, credential_ttl_seconds: 120}
)");
  AdminBackend b = [] {
    AdminBackend b;
    b.token = "0123456789abcdef";
    b.check_reports = std::make_shared<CheckReports>(5, 2);
    b.site_of = [](const turn::IpAddress&) { return std::string("lab"); };
    return b;
  }();
  std::optional<AdminServer::Response> signal(const std::string& method, const std::string& target, const std::string& body,
                                              const std::string& type = "application/json") {
    return check_route_signal(cfg, b, CheckRequest{method, target, type, body, *turn::IpAddress::parse("203.0.113.20")}, 1000, 0);
  }
};

TEST_F(CheckRoutes, ConfigHandsOutRegionTurnUrlsAndShortCredentials) {
  auto r = signal("GET", "/check/config", "");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200u) << r->body;
  auto j = json::parse(r->body);
  EXPECT_EQ(j["region"], "eu");
  EXPECT_EQ(j["expected_region"], "eu");
  EXPECT_EQ(j["turn"]["udp"], "turn:203.0.113.1:3478?transport=udp");
  EXPECT_EQ(j["turn"]["tcp"], "turn:203.0.113.1:3478?transport=tcp");
  EXPECT_FALSE(j["turn"].contains("tls"));  // no tls listener: the page shows TLS as not offered
  EXPECT_EQ(j["stun"], json({"stun:203.0.113.1:3478", "stun:203.0.113.1:3479", "stun:203.0.113.2:3478"}));
  EXPECT_EQ(j["username"], "1120:check");
  EXPECT_EQ(j["credential"], turn::rest_password("s3cret", "1120:check"));
  EXPECT_EQ(signal("GET", "/check/config?token=nonsense", "")->status, 401u);
  cfg.check.require_token = true;
  EXPECT_EQ(signal("GET", "/check/config", "")->status, 401u);
  EXPECT_FALSE(signal("GET", "/check/other", ""));
}

TEST_F(CheckRoutes, PagePostsWithoutTheTokenAsJsonOnlyAndRateLimited) {
  auto r = signal("POST", "/api/v1/check-reports", good().dump());
  ASSERT_EQ(r->status, 202u) << r->body;
  auto id = json::parse(r->body)["id"].get<std::string>();
  EXPECT_EQ(json::parse(r->body)["site"], "ward-3");
  EXPECT_EQ(signal("POST", "/api/v1/check-reports", good().dump(), "text/plain")->status, 415u);  // no cross-origin form posts
  EXPECT_EQ(signal("POST", "/api/v1/check-reports", "{")->status, 400u);
  EXPECT_EQ(signal("POST", "/api/v1/check-reports", std::string(kMaxCheckReportBytes + 1, ' '))->status, 413u);
  EXPECT_EQ(signal("POST", "/api/v1/check-reports", good().dump())->status, 429u);  // 2 a minute, all clients
  EXPECT_EQ(signal("GET", "/api/v1/check-reports", "")->status, 405u);                // reading is the admin port's
  // The admin port: the token to read, the list and the shareable id.
  EXPECT_EQ(AdminServer::route(b, "GET", "/api/v1/check-reports", "").status, 401u);
  auto list = AdminServer::route(b, "GET", "/api/v1/check-reports?limit=10&site=ward-3", "Bearer 0123456789abcdef");
  ASSERT_EQ(list.status, 200u) << list.body;
  EXPECT_EQ(json::parse(list.body)["reports"][0]["id"], id);
  auto one = AdminServer::route(b, "GET", "/api/v1/check-reports/" + id, "Bearer 0123456789abcdef");
  ASSERT_EQ(one.status, 200u);
  EXPECT_EQ(json::parse(one.body)["report"], good());
  EXPECT_EQ(AdminServer::route(b, "GET", "/api/v1/check-reports/0000", "Bearer 0123456789abcdef").status, 404u);
  EXPECT_EQ(AdminServer::route(b, "GET", "/api/v1/check-reports?limit=0", "Bearer 0123456789abcdef").status, 400u);
  EXPECT_EQ(AdminServer::route(b, "DELETE", "/api/v1/check-reports/" + id, "Bearer 0123456789abcdef").status, 405u);
  auto text = b.check_reports->metrics_text();
  EXPECT_NE(text.find("turnpike_check_reports_dropped_total{reason=\"invalid\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("turnpike_check_reports_dropped_total{reason=\"too_large\"} 1"), std::string::npos);
  EXPECT_NE(text.find("turnpike_check_reports_dropped_total{reason=\"rate_limited\"} 1"), std::string::npos);
}

TEST(CheckConfig, KeysAreChecked) {
  const std::string base = "listen: [{transport: udp, address: 127.0.0.1, port: 3478}]\nrelay: {addresses: [127.0.0.1]}\nauth: {realm: r, users: {a: b}}\n";
  auto c = load_config_text(base);
  EXPECT_TRUE(c.check.enabled);
  EXPECT_EQ(c.check.max_reports, 1000u);
  EXPECT_THROW(load_config_text(base + "check: {nope: 1}\n"), ConfigError);
  EXPECT_THROW(load_config_text(base + "check: {max_reports: 100001}\n"), ConfigError);
  EXPECT_THROW(load_config_text(base + "check: {require_token: maybe}\n"), ConfigError);
  EXPECT_THROW(load_config_text(base + "check: {credential_ttl_seconds: 5}\n"), ConfigError);
  c = load_config_text(base + "check: {enabled: false, reports_per_minute: 5}\n");
  EXPECT_FALSE(c.check.enabled);
  EXPECT_EQ(c.check.reports_per_minute, 5u);
}

}  // namespace
}  // namespace turnpike
