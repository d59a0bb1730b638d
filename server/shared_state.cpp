#include "server/shared_state.hpp"

#include <unistd.h>

#include "server/log.hpp"
#include "turn/crypto.hpp"

namespace turnpike {

using turn::Endpoint;
using turn::IpAddress;

Reservations::~Reservations() {
  for (auto& [_, e] : entries_) ::close(e.fd);
}

turn::stun::ReservationToken Reservations::put(int fd, const Endpoint& ep, int64_t until_ms) {
  turn::stun::ReservationToken t;
  turn::crypto::random_bytes(t.token);
  std::lock_guard lock(mu_);
  entries_[t.token] = {fd, ep, until_ms};
  return t;
}

bool Reservations::take(const turn::stun::ReservationToken& t, int& fd, Endpoint& ep) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(t.token);
  if (it == entries_.end()) return false;
  fd = it->second.fd;
  ep = it->second.endpoint;
  entries_.erase(it);
  return true;
}

void Reservations::expire(int64_t now_ms) {
  std::lock_guard lock(mu_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.expires_ms <= now_ms) {
      ::close(it->second.fd);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

uint64_t Reservations::held_on(const turn::IpAddress& a) {
  std::lock_guard lock(mu_);
  uint64_t n = 0;
  for (const auto& [_, e] : entries_) n += e.endpoint.address == a ? 1 : 0;
  return n;
}

// ---------------------------------------------------------------------------------------------
void SharedState::connection_refused(ConnectionPolicy::Verdict v, const Endpoint& client, turn::Transport t) {
  bool total = v == ConnectionPolicy::Verdict::OverTotal;
  metrics.connection_refused(total ? Metrics::Refused::Total : Metrics::Refused::PerPrefix);
  uint64_t n = ++refused_connections;
  if (n == 1 || n % 1000 == 0)
    log::warn("connection_refused", {log::str("client", client.to_string()), log::str("transport", turn::to_string(t)),
                                     log::str("reason", total ? "limits.max_connections" : "limits.max_connections_per_ip"),
                                     log::str("network", connections.network(client.address).to_string()),
                                     log::num("refused_total", static_cast<long long>(n))});
}

void SharedState::site_overflow(Metrics::SiteTable t) {
  metrics.site_overflow(t);
  uint64_t n = ++site_overflows;
  if (n == 1 || n % 1000 == 0)
    log::warn("site_table_full", {log::str("table", t == Metrics::SiteTable::Labels ? "labels" : "idle_timers"),
                                  log::str("why", "more site labels than limits.max_sites: counted as \"other\""),
                                  log::num("overflow_total", static_cast<long long>(n))});
}

}  // namespace turnpike
