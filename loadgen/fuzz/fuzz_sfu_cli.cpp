// libFuzzer target: `turnpike-loadgen sfu`'s command line (sfu_cli.hpp). The input is the argument
// list, NUL-separated. Whatever parses must be inside the documented bounds.
#include <string>
#include <vector>

#include "loadgen/sfu_cli.hpp"
#include "tests/fuzz/target.hpp"

TURNPIKE_FUZZ_TARGET("loadgen", sfu_cli) {
  std::vector<std::string> args(1);
  for (size_t i = 0; i < size && args.size() < 64; ++i) {
    if (data[i] == 0) args.emplace_back();
    else args.back().push_back(static_cast<char>(data[i]));
  }
  auto r = loadgen::sfuload::parse_sfu_cli(args);
  if (r.kind == loadgen::sfuload::SfuCliResult::Kind::Error && r.error.empty()) FUZZ_FAIL();
  if (r.kind != loadgen::sfuload::SfuCliResult::Kind::Run) return 0;
  const auto& run = r.options.run;
  if (run.participants() > loadgen::sfuload::kMaxParticipants || run.participants() == 0) FUZZ_FAIL();
  if (run.duration_ms <= 0 || run.duration_ms > loadgen::sfuload::kMaxDurationMs) FUZZ_FAIL();
  if (run.video_payload() > 1100 || r.options.signal_host.empty() || run.region.empty()) FUZZ_FAIL();
  return 0;
}
