// The capacity families (docs/metrics.md "Capacity"), gathered at scrape time by
// server/capacity.cpp's capacity_facts and appended by Metrics::render.
#include <prometheus/client_metric.h>

#include "server/capacity.hpp"
#include "server/metric_family.hpp"

namespace turnpike {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

using metric::add;
MetricFamily gauge(std::string name, std::string help) { return metric::family(std::move(name), std::move(help), MetricType::Gauge); }

}  // namespace

std::vector<MetricFamily> capacity_families(const CapacityFacts& f) {
  auto limit = gauge("turnpike_allocations_limit", "limits.max_allocations: allocations this node takes at most");
  add(limit, {}, static_cast<double>(f.max_allocations));
  uint64_t ports_in_use = 0, ports_limit = 0;
  for (const auto& p : f.relay_ports) {
    ports_in_use += p.in_use;
    ports_limit += p.limit;
  }
  auto in_use = gauge("turnpike_relay_ports_in_use",
                      "Relay ports open (allocations and EVEN-PORT reservations) over all relay addresses");
  add(in_use, {}, static_cast<double>(ports_in_use));
  auto ports = gauge("turnpike_relay_ports_limit", "Relay ports available: relay.port_range times the relay addresses");
  add(ports, {}, static_cast<double>(ports_limit));
  auto conns = gauge("turnpike_connections", "Open TCP and TLS client connections (TURN over TCP/TLS)");
  add(conns, {{"transport", "tcp"}}, static_cast<double>(f.tcp_connections));
  add(conns, {{"transport", "tls"}}, static_cast<double>(f.tls_connections));
  auto conns_limit = gauge("turnpike_connections_limit",
                           "limits.max_connections: TCP, TLS and DTLS client connections this node holds at most");
  add(conns_limit, {}, static_cast<double>(f.max_connections));
  std::vector<MetricFamily> out{limit, in_use, ports, conns, conns_limit};
  auto expiry = gauge("turnpike_tls_certificate_expiry_timestamp_seconds",
                      "notAfter of the certificate served, as Unix seconds: use turn (TLS/DTLS) or signal (wss://)");
  if (f.turn_cert_expiry) add(expiry, {{"use", "turn"}}, static_cast<double>(*f.turn_cert_expiry));
  if (f.signal_cert_expiry) add(expiry, {{"use", "signal"}}, static_cast<double>(*f.signal_cert_expiry));
  if (!expiry.metric.empty()) out.push_back(expiry);
  return out;
}

}  // namespace turnpike
