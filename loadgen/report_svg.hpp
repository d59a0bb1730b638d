// The small inline-SVG line plot writer behind report.html (report_html.cpp): axes with "nice"
// ticks, one polyline (class "series") and markers per series, a legend, a breakpoint marker.
// Internal to turnpike_loadgen.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loadgen::svg {

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y); non-finite points are left out
};

struct Plot {
  std::string id;        // data-plot attribute
  std::string title, x_label, y_label;
  std::vector<Series> series;
  std::optional<double> marker_x;                  // a vertical line, class "breakpoint"
  std::optional<std::pair<double, double>> band;   // a shaded x range, class "breakpoint"
  bool x_ends_at_data = false;  // the x axis ends at the last point (not the next round tick)
};

// Text and attribute values for HTML/SVG: & < > " ' escaped.
std::string escape(std::string_view s);
// About `target` round tick values (1, 2, 5 x 10^n steps) covering [lo, hi]; at most 25.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);
// A tick value with as many decimals as the tick step needs.
std::string tick_label(double v, double step);
// <svg class="plot" data-plot="id">...</svg>
std::string render(const Plot& p);

}  // namespace loadgen::svg
