// The one way to build a metric family at scrape time (values read from the cores, /proc, the
// capacity facts, live allocations): metrics.cpp, metrics_capacity.cpp and metrics_quality.cpp use it.
#pragma once
#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>

#include <string>
#include <utility>
#include <vector>

namespace turnpike::metric {

inline prometheus::MetricFamily family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

// One sample of a counter or gauge family.
inline void add(prometheus::MetricFamily& f, std::vector<prometheus::ClientMetric::Label> labels, double v) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (f.type == prometheus::MetricType::Counter) m.counter.value = v;
  else m.gauge.value = v;
  f.metric.push_back(std::move(m));
}

}  // namespace turnpike::metric
