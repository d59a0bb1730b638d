// Quotas shared by all shards (RFC 8656 7.2 step 7: 486 per user, 508 for the server), with the
// ports held by EVEN-PORT reservations counted like allocations.
#include "turn/core.hpp"

namespace turn {

void Quotas::set_limits(uint64_t max_total, uint64_t max_per_user) {
  std::lock_guard lock(mu_);
  max_total_ = max_total;
  max_per_user_ = max_per_user;
}

Quotas::Result Quotas::acquire(const std::string& user) {
  std::lock_guard lock(mu_);
  return acquire_locked(user);
}

Quotas::Result Quotas::acquire_locked(const std::string& user) {
  if (total_.load() >= max_total_) return Result::Capacity;
  auto& n = per_user_[user];
  if (n >= max_per_user_) {
    if (n == 0) per_user_.erase(user);
    return Result::UserQuota;
  }
  ++n;
  ++total_;
  return Result::Ok;
}

void Quotas::release(const std::string& user) {
  std::lock_guard lock(mu_);
  release_locked(user);
}

void Quotas::release_locked(const std::string& user) {
  auto it = per_user_.find(user);
  if (it != per_user_.end() && it->second > 0 && --it->second == 0) per_user_.erase(it);
  if (total_.load() > 0) --total_;
}

void Quotas::hold(const std::string& user, const Token& token, int64_t until_ms) {
  std::lock_guard lock(mu_);
  auto [it, fresh] = holds_.emplace(token, Hold{user, until_ms});
  if (!fresh) release_locked(user);  // a token already held (64 random bits: never in practice)
}

Quotas::Result Quotas::claim(const std::string& user, const Token& token, bool& other_holder) {
  std::lock_guard lock(mu_);
  other_holder = false;
  if (auto it = holds_.find(token); it != holds_.end()) {
    if (it->second.user == user) {
      holds_.erase(it);  // the held count is now the allocation's
      return Result::Ok;
    }
    other_holder = true;
  }
  return acquire_locked(user);
}

void Quotas::unhold(const Token& token) {
  std::lock_guard lock(mu_);
  auto it = holds_.find(token);
  if (it == holds_.end()) return;
  release_locked(it->second.user);
  holds_.erase(it);
}

void Quotas::expire_holds(int64_t now_ms) {
  std::lock_guard lock(mu_);
  for (auto it = holds_.begin(); it != holds_.end();) {
    if (it->second.until_ms > now_ms) { ++it; continue; }
    release_locked(it->second.user);
    it = holds_.erase(it);
  }
}

size_t Quotas::holds() const {
  std::lock_guard lock(mu_);
  return holds_.size();
}

}  // namespace turn
