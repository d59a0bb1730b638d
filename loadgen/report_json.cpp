// report.json: to_json (the measured records plus everything derived from them) and from_json
// (merge's input), which checks every field it reads and never throws.
#include <algorithm>
#include <cmath>
#include <limits>

#include "loadgen/report.hpp"

namespace loadgen {

using nlohmann::json;

namespace {

constexpr size_t kMaxEvents = 1000;  // failures.events: the first failures by time

// Strings from the wire (a server's reason phrase) may not be UTF-8; json::dump would throw.
std::string utf8(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size();
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 0x2;
    if (ok) out.append(s, i, n);
    else out += '?';
    i += ok ? n : 1;
  }
  return out;
}

json strings(const std::vector<std::string>& v) {
  json a = json::array();
  for (const auto& s : v) a.push_back(utf8(s));
  return a;
}

json pct(const Percentiles& p) { return {{"p50", p.p50}, {"p95", p.p95}, {"p99", p.p99}, {"max", p.max}}; }

json step_json(const StepPlan& p, const StepSummary& s) {
  return {{"index", p.index}, {"target_calls", p.target_calls}, {"start_s", p.start_s}, {"end_s", p.end_s},
          {"calls", s.calls}, {"directions", s.directions}, {"rtt_directions", s.rtt_directions},
          {"setups_attempted", s.setups_attempted}, {"setup_failures", s.setup_failures},
          {"setups_ok", s.setups_ok}, {"setup_failure_pct", s.setup_failure_pct}, {"setup_ms", pct(s.setup_ms)},
          {"loss_pct", pct(s.loss_pct)}, {"jitter_ms", pct(s.jitter_ms)}, {"rtt_ms", pct(s.rtt_ms)},
          {"sent", s.sent}, {"received", s.received}, {"lost", s.lost}, {"reordered", s.reordered},
          {"duplicates", s.duplicates}, {"bytes", s.bytes}, {"throughput_mbps", s.throughput_mbps},
          {"breakpoint", s.breakpoint}, {"reasons", strings(s.reasons)}};
}

json rtcp_block_json(const RtcpBlockRecord& b) {
  return {{"fraction_lost", b.fraction_lost}, {"cumulative_lost", b.cumulative_lost}, {"highest_seq", b.highest_seq},
          {"jitter", b.jitter}, {"sent_s", b.sent_s}};
}

json rtcp_json(const RtcpStreamRecord& r) {
  json recent = json::array();
  for (const auto& b : r.recent) recent.push_back(rtcp_block_json(b));
  return {{"direction", r.direction}, {"ssrc", r.ssrc}, {"clock_rate", r.clock_rate}, {"reports", r.reports},
          {"recent", recent}};
}

json call_json(const CallRecord& c) {
  json rtcp = json::array();
  for (const auto& r : c.rtcp) rtcp.push_back(rtcp_json(r));
  return {{"call", c.call}, {"step", c.step}, {"kind", utf8(c.kind)}, {"started_s", c.started_s},
          {"setup_ms", c.setup_ms}, {"failed", c.failed}, {"failure_stage", utf8(c.failure_stage)},
          {"failure_code", c.failure_code}, {"failure_reason", utf8(c.failure_reason)}, {"failed_s", c.failed_s},
          {"relayed", json::array({utf8(c.relayed[0]), utf8(c.relayed[1])})}, {"rtcp", rtcp}};
}

json stream_json(const StreamStepRecord& s) {
  return {{"call", s.call}, {"direction", s.direction}, {"step", s.step}, {"sent", s.sent},
          {"expected", s.expected}, {"received", s.received}, {"lost", s.lost}, {"reordered", s.reordered},
          {"duplicates", s.duplicates}, {"bytes", s.bytes}, {"jitter_ms", s.jitter_ms}, {"rtt_ms", s.rtt_ms}};
}

json sample_json(const Sample& s) {
  return {{"t_s", s.t_s}, {"step", s.step}, {"offered_calls", s.offered_calls}, {"calls_up", s.calls_up},
          {"tx_packets", s.tx_packets}, {"rx_packets", s.rx_packets}, {"tx_bytes", s.tx_bytes},
          {"rx_bytes", s.rx_bytes}, {"expected", s.expected}, {"lost", s.lost}, {"setups", s.setups},
          {"failures", s.failures}, {"jitter_p95_ms", s.jitter_p95_ms}, {"rtt_p50_ms", s.rtt_p50_ms},
          {"rtt_p95_ms", s.rtt_p95_ms}, {"setup_p95_ms", s.setup_p95_ms}, {"cpu_pct", s.cpu_pct},
          {"send_lag_p99_ms", s.send_lag_p99_ms}};
}


json failures_json(const Report& r) {
  std::vector<const CallRecord*> failed;
  for (const auto& c : r.calls)
    if (c.failed) failed.push_back(&c);
  std::stable_sort(failed.begin(), failed.end(), [](auto* a, auto* b) { return a->failed_s < b->failed_s; });
  json events = json::array();
  for (size_t i = 0; i < failed.size() && i < kMaxEvents; ++i) {
    const CallRecord& c = *failed[i];
    events.push_back({{"t_s", c.failed_s}, {"call", c.call}, {"stage", utf8(c.failure_stage)},
                      {"code", c.failure_code}, {"reason", utf8(c.failure_reason)}});
  }
  return {{"by_code", failures_by_code(r)}, {"events", events}};
}

template <class T, class F>
json array_of(const std::vector<T>& v, F f) {
  json a = json::array();
  for (const auto& e : v) a.push_back(f(e));
  return a;
}

}  // namespace

json totals_json(const Report& r) {
  uint64_t setups_ok = 0, failures = 0, sent = 0, received = 0, lost = 0, reordered = 0, dups = 0, bytes = 0, expected = 0;
  for (const auto& c : r.calls) {
    setups_ok += c.setup_ms >= 0;
    failures += c.failed;
  }
  for (const auto& s : r.streams) {
    sent += s.sent;
    received += s.received;
    lost += s.lost;
    reordered += s.reordered;
    dups += s.duplicates;
    bytes += s.bytes;
    expected += s.expected;
  }
  const double loss = expected ? 100.0 * static_cast<double>(lost) / static_cast<double>(expected) : 0.0;
  return {{"calls", r.calls.size()}, {"setups_ok", setups_ok}, {"failures", failures}, {"sent", sent},
          {"received", received}, {"lost", lost}, {"reordered", reordered}, {"duplicates", dups},
          {"bytes", bytes}, {"loss_pct", loss}};
}

json to_json(const Report& r) {
  const auto sums = summarize(r);
  json j;
  // meta's strings come from argv and the user: made valid UTF-8 so that j.dump() cannot throw.
  j["meta"] = json::parse(r.meta.dump(-1, ' ', false, json::error_handler_t::replace));
  j["thresholds"] = {{"p95_loss_pct", r.thresholds.p95_loss_pct}, {"p95_jitter_ms", r.thresholds.p95_jitter_ms},
                     {"setup_failure_pct", r.thresholds.setup_failure_pct}};
  j["steps"] = json::array();
  for (size_t i = 0; i < r.steps.size(); ++i) j["steps"].push_back(step_json(r.steps[i], sums[i]));
  j["breakpoint"] = nullptr;
  for (size_t i = 0; i < sums.size(); ++i)
    if (sums[i].breakpoint) {
      j["breakpoint"] = {{"step", sums[i].index}, {"target_calls", sums[i].target_calls}, {"reasons", strings(sums[i].reasons)}};
      break;
    }
  j["totals"] = totals_json(r);
  j["failures"] = failures_json(r);
  j["self_check"] = {{"cpu_p95_pct", r.self_check.cpu_p95_pct}, {"send_lag_p99_ms", r.self_check.send_lag_p99_ms},
                     {"trustworthy", r.self_check.trustworthy}, {"reasons", strings(r.self_check.reasons)}};
  j["errors"] = strings(r.errors);
  j["calls"] = array_of(r.calls, call_json);
  j["streams"] = array_of(r.streams, stream_json);
  j["timeseries"] = array_of(r.timeseries, sample_json);
  const std::string result = result_word(r, sums);
  j["result"] = result;
  j["exit_status"] = result == "ok" ? 0 : 1;
  return j;
}

// ---- from_json ----

namespace {

// A non-negative integer (nlohmann keeps integers built in C++ from int as signed).
bool whole(const json& v) {
  return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
}

// Reads the fields of one object, remembering the first problem with its path ("calls[3].step").
class Fields {
 public:
  Fields(const json& o, std::string path, std::string& error) : o_(o), path_(std::move(path)), error_(error) {
    if (!o_.is_object()) fail("", "is not an object");
  }
  bool ok() const { return ok_; }

  template <class U>
  void count(const char* key, U& out) {
    const json* v = get(key);
    if (!v) return;
    if (!whole(*v) || v->get<uint64_t>() > std::numeric_limits<U>::max())
      return fail(key, "is not an integer from 0 to " + std::to_string(std::numeric_limits<U>::max()));
    out = static_cast<U>(v->get<uint64_t>());
  }
  void integer(const char* key, int& out) {
    const json* v = get(key);
    if (!v) return;
    if (!v->is_number_integer() || v->get<int64_t>() < 0 || v->get<int64_t>() > 999)
      return fail(key, "is not an error code from 0 to 999");
    out = static_cast<int>(v->get<int64_t>());
  }
  void number(const char* key, double& out) {
    const json* v = get(key);
    if (!v) return;
    if (!v->is_number() || !std::isfinite(v->get<double>())) return fail(key, "is not a finite number");
    out = v->get<double>();
  }
  void boolean(const char* key, bool& out) {
    const json* v = get(key);
    if (!v) return;
    if (!v->is_boolean()) return fail(key, "is not true or false");
    out = v->get<bool>();
  }
  void string(const char* key, std::string& out) {
    const json* v = get(key);
    if (!v) return;
    if (!v->is_string()) return fail(key, "is not a string");
    out = v->get<std::string>();
  }
  void strings(const char* key, std::vector<std::string>& out) {
    const json* v = get(key);
    if (!v) return;
    if (!v->is_array()) return fail(key, "is not an array of strings");
    for (const auto& e : *v) {
      if (!e.is_string()) return fail(key, "is not an array of strings");
      out.push_back(e.get<std::string>());
    }
  }
  // An optional array of exactly two strings (a field newer than the reports it may be read from).
  void string_pair(const char* key, std::string (&out)[2]) {
    if (!ok_ || !o_.contains(key)) return;
    const json& v = o_.at(key);
    if (!v.is_array() || v.size() != 2 || !v[0].is_string() || !v[1].is_string())
      return fail(key, "is not an array of two strings");
    out[0] = v[0].get<std::string>();
    out[1] = v[1].get<std::string>();
  }
  // A 24-bit signed count (RTCP's cumulative lost).
  void signed24(const char* key, int32_t& out) {
    const json* v = get(key);
    if (!v) return;
    if (!v->is_number_integer() || v->get<int64_t>() < -0x800000 || v->get<int64_t>() > 0x7FFFFF)
      return fail(key, "is not an integer from -8388608 to 8388607");
    out = static_cast<int32_t>(v->get<int64_t>());
  }
  // An optional field: nullptr when absent (or null), without failing.
  const json* optional(const char* key) {
    if (!ok_) return nullptr;
    auto it = o_.find(key);
    return it == o_.end() || it->is_null() ? nullptr : &*it;
  }
  const json* array(const char* key) {
    const json* v = get(key);
    if (v && !v->is_array()) fail(key, "is not an array");
    return ok_ ? v : nullptr;
  }
  void fail(const std::string& key, const std::string& what) {
    if (!ok_) return;
    ok_ = false;
    std::string where = path_;
    if (!key.empty()) where += (where.empty() ? "" : ".") + key;
    error_ = (where.empty() ? "the report" : where) + " " + what;
  }

 private:
  const json* get(const char* key) {
    if (!ok_) return nullptr;
    auto it = o_.find(key);
    if (it == o_.end()) {
      fail(key, "is missing");
      return nullptr;
    }
    return &*it;
  }
  const json& o_;
  std::string path_;
  std::string& error_;
  bool ok_ = true;
};

bool read_rtcp_block(const json& j, const std::string& path, RtcpBlockRecord& b, std::string& error) {
  Fields f(j, path, error);
  f.count("fraction_lost", b.fraction_lost);
  f.signed24("cumulative_lost", b.cumulative_lost);
  f.count("highest_seq", b.highest_seq);
  f.count("jitter", b.jitter);
  f.number("sent_s", b.sent_s);
  return f.ok();
}

bool read_rtcp(const json& j, const std::string& path, RtcpStreamRecord& r, std::string& error) {
  Fields f(j, path, error);
  f.count("direction", r.direction);
  if (f.ok() && r.direction > 1) f.fail("direction", "is not 0 (a->b) or 1 (b->a)");
  f.count("ssrc", r.ssrc);
  f.count("clock_rate", r.clock_rate);
  f.count("reports", r.reports);
  const json* recent = f.array("recent");
  if (!f.ok() || !recent) return false;
  if (recent->size() > RtcpStreamRecord::kKept) {
    f.fail("recent", "has more than " + std::to_string(RtcpStreamRecord::kKept) + " blocks");
    return false;
  }
  for (size_t i = 0; i < recent->size(); ++i) {
    RtcpBlockRecord b;
    if (!read_rtcp_block((*recent)[i], path + ".recent[" + std::to_string(i) + "]", b, error)) return false;
    r.recent.push_back(b);
  }
  return true;
}

bool read_call(const json& j, const std::string& path, CallRecord& c, std::string& error) {
  Fields f(j, path, error);
  f.count("call", c.call);
  f.count("step", c.step);
  f.string("kind", c.kind);
  f.number("started_s", c.started_s);
  f.number("setup_ms", c.setup_ms);
  f.boolean("failed", c.failed);
  f.string("failure_stage", c.failure_stage);
  f.integer("failure_code", c.failure_code);
  f.string("failure_reason", c.failure_reason);
  f.number("failed_s", c.failed_s);
  f.string_pair("relayed", c.relayed);
  if (const json* rtcp = f.optional("rtcp")) {   // newer than some reports: optional
    if (!rtcp->is_array()) {
      f.fail("rtcp", "is not an array");
      return false;
    }
    for (size_t i = 0; i < rtcp->size(); ++i) {
      RtcpStreamRecord r;
      if (!read_rtcp((*rtcp)[i], path + ".rtcp[" + std::to_string(i) + "]", r, error)) return false;
      c.rtcp.push_back(r);
    }
  }
  return f.ok();
}

bool read_stream(const json& j, const std::string& path, StreamStepRecord& s, std::string& error) {
  Fields f(j, path, error);
  f.count("call", s.call);
  f.count("direction", s.direction);
  if (f.ok() && s.direction > 1) f.fail("direction", "is not 0 (a->b) or 1 (b->a)");
  f.count("step", s.step);
  f.count("sent", s.sent);
  f.count("expected", s.expected);
  f.count("received", s.received);
  f.count("lost", s.lost);
  f.count("reordered", s.reordered);
  f.count("duplicates", s.duplicates);
  f.count("bytes", s.bytes);
  f.number("jitter_ms", s.jitter_ms);
  f.number("rtt_ms", s.rtt_ms);
  if (f.ok() && s.jitter_ms < 0) f.fail("jitter_ms", "is negative");
  return f.ok();
}

bool read_sample(const json& j, const std::string& path, Sample& s, std::string& error) {
  Fields f(j, path, error);
  f.number("t_s", s.t_s);
  f.count("step", s.step);
  f.count("offered_calls", s.offered_calls);
  f.count("calls_up", s.calls_up);
  f.count("tx_packets", s.tx_packets);
  f.count("rx_packets", s.rx_packets);
  f.count("tx_bytes", s.tx_bytes);
  f.count("rx_bytes", s.rx_bytes);
  f.count("expected", s.expected);
  f.count("lost", s.lost);
  f.count("setups", s.setups);
  f.count("failures", s.failures);
  f.number("jitter_p95_ms", s.jitter_p95_ms);
  f.number("rtt_p50_ms", s.rtt_p50_ms);
  f.number("rtt_p95_ms", s.rtt_p95_ms);
  f.number("setup_p95_ms", s.setup_p95_ms);
  f.number("cpu_pct", s.cpu_pct);
  f.number("send_lag_p99_ms", s.send_lag_p99_ms);
  return f.ok();
}

bool read_step(const json& j, const std::string& path, StepPlan& s, std::string& error) {
  Fields f(j, path, error);
  f.count("index", s.index);
  f.count("target_calls", s.target_calls);
  f.number("start_s", s.start_s);
  f.number("end_s", s.end_s);
  if (f.ok() && s.end_s < s.start_s) f.fail("end_s", "is before start_s");
  return f.ok();
}

template <class T, class R>
bool read_array(Fields& top, const char* key, std::vector<T>& out, R read, std::string& error) {
  const json* a = top.array(key);
  if (!a) return false;
  out.reserve(a->size());
  for (size_t i = 0; i < a->size(); ++i) {
    T t;
    if (!read((*a)[i], std::string(key) + "[" + std::to_string(i) + "]", t, error)) return false;
    out.push_back(std::move(t));
  }
  return true;
}

bool read_shard(const json& meta, std::string& error) {
  const auto sh = meta.find("shard");
  if (sh == meta.end()) return true;
  Fields f(*sh, "meta.shard", error);
  uint32_t n = 0;
  f.count("n", n);
  if (f.ok() && (n < 1 || n > 1024)) f.fail("n", "is not from 1 to 1024");
  if (!f.ok()) return false;
  if (auto k = sh->find("k"); k != sh->end() && k->is_string() && *k == "merged") {
    Fields m(meta, "meta", error);
    const json* from = m.array("merged_from");
    if (from && from->empty()) m.fail("merged_from", "is empty");
    for (size_t i = 0; from && m.ok() && i < from->size(); ++i)
      if (!whole((*from)[i]) || (*from)[i].get<uint64_t>() < 1 || (*from)[i].get<uint64_t>() > n)
        m.fail("merged_from", "holds something other than shard numbers from 1 to " + std::to_string(n));
    return m.ok();
  }
  uint32_t k = 0;
  f.count("k", k);
  if (f.ok() && (k < 1 || k > n)) f.fail("k", "is not from 1 to " + std::to_string(n));
  return f.ok();
}

bool read_meta(const json& j, Report& out, std::string& error) {
  Fields f(j, "", error);
  const json* meta = f.ok() && j.contains("meta") ? &j["meta"] : nullptr;
  if (!meta) {
    f.fail("meta", "is missing");
    return false;
  }
  Fields m(*meta, "meta", error);
  std::string tool;
  m.string("tool", tool);
  if (m.ok() && tool != "turnpike-loadgen") m.fail("tool", "is not \"turnpike-loadgen\": not a loadgen report");
  if (m.ok() && meta->contains("interval_s")) {
    double iv = 0;
    m.number("interval_s", iv);
    if (m.ok() && iv < 0) m.fail("interval_s", "is negative");
  }
  if (!m.ok() || !read_shard(*meta, error)) return false;
  out.meta = *meta;
  return true;
}

bool read_top(const json& j, Report& r, std::string& error) {
  if (!read_meta(j, r, error)) return false;
  Fields f(j, "", error);
  const json* th = f.ok() && j.contains("thresholds") ? &j["thresholds"] : nullptr;
  if (!th) f.fail("thresholds", "is missing");
  if (!f.ok()) return false;
  Fields t(*th, "thresholds", error);
  t.number("p95_loss_pct", r.thresholds.p95_loss_pct);
  t.number("p95_jitter_ms", r.thresholds.p95_jitter_ms);
  t.number("setup_failure_pct", r.thresholds.setup_failure_pct);
  if (!t.ok()) return false;
  const json* sc = j.contains("self_check") ? &j["self_check"] : nullptr;
  if (!sc) f.fail("self_check", "is missing");
  if (!f.ok()) return false;
  Fields s(*sc, "self_check", error);
  s.number("cpu_p95_pct", r.self_check.cpu_p95_pct);
  s.number("send_lag_p99_ms", r.self_check.send_lag_p99_ms);
  s.boolean("trustworthy", r.self_check.trustworthy);
  s.strings("reasons", r.self_check.reasons);
  if (!s.ok()) return false;
  f.strings("errors", r.errors);
  return f.ok();
}

// Every record names a step of the plan (the summaries and the HTML index steps by it).
bool steps_in_range(const Report& r, std::string& error) {
  const auto bad = [&](const char* what, size_t i, uint32_t step) {
    error = std::string(what) + "[" + std::to_string(i) + "].step " + std::to_string(step) + " is not a step of the plan (" +
            std::to_string(r.steps.size()) + " steps)";
    return false;
  };
  for (size_t i = 0; i < r.calls.size(); ++i)
    if (r.calls[i].step >= r.steps.size()) return bad("calls", i, r.calls[i].step);
  for (size_t i = 0; i < r.streams.size(); ++i)
    if (r.streams[i].step >= r.steps.size()) return bad("streams", i, r.streams[i].step);
  for (size_t i = 0; i < r.timeseries.size(); ++i)
    if (r.timeseries[i].step >= r.steps.size()) return bad("timeseries", i, r.timeseries[i].step);
  return true;
}

}  // namespace

bool from_json(const json& j, Report& out, std::string& error) {
  try {
    if (!j.is_object()) {
      error = "the report is not a JSON object";
      return false;
    }
    Report r;
    if (!read_top(j, r, error)) return false;
    Fields f(j, "", error);
    if (!read_array(f, "steps", r.steps, read_step, error) || !read_array(f, "calls", r.calls, read_call, error) ||
        !read_array(f, "streams", r.streams, read_stream, error) ||
        !read_array(f, "timeseries", r.timeseries, read_sample, error))
      return false;
    for (size_t i = 0; i < r.steps.size(); ++i)
      if (r.steps[i].index != i) {
        error = "steps[" + std::to_string(i) + "].index is not " + std::to_string(i);
        return false;
      }
    if (!steps_in_range(r, error)) return false;
    out = std::move(r);
    return true;
  } catch (const std::exception& e) {  // nlohmann or allocation: never out of here
    error = std::string("malformed report: ") + e.what();
    return false;
  }
}

}  // namespace loadgen
