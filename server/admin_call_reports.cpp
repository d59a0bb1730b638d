// POST /api/v1/call-reports (docs/admin-api.md): one handler for the admin port and the SFU's
// signalling port. A browser posts from a page of another origin, so the answers carry CORS headers
// and the preflight (OPTIONS) is answered; no cookie or header secret is involved, since the report
// proves itself with the TURN credential the page already holds for its iceServers. The SDK and
// sfu/web/call-report.js post it as text/plain, which needs no preflight, with keepalive so that a
// report sent as the page closes still arrives.
#include <nlohmann/json.hpp>

#include "server/admin.hpp"
#include "server/call_report.hpp"

namespace turnpike {

namespace {

void allow_any_origin(AdminServer::Response& r) {
  r.headers.push_back({"Access-Control-Allow-Origin", "*"});
  r.headers.push_back({"Vary", "Origin"});
}

AdminServer::Response refused(const AdminBackend& b, unsigned status, const char* reason, const std::string& why) {
  if (b.call_report_rejected) b.call_report_rejected(reason);
  auto r = json_error(status, why);
  allow_any_origin(r);
  return r;
}

// The report's steps: parse, check who sent it, find its site, count it.
AdminServer::Response post_call_report(const AdminBackend& b, bool admin_ok, const std::string& body,
                                       const std::optional<turn::IpAddress>& peer) {
  nlohmann::json r = nlohmann::json::parse(body, nullptr, false);
  if (r.is_discarded()) return refused(b, 400, "invalid", "the body must be a JSON object (a call report)");
  CallReport report;
  if (auto bad = parse_call_report(r, report)) return refused(b, 400, "invalid", *bad);
  if (!admin_ok) {
    if (report.username.empty())
      return refused(b, 401, "unauthorized", "a call report needs 'username' and 'credential': a TURN credential of this server");
    if (!b.turn_credential_ok || !b.turn_credential_ok(report.username, report.credential))
      return refused(b, 401, "unauthorized", "'username' and 'credential' are not a valid TURN credential of this server");
  }
  std::string site;
  if (auto bad = report_site(b, r, peer, site)) return refused(b, 400, "invalid", *bad);
  if (!b.call_report) return refused(b, 503, "unavailable", "call reports are not counted by this server");
  b.call_report(report, site);
  auto answer = json_response(202, {{"accepted", true}, {"path", to_string(report.path())}, {"site", site}});
  allow_any_origin(answer);
  return answer;
}

}  // namespace

AdminServer::Response call_report_request(const AdminBackend& b, const std::string& method, bool admin_ok,
                                          const std::string& body, const std::optional<turn::IpAddress>& peer) {
  if (method == "OPTIONS") {  // the CORS preflight of a page posting application/json
    AdminServer::Response r;
    r.status = 204;
    r.content_type.clear();
    allow_any_origin(r);
    r.headers.push_back({"Access-Control-Allow-Methods", "POST, OPTIONS"});
    r.headers.push_back({"Access-Control-Allow-Headers", "Content-Type, Authorization"});
    r.headers.push_back({"Access-Control-Max-Age", "600"});
    return r;
  }
  if (method != "POST") {
    auto r = json_error(405, "method " + method + " not allowed; use POST");
    r.headers.push_back({"Allow", "POST, OPTIONS"});
    allow_any_origin(r);
    return r;
  }
  return post_call_report(b, admin_ok, body, peer);
}

}  // namespace turnpike
