#include "diag/probe_slow.hpp"

#include <chrono>
#include <iostream>

#include "diag/net_util.hpp"

namespace diag {

SlowProbes::~SlowProbes() {
  if (worker_.joinable()) worker_.detach();  // stop() was not called: the process is ending anyway
}

void SlowProbes::configure(const ProbeOptions& o, const turn::Endpoint& server, const turn::IpAddress& local_ip) {
  schedule_.nat_every_ms = o.nat_every_ms;
  schedule_.lifetime_every_ms = o.lifetime_every_ms;
  server_ = server;
  local_ip_ = local_ip;
  timeout_ms_ = std::min<uint32_t>(o.timeout_ms, 3000);
  lifetime_max_ms_ = o.lifetime_max_ms;
}

namespace {
void run_slow(SlowSchedule::Due due, turn::Endpoint server, turn::IpAddress local_ip, uint32_t timeout_ms,
              uint32_t lifetime_max_ms, const std::shared_ptr<SlowProbes::Results>& out) {
  if (due == SlowSchedule::Due::Nat) {
    auto r = net::run_nat_once(server, local_ip, timeout_ms);
    std::lock_guard lock(out->mu);
    if (r) out->nat = probe_nat_of(*r);
  } else {
    LifetimeConfig cfg;
    cfg.server = server;
    cfg.max_ms = lifetime_max_ms;
    cfg.min_ms = std::min<uint32_t>(1000, lifetime_max_ms / 2);
    cfg.timeout_ms = timeout_ms;
    auto r = net::run_lifetime_once(cfg, local_ip, out->stop);
    std::lock_guard lock(out->mu);
    if (r && r->result == LifetimeResult::Measured && r->timeout_ms)
      out->lifetime = std::optional<double>(*r->timeout_ms / 1000.0);
    else if (r && r->result == LifetimeResult::LongerThanMax)
      out->lifetime = std::optional<double>();
  }
  out->busy = false;
}
}  // namespace

void SlowProbes::poll(ProbeState& state, int64_t now_ms) {
  {
    std::lock_guard lock(results_->mu);
    if (results_->nat) state.nat = *std::exchange(results_->nat, std::nullopt);
    if (results_->lifetime) {
      std::optional<double> v = *std::exchange(results_->lifetime, std::nullopt);
      state.binding_lifetime_s = v;
      state.binding_lifetime_longer = !v;
    }
  }
  if (results_->busy) return;
  SlowSchedule::Due due = schedule_.take(now_ms);
  if (due == SlowSchedule::Due::None) return;
  if (worker_.joinable()) worker_.join();
  results_->busy = true;
  worker_ = std::thread(run_slow, due, server_, local_ip_, timeout_ms_, lifetime_max_ms_, results_);
}

bool SlowProbes::stop() {
  if (!worker_.joinable()) return true;
  results_->stop = true;
  for (int i = 0; i < 200 && results_->busy; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (results_->busy) {
    worker_.detach();
    return false;
  }
  worker_.join();
  return true;
}

}  // namespace diag
