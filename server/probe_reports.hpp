// Probe reports (POST /api/v1/probe-reports, docs/admin-api.md): each round of a site's
// `turnpike-diag probe --report` (per transport: up or why not, setup time, RTT, jitter, loss; the
// NAT class and binding lifetime when its slower probes ran). The node keeps the last report of
// each site, lists them (GET /api/v1/probe-reports) and exports them by site
// (turnpike_site_probe_*, turnpike_site_nat_class_info), so that the chart's alerts see a transport
// that stops working or a NAT class that changes at any site.
//
// parse_probe_report checks a body whole against the schema (unknown fields refused); ProbeReports
// is the table, bounded: at most `max_sites` sites (the site labels are already bounded by
// limits.max_sites beside the configured sites); beyond, the site reported least recently is
// dropped (turnpike_probe_report_sites_evicted_total).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace turnpike {

struct ProbePathReport {
  std::string transport;  // udp, tcp, tls
  bool ok = false;
  std::optional<double> setup_s, rtt_s, jitter_s;
  double loss = 0;
  std::string reason, stage;  // when !ok
  int error_code = 0;
  std::string detail;         // at most 256 characters
};

struct ProbeReport {
  std::vector<ProbePathReport> paths;  // 1..3, one per transport
  std::optional<std::string> mapping, filtering, nat_class;
  bool has_lifetime = false;
  std::optional<double> binding_lifetime_s;  // with has_lifetime: nullopt is "longer than the tool's max"
  uint64_t round = 0;
};

constexpr size_t kMaxProbeReportBytes = 16 * 1024;

// Checks the report's fields (not its tags: server/admin.cpp's report_site does those). nullopt
// and `out` filled, or the message of a 400.
std::optional<std::string> parse_probe_report(const nlohmann::json& body, ProbeReport& out);

class ProbeReports {
 public:
  explicit ProbeReports(size_t max_sites) : max_sites_(max_sites ? max_sites : 1) {}
  void record(const std::string& site, ProbeReport r, int64_t unix_s);
  // {"count", "sites": [{"site", "received", "age_seconds", "round", "transports": [...], "nat"?, ...}]}
  nlohmann::json to_json(int64_t unix_s) const;
  // The turnpike_site_probe_* families, Prometheus text format.
  std::string metrics_text() const;
  size_t size() const;

 private:
  struct Entry {
    ProbeReport report;
    int64_t received_unix_s = 0;
    std::optional<std::string> nat_class, mapping, filtering;  // the last known, kept across rounds without NAT
    std::optional<double> binding_lifetime_s;
    bool has_lifetime = false;
  };
  size_t max_sites_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> sites_;
  uint64_t evicted_ = 0;
};

}  // namespace turnpike
