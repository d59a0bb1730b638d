// diag::LifetimeProbe: how long the NAT (or stateful firewall) in front of this host keeps an idle
// UDP mapping, measured with RFC 5780 section 4.6, as a sans-I/O state machine.
//
// One trial: a fresh socket X sends a Binding request and learns its mapped address M; X then
// stays silent for a gap; the checker socket Y sends a Binding request with RESPONSE-PORT = M's
// port to the same server address; the server answers to (Y's public IP, M's port) from the
// address X talked to. If X receives it, X's mapping survived the gap; otherwise it expired.
//
// Trials run in parallel, each with its own X, in rounds: first the gaps min, 2 min, 4 min, ...,
// max; then (largest survived, smallest expired) is split into `split` gaps at a time until it is
// `precision` wide. Survival is proof and an expiry only the absence of an answer, so the bracket
// is (the longest gap any mapping survived, the shortest longer gap that expired). See
// diag/README.md for the details.
//
// The caller owns the UDP sockets: it opens one when asked (bound to the local address it chose,
// never the wildcard, so that "no NAT" can be told), reports its bound address with on_opened(),
// and loops:
//
//   for (;;) {
//     LifetimeAction a = probe.next_action(now_ms());
//     switch (a.kind) {
//       case Open:  open socket a.socket; probe.on_opened(a.socket, bound address or nullopt, now_ms()); break;
//       case Close: close socket a.socket; break;
//       case Send:  send a.bytes from socket a.socket to a.to; break;
//       case Wait:  wait for a datagram on any socket until a.until_ms; probe.on_datagram(...); break;
//       case Done:  return probe.report();
//     }
//   }
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "diag/lifetime_report.hpp"
#include "turn/address.hpp"
#include "turn/attributes.hpp"
#include "turn/message.hpp"

namespace diag {

// Sockets are numbered by the probe: 0 is the checker (Y), 1, 2, ... the trial sockets (X), each
// used once and never renumbered.
using LifetimeSocket = uint32_t;
constexpr LifetimeSocket kCheckerSocket = 0;

struct LifetimeConfig {
  turn::Endpoint server;           // the primary address (UDP) of an RFC 5780 server
  uint32_t min_ms = 1000;          // the shortest gap of the first round
  uint32_t max_ms = 600000;        // the longest gap tried; surviving it means "longer than max"
  uint32_t precision_ms = 500;     // stop when (survived, expired] is at most this wide
  uint32_t parallel = 10;          // trial sockets open at once (the checker is one more)
  uint32_t split = 7;              // gaps per refining round (at most `parallel`)
  // Make each mapping an established flow before the silence: a second Binding
  // `established_after_ms` after the first (Linux conntrack then uses its "stream" UDP timeout).
  bool established = false;
  uint32_t established_after_ms = 2500;
  uint32_t timeout_ms = 3000;      // budget of one Binding exchange, retransmissions included
  uint32_t initial_rto_ms = 0;     // 0: timeout_ms / 12, within [10, 500]
  uint32_t max_attempts = 7;       // transmissions per Binding exchange
  uint32_t check_attempts = 3;     // RESPONSE-PORT requests per check (a lost one is not an expiry)
  uint32_t check_interval_ms = 0;  // between them; 0: 2 RTT + 50 ms, within [100, 1000]
  uint32_t check_wait_ms = 0;      // for an answer after the last one; 0: 4 RTT + 300 ms, within [500, 3000]
  uint32_t max_trials = 150;       // trials started in all, retries included
  uint32_t deadline_ms = 0;        // the whole run; 0: 8 * max_ms + 120 s
  // Transaction ids (one per transmission); default: 96 random bits from OpenSSL's CSPRNG.
  std::function<turn::stun::TransactionId()> new_transaction_id;
  // Human-readable progress ("gap 8 s: expired; searching 4..8 s"), or nothing.
  std::function<void(const std::string&)> progress;
};

struct LifetimeAction {
  enum class Kind : uint8_t { Open, Close, Send, Wait, Done };
  Kind kind = Kind::Wait;
  LifetimeSocket socket = 0;  // Open, Close, Send
  turn::Endpoint to;          // Send
  std::vector<uint8_t> bytes;  // Send
  int64_t until_ms = 0;        // Wait: call next_action() again by then, or when something arrives
};

class LifetimeProbe {
 public:
  explicit LifetimeProbe(LifetimeConfig cfg);

  LifetimeAction next_action(int64_t now_ms);
  // The socket asked for by an Open action is bound to `local` (nullopt: it could not be opened).
  void on_opened(LifetimeSocket socket, const std::optional<turn::Endpoint>& local, int64_t now_ms);
  void on_datagram(LifetimeSocket socket, const turn::Endpoint& from, std::span<const uint8_t> bytes,
                   int64_t now_ms);

  // Stop now (Ctrl-C): the result is what the trials showed so far.
  void interrupt(int64_t now_ms);

  bool done() const { return finished_ && queue_.empty(); }
  const LifetimeReport& report() const { return report_; }

 private:
  enum class Kind : uint8_t { CheckerBinding, TrialBinding, Check, Liveness };
  struct Pending {
    Kind kind;
    uint32_t trial;     // index into trials_ (Check, TrialBinding, Liveness)
    uint32_t attempt;   // Check: index into the trial's attempts
    int64_t sent_ms;
  };
  // A request retransmitted RFC 8489 style (each transmission with its own transaction id, so
  // that an answer tells which one it answers).
  struct Exchange {
    bool active = false;
    bool started = false;
    int64_t next_ms = 0, deadline_ms = 0;
    uint32_t rto_ms = 0, sent = 0;
  };
  struct Attempt {
    turn::stun::TransactionId txid{};
    int64_t sent_ms = 0;
    bool inconclusive = false;  // refused as rate-limited, or answered to Y: says nothing about X
  };
  enum class Phase : uint8_t { Opening, Binding, Warming, Silent, Checking, Liveness, Done };
  struct Trial {
    LifetimeSocket socket = 0;
    uint32_t gap_ms = 0;   // planned
    bool control = false;  // the setup's check right after the Binding
    Phase phase = Phase::Opening;
    std::optional<turn::Endpoint> local, mapped;
    Exchange binding;
    uint32_t bindings = 0;  // answered Binding exchanges
    int64_t quiet_since_ms = 0, warm_at_ms = 0, check_at_ms = 0, window_end_ms = 0;
    uint32_t rtt_ms = 0;
    std::vector<Attempt> attempts;
    uint32_t postponed = 0;
    Exchange liveness;
    uint32_t requests = 0;
  };
  enum class Stage : uint8_t { Setup, Search, Finished };

  void tick(int64_t now_ms);
  void tick_trial(uint32_t index, int64_t now_ms);
  void tick_binding(uint32_t index, int64_t now_ms);
  void tick_check(uint32_t index, int64_t now_ms);
  void postpone_check(uint32_t index, int64_t now_ms);
  void tick_liveness(uint32_t index, int64_t now_ms);
  bool transmit(Exchange& e, int64_t now_ms);
  turn::stun::TransactionId send_binding(LifetimeSocket socket, Kind kind, uint32_t trial, uint32_t attempt,
                                         std::optional<uint16_t> response_port, int64_t now_ms);
  void start_trial(uint32_t gap_ms, bool control, int64_t now_ms);
  void schedule_check(Trial& t);
  void forget(uint32_t trial, bool checks_only);
  void decide(uint32_t index, bool survived, uint32_t gap_ms, int64_t now_ms);
  void fail_trial(uint32_t index, const std::string& why, int64_t now_ms);
  void end_trial(uint32_t index, int64_t now_ms);
  void setup_progress(int64_t now_ms);
  void plan(int64_t now_ms);
  void cancel_decided(uint32_t lo, std::optional<uint32_t> hi, int64_t now_ms);
  uint32_t launch_queued(uint32_t room, int64_t now_ms);
  void refine(uint32_t lo, std::optional<uint32_t> hi, uint32_t room, int64_t now_ms);
  std::optional<uint32_t> split_top(uint32_t lo, std::optional<uint32_t> hi) const;
  bool running_between(uint32_t lo, uint32_t top) const;
  uint32_t budget(uint32_t free) const;  // trials that may start with `free` sockets
  void launch(const std::vector<uint32_t>& gaps, int64_t now_ms);
  void finish(LifetimeResult result, const std::string& error, int64_t now_ms);
  void conclude(int64_t now_ms, const std::string& why);  // finish with whatever the trials show
  void note(const std::string& text);
  void say(const std::string& text);
  void heartbeat(int64_t now_ms);
  int64_t wake() const;
  uint32_t running() const;
  uint32_t interval_ms(const Trial& t) const;
  uint32_t wait_ms(const Trial& t) const;
  uint32_t check_requests(const Trial& t) const;  // RESPONSE-PORT requests per check

  // An answer to a pending request: decoded once, then handled by its kind.
  struct Answer;
  void on_answer(const Pending& p, LifetimeSocket socket, const turn::stun::Message& m, int64_t now_ms);
  void on_checker_binding(LifetimeSocket socket, const Answer& a, int64_t now_ms);
  void on_trial_binding(const Pending& p, LifetimeSocket socket, const Answer& a, int64_t now_ms);
  void on_check(const Pending& p, LifetimeSocket socket, const Answer& a, int64_t now_ms);
  void on_check_at_checker(const Pending& p, const Answer& a, int64_t now_ms);
  void on_liveness(const Pending& p, LifetimeSocket socket, int64_t now_ms);
  void malformed();                                  // an answer of ours that does not decode
  void take_software(const turn::stun::Message& m);  // the first answer's SOFTWARE
  void refused(const turn::stun::ErrorCode& ec, int64_t now_ms);  // a Binding refused: the run ends

  LifetimeConfig cfg_;
  LifetimeReport report_;
  Stage stage_ = Stage::Setup;
  bool finished_ = false;
  int64_t start_ms_ = 0, deadline_ms_ = 0, last_answer_ms_ = 0;
  bool started_ = false;
  std::deque<LifetimeAction> queue_;
  std::map<turn::stun::TransactionId, Pending> pending_;
  std::vector<Trial> trials_;
  LifetimeSocket next_socket_ = 1;
  // The checker (Y).
  bool checker_open_ = false;
  bool checker_opening_ = false;
  Exchange checker_binding_;
  std::optional<turn::Endpoint> checker_local_;
  bool malformed_seen_ = false;
  // The search.
  std::vector<uint32_t> queued_;  // gaps waiting for a free socket, ascending
  uint32_t launched_ = 0;
  uint32_t binding_failures_in_a_row_ = 0, liveness_failures_ = 0;
  bool setup_announced_ = false, inconsistent_noted_ = false, below_min_noted_ = false;
  bool said_ = false;  // progress since the last heartbeat check
  int64_t last_said_ms_ = 0;
};

}  // namespace diag
