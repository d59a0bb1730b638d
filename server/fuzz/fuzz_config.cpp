// libFuzzer target: the YAML configuration (server/config.cpp load_config_text, behind --config and
// SIGHUP reloads). A bad configuration is a ConfigError naming the key (docs/configuration.md);
// anything else escaping (a yaml-cpp exception, std::out_of_range, ...) is a crash. Inputs naming
// device or kernel files are skipped: tls.cert/tls.key are opened, and /dev/zero would never end.
// What loads must carry the keys load_config_text requires.
#include <string>
#include <string_view>

#include "server/config.hpp"
#include "tests/fuzz/target.hpp"

TURNPIKE_FUZZ_TARGET("server", config) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (std::string_view risky : {"dev", "proc", "sys", "run"})
    if (text.find(risky) != std::string::npos) return 0;
  try {
    const turnpike::Config c = turnpike::load_config_text(text);
    if (c.region.empty() || c.listen.empty()) FUZZ_FAIL();
  } catch (const turnpike::ConfigError& e) {
    if (e.key.empty() || std::string_view(e.what()).empty()) FUZZ_FAIL();
  }
  return 0;
}
