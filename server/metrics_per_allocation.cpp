// The opt-in per-allocation series (metrics.per_allocation, docs/metrics.md "Per allocation") and
// their cut to the busiest metrics.per_allocation_limit.
#include <algorithm>
#include <string>
#include <vector>

#include "server/event_log.hpp"
#include "server/metric_family.hpp"
#include "server/metrics.hpp"

namespace turnpike {

using metric::add;
using metric::family;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

std::vector<MetricFamily> Metrics::allocation_families(const std::vector<turn::Allocation>& allocs, size_t omitted,
                                                       int64_t now_ms) {
  auto bytes = family("turnpike_allocation_relay_bytes_total",
                      "Per allocation (metrics.per_allocation): application bytes relayed", MetricType::Counter);
  auto packets = family("turnpike_allocation_relay_packets_total",
                        "Per allocation (metrics.per_allocation): packets relayed", MetricType::Counter);
  auto dropped = family("turnpike_allocation_relay_dropped_packets_total",
                        "Per allocation (metrics.per_allocation): packets not relayed", MetricType::Counter);
  auto rate = family("turnpike_allocation_relay_rate_bytes_per_second",
                     "Per allocation (metrics.per_allocation): relay rate over the last second", MetricType::Gauge);
  auto age = family("turnpike_allocation_age_seconds", "Per allocation (metrics.per_allocation): age",
                    MetricType::Gauge);
  for (const auto& a : allocs) {
    const auto& s = a.stats;
    std::string id = std::to_string(a.id);
    auto labels = [&](const char* dir) {
      std::vector<ClientMetric::Label> l{{"id", id}, {"user", events::user(a.user)}};  // log.redact_users
      if (dir) l.push_back({"direction", dir});
      return l;
    };
    add(bytes, labels("to_peer"), static_cast<double>(s.bytes_to_peer));
    add(bytes, labels("to_client"), static_cast<double>(s.bytes_to_client));
    add(packets, labels("to_peer"), static_cast<double>(s.packets_to_peer));
    add(packets, labels("to_client"), static_cast<double>(s.packets_to_client));
    add(dropped, labels(nullptr),
        static_cast<double>(s.dropped_no_permission + s.dropped_peer_denied + s.dropped_malformed + s.dropped_bandwidth +
                            s.dropped_too_big));
    add(rate, labels("to_peer"), static_cast<double>(s.rate_bps_to_peer));
    add(rate, labels("to_client"), static_cast<double>(s.rate_bps_to_client));
    add(age, labels(nullptr), static_cast<double>(now_ms - a.created_ms) / 1000.0);
  }
  auto cut = family("turnpike_allocation_series_omitted",
                    "Live allocations left out of the per-allocation series by metrics.per_allocation_limit",
                    MetricType::Gauge);
  add(cut, {}, static_cast<double>(omitted));
  return {bytes, packets, dropped, rate, age, cut};
}

size_t keep_busiest(std::vector<turn::Allocation>& v, size_t limit) {
  auto busy = [](const turn::Allocation& a) { return a.stats.bytes_to_peer + a.stats.bytes_to_client; };
  size_t keep = std::min<size_t>(v.size(), limit);
  std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(keep), v.end(),
                    [&](const turn::Allocation& x, const turn::Allocation& y) {
                      return busy(x) != busy(y) ? busy(x) > busy(y) : x.id < y.id;
                    });
  size_t omitted = v.size() - keep;
  v.resize(keep);
  return omitted;
}

}  // namespace turnpike
