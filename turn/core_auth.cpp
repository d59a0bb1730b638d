// How the core authenticates requests (RFC 8489 9.2.4) and sends answers: signed when
// authenticated, and within the per-source budget when not (issue 14 item 4).
#include <algorithm>
#include <optional>

#include "turn/core.hpp"
#include "turn/core_context.hpp"

namespace turn {

using stun::Builder;
using stun::Class;
using stun::Method;
namespace attr = stun::attr;

namespace {

// RFC 8489 9.2.4 step 4 (14.11, 14.12): password algorithm negotiation; our nonce advertises the
// feature. Neither attribute: MD5. Both, with PASSWORD-ALGORITHMS exactly as we sent it and a known
// PASSWORD-ALGORITHM: that one. Anything else: nullopt (a 400).
std::optional<stun::PasswordAlgorithmId> negotiated_algorithm(const stun::Message& msg) {
  const auto* algs = msg.find(attr::PasswordAlgorithms);
  const auto* chosen = msg.find(attr::PasswordAlgorithm);
  if (!algs && !chosen) return stun::PasswordAlgorithmId::Md5;
  if (!algs || !chosen) return std::nullopt;
  auto server = stun::PasswordAlgorithms::server_value();
  auto pa = stun::PasswordAlgorithm::decode(chosen->value);
  if (!pa || !std::equal(algs->value.begin(), algs->value.end(), server.begin(), server.end())) return std::nullopt;
  if (pa->algorithm != 1 && pa->algorithm != 2) return std::nullopt;
  return static_cast<stun::PasswordAlgorithmId>(pa->algorithm);
}

// RFC 8656 7.3 / 9.2 / 11.2: requests on an allocation must use the Allocate's credentials. A
// TURN REST credential is time-limited by design, so a fresh one for the same user (a new expiry,
// validly signed) is the same credential renewed, not another one: long calls outlive their
// first credential, and clients that derive the username per request cross second boundaries.
bool allocation_credentials_match(const Allocation& a, const std::string& username, const Credential& cred) {
  if (a.username == username && a.key == cred.key) return true;
  return cred.expires_unix != 0 && a.credential_expires_unix != 0 && a.user == cred.user;
}

}  // namespace

// RFC 8489 9.2.4: the long-term credential mechanism, server side, one step per check.
bool Core::authenticate(Context& c) {
  const auto* mi = c.msg.find(attr::MessageIntegrity);
  const auto* mi256 = c.msg.find(attr::MessageIntegritySha256);
  if (!mi && !mi256) {
    c.auth = AuthRefusal::Missing;
    send_challenge(c, 401, "Unauthorized", true);
    sink_.auth_failed(AuthFailure::Missing);
    return false;
  }
  const auto* user = c.msg.find(attr::Username);
  const auto* realm = c.msg.find(attr::Realm);
  const auto* nonce = c.msg.find(attr::Nonce);
  if (!user || !realm || !nonce || user->value.size() > stun::kMaxUsername || nonce->value.size() > stun::kMaxNonce) {
    send_error(c, 400, "Bad Request: USERNAME, REALM and NONCE required");
    return false;
  }
  std::string_view nonce_text(reinterpret_cast<const char*>(nonce->value.data()), nonce->value.size());
  if (auth_->check_nonce(nonce_text, c.from, c.now.unix_s) != Authenticator::NonceCheck::Valid) {
    c.auth = AuthRefusal::StaleNonce;
    send_challenge(c, 438, "Stale Nonce", true);
    sink_.auth_failed(AuthFailure::StaleNonce);
    return false;
  }
  auto alg = negotiated_algorithm(c.msg);
  if (!alg) {
    send_error(c, 400, "Bad Request: password algorithm");
    return false;
  }
  c.username.assign(reinterpret_cast<const char*>(user->value.data()), user->value.size());
  auto lookup = auth_->keys(c.username, *alg, c.now.unix_s, scratch_creds_);
  if (lookup != Authenticator::Lookup::Ok) {
    reject_credential(c, lookup == Authenticator::Lookup::Expired);
    return false;
  }
  if (!verify_integrity(c, mi256 != nullptr)) {
    bool rest = !scratch_creds_.empty() && scratch_creds_.front().expires_unix != 0;
    c.auth = rest ? AuthRefusal::BadRestCredential : AuthRefusal::BadPassword;
    send_challenge(c, 401, "Unauthorized", false);
    sink_.auth_failed(AuthFailure::BadIntegrity);
    if (c.msg.method() == Method::Refresh) sink_.refresh_failed(RefreshFailure::BadCredential);
    return false;
  }
  if (c.alloc && !allocation_credentials_match(*c.alloc, c.username, *c.cred)) {
    send_error(c, 441, "Wrong Credentials");
    if (c.msg.method() == Method::Refresh) sink_.refresh_failed(RefreshFailure::BadCredential);
    return false;
  }
  return true;
}

// RFC 8489 9.2.4 step 5: no key for USERNAME (unknown, or a TURN REST credential past its expiry).
void Core::reject_credential(Context& c, bool expired) {
  c.auth = expired ? AuthRefusal::ExpiredCredential : AuthRefusal::UnknownUser;
  send_challenge(c, 401, "Unauthorized", false);
  sink_.auth_failed(expired ? AuthFailure::ExpiredCredential : AuthFailure::UnknownUser);
  if (c.msg.method() != Method::Refresh) return;
  sink_.refresh_failed(expired ? RefreshFailure::ExpiredCredential : RefreshFailure::BadCredential);
  // The session cannot be kept alive any more: lost at this age (once).
  if (expired && c.alloc) lose(*c.alloc, LossCause::ExpiredCredential, c.now.mono_ms - c.alloc->created_ms);
}

// RFC 8489 9.2.4 step 5: MESSAGE-INTEGRITY(-SHA256) under one of the candidate keys; on success
// `c.cred` is that key's credential and `c.sha256` says which integrity to answer with.
bool Core::verify_integrity(Context& c, bool sha256) {
  for (const auto& cred : scratch_creds_) {
    bool ok = sha256 ? c.msg.verify_integrity_sha256(cred.key) : c.msg.verify_integrity(cred.key);
    if (ok) {
      c.cred = &cred;
      c.sha256 = sha256;
      return true;
    }
  }
  return false;
}

bool Core::finish_and_send(Context& c, Builder& b) {
  if (c.cred) {
    if (c.sha256) b.add_integrity_sha256(c.cred->key);
    else b.add_integrity(c.cred->key);
  }
  if (c.msg.has_fingerprint()) b.add_fingerprint();
  if (!b.ok()) return false;
  bool sent = unauth_budget_allows(c, b.bytes().size());
  if (sent) {
    std::span<const uint8_t> parts[1] = {b.bytes()};
    sink_.to_client(c.from, parts);
  }
  report_answer(c, sent);
  return sent;
}

// Sink::answered (answer.hpp): the request, its USERNAME as sent, the answer and why.
void Core::report_answer(const Context& c, bool sent) {
  const auto* user = c.msg.find(attr::Username);
  std::string_view username;
  if (user) username = {reinterpret_cast<const char*>(user->value.data()), user->value.size()};
  sink_.answered(Answer{c.from, c.msg.method(), c.msg.raw_method(), c.msg.transaction_id(), c.code,
                        c.code == 200 ? std::string_view() : std::string_view(c.reason), username, c.auth, sent});
}

const char* to_string(AuthRefusal r) {
  switch (r) {
    case AuthRefusal::None: return "none";
    case AuthRefusal::Missing: return "missing";
    case AuthRefusal::BadPassword: return "bad_password";
    case AuthRefusal::BadRestCredential: return "bad_rest_credential";
    case AuthRefusal::UnknownUser: return "unknown_user";
    case AuthRefusal::ExpiredCredential: return "expired_credential";
    case AuthRefusal::StaleNonce: return "stale_nonce";
    case AuthRefusal::BadUsername: return "bad_username";
  }
  return "none";
}

// Issue 14: nothing unauthenticated gets an answer larger than the request without a budget. Over
// UDP the source address is unverified, so the bytes by which an answer to a request without valid
// MESSAGE-INTEGRITY (a 401, 438, 400 or Binding success) exceeds it are charged to its source; an
// answer over budget is dropped silently (the client retransmits: RFC 8489 6.2.1). Streams and
// DTLS have verified their peer's address in their handshake.
bool Core::unauth_budget_allows(const Context& c, size_t answer_bytes) {
  if (c.cred || c.from.transport != Transport::Udp) return true;
  size_t request_bytes = c.msg.bytes().size();
  if (answer_bytes <= request_bytes) return true;
  auto excess = static_cast<uint32_t>(answer_bytes - request_bytes);
  uint64_t full_before = unauth_limiter_.table_full();
  if (unauth_limiter_.allow(c.from.client.address, c.now.mono_ms, excess)) return true;
  if (unauth_limiter_.table_full() != full_before) stats_.unauth_sources_full.add(1);
  stats_.unauth_limited.add(1);
  return false;
}

void Core::send_error(Context& c, int code, const char* reason) {
  Builder b(c.out, c.msg.raw_method(), Class::Error, c.msg.transaction_id());
  b.add_error(code, reason);
  c.code = code;
  c.reason = reason;
  if (finish_and_send(c, b)) sink_.request_done(c.msg.method(), code, c.from.transport);
}

// 401 and 438 carry REALM, a fresh NONCE and PASSWORD-ALGORITHMS, unsigned (RFC 8489 9.2.4).
// `expected`: the normal first round of the mechanism (no credentials yet, or a stale nonce), as
// opposed to credentials that failed; metrics tell the two apart.
void Core::send_challenge(Context& c, int code, const char* reason, bool expected) {
  Builder b(c.out, c.msg.raw_method(), Class::Error, c.msg.transaction_id());
  b.add_error(code, reason);
  b.add(attr::Realm, auth_->realm());
  b.add(attr::Nonce, auth_->make_nonce(c.from, Authenticator::NonceScope::Flow, c.now.unix_s));
  b.add(attr::PasswordAlgorithms, stun::PasswordAlgorithms::server_value());
  if (!cfg_.software.empty()) b.add(attr::Software, cfg_.software);
  c.cred = nullptr;
  c.code = code;
  c.reason = reason;
  if (finish_and_send(c, b)) sink_.request_done(c.msg.method(), code, c.from.transport, expected);
}

}  // namespace turn
