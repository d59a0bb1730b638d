// Heartbeats behind /healthz: every watched component (an I/O shard, the SFU thread) gets a steady
// timer on its own io_context that stamps an atomic "last alive" time every kHeartbeatPeriodMs; the
// admin thread reads the stamps and server/health.hpp's health_verdict judges them. A blocked or
// starved thread stops stamping, so it shows as late.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "server/health.hpp"

namespace turnpike {

class Heartbeats {
 public:
  // Before the components' threads run (the timer is armed at once; its first stamp is now).
  // The io_contexts must outlive this object; destroy it after their threads have stopped.
  void watch(const std::string& component, boost::asio::io_context& io);
  std::vector<HeartbeatStamp> stamps() const;  // from any thread
  HealthVerdict verdict() const;               // from any thread

  // The test-only fault hook (TURNPIKE_TEST_FAULT_HOOKS=1, docs/admin-api.md): occupies the
  // component's thread for `d`. False for an unknown component.
  bool block(const std::string& component, std::chrono::milliseconds d);

 private:
  struct Beat {
    explicit Beat(boost::asio::io_context& io) : io(io), timer(io) {}
    std::string component;
    boost::asio::io_context& io;
    boost::asio::steady_timer timer;
    std::atomic<int64_t> last_alive_ms{0};
  };
  static void arm(Beat& b);
  std::vector<std::unique_ptr<Beat>> beats_;  // fixed once the threads run
};

// Whether the test-only fault hooks are on: TURNPIKE_TEST_FAULT_HOOKS=1 in the environment.
bool test_fault_hooks_enabled();

}  // namespace turnpike
