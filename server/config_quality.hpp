// The quality.* keys (docs/configuration.md, docs/relay-quality.md): the relay-quality analyser of
// turn/media_quality.hpp. Parsed apart from server/config.cpp, which calls this.
#pragma once
#include <yaml-cpp/yaml.h>

#include "turn/media_quality.hpp"

namespace turnpike {

// quality: { enabled, interval, min_packets, degraded: {loss, jitter_ms, rtt_ms}, bad: {...},
// tcp_degrades, max_streams }. Throws ConfigError naming the bad key.
void parse_quality(const YAML::Node& n, turn::QualityConfig& q);

// Whether two quality configs are the same (config_diff: quality.* are live keys).
bool same_quality(const turn::QualityConfig& a, const turn::QualityConfig& b);

}  // namespace turnpike
