#include "diag/probe_report.hpp"

#include <cctype>
#include <cstdio>

namespace diag {

namespace {
std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// Prometheus text format: label values escaped (backslash, quote, newline).
std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    out += c;
  }
  return out;
}

struct Family {
  std::string& out;
  Family(std::string& o, const char* name, const char* type, const char* help) : out(o) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(const char* name, const std::vector<std::pair<const char*, std::string>>& labels, double v) {
    out += name;
    out += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i) out += ',';
      out += std::string(labels[i].first) + "=\"" + escape(labels[i].second) + "\"";
    }
    out += "} " + num(v) + "\n";
  }
};

double seconds(double ms) { return ms / 1000.0; }

// A gauge family with one sample per transport whose last round has the value.
void path_gauge(std::string& out, const ProbeState& s, const char* name, const char* help,
                std::optional<double> (*pick)(const PathResult&)) {
  Family f(out, name, "gauge", help);
  for (const auto& [t, st] : s.transports)
    if (st.last)
      if (auto v = pick(*st.last)) f.sample(name, {{"site", s.site}, {"transport", turn::to_string(t)}}, *v);
}
}  // namespace

std::string nat_class_label(const std::string& rfc3489) {
  std::string out;
  for (char c : rfc3489) out += c == ' ' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out.empty() ? "unknown" : out;
}

ProbeNat probe_nat_of(const NatReport& r) {
  return ProbeNat{to_string(r.mapping), to_string(r.filtering), nat_class_label(r.rfc3489)};
}

SlowSchedule::Due SlowSchedule::take(int64_t now_ms) {
  if (nat_every_ms && now_ms >= next_nat_ms) {
    next_nat_ms = now_ms + nat_every_ms;
    return Due::Nat;
  }
  if (lifetime_every_ms && now_ms >= next_lifetime_ms) {
    next_lifetime_ms = now_ms + lifetime_every_ms;
    return Due::Lifetime;
  }
  return Due::None;
}

const char* result_label(const PathResult& r) { return r.ok ? "ok" : to_string(r.failure); }

void ProbeState::record(const PathResult& r) {
  ProbeTransportState& t = transports[r.transport];
  t.last = r;
  ++t.rounds[result_label(r)];
}

std::string to_prometheus(const ProbeState& s) {
  std::string out;
  path_gauge(out, s, "turnpike_probe_up", "1 if the last round over this transport got a relayed round trip, else 0",
             [](const PathResult& r) -> std::optional<double> { return r.ok ? 1.0 : 0.0; });
  path_gauge(out, s, "turnpike_probe_setup_seconds", "Last round: Allocate sent to allocation success (401 round trip included)",
             [](const PathResult& r) { return r.setup_ms ? std::optional<double>(seconds(*r.setup_ms)) : std::nullopt; });
  path_gauge(out, s, "turnpike_probe_rtt_seconds", "Last round: median relayed round trip (probe -> relay -> relay -> probe)",
             [](const PathResult& r) { return r.ok && r.rtt_ms ? std::optional<double>(seconds(*r.rtt_ms)) : std::nullopt; });
  path_gauge(out, s, "turnpike_probe_jitter_seconds", "Last round: mean absolute difference of consecutive round trips",
             [](const PathResult& r) { return r.ok && r.jitter_ms ? std::optional<double>(seconds(*r.jitter_ms)) : std::nullopt; });
  path_gauge(out, s, "turnpike_probe_loss_ratio", "Last round: echo packets that did not come back, 0..1",
             [](const PathResult& r) { return r.ok ? std::optional<double>(r.loss) : std::nullopt; });
  {
    Family f(out, "turnpike_probe_failure_info", "gauge", "1 for a transport whose last round failed, with why and at which step");
    for (const auto& [t, st] : s.transports)
      if (st.last && !st.last->ok)
        f.sample("turnpike_probe_failure_info", {{"site", s.site}, {"transport", turn::to_string(t)},
                 {"reason", to_string(st.last->failure)}, {"stage", st.last->stage},
                 {"code", std::to_string(st.last->error_code)}}, 1);
  }
  {
    Family f(out, "turnpike_probe_rounds_total", "counter", "Probe rounds by transport and result (ok, or the failure's reason)");
    for (const auto& [t, st] : s.transports)
      for (const auto& [result, n] : st.rounds)
        f.sample("turnpike_probe_rounds_total", {{"site", s.site}, {"transport", turn::to_string(t)}, {"result", result}}, double(n));
  }
  {
    Family f(out, "turnpike_probe_nat_info", "gauge", "1, labelled with the NAT behaviour the last NAT probe found (RFC 5780)");
    if (s.nat)
      f.sample("turnpike_probe_nat_info", {{"site", s.site}, {"mapping", s.nat->mapping}, {"filtering", s.nat->filtering},
               {"class", s.nat->nat_class}}, 1);
  }
  {
    Family f(out, "turnpike_probe_binding_lifetime_seconds", "gauge",
             "The NAT's UDP binding lifetime the last lifetime probe measured (RFC 5780 4.6)");
    if (s.binding_lifetime_s) f.sample("turnpike_probe_binding_lifetime_seconds", {{"site", s.site}}, *s.binding_lifetime_s);
  }
  return out;
}

nlohmann::ordered_json to_json(const PathResult& r) {
  nlohmann::ordered_json j = {{"transport", turn::to_string(r.transport)}, {"ok", r.ok}};
  auto opt_s = [](const std::optional<double>& ms) { return ms ? nlohmann::ordered_json(*ms / 1000.0) : nlohmann::ordered_json(); };
  j["setup_seconds"] = opt_s(r.setup_ms);
  if (r.ok) {
    j["rtt_seconds"] = opt_s(r.rtt_ms);
    j["jitter_seconds"] = opt_s(r.jitter_ms);
    j["loss_ratio"] = r.loss;
  } else {
    j["reason"] = to_string(r.failure);
    j["stage"] = r.stage;
    j["error_code"] = r.error_code;
    j["detail"] = r.detail;
  }
  j["sent"] = r.sent;
  j["received"] = r.received;
  return j;
}

nlohmann::ordered_json round_json(const ProbeRoundInfo& info, const std::vector<PathResult>& paths, const ProbeState& state) {
  nlohmann::ordered_json tags = nlohmann::ordered_json::object();
  for (const auto& [k, v] : info.tags) tags[k] = v;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& p : paths) list.push_back(to_json(p));
  nlohmann::ordered_json j = {{"tool", info.tool}, {"time", info.time}, {"round", info.round}, {"tags", tags},
                              {"transports", list}};
  if (state.nat)
    j["nat"] = {{"mapping", state.nat->mapping}, {"filtering", state.nat->filtering}, {"class", state.nat->nat_class}};
  if (state.binding_lifetime_s) j["binding_lifetime_seconds"] = *state.binding_lifetime_s;
  else if (state.binding_lifetime_longer) j["binding_lifetime_seconds"] = nullptr;
  return j;
}

std::string to_text(const PathResult& r) {
  char buf[160];
  if (r.ok) {
    std::snprintf(buf, sizeof buf, "%-4s ok    setup %.1f ms  rtt %.2f ms  jitter %.2f ms  loss %.0f %% (%u/%u)",
                  turn::to_string(r.transport), r.setup_ms.value_or(0), r.rtt_ms.value_or(0),
                  r.jitter_ms.value_or(0), r.loss * 100, r.received, r.sent);
    return buf;
  }
  std::string why = to_string(r.failure);
  if (r.error_code) why += " " + std::to_string(r.error_code);
  if (!r.detail.empty() && r.detail != why) why += ": " + r.detail;
  std::snprintf(buf, sizeof buf, "%-4s FAIL  ", turn::to_string(r.transport));
  return buf + why + " (" + r.stage + ")";
}

}  // namespace diag
