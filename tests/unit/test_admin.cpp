// The admin API's routing (statuses, errors, filters, the bearer token) and the metrics text, without
// sockets; tests/integration/test_metrics.py drives the same over HTTP against the real binary.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <boost/asio/post.hpp>

#include "common/json_text.hpp"
#include "server/admin.hpp"
#include "server/allocation_record.hpp"
#include "server/io_guard.hpp"
#include "server/metrics.hpp"
#include "server/log.hpp"
#include "server/sites.hpp"
#include "server/tag_labels.hpp"

namespace turnpike {
namespace {

using nlohmann::json;

turn::Allocation make_allocation(uint64_t id, const std::string& user, turn::Transport t, uint64_t bytes) {
  turn::Allocation a;
  a.id = id;
  a.user = user;
  a.username = user;
  a.five_tuple.client = *turn::Endpoint::parse("192.0.2.10:5000");
  a.five_tuple.server = *turn::Endpoint::parse("203.0.113.1:3478");
  a.five_tuple.transport = t;
  a.relays[0].address = *turn::Endpoint::parse("203.0.113.1:50000");
  a.relay_count = 1;
  a.created_ms = 1'000;
  a.created_unix_ms = 1'790'000'000'000;
  a.expires_ms = 601'000;
  a.lifetime_s = 600;
  a.stats.bytes_to_peer = bytes;
  a.stats.packets_to_peer = bytes / 100;
  a.permissions.insert({*turn::IpAddress::parse("198.51.100.7"), 301'000});
  return a;
}

struct Fixture : ::testing::Test {
  std::vector<turn::Allocation> live{make_allocation(1, "alice", turn::Transport::Udp, 1000),
                                     make_allocation(2, "bob", turn::Transport::Tls, 500)};
  bool shard_answers = true;
  AdminBackend backend() {
    AdminBackend b;
    b.region = "eu-west-1";
    b.token = "0123456789abcdef";
    b.state = [] { return "ready"; };
    b.metrics = [] { return std::string("turnpike_build_info 1\n"); };
    b.allocations = [this]() -> std::optional<std::vector<turn::Allocation>> {
      if (!shard_answers) return std::nullopt;
      return live;
    };
    b.record = [](const turn::Allocation& a) {
      return allocation_record(a, RecordContext{"eu-west-1", "turnpike.test", {11'000, 1'790'000'010}, std::nullopt});
    };
    return b;
  }
  AdminServer::Response get(const std::string& target, const std::string& auth = "Bearer 0123456789abcdef") {
    return AdminServer::route(backend(), "GET", target, auth);
  }
};

TEST_F(Fixture, HealthReadyAndMetricsAreOpen) {
  EXPECT_EQ(get("/healthz", "").status, 200u);
  auto ready = get("/readyz", "");
  EXPECT_EQ(ready.status, 200u);
  EXPECT_EQ(json::parse(ready.body)["status"], "ready");
  auto m = get("/metrics", "");
  EXPECT_EQ(m.status, 200u);
  EXPECT_NE(m.content_type.find("text/plain"), std::string::npos);
}

TEST_F(Fixture, ReadyzIs503WhileDraining) {
  auto b = backend();
  b.state = [] { return "draining"; };
  auto r = AdminServer::route(b, "GET", "/readyz", "");
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(json::parse(r.body)["status"], "draining");
}

TEST_F(Fixture, ApiNeedsTheToken) {
  EXPECT_EQ(get("/api/v1/allocations", "bearer 0123456789abcdef").status, 200u);  // scheme: any case
  for (const char* auth : {"", "Bearer wrong", "Bearer 0123456789abcdeX", "Bearerr0123456789abcdef",
                           "Bearer 0123456789abcdef ", "Basic 0123456789abcdef"}) {
    auto r = get("/api/v1/allocations", auth);
    EXPECT_EQ(r.status, 401u) << auth;
    EXPECT_TRUE(json::parse(r.body).contains("error"));
    ASSERT_EQ(r.headers.size(), 1u);
    EXPECT_EQ(r.headers[0].first, "WWW-Authenticate");
  }
  EXPECT_EQ(get("/api/v1/allocations").status, 200u);
}

TEST_F(Fixture, NoTokenConfiguredMeansOpen) {
  auto b = backend();
  b.token.clear();
  EXPECT_EQ(AdminServer::route(b, "GET", "/api/v1/allocations", "").status, 200u);
}

TEST_F(Fixture, ListsAndFilters) {
  auto all = json::parse(get("/api/v1/allocations").body);
  EXPECT_EQ(all["count"], 2);
  EXPECT_EQ(all["region"], "eu-west-1");
  EXPECT_EQ(all["allocations"][0]["id"], "1");
  EXPECT_EQ(json::parse(get("/api/v1/allocations?user=bob").body)["count"], 1);
  EXPECT_EQ(json::parse(get("/api/v1/allocations?user=carol").body)["count"], 0);
  EXPECT_EQ(json::parse(get("/api/v1/allocations?transport=tls").body)["allocations"][0]["user"], "bob");
  EXPECT_EQ(json::parse(get("/api/v1/allocations?region=eu-west-1&user=alice").body)["count"], 1);
  EXPECT_EQ(json::parse(get("/api/v1/allocations?region=us-east-1").body)["count"], 0);
  EXPECT_EQ(json::parse(get("/api/v1/allocations?user=%61lice").body)["count"], 1);  // percent-decoded
}

TEST_F(Fixture, TagsAreInTheRecordAndFilterTheList) {
  live[0].tags = {{"site", "ward-5"}, {"device", "cart"}};
  live[1].tags = {{"site", "ward-6"}, {"device", "cart"}};
  auto count = [&](const std::string& q) { return json::parse(get("/api/v1/allocations?" + q).body)["count"]; };
  auto one = json::parse(get("/api/v1/allocations/1").body);
  EXPECT_EQ(one["tags"], json({{"site", "ward-5"}, {"device", "cart"}}));
  EXPECT_EQ(count("tag.site=ward-5"), 1);
  EXPECT_EQ(json::parse(get("/api/v1/allocations?tag.site=ward-6").body)["allocations"][0]["user"], "bob");
  EXPECT_EQ(count("tag.device=cart"), 2);
  EXPECT_EQ(count("tag.device=cart&tag.site=ward-5"), 1);  // every tag filter must match
  EXPECT_EQ(count("tag.device=cart&tag.site=ward-7"), 0);
  EXPECT_EQ(count("tag.site=ward-5&user=bob"), 0);          // with the other filters
  EXPECT_EQ(count("tag.site=ward-6&transport=tls&region=eu-west-1"), 1);
  EXPECT_EQ(count("tag.floor=3"), 0);                       // a key no allocation has
  EXPECT_EQ(count("tag.site=ward%2D5"), 1);                 // percent-decoded
  live[1].tags.clear();
  EXPECT_EQ(json::parse(get("/api/v1/allocations/2").body)["tags"], json::object());
  for (const char* t : {"/api/v1/allocations?tag.=x", "/api/v1/allocations?tag.a%20b=x", "/api/v1/allocations?tags.site=x",
                        "/api/v1/allocations?tag.site=a&tag.site=b", "/api/v1/allocations?tag=x"})
    EXPECT_EQ(get(t).status, 400u) << t;
  EXPECT_NE(json::parse(get("/api/v1/allocations?colour=red").body)["error"].get<std::string>().find("tag.<key>"),
            std::string::npos);
}

TEST_F(Fixture, BadQueriesAre400) {
  for (const char* t : {"/api/v1/allocations?transport=sctp", "/api/v1/allocations?colour=red",
                        "/api/v1/allocations?user=a&user=b", "/api/v1/allocations?user=%zz", "/api/v1/allocations?user=%4",
                        "/api/v1/allocations/abc", "/api/v1/allocations/", "/api/v1/allocations/1x",
                        "/api/v1/allocations/99999999999999999999999", "/api/v1/allocations/1?user=alice", "/api/v1/allocations?user"}) {
    auto r = get(t);
    EXPECT_EQ(r.status, 400u) << t;
    EXPECT_TRUE(json::parse(r.body).contains("error")) << t;
  }
}

TEST_F(Fixture, OneAllocation) {
  auto r = get("/api/v1/allocations/2");
  ASSERT_EQ(r.status, 200u);
  auto a = json::parse(r.body);
  EXPECT_EQ(a["user"], "bob");
  EXPECT_EQ(a["transport"], "tls");
  EXPECT_EQ(a["bytes_to_peer"], 500);
  EXPECT_EQ(a["region"], "eu-west-1");
  EXPECT_EQ(a["lifetime_left_s"], 590);
  EXPECT_EQ(a["permissions"][0]["peer"], "198.51.100.7");
  EXPECT_TRUE(a["end_reason"].is_null());
  EXPECT_EQ(get("/api/v1/allocations/3").status, 404u);
}

TEST_F(Fixture, MethodsPathsAndShardTimeouts) {
  auto r = AdminServer::route(backend(), "POST", "/api/v1/allocations", "Bearer 0123456789abcdef");
  EXPECT_EQ(r.status, 405u);
  EXPECT_EQ(r.headers.at(0).first, "Allow");
  EXPECT_EQ(AdminServer::route(backend(), "DELETE", "/metrics", "").status, 405u);
  EXPECT_EQ(AdminServer::route(backend(), "HEAD", "/healthz", "").status, 200u);
  EXPECT_EQ(get("/nope").status, 404u);
  EXPECT_EQ(get("/api/v2/allocations").status, 404u);
  shard_answers = false;
  EXPECT_EQ(get("/api/v1/allocations").status, 503u);
}

TEST(AllocationRecord, EndRecordCarriesReasonAndTimes) {
  auto a = make_allocation(7, "alice", turn::Transport::Udp, 0);
  a.stats.last_to_peer_ms = 6'000;
  auto j = allocation_record(a, RecordContext{"r1", "realm", {11'000, 1'790'000'010}, turn::EndReason::Expired});
  EXPECT_EQ(j["end_reason"], "expired");
  EXPECT_EQ(j["lifetime_left_s"], 0);
  EXPECT_EQ(j["created"], rfc3339_ms(1'790'000'000'000));
  EXPECT_DOUBLE_EQ(j["last_activity"]["to_peer"]["seconds_ago"].get<double>(), 5.0);
  EXPECT_TRUE(j["last_activity"]["to_client"].is_null());
  EXPECT_EQ(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
}

TEST(MetricsText, NamesLabelsAndSums) {
  Metrics m("9.9.9", "eu-west-1");
  turn::CoreStats a, b;
  a.packets_to_peer[0].add(3);
  b.packets_to_peer[0].add(4);
  a.allocations[2][0].add(2);  // tls, ipv4
  b.dropped[static_cast<size_t>(turn::DropReason::NoPermission)].add(5);
  m.request_done(turn::stun::Method::Allocate, 401, turn::Transport::Udp, true);
  m.request_done(turn::stun::Method::Allocate, 200, turn::Transport::Udp, false);
  m.request_done(turn::stun::Method::Refresh, 437, turn::Transport::Tcp, false);
  m.auth_failed(turn::AuthFailure::StaleNonce);
  m.server_drop(ServerDrop::Quota, turn::Transport::Tcp);
  std::string text = m.render({&a, &b}, nullptr, 0, 0);
  auto has = [&](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
  EXPECT_TRUE(has(R"(turnpike_build_info{region="eu-west-1",version="9.9.9"} 1)")) << text;
  EXPECT_TRUE(has(R"(turnpike_relay_packets_total{direction="to_peer",transport="udp"} 7)"));
  EXPECT_TRUE(has(R"(turnpike_allocations{transport="tls",family="ipv4"} 2)"));
  EXPECT_TRUE(has(R"(turnpike_relay_dropped_packets_total{reason="no_permission"} 5)"));
  EXPECT_TRUE(has(R"(turnpike_relay_dropped_packets_total{reason="quota"} 1)"));
  EXPECT_TRUE(has(R"(turnpike_requests_total{method="allocate",code="401",result="challenge"} 1)"));
  EXPECT_TRUE(has(R"(turnpike_requests_total{method="refresh",code="437",result="error"} 1)"));
  EXPECT_TRUE(has(R"(turnpike_allocate_requests_total{transport="udp",result="success",code="200"} 1)"));
  // The old name, one more release, deprecated (docs/metrics.md).
  EXPECT_TRUE(has(R"(turnpike_allocations_total{transport="udp",result="success",code="200"} 1)"));
  EXPECT_TRUE(has(R"(turnpike_auth_failures_total{reason="stale_nonce"} 1)"));
  EXPECT_TRUE(has("# TYPE turnpike_allocation_setup_seconds histogram"));
  EXPECT_TRUE(has("# TYPE process_cpu_seconds_total counter"));
  EXPECT_EQ(text.find("turnpike_allocation_relay_bytes_total"), std::string::npos);  // opt-in only

  std::vector<turn::Allocation> per{make_allocation(1, "alice", turn::Transport::Udp, 1000)};
  std::string with = m.render({&a}, &per, 3, 11'000);
  EXPECT_NE(with.find(R"(turnpike_allocation_relay_bytes_total{id="1",user="alice",direction="to_peer"} 1000)"),
            std::string::npos);
  EXPECT_NE(with.find("turnpike_allocation_series_omitted 3\n"), std::string::npos);
}

TEST_F(Fixture, NatReportsCountWhenValidAndChangeNothingWhenNot) {
  auto b = backend();
  std::vector<std::string> counted;
  b.nat_report = [&](const std::string& m, const std::string& f, const std::string& site) {
    counted.push_back(m + "/" + f + "@" + site);
  };
  b.site_of = [](const turn::IpAddress& a) { return a.to_string() == "203.0.113.20" ? "lab" : "elsewhere"; };
  const std::string auth = "Bearer 0123456789abcdef";
  auto post = [&](const std::string& body, const std::string& a) {
    return AdminServer::route(b, "POST", "/api/v1/nat-reports", a, body, turn::IpAddress::parse("192.0.2.99"));
  };
  auto r = post(R"({"mapping":"endpoint_independent","filtering":"address_and_port_dependent","udp_reachable":true,"tags":{"site":"hq","room":"r1"}})", auth);
  EXPECT_EQ(r.status, 202u);
  EXPECT_EQ(json::parse(r.body)["site"], "hq");
  // No site tag: the site of the mapped address the report carries, else of the poster.
  EXPECT_EQ(post(R"({"mapping":"no_nat","filtering":"no_nat","mapped":"203.0.113.20:4000"})", auth).status, 202u);
  EXPECT_EQ(post(R"({"mapping":"unknown","filtering":"unknown","udp_reachable":false})", auth).status, 202u);
  EXPECT_EQ(counted, (std::vector<std::string>{"endpoint_independent/address_and_port_dependent@hq", "no_nat/no_nat@lab",
                                               "unknown/unknown@elsewhere"}));
  // Refused, and nothing counted.
  EXPECT_EQ(post(R"({"mapping":"endpoint_independent","filtering":"address_and_port_dependent"})", "").status, 401u);
  EXPECT_EQ(post("not json", auth).status, 400u);
  EXPECT_EQ(post("[1,2]", auth).status, 400u);
  EXPECT_EQ(post(R"({"mapping":"cone","filtering":"no_nat"})", auth).status, 400u);
  EXPECT_EQ(post(R"({"mapping":"no_nat"})", auth).status, 400u);
  EXPECT_EQ(post(R"({"mapping":"no_nat","filtering":"no_nat","udp_reachable":"yes"})", auth).status, 400u);
  EXPECT_EQ(post(R"({"mapping":"no_nat","filtering":"no_nat","tags":{"site":"a b"}})", auth).status, 400u);
  EXPECT_EQ(post(R"({"mapping":"no_nat","filtering":"no_nat","tags":{"site":7}})", auth).status, 400u);
  EXPECT_EQ(counted.size(), 3u);
  EXPECT_EQ(AdminServer::route(b, "GET", "/api/v1/nat-reports", auth).status, 405u);
  EXPECT_EQ(AdminServer::route(b, "POST", "/api/v1/allocations", auth).status, 405u);
}


// Issue 14 item 1: bytes that are not UTF-8 (a raw path, a %FF query, a Latin-1 REST username)
// never make a JSON serialization throw: they come out as U+FFFD.
TEST_F(Fixture, InvalidUtf8InPathsAndQueriesIsAnsweredNotThrown) {
  auto r = get("/\xff");
  EXPECT_EQ(r.status, 404u);
  auto j = json::parse(r.body);  // valid JSON, valid UTF-8
  EXPECT_NE(j["error"].get<std::string>().find("\xEF\xBF\xBD"), std::string::npos);
  EXPECT_EQ(get("/api/v1/allocations?user=%FF").status, 200u);
  EXPECT_EQ(get("/api/v1/allocations?bad%FF=1").status, 400u);
  EXPECT_EQ(get("/api/v1/allocations/%FF").status, 400u);
  EXPECT_EQ(AdminServer::route(backend(), "\xfe\xff", "/healthz", "").status, 405u);
}

TEST_F(Fixture, Latin1UsernameIsListedAndLogged) {
  live.push_back(make_allocation(3, "caf\xe9", turn::Transport::Tcp, 10));
  live.back().username = "1790000000:caf\xe9";
  auto r = get("/api/v1/allocations");
  ASSERT_EQ(r.status, 200u);
  auto j = json::parse(r.body);
  ASSERT_EQ(j["count"], 3);
  EXPECT_EQ(j["allocations"][2]["user"], "caf\xEF\xBF\xBD");
  EXPECT_EQ(get("/api/v1/allocations/3").status, 200u);
  EXPECT_EQ(get("/api/v1/allocations?user=caf%E9").status, 200u);
  // The end record, as Shard::allocation_ended logs it.
  auto rec = allocation_record(live.back(), RecordContext{"r1", "realm", {11'000, 1'790'000'010}, turn::EndReason::Deleted});
  EXPECT_THROW((void)rec.dump(), nlohmann::json::type_error);  // what crashed the node
  EXPECT_NO_THROW((void)safe_dump(rec));
  EXPECT_EQ(json::parse(safe_dump(rec))["username"], "1790000000:caf\xEF\xBF\xBD");
  EXPECT_EQ(log::json_escape("a\"\xff\n"), "a\\\"\xEF\xBF\xBD\\n");
}

// Every I/O thread's loop: an escaped exception is logged and counted, and the loop goes on.
TEST(IoGuard, SurvivesThrowingHandlersAndKeepsRunning) {
  boost::asio::io_context io;
  int after = 0, counted = 0;
  boost::asio::post(io, [] { throw std::runtime_error("handler bug"); });
  boost::asio::post(io, [&] { ++after; });
  boost::asio::post(io, [] { throw 7; });
  boost::asio::post(io, [&] { ++after; });
  EXPECT_EQ(run_guarded(io, "test", [&] { ++counted; }), 2u);
  EXPECT_EQ(after, 2);
  EXPECT_EQ(counted, 2);
  Metrics m("9.9.9", "eu-west-1");
  m.internal_error(Metrics::Component::Admin);
  std::string text = m.render({}, nullptr, 0, 0);
  EXPECT_NE(text.find("turnpike_internal_errors_total{component=\"admin\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("turnpike_internal_errors_total{component=\"shard\"} 0\n"), std::string::npos);
}

// Issue 14 item 7: report sites beyond limits.max_sites count as "other"; configured sites always pass.
TEST_F(Fixture, ReportSitesAreBounded) {
  Config::Site hq{"hq", {*turn::Cidr::parse("198.51.100.0/24")}};
  int overflow = 0;
  SiteMap sites({hq}, 3, [&] { ++overflow; });
  auto b = backend();
  std::vector<std::string> counted;
  b.nat_report = [&](const std::string&, const std::string&, const std::string& site) { counted.push_back(site); };
  b.site_of = [&](const turn::IpAddress& a) { return sites.site_of(a); };
  b.site_label = [&](const std::string& s) { return sites.label(s); };
  auto post = [&](const std::string& site) {
    auto body = R"({"mapping":"no_nat","filtering":"no_nat","tags":{"site":")" + site + R"("}})";
    auto r = AdminServer::route(b, "POST", "/api/v1/nat-reports", "Bearer 0123456789abcdef", body,
                                turn::IpAddress::parse("192.0.2.99"));
    EXPECT_EQ(r.status, 202u);
    return json::parse(r.body)["site"].get<std::string>();
  };
  EXPECT_EQ(post("a"), "a");
  EXPECT_EQ(post("b"), "b");
  EXPECT_EQ(post("c"), "c");
  EXPECT_EQ(post("d"), "other");
  EXPECT_EQ(post("e"), "other");
  EXPECT_EQ(post("a"), "a");    // seen before: still itself
  EXPECT_EQ(post("hq"), "hq");  // configured: never cut
  EXPECT_EQ(sites.site_of(*turn::IpAddress::parse("198.51.100.9")), "hq");
  EXPECT_EQ(sites.site_of(*turn::IpAddress::parse("192.0.2.9")), "other");  // networks share the bound
  EXPECT_EQ(overflow, 3);
  EXPECT_EQ(counted.size(), 7u);
  // A bad body is a clear 400 and counts nothing.
  auto r = AdminServer::route(b, "POST", "/api/v1/nat-reports", "Bearer 0123456789abcdef", "{\"mapping\":", std::nullopt);
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(counted.size(), 7u);
}

TEST(TagLabels, ConfiguredKeysBoundedLikeSites) {
  Config::Site hq{"hq", {*turn::Cidr::parse("198.51.100.0/24")}};
  int overflow = 0;
  SiteMap sites({hq}, 2);
  TagLabels tl({"site", "device"}, sites, 2, [&] { ++overflow; });
  EXPECT_EQ(tl.keys(), (std::vector<std::string>{"site", "device"}));
  using L = TagLabels::Labels;
  EXPECT_EQ(tl.labels({}), (L{{"site", "unknown"}, {"device", "unknown"}}));
  EXPECT_EQ(tl.labels({{"device", "cart"}, {"floor", "3"}, {"site", "hq"}}), (L{{"site", "hq"}, {"device", "cart"}}));
  EXPECT_EQ(tl.labels({{"device", "pump"}})[1].second, "pump");
  EXPECT_EQ(tl.labels({{"device", "bed"}})[1].second, "other");  // max_values distinct, then other
  EXPECT_EQ(tl.labels({{"device", "cart"}})[1].second, "cart");  // seen: still itself
  EXPECT_EQ(overflow, 1);
  // site goes through SiteMap::label: its own bound, shared with the per-site metrics.
  EXPECT_EQ(tl.labels({{"site", "ward-5"}})[0].second, "ward-5");
  EXPECT_EQ(sites.site_of(*turn::IpAddress::parse("192.0.2.9")), "192.0.2.0/24");
  EXPECT_EQ(tl.labels({{"site", "192.0.2.0/24"}})[0].second, "192.0.2.0/24");
  EXPECT_EQ(tl.labels({{"site", "ward-6"}})[0].second, "other");
  EXPECT_EQ(tl.labels({{"site", "hq"}})[0].second, "hq");  // configured: never cut
  // Ready for prometheus-cpp: Family::Add's map (Metrics::Labels).
  EXPECT_EQ(tl.labels({{"site", "hq"}}, {{"leg", "client"}}),
            (std::map<std::string, std::string>{{"device", "unknown"}, {"leg", "client"}, {"site", "hq"}}));
  EXPECT_TRUE(TagLabels({}, sites, 2).labels({{"site", "hq"}}).empty());
}

// The residency metrics' region label takes only names from the catalog (a pinned REST username
// names any region it likes).
TEST(MetricsText, RegionLabelsComeFromTheCatalog) {
  Metrics m("9.9.9", "eu-west-1");
  turn::ResidencyConfig rc;
  turn::Region eu;
  eu.name = "eu-west-1";
  rc.regions.push_back(eu);
  m.set_regions(std::make_shared<const turn::RegionPolicy>(rc));
  m.residency_denied(turn::ResidencyDenial::Credential, "eu-west-1");
  m.residency_denied(turn::ResidencyDenial::Credential, "attacker-chosen-1");
  m.residency_denied(turn::ResidencyDenial::Credential, "caf\xe9");
  std::string text = m.render({}, nullptr, 0, 0);
  EXPECT_NE(text.find(R"(turnpike_residency_denied_total{kind="credential",region="eu-west-1"} 1)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(turnpike_residency_denied_total{kind="credential",region="unknown"} 2)"), std::string::npos) << text;
  EXPECT_EQ(text.find("attacker-chosen"), std::string::npos);
}

}  // namespace
}  // namespace turnpike
