// JSON text from data that came from the network: the one place every serialization goes through.
// nlohmann's plain dump() throws type_error.316 on invalid UTF-8 (a raw URL path, a Latin-1 TURN
// username, a tag); safe_dump() writes U+FFFD for each invalid byte sequence instead, so a crafted
// string can never turn a response, a record or a log line into an exception.
#pragma once
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace turnpike {

// j.dump(indent) with invalid UTF-8 replaced; works for nlohmann::json and nlohmann::ordered_json.
template <class Json>
std::string safe_dump(const Json& j, int indent = -1) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

// The body of a JSON string literal (no quotes) for `s`: escaped, invalid UTF-8 replaced.
inline std::string json_string_body(std::string_view s) {
  std::string quoted = safe_dump(nlohmann::json(std::string(s)));
  return quoted.substr(1, quoted.size() - 2);
}

}  // namespace turnpike
