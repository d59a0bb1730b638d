// Data-residency pinning (docs/residency.md): the region catalog every node shares, and this node's
// policy: which client regions it serves, which peer regions it relays to, and what happens to the
// rest. Sans-I/O and immutable once built: shared read-only by all shards.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "turn/address.hpp"
#include "turn/turn_uri.hpp"

namespace turn {

// The ALTERNATE-SERVER among `urls` for a client that reached us over `t` from an address of family
// `f`: the first URL with a literal address of that family (RFC 8489 14.15) that carries the same
// transport (RFC 8489 10), one that names the transport before one that does not. nullopt: none
// fits. Residency redirects (a region's turn_urls) and drain (drain.alternate_urls) both use it.
inline std::optional<Endpoint> alternate_among(const std::vector<TurnUri>& urls, Transport t, Family f) {
  const TurnUri* loose = nullptr;
  for (const auto& u : urls) {
    if (!u.literal || u.literal->family != f || !u.carries(t)) continue;
    if (u.names(t)) return u.endpoint();
    if (!loose) loose = &u;
  }
  return loose ? loose->endpoint() : std::nullopt;
}

struct Region {
  std::string name;
  std::vector<Cidr> networks;
  std::vector<TurnUri> turn_urls;  // the region's TURN servers, in the catalog's order
  std::string signal_url;

  // Where ALTERNATE-SERVER sends a client of this region that reached us over `t` from an address
  // of family `f` (alternate_among below). nullopt: this region has no TURN server that client could reach.
  std::optional<Endpoint> alternate_for(Transport t, Family f) const;
  bool has_literal_url() const {
    for (const auto& u : turn_urls)
      if (u.literal) return true;
    return false;
  }
};

struct ResidencyConfig {
  std::vector<Region> regions;  // the catalog; empty: residency off
  std::string own;              // this node's region
  std::vector<std::string> peer_regions, client_regions;
  enum class Foreign : uint8_t { Redirect, Refuse, Serve } foreign_clients = Foreign::Redirect;
  bool serve_unknown = false;   // unknown_addresses: serve (default refuse)
};

inline std::optional<Endpoint> Region::alternate_for(Transport t, Family f) const {
  return alternate_among(turn_urls, t, f);
}

class RegionPolicy {
 public:
  explicit RegionPolicy(ResidencyConfig cfg) : cfg_(std::move(cfg)) {}
  bool enabled() const { return !cfg_.regions.empty(); }
  const ResidencyConfig& config() const { return cfg_; }

  const Region* find(std::string_view name) const {
    for (const auto& r : cfg_.regions)
      if (r.name == name) return &r;
    return nullptr;
  }
  const Region* region_of(const IpAddress& a) const {
    IpAddress ip = a.unmapped();
    for (const auto& r : cfg_.regions)
      for (const auto& n : r.networks)
        if (n.contains(ip)) return &r;
    return nullptr;
  }

  // What to do with a client: its region is the one its credential pins, else its address's.
  enum class Verdict : uint8_t { Serve, Drift, Redirect, Refuse };
  enum class Basis : uint8_t { Address, Credential };
  struct ClientDecision {
    Verdict verdict = Verdict::Serve;
    Basis basis = Basis::Address;
    const Region* region = nullptr;  // the client's region (null: an address in no region)
    std::optional<Endpoint> alternate;  // Redirect with a known transport: ALTERNATE-SERVER
  };
  // `transport`: what the client reached us over, which the redirect must keep; without it (the
  // SFU, which redirects to a signal_url, and policy reloads) any literal TURN URL will do.
  ClientDecision client(const IpAddress& address, std::optional<std::string_view> pinned,
                        std::optional<Transport> transport = std::nullopt) const {
    ClientDecision d;
    if (!enabled()) return d;
    if (pinned) {
      d.basis = Basis::Credential;
      d.region = find(*pinned);
      if (!d.region) return {Verdict::Refuse, Basis::Credential, nullptr, std::nullopt};  // pinned to no region we know
    } else {
      d.region = region_of(address);
      if (!d.region) {
        d.verdict = cfg_.serve_unknown ? Verdict::Serve : Verdict::Refuse;
        return d;
      }
    }
    if (serves(d.region->name)) return d;
    switch (cfg_.foreign_clients) {
      case ResidencyConfig::Foreign::Serve: d.verdict = Verdict::Drift; break;
      case ResidencyConfig::Foreign::Refuse: d.verdict = Verdict::Refuse; break;
      case ResidencyConfig::Foreign::Redirect:
        if (transport) d.alternate = d.region->alternate_for(*transport, address.unmapped().family);
        d.verdict = (transport ? d.alternate.has_value() : d.region->has_literal_url()) ? Verdict::Redirect
                                                                                       : Verdict::Refuse;
        break;
    }
    return d;
  }

  // Relayed peers must lie in one of peer_regions (an address in no region: unknown_addresses).
  bool peer_allowed(const IpAddress& a, const Region** region = nullptr) const {
    if (!enabled()) return true;
    const Region* r = region_of(a);
    if (region) *region = r;
    if (!r) return cfg_.serve_unknown;
    for (const auto& p : cfg_.peer_regions)
      if (p == r->name) return true;
    return false;
  }
  bool serves(std::string_view region) const {
    for (const auto& c : cfg_.client_regions)
      if (c == region) return true;
    return false;
  }

 private:
  ResidencyConfig cfg_;
};

}  // namespace turn
