// check.* (docs/configuration.md, docs/check.md): the pre-call check page and its reports.
#include <string>

#include "server/config_impl.hpp"

namespace turnpike::config_detail {

void parse_check(const YAML::Node& n, Config& c) {
  only_keys(n, "check", {"enabled", "require_token", "expected_region", "max_reports", "reports_per_minute",
                         "credential_ttl_seconds"});
  auto& k = c.check;
  auto flag = [&n](const char* key, bool& out) {
    if (n[key]) out = boolean(n[key], std::string("check.") + key);
  };
  flag("enabled", k.enabled);
  flag("require_token", k.require_token);
  if (n["expected_region"]) {
    k.expected_region = str(n["expected_region"], "check.expected_region");
    if (k.expected_region.size() > 64) throw ConfigError("check.expected_region", "at most 64 characters");
  }
  if (n["max_reports"]) k.max_reports = static_cast<uint32_t>(uint(n["max_reports"], "check.max_reports", 0, 100000));
  if (n["reports_per_minute"])
    k.reports_per_minute = static_cast<uint32_t>(uint(n["reports_per_minute"], "check.reports_per_minute", 1, 100000));
  if (n["credential_ttl_seconds"])
    k.credential_ttl_s = static_cast<uint32_t>(uint(n["credential_ttl_seconds"], "check.credential_ttl_seconds", 30, 86400));
}

}  // namespace turnpike::config_detail
