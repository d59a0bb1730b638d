#include "server/check_routes.hpp"
#include "server/admin.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>

#include "common/json_text.hpp"
#include "server/admin_health.hpp"
#include "server/admin_sessions.hpp"
#include "server/http_session.hpp"
#include "server/io_guard.hpp"
#include "server/log.hpp"
#include "server/percent_decode.hpp"
#include "turn/tags.hpp"

namespace turnpike {

AdminServer::Response json_response(unsigned status, const nlohmann::json& body) {
  AdminServer::Response r;
  r.status = status;
  r.body = safe_dump(body);
  return r;
}

AdminServer::Response json_error(unsigned status, const std::string& why) {
  return json_response(status, {{"error", why}});
}

bool label_ok(const std::string& s) { return turn::tag_text_ok(s); }

// The site a diag report counts under: its `site` tag, else the site of the public address it
// reports (`mapped`), else of the poster. An error message for malformed tags.
std::optional<std::string> report_site(const AdminBackend& b, const nlohmann::json& r, const std::optional<turn::IpAddress>& peer,
                                       std::string& site) {
  if (r.contains("tags")) {
    const nlohmann::json& t = r["tags"];
    if (!t.is_object() || t.size() > 16) return "'tags' must be an object of at most 16 string values";
    for (const auto& [k, v] : t.items())
      if (!v.is_string() || !label_ok(k) || !label_ok(v.get<std::string>()))
        return "tag '" + k + "': names and values are 1-64 characters of letters, digits, - _ . / :";
    if (t.contains("site")) site = t["site"].get<std::string>();
  }
  if (site.empty()) {
    std::optional<turn::IpAddress> at = peer;
    if (r.contains("mapped") && r["mapped"].is_string())  // the site's public address, as our server saw it
      if (auto ep = turn::Endpoint::parse(r["mapped"].get<std::string>())) at = ep->address;
    site = at && b.site_of ? b.site_of(*at) : "unknown";
  }
  if (b.site_label) site = b.site_label(site);  // bounded: limits.max_sites, then "other"
  return std::nullopt;
}

boost::beast::http::response<boost::beast::http::string_body> to_http(AdminServer::Response r, const HttpRequest& req) {
  namespace http = boost::beast::http;
  http::response<http::string_body> res;
  res.version(req.version());
  res.keep_alive(req.keep_alive());
  res.result(static_cast<http::status>(r.status));
  res.set(http::field::server, "turnpike");
  if (!r.content_type.empty()) res.set(http::field::content_type, r.content_type);
  res.set(http::field::cache_control, "no-store");
  for (const auto& [k, v] : r.headers) res.set(k, v);
  size_t length = r.body.size();
  if (req.method() != http::verb::head) res.body() = std::move(r.body);
  res.content_length(length);
  return res;
}

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr HttpLimits kHttpLimits{16 * 1024, std::chrono::seconds(10)};

// One request answered through AdminServer::route: a JSON 500 (logged, counted) if a handler throws.
http::response<http::string_body> respond(const AdminBackend& backend, const HttpRequest& req,
                                          const std::optional<turn::IpAddress>& peer) {
  std::string auth(req[http::field::authorization]);
  AdminServer::Response r;
  try {
    r = AdminServer::route(backend, std::string(req.method_string()), std::string(req.target()), auth, req.body(),
                           peer);
  } catch (const std::exception& e) {  // a bug, never a client's doing: answer 500 and keep serving
    log::error("internal_error", {log::str("component", "admin"), log::str("error", e.what()),
                                  log::str("target", std::string(req.target()))});
    if (backend.internal_error) backend.internal_error();
    r.status = 500;
    r.body = R"J({"error":"internal error (logged)"})J";
  }
  return to_http(std::move(r), req);
}

}  // namespace

AdminServer::AdminServer(const turn::Endpoint& listen, AdminBackend backend)
    : backend_(std::move(backend)), acceptor_(io_) {
  beast::error_code ec;
  tcp::endpoint ep(asio::ip::make_address(listen.address.to_string()), listen.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on admin " + listen.to_string() + ": " + ec.message());
}

AdminServer::~AdminServer() { stop(); }

void AdminServer::start() {
  accept();
  thread_ = std::thread([this] { run_guarded(io_, "admin", backend_.internal_error); });
}

void AdminServer::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    beast::error_code ec;
    acceptor_.close(ec);
    io_.stop();
  });
  thread_.join();
}

void AdminServer::accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted) return;
    accept();  // first: the admin port keeps accepting if the session below throws
    if (ec) return;
    beast::error_code pec;
    auto remote = s.remote_endpoint(pec);
    std::optional<turn::IpAddress> peer;
    if (!pec) peer = turn::IpAddress::parse(remote.address().to_string());
    auto handler = [this, peer](HttpRequest&& req) { return http::message_generator(respond(backend_, req, peer)); };
    std::make_shared<HttpSession<beast::tcp_stream>>(beast::tcp_stream(std::move(s)), kHttpLimits, handler)->run();
  });
}


namespace {

using nlohmann::json;


// application/x-www-form-urlencoded value: %XX and '+'; false on a broken escape.
bool url_decode(std::string_view in, std::string& out) { return percent_decode(in, out, PlusSign::Space); }

// Parses a query string; an error message on a malformed or repeated parameter.
std::optional<std::string> parse_query(std::string_view q, std::map<std::string, std::string>& out) {
  while (!q.empty()) {
    auto amp = q.find('&');
    auto part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    if (eq == std::string_view::npos) return "query parameter '" + std::string(part) + "' needs a value (name=value)";
    std::string key, value;
    if (!url_decode(part.substr(0, eq), key) ||
        !url_decode(part.substr(eq + 1), value))
      return "malformed percent-encoding in the query";
    if (!out.emplace(key, value).second) return "query parameter '" + key + "' given twice";
  }
  return std::nullopt;
}

bool token_ok(const AdminBackend& b, const std::string& authorization) {
  if (b.token.empty()) return true;
  static constexpr std::string_view kScheme = "bearer ";  // the scheme is case-insensitive (RFC 7235 2.1)
  if (authorization.size() != kScheme.size() + b.token.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return false;
  return CRYPTO_memcmp(authorization.data() + kScheme.size(), b.token.data(), b.token.size()) == 0;
}

// The tag.<key>=<value> filters of GET /api/v1/allocations (all must match), into `tags`; an error
// message on any other parameter than user, transport and region, or a bad tag key.
std::optional<std::string> allocation_filters(const std::map<std::string, std::string>& query, turn::Tags& tags) {
  static constexpr std::string_view kTag = "tag.";
  for (const auto& [k, v] : query) {
    if (k == "user" || k == "transport" || k == "region") continue;
    if (k.compare(0, kTag.size(), kTag) != 0)
      return "unknown query parameter '" + k + "' (user, transport, region, tag.<key>)";
    std::string key = k.substr(kTag.size());
    if (!turn::tag_text_ok(key)) return "'" + k + "': tag keys are 1-64 characters of letters, digits, - _ . / :";
    tags.emplace_back(std::move(key), v);
  }
  return std::nullopt;
}

bool has_tags(const turn::Allocation& a, const turn::Tags& want) {
  for (const auto& [k, v] : want) {
    const std::string* have = turn::find_tag(a.tags, k);
    if (!have || *have != v) return false;
  }
  return true;
}

AdminServer::Response list_allocations(const AdminBackend& b, const std::map<std::string, std::string>& query) {
  turn::Tags tags;
  if (auto bad = allocation_filters(query, tags)) return json_error(400, *bad);
  auto want = [&](const char* k) -> const std::string* {
    auto it = query.find(k);
    return it == query.end() ? nullptr : &it->second;
  };
  const std::string* transport = want("transport");
  if (transport && *transport != "udp" && *transport != "tcp" && *transport != "tls" && *transport != "dtls")
    return json_error(400, "transport must be udp, tcp, tls or dtls");
  auto snapshot = b.allocations();
  if (!snapshot) return json_error(503, "a shard did not answer in time");
  json list = json::array();
  const std::string* region = want("region");
  // Every allocation on this node is in the node's region: a region filter selects all or none.
  if (!region || *region == b.region) {
    const std::string* user = want("user");
    for (const auto& a : *snapshot) {
      if (user && a.user != *user) continue;
      if (transport && *transport != turn::to_string(a.five_tuple.transport)) continue;
      if (!has_tags(a, tags)) continue;
      list.push_back(b.record(a));
    }
  }
  std::sort(list.begin(), list.end(), [](const json& x, const json& y) {
    return std::stoull(x["id"].get<std::string>()) < std::stoull(y["id"].get<std::string>());
  });
  return json_response(200, {{"region", b.region}, {"count", list.size()}, {"allocations", std::move(list)}});
}

AdminServer::Response one_allocation(const AdminBackend& b, std::string_view id_text) {
  uint64_t id = 0;
  auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (ec != std::errc() || end != id_text.data() + id_text.size() || id_text.empty())
    return json_error(400, "allocation id must be a decimal number");
  auto snapshot = b.allocations();
  if (!snapshot) return json_error(503, "a shard did not answer in time");
  for (const auto& a : *snapshot)
    if (a.id == id) return json_response(200, b.record(a));
  return json_error(404, "no allocation " + std::string(id_text));
}

bool behavior_ok(const json& v) {
  static constexpr const char* kBehaviors[] = {"no_nat", "endpoint_independent", "address_dependent",
                                               "address_and_port_dependent", "unknown"};
  if (!v.is_string()) return false;
  for (const char* k : kBehaviors)
    if (v.get<std::string>() == k) return true;
  return false;
}

// POST /api/v1/lifetime-reports: what `turnpike-diag lifetime --report` sends.
AdminServer::Response lifetime_report(const AdminBackend& b, const std::string& body, const std::optional<turn::IpAddress>& peer) {
  json r = json::parse(body, nullptr, false);
  if (r.is_discarded() || !r.is_object()) return json_error(400, "the body must be a JSON object (turnpike-diag lifetime --json)");
  if (!r.contains("timeout_seconds") || !(r["timeout_seconds"].is_null() || r["timeout_seconds"].is_number()))
    return json_error(400, "'timeout_seconds' must be a number of seconds, or null (longer than the tool's max)");
  std::optional<double> timeout;
  if (r["timeout_seconds"].is_number()) {
    double t = r["timeout_seconds"].get<double>();
    if (!(t > 0 && t <= 86400)) return json_error(400, "'timeout_seconds' must be above 0 and at most 86400");
    timeout = t;
  }
  std::string site;
  if (auto bad = report_site(b, r, peer, site)) return json_error(400, *bad);
  if (!b.lifetime_report) return json_error(503, "lifetime reports are not recorded by this server");
  b.lifetime_report(timeout, site);
  return json_response(202, {{"accepted", true}, {"site", site}});
}

// POST /api/v1/nat-reports: what `turnpike-diag nat --report` sends (docs/admin-api.md). Checked in
// full before it counts: a bad report changes nothing.
AdminServer::Response nat_report(const AdminBackend& b, const std::string& body, const std::optional<turn::IpAddress>& peer) {
  json r = json::parse(body, nullptr, false);
  if (r.is_discarded() || !r.is_object()) return json_error(400, "the body must be a JSON object (turnpike-diag nat --json)");
  if (!r.contains("mapping") || !behavior_ok(r["mapping"]))
    return json_error(400, "'mapping' must be no_nat, endpoint_independent, address_dependent, address_and_port_dependent or unknown");
  if (!r.contains("filtering") || !behavior_ok(r["filtering"]))
    return json_error(400, "'filtering' must be no_nat, endpoint_independent, address_dependent, address_and_port_dependent or unknown");
  if (r.contains("udp_reachable") && !r["udp_reachable"].is_boolean()) return json_error(400, "'udp_reachable' must be true or false");
  std::string site;
  if (auto bad = report_site(b, r, peer, site)) return json_error(400, *bad);
  if (!b.nat_report) return json_error(503, "NAT reports are not counted by this server");
  b.nat_report(r["mapping"].get<std::string>(), r["filtering"].get<std::string>(), site);
  return json_response(202, {{"accepted", true}, {"site", site}});
}

}  // namespace

namespace {

constexpr std::string_view kAllocations = "/api/v1/allocations";
constexpr std::string_view kNatReports = "/api/v1/nat-reports";
constexpr std::string_view kLifetimeReports = "/api/v1/lifetime-reports";
constexpr std::string_view kSites = "/api/v1/sites";
constexpr std::string_view kDrain = "/api/v1/drain";
constexpr std::string_view kReload = "/api/v1/reload";
constexpr std::string_view kCallReports = "/api/v1/call-reports";

bool known_path(const std::string& path) {
  return path == "/metrics" || path == "/healthz" || path == "/readyz" || path == kAllocations ||
         path.rfind(std::string(kAllocations) + "/", 0) == 0 || path == kNatReports || path == kLifetimeReports ||
         path == kSites || path == kDrain || path == kReload || path == kCallReports;
}

AdminServer::Response method_not_allowed(const std::string& method, const char* use, const char* allow) {
  auto r = json_error(405, "method " + method + " not allowed; use " + use);
  r.headers.push_back({"Allow", allow});
  return r;
}

AdminServer::Response unauthorized() {
  auto r = json_error(401, "a valid 'Authorization: Bearer <admin.token>' header is required");
  r.headers.push_back({"WWW-Authenticate", "Bearer realm=\"turnpike\""});
  return r;
}

// POST /api/v1/nat-reports and /api/v1/lifetime-reports: always behind the token.
AdminServer::Response route_report(const AdminBackend& b, const std::string& method, const std::string& path,
                                   std::string_view query, const std::string& authorization, const std::string& body,
                                   const std::optional<turn::IpAddress>& peer) {
  if (method != "POST") return method_not_allowed(method, "POST", "POST");
  if (!token_ok(b, authorization)) return unauthorized();
  if (query.size()) return json_error(400, "this endpoint takes no query parameters");
  return path == kNatReports ? nat_report(b, body, peer) : lifetime_report(b, body, peer);
}

// POST /api/v1/drain: behind the token; starts a drain, or reports the one under way.
AdminServer::Response route_drain(const AdminBackend& b, const std::string& method, std::string_view query,
                                  const std::string& authorization) {
  if (method != "POST") return method_not_allowed(method, "POST", "POST");
  if (!token_ok(b, authorization)) return unauthorized();
  if (query.size()) return json_error(400, "this endpoint takes no query parameters");
  auto status = b.drain ? b.drain() : nlohmann::json();
  if (status.is_null()) return json_error(503, "this server cannot drain yet");
  return json_response(202, status);
}

// GET (or HEAD) of everything else: /metrics, /healthz and /readyz open; /api/ behind the token.
AdminServer::Response route_read(const AdminBackend& b, const std::string& method, const std::string& path,
                                 std::string_view query, const std::string& authorization) {
  if (method != "GET" && method != "HEAD") return method_not_allowed(method, "GET", "GET, HEAD");
  bool api = path.rfind("/api/", 0) == 0;
  if (api && !token_ok(b, authorization)) return unauthorized();
  std::map<std::string, std::string> params;
  if (api) {
    if (auto bad = parse_query(query, params)) return json_error(400, *bad);
  }
  if (path == "/healthz") return healthz(b);
  if (path == "/readyz") return readyz(b);
  if (path == "/metrics") {
    AdminServer::Response r;
    r.body = b.metrics();
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  }
  if (path == kAllocations) return list_allocations(b, params);
  if (path == kSites) {
    if (!params.empty()) return json_error(400, "this endpoint takes no query parameters");
    if (!b.sites) return json_error(503, "no site evidence on this server");
    return json_response(200, b.sites());
  }
  if (!params.empty()) return json_error(400, "this endpoint takes no query parameters");
  return one_allocation(b, std::string_view(path).substr(kAllocations.size() + 1));
}

}  // namespace

AdminServer::Response AdminServer::route(const AdminBackend& b, const std::string& method, const std::string& target,
                                         const std::string& authorization, const std::string& body,
                                         const std::optional<turn::IpAddress>& peer) {
  auto q = target.find('?');
  std::string path = target.substr(0, q);
  std::string_view query = q == std::string::npos ? std::string_view() : std::string_view(target).substr(q + 1);
  if (path == kTestBlockPath && b.test_block) {  // test-only: absent unless TURNPIKE_TEST_FAULT_HOOKS=1
    if (method != "POST") return method_not_allowed(method, "POST", "POST");
    if (!token_ok(b, authorization)) return unauthorized();
    return test_block(b, body);
  }
  if (is_sessions_request(method, path)) return route_sessions(b, method, path, query, token_ok(b, authorization));
  if (is_check_reports_path(path))  // the pre-call check's reports (server/check_routes.cpp)
    return check_reports_admin(b, method, path, query, token_ok(b, authorization), body, peer);
  if (path == kProbeReportsPath) return probe_reports_request(b, method, query, token_ok(b, authorization), body, peer);
  if (!known_path(path)) return json_error(404, "no such endpoint: " + path);
  if (path == kNatReports || path == kLifetimeReports)
    return route_report(b, method, path, query, authorization, body, peer);
  if (path == kDrain) return route_drain(b, method, query, authorization);
  if (path == kCallReports) {
    if (query.size()) return json_error(400, "this endpoint takes no query parameters");
    return call_report_request(b, method, token_ok(b, authorization), body, peer);
  }
  if (path == kReload) {
    if (method != "POST") return method_not_allowed(method, "POST", "POST");
    if (!token_ok(b, authorization)) return unauthorized();
    if (!b.reload) return json_error(503, "reload is not available on this server");
    auto [status, answer] = b.reload();
    return json_response(status, answer);
  }
  return route_read(b, method, path, query, authorization);
}

}  // namespace turnpike
