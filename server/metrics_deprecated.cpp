#include "server/metrics_deprecated.hpp"

#include <string>

namespace turnpike {

const RenamedMetric kRenamedMetrics[3] = {
    {"turnpike_allocate_requests_total", "turnpike_allocations_total"},
    {"turnpike_sfu_nack_resent_packets_total", "turnpike_sfu_nack_total"},
    {"turnpike_sfu_pli_sent_total", "turnpike_sfu_pli_total"},
};

void append_deprecated_aliases(std::vector<prometheus::MetricFamily>& all) {
  const size_t n = all.size();
  for (size_t i = 0; i < n; ++i)
    for (const auto& r : kRenamedMetrics) {
      if (all[i].name != r.now) continue;
      prometheus::MetricFamily copy = all[i];
      copy.name = r.old;
      copy.help = std::string("Deprecated, use ") + r.now + " (removed in the next release). " + all[i].help;
      all.push_back(std::move(copy));
    }
}

}  // namespace turnpike
