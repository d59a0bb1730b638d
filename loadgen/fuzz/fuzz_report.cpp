// libFuzzer target: report.json as merge reads it. Arbitrary bytes parsed as JSON; whatever
// from_json accepts must summarize, write CSV, JSON and HTML, and refuse to merge with itself.
#include <string>
#include <vector>

#include "loadgen/report.hpp"
#include "tests/fuzz/target.hpp"

TURNPIKE_FUZZ_TARGET("loadgen", report) {
  const auto j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  loadgen::Report r;
  std::string error;
  if (!loadgen::from_json(j, r, error)) {
    if (error.empty()) FUZZ_FAIL();  // a refusal always says why
    return 0;
  }
  const auto sums = loadgen::summarize(r);
  if (sums.size() != r.steps.size()) FUZZ_FAIL();
  const auto out = loadgen::to_json(r);
  (void)out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  loadgen::Report again;
  if (!loadgen::from_json(out, again, error)) FUZZ_FAIL();  // what to_json writes reads back
  const std::string csv = loadgen::to_csv(r);
  if (csv.empty() || csv.back() != '\n') FUZZ_FAIL();
  const std::string html = loadgen::to_html(r);
  if (html.find("</html>") == std::string::npos) FUZZ_FAIL();
  loadgen::Report merged;
  if (loadgen::merge({r, r}, merged, error)) FUZZ_FAIL();  // the same shard twice
  return 0;
}
