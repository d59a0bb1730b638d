// fuzz_cli: bytes as argv (NUL-separated) through parse_cli and the duration/server parsers; must
// not crash, and a successful parse must stay within the documented bounds.
#include <string>
#include <vector>

#include "loadgen/cli.hpp"
#include "tests/fuzz/target.hpp"

TURNPIKE_FUZZ_TARGET("loadgen", cli) {
  std::vector<std::string> args(1);
  for (size_t i = 0; i < size && args.size() < 64; ++i) {
    if (data[i] == 0) args.emplace_back();
    else args.back().push_back(static_cast<char>(data[i]));
  }
  loadgen::CliResult r = loadgen::parse_cli(args);
  if (r.kind == loadgen::CliResult::Kind::Run) {
    const auto& o = r.run;
    if (o.plan.steps.empty() || o.plan.steps.size() > loadgen::kMaxSteps) FUZZ_FAIL();
    for (uint32_t s : o.plan.steps)
      if (s == 0 || s > loadgen::kMaxCalls) FUZZ_FAIL();
    if (o.threads == 0 || o.threads > loadgen::kMaxThreads || o.server_port == 0) FUZZ_FAIL();
    if (o.user.empty() == o.rest_secret.empty()) FUZZ_FAIL();
  } else if (r.kind == loadgen::CliResult::Kind::Error && r.error.empty()) {
    FUZZ_FAIL();
  }
  for (const auto& a : args) {
    (void)loadgen::parse_duration_ms(a);
    std::string h;
    uint16_t p = 0;
    (void)loadgen::parse_server(a, h, p);
  }
  return 0;
}
