#include "server/probe_reports.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <set>
#include <string_view>

namespace turnpike {

namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 3> kTransports = {"udp", "tcp", "tls"};
constexpr std::array<std::string_view, 7> kReasons = {"timeout", "refused", "tls_handshake", "error",
                                                      "closed",  "no_echo", "network"};
constexpr std::array<std::string_view, 5> kBehaviors = {"no_nat", "endpoint_independent", "address_dependent",
                                                        "address_and_port_dependent", "unknown"};
// diag::nat_class_label of the RFC 3489 names turnpike-diag gives.
constexpr std::array<std::string_view, 8> kNatClasses = {"open_internet", "full_cone", "restricted_cone",
                                                         "port_restricted_cone", "symmetric", "symmetric_udp_firewall",
                                                         "udp_blocked", "unknown"};
constexpr std::array<std::string_view, 7> kTopFields = {"tool", "time", "round", "tags", "transports", "nat",
                                                        "binding_lifetime_seconds"};
constexpr std::array<std::string_view, 12> kPathFields = {"transport", "ok", "setup_seconds", "rtt_seconds",
                                                          "jitter_seconds", "loss_ratio", "reason", "stage",
                                                          "error_code", "detail", "sent", "received"};

template <size_t N>
bool one_of(const json& v, const std::array<std::string_view, N>& set) {
  return v.is_string() && std::find(set.begin(), set.end(), v.get<std::string>()) != set.end();
}

template <size_t N>
std::optional<std::string> unknown_field(const json& o, const std::array<std::string_view, N>& known, const char* where) {
  for (const auto& [k, v] : o.items())
    if (std::find(known.begin(), known.end(), k) == known.end()) return std::string("unknown field '") + k + "'" + where;
  return std::nullopt;
}

// A number in [lo, hi], or null when `nullable`; `out` set for a number.
std::optional<std::string> number(const json& o, const char* key, double lo, double hi, bool nullable,
                                  std::optional<double>& out) {
  if (!o.contains(key)) return std::nullopt;
  const json& v = o[key];
  if (v.is_null() && nullable) return std::nullopt;
  if (!v.is_number() || !(v.get<double>() >= lo && v.get<double>() <= hi))
    return std::string("'") + key + "' must be a number in " + std::to_string(lo).substr(0, 5) + ".." +
           std::to_string(hi).substr(0, 5) + (nullable ? ", or null" : "");
  out = v.get<double>();
  return std::nullopt;
}

bool stage_ok(const json& v) {
  if (!v.is_string() || v.get<std::string>().size() > 32) return false;
  const std::string s = v.get<std::string>();
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
}

std::optional<std::string> parse_failure(const json& p, ProbePathReport& out) {
  if (!p.contains("reason") || !one_of(p["reason"], kReasons))
    return "'reason' of a failed transport must be timeout, refused, tls_handshake, error, closed, no_echo or network";
  out.reason = p["reason"].get<std::string>();
  if (p.contains("stage")) {
    if (!stage_ok(p["stage"])) return "'stage' must be at most 32 characters of a-z and _";
    out.stage = p["stage"].get<std::string>();
  }
  if (p.contains("error_code")) {
    if (!p["error_code"].is_number_integer() || p["error_code"].get<int64_t>() < 0 || p["error_code"].get<int64_t>() > 699)
      return "'error_code' must be an integer in 0..699";
    out.error_code = static_cast<int>(p["error_code"].get<int64_t>());
  }
  if (p.contains("detail")) {
    if (!p["detail"].is_string()) return "'detail' must be a string";
    out.detail = p["detail"].get<std::string>().substr(0, 256);
  }
  return std::nullopt;
}

std::optional<std::string> parse_path(const json& p, ProbePathReport& out) {
  if (!p.is_object()) return "each of 'transports' must be an object";
  if (auto bad = unknown_field(p, kPathFields, " in a transport")) return bad;
  if (!p.contains("transport") || !one_of(p["transport"], kTransports)) return "'transport' must be udp, tcp or tls";
  out.transport = p["transport"].get<std::string>();
  if (!p.contains("ok") || !p["ok"].is_boolean()) return "'ok' must be true or false";
  out.ok = p["ok"].get<bool>();
  std::optional<double> loss;
  if (auto bad = number(p, "setup_seconds", 0, 600, true, out.setup_s)) return bad;
  if (auto bad = number(p, "rtt_seconds", 0, 60, true, out.rtt_s)) return bad;
  if (auto bad = number(p, "jitter_seconds", 0, 60, true, out.jitter_s)) return bad;
  if (auto bad = number(p, "loss_ratio", 0, 1, false, loss)) return bad;
  out.loss = loss.value_or(0);
  for (const char* k : {"sent", "received"})
    if (p.contains(k) && (!p[k].is_number_unsigned() || p[k].get<uint64_t>() > 100000))
      return std::string("'") + k + "' must be an integer in 0..100000";
  if (!out.ok) return parse_failure(p, out);
  return std::nullopt;
}

std::optional<std::string> parse_nat(const json& n, ProbeReport& out) {
  if (!n.is_object()) return "'nat' must be an object";
  static constexpr std::array<std::string_view, 3> kNatFields = {"mapping", "filtering", "class"};
  if (auto bad = unknown_field(n, kNatFields, " in 'nat'")) return bad;
  if (!n.contains("mapping") || !one_of(n["mapping"], kBehaviors) || !n.contains("filtering") ||
      !one_of(n["filtering"], kBehaviors))
    return "'nat.mapping' and 'nat.filtering' must be no_nat, endpoint_independent, address_dependent, "
           "address_and_port_dependent or unknown";
  if (!n.contains("class") || !one_of(n["class"], kNatClasses))
    return "'nat.class' must be open_internet, full_cone, restricted_cone, port_restricted_cone, symmetric, "
           "symmetric_udp_firewall, udp_blocked or unknown";
  out.mapping = n["mapping"].get<std::string>();
  out.filtering = n["filtering"].get<std::string>();
  out.nat_class = n["class"].get<std::string>();
  return std::nullopt;
}

std::optional<std::string> parse_top(const json& body, ProbeReport& out) {
  if (auto bad = unknown_field(body, kTopFields, "")) return bad;
  if (body.contains("tool") && (!body["tool"].is_string() || body["tool"].get<std::string>().size() > 128))
    return "'tool' must be a string of at most 128 characters";
  if (body.contains("time") && (!body["time"].is_string() || body["time"].get<std::string>().size() > 64))
    return "'time' must be a string of at most 64 characters";
  if (body.contains("round")) {
    if (!body["round"].is_number_unsigned()) return "'round' must be a non-negative integer";
    out.round = body["round"].get<uint64_t>();
  }
  if (body.contains("binding_lifetime_seconds")) {
    out.has_lifetime = true;
    if (auto bad = number(body, "binding_lifetime_seconds", 0.001, 86400, true, out.binding_lifetime_s)) return bad;
  }
  if (body.contains("nat")) return parse_nat(body["nat"], out);
  return std::nullopt;
}

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    out += c == '\n' ? 'n' : c;
  }
  return out;
}

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string& out, const char* name, const std::string& labels, double v) {
  out += std::string(name) + "{" + labels + "} " + num(v) + "\n";
}

}  // namespace

std::optional<std::string> parse_probe_report(const json& body, ProbeReport& out) {
  if (!body.is_object()) return "the body must be a JSON object (turnpike-diag probe --json)";
  if (auto bad = parse_top(body, out)) return bad;
  if (!body.contains("transports") || !body["transports"].is_array() || body["transports"].empty() ||
      body["transports"].size() > kTransports.size())
    return "'transports' must be an array of 1 to 3 results";
  std::set<std::string> seen;
  for (const json& p : body["transports"]) {
    ProbePathReport r;
    if (auto bad = parse_path(p, r)) return bad;
    if (!seen.insert(r.transport).second) return "transport '" + r.transport + "' reported twice";
    out.paths.push_back(std::move(r));
  }
  return std::nullopt;
}

void ProbeReports::record(const std::string& site, ProbeReport r, int64_t unix_s) {
  std::lock_guard lock(mu_);
  auto it = sites_.find(site);
  if (it == sites_.end() && sites_.size() >= max_sites_) {
    auto oldest = std::min_element(sites_.begin(), sites_.end(), [](const auto& a, const auto& b) {
      return a.second.received_unix_s < b.second.received_unix_s;
    });
    sites_.erase(oldest);
    ++evicted_;
  }
  Entry& e = sites_[site];
  if (r.nat_class) e.nat_class = r.nat_class, e.mapping = r.mapping, e.filtering = r.filtering;
  if (r.has_lifetime) e.has_lifetime = true, e.binding_lifetime_s = r.binding_lifetime_s;
  e.report = std::move(r);
  e.received_unix_s = unix_s;
}

size_t ProbeReports::size() const {
  std::lock_guard lock(mu_);
  return sites_.size();
}

json ProbeReports::to_json(int64_t unix_s) const {
  std::lock_guard lock(mu_);
  json list = json::array();
  for (const auto& [site, e] : sites_) {
    json paths = json::array();
    for (const auto& p : e.report.paths) {
      json j = {{"transport", p.transport}, {"ok", p.ok}, {"setup_seconds", p.setup_s ? json(*p.setup_s) : json()}};
      if (p.ok) {
        j["rtt_seconds"] = p.rtt_s ? json(*p.rtt_s) : json();
        j["jitter_seconds"] = p.jitter_s ? json(*p.jitter_s) : json();
        j["loss_ratio"] = p.loss;
      } else {
        j.update({{"reason", p.reason}, {"stage", p.stage}, {"error_code", p.error_code}, {"detail", p.detail}});
      }
      paths.push_back(std::move(j));
    }
    json s = {{"site", site}, {"received_unix", e.received_unix_s}, {"age_seconds", std::max<int64_t>(0, unix_s - e.received_unix_s)},
              {"round", e.report.round}, {"transports", std::move(paths)}};
    if (e.nat_class) s["nat"] = {{"mapping", *e.mapping}, {"filtering", *e.filtering}, {"class", *e.nat_class}};
    if (e.has_lifetime) s["binding_lifetime_seconds"] = e.binding_lifetime_s ? json(*e.binding_lifetime_s) : json();
    list.push_back(std::move(s));
  }
  return json{{"count", list.size()}, {"sites", std::move(list)}};
}

std::string ProbeReports::metrics_text() const {
  std::lock_guard lock(mu_);
  std::string up, setup, rtt, jitter, loss, nat, lifetime, last;
  for (const auto& [site, e] : sites_) {
    const std::string s = "site=\"" + escape(site) + "\"";
    for (const auto& p : e.report.paths) {
      const std::string l = s + ",transport=\"" + p.transport + "\"";
      sample(up, "turnpike_site_probe_up", l, p.ok ? 1 : 0);
      if (p.setup_s) sample(setup, "turnpike_site_probe_setup_seconds", l, *p.setup_s);
      if (p.ok && p.rtt_s) sample(rtt, "turnpike_site_probe_rtt_seconds", l, *p.rtt_s);
      if (p.ok && p.jitter_s) sample(jitter, "turnpike_site_probe_jitter_seconds", l, *p.jitter_s);
      if (p.ok) sample(loss, "turnpike_site_probe_loss_ratio", l, p.loss);
    }
    if (e.nat_class) sample(nat, "turnpike_site_nat_class_info", s + ",class=\"" + *e.nat_class + "\"", 1);
    if (e.binding_lifetime_s) sample(lifetime, "turnpike_site_probe_binding_lifetime_seconds", s, *e.binding_lifetime_s);
    sample(last, "turnpike_site_probe_last_report_timestamp_seconds", s, static_cast<double>(e.received_unix_s));
  }
  std::string out;
  auto add = [&out](const char* name, const char* type, const char* help, const std::string& samples) {
    family(out, name, type, help);
    out += samples;
  };
  add("turnpike_site_probe_up", "gauge", "Site probes (turnpike-diag probe --report): 1 if the site's last round got a relayed round trip over the transport", up);
  add("turnpike_site_probe_setup_seconds", "gauge", "Site probes: allocation setup time in the site's last round", setup);
  add("turnpike_site_probe_rtt_seconds", "gauge", "Site probes: median relayed round trip in the site's last round", rtt);
  add("turnpike_site_probe_jitter_seconds", "gauge", "Site probes: mean absolute difference of consecutive round trips", jitter);
  add("turnpike_site_probe_loss_ratio", "gauge", "Site probes: echo packets lost in the site's last round, 0..1", loss);
  add("turnpike_site_nat_class_info", "gauge", "Site probes: 1, labelled with the NAT class the site's last NAT probe found", nat);
  add("turnpike_site_probe_binding_lifetime_seconds", "gauge", "Site probes: the UDP binding lifetime the site last measured", lifetime);
  add("turnpike_site_probe_last_report_timestamp_seconds", "gauge", "Site probes: when the site's last report arrived (Unix time)", last);
  family(out, "turnpike_probe_report_sites_evicted_total", "counter",
         "Sites dropped from the probe report table when it was full (limits.max_sites), least recently reported first");
  out += "turnpike_probe_report_sites_evicted_total " + num(static_cast<double>(evicted_)) + "\n";
  return out;
}

}  // namespace turnpike
