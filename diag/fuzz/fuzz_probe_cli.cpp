// libFuzzer target: bytes as the arguments of `turnpike-diag probe` (NUL-separated) through
// parse_probe_args; must not crash, and a successful parse must be runnable: a server, one kind of
// credentials, 1-3 distinct transports, a round budget below the interval.
#include <set>
#include <string>
#include <vector>

#include "diag/cli.hpp"
#include "tests/fuzz/target.hpp"

TURNPIKE_FUZZ_TARGET("diag", probe_cli) {
  std::vector<std::string> args(1);
  for (size_t i = 0; i < size && args.size() < 64; ++i) {
    if (data[i] == 0) args.emplace_back();
    else args.back().push_back(static_cast<char>(data[i]));
  }
  std::string error;
  auto o = diag::parse_probe_args(args, error);
  if (!o) {
    if (error.empty()) FUZZ_FAIL();
    return 0;
  }
  if (o->help) return 0;
  if (o->server.host.empty() || o->server.port == 0) FUZZ_FAIL();
  if (o->secret.empty() == (o->user.empty() || o->password.empty())) FUZZ_FAIL();
  if (o->transports.empty() || o->transports.size() > 3) FUZZ_FAIL();
  std::set<turn::Transport> seen(o->transports.begin(), o->transports.end());
  if (seen.size() != o->transports.size()) FUZZ_FAIL();
  if (o->timeout_ms >= o->every_ms || o->every_ms < 1000 || o->echoes == 0 || o->echoes > 1000) FUZZ_FAIL();
  for (const auto& [k, v] : o->tags)
    if (k == "site") FUZZ_FAIL();
  return 0;
}
