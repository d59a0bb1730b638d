// The admin HTTP server (Boost.Beast) on admin.listen, on its own thread:
//   GET /metrics                    Prometheus text format (open)
//   GET /healthz                    200 while every I/O shard and the SFU thread answer their heartbeat (open)
//   GET /readyz                     200 while taking new allocations; 503 while starting, draining or at capacity
//   GET /api/v1/allocations         live allocations, JSON; filters ?user=&transport=&region=
//   GET /api/v1/allocations/{id}    one allocation
//   POST /api/v1/nat-reports        a turnpike-diag nat result (JSON), counted in turnpike_nat_clients_total
//   POST /api/v1/lifetime-reports   a turnpike-diag lifetime result: the site's measured UDP mapping timeout
//   POST /api/v1/call-reports       a browser's call: its selected candidate pair (turnpike_calls_total);
//                                   also on the SFU's signalling port, with CORS (admin_call_reports.cpp)
//   POST /api/v1/probe-reports      a turnpike-diag probe round (JSON): turnpike_site_probe_* by site;
//   GET /api/v1/probe-reports       the last report of each site (server/admin_probe_reports.cpp)
//   GET /api/v1/sites               per-site idle-timer evidence and estimates
//   POST /api/v1/test/block         test-only (TURNPIKE_TEST_FAULT_HOOKS=1): block a component's thread
//   POST /api/v1/drain              start a drain (as SIGTERM does); 202 with its status
//   DELETE /api/v1/allocations/{id}, GET /api/v1/rooms[/{id}], DELETE /api/v1/rooms/{id}/participants/{pid}:
//                                   sessions by API (server/admin_sessions.cpp)
//   POST /api/v1/reload             re-read the config file and apply what can change live
// The API takes `Authorization: Bearer <admin.token>` when a token is configured. Errors are JSON
// ({"error": "..."}) with the matching status. Documented in docs/admin-api.md.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "server/call_report.hpp"
#include "server/http_session.hpp"
#include "server/health.hpp"
#include "server/sessions.hpp"
#include "turn/address.hpp"
#include "turn/allocation.hpp"

namespace turnpike {

struct ProbeReport;  // server/probe_reports.hpp

// What the admin server asks of the rest of the process; every call comes from the admin thread.
struct AdminBackend {
  std::function<std::string()> metrics;
  // "starting", "ready" or "draining".
  std::function<const char*()> state;
  // Live allocations, copied on their shards' threads; nullopt if a shard did not answer in time.
  std::function<std::optional<std::vector<turn::Allocation>>()> allocations;
  // The JSON record of an allocation (docs/admin-api.md).
  std::function<nlohmann::json(const turn::Allocation&)> record;
  // A NAT report accepted (already validated): mapping, filtering, and the site it counts under.
  std::function<void(const std::string& mapping, const std::string& filtering, const std::string& site)> nat_report;
  // A turnpike-diag lifetime result (validated): timeout (nullopt: longer than the tool's max).
  std::function<void(std::optional<double> timeout_s, const std::string& site)> lifetime_report;
  std::function<nlohmann::json()> sites;  // GET /api/v1/sites
  // Probe reports (server/probe_reports.hpp): a valid one recorded under its (bounded) site; the table.
  std::function<void(const ProbeReport&, const std::string& site)> probe_report;
  std::function<nlohmann::json()> probe_reports;
  // Call reports (server/call_report.hpp): whether a TURN username/credential is one this server
  // accepts now; a valid report counted (its site already bounded); a refused one ("invalid",
  // "unauthorized").
  std::function<bool(const std::string& username, const std::string& credential)> turn_credential_ok;
  std::function<void(const CallReport&, const std::string& site)> call_report;
  std::function<void(const char* reason)> call_report_rejected;
  // The site a client address belongs to (sites.* in the config), for reports without a site tag.
  std::function<std::string(const turn::IpAddress&)> site_of;
  // The label a report's site counts under (SiteMap::label: limits.max_sites, then "other").
  std::function<std::string(const std::string&)> site_label;
  // /healthz and /readyz (server/health.hpp). Unset: /healthz is 200, /readyz follows `state`.
  std::function<HealthVerdict()> health;
  std::function<ReadinessVerdict()> readiness;
  // Test-only fault hook, set only with TURNPIKE_TEST_FAULT_HOOKS=1 (unset: POST /api/v1/test/block
  // is 404): block a component's thread for a while; false for an unknown component.
  std::function<bool(const std::string& component, std::chrono::milliseconds)> test_block;
  // POST /api/v1/drain: starts a drain (server/drain_runner.hpp) and returns its status; null: none.
  std::function<nlohmann::json()> drain;
  // An exception escaped a request or a handler on the admin thread (logged already).
  std::function<void()> internal_error;
  SessionsBackend sessions;  // ending allocations, rooms and participants (server/sessions.hpp)
  std::shared_ptr<class CheckReports> check_reports;  // /api/v1/check-reports (server/check_routes.hpp)
  // POST /api/v1/reload (server/reload.hpp): the status (200, 400 or 409) and the JSON answer.
  std::function<std::pair<unsigned, nlohmann::json>()> reload;
  std::string region;
  std::string token;  // empty: the API is open
};

class AdminServer {
 public:
  // Binds at once; throws std::runtime_error naming the address if it cannot.
  AdminServer(const turn::Endpoint& listen, AdminBackend backend);
  ~AdminServer();
  void start();
  void stop();

  struct Response {
    unsigned status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
  };
  // Routes one request; public so that unit tests can drive it without sockets.
  // `body` and `peer` (the client's address) matter to POST only.
  static Response route(const AdminBackend& b, const std::string& method, const std::string& target,
                        const std::string& authorization, const std::string& body = {},
                        const std::optional<turn::IpAddress>& peer = std::nullopt);

 private:
  void accept();
  AdminBackend backend_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

// One JSON answer of the admin API, dumped with invalid UTF-8 replaced (common/json_text.hpp), and
// its error shape {"error": why}: shared by admin.cpp and the routes beside it.
AdminServer::Response json_response(unsigned status, const nlohmann::json& body);
// The HTTP answer to `req` (its version, keep-alive and HEAD) carrying `r`.
boost::beast::http::response<boost::beast::http::string_body> to_http(AdminServer::Response r, const HttpRequest& req);
AdminServer::Response json_error(unsigned status, const std::string& why);
// A report's tag name or value: 1-64 characters of letters, digits, - _ . / : (turn::tag_text_ok,
// as the tags of TURN REST usernames).
bool label_ok(const std::string& s);
// The site a report (NAT, lifetime, call) counts under: its `tags.site`, else the site of the public
// address it reports (`mapped`), else of the poster, bounded by AdminBackend::site_label. An error
// message for malformed tags.
std::optional<std::string> report_site(const AdminBackend& b, const nlohmann::json& r,
                                       const std::optional<turn::IpAddress>& peer, std::string& site);
// POST (or the CORS preflight OPTIONS) of /api/v1/call-reports (server/admin_call_reports.cpp), on
// the admin port and on the SFU's signalling port: `admin_ok` when the request carried the admin
// token (or none is configured), else the report must carry a TURN credential.
AdminServer::Response call_report_request(const AdminBackend& b, const std::string& method, bool admin_ok,
                                          const std::string& body, const std::optional<turn::IpAddress>& peer);
// GET and POST /api/v1/probe-reports (server/admin_probe_reports.cpp); `admin_ok` when the request
// carried the admin token (or none is configured).
inline constexpr std::string_view kProbeReportsPath = "/api/v1/probe-reports";
AdminServer::Response probe_reports_request(const AdminBackend& b, const std::string& method, std::string_view query,
                                            bool admin_ok, const std::string& body,
                                            const std::optional<turn::IpAddress>& peer);

}  // namespace turnpike
