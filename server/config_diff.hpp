// What a reload (SIGHUP, POST /api/v1/reload) would change: the keys whose values differ between
// the config in force and a freshly loaded file, split into those applied live and those that need
// a restart (docs/configuration.md, "Live reload"). Pure: no I/O, no state.
#pragma once
#include <string>
#include <vector>

#include "server/config.hpp"

namespace turnpike {

struct ConfigDiff {
  std::vector<std::string> changed;  // live keys whose values differ, in the order of the table
  std::vector<std::string> restart;  // restart-only keys whose values differ
  bool applicable() const { return restart.empty(); }
};

ConfigDiff diff_config(const Config& running, const Config& fresh);

// Every key diff_config compares, and whether a reload applies it live.
struct ReloadKey {
  const char* name;
  bool live;
};
std::vector<ReloadKey> reload_keys();

}  // namespace turnpike
