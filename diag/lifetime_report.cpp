#include "diag/lifetime_report.hpp"
#include "diag/text.hpp"

#include <cstdio>

namespace diag {

using turn::Endpoint;

const char* to_string(LifetimeResult r) {
  switch (r) {
    case LifetimeResult::Measured: return "measured";
    case LifetimeResult::LongerThanMax: return "longer_than_max";
    case LifetimeResult::Unreachable: return "unreachable";
    case LifetimeResult::Unsupported: return "unsupported";
    case LifetimeResult::NotDelivered: return "not_delivered";
    case LifetimeResult::Error: return "error";
  }
  return "error";
}

std::string seconds_text(uint64_t ms) {
  char buf[32];
  if (ms % 1000 == 0) {
    std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(ms / 1000));
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%llu.%03llu", static_cast<unsigned long long>(ms / 1000),
                static_cast<unsigned long long>(ms % 1000));
  std::string s = buf;
  while (s.back() == '0') s.pop_back();
  return s;
}

std::string shown_seconds(uint64_t ms) { return seconds_text((ms + 5) / 10 * 10); }

namespace {
// "~5.1 s", "~42 s", "~300 s (5 minutes)".
std::string approx(uint32_t ms) {
  char buf[64];
  if (ms < 10000) std::snprintf(buf, sizeof buf, "~%.1f s", ms / 1000.0);
  else std::snprintf(buf, sizeof buf, "~%u s", (ms + 500) / 1000);
  std::string s = buf;
  if (ms >= 120000) {
    std::snprintf(buf, sizeof buf, " (%.3g minutes)", ms / 60000.0);
    s += buf;
  }
  return s;
}

// What a mapping timeout of `ms` means for media, after "... of silence".
std::string consequence(uint32_t ms) {
  if (ms < 6000)
    return ": shorter than ICE consent checks (every 4-6 s), so even WebRTC calls can lose their path when media "
           "pauses (mute, hold); keepalives must come more often than that, and the NAT's UDP timeout should be "
           "raised";
  if (ms < 120000)
    return ": media keepalives must come more often than that; WebRTC calls are fine (TURN/ICE consent checks "
           "every 5 s keep the mapping), but quieter UDP (SIP over UDP, RTP on hold without keepalives, an idle "
           "TURN allocation) loses its mapping";
  if (ms < 300000)
    return ": calls and usual keepalives are fine; an idle TURN allocation (permissions refreshed every 4-5 "
           "minutes) can lose its mapping between refreshes";
  return ": calls, keepalives and idle TURN allocations (refreshed every few minutes) all keep their mapping";
}

// The same for "at least `ms`" (longer than max).
std::string consequence_at_least(uint32_t ms) {
  if (ms >= 300000) return consequence(ms);
  if (ms >= 120000)
    return ": calls and usual keepalives are fine (RFC 4787 asks for at least 2 minutes); whether idle TURN "
           "allocations keep theirs, a larger --max tells";
  if (ms >= 6000)
    return ": WebRTC calls are fine (ICE consent checks every 5 s keep the mapping); whether quieter UDP keeps "
           "it, a larger --max tells";
  return ": a larger --max tells more";
}

bool near(uint32_t ms, uint32_t target_s) {
  return ms + 1500 >= target_s * 1000 && ms <= target_s * 1000 + 1500;
}
}  // namespace

void make_lifetime_verdict(LifetimeReport& r) {
  const std::string flows = r.established ? "UDP mappings of established flows" : "UDP mappings";
  switch (r.result) {
    case LifetimeResult::Measured: {
      const uint32_t t = r.timeout_ms.value_or(0);
      r.verdict = r.no_nat ? "no NAT in front, but something (a stateful firewall) forgets UDP flows after " +
                                 approx(t) + " of silence" + consequence(t)
                           : flows + " expire after " + approx(t) + " of silence" + consequence(t);
      if (t < 120000)
        r.notes.push_back("RFC 4787 (REQ-5) asks that a NAT's UDP mapping timer not expire in less than 2 minutes");
      if (near(t, 30) && !r.established)
        r.notes.push_back("~30 s is Linux conntrack's nf_conntrack_udp_timeout default, which covers flows that "
                          "exchanged a packet or two; flows with ongoing two-way traffic get "
                          "nf_conntrack_udp_timeout_stream (120 s by default): measure that with --established");
      if (near(t, 120) && r.established)
        r.notes.push_back("~120 s is Linux conntrack's nf_conntrack_udp_timeout_stream default");
      if (t < r.min_ms)
        r.notes.push_back("the timeout is shorter than --min (" + shown_seconds(r.min_ms) + " s)");
      break;
    }
    case LifetimeResult::LongerThanMax:
      if (r.no_nat)
        r.verdict = "no NAT in front, and no firewall forgot the flow within " + approx(r.max_ms) +
                    " of silence: nothing expires here";
      else
        r.verdict = flows + " survive at least " + approx(r.max_ms) + " of silence (longer than max)" +
                    consequence_at_least(r.max_ms);
      if (r.max_ms < 300000)
        r.notes.push_back("only gaps up to " + shown_seconds(r.max_ms) +
                          " s were tried: run with a larger --max (e.g. 600) for the whole picture");
      break;
    default:
      r.verdict = "no result: " + r.error;
      break;
  }
}

namespace {
nlohmann::ordered_json ep(const std::optional<Endpoint>& e) {
  return e ? nlohmann::ordered_json(e->to_string()) : nlohmann::ordered_json(nullptr);
}
double secs(uint64_t ms) { return static_cast<double>(ms) / 1000.0; }
}  // namespace

nlohmann::ordered_json to_json(const LifetimeReport& r) {
  nlohmann::ordered_json trials = nlohmann::ordered_json::array();
  for (const LifetimeTrial& t : r.trials)
    trials.push_back({{"gap_seconds", secs(t.gap_ms)},
                      {"survived", t.survived},
                      {"local", ep(t.local)},
                      {"mapped", ep(t.mapped)},
                      {"requests", t.requests},
                      {"at_seconds", secs(t.at_ms)}});
  nlohmann::ordered_json err = nullptr;
  if (r.error_code) err = {{"code", *r.error_code}, {"reason", r.error_reason}};
  return {
      {"server", r.server.to_string()},
      {"timeout_seconds", r.timeout_ms ? nlohmann::ordered_json(secs(*r.timeout_ms)) : nlohmann::ordered_json(nullptr)},
      {"result", to_string(r.result)},
      {"verdict", r.verdict},
      {"notes", r.notes},
      {"lower_bound_seconds", secs(r.lower_ms)},
      {"upper_bound_seconds", r.upper_ms ? nlohmann::ordered_json(secs(*r.upper_ms)) : nlohmann::ordered_json(nullptr)},
      {"min_seconds", secs(r.min_ms)},
      {"max_seconds", secs(r.max_ms)},
      {"precision_seconds", secs(r.precision_ms)},
      {"established", r.established},
      {"elapsed_seconds", secs(r.elapsed_ms)},
      {"local", ep(r.local)},
      {"mapped", ep(r.mapped)},
      {"checker_mapped", ep(r.checker_mapped)},
      {"no_nat", r.no_nat},
      {"software", r.software.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(r.software)},
      {"rtt_ms", r.rtt_ms ? nlohmann::ordered_json(*r.rtt_ms) : nlohmann::ordered_json(nullptr)},
      {"error", r.error.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(r.error)},
      {"error_code", err},
      {"trials", trials},
      {"cancelled_trials", r.cancelled_trials},
      {"failed_trials", r.failed_trials},
      {"rate_limited", r.rate_limited},
      {"requests", r.requests},
      {"ignored_datagrams", r.ignored_datagrams},
  };
}

std::string to_text(const LifetimeReport& r) {
  std::string out;
  auto line = [&](const char* label, const std::string& value) { append_field(out, label, value); };
  out += "UDP mapping lifetime (RFC 5780 4.6) via " + r.server.to_string() + "\n";
  line("server", r.server.to_string() + (r.software.empty() ? "" : " \"" + r.software + "\""));
  line("local", r.local ? r.local->to_string() : "-");
  line("mapped", r.mapped ? r.mapped->to_string() + (r.no_nat ? " (no NAT)" : "") : "-");
  switch (r.result) {
    case LifetimeResult::Measured:
      line("timeout", "~" + shown_seconds(r.timeout_ms.value_or(0)) + " s (a mapping survived " +
                          shown_seconds(r.lower_ms) + " s of silence, none " + shown_seconds(r.upper_ms.value_or(0)) +
                          " s)");
      break;
    case LifetimeResult::LongerThanMax:
      line("timeout", "longer than max (a mapping survived " + shown_seconds(r.lower_ms) + " s of silence)");
      break;
    default: line("result", std::string(to_string(r.result)) + ": " + r.error); break;
  }
  char buf[200];
  std::snprintf(buf, sizeof buf, "gaps %s..%s s to %s s%s, %zu trials (%u cancelled, %u failed) in %s s",
                shown_seconds(r.min_ms).c_str(), shown_seconds(r.max_ms).c_str(), shown_seconds(r.precision_ms).c_str(),
                r.established ? ", established flows" : "", r.trials.size(), r.cancelled_trials, r.failed_trials,
                shown_seconds(r.elapsed_ms / 100 * 100).c_str());
  line("searched", buf);
  out += "\nverdict: " + r.verdict + "\n";
  for (const std::string& n : r.notes) out += "  - " + n + "\n";
  if (!r.trials.empty()) {
    out += "\ntrials (as decided):\n";
    for (const LifetimeTrial& t : r.trials) {
      std::snprintf(buf, sizeof buf, "  gap %-10s %-9s at %6s s  mapped %s\n", (shown_seconds(t.gap_ms) + " s").c_str(),
                    t.survived ? "survived" : "expired", shown_seconds(t.at_ms / 100 * 100).c_str(),
                    t.mapped ? t.mapped->to_string().c_str() : "-");
      out += buf;
    }
  }
  return out;
}

}  // namespace diag
