// libFuzzer target: the admin API's request routing (server/admin.cpp AdminServer::route, what the
// Beast session calls): paths and query strings (allocation filters), authorization, and the report
// bodies of POST /api/v1/nat-reports, /api/v1/lifetime-reports and /api/v1/call-reports, into the real site map and
// idle-timer table. Input:
//   <METHOD> <target>\n<Authorization header>\n<body>
// (the token is "s3cret"). For a GET the body is the USERNAME of the one live allocation, so that
// client-chosen usernames reach the allocation records too. Every answer must be a status of 200-599
// and, when JSON, a body that parses; what the report handlers pass on must have been validated.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "server/admin.hpp"
#include "server/allocation_record.hpp"
#include "server/idle_timers.hpp"
#include "server/sites.hpp"
#include "tests/fuzz/target.hpp"

namespace {

std::string_view cut(std::string_view& rest, char sep) {
  const size_t at = rest.find(sep);
  std::string_view head = rest.substr(0, at);
  rest = at == std::string_view::npos ? std::string_view() : rest.substr(at + 1);
  return head;
}

void check_site(const std::string& site) {
  if (site.empty() || site.size() > 64) FUZZ_FAIL();
}

turn::Allocation allocation(const std::string& username) {
  turn::Allocation a;
  a.id = 7;
  a.five_tuple = {*turn::Endpoint::parse("203.0.113.5:40000"), *turn::Endpoint::parse("198.51.100.1:3478"),
                  turn::Transport::Udp};
  a.username = username;
  a.user = username;
  a.relays[0] = {1, *turn::Endpoint::parse("198.51.100.1:50000")};
  a.relay_count = 1;
  a.created_ms = 1000;
  a.expires_ms = 601'000;
  a.created_unix_ms = 1'800'000'000'000;
  a.lifetime_s = 600;
  a.permissions.insert({*turn::IpAddress::parse("203.0.113.9"), 301'000});
  a.client_region = a.served_region = "eu-central";
  return a;
}

}  // namespace

TURNPIKE_FUZZ_TARGET("server", admin) {
  static const std::set<std::string> kBehaviors = {"no_nat", "endpoint_independent", "address_dependent",
                                                    "address_and_port_dependent", "unknown"};
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  const std::string method(cut(rest, ' '));
  const std::string target(cut(rest, '\n'));
  const std::string authorization(cut(rest, '\n'));
  const std::string body(rest);

  turnpike::SiteMap sites({{"clinic-north", {*turn::Cidr::parse("203.0.113.0/25")}}});
  turnpike::IdleTimers timers;
  turnpike::AdminBackend b;
  b.region = "eu-central";
  b.token = "s3cret";
  b.metrics = [] { return std::string("turnpike_up 1\n"); };
  b.state = [] { return "ready"; };
  b.allocations = [&] { return std::optional<std::vector<turn::Allocation>>({allocation(body)}); };
  b.record = [](const turn::Allocation& a) {
    return turnpike::allocation_record(a, turnpike::RecordContext{"eu-central", "turnpike.test", turn::Now{2000, 1'800'000'001}, std::nullopt, nullptr});
  };
  b.site_of = [&sites](const turn::IpAddress& a) { return sites.site_of(a); };
  b.sites = [&timers] { return timers.to_json(); };
  b.lifetime_report = [&timers](std::optional<double> timeout_s, const std::string& site) {
    check_site(site);
    if (timeout_s && !(*timeout_s > 0 && *timeout_s <= 86400)) FUZZ_FAIL();
    timers.measured(site, timeout_s, 1'800'000'000);
  };
  b.turn_credential_ok = [](const std::string& u, const std::string& c) { return u == "1:web" && c == "good"; };
  b.call_report = [&authorization](const turnpike::CallReport& r, const std::string& site) {
    check_site(site);
    if (!(r.duration_s >= 0 && r.duration_s <= turnpike::kMaxCallSeconds)) FUZZ_FAIL();
    if (authorization != "Bearer s3cret" && (r.username != "1:web" || r.credential != "good")) FUZZ_FAIL();
  };
  b.call_report_rejected = [](const char* reason) {
    if (std::string_view(reason) != "invalid" && std::string_view(reason) != "unauthorized") FUZZ_FAIL();
  };
  b.nat_report = [](const std::string& mapping, const std::string& filtering, const std::string& site) {
    if (!kBehaviors.count(mapping) || !kBehaviors.count(filtering)) FUZZ_FAIL();
    check_site(site);
  };

  const auto peer = turn::IpAddress::parse(size % 2 ? "203.0.113.77" : "2001:db8::77");
  const auto r = turnpike::AdminServer::route(b, method, target, authorization, body, peer);
  if (r.status < 200 || r.status > 599) FUZZ_FAIL();
  if (r.content_type == "application/json" && !nlohmann::json::accept(r.body)) FUZZ_FAIL();
  // What a report stored shows in GET /api/v1/sites, which must serialize too.
  const auto s = turnpike::AdminServer::route(b, "GET", "/api/v1/sites", "Bearer s3cret", {}, peer);
  if (s.status == 200 && !nlohmann::json::accept(s.body)) FUZZ_FAIL();
  return 0;
}
