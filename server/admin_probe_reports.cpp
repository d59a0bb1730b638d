// GET and POST /api/v1/probe-reports (docs/admin-api.md): what `turnpike-diag probe --report`
// posts each round, behind the admin token, checked whole before it counts (a bad report changes
// nothing), and the table of the last report of each site.
#include <nlohmann/json.hpp>

#include "server/admin.hpp"
#include "server/probe_reports.hpp"

namespace turnpike {

namespace {

AdminServer::Response post_probe_report(const AdminBackend& b, const std::string& body,
                                        const std::optional<turn::IpAddress>& peer) {
  if (body.size() > kMaxProbeReportBytes) return json_error(413, "a probe report is at most 16 KiB");
  nlohmann::json r = nlohmann::json::parse(body, nullptr, false);
  if (r.is_discarded() || !r.is_object()) return json_error(400, "the body must be a JSON object (turnpike-diag probe --json)");
  ProbeReport report;
  if (auto bad = parse_probe_report(r, report)) return json_error(400, *bad);
  std::string site;
  if (auto bad = report_site(b, r, peer, site)) return json_error(400, *bad);
  if (!b.probe_report) return json_error(503, "probe reports are not recorded by this server");
  b.probe_report(report, site);
  return json_response(202, {{"accepted", true}, {"site", site}});
}

}  // namespace

AdminServer::Response probe_reports_request(const AdminBackend& b, const std::string& method, std::string_view query,
                                            bool admin_ok, const std::string& body,
                                            const std::optional<turn::IpAddress>& peer) {
  if (method != "POST" && method != "GET" && method != "HEAD") {
    auto r = json_error(405, "method " + method + " not allowed; use GET or POST");
    r.headers.push_back({"Allow", "GET, HEAD, POST"});
    return r;
  }
  if (!admin_ok) {
    auto r = json_error(401, "a valid 'Authorization: Bearer <admin.token>' header is required");
    r.headers.push_back({"WWW-Authenticate", "Bearer realm=\"turnpike\""});
    return r;
  }
  if (!query.empty()) return json_error(400, "this endpoint takes no query parameters");
  if (method == "POST") return post_probe_report(b, body, peer);
  if (!b.probe_reports) return json_error(503, "probe reports are not recorded by this server");
  return json_response(200, b.probe_reports());
}

}  // namespace turnpike
