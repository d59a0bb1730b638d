#include "diag/lifetime_probe.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <limits>

#include "turn/attributes.hpp"
#include "turn/crypto.hpp"

namespace diag {

using turn::Endpoint;
namespace stun = turn::stun;

namespace {
constexpr const char* kSoftware = "turnpike-diag";
constexpr uint32_t kMaxPostponements = 6;     // of one check, when the server rate-limits RESPONSE-PORT
constexpr uint32_t kBindingFailuresToStop = 3;  // trials in a row whose Binding got no answer
constexpr uint32_t kLivenessFailuresToStop = 2;
constexpr uint64_t kHeartbeatMs = 30000;  // progress at least this often

stun::TransactionId random_txid() {
  stun::TransactionId id;
  turn::crypto::random_bytes(id);
  return id;
}

// XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS; `bad` set when the one present does not decode.
std::optional<Endpoint> mapped_of(const stun::Message& m, bool& bad) {
  if (const stun::RawAttribute* a = m.find(stun::attr::XorMappedAddress)) {
    auto v = stun::XorAddress::decode(a->value, m.transaction_id());
    if (!v) { bad = true; return std::nullopt; }
    return v->endpoint;
  }
  if (const stun::RawAttribute* a = m.find(stun::attr::MappedAddress)) {
    auto v = stun::PlainAddress::decode(a->value);
    if (!v) { bad = true; return std::nullopt; }
    return v->endpoint;
  }
  return std::nullopt;
}

std::optional<stun::ErrorCode> error_of(const stun::Message& m) {
  const stun::RawAttribute* a = m.find(stun::attr::ErrorCode);
  return a ? stun::ErrorCode::decode(a->value) : std::nullopt;
}

// Turnpike answers a RESPONSE-PORT request over its per-source limit with "400 Rate limited".
bool is_rate_limit(const stun::ErrorCode& ec) {
  if (ec.code != 400) return false;
  std::string r = ec.reason;
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r.find("rate limit") != std::string::npos;
}

// Text from the wire, safe to print and to put in JSON: valid UTF-8 without control characters
// is kept; any other byte becomes '?'.
std::string clean_text(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size();) {
    const auto c = static_cast<unsigned char>(in[i]);
    size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    bool ok = n > 0 && i + n <= in.size() && (n > 1 || (c >= 0x20 && c != 0x7f));
    uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
    for (size_t k = 1; ok && k < n; ++k) {
      const auto cc = static_cast<unsigned char>(in[i + k]);
      ok = (cc & 0xC0) == 0x80;
      cp = cp << 6 | (cc & 0x3F);
    }
    // No overlong forms, surrogates or code points beyond U+10FFFF.
    if (ok && n > 1)
      ok = cp >= (n == 2 ? 0x80u : n == 3 ? 0x800u : 0x10000u) && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
    if (ok) {
      out.append(in.substr(i, n));
      i += n;
    } else {
      out += '?';
      ++i;
    }
  }
  return out;
}

std::string error_text(const stun::ErrorCode& ec) { return std::to_string(ec.code) + " " + clean_text(ec.reason); }

uint32_t clamp32(uint64_t v) { return static_cast<uint32_t>(std::min<uint64_t>(v, UINT32_MAX)); }

// The silence the NAT saw before the answer to `a` reached it: from X's last answer passing the
// NAT (about when X got it) to Y's request going out, plus the way to the server and back.
uint32_t gap_of(uint64_t quiet_since, uint32_t rtt, uint64_t sent) {
  return clamp32((sent > quiet_since ? sent - quiet_since : 0) + rtt);
}

// The bracket: the longest gap a mapping survived, and the shortest longer one that expired.
// An answer proves survival; an expiry is only the absence of one, so survival wins a conflict.
std::pair<uint32_t, std::optional<uint32_t>> bracket_of(const std::vector<LifetimeTrial>& trials) {
  uint32_t lo = 0;
  for (const LifetimeTrial& t : trials)
    if (t.survived) lo = std::max(lo, t.gap_ms);
  std::optional<uint32_t> hi;
  for (const LifetimeTrial& t : trials)
    if (!t.survived && t.gap_ms > lo && (!hi || t.gap_ms < *hi)) hi = t.gap_ms;
  return {lo, hi};
}

constexpr auto conclusive = [](const auto& attempt) { return !attempt.inconclusive; };

std::string gap_list(const std::vector<uint32_t>& gaps) {
  std::string s;
  for (size_t i = 0; i < gaps.size(); ++i) s += (i ? ", " : "") + shown_seconds(gaps[i]);
  return s + " s";
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

// While nothing is decided for a while (long gaps), say what is being waited for.
void LifetimeProbe::heartbeat(uint64_t now) {
  if (said_) {
    said_ = false;
    last_said_ms_ = now;
  }
  if (stage_ != Stage::Search || now < last_said_ms_ + kHeartbeatMs) return;
  std::optional<uint64_t> next;
  uint32_t gap = 0;
  for (const Trial& t : trials_)
    if (t.phase == Phase::Silent && (!next || t.check_at_ms < *next)) {
      next = t.check_at_ms;
      gap = t.gap_ms;
    }
  const auto [lo, hi] = bracket_of(report_.trials);
  std::string s = "waiting";
  if (next)
    s += ": the next check (gap " + shown_seconds(gap) + " s) is in " +
         shown_seconds((*next > now ? *next - now : 0) / 1000 * 1000) + " s";
  s += hi ? "; searching " + shown_seconds(lo) + ".." + shown_seconds(*hi) + " s"
          : "; the timeout is longer than " + shown_seconds(lo) + " s";
  say(s);
  said_ = false;
  last_said_ms_ = now;
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

LifetimeAction LifetimeProbe::next_action(uint64_t now) {
  if (!started_) {
    started_ = true;
    start_ms_ = last_answer_ms_ = last_said_ms_ = now;
    uint64_t bound = cfg_.deadline_ms ? cfg_.deadline_ms : 8 * uint64_t{cfg_.max_ms} + 120000;
    deadline_ms_ = now + bound;
    checker_opening_ = true;
    queue_.push_back(LifetimeAction{LifetimeAction::Kind::Open, kCheckerSocket, {}, {}, 0});
    start_trial(0, true, now);
  }
  tick(now);
  if (!queue_.empty()) {
    LifetimeAction a = std::move(queue_.front());
    queue_.pop_front();
    return a;
  }
  if (finished_) return LifetimeAction{LifetimeAction::Kind::Done, 0, {}, {}, 0};
  return LifetimeAction{LifetimeAction::Kind::Wait, 0, {}, {}, std::max(wake(), now)};
}

void LifetimeProbe::interrupt(uint64_t now) {
  if (finished_) return;
  note("interrupted after " + shown_seconds(now - start_ms_) + " s: the result is what the trials showed so far");
  if (stage_ == Stage::Setup) {
    finish(LifetimeResult::Error, "interrupted before the measurement started", now);
    return;
  }
  conclude(now, "interrupted");
}

bool LifetimeProbe::transmit(Exchange& e, uint64_t now) {
  if (!e.active) return false;
  if (!e.started) {
    e.started = true;
    e.next_ms = now;
    e.deadline_ms = now + cfg_.timeout_ms;
    e.rto_ms = cfg_.initial_rto_ms;
  }
  if (now >= e.deadline_ms || e.sent >= cfg_.max_attempts || now < e.next_ms) return false;
  ++e.sent;
  e.next_ms = now + e.rto_ms;
  e.rto_ms *= 2;
  return true;
}

static bool spent(const auto& e, uint64_t now) { return e.active && e.started && now >= e.deadline_ms; }

stun::TransactionId LifetimeProbe::send_binding(LifetimeSocket socket, Kind kind, uint32_t trial, uint32_t attempt,
                                                std::optional<uint16_t> response_port, uint64_t now) {
  stun::TransactionId txid = cfg_.new_transaction_id();
  uint8_t buf[128];
  stun::Builder b(buf, stun::Method::Binding, stun::Class::Request, txid);
  // RFC 5780 7.5: the port, then two bytes of padding.
  if (response_port) b.add_u32(stun::attr::ResponsePort, uint32_t{*response_port} << 16);
  b.add(stun::attr::Software, kSoftware);
  b.add_fingerprint();
  queue_.push_back(LifetimeAction{LifetimeAction::Kind::Send, socket, cfg_.server,
                                  std::vector<uint8_t>(b.bytes().begin(), b.bytes().end()), 0});
  pending_[txid] = Pending{kind, trial, attempt, now};
  ++report_.requests;
  return txid;
}

void LifetimeProbe::start_trial(uint32_t gap_ms, bool control, uint64_t) {
  Trial t;
  t.socket = next_socket_++;
  t.gap_ms = gap_ms;
  t.control = control;
  trials_.push_back(std::move(t));
  queue_.push_back(LifetimeAction{LifetimeAction::Kind::Open, trials_.back().socket, {}, {}, 0});
}

void LifetimeProbe::on_opened(LifetimeSocket socket, const std::optional<Endpoint>& local, uint64_t now) {
  if (finished_) return;
  if (!local) {
    finish(LifetimeResult::Error, "cannot open a UDP socket", now);
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

void LifetimeProbe::tick(uint64_t now) {
  if (finished_) return;
  if (now >= deadline_ms_) {
    note("the run reached its time bound (" + shown_seconds(deadline_ms_ - start_ms_) + " s)");
    if (stage_ == Stage::Setup) finish(LifetimeResult::Unreachable, "no answer within the time bound", now);
    else conclude(now, "the time bound");
    return;
  }
  if (stage_ == Stage::Setup && checker_open_ && !report_.checker_mapped) {
    if (transmit(checker_binding_, now)) {
      send_binding(kCheckerSocket, Kind::CheckerBinding, 0, 0, std::nullopt, now);
    } else if (spent(checker_binding_, now)) {
      checker_binding_.active = false;
      if (malformed_seen_) finish(LifetimeResult::Error, "the server's Binding answers are malformed", now);
      else finish(LifetimeResult::Unreachable, "no answer from " + cfg_.server.to_string() +
                                                   " to a Binding request (UDP blocked, or no STUN server there)", now);
      return;
    }
  }
  for (uint32_t i = 0; i < trials_.size() && !finished_; ++i) tick_trial(i, now);
  if (!finished_ && stage_ == Stage::Search) plan(now);
  if (!finished_) heartbeat(now);
}

void LifetimeProbe::tick_trial(uint32_t i, uint64_t now) {
  Trial& t = trials_[i];
  switch (t.phase) {
    case Phase::Opening:
    case Phase::Done: return;
    case Phase::Warming:
      if (now < t.warm_at_ms) return;
      t.phase = Phase::Binding;
      t.binding = Exchange{};
      t.binding.active = true;
      [[fallthrough]];
    case Phase::Binding:
      if (transmit(t.binding, now)) {
        send_binding(t.socket, Kind::TrialBinding, i, 0, std::nullopt, now);
      } else if (spent(t.binding, now)) {
        t.binding.active = false;
        if (t.control) {
          finish(malformed_seen_ ? LifetimeResult::Error : LifetimeResult::Unreachable,
                 malformed_seen_ ? "the server's Binding answers are malformed"
                                 : "no answer from " + cfg_.server.to_string() +
                                       " to a Binding request (UDP blocked, or no STUN server there)",
                 now);
          return;
        }
        if (++binding_failures_in_a_row_ >= kBindingFailuresToStop) {
          finish(LifetimeResult::Unreachable, "the server stopped answering Binding requests", now);
          return;
        }
        fail_trial(i, "no answer to its Binding request", now);
      }
      return;
    case Phase::Silent:
      if (!report_.checker_mapped || now < t.check_at_ms) return;
      t.phase = Phase::Checking;
      t.attempts.clear();
      [[fallthrough]];
    case Phase::Checking: {
      const uint32_t n = t.control ? cfg_.check_attempts + 1 : cfg_.check_attempts;
      if (t.attempts.size() < n && (t.attempts.empty() || now >= t.attempts.back().sent_ms + interval_ms(t))) {
        t.attempts.push_back(Attempt{{}, now, false});
        const auto attempt = static_cast<uint32_t>(t.attempts.size() - 1);
        t.attempts.back().txid = send_binding(kCheckerSocket, Kind::Check, i, attempt, t.mapped->port, now);
        ++t.requests;
        if (t.attempts.size() == n) t.window_end_ms = now + wait_ms(t);
        return;
      }
      if (t.attempts.size() < n || now < t.window_end_ms) return;
      // The window is over and nothing reached X.
      auto silent = std::find_if(t.attempts.begin(), t.attempts.end(), conclusive);
      if (silent == t.attempts.end()) {
        // Every request was refused as rate-limited (or answered to Y): X's mapping was not
        // touched, so the same trial checks again a little later, with a longer gap.
        forget(i, true);
        t.attempts.clear();
        if (t.postponed >= kMaxPostponements) {
          if (t.control)
            finish(LifetimeResult::Error, "the server keeps refusing RESPONSE-PORT requests as rate-limited", now);
          else
            fail_trial(i, "the server kept refusing its RESPONSE-PORT requests as rate-limited", now);
          return;
        }
        t.check_at_ms = now + (uint64_t{250} << std::min<uint32_t>(t.postponed, 4));
        ++t.postponed;
        t.phase = Phase::Silent;
        return;
      }
      if (last_answer_ms_ > silent->sent_ms) {  // the server answered something since: it is alive
        decide(i, false, gap_of(t.quiet_since_ms, t.rtt_ms, silent->sent_ms), now);
        return;
      }
      // Nothing at all from the server since the check began: ask it something plain first.
      t.phase = Phase::Liveness;
      t.liveness = Exchange{};
      t.liveness.active = true;
      [[fallthrough]];
    }
    case Phase::Liveness:
      if (transmit(t.liveness, now)) {
        send_binding(kCheckerSocket, Kind::Liveness, i, 0, std::nullopt, now);
      } else if (spent(t.liveness, now)) {
        t.liveness.active = false;
        if (t.control || ++liveness_failures_ >= kLivenessFailuresToStop) {
          finish(LifetimeResult::Unreachable, "the server stopped answering", now);
          return;
        }
        fail_trial(i, "the server did not answer the checker either", now);
      }
      return;
  }
}

uint64_t LifetimeProbe::wake() const {
  uint64_t w = deadline_ms_;
  auto at = [&](uint64_t v) { w = std::min(w, v); };
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
        const uint32_t n = t.control ? cfg_.check_attempts + 1 : cfg_.check_attempts;
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

void LifetimeProbe::on_datagram(LifetimeSocket socket, const Endpoint& from, std::span<const uint8_t> bytes,
                                uint64_t now) {
  if (finished_) {
    ++report_.ignored_datagrams;
    return;
  }
  Trial* x = nullptr;
  if (socket != kCheckerSocket)
    for (Trial& t : trials_)
      if (t.socket == socket && t.phase != Phase::Done) x = &t;
  stun::Message m;
  bool ok = stun::Message::parse(bytes, m) == stun::ParseError::None && m.method() == stun::Method::Binding &&
            (m.cls() == stun::Class::Success || m.cls() == stun::Class::Error);
  auto it = ok ? pending_.find(m.transaction_id()) : pending_.end();
  if (it == pending_.end()) {
    ++report_.ignored_datagrams;
    // Whatever reaches a silent X from the server's address came through its mapping and re-armed
    // the NAT's timer: the silence starts again.
    if (x && x->phase == Phase::Silent && from == cfg_.server) {
      x->quiet_since_ms = now;
      schedule_check(*x);
    }
    return;
  }
  const Pending p = it->second;
  on_answer(p, socket, m, now);
}

// An answer to one of our requests, decoded once for the handler of its kind.
struct LifetimeProbe::Answer {
  const stun::Message& msg;
  bool error = false;                 // an error response
  std::optional<stun::ErrorCode> ec;  // error: its ERROR-CODE (nullopt: missing or malformed)
  bool bad = false;                   // success: the address attribute present does not decode
  std::optional<Endpoint> mapped;     // success: XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS
};

void LifetimeProbe::on_answer(const Pending& p, LifetimeSocket socket, const stun::Message& m, uint64_t now) {
  const bool error = m.cls() == stun::Class::Error;
  bool bad = false;
  std::optional<Endpoint> mapped = error ? std::nullopt : mapped_of(m, bad);
  const Answer a{m, error, error ? error_of(m) : std::nullopt, bad, std::move(mapped)};
  switch (p.kind) {
    case Kind::CheckerBinding: return on_checker_binding(socket, a, now);
    case Kind::TrialBinding: return on_trial_binding(p, socket, a, now);
    case Kind::Check: return on_check(p, socket, a, now);
    case Kind::Liveness: return on_liveness(p, socket, now);
  }
}

void LifetimeProbe::malformed() {
  malformed_seen_ = true;
  ++report_.ignored_datagrams;
}

void LifetimeProbe::take_software(const stun::Message& m) {
  if (!report_.software.empty()) return;
  if (const stun::RawAttribute* s = m.find(stun::attr::Software))
    if (auto v = stun::Text::decode(s->value, stun::kMaxSoftware)) report_.software = clean_text(v->value);
}

void LifetimeProbe::refused(const stun::ErrorCode& ec, uint64_t now) {
  report_.error_code = ec.code;
  report_.error_reason = clean_text(ec.reason);
  finish(LifetimeResult::Error, "the server refused a Binding request (" + error_text(ec) + ")", now);
}

// The checker's (Y's) own Binding: its mapped address.
void LifetimeProbe::on_checker_binding(LifetimeSocket socket, const Answer& a, uint64_t now) {
  if (socket != kCheckerSocket || stage_ != Stage::Setup || report_.checker_mapped) {
    ++report_.ignored_datagrams;
    return;
  }
  if (a.error ? !a.ec : (a.bad || !a.mapped)) return malformed();
  last_answer_ms_ = now;
  if (a.error) return refused(*a.ec, now);
  take_software(a.msg);
  report_.checker_mapped = a.mapped;
  checker_binding_.active = false;
  setup_progress(now);
}

// A trial socket's (X's) Binding: its mapping is made, the silence starts (or the flow is warmed first).
void LifetimeProbe::on_trial_binding(const Pending& p, LifetimeSocket socket, const Answer& a, uint64_t now) {
  Trial& t = trials_[p.trial];
  if (socket != t.socket) {
    ++report_.ignored_datagrams;
    return;
  }
  if (a.error ? !a.ec : (a.bad || !a.mapped)) return malformed();
  last_answer_ms_ = now;
  if (t.phase == Phase::Silent && !a.error) {  // a late answer to a retransmission: it re-armed the timer
    t.quiet_since_ms = now;
    schedule_check(t);
    return;
  }
  if (t.phase != Phase::Binding) {
    ++report_.ignored_datagrams;
    return;
  }
  if (a.error) return refused(*a.ec, now);
  take_software(a.msg);
  t.binding.active = false;
  const uint32_t rtt = clamp32(now - p.sent_ms);
  if (++t.bindings == 1) {
    t.mapped = a.mapped;
    t.rtt_ms = rtt;
    binding_failures_in_a_row_ = 0;
  } else if (*a.mapped != *t.mapped) {
    note("a mapping changed between the two Bindings of an established flow (" + t.mapped->to_string() + " then " +
         a.mapped->to_string() + ")");
    t.mapped = a.mapped;
  }
  if (cfg_.established && t.bindings == 1) {
    t.phase = Phase::Warming;
    t.warm_at_ms = now + cfg_.established_after_ms;
    return;
  }
  t.phase = Phase::Silent;
  t.quiet_since_ms = now;
  schedule_check(t);
  if (t.control) {
    report_.local = t.local;
    report_.mapped = t.mapped;
    report_.rtt_ms = t.rtt_ms;
    report_.no_nat = t.local && *t.local == *t.mapped;
    setup_progress(now);
  } else if (report_.checker_mapped && t.mapped->address != report_.checker_mapped->address) {
    finish(LifetimeResult::NotDelivered,
           "the NAT mapped one socket to " + t.mapped->address.to_string() + " and another to " +
               report_.checker_mapped->address.to_string() +
               " (several public IPs, no paired pooling): answers to RESPONSE-PORT cannot reach it",
           now);
  }
}

// A RESPONSE-PORT check: answered at X, the mapping survived; answered at Y, see on_check_at_checker.
void LifetimeProbe::on_check(const Pending& p, LifetimeSocket socket, const Answer& a, uint64_t now) {
  Trial& t = trials_[p.trial];
  if ((t.phase != Phase::Checking && t.phase != Phase::Liveness) || p.attempt >= t.attempts.size()) {
    ++report_.ignored_datagrams;
    return;
  }
  if (socket == t.socket) {
    // The answer Y asked for, at X: the mapping was still there. Errors go to Y, not here.
    if (a.error) {
      ++report_.ignored_datagrams;
      return;
    }
    last_answer_ms_ = now;
    decide(p.trial, true, gap_of(t.quiet_since_ms, t.rtt_ms, t.attempts[p.attempt].sent_ms), now);
    return;
  }
  if (socket != kCheckerSocket) {
    ++report_.ignored_datagrams;
    return;
  }
  if (a.error && !a.ec) return malformed();
  if (!a.error && a.bad) return malformed();
  last_answer_ms_ = now;
  on_check_at_checker(p, a, now);
}

// A check answered to Y itself: refused (rate limit, no RESPONSE-PORT), or not sent on to X's port.
void LifetimeProbe::on_check_at_checker(const Pending& p, const Answer& ans, uint64_t now) {
  Trial& t = trials_[p.trial];
  Attempt& a = t.attempts[p.attempt];
  if (ans.error) {
    const stun::ErrorCode& ec = *ans.ec;
    if (is_rate_limit(ec)) {
      if (!a.inconclusive) ++report_.rate_limited;
      a.inconclusive = true;
      return;
    }
    report_.error_code = ec.code;
    report_.error_reason = clean_text(ec.reason);
    finish(LifetimeResult::Unsupported,
           ec.code == 420 ? "the server does not support RESPONSE-PORT (" + error_text(ec) +
                                "): it needs RFC 5780 (Turnpike: nat_discovery; coturn: two listening IPs)"
                          : "the server refused the RESPONSE-PORT request (" + error_text(ec) + ")",
           now);
    return;
  }
  // A success at Y. If it shows Y on X's public address and port, the NAT handed X's port on
  // to Y: X's mapping was gone.
  if (ans.mapped && t.mapped && *ans.mapped == *t.mapped && !t.control) {
    note("the NAT reused an expired mapping's public port for a new socket");
    decide(p.trial, false, gap_of(t.quiet_since_ms, t.rtt_ms, a.sent_ms), now);
    return;
  }
  if (t.control) {
    finish(LifetimeResult::Unsupported,
           "the server ignores RESPONSE-PORT: it answered the requesting socket, not the port asked for", now);
    return;
  }
  note("the server answered some RESPONSE-PORT requests to the requesting socket instead of the port asked for "
       "(a rate limit?); those checks were repeated");
  a.inconclusive = true;
}

// The liveness Binding at Y, after a check got no answer at X: the server is alive, so that was an expiry.
void LifetimeProbe::on_liveness(const Pending& p, LifetimeSocket socket, uint64_t now) {
  Trial& t = trials_[p.trial];
  if (socket != kCheckerSocket || t.phase != Phase::Liveness) {
    ++report_.ignored_datagrams;
    return;
  }
  last_answer_ms_ = now;
  auto silent = std::find_if(t.attempts.begin(), t.attempts.end(), conclusive);
  uint64_t sent = silent != t.attempts.end() ? silent->sent_ms : t.attempts.front().sent_ms;
  decide(p.trial, false, gap_of(t.quiet_since_ms, t.rtt_ms, sent), now);
}

void LifetimeProbe::setup_progress(uint64_t now) {
  if (setup_announced_ || !report_.checker_mapped || !report_.mapped) return;
  setup_announced_ = true;
  if (report_.checker_mapped->address != report_.mapped->address) {
    finish(LifetimeResult::NotDelivered,
           "the NAT mapped one socket to " + report_.mapped->address.to_string() + " and another to " +
               report_.checker_mapped->address.to_string() +
               " (several public IPs, no paired pooling): answers to RESPONSE-PORT cannot reach the first; the "
               "mapping lifetime cannot be measured this way",
           now);
    return;
  }
  say("server " + cfg_.server.to_string() + (report_.software.empty() ? "" : " \"" + report_.software + "\"") +
      " answers (rtt " + std::to_string(report_.rtt_ms.value_or(0)) + " ms); " + report_.local->to_string() +
      " is mapped to " + report_.mapped->to_string());
  if (report_.no_nat)
    say("no NAT in front (the mapped address is the local address): nothing expires here unless a stateful "
        "firewall has a timer; measuring that");
}

void LifetimeProbe::decide(uint32_t index, bool survived, uint32_t gap_ms, uint64_t now) {
  Trial& t = trials_[index];
  if (t.control) {
    end_trial(index, now);
    if (!survived) {
      finish(LifetimeResult::NotDelivered,
             "the answer to RESPONSE-PORT did not reach the mapping even right after it was made: the server does "
             "not send it, or something between drops it; the mapping lifetime cannot be measured this way",
             now);
      return;
    }
    say("RESPONSE-PORT works: the server's answer to the second socket's request reached the first one");
    stage_ = Stage::Search;
    return;
  }
  report_.trials.push_back(LifetimeTrial{gap_ms, survived, t.local, t.mapped, t.requests, now - start_ms_});
  end_trial(index, now);
  const auto [lo, hi] = bracket_of(report_.trials);
  std::string s = "gap " + shown_seconds(gap_ms) + " s: " + (survived ? "survived" : "expired");
  if (!survived && gap_ms <= lo) {
    s += ", though one of " + shown_seconds(lo) + " s survived (a lost answer, or a timer that varies); ignored";
    if (!inconsistent_noted_) {
      inconsistent_noted_ = true;
      note("trials disagree: a mapping expired after " + shown_seconds(gap_ms) +
           " s of silence while another survived " + shown_seconds(lo) +
           " s; survival counts (an answer is proof, a missing one may be a lost packet)");
    }
  } else if (hi) {
    s += "; searching " + shown_seconds(lo) + ".." + shown_seconds(*hi) + " s";
  } else {
    s += "; the timeout is longer than " + shown_seconds(lo) + " s";
  }
  say(s);
  if (!survived && gap_ms <= cfg_.min_ms && lo == 0 && !below_min_noted_) {
    below_min_noted_ = true;
    note("mappings expired after the shortest gap of the first round (--min " + shown_seconds(cfg_.min_ms) +
         " s); the search went below it");
  }
}

void LifetimeProbe::end_trial(uint32_t index, uint64_t) {
  Trial& t = trials_[index];
  if (t.phase == Phase::Done) return;
  t.phase = Phase::Done;
  queue_.push_back(LifetimeAction{LifetimeAction::Kind::Close, t.socket, {}, {}, 0});
  forget(index, false);
}

void LifetimeProbe::fail_trial(uint32_t index, const std::string& why, uint64_t now) {
  const uint32_t gap = trials_[index].gap_ms;
  ++report_.failed_trials;
  end_trial(index, now);
  say("gap " + shown_seconds(gap) + " s: " + why + "; trying again");
  // Back in the queue; plan() drops it if it no longer matters.
  queued_.insert(std::upper_bound(queued_.begin(), queued_.end(), gap), gap);
}

void LifetimeProbe::launch(const std::vector<uint32_t>& gaps, uint64_t now) {
  for (uint32_t g : gaps) {
    start_trial(g, false, now);
    ++launched_;
  }
}

void LifetimeProbe::plan(uint64_t now) {
  // Plain variables, not a structured binding: lambdas below capture them (clang 14).
  const auto bracket = bracket_of(report_.trials);
  const uint32_t lo = bracket.first;
  const std::optional<uint32_t> hi = bracket.second;
  if ((hi && *hi - lo <= cfg_.precision_ms) || (!hi && lo >= cfg_.max_ms)) return conclude(now, "");
  // Running trials whose answer is known in advance go (at or below a survived gap they would
  // survive, at or above an expired one expire).
  for (uint32_t i = 0; i < trials_.size(); ++i) {
    const Trial& t = trials_[i];
    if (t.phase == Phase::Done || t.control) continue;
    if (t.gap_ms <= lo || (hi && t.gap_ms >= *hi)) {
      ++report_.cancelled_trials;
      end_trial(i, now);
    }
  }
  std::erase_if(queued_, [&](uint32_t g) { return g <= lo || (hi && g >= *hi); });
  uint32_t busy = running();
  uint32_t free = cfg_.parallel > busy ? cfg_.parallel - busy : 0;
  auto budget = [&] { return std::min(free, cfg_.max_trials - std::min(cfg_.max_trials, launched_)); };

  // The first round (and retries of failed trials), shortest first.
  std::vector<uint32_t> batch;
  for (uint32_t room = budget(); room > 0 && !queued_.empty(); --room, --free) {
    batch.push_back(queued_.front());
    queued_.erase(queued_.begin());
  }
  if (!batch.empty()) {
    say(std::string(launched_ == 0 ? "trying gaps " : "trying ") + gap_list(batch) +
        (launched_ == 0 ? " at once, a fresh mapping each" : ""));
    launch(batch, now);
  }

  // Splitting (lo, hi) into `split` gaps. Before any expiry, once something survived, the
  // interval up to the next running gap is split already: if that one expires, the next round is
  // under way.
  if (queued_.empty() && budget() > 0) {
    std::optional<uint32_t> top = hi;
    if (!top && lo >= cfg_.min_ms)
      for (const Trial& t : trials_)
        if (t.phase != Phase::Done && !t.control && t.gap_ms > lo && (!top || t.gap_ms < *top)) top = t.gap_ms;
    bool inside = false;
    if (top)
      for (const Trial& t : trials_)
        inside |= t.phase != Phase::Done && !t.control && t.gap_ms > lo && t.gap_ms < *top;
    if (top && *top - lo > cfg_.precision_ms && !inside) {
      // `split` gaps, or more if free sockets let this round reach the precision.
      const uint32_t width = *top - lo;
      const uint32_t needed = (width + cfg_.precision_ms - 1) / cfg_.precision_ms - 1;
      const uint32_t k = needed <= cfg_.split ? std::min(cfg_.split, budget()) : std::min(needed, budget());
      // Evenly spaced, on a round unit (1, 2 or 5 x 10^n ms) for readable gaps.
      const uint64_t step = width / (k + 1);
      uint64_t unit = 1;
      for (uint64_t u : {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000})
        if (u * 4 <= step) unit = u;
      std::vector<uint32_t> gaps;
      for (uint32_t j = 1; j <= k; ++j) {
        uint64_t g = lo + uint64_t{width} * j / (k + 1);
        g = (g + unit / 2) / unit * unit;
        if (g > lo && g < *top && (gaps.empty() || g > gaps.back())) gaps.push_back(static_cast<uint32_t>(g));
      }
      if (!gaps.empty()) {
        say("searching " + shown_seconds(lo) + ".." + shown_seconds(*top) + " s" + (hi ? "" : " (ahead of its answer)") +
            ": trying " + gap_list(gaps));
        launch(gaps, now);
      }
    }
  }
  if (running() == 0 && (queued_.empty() || launched_ >= cfg_.max_trials)) conclude(now, "the trial bound");
}

void LifetimeProbe::conclude(uint64_t now, const std::string& why) {
  const auto [lo, hi] = bracket_of(report_.trials);
  if (hi) {
    if (*hi - lo > cfg_.precision_ms)
      note("stopped by " + (why.empty() ? std::string("a bound") : why) + " before reaching the precision asked for (" +
           shown_seconds(cfg_.precision_ms) + " s): the timeout is between " + shown_seconds(lo) + " and " +
           shown_seconds(*hi) + " s");
    finish(LifetimeResult::Measured, "", now);
  } else if (lo >= cfg_.max_ms) {
    finish(LifetimeResult::LongerThanMax, "", now);
  } else {
    finish(LifetimeResult::Error,
           "no conclusion (stopped by " + (why.empty() ? std::string("a bound") : why) + "): " +
               (lo ? "mappings survived " + shown_seconds(lo) + " s of silence and no longer gap was decided"
                   : "no gap was decided"),
           now);
  }
}

void LifetimeProbe::finish(LifetimeResult result, const std::string& error, uint64_t now) {
  if (finished_) return;
  finished_ = true;
  stage_ = Stage::Finished;
  for (uint32_t i = 0; i < trials_.size(); ++i) end_trial(i, now);
  if (checker_open_ || checker_opening_)
    queue_.push_back(LifetimeAction{LifetimeAction::Kind::Close, kCheckerSocket, {}, {}, 0});
  checker_open_ = checker_opening_ = false;
  pending_.clear();
  const auto [lo, hi] = bracket_of(report_.trials);
  report_.result = result;
  report_.error = error;
  report_.lower_ms = lo;
  report_.upper_ms = hi;
  if (result == LifetimeResult::Measured && hi) report_.timeout_ms = lo + (*hi - lo) / 2;
  report_.elapsed_ms = now - start_ms_;
  make_lifetime_verdict(report_);
  switch (result) {
    case LifetimeResult::Measured:
      say("timeout between " + shown_seconds(lo) + " and " + shown_seconds(*hi) + " s: ~" +
          shown_seconds(*report_.timeout_ms) + " s");
      break;
    case LifetimeResult::LongerThanMax: say("a mapping survived " + shown_seconds(lo) + " s: longer than max"); break;
    default: say("no result: " + error); break;
  }
}

}  // namespace diag
