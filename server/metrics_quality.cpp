// Relay quality (docs/relay-quality.md): the analyser's intervals in histograms over allocations,
// allocations by verdict and with media over TCP/TLS, payload kinds, and the per-allocation series.
// Labels beyond leg/direction/verdict are the allocation's tags named by metrics.tag_labels.
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include "server/event_log.hpp"
#include "server/metric_family.hpp"
#include "server/metrics.hpp"

namespace turnpike {

namespace {
using prometheus::MetricFamily;
using prometheus::MetricType;
const prometheus::Histogram::BucketBoundaries kRttBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.8, 1.5};
const prometheus::Histogram::BucketBoundaries kLossBuckets = {0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5};
const prometheus::Histogram::BucketBoundaries kJitterBuckets = {0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2};
const char* const kDirections[2] = {"to_peer", "to_client"};
const char* const kLegs[2] = {"client", "peer"};

Metrics::Labels with(Metrics::Labels l, const char* key, const char* value) {
  l[key] = value;
  return l;
}
}  // namespace

void Metrics::register_quality_families() {
  relay_rtt_ = &prometheus::BuildHistogram()
                    .Name("turnpike_relay_rtt_seconds")
                    .Help("Relay quality: round-trip time of each leg beyond the relay (client: relay-client-relay, "
                          "peer: relay-peer-relay), from ICE checks crossing it; per allocation and interval")
                    .Register(*registry_);
  relay_loss_ = &prometheus::BuildHistogram()
                     .Name("turnpike_relay_loss_ratio")
                     .Help("Relay quality: RTP packets lost before the relay over expected, per allocation, direction "
                           "and interval (quality.interval)")
                     .Register(*registry_);
  relay_jitter_ = &prometheus::BuildHistogram()
                       .Name("turnpike_relay_jitter_seconds")
                       .Help("Relay quality: RFC 3550 interarrival jitter at the relay (largest stream), per "
                             "allocation, direction and interval")
                       .Register(*registry_);
  by_quality_ = &prometheus::BuildGauge()
                     .Name("turnpike_allocations_by_quality")
                     .Help("Live allocations by their relay-quality verdict (good, degraded, bad; no_media before any)")
                     .Register(*registry_);
  media_over_tcp_ = &prometheus::BuildGauge()
                         .Name("turnpike_media_over_tcp_allocations")
                         .Help("Live allocations carrying RTP over a TCP or TLS client connection (head-of-line risk)")
                         .Register(*registry_);
}

void Metrics::quality_created(const turn::Allocation& a) {
  by_quality_->Add(with(tag_labels(a), "verdict", turn::to_string(a.quality.verdict()))).Increment();
}

void Metrics::quality_ended(const turn::Allocation& a) {
  Labels tags = tag_labels(a);
  by_quality_->Add(with(tags, "verdict", turn::to_string(a.quality.verdict()))).Decrement();
  if (a.quality.media_over_tcp()) media_over_tcp_->Add(tags).Decrement();
}

void Metrics::quality_sample(const turn::Allocation& a, const turn::MediaQuality::Sample& s) {
  Labels tags = tag_labels(a);
  if (s.previous != s.verdict) {
    by_quality_->Add(with(tags, "verdict", turn::to_string(s.previous))).Decrement();
    by_quality_->Add(with(tags, "verdict", turn::to_string(s.verdict))).Increment();
  }
  if (s.became_media_over_tcp) media_over_tcp_->Add(tags).Increment();
  for (size_t leg = 0; leg < 2; ++leg)
    if (s.rtt_ms[leg] >= 0) relay_rtt_->Add(with(tags, "leg", kLegs[leg]), kRttBuckets).Observe(s.rtt_ms[leg] / 1000.0);
  if (!s.media) return;
  for (size_t d = 0; d < 2; ++d) {
    if (!s.have_loss[d]) continue;
    relay_loss_->Add(with(tags, "direction", kDirections[d]), kLossBuckets).Observe(s.loss[d]);
    if (s.jitter_ms[d] >= 0)
      relay_jitter_->Add(with(tags, "direction", kDirections[d]), kJitterBuckets).Observe(s.jitter_ms[d] / 1000.0);
  }
}

std::vector<MetricFamily> Metrics::quality_core_families(const std::vector<const turn::CoreStats*>& cores) {
  auto payloads = metric::family("turnpike_relay_payloads_total",
                                 "Relayed datagrams by what they carry (RFC 7983: stun, dtls, rtp, rtcp, other), while "
                                 "quality.enabled",
                                 MetricType::Counter);
  for (size_t k = 0; k < turn::rtp::kKinds; ++k) {
    uint64_t n = 0;
    for (const auto* c : cores) n += c->payloads[k].get();
    metric::add(payloads, {{"kind", turn::rtp::to_string(static_cast<turn::rtp::Kind>(k))}}, static_cast<double>(n));
  }
  return {payloads};
}

// Per allocation (metrics.per_allocation, capped by metrics.per_allocation_limit): the last
// interval's loss and the current jitter per direction, the last RTT per leg; absent until known.
std::vector<MetricFamily> Metrics::allocation_quality_families(const std::vector<turn::Allocation>& allocs) {
  auto loss = metric::family("turnpike_allocation_loss_ratio",
                             "Per allocation (metrics.per_allocation): RTP loss before the relay in the last interval",
                             MetricType::Gauge);
  auto jitter = metric::family("turnpike_allocation_jitter_seconds",
                               "Per allocation (metrics.per_allocation): RFC 3550 jitter at the relay (largest stream)",
                               MetricType::Gauge);
  auto rtt = metric::family("turnpike_allocation_rtt_seconds",
                            "Per allocation (metrics.per_allocation): the last round-trip time of each leg",
                            MetricType::Gauge);
  for (const auto& a : allocs) {
    std::string id = std::to_string(a.id), user = events::user(a.user);  // log.redact_users
    const auto* s = a.quality.last_sample();
    for (size_t d = 0; d < 2; ++d) {
      auto dir = static_cast<turn::MediaQuality::Dir>(d);
      if (s && s->have_loss[d]) metric::add(loss, {{"id", id}, {"user", user}, {"direction", kDirections[d]}}, s->loss[d]);
      double j = a.quality.direction(dir).jitter_ms();
      if (j >= 0) metric::add(jitter, {{"id", id}, {"user", user}, {"direction", kDirections[d]}}, j / 1000.0);
    }
    const turn::LegRtt* legs[2] = {&a.quality.client_leg(), &a.quality.peer_leg()};
    for (size_t l = 0; l < 2; ++l)
      if (legs[l]->samples)
        metric::add(rtt, {{"id", id}, {"user", user}, {"leg", kLegs[l]}}, static_cast<double>(legs[l]->last_us) / 1e6);
  }
  return {loss, jitter, rtt};
}

}  // namespace turnpike
