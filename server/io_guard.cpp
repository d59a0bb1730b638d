#include "server/io_guard.hpp"

#include <atomic>
#include <exception>
#include <string>

#include "server/log.hpp"

namespace turnpike {

namespace {
std::atomic<uint64_t> g_logged{0};

// The first ten of the process, then every 1000th: a handler that throws on every packet must not
// turn the log into the attack's amplifier.
void report(const char* component, const std::string& what) {
  uint64_t n = ++g_logged;
  if (n <= 10 || n % 1000 == 0)
    log::error("internal_error", {log::str("component", component), log::str("error", what),
                                  log::num("process_total", static_cast<long long>(n))});
}
}  // namespace

uint64_t run_guarded(boost::asio::io_context& io, const char* component, const std::function<void()>& counted) {
  uint64_t survived = 0;
  for (;;) {
    try {
      io.run();
      return survived;
    } catch (const std::exception& e) {
      report(component, e.what());
    } catch (...) {
      report(component, "unknown exception");
    }
    ++survived;
    if (counted) counted();
    // run() may be called again without restart() after a handler threw (Asio: io_context::run).
  }
}

}  // namespace turnpike
