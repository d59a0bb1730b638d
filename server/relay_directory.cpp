#include "server/relay_directory.hpp"

namespace turnpike {

using turn::Endpoint;
using turn::IpAddress;

void RelayDirectory::add(const Endpoint& bound, Entry e) {
  std::lock_guard lock(mu_);
  if (map_.insert_or_assign(bound, std::move(e)).second) count(bound.address, +1);
}

void RelayDirectory::remove(const Endpoint& bound) {
  std::lock_guard lock(mu_);
  if (map_.erase(bound) > 0) count(bound.address, -1);
}

void RelayDirectory::count(const IpAddress& a, int delta) {
  for (size_t i = 0; i < addresses_.size(); ++i)
    if (addresses_[i] == a) in_use_[i] = delta > 0 ? in_use_[i] + 1 : in_use_[i] - 1;
}

uint64_t RelayDirectory::in_use(const IpAddress& a) const {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < addresses_.size(); ++i)
    if (addresses_[i] == a) return in_use_[i];
  return 0;
}

std::optional<RelayDirectory::Entry> RelayDirectory::find(const Endpoint& bound) const {
  std::lock_guard lock(mu_);
  auto it = map_.find(bound);
  if (it == map_.end()) return std::nullopt;
  return it->second;
}

bool RelayDirectory::is_relay_address(const IpAddress& a) const {
  for (const auto& r : addresses_)
    if (r == a) return true;
  return false;
}

}  // namespace turnpike
