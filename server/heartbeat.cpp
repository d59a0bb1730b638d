#include "server/heartbeat.hpp"

#include <boost/asio/post.hpp>

#include <cstdlib>
#include <cstring>
#include <thread>

#include "server/log.hpp"

namespace turnpike {

namespace {

int64_t mono_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

void Heartbeats::watch(const std::string& component, boost::asio::io_context& io) {
  auto b = std::make_unique<Beat>(io);
  b->component = component;
  b->last_alive_ms = mono_ms();
  arm(*b);
  beats_.push_back(std::move(b));
}

void Heartbeats::arm(Beat& b) {
  b.timer.expires_after(std::chrono::milliseconds(kHeartbeatPeriodMs));
  b.timer.async_wait([&b](const boost::system::error_code& ec) {
    if (ec) return;
    b.last_alive_ms.store(mono_ms(), std::memory_order_relaxed);
    arm(b);
  });
}

std::vector<HeartbeatStamp> Heartbeats::stamps() const {
  std::vector<HeartbeatStamp> out;
  out.reserve(beats_.size());
  for (const auto& b : beats_) out.push_back({b->component, b->last_alive_ms.load(std::memory_order_relaxed)});
  return out;
}

HealthVerdict Heartbeats::verdict() const {
  auto s = stamps();  // first: a stamp taken after `now` would read as silent for negative time
  return health_verdict(s, mono_ms());
}

bool Heartbeats::block(const std::string& component, std::chrono::milliseconds d) {
  for (auto& b : beats_) {
    if (b->component != component) continue;
    log::warn("test_fault_block", {log::str("component", component), log::num("ms", d.count())});
    boost::asio::post(b->io, [d] { std::this_thread::sleep_for(d); });
    return true;
  }
  return false;
}

bool test_fault_hooks_enabled() {
  const char* v = std::getenv("TURNPIKE_TEST_FAULT_HOOKS");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

}  // namespace turnpike
