// A request's answer as the core reports it to its Sink (issue 17, "Logs to troubleshoot by"): who
// asked, what, and why it was refused. server/ turns it into log lines (docs/logs.md); the core
// does no I/O and keeps no log.
#pragma once

#include <cstdint>
#include <string_view>

#include "turn/address.hpp"
#include "turn/message.hpp"

namespace turn {

// Why a request's credentials were refused, finer than AuthFailure (which is a metric's labels).
enum class AuthRefusal : uint8_t {
  None,               // not refused for its credentials
  Missing,            // no MESSAGE-INTEGRITY: the normal first round of the mechanism
  BadPassword,        // a static user's integrity check failed
  BadRestCredential,  // a TURN REST username whose integrity check failed (wrong secret)
  UnknownUser,
  ExpiredCredential,  // a TURN REST credential past its expiry
  StaleNonce,
  BadUsername,        // USERNAME not UTF-8 or too long (RFC 8489 14.3)
};
// none, missing, bad_password, bad_rest_credential, unknown_user, expired_credential, stale_nonce,
// bad_username
const char* to_string(AuthRefusal r);

struct Answer {
  const FiveTuple& from;
  stun::Method method;
  uint16_t raw_method;
  const stun::TransactionId& transaction_id;
  int code;                   // 200: a success response
  std::string_view reason;    // the error's reason phrase; empty on success
  std::string_view username;  // USERNAME's bytes as the client sent them (maybe not UTF-8); empty if none
  AuthRefusal auth;
  bool sent;  // false: withheld by the unauthenticated-answer budget (issue 14)
};

}  // namespace turn
