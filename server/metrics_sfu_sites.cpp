// The SFU by site (the participant's signalling address through SiteMap, bounded by
// limits.max_sites): RTT and loss from RTCP, and media sessions by path, so the Sites dashboard
// shows relayed percent and quality per site. Series appear with a site's first participant.
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include "server/metrics.hpp"

namespace turnpike {

namespace {
const prometheus::Histogram::BucketBoundaries kRttBuckets = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1};
const prometheus::Histogram::BucketBoundaries kLossBuckets = {0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5};
const prometheus::Histogram::BucketBoundaries kBitrateBuckets = {50e3, 100e3, 200e3, 300e3, 500e3, 750e3, 1e6, 1.5e6, 2.5e6, 5e6, 10e6};
}  // namespace

void Metrics::register_sfu_site_families() {
  sfu_rtt_ = &prometheus::BuildHistogram()
                  .Name("turnpike_sfu_rtt_seconds")
                  .Help("SFU: round-trip times to participants, from RTCP receiver reports (RFC 3550 6.4.1), by site")
                  .Register(*registry_);
  sfu_loss_ = &prometheus::BuildHistogram()
                   .Name("turnpike_sfu_loss_ratio")
                   .Help("SFU: fraction lost from RTCP receiver reports, per report, by site")
                   .Register(*registry_);
  sfu_estimated_bitrate_ = &prometheus::BuildHistogram()
                                .Name("turnpike_sfu_estimated_bitrate_bps")
                                .Help("SFU: subscribers' estimated bandwidth (their REMB or the estimate from their "
                                      "transport-cc feedback), sampled every 2 s per subscriber, by site")
                                .Register(*registry_);
  sfu_site_sessions_ = &prometheus::BuildGauge()
                            .Name("turnpike_sfu_site_sessions")
                            .Help("SFU: participants with media flowing, by path (as turnpike_sfu_sessions) and the "
                                  "site of their signalling address")
                            .Register(*registry_);
  sfu_site_sessions_total_ = &prometheus::BuildCounter()
                                  .Name("turnpike_sfu_site_sessions_total")
                                  .Help("SFU: media sessions established, by the path they started on and site")
                                  .Register(*registry_);
}

void Metrics::sfu_rtt_seconds(const std::string& site, double v) { sfu_rtt_->Add({{"site", site}}, kRttBuckets).Observe(v); }

void Metrics::sfu_loss_ratio(const std::string& site, double v) { sfu_loss_->Add({{"site", site}}, kLossBuckets).Observe(v); }

void Metrics::sfu_estimated_bitrate(const std::string& site, double bps) {
  sfu_estimated_bitrate_->Add({{"site", site}}, kBitrateBuckets).Observe(bps);
}

void Metrics::sfu_site_session(const std::string& site, sfu::Path from, sfu::Path to) {
  if (from != sfu::Path::Unknown) sfu_site_sessions_->Add({{"path", sfu::to_string(from)}, {"site", site}}).Decrement();
  if (to == sfu::Path::Unknown) return;
  sfu_site_sessions_->Add({{"path", sfu::to_string(to)}, {"site", site}}).Increment();
  if (from == sfu::Path::Unknown) sfu_site_sessions_total_->Add({{"path", sfu::to_string(to)}, {"site", site}}).Increment();
}

}  // namespace turnpike
