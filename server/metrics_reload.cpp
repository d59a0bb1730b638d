// The config-reload gauges (Metrics::config_reload), named after Prometheus' own
// prometheus_config_last_reload_successful and _success_timestamp_seconds.
#include <prometheus/gauge.h>

#include "server/metrics.hpp"

namespace turnpike {

void Metrics::config_reload(bool success, int64_t unix_s) {
  if (!reload_ok_) {
    reload_ok_ = &prometheus::BuildGauge()
                      .Name("turnpike_config_last_reload_successful")
                      .Help("Whether the last config reload (SIGHUP, POST /api/v1/reload) applied: 1, or 0")
                      .Register(*registry_)
                      .Add({});
    reload_ts_ = &prometheus::BuildGauge()
                      .Name("turnpike_config_last_reload_timestamp_seconds")
                      .Help("Unix time of the last successful config reload, or of the start")
                      .Register(*registry_)
                      .Add({});
  }
  reload_ok_->Set(success ? 1 : 0);
  if (success) reload_ts_->Set(static_cast<double>(unix_s));
}

}  // namespace turnpike
