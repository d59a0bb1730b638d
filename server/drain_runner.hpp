// Drain wiring (server/drain.hpp holds the policy): SIGTERM or POST /api/v1/drain starts a drain
// (readyz 503, new Allocates and SFU joins go elsewhere); a timer on the main thread watches the
// allocations and participants left and stops the main loop when they are gone or the grace ends.
// SIGINT, or a second SIGTERM, stops at once.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <memory>
#include <mutex>
#include <vector>

#include "server/config.hpp"
#include "server/drain.hpp"
#include "server/sfu_host.hpp"
#include "server/shard.hpp"
#include "server/shared_state.hpp"

namespace turnpike {

class DrainRunner {
 public:
  DrainRunner(boost::asio::io_context& main_io, const Config& cfg, SharedState& shared,
              const std::vector<std::unique_ptr<Shard>>& shards, const SfuHost* sfu);
  // Handles SIGTERM (drain, then stop at once) and SIGINT (stop at once) from now on.
  void watch_signals();
  // Starts the drain; from any thread. The status as POST /api/v1/drain reports it, with
  // "started": false when a drain was already under way.
  nlohmann::json start(const char* cause);
  // How the allocations still live when the main loop stopped end: drain_timeout after a drain
  // whose grace ran out, else shutdown.
  turn::EndReason end_reason() const;

 private:
  void on_signal(int sig);
  void arm_timer();
  void check();
  uint64_t allocations() const;
  uint64_t participants() const;
  nlohmann::json status_locked(int64_t now_ms) const;

  boost::asio::io_context& io_;
  const Config& cfg_;
  SharedState& shared_;
  const std::vector<std::unique_ptr<Shard>>& shards_;
  const SfuHost* sfu_;
  std::vector<turn::TurnUri> alternates_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer timer_;
  mutable std::mutex mu_;
  DrainPolicy policy_;
  bool timed_out_ = false;
};

}  // namespace turnpike
