#include "server/check_routes.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>

#include "server/check_report.hpp"
#include "server/ice_servers.hpp"
#include "server/percent_decode.hpp"
#include "sfu/token.hpp"
#include "turn/auth.hpp"

namespace turnpike {

namespace {

using nlohmann::json;
constexpr std::string_view kPath = "/api/v1/check-reports";
constexpr size_t kMaxList = 1000;

// One query parameter's decoded value ("" when absent or malformed).
std::string query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = part.find('=');
    if (eq == std::string_view::npos || part.substr(0, eq) != name) continue;
    std::string out;
    if (!percent_decode(part.substr(eq + 1), out, PlusSign::Space)) return {};
    return out;
  }
  return {};
}

// The TURN URL of each transport (the first of its kind), and up to three STUN addresses of this
// node for the NAT test: the primary UDP listener, then with RFC 5780 on its port alternate and its
// address alternate (docs/check.md "NAT mapping").
json node_urls(const Config& cfg) {
  IceUrls urls = ice_urls(cfg);
  json turn = json::object();
  std::vector<std::string> stun;
  for (const auto& u : urls.turn) {
    const bool tls = u.rfind("turns:", 0) == 0;
    const bool udp = u.size() > 14 && u.compare(u.size() - 14, 14, "?transport=udp") == 0;
    const char* kind = tls ? "tls" : udp ? "udp" : "tcp";
    if (!turn.contains(kind)) turn[kind] = u;
    if (udp && !tls) stun.push_back("stun:" + u.substr(5, u.size() - 5 - 14));
  }
  if (const auto& nd = cfg.core.nat_discovery; nd && !stun.empty()) {
    stun.resize(1);
    stun.push_back("stun:" + url_host_port(turn::Endpoint{nd->primary.address, nd->alternate.port}));
    stun.push_back("stun:" + url_host_port(turn::Endpoint{nd->alternate.address, nd->primary.port}));
  }
  for (const auto& u : urls.stun)
    if (std::find(stun.begin(), stun.end(), u) == stun.end()) stun.push_back(u);
  if (stun.size() > 3) stun.resize(3);
  return {{"turn", turn}, {"stun", stun}};
}

AdminServer::Response post_report(const AdminBackend& b, const std::string& body, const std::optional<turn::IpAddress>& peer,
                                  int64_t unix_s) {
  auto& table = *b.check_reports;
  if (body.size() > kMaxCheckReportBytes) {
    table.refused("too_large");
    return json_error(413, "a check report is at most " + std::to_string(kMaxCheckReportBytes) + " bytes");
  }
  json r = json::parse(body, nullptr, false);
  CheckReport report;
  std::optional<std::string> bad = r.is_discarded() ? std::optional<std::string>("the body must be a JSON object (a check report)")
                                                    : parse_check_report(r, report);
  std::string site;
  if (!bad) bad = report_site(b, r, peer, site);
  if (bad) {
    table.refused("invalid");
    return json_error(400, *bad);
  }
  auto id = table.add(report, std::move(r), site, unix_s);
  return json_response(202, {{"accepted", true}, {"id", id}, {"site", site}});
}

AdminServer::Response list_reports(const AdminBackend& b, std::string_view query) {
  size_t limit = 100;
  std::string l = query_param(query, "limit"), site = query_param(query, "site");
  if (!l.empty()) {
    auto [end, ec] = std::from_chars(l.data(), l.data() + l.size(), limit);
    if (ec != std::errc() || end != l.data() + l.size() || limit < 1 || limit > kMaxList)
      return json_error(400, "'limit' must be a whole number from 1 to 1000");
  }
  if (!site.empty() && !label_ok(site)) return json_error(400, "'site' must be a site label");
  return json_response(200, {{"reports", b.check_reports->list(limit, site)}});
}

}  // namespace

bool is_check_reports_path(std::string_view path) {
  return path == kPath || (path.size() > kPath.size() + 1 && path.substr(0, kPath.size() + 1) == std::string(kPath) + "/");
}

AdminServer::Response check_reports_admin(const AdminBackend& b, const std::string& method, const std::string& path,
                                          std::string_view query, bool admin_ok, const std::string& body,
                                          const std::optional<turn::IpAddress>& peer) {
  if (!admin_ok) {
    auto r = json_error(401, "a valid 'Authorization: Bearer <admin.token>' header is required");
    r.headers.push_back({"WWW-Authenticate", "Bearer realm=\"turnpike\""});
    return r;
  }
  if (!b.check_reports) return json_error(503, "check reports are not kept by this server");
  const bool one = path.size() > kPath.size();
  if (method == "POST" && !one) return post_report(b, body, peer, static_cast<int64_t>(std::time(nullptr)));
  if (method != "GET" && method != "HEAD") {
    auto r = json_error(405, "method " + method + " not allowed; use " + (one ? "GET" : "GET or POST"));
    r.headers.push_back({"Allow", one ? "GET, HEAD" : "GET, HEAD, POST"});
    return r;
  }
  if (!one) return list_reports(b, query);
  auto found = b.check_reports->find(path.substr(kPath.size() + 1));
  if (!found) return json_error(404, "no check report " + path.substr(kPath.size() + 1, 32));
  return json_response(200, *found);
}

std::optional<AdminServer::Response> check_route_signal(const Config& cfg, const AdminBackend& b, const CheckRequest& req,
                                                        int64_t unix_s, double mono_s) {
  auto q = req.target.find('?');
  std::string path = req.target.substr(0, q);
  std::string_view query = q == std::string::npos ? std::string_view() : std::string_view(req.target).substr(q + 1);
  if (!cfg.check.enabled || !b.check_reports) return std::nullopt;
  if (path == "/check/config") {
    if (req.method != "GET" && req.method != "HEAD") return json_error(405, "use GET");
    return check_config(cfg, query, unix_s);
  }
  if (path != kPath) return std::nullopt;
  if (req.method != "POST") {
    auto r = json_error(405, "method " + req.method + " not allowed; use POST (GET is on the admin port)");
    r.headers.push_back({"Allow", "POST"});
    return r;
  }
  // application/json: a page of another origin would need a CORS preflight, which is never granted.
  if (req.content_type.rfind("application/json", 0) != 0) {
    b.check_reports->refused("invalid");
    return json_error(415, "a check report is posted as application/json");
  }
  if (req.body.size() > kMaxCheckReportBytes) return post_report(b, req.body, req.from, unix_s);  // 413, no token spent
  if (!b.check_reports->admit(mono_s)) {
    auto r = json_error(429, "too many check reports; try again in a minute");
    r.headers.push_back({"Retry-After", "60"});
    return r;
  }
  return post_report(b, req.body, req.from, unix_s);
}

AdminServer::Response check_config(const Config& cfg, std::string_view query, int64_t unix_s) {
  std::string token = query_param(query, "token"), identity = "check";
  std::optional<std::string> token_region;
  if (!token.empty()) {
    sfu::JoinClaims claims;
    if (sfu::verify_join_token(token, cfg.sfu.token_keys, unix_s, claims) != sfu::TokenError::None)
      return json_error(401, "the token in the link is not valid here (expired, or for another node)");
    identity = "check-" + claims.identity;
    token_region = claims.region;
  } else if (cfg.check.require_token) {
    return json_error(401, "this check needs the link with its token (check.require_token)");
  }
  json out = node_urls(cfg);
  out["region"] = cfg.region;
  std::string expected = token_region ? *token_region : cfg.check.expected_region;
  out["expected_region"] = expected.empty() ? json(nullptr) : json(expected);
  if (!cfg.auth.rest_secrets.empty()) {
    std::replace(identity.begin(), identity.end(), ':', '_');
    std::string username = std::to_string(unix_s + cfg.check.credential_ttl_s) + ":" + identity;
    out["username"] = username;
    out["credential"] = turn::rest_password(cfg.auth.rest_secrets.front(), username);
  }
  return json_response(200, out);
}

}  // namespace turnpike
