#include "server/connection_policy.hpp"

namespace turnpike {

turn::IpAddress network_of(const turn::IpAddress& a, uint8_t prefix) {
  turn::IpAddress out = a.unmapped();
  size_t bits = prefix;
  for (size_t i = 0; i < out.size(); ++i) {
    size_t lo = i * 8;
    if (lo >= bits) out.bytes[i] = 0;
    else if (lo + 8 > bits) out.bytes[i] &= static_cast<uint8_t>(0xFF << (8 - (bits - lo)));
  }
  return out;
}

turn::IpAddress ConnectionPolicy::network(const turn::IpAddress& a) const {
  turn::IpAddress ip = a.unmapped();
  return network_of(ip, ip.is_v4() ? limits_.prefix_v4 : limits_.prefix_v6);
}

ConnectionPolicy::Verdict ConnectionPolicy::acquire(const turn::IpAddress& a) {
  turn::Endpoint key{network(a), 0};
  std::lock_guard lock(mu_);
  if (total_ >= limits_.max_total) return Verdict::OverTotal;
  auto it = per_network_.find(key);
  if (it != per_network_.end() && it->second >= limits_.max_per_prefix) return Verdict::OverPrefix;
  if (limits_.max_per_prefix == 0) return Verdict::OverPrefix;
  ++per_network_[key];
  ++total_;
  return Verdict::Admit;
}

void ConnectionPolicy::release(const turn::IpAddress& a) {
  turn::Endpoint key{network(a), 0};
  std::lock_guard lock(mu_);
  auto it = per_network_.find(key);
  if (it == per_network_.end()) return;  // never admitted: nothing to give back
  if (--it->second == 0) per_network_.erase(it);
  --total_;
}

uint64_t ConnectionPolicy::total() const {
  std::lock_guard lock(mu_);
  return total_;
}

size_t ConnectionPolicy::networks() const {
  std::lock_guard lock(mu_);
  return per_network_.size();
}

}  // namespace turnpike
