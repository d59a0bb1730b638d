// quality.* (server/config_quality.hpp).
#include "server/config_quality.hpp"

#include <cmath>
#include <set>
#include <string>

#include "server/config_impl.hpp"

namespace turnpike {

namespace {

double number(const YAML::Node& n, const std::string& key, double min, double max) {
  if (!n.IsScalar()) throw ConfigError(key, "must be a number");
  auto s = n.as<std::string>();
  double v = 0;
  size_t used = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != s.size() || !std::isfinite(v)) throw ConfigError(key, "must be a number");
  if (v < min || v > max)
    throw ConfigError(key, "must be between " + std::to_string(min).substr(0, 8) + " and " + std::to_string(max).substr(0, 8));
  return v;
}

uint32_t whole(const YAML::Node& n, const std::string& key, uint32_t min, uint32_t max) {
  double v = number(n, key, min, max);
  if (v != std::floor(v)) throw ConfigError(key, "must be a whole number");
  return static_cast<uint32_t>(v);
}

void thresholds(const YAML::Node& n, const std::string& path, turn::QualityThresholds& t) {
  config_detail::only_keys(n, path, {"loss", "jitter_ms", "rtt_ms"});
  if (n["loss"]) t.loss = number(n["loss"], path + ".loss", 0, 1);
  if (n["jitter_ms"]) t.jitter_ms = number(n["jitter_ms"], path + ".jitter_ms", 0, 60'000);
  if (n["rtt_ms"]) t.rtt_ms = number(n["rtt_ms"], path + ".rtt_ms", 0, 60'000);
}

}  // namespace

void parse_quality(const YAML::Node& n, turn::QualityConfig& q) {
  config_detail::only_keys(n, "quality", {"enabled", "interval", "min_packets", "degraded", "bad", "tcp_degrades", "max_streams"});
  if (n["enabled"]) q.enabled = config_detail::boolean(n["enabled"], "quality.enabled");
  if (n["interval"]) q.interval_s = whole(n["interval"], "quality.interval", 1, 300);
  if (n["min_packets"]) q.min_packets = whole(n["min_packets"], "quality.min_packets", 1, 1'000'000);
  if (n["degraded"]) thresholds(n["degraded"], "quality.degraded", q.degraded);
  if (n["bad"]) thresholds(n["bad"], "quality.bad", q.bad);
  if (n["tcp_degrades"]) q.tcp_degrades = config_detail::boolean(n["tcp_degrades"], "quality.tcp_degrades");
  if (n["max_streams"]) q.max_streams = whole(n["max_streams"], "quality.max_streams", 1, 64);
  // A bad threshold below its degraded one would skip "degraded": refuse it.
  if (q.bad.loss < q.degraded.loss) throw ConfigError("quality.bad.loss", "must not be below quality.degraded.loss");
  if (q.bad.jitter_ms < q.degraded.jitter_ms)
    throw ConfigError("quality.bad.jitter_ms", "must not be below quality.degraded.jitter_ms");
  if (q.bad.rtt_ms < q.degraded.rtt_ms) throw ConfigError("quality.bad.rtt_ms", "must not be below quality.degraded.rtt_ms");
}

bool same_quality(const turn::QualityConfig& a, const turn::QualityConfig& b) {
  auto same = [](const turn::QualityThresholds& x, const turn::QualityThresholds& y) {
    return x.loss == y.loss && x.jitter_ms == y.jitter_ms && x.rtt_ms == y.rtt_ms;
  };
  return a.enabled == b.enabled && a.interval_s == b.interval_s && a.min_packets == b.min_packets &&
         same(a.degraded, b.degraded) && same(a.bad, b.bad) && a.tcp_degrades == b.tcp_degrades &&
         a.max_streams == b.max_streams;
}

}  // namespace turnpike
