#include "turn/utf8.hpp"

namespace turn::utf8 {

namespace {
// The length of the well-formed sequence at s[i], or 0 (RFC 3629 4, the table of valid ranges).
size_t sequence(std::span<const uint8_t> s, size_t i) {
  uint8_t b = s[i];
  if (b < 0x80) return 1;
  size_t n;
  uint8_t lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (b >= 0xC2 && b <= 0xDF) n = 2;
  else if (b == 0xE0) n = 3, lo = 0xA0;
  else if (b == 0xED) n = 3, hi = 0x9F;  // no surrogates
  else if (b >= 0xE1 && b <= 0xEF) n = 3;
  else if (b == 0xF0) n = 4, lo = 0x90;
  else if (b == 0xF4) n = 4, hi = 0x8F;  // nothing above U+10FFFF
  else if (b >= 0xF1 && b <= 0xF3) n = 4;
  else return 0;
  if (s.size() - i < n) return 0;
  if (s[i + 1] < lo || s[i + 1] > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if ((s[i + k] & 0xC0) != 0x80) return 0;
  return n;
}
}  // namespace

std::optional<size_t> count(std::span<const uint8_t> s) {
  size_t chars = 0;
  for (size_t i = 0; i < s.size(); ++chars) {
    size_t n = sequence(s, i);
    if (n == 0) return std::nullopt;
    i += n;
  }
  return chars;
}

std::string sanitize(std::string_view text) {
  std::span<const uint8_t> s(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < s.size();) {
    if (size_t n = sequence(s, i)) {
      out.append(text.substr(i, n));
      i += n;
      continue;
    }
    out.append("\xEF\xBF\xBD");
    // Skip the lead byte and any continuation bytes that follow it (a maximal bad subpart).
    ++i;
    while (i < s.size() && (s[i] & 0xC0) == 0x80) ++i;
  }
  return out;
}

}  // namespace turn::utf8
