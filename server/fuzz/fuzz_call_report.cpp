// libFuzzer target: a call report's body (server/call_report.hpp parse_call_report), as JSON text.
// Whatever is accepted must be a report the counters can take: a known path, a duration within
// seven days, a credential whole or absent; whatever is refused must name why and leave the output
// as it was.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <string_view>

#include "server/call_report.hpp"
#include "tests/fuzz/target.hpp"

TURNPIKE_FUZZ_TARGET("server", call_report) {
  const auto body = nlohmann::json::parse(std::string_view(reinterpret_cast<const char*>(data), size), nullptr, false);
  if (body.is_discarded()) return 0;
  turnpike::CallReport r;
  r.duration_s = -1;  // a sentinel no accepted report has
  if (auto why = turnpike::parse_call_report(body, r)) {
    if (why->empty() || r.duration_s != -1) FUZZ_FAIL();
    return 0;
  }
  if (!std::isfinite(r.duration_s) || r.duration_s < 0 || r.duration_s > turnpike::kMaxCallSeconds) FUZZ_FAIL();
  if (r.username.empty() != r.credential.empty() || r.username.size() > 512 || r.credential.size() > 512) FUZZ_FAIL();
  const auto path = r.path();
  if (static_cast<size_t>(path) >= turnpike::kCallPaths) FUZZ_FAIL();
  const bool relay = r.local == turnpike::CandidateType::Relay || r.remote == turnpike::CandidateType::Relay;
  if (relay != (path != turnpike::CallPath::Direct)) FUZZ_FAIL();
  if (r.local == turnpike::CandidateType::Relay && r.relay_protocol == turnpike::RelayProtocol::None) FUZZ_FAIL();
  return 0;
}
