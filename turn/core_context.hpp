// Private to the core: the state of one request being answered.
#pragma once
#include <array>
#include <string>

#include "turn/core.hpp"

namespace turn {

// One request being answered: the message, where it came from, and what authentication established.
struct Core::Context {
  Context(const stun::Message& m, const FiveTuple& f, Now n) : msg(m), from(f), now(n) {}
  const stun::Message& msg;
  const FiveTuple& from;
  Now now;
  Allocation* alloc = nullptr;
  const Credential* cred = nullptr;  // set once integrity verified
  std::string username;
  bool sha256 = false;
  // The answer, for Sink::answered: its code (200: success) and reason, and why credentials failed.
  int code = 200;
  const char* reason = "";
  AuthRefusal auth = AuthRefusal::None;
  std::array<uint8_t, 1500> out{};
};

// What a Binding request asks of the response beyond RFC 8489 (RFC 5780 6), and where it goes.
struct Core::BindingOptions {
  bool discovery = false;  // RFC 5780 applies: the request reached one of the four addresses
  FiveTuple to;            // the response's destination and, as `server`, the address it leaves from
  size_t padding = 0;      // PADDING length to echo (7.6)
};

}  // namespace turn
