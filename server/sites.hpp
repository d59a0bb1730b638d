// Which site a client address belongs to, for per-site metrics (sites.* in the config): the first
// configured site whose CIDRs contain it, else its /24 (IPv4) or /56 (IPv6) network. Unconfigured
// networks are capped at kMaxUnconfigured distinct labels (then "other"), so a scan of many
// addresses cannot blow up the metrics' cardinality. Thread-safe.
#pragma once
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "server/config.hpp"

namespace turnpike {

class SiteMap {
 public:
  static constexpr size_t kMaxUnconfigured = 256;
  explicit SiteMap(std::vector<Config::Site> sites) : sites_(std::move(sites)) {}

  std::string site_of(const turn::IpAddress& a) const {
    turn::IpAddress ip = a.unmapped();
    for (const auto& s : sites_)
      for (const auto& c : s.cidrs)
        if (c.contains(ip)) return s.name;
    turn::Cidr net{ip, static_cast<uint8_t>(ip.is_v4() ? 24 : 56)};
    net.network = masked(ip, net.prefix);
    std::string label = net.to_string();
    std::lock_guard lock(mu_);
    if (seen_.count(label)) return label;
    if (seen_.size() >= kMaxUnconfigured) return "other";
    seen_.insert(label);
    return label;
  }

 private:
  static turn::IpAddress masked(const turn::IpAddress& ip, uint8_t prefix) {
    auto out = ip;
    auto& b = out.bytes;
    size_t bits = prefix;  // IPv4 lives in the first 4 bytes
    for (size_t i = 0; i < ip.size(); ++i) {
      size_t lo = i * 8;
      if (lo >= bits) b[i] = 0;
      else if (lo + 8 > bits) b[i] &= static_cast<uint8_t>(0xFF << (8 - (bits - lo)));
    }
    return out;
  }
  std::vector<Config::Site> sites_;
  mutable std::mutex mu_;
  mutable std::unordered_set<std::string> seen_;
};

}  // namespace turnpike
