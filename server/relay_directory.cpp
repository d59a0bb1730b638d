#include "server/relay_directory.hpp"

namespace turnpike {

using turn::Endpoint;
using turn::IpAddress;

void RelayDirectory::add(const Endpoint& bound, Entry e) {
  std::lock_guard lock(mu_);
  map_[bound] = std::move(e);
}

void RelayDirectory::remove(const Endpoint& bound) {
  std::lock_guard lock(mu_);
  map_.erase(bound);
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
