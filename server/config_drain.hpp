// The drain.* keys (docs/configuration.md): parsed apart from server/config.cpp, which calls this.
#pragma once
#include <yaml-cpp/yaml.h>

#include "server/drain.hpp"

namespace turnpike {

// drain: { alternate_urls: [turn:...], signal_url: wss://..., grace_seconds: N }.
// Throws ConfigError naming the bad key.
void parse_drain(const YAML::Node& n, DrainConfig& d);

}  // namespace turnpike
