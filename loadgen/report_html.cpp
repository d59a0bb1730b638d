// report.html: one self-contained page (inline CSS and SVG, no scripts, no fetches) with the run's
// header and result, the self-check, the per-step table, the plots against offered load and time
// (report_svg.cpp draws them), failures by code and the run's errors.
#include <algorithm>
#include <cstdio>
#include <ctime>

#include "loadgen/report.hpp"
#include "loadgen/report_svg.hpp"

namespace loadgen {

namespace {

using svg::escape;
using svg::Plot;
using svg::Series;

constexpr size_t kMaxEventRows = 100;  // failure events listed on the page (report.json has more)

const char* kStyle = R"(<style>
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--muted:#5b636e;--grid:#e3e6ea;--box:#f6f8fa;
--warn:#fff4d6;--warnb:#c98a00;--bad:#b42318;--good:#1a7f37;--band:rgba(180,35,24,.12);
--c0:#1f6feb;--c1:#d1242f;--c2:#1a7f37;--c3:#8250df;--c4:#bf8700;--c5:#0a7ea4}
@media (prefers-color-scheme:dark){:root{--bg:#0f1216;--fg:#e6e9ed;--muted:#9aa4b1;--grid:#2a3038;
--box:#171b21;--warn:#3a2c05;--warnb:#e0a000;--bad:#ff7b72;--good:#56d364;--band:rgba(255,123,114,.16);
--c0:#58a6ff;--c1:#ff7b72;--c2:#56d364;--c3:#bc8cff;--c4:#e3b341;--c5:#39c5cf}}
body{background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1360px;padding:0 16px}
h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:28px 0 8px}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0}dl.meta dt{color:var(--muted)}
dl.meta dd{margin:0}code{font-family:ui-monospace,monospace;font-size:12.5px;word-break:break-all}
.result{font-size:16px;font-weight:600;padding:8px 12px;border-radius:6px;background:var(--box)}
.result.ok{color:var(--good)}.result.failures,.result.breakpoint{color:var(--bad)}
.warning{background:var(--warn);border-left:4px solid var(--warnb);padding:8px 12px;margin:12px 0;border-radius:4px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:6px 0}
th,td{border-bottom:1px solid var(--grid);padding:3px 8px;text-align:right;white-space:nowrap}
th{color:var(--muted);font-weight:600}td.text,th.text{text-align:left;white-space:normal}
tr.bp td{color:var(--bad);font-weight:600}
.scroll{max-width:100%;overflow-x:auto}table.steps{font-size:12.5px}table.steps th,table.steps td{padding:3px 5px}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:14px}
svg.plot{width:100%;height:auto;background:var(--box);border-radius:6px}
svg.plot text{fill:var(--fg);font-size:12px}svg.plot .title{font-weight:600;font-size:13px}
svg.plot .tick,svg.plot .label{fill:var(--muted);font-size:11px}svg.plot .nodata{fill:var(--muted);font-size:14px}
svg.plot .grid{stroke:var(--grid)}svg.plot .axis,svg.plot .tickmark{stroke:var(--muted);fill:none}
svg.plot .series,svg.plot .swatch{fill:none;stroke-width:2}svg.plot line.breakpoint{stroke:var(--bad);stroke-width:2;stroke-dasharray:6 4}
svg.plot rect.breakpoint{fill:var(--band)}
.s0{stroke:var(--c0);fill:var(--c0)}.s1{stroke:var(--c1);fill:var(--c1)}.s2{stroke:var(--c2);fill:var(--c2)}
.s3{stroke:var(--c3);fill:var(--c3)}.s4{stroke:var(--c4);fill:var(--c4)}.s5{stroke:var(--c5);fill:var(--c5)}
</style>)";

std::string f1(double v, const char* f = "%.1f") {
  char b[400];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string meta_text(const nlohmann::json& meta, const char* key) {
  const auto it = meta.find(key);
  if (it == meta.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string list_text(const nlohmann::json& meta, const char* key) {
  const auto it = meta.find(key);
  if (it == meta.end() || !it->is_array()) return meta_text(meta, key);
  std::string o;
  for (const auto& e : *it) o += (o.empty() ? "" : ", ") + (e.is_string() ? e.get<std::string>() : e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return o;
}

std::string shards_text(const nlohmann::json& meta) {
  const auto sh = meta.find("shard");
  if (sh == meta.end() || !sh->is_object()) return "1 (one process)";
  const std::string n = meta_text(*sh, "n");
  if (meta_text(*sh, "k") == "merged")
    return "merged from shards " + list_text(meta, "merged_from") + " of " + n +
           " (time-series percentiles: the max over shards)";
  return "shard " + meta_text(*sh, "k") + " of " + n;
}

std::string utc(const nlohmann::json& meta) {
  const auto it = meta.find("start_unix");
  if (it == meta.end() || !it->is_number()) return "";
  const double t = it->get<double>();
  if (!(t >= 0 && t < 253402300800.0)) return "";  // up to year 9999
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char b[64];
  std::strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return b;
}

// The largest target among the steps that carried any calls (how far the run got).
uint32_t reached(const std::vector<StepSummary>& sums) {
  uint32_t n = 0;
  for (const auto& s : sums)
    if (s.calls > 0 || s.setups_attempted > 0) n = std::max(n, s.target_calls);
  return n;
}

std::string result_text(const Report& r, const std::vector<StepSummary>& sums) {
  std::string o;
  if (auto bp = breakpoint(sums)) {
    const auto& s = *std::find_if(sums.begin(), sums.end(), [&](const StepSummary& x) { return x.index == *bp; });
    std::string why;
    for (const auto& w : s.reasons) why += (why.empty() ? "" : "; ") + w;
    o = "Breakpoint at step " + std::to_string(*bp) + " (" + std::to_string(s.target_calls) + " calls): " + why;
  } else {
    o = "No breakpoint up to " + std::to_string(reached(sums)) + " calls";
  }
  const auto failed = std::count_if(r.calls.begin(), r.calls.end(), [](const CallRecord& c) { return c.failed; });
  if (failed) o += ". " + std::to_string(failed) + " of " + std::to_string(r.calls.size()) + " calls failed";
  if (!r.errors.empty()) o += ". " + std::to_string(r.errors.size()) + " run error(s), listed below";
  return o;
}

std::string totals_text(const Report& r) {
  const auto t = totals_json(r);
  return t["calls"].dump() + " calls opened, " + t["setups_ok"].dump() + " set up, " + t["failures"].dump() +
         " failed; " + t["sent"].dump() + " packets sent, " + t["received"].dump() + " received, " + t["lost"].dump() +
         " lost (" + f1(t["loss_pct"].get<double>(), "%.3f") + "%)";
}

std::string header(const Report& r, const std::vector<StepSummary>& sums) {
  const auto& m = r.meta;
  std::string o = "<header><h1>turnpike-loadgen report</h1><dl class=\"meta\">";
  const auto row = [&](const char* k, const std::string& v) {
    if (!v.empty()) o += "<dt>" + std::string(k) + "</dt><dd>" + escape(v) + "</dd>";
  };
  row("server", meta_text(m, "server"));
  row("transport", meta_text(m, "transport"));
  row("profile", meta_text(m, "profile"));
  row("calls", meta_text(m, "calls"));
  row("shards", shards_text(m));
  row("totals", totals_text(r));
  row("started", utc(m));
  if (const std::string iv = meta_text(m, "interval_s"); !iv.empty()) row("interval", iv + " s");
  row("threads", meta_text(m, "threads"));
  row("version", meta_text(m, "version"));
  o += "<dt>command</dt><dd><code>" + escape(meta_text(m, "command")) + "</code></dd></dl>";
  o += "<p class=\"result " + result_word(r, sums) + "\">" + escape(result_text(r, sums)) + "</p></header>";
  return o;
}

std::string self_check(const Report& r) {
  const auto& sc = r.self_check;
  std::string o;
  if (!sc.trustworthy) {
    o += "<div class=\"warning self-check\"><strong>The load generator was itself overloaded: its figures "
         "cannot be trusted.</strong><ul>";
    for (const auto& w : sc.reasons) o += "<li>" + escape(w) + "</li>";
    o += "</ul></div>";
  }
  o += "<p>Self-check: loadgen CPU p95 " + f1(sc.cpu_p95_pct) + "% of a core, send lag p99 " +
       f1(sc.send_lag_p99_ms, "%.2f") + " ms" + (sc.trustworthy ? " (figures trustworthy)." : ".") + "</p>";
  return o;
}

std::string pct_cells(const Percentiles& p, bool have, const char* f) {
  if (!have) return "<td>-</td><td>-</td><td>-</td><td>-</td>";
  return "<td>" + f1(p.p50, f) + "</td><td>" + f1(p.p95, f) + "</td><td>" + f1(p.p99, f) + "</td><td>" + f1(p.max, f) + "</td>";
}

std::string step_table(const std::vector<StepSummary>& sums) {
  std::string o =
      "<h2>Steps</h2><div class=\"scroll\"><table class=\"steps\"><thead><tr><th rowspan=\"2\">step</th><th rowspan=\"2\">target calls</th>"
      "<th rowspan=\"2\">calls</th><th colspan=\"3\">setups</th><th colspan=\"4\">setup ms</th><th colspan=\"4\">loss %</th>"
      "<th colspan=\"4\">jitter ms</th><th colspan=\"4\">RTT ms</th><th rowspan=\"2\">Mbit/s</th>"
      "<th rowspan=\"2\" class=\"text\">breakpoint</th></tr><tr><th>tried</th><th>failed</th><th>%</th>";
  for (int i = 0; i < 4; ++i) o += "<th>p50</th><th>p95</th><th>p99</th><th>max</th>";
  o += "</tr></thead><tbody>";
  for (const auto& s : sums) {
    std::string why;
    for (const auto& w : s.reasons) why += (why.empty() ? "" : "; ") + w;
    o += std::string(s.breakpoint ? "<tr class=\"bp\">" : "<tr>") + "<td>" + std::to_string(s.index) + "</td><td>" +
         std::to_string(s.target_calls) + "</td><td>" + std::to_string(s.calls) + "</td><td>" +
         std::to_string(s.setups_attempted) + "</td><td>" + std::to_string(s.setup_failures) + "</td><td>" +
         f1(s.setup_failure_pct, "%.2f") + "</td>" + pct_cells(s.setup_ms, s.setups_ok > 0, "%.1f") +
         pct_cells(s.loss_pct, s.directions > 0, "%.2f") + pct_cells(s.jitter_ms, s.directions > 0, "%.1f") +
         pct_cells(s.rtt_ms, s.rtt_directions > 0, "%.1f") + "<td>" + f1(s.throughput_mbps, "%.2f") +
         "</td><td class=\"text\">" + escape(why) + "</td></tr>";
  }
  return o + "</tbody></table></div>";
}

std::string failures(const Report& r) {
  std::string o = "<h2>Failures</h2>";
  const auto by = failures_by_code(r);
  if (by.empty()) return o + "<p>No call failed.</p>";
  o += "<table class=\"failures\"><thead><tr><th class=\"text\">code</th><th>calls</th></tr></thead><tbody>";
  for (const auto& [k, n] : by.items()) o += "<tr><td class=\"text\">" + escape(k) + "</td><td>" + n.dump() + "</td></tr>";
  o += "</tbody></table><table class=\"events\"><thead><tr><th>t (s)</th><th>call</th><th class=\"text\">stage</th>"
       "<th>code</th><th class=\"text\">reason</th></tr></thead><tbody>";
  std::vector<const CallRecord*> ev;
  for (const auto& c : r.calls)
    if (c.failed) ev.push_back(&c);
  std::stable_sort(ev.begin(), ev.end(), [](auto* a, auto* b) { return a->failed_s < b->failed_s; });
  for (size_t i = 0; i < ev.size() && i < kMaxEventRows; ++i)
    o += "<tr><td>" + f1(ev[i]->failed_s, "%.3f") + "</td><td>" + std::to_string(ev[i]->call) + "</td><td class=\"text\">" +
         escape(ev[i]->failure_stage) + "</td><td>" + std::to_string(ev[i]->failure_code) + "</td><td class=\"text\">" +
         escape(ev[i]->failure_reason) + "</td></tr>";
  o += "</tbody></table>";
  if (ev.size() > kMaxEventRows)
    o += "<p>The first " + std::to_string(kMaxEventRows) + " of " + std::to_string(ev.size()) +
         " failures; report.json lists up to 1000.</p>";
  return o;
}

std::string errors(const Report& r) {
  if (r.errors.empty()) return "";
  std::string o = "<h2>Run errors</h2><ul class=\"errors\">";
  for (const auto& e : r.errors) o += "<li>" + escape(e) + "</li>";
  return o + "</ul>";
}

// ---- plots ----

using Pick = double (*)(const StepSummary&);

Series load_series(const std::vector<StepSummary>& sums, std::string name, Pick pick, bool (*has)(const StepSummary&)) {
  Series s{std::move(name), {}};
  for (const auto& x : sums)
    if (has(x)) s.points.emplace_back(x.target_calls, pick(x));
  return s;
}

bool has_dir(const StepSummary& s) { return s.directions > 0; }
bool has_rtt(const StepSummary& s) { return s.rtt_directions > 0; }
bool has_setup(const StepSummary& s) { return s.setups_ok > 0; }
bool has_any(const StepSummary& s) { return s.calls > 0 || s.setups_attempted > 0; }

std::vector<Plot> load_plots(const std::vector<StepSummary>& sums, std::optional<double> bp_x) {
  const std::string x = "offered load (target calls)";
  std::vector<Plot> p = {
      {"loss-vs-load", "Loss against offered load", x, "loss % (over call-directions)",
       {load_series(sums, "p50", [](const StepSummary& s) { return s.loss_pct.p50; }, has_dir),
        load_series(sums, "p95", [](const StepSummary& s) { return s.loss_pct.p95; }, has_dir)}, bp_x, {}},
      {"jitter-vs-load", "Jitter against offered load", x, "jitter ms (RFC 3550)",
       {load_series(sums, "p50", [](const StepSummary& s) { return s.jitter_ms.p50; }, has_dir),
        load_series(sums, "p95", [](const StepSummary& s) { return s.jitter_ms.p95; }, has_dir)}, bp_x, {}},
      {"rtt-vs-load", "RTT against offered load", x, "RTT ms",
       {load_series(sums, "p50", [](const StepSummary& s) { return s.rtt_ms.p50; }, has_rtt),
        load_series(sums, "p95", [](const StepSummary& s) { return s.rtt_ms.p95; }, has_rtt)}, bp_x, {}},
      {"throughput-vs-load", "Throughput against offered load", x, "received Mbit/s",
       {load_series(sums, "received", [](const StepSummary& s) { return s.throughput_mbps; }, has_any)}, bp_x, {}},
      {"setup-vs-load", "Allocation setup time against offered load", x, "setup ms",
       {load_series(sums, "p50", [](const StepSummary& s) { return s.setup_ms.p50; }, has_setup),
        load_series(sums, "p95", [](const StepSummary& s) { return s.setup_ms.p95; }, has_setup)}, bp_x, {}},
  };
  return p;
}

// One time series: (t_s, value) for every sample where `keep` holds.
template <class F>
Series time_series(const Report& r, const std::vector<SampleRates>& rates, std::string name, F value) {
  Series s{std::move(name), {}};
  for (size_t i = 0; i < r.timeseries.size(); ++i)
    if (auto v = value(r.timeseries[i], rates[i])) s.points.emplace_back(r.timeseries[i].t_s, *v);
  return s;
}

using Opt = std::optional<double>;

std::vector<Plot> time_plots(const Report& r, std::optional<std::pair<double, double>> band) {
  const auto rates = sample_rates(r);
  const std::string x = "time since start (s)";
  const auto ts = [&](std::string name, auto f) { return time_series(r, rates, std::move(name), f); };
  return {
      {"throughput-time", "Throughput over time", x, "Mbit/s",
       {ts("tx", [](const Sample&, const SampleRates& d) { return Opt(d.tx_mbps); }),
        ts("rx", [](const Sample&, const SampleRates& d) { return Opt(d.rx_mbps); })}, {}, band},
      {"loss-time", "Loss over time", x, "loss % (lost / expected)",
       {ts("loss", [](const Sample&, const SampleRates& d) { return d.loss_pct >= 0 ? Opt(d.loss_pct) : Opt(); })}, {}, band},
      {"jitter-time", "Jitter over time", x, "jitter ms",
       {ts("p95", [](const Sample& s, const SampleRates&) { return s.calls_up ? Opt(s.jitter_p95_ms) : Opt(); })}, {}, band},
      {"rtt-time", "RTT over time", x, "RTT ms",
       {ts("p50", [](const Sample& s, const SampleRates&) { return s.rtt_p50_ms >= 0 ? Opt(s.rtt_p50_ms) : Opt(); }),
        ts("p95", [](const Sample& s, const SampleRates&) { return s.rtt_p95_ms >= 0 ? Opt(s.rtt_p95_ms) : Opt(); })}, {}, band},
      {"calls-time", "Calls over time", x, "calls",
       {ts("offered", [](const Sample& s, const SampleRates&) { return Opt(s.offered_calls); }),
        ts("up", [](const Sample& s, const SampleRates&) { return Opt(s.calls_up); })}, {}, band},
      {"cpu-time", "The load generator's own load", x, "CPU % of a core / send lag ms",
       {ts("loadgen CPU %", [](const Sample& s, const SampleRates&) { return Opt(s.cpu_pct); }),
        ts("send lag p99 ms", [](const Sample& s, const SampleRates&) { return Opt(s.send_lag_p99_ms); })}, {}, band},
  };
}

std::string plots(const Report& r, const std::vector<StepSummary>& sums) {
  std::optional<double> bp_x;
  std::optional<std::pair<double, double>> band;
  if (auto bp = breakpoint(sums)) {
    for (const auto& s : sums)
      if (s.index == *bp) bp_x = s.target_calls;
    for (const auto& p : r.steps)
      if (p.index == *bp) band = std::make_pair(p.start_s, p.end_s);
  }
  std::string o = "<h2>Against offered load</h2><div class=\"plots\">";
  for (const auto& p : load_plots(sums, bp_x)) o += svg::render(p);
  o += "</div><h2>Over time</h2><div class=\"plots\">";
  for (auto& p : time_plots(r, band)) {
    p.x_ends_at_data = true;   // the run's last sample, also when it ended before the plan
    o += svg::render(p);
  }
  return o + "</div>";
}

}  // namespace

std::string to_html(const Report& r) {
  const auto sums = summarize(r);
  std::string o = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                  "<meta name=\"color-scheme\" content=\"light dark\"><title>turnpike-loadgen: " +
                  escape(meta_text(r.meta, "server")) + "</title>" + kStyle + "</head><body>";
  o += header(r, sums) + self_check(r) + errors(r) + step_table(sums) + plots(r, sums) + failures(r);
  return o + "</body></html>\n";
}

}  // namespace loadgen
