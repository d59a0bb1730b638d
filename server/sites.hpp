// Which site a client address belongs to, for per-site metrics (sites.* in the config): the first
// configured site whose CIDRs contain it, else its /24 (IPv4) or /56 (IPv6) network. Labels that
// are not configured sites (those networks, and the `site` tags of turnpike-diag reports, which a
// client chooses) are capped at limits.max_sites distinct values; beyond, "other", counted through
// `on_overflow`. A scan of many addresses or a flood of reports cannot blow up the metrics'
// cardinality nor crowd out the configured sites. Thread-safe.
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "server/config.hpp"
#include "server/connection_policy.hpp"

namespace turnpike {

class SiteMap {
 public:
  explicit SiteMap(std::vector<Config::Site> sites, size_t max_labels = 256, std::function<void()> on_overflow = {})
      : sites_(std::make_shared<const std::vector<Config::Site>>(std::move(sites))),
        max_labels_(max_labels),
        on_overflow_(std::move(on_overflow)) {}

  // Reloaded sites (SIGHUP): later lookups use them; labels already handed out stay counted.
  void set_sites(std::vector<Config::Site> sites) {
    auto fresh = std::make_shared<const std::vector<Config::Site>>(std::move(sites));
    std::lock_guard lock(sites_mu_);
    sites_ = std::move(fresh);
  }

  std::string site_of(const turn::IpAddress& a) const {
    turn::IpAddress ip = a.unmapped();
    for (const auto& s : *sites())
      for (const auto& c : s.cidrs)
        if (c.contains(ip)) return s.name;
    turn::Cidr net{network_of(ip, static_cast<uint8_t>(ip.is_v4() ? 24 : 56)), static_cast<uint8_t>(ip.is_v4() ? 24 : 56)};
    return admit(net.to_string());
  }

  // The label a client-chosen site name counts under: itself if configured or already seen (or
  // room is left), else "other".
  std::string label(const std::string& name) const {
    if (configured(name) || name == "other" || name == "unknown") return name;
    return admit(name);
  }

  bool configured(const std::string& name) const {
    for (const auto& s : *sites())
      if (s.name == name) return true;
    return false;
  }
  std::vector<std::string> configured_names() const {
    std::vector<std::string> out;
    for (const auto& s : *sites()) out.push_back(s.name);
    return out;
  }

 private:
  std::string admit(const std::string& label) const {
    {
      std::lock_guard lock(mu_);
      if (seen_.count(label)) return label;
      if (seen_.size() < max_labels_) {
        seen_.insert(label);
        return label;
      }
    }
    if (on_overflow_) on_overflow_();
    return "other";
  }
  std::shared_ptr<const std::vector<Config::Site>> sites() const {
    std::lock_guard lock(sites_mu_);
    return sites_;
  }
  mutable std::mutex sites_mu_;
  std::shared_ptr<const std::vector<Config::Site>> sites_;
  size_t max_labels_;
  std::function<void()> on_overflow_;
  mutable std::mutex mu_;
  mutable std::unordered_set<std::string> seen_;
};

}  // namespace turnpike
