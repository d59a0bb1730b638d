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
  std::array<uint8_t, 1500> out{};
};

}  // namespace turn
