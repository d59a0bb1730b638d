// Tags: key=value pairs an application signs into a TURN REST username ("...;site=ward-5;device=cart",
// turn/auth.hpp) that say who or what the client is, for allocation records, the admin API's
// filters and metric labels. The same charset bounds the tags of diag and call reports.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace turn {

// In the order given; keys unique.
using Tags = std::vector<std::pair<std::string, std::string>>;
constexpr size_t kMaxTags = 8;

// A tag key or value: 1-64 characters of letters, digits, - _ . / :
inline bool tag_text_ok(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char ch : s) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '_' || ch == '.' || ch == '/' || ch == ':';
    if (!ok) return false;
  }
  return true;
}

// The value of `key` in `tags`; nullptr when absent.
inline const std::string* find_tag(const Tags& tags, std::string_view key) {
  for (const auto& [k, v] : tags)
    if (k == key) return &v;
  return nullptr;
}

}  // namespace turn
