// libFuzzer target: a pre-call check report's body (server/check_report.hpp parse_check_report), as
// JSON text. Whatever is accepted must be one the counters can take: a known verdict, each transport
// 1, 0 or untested, figures in range; whatever is refused must name why and leave the output as it was.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <string_view>

#include "server/check_report.hpp"
#include "tests/fuzz/target.hpp"

TURNPIKE_FUZZ_TARGET("server", check_report) {
  if (size > turnpike::kMaxCheckReportBytes) return 0;  // refused before parsing (server/check_routes.cpp)
  const auto body = nlohmann::json::parse(std::string_view(reinterpret_cast<const char*>(data), size), nullptr, false);
  if (body.is_discarded()) return 0;
  turnpike::CheckReport r;
  r.verdict = "sentinel";
  if (auto why = turnpike::parse_check_report(body, r)) {
    if (why->empty() || r.verdict != "sentinel") FUZZ_FAIL();
    return 0;
  }
  if (r.verdict != "ready" && r.verdict != "degraded" && r.verdict != "blocked") FUZZ_FAIL();
  for (int ok : r.ok)
    if (ok < -1 || ok > 1) FUZZ_FAIL();
  if (r.rtt_ms && !(std::isfinite(*r.rtt_ms) && *r.rtt_ms >= 0 && *r.rtt_ms <= 600000)) FUZZ_FAIL();
  if (r.loss && !(*r.loss >= 0 && *r.loss <= 1)) FUZZ_FAIL();
  if (r.mapping.empty()) FUZZ_FAIL();
  // An accepted report is stored and counted: the table must take it.
  turnpike::CheckReports table(2, 60);
  if (!table.admit(0)) FUZZ_FAIL();
  auto id = table.add(r, body, "site", 0);
  if (id.size() != 16 || !table.find(id)) FUZZ_FAIL();
  if (table.metrics_text().empty()) FUZZ_FAIL();
  return 0;
}
