// diag::LifetimeProbe, the answers (diag/lifetime_probe_impl.hpp says where the rest is): a
// datagram matched to the request it answers, decoded once, then handled by its kind (checker
// Binding, trial Binding, RESPONSE-PORT check, liveness); text from the wire made safe to print.
#include <algorithm>
#include <cctype>
#include <string_view>

#include "diag/lifetime_probe.hpp"
#include "diag/lifetime_probe_impl.hpp"
#include "turn/attributes.hpp"

namespace diag {

using turn::Endpoint;
namespace stun = turn::stun;
using namespace lifetime_impl;

namespace {
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

// The length of the UTF-8 sequence a lead byte starts; 0: not a lead byte.
size_t utf8_length(unsigned char c) {
  return c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
}

// Whether in[i, i + n) is one printable character: ASCII without control characters, or a
// well-formed sequence (no overlong forms, surrogates or code points beyond U+10FFFF).
bool printable_at(std::string_view in, size_t i, size_t n) {
  const auto c = static_cast<unsigned char>(in[i]);
  if (n == 0 || i + n > in.size()) return false;
  if (n == 1) return c >= 0x20 && c != 0x7f;
  uint32_t cp = n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
  for (size_t k = 1; k < n; ++k) {
    const auto cc = static_cast<unsigned char>(in[i + k]);
    if ((cc & 0xC0) != 0x80) return false;
    cp = cp << 6 | (cc & 0x3F);
  }
  return cp >= (n == 2 ? 0x80u : n == 3 ? 0x800u : 0x10000u) && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
}

// Text from the wire, safe to print and to put in JSON: valid UTF-8 without control characters
// is kept; any other byte becomes '?'.
std::string clean_text(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size();) {
    const size_t n = utf8_length(static_cast<unsigned char>(in[i]));
    if (printable_at(in, i, n)) {
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
}  // namespace

void LifetimeProbe::on_datagram(LifetimeSocket socket, const Endpoint& from, std::span<const uint8_t> bytes,
                                int64_t now_ms) {
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
      x->quiet_since_ms = now_ms;
      schedule_check(*x);
    }
    return;
  }
  const Pending p = it->second;
  on_answer(p, socket, m, now_ms);
}

void LifetimeProbe::on_answer(const Pending& p, LifetimeSocket socket, const stun::Message& m, int64_t now_ms) {
  const bool error = m.cls() == stun::Class::Error;
  bool bad = false;
  std::optional<Endpoint> mapped = error ? std::nullopt : mapped_of(m, bad);
  const Answer a{m, error, error ? error_of(m) : std::nullopt, bad, std::move(mapped)};
  switch (p.kind) {
    case Kind::CheckerBinding: return on_checker_binding(socket, a, now_ms);
    case Kind::TrialBinding: return on_trial_binding(p, socket, a, now_ms);
    case Kind::Check: return on_check(p, socket, a, now_ms);
    case Kind::Liveness: return on_liveness(p, socket, now_ms);
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

void LifetimeProbe::refused(const stun::ErrorCode& ec, int64_t now_ms) {
  report_.error_code = ec.code;
  report_.error_reason = clean_text(ec.reason);
  finish(LifetimeResult::Error, "the server refused a Binding request (" + error_text(ec) + ")", now_ms);
}

// The checker's (Y's) own Binding: its mapped address.
void LifetimeProbe::on_checker_binding(LifetimeSocket socket, const Answer& a, int64_t now_ms) {
  if (socket != kCheckerSocket || stage_ != Stage::Setup || report_.checker_mapped) {
    ++report_.ignored_datagrams;
    return;
  }
  if (a.error ? !a.ec : (a.bad || !a.mapped)) return malformed();
  last_answer_ms_ = now_ms;
  if (a.error) return refused(*a.ec, now_ms);
  take_software(a.msg);
  report_.checker_mapped = a.mapped;
  checker_binding_.active = false;
  setup_progress(now_ms);
}

// A trial socket's (X's) Binding: its mapping is made, the silence starts (or the flow is warmed first).
void LifetimeProbe::on_trial_binding(const Pending& p, LifetimeSocket socket, const Answer& a, int64_t now_ms) {
  Trial& t = trials_[p.trial];
  if (socket != t.socket) {
    ++report_.ignored_datagrams;
    return;
  }
  if (a.error ? !a.ec : (a.bad || !a.mapped)) return malformed();
  last_answer_ms_ = now_ms;
  if (t.phase == Phase::Silent && !a.error) {  // a late answer to a retransmission: it re-armed the timer
    t.quiet_since_ms = now_ms;
    schedule_check(t);
    return;
  }
  if (t.phase != Phase::Binding) {
    ++report_.ignored_datagrams;
    return;
  }
  if (a.error) return refused(*a.ec, now_ms);
  take_software(a.msg);
  t.binding.active = false;
  const uint32_t rtt = clamp32(now_ms - p.sent_ms);
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
    t.warm_at_ms = now_ms + cfg_.established_after_ms;
    return;
  }
  t.phase = Phase::Silent;
  t.quiet_since_ms = now_ms;
  schedule_check(t);
  if (t.control) {
    report_.local = t.local;
    report_.mapped = t.mapped;
    report_.rtt_ms = t.rtt_ms;
    report_.no_nat = t.local && *t.local == *t.mapped;
    setup_progress(now_ms);
  } else if (report_.checker_mapped && t.mapped->address != report_.checker_mapped->address) {
    finish(LifetimeResult::NotDelivered,
           "the NAT mapped one socket to " + t.mapped->address.to_string() + " and another to " +
               report_.checker_mapped->address.to_string() +
               " (several public IPs, no paired pooling): answers to RESPONSE-PORT cannot reach it",
           now_ms);
  }
}

// A RESPONSE-PORT check: answered at X, the mapping survived; answered at Y, see on_check_at_checker.
void LifetimeProbe::on_check(const Pending& p, LifetimeSocket socket, const Answer& a, int64_t now_ms) {
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
    last_answer_ms_ = now_ms;
    decide(p.trial, true, gap_of(t.quiet_since_ms, t.rtt_ms, t.attempts[p.attempt].sent_ms), now_ms);
    return;
  }
  if (socket != kCheckerSocket) {
    ++report_.ignored_datagrams;
    return;
  }
  if (a.error && !a.ec) return malformed();
  if (!a.error && a.bad) return malformed();
  last_answer_ms_ = now_ms;
  on_check_at_checker(p, a, now_ms);
}

// A check answered to Y itself: refused (rate limit, no RESPONSE-PORT), or not sent on to X's port.
void LifetimeProbe::on_check_at_checker(const Pending& p, const Answer& ans, int64_t now_ms) {
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
           now_ms);
    return;
  }
  // A success at Y. If it shows Y on X's public address and port, the NAT handed X's port on
  // to Y: X's mapping was gone.
  if (ans.mapped && t.mapped && *ans.mapped == *t.mapped && !t.control) {
    note("the NAT reused an expired mapping's public port for a new socket");
    decide(p.trial, false, gap_of(t.quiet_since_ms, t.rtt_ms, a.sent_ms), now_ms);
    return;
  }
  if (t.control) {
    finish(LifetimeResult::Unsupported,
           "the server ignores RESPONSE-PORT: it answered the requesting socket, not the port asked for", now_ms);
    return;
  }
  note("the server answered some RESPONSE-PORT requests to the requesting socket instead of the port asked for "
       "(a rate limit?); those checks were repeated");
  a.inconclusive = true;
}

// The liveness Binding at Y, after a check got no answer at X: the server is alive, so that was an expiry.
void LifetimeProbe::on_liveness(const Pending& p, LifetimeSocket socket, int64_t now_ms) {
  Trial& t = trials_[p.trial];
  if (socket != kCheckerSocket || t.phase != Phase::Liveness) {
    ++report_.ignored_datagrams;
    return;
  }
  last_answer_ms_ = now_ms;
  auto silent = std::find_if(t.attempts.begin(), t.attempts.end(), conclusive);
  int64_t sent = silent != t.attempts.end() ? silent->sent_ms : t.attempts.front().sent_ms;
  decide(p.trial, false, gap_of(t.quiet_since_ms, t.rtt_ms, sent), now_ms);
}

void LifetimeProbe::setup_progress(int64_t now_ms) {
  if (setup_announced_ || !report_.checker_mapped || !report_.mapped) return;
  setup_announced_ = true;
  if (report_.checker_mapped->address != report_.mapped->address) {
    finish(LifetimeResult::NotDelivered,
           "the NAT mapped one socket to " + report_.mapped->address.to_string() + " and another to " +
               report_.checker_mapped->address.to_string() +
               " (several public IPs, no paired pooling): answers to RESPONSE-PORT cannot reach the first; the "
               "mapping lifetime cannot be measured this way",
           now_ms);
    return;
  }
  say("server " + cfg_.server.to_string() + (report_.software.empty() ? "" : " \"" + report_.software + "\"") +
      " answers (rtt " + std::to_string(report_.rtt_ms.value_or(0)) + " ms); " + report_.local->to_string() +
      " is mapped to " + report_.mapped->to_string());
  if (report_.no_nat)
    say("no NAT in front (the mapped address is the local address): nothing expires here unless a stateful "
        "firewall has a timer; measuring that");
}

}  // namespace diag
