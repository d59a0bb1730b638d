// Metric names renamed by issue 17 ("Metric hygiene"), still exported for one release under their
// old names as copies whose HELP says they are deprecated (docs/metrics.md, "Deprecated names").
#pragma once

#include <prometheus/metric_family.h>

#include <vector>

namespace turnpike {

struct RenamedMetric {
  const char* now;  // the name to use
  const char* old;  // the deprecated name, same type and labels
};

// turnpike_allocations_total (a clash with the gauge turnpike_allocations under OpenMetrics),
// turnpike_sfu_nack_total and turnpike_sfu_pli_total.
extern const RenamedMetric kRenamedMetrics[3];

// Appends to `all` a deprecated copy of every family in it that kRenamedMetrics renamed.
void append_deprecated_aliases(std::vector<prometheus::MetricFamily>& all);

}  // namespace turnpike
