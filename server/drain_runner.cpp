// Drain wiring (server/drain_runner.hpp).
#include "server/drain_runner.hpp"

#include <boost/asio/post.hpp>

#include <csignal>

#include "server/log.hpp"
#include "server/notify.hpp"

namespace turnpike {

namespace {

constexpr auto kCheckEvery = std::chrono::milliseconds(100);  // exit within this of the last allocation
constexpr int64_t kProgressEveryMs = 5000;                     // one drain_progress line this often

std::string uri_list(const std::vector<turn::TurnUri>& uris) {
  std::string out;
  for (const auto& u : uris) {
    auto ep = u.endpoint();
    out += (out.empty() ? "" : " ") + std::string(u.secure ? "turns:" : "turn:") + (ep ? ep->to_string() : u.host);
    if (u.proto != turn::TurnUri::Proto::Unspecified)
      out += u.proto == turn::TurnUri::Proto::Udp ? "?transport=udp" : "?transport=tcp";
  }
  return out;
}

std::vector<turn::Endpoint> listen_endpoints(const Config& cfg) {
  std::vector<turn::Endpoint> out;
  for (const auto& l : cfg.listen) out.push_back(l.endpoint);
  return out;
}

}  // namespace

DrainRunner::DrainRunner(boost::asio::io_context& main_io, const Config& cfg, SharedState& shared,
                         const std::vector<std::unique_ptr<Shard>>& shards, const SfuHost* sfu)
    : io_(main_io),
      cfg_(cfg),
      shared_(shared),
      shards_(shards),
      sfu_(sfu),
      alternates_(drain_alternates(cfg.drain, cfg.residency, listen_endpoints(cfg))),
      signals_(main_io, SIGINT, SIGTERM),
      timer_(main_io),
      policy_(cfg.drain.grace_seconds) {}

void DrainRunner::watch_signals() {
  signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (!ec) on_signal(sig);
  });
}

void DrainRunner::on_signal(int sig) {
  if (sig == SIGTERM && start("SIGTERM").value("started", false)) return watch_signals();
  // SIGINT, or SIGTERM during a drain: stop at once (every allocation ends with `shutdown`).
  shared_.state = SharedState::State::Draining;
  log::info("stopping", {log::num("signal", sig)});
  notify::stopping("stopping on signal " + std::to_string(sig));
  io_.stop();
}

nlohmann::json DrainRunner::start(const char* cause) {
  uint64_t allocs = allocations(), parts = participants();
  std::lock_guard lock(mu_);
  int64_t now_ms = now().mono_ms;
  if (!policy_.start(now_ms)) {
    auto s = status_locked(now_ms);
    s["started"] = false;
    return s;
  }
  shared_.state = SharedState::State::Draining;
  notify::stopping(std::string("draining (") + cause + ")");
  for (const auto& s : shards_) s->set_drain(alternates_);
  log::info("drain_started", {log::str("cause", cause), log::num("allocations", static_cast<long long>(allocs)),
                              log::num("participants", static_cast<long long>(parts)),
                              log::num("grace_seconds", cfg_.drain.grace_seconds),
                              log::str("alternate_urls", uri_list(alternates_)),
                              log::str("signal_url", cfg_.drain.signal_url)});
  boost::asio::post(io_, [this] { arm_timer(); });
  auto s = status_locked(now_ms);
  s["started"] = true;
  return s;
}

void DrainRunner::arm_timer() {
  timer_.expires_after(kCheckEvery);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) check();
  });
}

void DrainRunner::check() {
  uint64_t allocs = allocations(), parts = participants();
  std::lock_guard lock(mu_);
  int64_t now_ms = now().mono_ms;
  auto step = policy_.step(allocs, parts, now_ms);
  if (step == DrainPolicy::Step::Wait) {
    if (policy_.progress_due(now_ms, kProgressEveryMs))
      log::info("drain_progress", {log::num("allocations", static_cast<long long>(allocs)),
                                   log::num("participants", static_cast<long long>(parts)),
                                   log::num("seconds_left", (policy_.deadline_ms() - now_ms + 999) / 1000)});
    return arm_timer();
  }
  if (step != DrainPolicy::Step::Done && step != DrainPolicy::Step::TimedOut) return;
  timed_out_ = step == DrainPolicy::Step::TimedOut;
  log::info("drain_done", {log::str("outcome", timed_out_ ? "grace_expired" : "empty"),
                           log::num("allocations", static_cast<long long>(allocs)),
                           log::num("participants", static_cast<long long>(parts)),
                           log::num("seconds", (now_ms - policy_.started_ms()) / 1000)});
  io_.stop();
}

turn::EndReason DrainRunner::end_reason() const {
  std::lock_guard lock(mu_);
  return timed_out_ ? turn::EndReason::DrainTimeout : turn::EndReason::Shutdown;
}

uint64_t DrainRunner::allocations() const {
  uint64_t n = 0;
  for (const auto& s : shards_) n += s->allocation_count();
  return n;
}

uint64_t DrainRunner::participants() const { return sfu_ ? sfu_->stats().participants.get() : 0; }

nlohmann::json DrainRunner::status_locked(int64_t now_ms) const {
  return {{"status", policy_.draining() ? "draining" : "ready"},
          {"allocations", allocations()},
          {"participants", participants()},
          {"grace_seconds", cfg_.drain.grace_seconds},
          {"seconds_left", std::max<int64_t>(0, (policy_.deadline_ms() - now_ms + 999) / 1000)}};
}

}  // namespace turnpike
