#include "server/log.hpp"

#include "common/json_text.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace turnpike::log {

namespace {
std::atomic<int> g_level{static_cast<int>(Level::Info)};
std::atomic<bool> g_json{true};
}  // namespace

const char* level_name(Level l) {
  switch (l) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warn";
    case Level::Error: return "error";
  }
  return "?";
}

bool json_format() { return g_json.load(std::memory_order_relaxed); }

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[64];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return ts;
}

void configure(const std::string& level, const std::string& format) {
  Level l = level == "debug" ? Level::Debug : level == "warn" ? Level::Warn : level == "error" ? Level::Error : Level::Info;
  g_level = static_cast<int>(l);
  g_json = format != "text";
}

bool enabled(Level l) { return static_cast<int>(l) >= g_level.load(std::memory_order_relaxed); }

// Escaped through common/json_text.hpp: a log line stays valid JSON (and valid UTF-8) whatever a
// client sent.
std::string json_escape(std::string_view s) { return json_string_body(s); }

void write(Level l, std::string_view event, std::initializer_list<Field> fields) {
  if (!enabled(l)) return;
  const std::string ts = timestamp();
  const char* name = level_name(l);
  std::string line;
  if (g_json) {
    line = std::string("{\"ts\":\"") + ts + "\",\"level\":\"" + name + "\",\"event\":\"" + json_escape(event) + "\"";
    for (const auto& f : fields) {
      line += ",\"" + json_escape(f.key) + "\":";
      line += f.raw ? f.value : "\"" + json_escape(f.value) + "\"";
    }
    line += "}\n";
  } else {
    line = ts + " " + name + " " + std::string(event);
    for (const auto& f : fields) line += " " + std::string(f.key) + "=" + f.value;
    line += "\n";
  }
  ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace turnpike::log
