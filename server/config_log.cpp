#include "server/config_log.hpp"

#include "server/config_impl.hpp"

#include <algorithm>
#include <charconv>

namespace turnpike {

namespace {

uint32_t count(const YAML::Node& n, const std::string& key, uint32_t max) {
  if (!n.IsScalar()) throw ConfigError(key, "must be a number");
  const std::string& s = n.Scalar();
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) throw ConfigError(key, "must be a whole number");
  if (v > max) throw ConfigError(key, "must be between 0 and " + std::to_string(max));
  return v;
}

}  // namespace

void parse_log_events(const YAML::Node& l, Config& c) {
  auto& e = c.log_events;
  if (l["events_per_second"]) e.per_second = count(l["events_per_second"], "log.events_per_second", 100'000);
  if (l["events_burst"]) {
    e.burst = count(l["events_burst"], "log.events_burst", 1'000'000);
    if (e.burst == 0) throw ConfigError("log.events_burst", "must be at least 1");
  } else {
    e.burst = std::max<uint32_t>(1, e.per_second * 2);
  }
  if (const auto& r = l["redact_users"]) e.redact_users = config_detail::boolean(r, "log.redact_users");
  if (const auto& s = l["redact_salt"]) {
    if (!s.IsScalar()) throw ConfigError("log.redact_salt", "must be a string");
    e.redact_salt = s.Scalar();
  }
}

}  // namespace turnpike
