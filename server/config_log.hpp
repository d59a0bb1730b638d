// The log.* keys of the troubleshooting events (issue 17, docs/logs.md): events_per_second,
// events_burst, redact_users, redact_salt. Called by config.cpp's parse_log.
#pragma once

#include <yaml-cpp/yaml.h>

#include "server/config.hpp"

namespace turnpike {

void parse_log_events(const YAML::Node& log, Config& c);

}  // namespace turnpike
