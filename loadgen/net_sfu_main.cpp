// `turnpike-loadgen sfu` (net_sfu.hpp): the command line, the token key, the loop, the report.
#include <signal.h>
#include <sys/resource.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "loadgen/net_sfu.hpp"
#include "loadgen/sfu_cli.hpp"

#ifndef TURNPIKE_VERSION
#define TURNPIKE_VERSION "dev"
#endif

namespace loadgen::net {
namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_sfu_signal(int) { g_stop.store(true); }

// --token-secret, else the first line of --token-secret-file, else the environment variable.
bool token_key(const sfuload::SfuOptions& o, std::string& key, std::string& error) {
  if (!o.token_secret.empty()) return key = o.token_secret, true;
  if (!o.token_secret_file.empty()) {
    std::ifstream f(o.token_secret_file);
    if (!f || !std::getline(f, key)) return error = "cannot read " + o.token_secret_file, false;
    while (!key.empty() && (key.back() == '\r' || key.back() == ' ')) key.pop_back();
  } else if (const char* v = std::getenv(o.token_secret_env.c_str())) {
    key = v;
  }
  if (key.empty()) return error = "no token key: --token-secret-file, --token-secret or $" + o.token_secret_env, false;
  return true;
}

void print_summary(const nlohmann::json& r, std::ostream& os) {
  const auto& p = r["participants"];
  const auto& t = r["totals"];
  os << "participants: " << p["total"] << ", joined " << p["joined"] << ", connected " << p["connected"] << ", failed "
     << p["failed"] << "\n";
  if (!r["failures_by_reason"].empty()) os << "failures by reason: " << r["failures_by_reason"].dump() << "\n";
  os << "packets: sent " << t["sent"] << ", expected at subscribers " << t["expected"] << ", received " << t["received"]
     << ", lost " << t["lost"] << "\n";
  os << "loadgen CPU: " << r["loadgen_cpu"]["seconds"] << " s over " << r["media_seconds"] << " s of media\n";
  for (const auto& why : r["reasons"]) os << "fail: " << why.get<std::string>() << "\n";
  os << "result: " << r["result"].get<std::string>() << "\n";
}

bool write_report(const nlohmann::json& r, const std::string& dir, std::string& error) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return error = "cannot create " + dir + ": " + ec.message(), false;
  std::ofstream f(std::filesystem::path(dir) / "report.json", std::ios::trunc);
  f << r.dump(2) << "\n";
  f.close();
  if (!f) error = "cannot write " + dir + "/report.json";
  return static_cast<bool>(f);
}

// Sockets: two per participant and some spare.
void raise_nofile() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

}  // namespace

int run_sfu(const std::vector<std::string>& args, const std::string& command) {
  auto cli = sfuload::parse_sfu_cli(args);
  if (cli.kind == sfuload::SfuCliResult::Kind::Help) return std::cout << sfuload::sfu_usage(), 0;
  if (cli.kind == sfuload::SfuCliResult::Kind::Error) return std::cerr << "turnpike-loadgen " << cli.error << "\n", 2;
  sfuload::SfuOptions& o = cli.options;
  std::string error;
  if (!token_key(o, o.run.token_key, error)) return std::cerr << "turnpike-loadgen sfu: " << error << "\n", 2;
  SockAddr signal_addr;
  if (!resolve(o.signal_host, o.signal_port, true, AF_UNSPEC, signal_addr, error))
    return std::cerr << "turnpike-loadgen sfu: " << error << "\n", 2;
  SockAddr local = to_sockaddr(*turn::IpAddress::parse(o.local), 0);
  raise_nofile();
  o.run.start_unix = static_cast<int64_t>(std::time(nullptr));
  if (o.run.seed == 1) o.run.seed = static_cast<uint64_t>(o.run.start_unix) * 2654435761ULL;
  const std::string host_header = o.signal_host + ":" + std::to_string(o.signal_port);
  o.run.meta = {{"version", TURNPIKE_VERSION}, {"command", command}, {"signal", "ws://" + host_header + o.signal_path}};
  struct sigaction sa {};
  sa.sa_handler = on_sfu_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  nlohmann::json report;
  uint64_t drops = 0;
  try {
    SfuLoop loop(signal_addr, host_header, o.signal_path, local, g_stop);
    sfuload::SfuEngine engine(o.run, loop);
    if (!loop.run(engine, o.progress, error)) return std::cerr << "turnpike-loadgen sfu: " << error << "\n", 2;
    report = engine.report();
    drops = loop.send_drops();
  } catch (const std::exception& e) {
    return std::cerr << "turnpike-loadgen sfu: " << e.what() << "\n", 2;
  }
  report["send_drops"] = drops;  // datagrams the kernel refused: loss the loadgen caused itself
  print_summary(report, std::cout);
  if (!o.report_dir.empty() && !write_report(report, o.report_dir, error))
    return std::cerr << "turnpike-loadgen sfu: " << error << "\n", 2;
  if (g_stop.load()) std::cout << "stopped early by a signal\n";
  return sfuload::SfuEngine::exit_status(report);
}

}  // namespace loadgen::net
