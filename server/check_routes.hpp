// The pre-call check's HTTP routes (docs/check.md, docs/admin-api.md):
//   GET  /check/config              signalling port: region, TURN URLs per transport with short-lived
//                                   TURN REST credentials, the node's STUN addresses for the NAT test
//   POST /api/v1/check-reports      signalling port (from the page, no admin token: application/json
//                                   only, so another origin's page cannot post without a preflight we
//                                   never grant; rate-limited by check.reports_per_minute) and admin
//                                   port (admin token)
//   GET  /api/v1/check-reports[/{id}]  admin port, admin token: the stored reports
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "server/admin.hpp"
#include "server/config.hpp"

namespace turnpike {

bool is_check_reports_path(std::string_view path);

// The admin port's handling of /api/v1/check-reports[/{id}]; `admin_ok`: the token was right.
AdminServer::Response check_reports_admin(const AdminBackend& b, const std::string& method, const std::string& path,
                                          std::string_view query, bool admin_ok, const std::string& body,
                                          const std::optional<turn::IpAddress>& peer);

// The signalling port's /check/config and POST /api/v1/check-reports; nullopt: not a check route.
struct CheckRequest {
  std::string method, target, content_type, body;
  turn::IpAddress from;
};
std::optional<AdminServer::Response> check_route_signal(const Config& cfg, const AdminBackend& b, const CheckRequest& req,
                                                        int64_t unix_s, double mono_s);

// GET /check/config's answer at `unix_s` for the query (?token=...).
AdminServer::Response check_config(const Config& cfg, std::string_view query, int64_t unix_s);

}  // namespace turnpike
