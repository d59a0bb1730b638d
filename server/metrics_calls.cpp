// Call reports (server/call_report.hpp): turnpike_calls_total{path, site}, the durations by path,
// and the reports refused by reason. Sites are bounded by SiteMap before they get here.
#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include "server/metrics.hpp"

namespace turnpike {

namespace {
const prometheus::Histogram::BucketBoundaries kCallBuckets = {10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800};
constexpr const char* kRejectReasons[] = {"invalid", "unauthorized", "unavailable"};
}  // namespace

void Metrics::register_call_families() {
  calls_ = &prometheus::BuildCounter()
                .Name("turnpike_calls_total")
                .Help("Calls reported by browsers at their end (POST /api/v1/call-reports), by the path their "
                      "selected candidate pair took: direct, relay_udp/tcp/tls (through the reporter's TURN "
                      "server by its transport to it) or relay_remote (the other end's relay only), and site")
                .Register(*registry_);
  auto& durations = prometheus::BuildHistogram()
                        .Name("turnpike_call_duration_seconds")
                        .Help("How long reported calls lasted, by path")
                        .Register(*registry_);
  for (size_t p = 0; p < kCallPaths; ++p)
    call_seconds_[p] = &durations.Add({{"path", to_string(static_cast<CallPath>(p))}}, kCallBuckets);
  auto& rejected = prometheus::BuildCounter()
                       .Name("turnpike_call_reports_rejected_total")
                       .Help("Call reports refused: invalid (400), unauthorized (no valid TURN credential nor admin "
                             "token, 401) or unavailable (503)")
                       .Register(*registry_);
  for (size_t r = 0; r < std::size(kRejectReasons); ++r) call_rejected_[r] = &rejected.Add({{"reason", kRejectReasons[r]}});
}

void Metrics::call_reported(CallPath path, const std::string& site, double duration_s) {
  calls_->Add({{"path", to_string(path)}, {"site", site}}).Increment();
  call_seconds_[static_cast<size_t>(path)]->Observe(duration_s);
}

void Metrics::call_report_rejected(const char* reason) {
  for (size_t r = 0; r < std::size(kRejectReasons); ++r)
    if (std::string_view(reason) == kRejectReasons[r]) call_rejected_[r]->Increment();
}

}  // namespace turnpike
