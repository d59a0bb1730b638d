// The slower probes of `turnpike-diag probe`: the NAT class (diag::NatProbe) every --nat-every and
// the binding lifetime (diag::LifetimeProbe) every --lifetime-every, run one at a time on a worker
// thread (they block on their own sockets for seconds to minutes) while the rounds go on; poll()
// moves a finished run's result into the ProbeState the metrics and reports read.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "diag/cli.hpp"
#include "diag/probe_report.hpp"
#include "turn/address.hpp"

namespace diag {

class SlowProbes {
 public:
  SlowProbes() = default;
  ~SlowProbes();
  SlowProbes(const SlowProbes&) = delete;
  SlowProbes& operator=(const SlowProbes&) = delete;

  void configure(const ProbeOptions& o, const turn::Endpoint& server, const turn::IpAddress& local_ip);
  // Starts what is due when the worker is free; copies a finished result into `state`.
  void poll(ProbeState& state, int64_t now_ms);
  // The process is ending: a lifetime search in progress is interrupted and waited for (2 s at
  // most); false when the worker is still busy then (a NAT run: the caller exits without waiting).
  bool stop();

 private:
  SlowSchedule schedule_;
  turn::Endpoint server_;
  turn::IpAddress local_ip_;
  uint32_t timeout_ms_ = 3000, lifetime_max_ms_ = 120000;

 public:
  // Shared with the worker, which may outlive this object (detached at exit).
  struct Results {
    std::atomic<bool> busy{false};
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::optional<ProbeNat> nat;                    // a finished NAT run, not yet copied
    std::optional<std::optional<double>> lifetime;  // a finished lifetime run: seconds, or nullopt (longer than max)
  };

 private:
  std::shared_ptr<Results> results_ = std::make_shared<Results>();
  std::thread worker_;
};

}  // namespace diag
