// Probe reports (server/probe_reports.hpp, server/admin_probe_reports.cpp): the body's schema, the
// route (token, methods, size), the bounded table, the JSON listing and the site-tagged metrics.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "server/admin.hpp"
#include "server/probe_reports.hpp"

namespace turnpike {
namespace {

using nlohmann::json;

const char* kGood = R"({"tool":"turnpike-diag 1","time":"2026-12-08T00:00:00Z","round":3,"tags":{"site":"lyon"},
  "transports":[{"transport":"udp","ok":true,"setup_seconds":0.01,"rtt_seconds":0.02,"jitter_seconds":0.001,"loss_ratio":0.1,"sent":10,"received":9},
                {"transport":"tcp","ok":false,"setup_seconds":null,"reason":"timeout","stage":"allocate","error_code":0,"detail":"timeout"}],
  "nat":{"mapping":"endpoint_independent","filtering":"address_dependent","class":"restricted_cone"},
  "binding_lifetime_seconds":30})";

std::optional<std::string> parse(const std::string& text, ProbeReport& r) { return parse_probe_report(json::parse(text), r); }

TEST(ProbeReport, GoodBody) {
  ProbeReport r;
  ASSERT_FALSE(parse(kGood, r));
  ASSERT_EQ(r.paths.size(), 2u);
  EXPECT_TRUE(r.paths[0].ok);
  EXPECT_DOUBLE_EQ(*r.paths[0].rtt_s, 0.02);
  EXPECT_DOUBLE_EQ(r.paths[0].loss, 0.1);
  EXPECT_EQ(r.paths[1].reason, "timeout");
  EXPECT_EQ(*r.nat_class, "restricted_cone");
  EXPECT_TRUE(r.has_lifetime);
  EXPECT_DOUBLE_EQ(*r.binding_lifetime_s, 30);
  EXPECT_EQ(r.round, 3u);
}

TEST(ProbeReport, BadBodiesNameTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"([])", "JSON object"},
      {R"({})", "'transports'"},
      {R"({"transports":[]})", "'transports'"},
      {R"({"transports":[{"transport":"udp","ok":true}],"extra":1})", "unknown field 'extra'"},
      {R"({"transports":[{"transport":"udp","ok":true,"x":1}]})", "unknown field 'x' in a transport"},
      {R"({"transports":[{"transport":"quic","ok":true}]})", "'transport'"},
      {R"({"transports":[{"transport":"udp","ok":1}]})", "'ok'"},
      {R"({"transports":[{"transport":"udp","ok":true,"loss_ratio":2}]})", "'loss_ratio'"},
      {R"({"transports":[{"transport":"udp","ok":true,"rtt_seconds":-1}]})", "'rtt_seconds'"},
      {R"({"transports":[{"transport":"udp","ok":false}]})", "'reason'"},
      {R"({"transports":[{"transport":"udp","ok":false,"reason":"because"}]})", "'reason'"},
      {R"({"transports":[{"transport":"udp","ok":false,"reason":"error","error_code":1000}]})", "'error_code'"},
      {R"({"transports":[{"transport":"udp","ok":false,"reason":"error","stage":"A B"}]})", "'stage'"},
      {R"({"transports":[{"transport":"udp","ok":true},{"transport":"udp","ok":true}]})", "twice"},
      {R"({"transports":[{"transport":"udp","ok":true}],"nat":{"mapping":"x","filtering":"unknown","class":"unknown"}})", "'nat.mapping'"},
      {R"({"transports":[{"transport":"udp","ok":true}],"nat":{"mapping":"unknown","filtering":"unknown","class":"cone"}})", "'nat.class'"},
      {R"({"transports":[{"transport":"udp","ok":true}],"binding_lifetime_seconds":0})", "'binding_lifetime_seconds'"},
      {R"({"transports":[{"transport":"udp","ok":true}],"round":-1})", "'round'"},
  };
  for (const auto& [body, want] : cases) {
    ProbeReport r;
    auto why = parse(body, r);
    ASSERT_TRUE(why) << body;
    EXPECT_NE(why->find(want), std::string::npos) << body << " -> " << *why;
  }
}

TEST(ProbeReports, TableIsBoundedAndRendered) {
  ProbeReports t(2);
  ProbeReport r;
  ASSERT_FALSE(parse(kGood, r));
  t.record("lyon", r, 100);
  ProbeReport later;
  ASSERT_FALSE(parse(R"({"transports":[{"transport":"udp","ok":false,"reason":"refused"}]})", later));
  t.record("lyon", later, 110);  // no NAT in this round: the last known class stays
  t.record("paris", r, 105);
  t.record("nice", r, 120);      // full: lyon? no, paris is the least recently reported
  EXPECT_EQ(t.size(), 2u);
  std::string text = t.metrics_text();
  EXPECT_NE(text.find("turnpike_site_probe_up{site=\"lyon\",transport=\"udp\"} 0\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("site=\"paris\""), std::string::npos);
  EXPECT_NE(text.find("turnpike_site_probe_rtt_seconds{site=\"nice\",transport=\"udp\"} 0.02\n"), std::string::npos);
  EXPECT_NE(text.find("turnpike_site_nat_class_info{site=\"lyon\",class=\"restricted_cone\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("turnpike_site_probe_binding_lifetime_seconds{site=\"nice\"} 30\n"), std::string::npos);
  EXPECT_NE(text.find("turnpike_probe_report_sites_evicted_total 1\n"), std::string::npos);
  json j = t.to_json(130);
  EXPECT_EQ(j["count"], 2);
  EXPECT_EQ(j["sites"][0]["site"], "lyon");
  EXPECT_EQ(j["sites"][0]["age_seconds"], 20);
  EXPECT_EQ(j["sites"][0]["transports"][0]["reason"], "refused");
  EXPECT_EQ(j["sites"][0]["nat"]["class"], "restricted_cone");
}

struct Route : ::testing::Test {
  AdminBackend b;
  ProbeReports table{8};
  Route() {
    b.token = "secret";
    b.probe_report = [this](const ProbeReport& r, const std::string& site) { table.record(site, r, 1); };
    b.probe_reports = [this] { return table.to_json(2); };
  }
  AdminServer::Response req(const std::string& method, const std::string& body, const std::string& auth = "Bearer secret",
                            const std::string& target = "/api/v1/probe-reports") {
    return AdminServer::route(b, method, target, auth, body);
  }
};

TEST_F(Route, PostThenList) {
  auto r = req("POST", kGood);
  EXPECT_EQ(r.status, 202u) << r.body;
  EXPECT_EQ(json::parse(r.body)["site"], "lyon");
  r = req("GET", "");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(json::parse(r.body)["sites"][0]["site"], "lyon");
}

TEST_F(Route, RefusalsChangeNothing) {
  EXPECT_EQ(req("POST", kGood, "").status, 401u);
  EXPECT_EQ(req("GET", "", "Bearer nope").status, 401u);
  EXPECT_EQ(req("POST", R"({"transports":[]})").status, 400u);
  EXPECT_EQ(req("POST", "not json").status, 400u);
  EXPECT_EQ(req("POST", std::string(kMaxProbeReportBytes + 1, ' ')).status, 413u);
  EXPECT_EQ(req("DELETE", "").status, 405u);
  EXPECT_EQ(req("GET", "", "Bearer secret", "/api/v1/probe-reports?x=1").status, 400u);
  EXPECT_EQ(req("POST", R"({"transports":[{"transport":"udp","ok":true}],"tags":{"site":"a b"}})").status, 400u);
  EXPECT_EQ(table.size(), 0u);
}

}  // namespace
}  // namespace turnpike
