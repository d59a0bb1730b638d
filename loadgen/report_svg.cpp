// Inline-SVG line plots for report.html: one writer for every plot (see report_svg.hpp).
#include "loadgen/report_svg.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace loadgen::svg {

namespace {

constexpr double kW = 640, kH = 300;                          // viewBox
constexpr double kLeft = 64, kRight = 16, kTop = 48, kBottom = 46;  // plot area margins
constexpr size_t kMaxMarkers = 80;                           // markers per series beyond: line only

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

double nice(double x, bool round) {  // 1, 2, 5 x 10^n near x (Heckbert, Graphics Gems 1990)
  const double e = std::floor(std::log10(x));
  const double f = x / std::pow(10.0, e);
  double n;
  if (round) n = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  else n = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return n * std::pow(10.0, e);
}

struct Range {
  double lo = 0, hi = 1;
  std::vector<double> ticks;
  void fit() {  // widens [lo, hi] to the outer ticks
    ticks = nice_ticks(lo, hi);
    lo = ticks.front();
    hi = ticks.back();
  }
};

// The data's extent from 0 (every plotted figure and both x axes are non-negative quantities).
void extent(const Plot& p, Range& x, Range& y) {
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = 0, y1 = 0;
  for (const auto& s : p.series)
    for (const auto& [px, py] : s.points) {
      x0 = std::min(x0, px);
      x1 = std::max(x1, px);
      y0 = std::min(y0, py);
      y1 = std::max(y1, py);
    }
  if (p.marker_x) x0 = std::min(x0, *p.marker_x), x1 = std::max(x1, *p.marker_x);
  if (x0 > x1) x0 = 0, x1 = 1;
  x0 = std::min(x0, 0.0);  // offered load and time since start both start at 0
  if (x0 == x1) x0 -= 1, x1 += 1;
  if (y1 <= y0) y1 = y0 + 1;
  x.lo = x0, x.hi = x1, y.lo = y0, y.hi = y1;
  x.fit();
  y.fit();
  if (p.x_ends_at_data && x1 > x.lo && x1 < x.hi) {   // e.g. time: the run's last sample
    x.hi = x1;
    std::erase_if(x.ticks, [&](double t) { return t > x1 * (1 + 1e-9); });
  }
}

// Where v falls in [lo, hi], 0..1; the middle when the range has no width in double precision.
double unit(double v, const Range& r) {
  const double u = (v - r.lo) / (r.hi - r.lo);
  return std::isfinite(u) ? std::clamp(u, -1.0, 2.0) : 0.5;
}

struct Frame {
  Range x, y;
  double px(double v) const { return kLeft + unit(v, x) * (kW - kLeft - kRight); }
  double py(double v) const { return kH - kBottom - unit(v, y) * (kH - kTop - kBottom); }
};

std::string axes(const Plot& p, const Frame& f) {
  std::string o;
  const double xstep = f.x.ticks.size() > 1 ? f.x.ticks[1] - f.x.ticks[0] : 1;
  const double ystep = f.y.ticks.size() > 1 ? f.y.ticks[1] - f.y.ticks[0] : 1;
  for (double t : f.y.ticks)
    o += "<line class=\"grid\" x1=\"" + num(kLeft) + "\" x2=\"" + num(kW - kRight) + "\" y1=\"" + num(f.py(t)) +
         "\" y2=\"" + num(f.py(t)) + "\"/><text class=\"tick\" x=\"" + num(kLeft - 6) + "\" y=\"" + num(f.py(t) + 4) +
         "\" text-anchor=\"end\">" + tick_label(t, ystep) + "</text>";
  for (double t : f.x.ticks)
    o += "<line class=\"tickmark\" x1=\"" + num(f.px(t)) + "\" x2=\"" + num(f.px(t)) + "\" y1=\"" + num(kH - kBottom) +
         "\" y2=\"" + num(kH - kBottom + 5) + "\"/><text class=\"tick\" x=\"" + num(f.px(t)) + "\" y=\"" +
         num(kH - kBottom + 18) + "\" text-anchor=\"middle\">" + tick_label(t, xstep) + "</text>";
  o += "<path class=\"axis\" d=\"M" + num(kLeft) + " " + num(kTop) + "V" + num(kH - kBottom) + "H" + num(kW - kRight) + "\"/>";
  o += "<text class=\"label\" x=\"" + num((kLeft + kW - kRight) / 2) + "\" y=\"" + num(kH - 6) +
       "\" text-anchor=\"middle\">" + escape(p.x_label) + "</text>";
  o += "<text class=\"label\" transform=\"translate(14 " + num((kTop + kH - kBottom) / 2) +
       ") rotate(-90)\" text-anchor=\"middle\">" + escape(p.y_label) + "</text>";
  return o;
}

std::string marker(const Plot& p, const Frame& f) {
  std::string o;
  const double top = kTop, bottom = kH - kBottom;
  if (p.band) {
    const double a = std::clamp(f.px(p.band->first), kLeft, kW - kRight);
    const double b = std::clamp(f.px(p.band->second), kLeft, kW - kRight);
    o += "<rect class=\"breakpoint\" x=\"" + num(a) + "\" y=\"" + num(top) + "\" width=\"" + num(std::max(b - a, 1.0)) +
         "\" height=\"" + num(bottom - top) + "\"><title>breakpoint step</title></rect>";
  }
  if (p.marker_x) {
    const double x = f.px(*p.marker_x);
    o += "<line class=\"breakpoint\" x1=\"" + num(x) + "\" x2=\"" + num(x) + "\" y1=\"" + num(top) + "\" y2=\"" +
         num(bottom) + "\"><title>breakpoint</title></line>";
  }
  return o;
}

std::string series(const Series& s, size_t i, const Frame& f) {
  const std::string cls = "s" + std::to_string(i % 6);
  std::string pts;
  for (const auto& [x, y] : s.points) pts += (pts.empty() ? "" : " ") + num(f.px(x)) + "," + num(f.py(y));
  std::string o = "<polyline class=\"series " + cls + "\" data-series=\"" + escape(s.name) + "\" points=\"" + pts + "\"/>";
  if (s.points.size() > kMaxMarkers) return o;
  for (const auto& [x, y] : s.points)
    o += "<circle class=\"pt " + cls + "\" cx=\"" + num(f.px(x)) + "\" cy=\"" + num(f.py(y)) + "\" r=\"3\"><title>" +
         escape(s.name) + ": " + tick_label(y, std::fabs(y) / 1000) + " at " + tick_label(x, std::fabs(x) / 1000) +
         "</title></circle>";
  return o;
}

std::string legend(const Plot& p) {
  std::string o;
  double x = kLeft;
  for (size_t i = 0; i < p.series.size(); ++i) {
    const Series& s = p.series[i];
    const std::string cls = "s" + std::to_string(i % 6);
    const std::string text = s.points.empty() ? s.name + ": no data" : s.name;
    o += "<line class=\"swatch " + cls + "\" x1=\"" + num(x) + "\" x2=\"" + num(x + 18) + "\" y1=\"32\" y2=\"32\"/>";
    o += "<text class=\"legend" + std::string(s.points.empty() ? " nodata" : "") + "\" x=\"" + num(x + 22) +
         "\" y=\"36\">" + escape(text) + "</text>";
    x += 34 + 6.5 * static_cast<double>(text.size());
  }
  return o;
}

// Drops non-finite points (a plot never holds NaN or infinity).
Plot finite(const Plot& p) {
  Plot q = p;
  for (auto& s : q.series)
    std::erase_if(s.points, [](const auto& pt) { return !std::isfinite(pt.first) || !std::isfinite(pt.second); });
  if (q.marker_x && !std::isfinite(*q.marker_x)) q.marker_x.reset();
  if (q.band && !(std::isfinite(q.band->first) && std::isfinite(q.band->second))) q.band.reset();
  return q;
}

}  // namespace

std::string escape(std::string_view s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  return o;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || !std::isfinite(hi - lo) || hi <= lo) return {0, 1};
  const double step = nice(nice(hi - lo, false) / std::max(target - 1, 1), true);
  const double first = std::floor(lo / step) * step;
  const double n = std::ceil(hi / step) - std::floor(lo / step);
  // Values so large that the step vanishes in their precision: just the ends.
  if (!std::isfinite(step) || step <= 0 || !std::isfinite(n) || n < 1 || n > 24 || first + step == first) return {lo, hi};
  std::vector<double> t;
  for (int i = 0; i <= static_cast<int>(n); ++i) t.push_back(first + i * step);
  return t;
}

std::string tick_label(double v, double step) {
  int decimals = 0;
  if (step > 0 && std::isfinite(step) && step < 1) decimals = std::min(6, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  if (std::fabs(v) < step * 1e-6) v = 0;  // -0.000 from rounding
  char b[64];
  if (std::fabs(v) >= 1e9 || !std::isfinite(v)) std::snprintf(b, sizeof b, "%.3g", v);
  else std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}

std::string render(const Plot& in) {
  const Plot p = finite(in);
  Frame f;
  extent(p, f.x, f.y);
  std::string o = "<svg class=\"plot\" data-plot=\"" + escape(p.id) + "\" viewBox=\"0 0 " + num(kW) + " " + num(kH) +
                  "\" role=\"img\" aria-label=\"" + escape(p.title) + "\"><title>" + escape(p.title) + "</title>";
  o += "<text class=\"title\" x=\"" + num(kLeft) + "\" y=\"18\">" + escape(p.title) + "</text>";
  o += legend(p) + marker(p, f) + axes(p, f);
  bool any = false;
  for (size_t i = 0; i < p.series.size(); ++i)
    if (!p.series[i].points.empty()) {
      o += series(p.series[i], i, f);
      any = true;
    }
  if (!any)
    o += "<text class=\"nodata\" x=\"" + num((kLeft + kW - kRight) / 2) + "\" y=\"" + num((kTop + kH - kBottom) / 2) +
         "\" text-anchor=\"middle\">no data</text>";
  return o + "</svg>";
}

}  // namespace loadgen::svg
