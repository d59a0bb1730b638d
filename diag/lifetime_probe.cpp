// diag::LifetimeProbe, the trial state machine (diag/lifetime_probe_impl.hpp says where the rest
// is): opening sockets, the Binding exchanges and their retransmissions, each trial's phases up to
// its check and liveness Binding, and when to wake up next.
#include "diag/lifetime_probe.hpp"

#include <algorithm>
#include <limits>

#include "diag/lifetime_probe_impl.hpp"
#include "turn/attributes.hpp"
#include "turn/crypto.hpp"

namespace diag {

using turn::Endpoint;
namespace stun = turn::stun;
using namespace lifetime_impl;

namespace {
stun::TransactionId random_txid() {
  stun::TransactionId id;
  turn::crypto::random_bytes(id);
  return id;
}
}  // namespace

LifetimeProbe::LifetimeProbe(LifetimeConfig cfg) : cfg_(std::move(cfg)) {
  if (!cfg_.new_transaction_id) cfg_.new_transaction_id = random_txid;
  cfg_.precision_ms = std::max<uint32_t>(cfg_.precision_ms, 10);
  cfg_.min_ms = std::max<uint32_t>(cfg_.min_ms, 10);
  cfg_.max_ms = std::max(cfg_.max_ms, cfg_.min_ms);
  cfg_.parallel = std::clamp<uint32_t>(cfg_.parallel, 1, 256);
  cfg_.split = std::clamp<uint32_t>(cfg_.split, 1, cfg_.parallel);
  cfg_.timeout_ms = std::max<uint32_t>(cfg_.timeout_ms, 10);
  if (cfg_.initial_rto_ms == 0) cfg_.initial_rto_ms = std::clamp<uint32_t>(cfg_.timeout_ms / 12, 10, 500);
  cfg_.max_attempts = std::max<uint32_t>(cfg_.max_attempts, 1);
  cfg_.check_attempts = std::clamp<uint32_t>(cfg_.check_attempts, 1, 16);
  cfg_.max_trials = std::max<uint32_t>(cfg_.max_trials, 1);
  report_.server = cfg_.server;
  report_.min_ms = cfg_.min_ms;
  report_.max_ms = cfg_.max_ms;
  report_.precision_ms = cfg_.precision_ms;
  report_.established = cfg_.established;
  // The first round: min, 2 min, 4 min, ... below max, and max.
  for (uint64_t g = cfg_.min_ms; g < cfg_.max_ms; g *= 2) queued_.push_back(static_cast<uint32_t>(g));
  queued_.push_back(cfg_.max_ms);
}

void LifetimeProbe::say(const std::string& text) {
  said_ = true;
  if (cfg_.progress) cfg_.progress(text);
}

void LifetimeProbe::note(const std::string& text) {
  if (std::find(report_.notes.begin(), report_.notes.end(), text) == report_.notes.end()) report_.notes.push_back(text);
}

uint32_t LifetimeProbe::running() const {
  uint32_t n = 0;
  for (const Trial& t : trials_) n += t.phase != Phase::Done;
  return n;
}

uint32_t LifetimeProbe::interval_ms(const Trial& t) const {
  return cfg_.check_interval_ms ? cfg_.check_interval_ms : std::clamp<uint32_t>(2 * t.rtt_ms + 50, 100, 1000);
}

uint32_t LifetimeProbe::wait_ms(const Trial& t) const {
  uint32_t w = cfg_.check_wait_ms ? cfg_.check_wait_ms : std::clamp<uint32_t>(4 * t.rtt_ms + 300, 500, 3000);
  // The control check proves RESPONSE-PORT works at all: give it a whole Binding budget.
  return t.control ? std::max(w, cfg_.timeout_ms) : w;
}

LifetimeAction LifetimeProbe::next_action(int64_t now_ms) {
  if (!started_) {
    started_ = true;
    start_ms_ = last_answer_ms_ = last_said_ms_ = now_ms;
    int64_t bound = cfg_.deadline_ms ? cfg_.deadline_ms : 8 * int64_t{cfg_.max_ms} + 120000;
    deadline_ms_ = now_ms + bound;
    checker_opening_ = true;
    queue_.push_back(LifetimeAction{LifetimeAction::Kind::Open, kCheckerSocket, {}, {}, 0});
    start_trial(0, true, now_ms);
  }
  tick(now_ms);
  if (!queue_.empty()) {
    LifetimeAction a = std::move(queue_.front());
    queue_.pop_front();
    return a;
  }
  if (finished_) return LifetimeAction{LifetimeAction::Kind::Done, 0, {}, {}, 0};
  return LifetimeAction{LifetimeAction::Kind::Wait, 0, {}, {}, std::max(wake(), now_ms)};
}

void LifetimeProbe::interrupt(int64_t now_ms) {
  if (finished_) return;
  note("interrupted after " + shown_seconds(now_ms - start_ms_) + " s: the result is what the trials showed so far");
  if (stage_ == Stage::Setup) {
    finish(LifetimeResult::Error, "interrupted before the measurement started", now_ms);
    return;
  }
  conclude(now_ms, "interrupted");
}

bool LifetimeProbe::transmit(Exchange& e, int64_t now_ms) {
  if (!e.active) return false;
  if (!e.started) {
    e.started = true;
    e.next_ms = now_ms;
    e.deadline_ms = now_ms + cfg_.timeout_ms;
    e.rto_ms = cfg_.initial_rto_ms;
  }
  if (now_ms >= e.deadline_ms || e.sent >= cfg_.max_attempts || now_ms < e.next_ms) return false;
  ++e.sent;
  e.next_ms = now_ms + e.rto_ms;
  e.rto_ms *= 2;
  return true;
}

static bool spent(const auto& e, int64_t now_ms) { return e.active && e.started && now_ms >= e.deadline_ms; }

stun::TransactionId LifetimeProbe::send_binding(LifetimeSocket socket, Kind kind, uint32_t trial, uint32_t attempt,
                                                std::optional<uint16_t> response_port, int64_t now_ms) {
  stun::TransactionId txid = cfg_.new_transaction_id();
  uint8_t buf[128];
  stun::Builder b(buf, stun::Method::Binding, stun::Class::Request, txid);
  // RFC 5780 7.5: the port, then two bytes of padding.
  if (response_port) b.add_u32(stun::attr::ResponsePort, uint32_t{*response_port} << 16);
  b.add(stun::attr::Software, kSoftware);
  b.add_fingerprint();
  queue_.push_back(LifetimeAction{LifetimeAction::Kind::Send, socket, cfg_.server,
                                  std::vector<uint8_t>(b.bytes().begin(), b.bytes().end()), 0});
  pending_[txid] = Pending{kind, trial, attempt, now_ms};
  ++report_.requests;
  return txid;
}

void LifetimeProbe::start_trial(uint32_t gap_ms, bool control, int64_t) {
  Trial t;
  t.socket = next_socket_++;
  t.gap_ms = gap_ms;
  t.control = control;
  trials_.push_back(std::move(t));
  queue_.push_back(LifetimeAction{LifetimeAction::Kind::Open, trials_.back().socket, {}, {}, 0});
}

void LifetimeProbe::on_opened(LifetimeSocket socket, const std::optional<Endpoint>& local, int64_t now_ms) {
  if (finished_) return;
  if (!local) {
    finish(LifetimeResult::Error, "cannot open a UDP socket", now_ms);
    return;
  }
  if (socket == kCheckerSocket) {
    if (!checker_opening_) return;
    checker_opening_ = false;
    checker_open_ = true;
    checker_binding_.active = true;
    return;
  }
  for (Trial& t : trials_) {
    if (t.socket != socket || t.phase != Phase::Opening) continue;
    t.local = local;
    t.phase = Phase::Binding;
    t.binding.active = true;
    return;
  }
}

void LifetimeProbe::schedule_check(Trial& t) {
  t.check_at_ms = t.quiet_since_ms + t.gap_ms - std::min(t.rtt_ms, t.gap_ms);
}

void LifetimeProbe::forget(uint32_t index, bool checks_only) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    const Pending& p = it->second;
    bool mine = p.kind != Kind::CheckerBinding && p.trial == index && (!checks_only || p.kind == Kind::Check);
    it = mine ? pending_.erase(it) : std::next(it);
  }
}

void LifetimeProbe::tick(int64_t now_ms) {
  if (finished_) return;
  if (now_ms >= deadline_ms_) {
    note("the run reached its time bound (" + shown_seconds(deadline_ms_ - start_ms_) + " s)");
    if (stage_ == Stage::Setup) finish(LifetimeResult::Unreachable, "no answer within the time bound", now_ms);
    else conclude(now_ms, "the time bound");
    return;
  }
  if (stage_ == Stage::Setup && checker_open_ && !report_.checker_mapped) {
    if (transmit(checker_binding_, now_ms)) {
      send_binding(kCheckerSocket, Kind::CheckerBinding, 0, 0, std::nullopt, now_ms);
    } else if (spent(checker_binding_, now_ms)) {
      checker_binding_.active = false;
      if (malformed_seen_) finish(LifetimeResult::Error, "the server's Binding answers are malformed", now_ms);
      else finish(LifetimeResult::Unreachable, "no answer from " + cfg_.server.to_string() +
                                                   " to a Binding request (UDP blocked, or no STUN server there)", now_ms);
      return;
    }
  }
  for (uint32_t i = 0; i < trials_.size() && !finished_; ++i) tick_trial(i, now_ms);
  if (!finished_ && stage_ == Stage::Search) plan(now_ms);
  if (!finished_) heartbeat(now_ms);
}

// One trial's next step, by its phase (RFC 5780 4.6: Binding, silence, RESPONSE-PORT check).
void LifetimeProbe::tick_trial(uint32_t i, int64_t now_ms) {
  Trial& t = trials_[i];
  switch (t.phase) {
    case Phase::Opening:
    case Phase::Done: return;
    case Phase::Warming:
      if (now_ms < t.warm_at_ms) return;
      t.phase = Phase::Binding;
      t.binding = Exchange{};
      t.binding.active = true;
      return tick_binding(i, now_ms);
    case Phase::Binding: return tick_binding(i, now_ms);
    case Phase::Silent:
      if (!report_.checker_mapped || now_ms < t.check_at_ms) return;
      t.phase = Phase::Checking;
      t.attempts.clear();
      return tick_check(i, now_ms);
    case Phase::Checking: return tick_check(i, now_ms);
    case Phase::Liveness: return tick_liveness(i, now_ms);
  }
}

// X's Binding (Test I), retransmitted within its budget; unanswered, the trial fails (the setup's
// first trial: the run ends).
void LifetimeProbe::tick_binding(uint32_t i, int64_t now_ms) {
  Trial& t = trials_[i];
  if (transmit(t.binding, now_ms)) {
    send_binding(t.socket, Kind::TrialBinding, i, 0, std::nullopt, now_ms);
    return;
  }
  if (!spent(t.binding, now_ms)) return;
  t.binding.active = false;
  if (t.control) {
    finish(malformed_seen_ ? LifetimeResult::Error : LifetimeResult::Unreachable,
           malformed_seen_ ? "the server's Binding answers are malformed"
                           : "no answer from " + cfg_.server.to_string() +
                                 " to a Binding request (UDP blocked, or no STUN server there)",
           now_ms);
    return;
  }
  if (++binding_failures_in_a_row_ >= kBindingFailuresToStop) {
    finish(LifetimeResult::Unreachable, "the server stopped answering Binding requests", now_ms);
    return;
  }
  fail_trial(i, "no answer to its Binding request", now_ms);
}

uint32_t LifetimeProbe::check_requests(const Trial& t) const {
  return t.control ? cfg_.check_attempts + 1 : cfg_.check_attempts;
}

// The check: Y's RESPONSE-PORT requests `interval_ms` apart, then `wait_ms` for an answer at X.
void LifetimeProbe::tick_check(uint32_t i, int64_t now_ms) {
  Trial& t = trials_[i];
  const uint32_t n = check_requests(t);
  if (t.attempts.size() < n && (t.attempts.empty() || now_ms >= t.attempts.back().sent_ms + interval_ms(t))) {
    t.attempts.push_back(Attempt{{}, now_ms, false});
    const auto attempt = static_cast<uint32_t>(t.attempts.size() - 1);
    t.attempts.back().txid = send_binding(kCheckerSocket, Kind::Check, i, attempt, t.mapped->port, now_ms);
    ++t.requests;
    if (t.attempts.size() == n) t.window_end_ms = now_ms + wait_ms(t);
    return;
  }
  if (t.attempts.size() < n || now_ms < t.window_end_ms) return;
  // The window is over and nothing reached X.
  auto silent = std::find_if(t.attempts.begin(), t.attempts.end(), conclusive);
  if (silent == t.attempts.end()) return postpone_check(i, now_ms);
  if (last_answer_ms_ > silent->sent_ms) {  // the server answered something since: it is alive
    decide(i, false, gap_of(t.quiet_since_ms, t.rtt_ms, silent->sent_ms), now_ms);
    return;
  }
  // Nothing at all from the server since the check began: ask it something plain first.
  t.phase = Phase::Liveness;
  t.liveness = Exchange{};
  t.liveness.active = true;
  tick_liveness(i, now_ms);
}

// Every request of a check was refused as rate-limited (or answered to Y): X's mapping was not
// touched, so the same trial checks again a little later, with a longer gap.
void LifetimeProbe::postpone_check(uint32_t i, int64_t now_ms) {
  Trial& t = trials_[i];
  forget(i, true);
  t.attempts.clear();
  if (t.postponed >= kMaxPostponements) {
    if (t.control)
      finish(LifetimeResult::Error, "the server keeps refusing RESPONSE-PORT requests as rate-limited", now_ms);
    else
      fail_trial(i, "the server kept refusing its RESPONSE-PORT requests as rate-limited", now_ms);
    return;
  }
  t.check_at_ms = now_ms + (int64_t{250} << std::min<uint32_t>(t.postponed, 4));
  ++t.postponed;
  t.phase = Phase::Silent;
}

// A plain Binding from Y after a check got no answer at X: is the server still there?
void LifetimeProbe::tick_liveness(uint32_t i, int64_t now_ms) {
  Trial& t = trials_[i];
  if (transmit(t.liveness, now_ms)) {
    send_binding(kCheckerSocket, Kind::Liveness, i, 0, std::nullopt, now_ms);
    return;
  }
  if (!spent(t.liveness, now_ms)) return;
  t.liveness.active = false;
  if (t.control || ++liveness_failures_ >= kLivenessFailuresToStop) {
    finish(LifetimeResult::Unreachable, "the server stopped answering", now_ms);
    return;
  }
  fail_trial(i, "the server did not answer the checker either", now_ms);
}

int64_t LifetimeProbe::wake() const {
  int64_t w = deadline_ms_;
  auto at = [&](int64_t v) { w = std::min(w, v); };
  if (stage_ == Stage::Search) at(last_said_ms_ + kHeartbeatMs);
  auto exchange = [&](const Exchange& e) {
    if (!e.active) return;
    if (!e.started) return at(0);
    at(e.deadline_ms);
    if (e.sent < cfg_.max_attempts) at(e.next_ms);
  };
  if (stage_ == Stage::Setup && checker_open_ && !report_.checker_mapped) exchange(checker_binding_);
  for (const Trial& t : trials_) {
    switch (t.phase) {
      case Phase::Opening:
      case Phase::Done: break;
      case Phase::Binding: exchange(t.binding); break;
      case Phase::Warming: at(t.warm_at_ms); break;
      case Phase::Silent:
        if (report_.checker_mapped) at(t.check_at_ms);
        break;
      case Phase::Checking: {
        const uint32_t n = check_requests(t);
        if (t.attempts.empty()) at(0);
        else if (t.attempts.size() < n) at(t.attempts.back().sent_ms + interval_ms(t));
        else at(t.window_end_ms);
        break;
      }
      case Phase::Liveness: exchange(t.liveness); break;
    }
  }
  return w;
}

}  // namespace diag
