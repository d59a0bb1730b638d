// log.redact_users (issue 17, docs/logs.md): user identities in logs and metric labels replaced by
// the first 16 hex digits of SHA-256(salt || identity), so the same user reads the same in every
// line of a node (and of every node with the same log.redact_salt) without naming them.
#pragma once

#include <string>
#include <string_view>

namespace turnpike {

class UserRedactor {
 public:
  UserRedactor() = default;
  UserRedactor(bool on, std::string salt) : on_(on), salt_(std::move(salt)) {}
  bool on() const { return on_; }
  // `user` itself when off; else "u:" and 16 lower-case hex digits. An empty identity stays empty.
  std::string operator()(std::string_view user) const;

 private:
  bool on_ = false;
  std::string salt_;
};

}  // namespace turnpike
