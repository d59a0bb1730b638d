// Structured logging: one line per event, JSON or text, to stderr; whole lines, so threads don't interleave.
#pragma once
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace turnpike::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };
void configure(const std::string& level, const std::string& format);
bool enabled(Level l);

// A field's value is emitted as a JSON string unless `raw` (numbers, nested JSON).
struct Field {
  std::string_view key;
  std::string value;
  bool raw = false;
};
inline Field num(std::string_view k, long long v) { return {k, std::to_string(v), true}; }
inline Field str(std::string_view k, std::string v) { return {k, std::move(v), false}; }
inline Field json(std::string_view k, std::string v) { return {k, std::move(v), true}; }

void write(Level l, std::string_view event, std::initializer_list<Field> fields = {});
inline void info(std::string_view e, std::initializer_list<Field> f = {}) { write(Level::Info, e, f); }
inline void warn(std::string_view e, std::initializer_list<Field> f = {}) { write(Level::Warn, e, f); }
inline void error(std::string_view e, std::initializer_list<Field> f = {}) { write(Level::Error, e, f); }
inline void debug(std::string_view e, std::initializer_list<Field> f = {}) { write(Level::Debug, e, f); }

std::string json_escape(std::string_view s);

// For other line builders (event_log.hpp): the current time as lines show it, whether lines are
// JSON, and a level's name.
std::string timestamp();
bool json_format();
const char* level_name(Level l);

}  // namespace turnpike::log
