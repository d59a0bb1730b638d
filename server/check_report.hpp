// The pre-call check's report (/check/, docs/check.md): what the page measured, parsed strictly from
// the JSON it posts (POST /api/v1/check-reports), and the bounded table of accepted reports with the
// counters exported as turnpike_check_* (docs/metrics.md). Pure: no sockets; the table is locked
// because the signalling port (SFU thread) adds and the admin port (admin thread) reads.
#pragma once
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace turnpike {

constexpr size_t kMaxCheckReportBytes = 16 * 1024;  // a larger body is refused before parsing
constexpr size_t kCheckTransports = 3;              // udp, tcp, tls (in this order)
const char* check_transport_name(size_t i);

// The figures the metrics take from a report; the whole (validated) JSON is kept beside them.
struct CheckReport {
  std::string verdict;                        // ready, degraded, blocked
  std::array<int, kCheckTransports> ok{-1, -1, -1};  // per transport: 1 reached TURN, 0 not, -1 not tested
  std::optional<double> rtt_ms, loss;         // media over the relay, when it ran
  std::string mapping;                        // docs/nat.md names, or unknown
};

// Checks `body` against the schema of docs/check.md (every key known, every value in range, at most
// a few fields per object); nullopt and `out` filled when it is one, else why not (`out` untouched).
std::optional<std::string> parse_check_report(const nlohmann::json& body, CheckReport& out);

// Accepted reports, newest last, at most `capacity` (the oldest evicted), and a token bucket of
// `per_minute` posts shared by every client (the page is unauthenticated).
class CheckReports {
 public:
  CheckReports(size_t capacity, uint32_t per_minute) : capacity_(capacity), per_minute_(per_minute) {}

  // A token for one post at `now_s` (monotonic seconds); false (counted as rate_limited) when none.
  bool admit(double now_s);
  // Stores a validated report under a new id (16 hex digits, returned) and counts it by site.
  std::string add(const CheckReport& r, nlohmann::json body, const std::string& site, int64_t unix_s);
  void refused(const char* reason);  // invalid, too_large, rate_limited
  // GET /api/v1/check-reports (newest first, at most `limit`) and /api/v1/check-reports/{id}.
  nlohmann::json list(size_t limit, const std::string& site) const;
  std::optional<nlohmann::json> find(const std::string& id) const;
  std::string metrics_text() const;  // Prometheus text: turnpike_check_*

 private:
  struct Entry {
    std::string id, site;
    int64_t unix_s = 0;
    nlohmann::json body;
  };
  struct SiteCounts {
    std::map<std::string, uint64_t> verdicts;
    std::array<int, kCheckTransports> ok{-1, -1, -1};  // the site's latest report; -1: none yet
    std::optional<double> rtt_ms, loss;
  };
  mutable std::mutex mu_;
  size_t capacity_;
  uint32_t per_minute_;
  double tokens_ = -1, last_s_ = 0;
  uint64_t next_ = 0;
  std::deque<Entry> entries_;
  std::map<std::string, SiteCounts> sites_;  // bounded by the caller's site labels (limits.max_sites)
  std::map<std::string, uint64_t> dropped_;  // by reason
};

}  // namespace turnpike
