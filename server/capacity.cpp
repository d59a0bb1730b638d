#include "server/capacity.hpp"

#include <openssl/asn1.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <ctime>

#include "server/shared_state.hpp"

namespace turnpike {

namespace {

// notAfter of the leaf certificate a TLS context serves, as Unix seconds.
std::optional<int64_t> not_after(const std::shared_ptr<boost::asio::ssl::context>& ctx) {
  if (!ctx) return std::nullopt;
  X509* cert = SSL_CTX_get0_certificate(ctx->native_handle());
  if (cert == nullptr) return std::nullopt;
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace

CapacityFacts capacity_facts(SharedState& s) {
  const Config& c = s.config;
  CapacityFacts f;
  f.allocations = s.quotas->total();
  f.max_allocations = c.max_allocations;
  uint64_t span = uint64_t{c.relay_port_max} - c.relay_port_min + 1;
  for (const auto& a : c.relay_addresses)
    f.relay_ports.push_back({s.relay_directory.in_use(a) + s.reservations.held_on(a), span});
  f.tcp_connections = s.streams.open(turn::Transport::Tcp);
  f.tls_connections = s.streams.open(turn::Transport::Tls);
  f.max_connections = c.max_connections;
  if (!c.tls_cert.empty()) {
    f.turn_cert_expiry = not_after(s.tls.current());
    if (c.sfu.enabled && c.sfu.signal_tls) f.signal_cert_expiry = f.turn_cert_expiry;
  }
  return f;
}

ReadinessFacts readiness_facts(SharedState& s) {
  ReadinessFacts r;
  auto state = s.state.load();
  r.starting = state == SharedState::State::Starting;
  r.draining = state == SharedState::State::Draining;
  r.allocations = s.quotas->total();
  r.max_allocations = s.config.max_allocations;
  r.relay_ports = capacity_facts(s).relay_ports;
  return r;
}

}  // namespace turnpike
