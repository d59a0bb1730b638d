// Binding (RFC 8489 10.1.2), with NAT behavior discovery (RFC 5780 6) on the four addresses of
// CoreConfig::nat_discovery. Not authenticated: RFC 8656 permits anonymous Binding.
#include <algorithm>
#include <array>

#include "turn/core.hpp"
#include "turn/core_context.hpp"

namespace turn {

using namespace stun;

namespace {

// The address a response leaves from when CHANGE-REQUEST asks for the other IP and/or port of
// the one the request reached (RFC 5780 6.1); with both, this is also OTHER-ADDRESS.
Endpoint changed(const Endpoint& local, const NatDiscoveryConfig& n, bool ip, bool port) {
  Endpoint e = local;
  if (ip) e.address = local.address == n.primary.address ? n.alternate.address : n.primary.address;
  if (port) e.port = local.port == n.primary.port ? n.alternate.port : n.primary.port;
  return e;
}

constexpr size_t kMaxPaddingEcho = 1024;  // PADDING echoed at most this long: the answer stays one datagram
const std::array<uint8_t, kMaxPaddingEcho> kZeros{};

}  // namespace

bool Core::discovery_endpoint(const Endpoint& local) const {
  if (!cfg_.nat_discovery) return false;
  const auto& n = *cfg_.nat_discovery;
  bool ip = local.address == n.primary.address || local.address == n.alternate.address;
  bool port = local.port == n.primary.port || local.port == n.alternate.port;
  return ip && port;
}

bool Core::discovery_applies(const Context& c) const {
  return c.msg.method() == Method::Binding && discovery_endpoint(c.from.server);
}

void Core::handle_binding(Context& c) {
  BindingOptions o;
  o.to = c.from;
  if (discovery_applies(c) && !binding_options(c, o)) return;
  send_binding(c, o);
}

// RFC 5780 6.1, one step each: the request's options, then whether this source may have them.
bool Core::binding_options(Context& c, BindingOptions& o) {
  const auto& n = *cfg_.nat_discovery;
  std::optional<ChangeRequest> change;
  std::optional<ResponsePort> response_port;
  if (const auto* a = c.msg.find(attr::ChangeRequest)) {
    if (!(change = ChangeRequest::decode(a->value))) return send_error(c, 400, "Bad Request: malformed CHANGE-REQUEST"), false;
  }
  if (const auto* a = c.msg.find(attr::ResponsePort)) {
    if (!(response_port = ResponsePort::decode(a->value)) || response_port->port == 0)
      return send_error(c, 400, "Bad Request: malformed RESPONSE-PORT"), false;
  }
  bool redirects = (change && (change->change_ip || change->change_port)) || response_port;
  // Step 1: CHANGE-REQUEST and RESPONSE-PORT are for UDP only (RFC 5780 6.1, 7.2, 7.5).
  if (redirects && c.from.transport != Transport::Udp)
    return send_error(c, 400, "Bad Request: CHANGE-REQUEST and RESPONSE-PORT need UDP"), false;
  // Step 2: the per-source limit. Beyond it a redirect gets a short error where it came from (a
  // silent drop would read as a filtering NAT to the client) and a plain request the plain answer.
  if (!discovery_limiter_.allow(c.from.client.address, c.now.mono_ms)) {
    stats_.nat_discovery_limited.add(1);
    if (redirects) return send_error(c, 400, "Rate limited"), false;
    return true;
  }
  // Step 3: where the answer goes and where it leaves from.
  o.discovery = true;
  if (change) o.to.server = changed(c.from.server, n, change->change_ip, change->change_port);
  if (response_port) o.to.client.port = response_port->port;
  // Step 4: PADDING (7.6) is echoed, within the request's own size: never an amplifier.
  if (const auto* a = c.msg.find(attr::Padding); a && c.from.transport == Transport::Udp)
    o.padding = std::min(a->value.size(), kMaxPaddingEcho) & ~size_t{3};
  return true;
}

void Core::send_binding(Context& c, const BindingOptions& o) {
  Builder b(c.out, Method::Binding, Class::Success, c.msg.transaction_id());
  b.add_xor_address(attr::XorMappedAddress, c.from.client);
  if (o.discovery) {
    const auto& n = *cfg_.nat_discovery;
    b.add_address(attr::MappedAddress, c.from.client);  // RFC 5780 9: tells an ALG that rewrites it
    b.add_address(attr::ResponseOrigin, o.to.server);
    b.add_address(attr::OtherAddress, changed(c.from.server, n, true, true));
    if (o.padding) b.add(attr::Padding, std::span<const uint8_t>(kZeros.data(), o.padding));
    stats_.nat_discovery_responses.add(1);
  }
  if (c.msg.has_fingerprint()) b.add_fingerprint();
  if (!b.ok()) return;
  bool sent = unauth_budget_allows(c, b.bytes().size());
  report_answer(c, sent);  // Sink::answered, for the debug log
  if (!sent) return;
  std::span<const uint8_t> parts[1] = {b.bytes()};
  sink_.to_client(o.to, parts);
  sink_.request_done(Method::Binding, 200, c.from.transport);
}

}  // namespace turn
