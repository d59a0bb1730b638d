// What `turnpike-diag probe` knows and says: the state of a site's paths (each transport's last
// round, rounds counted by result, the NAT class and binding lifetime of the slower probes), the
// Prometheus text of its own /metrics, each round's JSON (printed with --json, POSTed with --report
// to /api/v1/probe-reports) and its text line. Pure: no sockets, no clock.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/nat_report.hpp"
#include "diag/path_probe.hpp"

namespace diag {

// The NAT class of a NatReport: its RFC 3489 name as a label ("full_cone", "symmetric",
// "open_internet", "udp_blocked", ...), with the RFC 5780 behaviours beside it.
struct ProbeNat {
  std::string mapping, filtering, nat_class;
};
ProbeNat probe_nat_of(const NatReport& r);
std::string nat_class_label(const std::string& rfc3489);  // "Port Restricted Cone" -> "port_restricted_cone"

// The labels a round's result counts under in turnpike_probe_rounds_total{result}: "ok" or the
// failure's class (timeout, refused, tls_handshake, error, closed, no_echo, network).
const char* result_label(const PathResult& r);

struct ProbeTransportState {
  std::optional<PathResult> last;
  std::map<std::string, uint64_t> rounds;  // by result label: a handful of keys at most
};

struct ProbeState {
  std::string site;
  std::map<turn::Transport, ProbeTransportState> transports;  // the probed ones (at most 3)
  std::optional<ProbeNat> nat;
  std::optional<double> binding_lifetime_s;  // the last lifetime measured
  bool binding_lifetime_longer = false;      // the last run found "longer than max"
  void record(const PathResult& r);
};

// When each slower probe of `probe` is due (pure: unit-tested). Both start at once when enabled (0: never).
struct SlowSchedule {
  uint32_t nat_every_ms = 0, lifetime_every_ms = 0;
  int64_t next_nat_ms = 0, next_lifetime_ms = 0;
  enum class Due : uint8_t { None, Nat, Lifetime };
  // What to start now (NAT first when both are due), and its next time moved on.
  Due take(int64_t now_ms);
};

// The probe's own /metrics (Prometheus text format 0.0.4), docs/diag.md "Metrics".
std::string to_prometheus(const ProbeState& s);

// One round: {"tool", "time", "round", "tags": {"site", ...}, "transports": [...], "nat"?,
// "binding_lifetime_seconds"?} (docs/diag.md "JSON"; the body of POST /api/v1/probe-reports).
struct ProbeRoundInfo {
  std::string tool, time;
  uint64_t round = 0;
  std::vector<std::pair<std::string, std::string>> tags;  // site first
};
nlohmann::ordered_json round_json(const ProbeRoundInfo& info, const std::vector<PathResult>& paths,
                                  const ProbeState& state);
nlohmann::ordered_json to_json(const PathResult& r);
// "udp  ok    setup 4.1 ms  rtt 0.4 ms  jitter 0.1 ms  loss 0 %" or "tcp  FAIL  timeout (allocate)".
std::string to_text(const PathResult& r);

}  // namespace diag
