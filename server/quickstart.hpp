// The embedded default config's banner (`turnpike` with no --config, `scripts/run`): what listens
// where, the demo user, and two SFU demo links (room "demo", guest-1 and guest-2, valid 24 h) that
// join a call through this node when opened in a browser on the same machine.
#pragma once
#include <cstdint>
#include <string>

#include "server/config.hpp"

namespace turnpike {

// The banner text for `cfg` (an embedded default) at `now_unix_s`.
std::string quickstart_banner(const Config& cfg, const std::string& version, int64_t now_unix_s);

}  // namespace turnpike
