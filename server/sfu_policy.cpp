#include "server/sfu_policy.hpp"

namespace turnpike {

sfu::EngineConfig::Admission sfu_admission(const turn::RegionPolicy* regions, const RelayDirectory& relays,
                                           const turn::Endpoint& from) {
  using Verdict = sfu::EngineConfig::Admission::Verdict;
  sfu::EngineConfig::Admission a;
  if (!regions || !regions->enabled()) return a;
  if (relays.is_relay_address(from.address))
    if (auto t = relays.find(from)) {
      a.via_own_relay = true;
      a.region = t->client_region;
      a.verdict = t->drift ? Verdict::Drift : Verdict::Serve;
      return a;
    }
  auto d = regions->client(from.address, std::nullopt);
  if (d.region) {
    a.region = d.region->name;
    a.signal_url = d.region->signal_url;
  }
  switch (d.verdict) {
    case turn::RegionPolicy::Verdict::Serve: a.verdict = Verdict::Serve; break;
    case turn::RegionPolicy::Verdict::Drift: a.verdict = Verdict::Drift; break;
    case turn::RegionPolicy::Verdict::Redirect:
    case turn::RegionPolicy::Verdict::Refuse:
      a.verdict = d.region && !a.signal_url.empty() &&
                          regions->config().foreign_clients == turn::ResidencyConfig::Foreign::Redirect
                      ? Verdict::Redirect
                      : Verdict::Refuse;
      break;
  }
  return a;
}

sfu::Path classify_path(const RelayDirectory& relays, const turn::Endpoint& from) {
  if (!relays.is_relay_address(from.address)) return sfu::Path::Direct;
  auto t = relays.find(from);
  if (!t) return sfu::Path::Direct;
  switch (t->transport) {
    case turn::Transport::Udp: return sfu::Path::RelayUdp;
    case turn::Transport::Tcp: return sfu::Path::RelayTcp;
    case turn::Transport::Tls: return sfu::Path::RelayTls;
    case turn::Transport::Dtls: return sfu::Path::RelayDtls;
  }
  return sfu::Path::RelayExternal;
}

}  // namespace turnpike
