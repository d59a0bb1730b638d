// Percent-decoding (RFC 3986 2.1), one decoder for the admin API: query values
// (application/x-www-form-urlencoded: '+' is a space) and path segments ('+' is itself).
#pragma once
#include <string>
#include <string_view>

namespace turnpike {

enum class PlusSign { Space, Literal };

// Decodes `in` into `out`; false on a broken escape (a '%' without two hex digits after it).
inline bool percent_decode(std::string_view in, std::string& out, PlusSign plus) {
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+' && plus == PlusSign::Space) {
      out += ' ';
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      int h = hex(in[i + 1]), l = hex(in[i + 2]);
      if (h < 0 || l < 0) return false;
      out += static_cast<char>(h * 16 + l);
      i += 2;
    } else {
      out += in[i];
    }
  }
  return true;
}

}  // namespace turnpike
