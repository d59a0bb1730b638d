// UTF-8 validation (RFC 3629), the one place for it: STUN's text attributes (RFC 8489 14.3, 14.9,
// 14.10, 14.11) are checked on receipt, and whatever serializes network text (JSON) can reuse it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace turn::utf8 {

// The number of characters (code points) in `s`, or nullopt if `s` is not well-formed UTF-8:
// no overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF (RFC 3629 4).
std::optional<size_t> count(std::span<const uint8_t> s);
inline std::optional<size_t> count(std::string_view s) {
  return count(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}
inline bool valid(std::span<const uint8_t> s) { return count(s).has_value(); }
inline bool valid(std::string_view s) { return count(s).has_value(); }

// `s` with each ill-formed sequence (a bad byte and the continuation bytes after it) replaced by U+FFFD.
std::string sanitize(std::string_view s);

}  // namespace turn::utf8
