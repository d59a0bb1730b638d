#include "server/check_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <random>
#include <span>
#include <string_view>

namespace turnpike {

namespace {

using nlohmann::json;

enum class Kind { Bool, Number, Integer, Text, Choice, Object, Texts, Tags };

// One key of an object in the schema: its kind, its range (numbers), length (text) or count (lists).
struct Field {
  std::string_view key;
  Kind kind;
  double lo = 0, hi = 0;
  bool required = false, nullable = false;
  std::span<const char* const> choices = {};
};

constexpr const char* kVerdicts[] = {"ready", "degraded", "blocked"};
constexpr const char* kTransports[] = {"udp", "tcp", "tls"};
constexpr const char* kMappings[] = {"no_nat", "endpoint_independent", "address_dependent",
                                     "address_and_port_dependent", "unknown"};
constexpr const char* kDevice[] = {"allowed", "denied", "absent", "unknown"};
constexpr double kMaxMs = 600000;  // ten minutes: longer than any check runs
constexpr double kMaxKbps = 10'000'000;
constexpr double kMaxCount = 1'000'000;

std::optional<std::string> check_value(const Field& f, const json& v, const std::string& where);

// `o` is an object whose keys are all in `fields`, each value of its kind and range.
std::optional<std::string> check_object(const json& o, std::initializer_list<Field> fields, const std::string& where) {
  const std::string name = where.empty() ? std::string("report") : where;
  if (!o.is_object()) return "'" + name + "' must be an object";
  if (o.size() > fields.size()) return "'" + name + "' has more keys than the schema allows";
  for (const auto& [k, v] : o.items()) {
    const Field* f = nullptr;
    for (const auto& c : fields)
      if (c.key == k) f = &c;
    if (!f) return "'" + name + "': unknown key '" + k.substr(0, 64) + "'";
    if (v.is_null() && f->nullable) continue;
    if (auto bad = check_value(*f, v, where.empty() ? k : where + "." + k)) return bad;
  }
  for (const auto& f : fields)
    if (f.required && !o.contains(f.key)) return "'" + name + "': '" + std::string(f.key) + "' is required";
  return std::nullopt;
}

bool text_ok(const json& v, double lo, double hi) {
  return v.is_string() && v.get_ref<const std::string&>().size() >= lo && v.get_ref<const std::string&>().size() <= hi;
}

bool choice_ok(const json& v, std::span<const char* const> choices) {
  return v.is_string() && std::any_of(choices.begin(), choices.end(), [&](const char* c) { return v == c; });
}

bool number_ok(const json& v, double lo, double hi, bool integer) {
  if (!v.is_number()) return false;
  double d = v.get<double>();
  if (integer && !v.is_number_integer()) return false;
  return std::isfinite(d) && d >= lo && d <= hi;
}

std::optional<std::string> check_value(const Field& f, const json& v, const std::string& where) {
  auto range = [&] { return " (" + std::to_string(static_cast<int64_t>(f.lo)) + " to " + std::to_string(static_cast<int64_t>(f.hi)) + ")"; };
  switch (f.kind) {
    case Kind::Bool: if (!v.is_boolean()) return "'" + where + "' must be true or false"; break;
    case Kind::Number: if (!number_ok(v, f.lo, f.hi, false)) return "'" + where + "' must be a number" + range(); break;
    case Kind::Integer: if (!number_ok(v, f.lo, f.hi, true)) return "'" + where + "' must be a whole number" + range(); break;
    case Kind::Text: if (!text_ok(v, f.lo, f.hi)) return "'" + where + "' must be a string of " + range().substr(2); break;
    case Kind::Choice: {
      if (choice_ok(v, f.choices)) break;
      std::string names;
      for (const char* c : f.choices) names += std::string(names.empty() ? "" : ", ") + c;
      return "'" + where + "' must be one of " + names;
    }
    case Kind::Texts:
      if (!v.is_array() || v.size() > f.hi) return "'" + where + "' must be a list of at most " + std::to_string(static_cast<int>(f.hi)) + " strings";
      for (const auto& s : v)
        if (!text_ok(s, 1, 300)) return "'" + where + "' must hold strings of 1 to 300 characters";
      break;
    case Kind::Object:
    case Kind::Tags: break;  // checked by their own steps
  }
  return std::nullopt;
}

std::optional<std::string> check_transport(const json& t, const std::string& where) {
  return check_object(t, {{"ok", Kind::Bool, 0, 0, true},
                          {"setup_ms", Kind::Number, 0, kMaxMs, false, true},
                          {"error", Kind::Text, 0, 300, false, true},
                          {"url", Kind::Text, 0, 300, false, true}},
                      where);
}

std::optional<std::string> check_sections(const json& r) {
  if (const auto& t = r.find("transports"); t != r.end()) {
    if (!t->is_object() || t->size() > kCheckTransports) return std::string("'transports' must be an object of udp, tcp and tls");
    for (const auto& [k, v] : t->items()) {
      if (!choice_ok(json(k), kTransports)) return "'transports': unknown transport '" + k.substr(0, 16) + "'";
      if (auto bad = check_transport(v, "transports." + k)) return bad;
    }
  }
  if (const auto& m = r.find("media"); m != r.end() && !m->is_null())
    if (auto bad = check_object(*m, {{"transport", Kind::Choice, 0, 0, true, false, kTransports},
                                     {"rtt_ms", Kind::Number, 0, kMaxMs, false, true},
                                     {"jitter_ms", Kind::Number, 0, kMaxMs, false, true},
                                     {"loss", Kind::Number, 0, 1, false, true},
                                     {"sent", Kind::Integer, 0, kMaxCount}, {"received", Kind::Integer, 0, kMaxCount},
                                     {"up_kbps", Kind::Number, 0, kMaxKbps, false, true},
                                     {"down_kbps", Kind::Number, 0, kMaxKbps, false, true},
                                     {"seconds", Kind::Number, 0, 600}},
                                "media"))
      return bad;
  if (const auto& n = r.find("nat"); n != r.end())
    if (auto bad = check_object(*n, {{"mapping", Kind::Choice, 0, 0, true, false, kMappings},
                                     {"udp_reachable", Kind::Bool, 0, 0, true},
                                     {"mapped", Kind::Texts, 0, 4}, {"servers", Kind::Integer, 0, 8}},
                                "nat"))
      return bad;
  if (const auto& g = r.find("region"); g != r.end())
    if (auto bad = check_object(*g, {{"served", Kind::Text, 0, 64}, {"expected", Kind::Text, 0, 64, false, true},
                                     {"ok", Kind::Bool, 0, 0, false, true}},
                                "region"))
      return bad;
  if (const auto& b = r.find("browser"); b != r.end())
    return check_object(*b, {{"user_agent", Kind::Text, 0, 512}, {"camera", Kind::Choice, 0, 0, false, false, kDevice},
                             {"microphone", Kind::Choice, 0, 0, false, false, kDevice},
                             {"cameras", Kind::Integer, 0, 64}, {"microphones", Kind::Integer, 0, 64},
                             {"mtu_hint", Kind::Integer, 0, 65535, false, true}, {"mtu_source", Kind::Text, 0, 200}},
                        "browser");
  return std::nullopt;
}

// The figures the metrics keep, from a report already checked.
CheckReport figures(const json& r) {
  CheckReport out;
  out.verdict = r["verdict"].get<std::string>();
  if (r.contains("transports"))
    for (size_t i = 0; i < kCheckTransports; ++i)
      if (auto t = r["transports"].find(kTransports[i]); t != r["transports"].end()) out.ok[i] = (*t)["ok"].get<bool>() ? 1 : 0;
  if (r.contains("media") && r["media"].is_object()) {
    const auto& m = r["media"];
    if (m.contains("rtt_ms") && m["rtt_ms"].is_number()) out.rtt_ms = m["rtt_ms"].get<double>();
    if (m.contains("loss") && m["loss"].is_number()) out.loss = m["loss"].get<double>();
  }
  out.mapping = r.contains("nat") ? r["nat"]["mapping"].get<std::string>() : "unknown";
  return out;
}

}  // namespace

const char* check_transport_name(size_t i) { return i < kCheckTransports ? kTransports[i] : "?"; }

// docs/check.md "The report": every key known, every value bounded.
std::optional<std::string> parse_check_report(const json& body, CheckReport& out) {
  if (!body.is_object()) return std::string("the body must be a JSON object (a check report)");
  if (auto bad = check_object(body, {{"version", Kind::Integer, 1, 1, true},
                                     {"verdict", Kind::Choice, 0, 0, true, false, kVerdicts},
                                     {"reasons", Kind::Texts, 0, 12}, {"tags", Kind::Tags},
                                     {"mapped", Kind::Text, 0, 64}, {"duration_ms", Kind::Number, 0, kMaxMs},
                                     {"transports", Kind::Object}, {"media", Kind::Object, 0, 0, false, true},
                                     {"nat", Kind::Object}, {"region", Kind::Object}, {"browser", Kind::Object}},
                              ""))
    return bad;
  if (auto bad = check_sections(body)) return bad;
  out = figures(body);
  return std::nullopt;
}

bool CheckReports::admit(double now_s) {
  std::lock_guard lock(mu_);
  const double burst = per_minute_;
  if (tokens_ < 0) tokens_ = burst;
  tokens_ = std::min(burst, tokens_ + (now_s - last_s_) * per_minute_ / 60.0);
  last_s_ = now_s;
  if (tokens_ < 1) {
    ++dropped_["rate_limited"];
    return false;
  }
  tokens_ -= 1;
  return true;
}

void CheckReports::refused(const char* reason) {
  std::lock_guard lock(mu_);
  ++dropped_[reason];
}

std::string CheckReports::add(const CheckReport& r, json body, const std::string& site, int64_t unix_s) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char id[17];
  std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(rng()));
  std::lock_guard lock(mu_);
  ++next_;
  while (entries_.size() >= capacity_ && !entries_.empty()) {
    entries_.pop_front();
    ++dropped_["evicted"];
  }
  if (capacity_ > 0) entries_.push_back({id, site, unix_s, std::move(body)});
  auto& s = sites_[site];
  ++s.verdicts[r.verdict];
  for (size_t i = 0; i < kCheckTransports; ++i)
    if (r.ok[i] >= 0) s.ok[i] = r.ok[i];
  s.rtt_ms = r.rtt_ms;
  s.loss = r.loss;
  return id;
}

json CheckReports::list(size_t limit, const std::string& site) const {
  std::lock_guard lock(mu_);
  json out = json::array();
  for (auto it = entries_.rbegin(); it != entries_.rend() && out.size() < limit; ++it)
    if (site.empty() || it->site == site)
      out.push_back({{"id", it->id}, {"site", it->site}, {"received", it->unix_s}, {"verdict", it->body["verdict"]},
                     {"reasons", it->body.value("reasons", json::array())}});
  return out;
}

std::optional<json> CheckReports::find(const std::string& id) const {
  std::lock_guard lock(mu_);
  for (const auto& e : entries_)
    if (e.id == id) return json{{"id", e.id}, {"site", e.site}, {"received", e.unix_s}, {"report", e.body}};
  return std::nullopt;
}

std::string CheckReports::metrics_text() const {
  std::lock_guard lock(mu_);
  std::string t;
  auto line = [&t](const std::string& name, const std::string& labels, double v) {
    char num[32];
    std::snprintf(num, sizeof num, "%.17g", v);
    t += name + (labels.empty() ? "" : "{" + labels + "}") + " " + num + "\n";
  };
  t += "# HELP turnpike_check_reports_total Pre-call check reports (/check/) accepted, by site and overall verdict.\n"
       "# TYPE turnpike_check_reports_total counter\n";
  for (const auto& [site, s] : sites_)
    for (const auto& [verdict, n] : s.verdicts) line("turnpike_check_reports_total", "site=\"" + site + "\",verdict=\"" + verdict + "\"", static_cast<double>(n));
  t += "# HELP turnpike_check_transport_ok Whether the site's latest check reached TURN over the transport (1) or not (0).\n"
       "# TYPE turnpike_check_transport_ok gauge\n";
  for (const auto& [site, s] : sites_)
    for (size_t i = 0; i < kCheckTransports; ++i)
      if (s.ok[i] >= 0) line("turnpike_check_transport_ok", "site=\"" + site + "\",transport=\"" + kTransports[i] + "\"", s.ok[i]);
  t += "# HELP turnpike_check_rtt_seconds Round-trip time over the relay in the site's latest check.\n"
       "# TYPE turnpike_check_rtt_seconds gauge\n";
  for (const auto& [site, s] : sites_)
    if (s.rtt_ms) line("turnpike_check_rtt_seconds", "site=\"" + site + "\"", *s.rtt_ms / 1000.0);
  t += "# HELP turnpike_check_loss_ratio Share of the relayed probe messages lost in the site's latest check.\n"
       "# TYPE turnpike_check_loss_ratio gauge\n";
  for (const auto& [site, s] : sites_)
    if (s.loss) line("turnpike_check_loss_ratio", "site=\"" + site + "\"", *s.loss);
  t += "# HELP turnpike_check_reports_dropped_total Check reports refused or evicted, by reason.\n"
       "# TYPE turnpike_check_reports_dropped_total counter\n";
  for (const char* reason : {"invalid", "too_large", "rate_limited", "evicted"}) {
    auto it = dropped_.find(reason);
    line("turnpike_check_reports_dropped_total", std::string("reason=\"") + reason + "\"", it == dropped_.end() ? 0.0 : static_cast<double>(it->second));
  }
  t += "# HELP turnpike_check_reports_stored Check reports held for GET /api/v1/check-reports (check.max_reports).\n"
       "# TYPE turnpike_check_reports_stored gauge\n";
  line("turnpike_check_reports_stored", "", static_cast<double>(entries_.size()));
  return t;
}

}  // namespace turnpike
