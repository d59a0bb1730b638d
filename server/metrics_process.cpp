// The process_ metrics (the Prometheus client conventions), read from /proc at scrape time.
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "server/metric_family.hpp"
#include "server/metrics.hpp"

namespace turnpike {

using metric::add;
using metric::family;
using prometheus::MetricFamily;
using prometheus::MetricType;

// The process_ metrics of the Prometheus client conventions, from /proc/self.
std::vector<MetricFamily> Metrics::process_families() {
  std::vector<MetricFamily> out;
  static const long ticks = sysconf(_SC_CLK_TCK);
  static const long page = sysconf(_SC_PAGESIZE);
  std::ifstream stat("/proc/self/stat");
  std::string line;
  if (std::getline(stat, line)) {
    // Fields after the parenthesised command name, which may itself contain spaces.
    auto close = line.rfind(')');
    std::istringstream in(close == std::string::npos ? std::string() : line.substr(close + 2));
    std::vector<std::string> f{std::istream_iterator<std::string>(in), std::istream_iterator<std::string>()};
    // f[0] is field 3 (state): utime 14, stime 15, starttime 22, vsize 23, rss 24.
    if (f.size() > 21) {
      double cpu = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(ticks);
      auto c = family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds", MetricType::Counter);
      add(c, {}, cpu);
      auto v = family("process_virtual_memory_bytes", "Virtual memory size in bytes", MetricType::Gauge);
      add(v, {}, std::stod(f[20]));
      auto r = family("process_resident_memory_bytes", "Resident memory size in bytes", MetricType::Gauge);
      add(r, {}, std::stod(f[21]) * static_cast<double>(page));
      double boot = 0;
      std::ifstream s("/proc/stat");
      for (std::string l; std::getline(s, l);)
        if (l.rfind("btime ", 0) == 0) boot = std::stod(l.substr(6));
      auto st = family("process_start_time_seconds", "Start time of the process since unix epoch in seconds",
                       MetricType::Gauge);
      add(st, {}, boot + std::stod(f[19]) / static_cast<double>(ticks));
      out.push_back(std::move(c));
      out.push_back(std::move(v));
      out.push_back(std::move(r));
      out.push_back(std::move(st));
    }
  }
  size_t fds = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (auto* e = readdir(d))
      if (e->d_name[0] != '.') ++fds;
    closedir(d);
    if (fds > 0) --fds;  // the directory stream's own descriptor
  }
  auto open = family("process_open_fds", "Number of open file descriptors", MetricType::Gauge);
  add(open, {}, static_cast<double>(fds));
  out.push_back(std::move(open));
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    auto max = family("process_max_fds", "Maximum number of open file descriptors", MetricType::Gauge);
    add(max, {}, static_cast<double>(rl.rlim_cur));
    out.push_back(std::move(max));
  }
  return out;
}

}  // namespace turnpike
