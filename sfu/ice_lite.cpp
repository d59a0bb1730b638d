#include "sfu/ice_lite.hpp"

#include <algorithm>
#include <array>

#include "turn/crypto.hpp"
#include "turn/message.hpp"

namespace sfu {

namespace stun = turn::stun;
namespace attr = turn::stun::attr;

namespace {
constexpr std::string_view kIceChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static_assert(kIceChars.size() == 64);

bool ice_chars(std::string_view s, size_t min, size_t max) {
  if (s.size() < min || s.size() > max) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return kIceChars.find(c) != std::string_view::npos; });
}

std::string random_ice_string(size_t n) {
  std::array<uint8_t, 64> rnd{};
  turn::crypto::random_bytes(std::span(rnd).first(n));
  std::string out(n, 'A');
  for (size_t i = 0; i < n; ++i) out[i] = kIceChars[rnd[i] & 63];  // 64 symbols: uniform
  return out;
}

std::string_view text(const stun::RawAttribute& a) {
  return {reinterpret_cast<const char*>(a.value.data()), a.value.size()};
}
}  // namespace

IceCredentials IceCredentials::generate() { return {random_ice_string(8), random_ice_string(24)}; }
bool IceCredentials::valid_ufrag(std::string_view u) { return ice_chars(u, 4, 256); }
bool IceCredentials::valid_pwd(std::string_view p) { return ice_chars(p, 22, 256); }

const char* to_string(IceStatus s) {
  switch (s) {
    case IceStatus::Ok: return "ok";
    case IceStatus::NotStun: return "not STUN";
    case IceStatus::NoFingerprint: return "no FINGERPRINT";
    case IceStatus::NotBindingRequest: return "not a Binding request";
    case IceStatus::BufferTooSmall: return "response buffer too small";
    case IceStatus::BadRequest: return "bad request";
    case IceStatus::Unauthorized: return "unknown USERNAME";
    case IceStatus::BadIntegrity: return "bad MESSAGE-INTEGRITY";
    case IceStatus::UnknownAttribute: return "unknown attribute";
    case IceStatus::RoleConflict: return "role conflict";
  }
  return "?";
}

IceLite::IceLite(IceCredentials local) : local_(std::move(local)), expected_username_(local_.ufrag + ":") {}

bool IceLite::set_remote(std::string_view ufrag, std::string_view pwd) {
  if (!IceCredentials::valid_ufrag(ufrag) || !IceCredentials::valid_pwd(pwd)) return false;
  remote_ = {std::string(ufrag), std::string(pwd)};
  remote_set_ = true;
  expected_username_ = local_.ufrag + ":" + remote_.ufrag;
  return true;
}

void IceLite::restart(IceCredentials local) {
  local_ = std::move(local);
  probes_.clear();  // they used the old credentials
  expected_username_ = local_.ufrag + ":" + (remote_set_ ? remote_.ufrag : std::string());
}

// RFC 8489 9.1.3 / RFC 8445 7.3: short-term credentials.
IceStatus IceLite::check_credentials(const stun::Message& m) const {
  const stun::RawAttribute* username = m.find(attr::Username);
  const bool sha1 = m.has(attr::MessageIntegrity);
  if (!username || (!sha1 && !m.has(attr::MessageIntegritySha256))) return IceStatus::BadRequest;
  std::string_view user = text(*username);
  bool user_ok = remote_set_ ? user == expected_username_
                             : user.size() > expected_username_.size() && user.starts_with(expected_username_);
  if (!user_ok) return IceStatus::Unauthorized;
  const auto key = turn::crypto::bytes(local_.pwd);  // RFC 8489 9.1.1: key = the password
  if (!(sha1 ? m.verify_integrity(key) : m.verify_integrity_sha256(key))) return IceStatus::BadIntegrity;
  return IceStatus::Ok;
}

bool IceLite::authentic(std::span<const uint8_t> request) const {
  stun::Message m;
  if (stun::Message::parse(request, m) != stun::ParseError::None) return false;
  if (m.cls() != stun::Class::Request || m.method() != stun::Method::Binding || !m.has_fingerprint()) return false;
  return check_credentials(m) == IceStatus::Ok;
}

// RFC 8489 6.3.1: the comprehension-required attributes this agent does not know, as the value of
// UNKNOWN-ATTRIBUTES (at most 16; those after MESSAGE-INTEGRITY are ignored, RFC 8489 14.5).
static size_t unknown_required(const stun::Message& m, std::array<uint8_t, 2 * 16>& unknown) {
  size_t n_unknown = 0;
  for (const auto& a : m.attributes()) {
    if (a.type == attr::MessageIntegrity || a.type == attr::MessageIntegritySha256) break;
    if (!attr::known(a.type) && n_unknown < unknown.size() / 2) {
      unknown[2 * n_unknown] = static_cast<uint8_t>(a.type >> 8);
      unknown[2 * n_unknown + 1] = static_cast<uint8_t>(a.type);
      ++n_unknown;
    }
  }
  return n_unknown;
}

IceCheckResult IceLite::on_stun(std::span<const uint8_t> request, const turn::Endpoint& from, int64_t now_ms,
                                std::span<uint8_t> out) {
  IceCheckResult r;
  stun::Message m;
  if (stun::Message::parse(request, m) != stun::ParseError::None) return r;  // RFC 8489 6.3: discard
  if (m.cls() != stun::Class::Request || m.method() != stun::Method::Binding) {
    r.status = IceStatus::NotBindingRequest;  // a lite agent sends no requests, so expects no responses
    return r;
  }
  if (!m.has_fingerprint()) {  // RFC 8445 7.2.2: MUST carry FINGERPRINT
    r.status = IceStatus::NoFingerprint;
    return r;
  }
  switch (check_credentials(m)) {
    case IceStatus::BadRequest: return reject(m, out, IceStatus::BadRequest, 400, "Bad Request", false);
    case IceStatus::Unauthorized: return reject(m, out, IceStatus::Unauthorized, 401, "Unauthorized", false);
    case IceStatus::BadIntegrity: return reject(m, out, IceStatus::BadIntegrity, 401, "Unauthorized", false);
    default: break;
  }
  std::array<uint8_t, 2 * 16> unknown{};
  if (size_t n_unknown = unknown_required(m, unknown)) {
    return reject(m, out, IceStatus::UnknownAttribute, 420, "Unknown Attribute", true,
                  std::span<const uint8_t>(unknown.data(), 2 * n_unknown));
  }
  // RFC 8445 7.2.2: PRIORITY and exactly one of ICE-CONTROLLING / ICE-CONTROLLED (64-bit tie-breaker).
  const stun::RawAttribute* controlling = m.find(attr::IceControlling);
  const stun::RawAttribute* controlled = m.find(attr::IceControlled);
  const stun::RawAttribute* priority = m.find(attr::Priority);
  if ((controlling && controlled) || (controlling && controlling->value.size() != 8) ||
      (controlled && controlled->value.size() != 8) || !priority || priority->value.size() != 4)
    return reject(m, out, IceStatus::BadRequest, 400, "Bad Request", true);
  // RFC 8445 7.3.1.1: we are controlled and the browser says so too. A lite agent cannot take the
  // controlling role against a full agent (RFC 8445 6.1.1), so it answers as if its tie-breaker
  // were the smaller: 487, keeping its role; the browser switches to controlling and retries.
  if (controlled) return reject(m, out, IceStatus::RoleConflict, 487, "Role Conflict", true);
  // Neither: not an RFC 8445 agent (ICE-CONTROLLING is how the browser tells us it nominates).
  if (!controlling) return reject(m, out, IceStatus::BadRequest, 400, "Bad Request", true);
  return accept(m, priority->value, from, now_ms, out);
}

// An error response; `authenticated` ones carry MESSAGE-INTEGRITY (RFC 8489 9.1.3 leaves it out
// of the 400/401 a request failing authentication gets). Always FINGERPRINT (RFC 8445 7.3).
IceCheckResult IceLite::reject(const stun::Message& m, std::span<uint8_t> out, IceStatus status, int code,
                               std::string_view reason, bool authenticated, std::span<const uint8_t> unknown) const {
  IceCheckResult r;
  stun::Builder b(out, stun::Method::Binding, stun::Class::Error, m.transaction_id());
  b.add_error(code, reason);
  if (!unknown.empty()) b.add(attr::UnknownAttributes, unknown);
  if (authenticated) b.add_integrity(turn::crypto::bytes(local_.pwd));  // RFC 8489 9.1.1: key = the password
  b.add_fingerprint();
  if (!b.ok()) {
    r.status = IceStatus::BufferTooSmall;
    return r;
  }
  r.status = status;
  r.response = b.bytes();
  return r;
}

// RFC 8445 7.3.1.2 / RFC 8489 7.3.1: success with the source address it came from, answered with
// the hash the check used; the check is recorded and may nominate `from`.
IceCheckResult IceLite::accept(const stun::Message& m, std::span<const uint8_t> priority, const turn::Endpoint& from,
                               int64_t now_ms, std::span<uint8_t> out) {
  IceCheckResult r;
  const auto key = turn::crypto::bytes(local_.pwd);  // RFC 8489 9.1.1: key = the password
  stun::Builder b(out, stun::Method::Binding, stun::Class::Success, m.transaction_id());
  b.add_xor_address(attr::XorMappedAddress, from);
  if (m.has(attr::MessageIntegrity)) b.add_integrity(key);
  else b.add_integrity_sha256(key);
  b.add_fingerprint();
  if (!b.ok()) {
    r.status = IceStatus::BufferTooSmall;
    return r;
  }
  r.status = IceStatus::Ok;
  r.response = b.bytes();
  const auto& p = priority;
  r.priority = uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
  record(from, now_ms);
  // RFC 8445 7.3.1.5: USE-CANDIDATE in a valid check nominates the pair; an address not yet
  // proven to reach the browser is probed first (see the header).
  r.use_candidate = m.has(attr::UseCandidate);
  if (r.use_candidate && selected_ != from) {
    if (proven(from)) {
      selected_ = from;
      r.selected_changed = true;
    } else {
      r.probe = true;
    }
  }
  return r;
}

std::span<const uint8_t> IceLite::probe(const turn::Endpoint& to, bool nominate, int64_t now_ms,
                                        std::span<uint8_t> out) {
  if (!remote_set_) return {};
  auto it = std::find_if(probes_.begin(), probes_.end(), [&](const Probe& p) { return p.to == to; });
  if (it == probes_.end()) {
    if (probes_.size() >= kMaxPendingProbes) probes_.erase(probes_.begin());  // the oldest
    Probe fresh;
    fresh.to = to;
    turn::crypto::random_bytes(fresh.txid);
    probes_.push_back(fresh);
    it = probes_.end() - 1;
  } else if (it->sends >= kMaxProbeSends && now_ms - it->sent_ms >= (kProbeRtoMs << kMaxProbeSends)) {
    it->sends = 0;  // given up a while ago: a new nomination starts over
    turn::crypto::random_bytes(it->txid);
  } else if (it->sends > 0 &&
             (it->sends >= kMaxProbeSends || now_ms - it->sent_ms < (kProbeRtoMs << (it->sends - 1)))) {
    it->nominated = it->nominated || nominate;
    return {};  // not due yet, or given up
  }
  it->nominated = it->nominated || nominate;
  if (now_ms - probe_window_ms_ >= 1000) {
    probe_window_ms_ = now_ms;
    probes_in_window_ = 0;
  }
  if (probes_in_window_ >= kMaxProbesPerSecond) return {};
  // RFC 8445 7.2.2: the peer's ufrag first; keyed with the peer's password. We are controlled.
  stun::Builder b(out, stun::Method::Binding, stun::Class::Request, it->txid);
  b.add(attr::Username, remote_.ufrag + ":" + local_.ufrag);
  std::array<uint8_t, 4> priority{0x7e, 0xff, 0xff, 0xff};  // a host candidate's type preference (RFC 8445 5.1.2.1)
  b.add(attr::Priority, priority);
  std::array<uint8_t, 8> tie{};
  turn::crypto::random_bytes(tie);
  b.add(attr::IceControlled, tie);
  b.add_integrity(turn::crypto::bytes(remote_.pwd));
  b.add_fingerprint();
  if (!b.ok()) return {};
  ++probes_in_window_;
  it->sent_ms = now_ms;
  ++it->sends;
  return b.bytes();
}

std::optional<turn::Endpoint> IceLite::due_probe(int64_t now_ms) const {
  for (const auto& p : probes_)
    if (p.sends < kMaxProbeSends && (p.sends == 0 || now_ms - p.sent_ms >= (kProbeRtoMs << (p.sends - 1)))) return p.to;
  return std::nullopt;
}

// RFC 8445 7.2.5: a success response to our check, from where the check went, with our transaction
// id and MESSAGE-INTEGRITY keyed with the browser's password.
IceProbeResult IceLite::on_response(std::span<const uint8_t> response, const turn::Endpoint& from, int64_t now_ms) {
  IceProbeResult r;
  stun::Message m;
  if (stun::Message::parse(response, m) != stun::ParseError::None) return r;
  if (m.cls() != stun::Class::Success || m.method() != stun::Method::Binding || !m.has_fingerprint()) return r;
  auto it = std::find_if(probes_.begin(), probes_.end(),
                         [&](const Probe& p) { return p.to == from && p.txid == m.transaction_id(); });
  if (it == probes_.end() || !remote_set_) return r;
  const auto key = turn::crypto::bytes(remote_.pwd);
  bool ok = m.has(attr::MessageIntegrity) ? m.verify_integrity(key)
                                          : m.has(attr::MessageIntegritySha256) && m.verify_integrity_sha256(key);
  if (!ok) return r;
  bool nominated = it->nominated;
  probes_.erase(it);
  record(from, now_ms);
  for (auto& s : seen_)
    if (s.from == from) s.proven = true;
  r.proven = true;
  if (nominated && selected_ != from) {
    selected_ = from;
    r.selected_changed = true;
  }
  return r;
}

bool IceLite::proven(const turn::Endpoint& from) const {
  for (const auto& s : seen_)
    if (s.from == from) return s.proven;
  return false;
}

void IceLite::record(const turn::Endpoint& from, int64_t now_ms) {
  for (auto& s : seen_) {
    if (s.from == from) {
      s.last_ms = std::max(s.last_ms, now_ms);
      return;
    }
  }
  if (seen_.size() >= kMaxTrackedAddresses) {
    // Forget the address checked least recently, never the selected one.
    auto victim = seen_.end();
    for (auto it = seen_.begin(); it != seen_.end(); ++it) {
      if (selected_ && it->from == *selected_) continue;
      if (victim == seen_.end() || it->last_ms < victim->last_ms) victim = it;
    }
    if (victim != seen_.end()) seen_.erase(victim);
  }
  seen_.push_back({from, now_ms, false});
}

std::optional<int64_t> IceLite::last_check_ms(const turn::Endpoint& from) const {
  for (const auto& s : seen_)
    if (s.from == from) return s.last_ms;
  return std::nullopt;
}

bool IceLite::consent_expired(int64_t now_ms) const {
  if (!selected_) return false;
  auto last = last_check_ms(*selected_);
  return !last || now_ms - *last > kConsentTimeoutMs;
}

}  // namespace sfu
