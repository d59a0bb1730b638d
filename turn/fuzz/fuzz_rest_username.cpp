// libFuzzer target: the TURN REST username parser (turn/auth.hpp), tags included. What parses keeps
// its bounds (at most kMaxTags tags, unique keys, each part tag_text_ok; user and region without
// ';'), and the username is exactly its part before the first ';' followed by ";key=value" per tag.
#include <string>
#include <string_view>

#include "turn/auth.hpp"
#include "tests/fuzz/target.hpp"

TURNPIKE_FUZZ_TARGET("turn", rest_username) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  turn::RestUsername r;
  r.tags = {{"stale", "tag"}};  // an earlier parse's tags never survive
  if (!turn::RestUsername::parse(text, r)) return 0;
  if (r.tags.size() > turn::kMaxTags) FUZZ_FAIL();
  if (r.user.find(';') != std::string::npos || r.region.find(';') != std::string::npos) FUZZ_FAIL();
  std::string rebuilt(text.substr(0, text.find(';')));
  for (size_t i = 0; i < r.tags.size(); ++i) {
    const auto& [k, v] = r.tags[i];
    if (!turn::tag_text_ok(k) || !turn::tag_text_ok(v)) FUZZ_FAIL();
    for (size_t j = 0; j < i; ++j)
      if (r.tags[j].first == k) FUZZ_FAIL();
    rebuilt += ";" + k + "=" + v;
  }
  if (rebuilt != text) FUZZ_FAIL();
  return 0;
}
