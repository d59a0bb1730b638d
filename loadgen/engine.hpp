// The sans-I/O orchestrator of a load run: opens calls as the plan says (two TURN allocations
// each, every one its own "flow": one socket from a local address to the server), pairs them
// (each adds the other's relayed address as its peer), carries RTP-shaped media both ways,
// measures it, and turns it into a Report. The driver (main.cpp, net_*.cpp) owns the sockets and
// the clock: it implements FlowSink, feeds back what happens to flows and what they receive, and
// calls tick() at next_wakeup_us() or earlier.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "loadgen/media.hpp"
#include "loadgen/plan.hpp"
#include "loadgen/report.hpp"
#include "turn/address.hpp"

namespace loadgen {

// What the engine asks of the driver. Flow ids are the engine's; a flow is opened once and
// closed once.
class FlowSink {
 public:
  virtual ~FlowSink() = default;
  // Open a socket (a connected UDP socket, a TCP connection, TLS or DTLS on top) from local
  // address `local_index` (round-robin: the driver takes it modulo its list) to the server. The
  // driver answers with Engine::on_flow_opened or Engine::on_flow_failed (later or right away).
  virtual void open_flow(uint64_t flow, uint32_t local_index) = 0;
  // One datagram or one stream message for the server.
  virtual void send(uint64_t flow, std::span<const uint8_t> bytes) = 0;
  virtual void close_flow(uint64_t flow) = 0;
  // The driver's own CPU (user + system) since the last call, in % of one core.
  virtual double cpu_pct_since_last(int64_t now_us) = 0;
};

struct EngineConfig {
  PlanConfig plan;
  Profile profile = Profile::Audio;
  turn::Transport transport = turn::Transport::Udp;
  std::string user, password;        // long-term credentials, or
  std::string rest_secret;           // TURN REST: username "<unix + 86400>:loadgen<id>"
  int64_t start_unix = 0;            // wall clock at the run's start (REST usernames, meta)
  bool use_channels = true;
  bool relay_v6 = false;
  uint32_t lifetime_s = 600;
  size_t max_packet = 1200;
  int64_t interval_ms = 1000;
  uint64_t seed = 1;
  int64_t setup_timeout_ms = 20000;  // a call not set up by then fails ("setup", "timeout")
  int64_t media_timeout_ms = 5000;   // a call that receives nothing for this long fails
  int64_t close_wait_ms = 2000;      // at the end: how long Refresh(0) answers are awaited
  int64_t drain_ms = 2000;           // at the end: media stops, and the counters are read once every
                                     // direction received what it sent, or after this long at most
                                     // (a clean path ends it at once; a loaded machine may need it)
  uint32_t max_pending = 500;        // calls setting up at once (more wait: no burst of Allocates)
  int64_t rtcp_interval_ms = 0;      // > 0 (--rtcp): every this long, each call-direction's receiving
                                     // side sends its sender a plain RTCP receiver report (RFC 3550
                                     // 6.4.2) about the streams it receives, through both relays
  nlohmann::json meta = nlohmann::json::object();
};

// At most this many calls per engine (the CLI bounds the plan to the same).
inline constexpr uint32_t kEngineMaxCalls = 100000;

class Engine {
 public:
  // Throws std::invalid_argument when the plan asks for more than kEngineMaxCalls calls.
  Engine(EngineConfig cfg, FlowSink& sink);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // now_us: the driver's steady clock; the first call to tick() is the run's start.
  void on_flow_opened(uint64_t flow, int64_t now_us);
  void on_flow_failed(uint64_t flow, const std::string& reason, int64_t now_us);
  void on_receive(uint64_t flow, std::span<const uint8_t> bytes, int64_t now_us);
  void tick(int64_t now_us);
  // When tick() next has something to do (now or in the past: call it right away).
  int64_t next_wakeup_us() const;
  // Ends the run early (SIGINT/SIGTERM): calls close as at the plan's end.
  void stop(int64_t now_us);
  // True once every call is closed (or the close wait ran out) after the end.
  bool done() const;
  // The report (call once done()).
  Report finish();

  // Live figures for the progress line.
  struct Progress {
    double t_s = 0;
    uint32_t step = 0, offered = 0, calls_up = 0, failures = 0;
    double mbps = 0, loss_pct = 0, jitter_p95_ms = 0, rtt_p50_ms = -1;
    bool closing = false;
  };
  // The last interval's sample, as progress.
  Progress progress() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace loadgen
