// Call reports (server/call_report.hpp, server/admin_call_reports.cpp): the body's checks, the path
// a candidate pair means, who may report (the admin token, or a TURN credential the server accepts
// now), CORS, and the counters: a refused report changes nothing but the refusal counter.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "server/admin.hpp"
#include "server/call_report.hpp"
#include "server/metrics.hpp"
#include "turn/auth.hpp"

namespace turnpike {
namespace {

using nlohmann::json;

std::optional<std::string> parse(const std::string& text, CallReport& r) { return parse_call_report(json::parse(text), r); }

TEST(CallReport, PathOfEachCandidatePair) {
  CallReport r;
  ASSERT_FALSE(parse(R"({"local_candidate_type":"host","remote_candidate_type":"srflx","duration_seconds":61.5})", r));
  EXPECT_EQ(r.path(), CallPath::Direct);
  EXPECT_DOUBLE_EQ(r.duration_s, 61.5);
  ASSERT_FALSE(parse(R"({"local_candidate_type":"prflx","remote_candidate_type":"prflx","relay_protocol":null,"duration_seconds":0})", r));
  EXPECT_EQ(r.path(), CallPath::Direct);
  ASSERT_FALSE(parse(R"({"local_candidate_type":"relay","remote_candidate_type":"host","relay_protocol":"udp","duration_seconds":5})", r));
  EXPECT_EQ(r.path(), CallPath::RelayUdp);
  ASSERT_FALSE(parse(R"({"local_candidate_type":"relay","remote_candidate_type":"relay","relay_protocol":"tcp","duration_seconds":5})", r));
  EXPECT_EQ(r.path(), CallPath::RelayTcp);
  ASSERT_FALSE(parse(R"({"local_candidate_type":"relay","remote_candidate_type":"srflx","relay_protocol":"tls","duration_seconds":5})", r));
  EXPECT_EQ(r.path(), CallPath::RelayTls);
  ASSERT_FALSE(parse(R"({"local_candidate_type":"srflx","remote_candidate_type":"relay","duration_seconds":5})", r));
  EXPECT_EQ(r.path(), CallPath::RelayRemote);
  EXPECT_STREQ(to_string(CallPath::RelayRemote), "relay_remote");
}

TEST(CallReport, BadBodiesNameTheField) {
  CallReport r;
  r.duration_s = 42;
  auto why = [&](const std::string& body) { return parse(body, r).value_or(""); };
  EXPECT_NE(why("[]").find("JSON object"), std::string::npos);
  EXPECT_NE(why(R"({"remote_candidate_type":"host","duration_seconds":1})").find("local_candidate_type"), std::string::npos);
  EXPECT_NE(why(R"({"local_candidate_type":"HOST","remote_candidate_type":"host","duration_seconds":1})").find("local_candidate_type"), std::string::npos);
  EXPECT_NE(why(R"({"local_candidate_type":"host","remote_candidate_type":7,"duration_seconds":1})").find("remote_candidate_type"), std::string::npos);
  EXPECT_NE(why(R"({"local_candidate_type":"relay","remote_candidate_type":"host","duration_seconds":1})").find("relay_protocol"), std::string::npos);
  EXPECT_NE(why(R"({"local_candidate_type":"relay","remote_candidate_type":"host","relay_protocol":"dtls","duration_seconds":1})").find("relay_protocol"), std::string::npos);
  EXPECT_NE(why(R"({"local_candidate_type":"host","remote_candidate_type":"host","relay_protocol":"sctp","duration_seconds":1})").find("relay_protocol"), std::string::npos);
  EXPECT_NE(why(R"({"local_candidate_type":"host","remote_candidate_type":"host"})").find("duration_seconds"), std::string::npos);
  EXPECT_NE(why(R"({"local_candidate_type":"host","remote_candidate_type":"host","duration_seconds":"60"})").find("duration_seconds"), std::string::npos);
  EXPECT_NE(why(R"({"local_candidate_type":"host","remote_candidate_type":"host","duration_seconds":-1})").find("duration_seconds"), std::string::npos);
  EXPECT_NE(why(R"({"local_candidate_type":"host","remote_candidate_type":"host","duration_seconds":604801})").find("duration_seconds"), std::string::npos);
  EXPECT_NE(why(R"({"local_candidate_type":"host","remote_candidate_type":"host","duration_seconds":1,"username":"u"})").find("together"), std::string::npos);
  EXPECT_NE(why(R"({"local_candidate_type":"host","remote_candidate_type":"host","duration_seconds":1,"username":1,"credential":"c"})").find("username"), std::string::npos);
  EXPECT_NE(why(R"({"local_candidate_type":"host","remote_candidate_type":"host","duration_seconds":1,"username":")" +
                std::string(513, 'u') + R"(","credential":"c"})").find("512"), std::string::npos);
  EXPECT_DOUBLE_EQ(r.duration_s, 42);  // a refused body leaves the output alone
}

TEST(CallReport, PasswordCheckTakesStaticUsersAndUnexpiredRestCredentials) {
  turn::AuthConfig cfg;
  cfg.users = {{"alice", "wonderland"}};
  cfg.rest_secrets = {"new-secret", "old-secret"};
  turn::Authenticator auth(cfg);
  using L = turn::Authenticator::Lookup;
  EXPECT_EQ(auth.check_password("alice", "wonderland", 1'000), L::Ok);
  EXPECT_EQ(auth.check_password("alice", "wonderlan", 1'000), L::UnknownUser);
  EXPECT_EQ(auth.check_password("alice", "wonderland!", 1'000), L::UnknownUser);
  EXPECT_EQ(auth.check_password("bob", "wonderland", 1'000), L::UnknownUser);
  const std::string user = "2000:web:eu";
  EXPECT_EQ(auth.check_password(user, turn::rest_password("new-secret", user), 1'000), L::Ok);
  EXPECT_EQ(auth.check_password(user, turn::rest_password("old-secret", user), 1'000), L::Ok);
  EXPECT_EQ(auth.check_password(user, turn::rest_password("other", user), 1'000), L::UnknownUser);
  EXPECT_EQ(auth.check_password(user, turn::rest_password("new-secret", user), 2'000), L::Expired);
  EXPECT_EQ(auth.check_password("2000:web:us", turn::rest_password("new-secret", user), 1'000), L::UnknownUser);
}

struct CallReportsFixture : ::testing::Test {
  std::vector<std::string> counted, refused;
  AdminBackend backend() {
    AdminBackend b;
    b.token = "0123456789abcdef";
    b.turn_credential_ok = [](const std::string& u, const std::string& c) { return u == "1:web" && c == "good"; };
    b.call_report = [this](const CallReport& r, const std::string& site) { counted.push_back(std::string(to_string(r.path())) + "@" + site); };
    b.call_report_rejected = [this](const char* why) { refused.push_back(why); };
    b.site_of = [](const turn::IpAddress& a) { return a.to_string() == "203.0.113.20" ? "lab" : "elsewhere"; };
    b.site_label = [](const std::string& s) { return s; };
    return b;
  }
  AdminServer::Response post(const std::string& body, const std::string& auth = "", const std::string& method = "POST") {
    return AdminServer::route(backend(), method, "/api/v1/call-reports", auth, body, turn::IpAddress::parse("203.0.113.20"));
  }
  static std::string header(const AdminServer::Response& r, const std::string& name) {
    for (const auto& [k, v] : r.headers)
      if (k == name) return v;
    return "";
  }
};

TEST_F(CallReportsFixture, CountedWithACredentialOrTheAdminToken) {
  const std::string relay = R"({"local_candidate_type":"relay","remote_candidate_type":"host","relay_protocol":"tls","duration_seconds":300,)";
  auto r = post(relay + R"("username":"1:web","credential":"good","tags":{"site":"hq-3f","device":"cart-7"}})");
  EXPECT_EQ(r.status, 202u);
  EXPECT_EQ(json::parse(r.body)["path"], "relay_tls");
  EXPECT_EQ(json::parse(r.body)["site"], "hq-3f");
  EXPECT_EQ(header(r, "Access-Control-Allow-Origin"), "*");
  // No site tag: the poster's site.
  EXPECT_EQ(post(R"({"local_candidate_type":"host","remote_candidate_type":"host","duration_seconds":1})",
                 "Bearer 0123456789abcdef").status, 202u);
  EXPECT_EQ(counted, (std::vector<std::string>{"relay_tls@hq-3f", "direct@lab"}));
  EXPECT_TRUE(refused.empty());
}

TEST_F(CallReportsFixture, RefusedReportsCountNothingButTheRefusal) {
  const std::string direct = R"({"local_candidate_type":"host","remote_candidate_type":"host","duration_seconds":1)";
  EXPECT_EQ(post(direct + "}").status, 401u);                                                     // no credential
  EXPECT_EQ(post(direct + R"(,"username":"1:web","credential":"bad"})").status, 401u);            // wrong one
  EXPECT_EQ(post(direct + "}", "Bearer wrong").status, 401u);                                     // wrong token
  EXPECT_EQ(post("{\"local_candidate_type\":", "Bearer 0123456789abcdef").status, 400u);          // not JSON
  EXPECT_EQ(post(direct + R"(,"tags":{"site":"a b"}})", "Bearer 0123456789abcdef").status, 400u);  // bad tag
  auto r = post(direct + R"(,"duration_seconds":1e9})", "Bearer 0123456789abcdef");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(header(r, "Access-Control-Allow-Origin"), "*");  // a page can read why
  EXPECT_TRUE(counted.empty());
  EXPECT_EQ(refused, (std::vector<std::string>{"unauthorized", "unauthorized", "unauthorized", "invalid", "invalid", "invalid"}));
  EXPECT_EQ(AdminServer::route(backend(), "POST", "/api/v1/call-reports?x=1", "", direct + "}").status, 400u);
}

TEST_F(CallReportsFixture, PreflightAndMethods) {
  auto r = post("", "", "OPTIONS");
  EXPECT_EQ(r.status, 204u);
  EXPECT_EQ(header(r, "Access-Control-Allow-Origin"), "*");
  EXPECT_NE(header(r, "Access-Control-Allow-Methods").find("POST"), std::string::npos);
  EXPECT_NE(header(r, "Access-Control-Allow-Headers").find("Content-Type"), std::string::npos);
  auto g = post("", "Bearer 0123456789abcdef", "GET");
  EXPECT_EQ(g.status, 405u);
  EXPECT_EQ(header(g, "Allow"), "POST, OPTIONS");
  EXPECT_TRUE(counted.empty());
}

TEST(CallReportMetrics, CountedByPathAndSiteWithDurations) {
  Metrics m("test", "eu");
  m.call_reported(CallPath::RelayTcp, "hq", 90);
  m.call_reported(CallPath::RelayTcp, "hq", 30);
  m.call_reported(CallPath::Direct, "branch", 5);
  m.call_report_rejected("unauthorized");
  std::string text = m.render({}, nullptr, 0, 0);
  EXPECT_NE(text.find(R"(turnpike_calls_total{path="relay_tcp",site="hq"} 2)"), std::string::npos);
  EXPECT_NE(text.find(R"(turnpike_calls_total{path="direct",site="branch"} 1)"), std::string::npos);
  EXPECT_NE(text.find(R"(turnpike_call_duration_seconds_count{path="relay_tcp"} 2)"), std::string::npos);
  EXPECT_NE(text.find(R"(turnpike_call_duration_seconds_sum{path="relay_tcp"} 120)"), std::string::npos);
  EXPECT_NE(text.find(R"(turnpike_call_duration_seconds_count{path="relay_remote"} 0)"), std::string::npos);
  EXPECT_NE(text.find(R"(turnpike_call_reports_rejected_total{reason="unauthorized"} 1)"), std::string::npos);
  EXPECT_NE(text.find(R"(turnpike_call_reports_rejected_total{reason="invalid"} 0)"), std::string::npos);
}

}  // namespace
}  // namespace turnpike
