// libFuzzer target: a probe report's body (server/probe_reports.hpp parse_probe_report), as JSON
// text, then recorded in a table of two sites and rendered. Whatever is accepted must be within the
// schema's bounds (1-3 distinct transports, ratios in 0..1, a reason for each failure); whatever is
// refused must name why; the table never holds more sites than its bound.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <set>
#include <string_view>

#include "server/probe_reports.hpp"
#include "tests/fuzz/target.hpp"

TURNPIKE_FUZZ_TARGET("server", probe_report) {
  const auto body = nlohmann::json::parse(std::string_view(reinterpret_cast<const char*>(data), size), nullptr, false);
  if (body.is_discarded()) return 0;
  turnpike::ProbeReport r;
  if (auto why = turnpike::parse_probe_report(body, r)) {
    if (why->empty()) FUZZ_FAIL();
    return 0;
  }
  if (r.paths.empty() || r.paths.size() > 3) FUZZ_FAIL();
  std::set<std::string> seen;
  for (const auto& p : r.paths) {
    if (!seen.insert(p.transport).second) FUZZ_FAIL();
    if (!(p.loss >= 0 && p.loss <= 1)) FUZZ_FAIL();
    if (p.rtt_s && !(*p.rtt_s >= 0 && *p.rtt_s <= 60)) FUZZ_FAIL();
    if (!p.ok && p.reason.empty()) FUZZ_FAIL();
    if (p.detail.size() > 256) FUZZ_FAIL();
  }
  turnpike::ProbeReports table(2);
  table.record("a", r, 1);
  table.record("b", r, 2);
  table.record("c", r, 3);
  if (table.size() != 2) FUZZ_FAIL();
  if (table.metrics_text().find("turnpike_site_probe_up{site=\"c\"") == std::string::npos) FUZZ_FAIL();
  (void)table.to_json(4).dump();
  return 0;
}
