// Plain-text report layout shared by turnpike-diag's reports (nat_report, lifetime_report).
#pragma once
#include <cstdio>
#include <string>

namespace diag {

// One "  label            value" line: labels padded to 16 columns so values line up.
inline void append_field(std::string& out, const char* label, const std::string& value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "  %-16s ", label);
  out += buf;
  out += value;
  out += '\n';
}

}  // namespace diag
