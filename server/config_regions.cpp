// regions.* and residency.* (docs/residency.md): the residency catalog and policy, and the checks
// that every node's catalog agrees (disjoint networks, known names, this node inside its region).
#include <string>

#include "server/config_impl.hpp"

namespace turnpike::config_detail {

namespace {
using turn::Cidr;
using turn::IpAddress;

void check_disjoint_networks(const std::vector<turn::Region>& regions) {
  for (size_t i = 0; i < regions.size(); ++i)
    for (size_t j = i + 1; j < regions.size(); ++j)
      for (const auto& a : regions[i].networks)
        for (const auto& b : regions[j].networks)
          if (a.overlaps(b))
            throw ConfigError("regions." + regions[j].name + ".networks",
                              b.to_string() + " overlaps " + a.to_string() + " of region " + regions[i].name);
}

}  // namespace

void parse_regions(const YAML::Node& n, Config& c) {
  if (!n.IsMap()) throw ConfigError("regions", "must map region names to {networks, turn_urls, signal_url}");
  for (const auto& kv : n) {
    turn::Region r;
    r.name = kv.first.as<std::string>();
    std::string key = "regions." + r.name;
    if (r.name.empty() || r.name.size() > 64) throw ConfigError(key, "region names are 1 to 64 characters");
    only_keys(kv.second, key, {"networks", "turn_urls", "signal_url"});
    r.networks = cidrs(kv.second["networks"], key + ".networks");
    if (r.networks.empty()) throw ConfigError(key + ".networks", "must list the region's networks (CIDRs)");
    if (const auto& u = kv.second["turn_urls"]; u && !u.IsNull()) {
      if (!u.IsSequence()) throw ConfigError(key + ".turn_urls", "must be a list of turn: or turns: URLs");
      for (size_t i = 0; i < u.size(); ++i) {
        std::string k = key + ".turn_urls[" + std::to_string(i) + "]", why;
        auto uri = turn::TurnUri::parse(str(u[i], k), &why);
        if (!uri) throw ConfigError(k, why);
        r.turn_urls.push_back(std::move(*uri));
      }
    }
    if (kv.second["signal_url"]) r.signal_url = str(kv.second["signal_url"], key + ".signal_url");
    c.residency.regions.push_back(std::move(r));
  }
}

void parse_residency(const YAML::Node& n, Config& c) {
  only_keys(n, "residency", {"peer_regions", "client_regions", "foreign_clients", "unknown_addresses"});
  auto names = [&](const char* k) {
    std::vector<std::string> out;
    const auto& v = n[k];
    if (!v || v.IsNull()) return out;
    if (!v.IsSequence()) throw ConfigError(std::string("residency.") + k, "must be a list of region names");
    for (size_t i = 0; i < v.size(); ++i) out.push_back(str(v[i], std::string("residency.") + k + "[" + std::to_string(i) + "]"));
    return out;
  };
  c.residency.peer_regions = names("peer_regions");
  c.residency.client_regions = names("client_regions");
  if (n["foreign_clients"]) {
    auto v = str(n["foreign_clients"], "residency.foreign_clients");
    if (v == "redirect") c.residency.foreign_clients = turn::ResidencyConfig::Foreign::Redirect;
    else if (v == "refuse") c.residency.foreign_clients = turn::ResidencyConfig::Foreign::Refuse;
    else if (v == "serve") c.residency.foreign_clients = turn::ResidencyConfig::Foreign::Serve;
    else throw ConfigError("residency.foreign_clients", "must be redirect, refuse or serve");
  }
  if (n["unknown_addresses"]) {
    auto v = str(n["unknown_addresses"], "residency.unknown_addresses");
    if (v != "refuse" && v != "serve") throw ConfigError("residency.unknown_addresses", "must be refuse or serve");
    c.residency.serve_unknown = v == "serve";
  }
  c.residency_configured = true;
}

// The catalog is the same on every node: disjoint networks, known names, and this node inside its region.
void check_residency(Config& c) {
  auto& r = c.residency;
  if (r.regions.empty()) {
    if (c.residency_configured) throw ConfigError("residency", "needs the regions catalog");
    return;
  }
  check_disjoint_networks(r.regions);
  turn::RegionPolicy probe(r);
  const turn::Region* own = probe.find(c.region);
  if (!own) throw ConfigError("region", "'" + c.region + "' is not in the regions catalog");
  r.own = c.region;
  if (!c.residency_configured) r.peer_regions = r.client_regions = {c.region};
  for (const auto* list : {&r.peer_regions, &r.client_regions})
    for (const auto& name : *list)
      if (!probe.find(name))
        throw ConfigError(list == &r.peer_regions ? "residency.peer_regions" : "residency.client_regions",
                          "unknown region '" + name + "'");
  for (size_t i = 0; i < c.relay_addresses.size(); ++i) {
    const auto& a = c.relay_external_addresses.empty() ? c.relay_addresses[i] : c.relay_external_addresses[i];
    if (probe.region_of(a) != own)
      throw ConfigError("relay.addresses", a.to_string() + " lies outside this node's region " + c.region);
  }
  c.core.regions = std::make_shared<const turn::RegionPolicy>(r);
}

}  // namespace turnpike::config_detail
