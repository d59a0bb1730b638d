// TURN request handlers (RFC 8656 7.2, 7.3, 9.2, 11.2), one helper per numbered step where the
// RFC numbers them. Authentication (RFC 8489 9.2.4) has already succeeded when these run.
#include <algorithm>
#include <cstring>

#include "turn/core.hpp"
#include "turn/core_context.hpp"

namespace turn {

using stun::Builder;
using stun::Class;
using stun::Method;
namespace attr = stun::attr;

namespace {

// What an Allocate asked for, after the syntax checks of RFC 8656 7.2 steps 3-7.
struct AllocateAsk {
  Family family = Family::V4;
  bool even_port = false, reserve_next = false, dont_fragment = false;
  std::optional<stun::ReservationToken> token;
  bool additional_v6 = false;  // ADDITIONAL-ADDRESS-FAMILY: a dual allocation (RFC 8656 7.2)
  uint32_t lifetime_s = 0;
  int error = 0;
  const char* reason = nullptr;
};

bool fail(AllocateAsk& ask, int code, const char* reason) {
  ask.error = code;
  ask.reason = reason;
  return false;
}

// Step 3: REQUESTED-TRANSPORT must be present and UDP (TCP relaying is RFC 6062, not offered).
bool check_transport(const stun::Message& m, AllocateAsk& ask) {
  const auto* rt = m.find(attr::RequestedTransport);
  if (!rt) return fail(ask, 400, "Bad Request: REQUESTED-TRANSPORT missing");
  auto v = stun::RequestedTransport::decode(rt->value);
  if (!v) return fail(ask, 400, "Bad Request: REQUESTED-TRANSPORT malformed");
  if (v->protocol != stun::RequestedTransport::kUdp) return fail(ask, 442, "Unsupported Transport Protocol");
  return true;
}

// Steps 5-6 and RFC 8656 7.2 family rules: RESERVATION-TOKEN excludes EVEN-PORT and
// REQUESTED-ADDRESS-FAMILY; REQUESTED- and ADDITIONAL-ADDRESS-FAMILY exclude each other.
bool check_port_and_family(const stun::Message& m, AllocateAsk& ask) {
  const auto* tok = m.find(attr::ReservationToken);
  const auto* even = m.find(attr::EvenPort);
  const auto* fam = m.find(attr::RequestedAddressFamily);
  const auto* add = m.find(attr::AdditionalAddressFamily);
  if (tok && (even || fam)) return fail(ask, 400, "Bad Request: RESERVATION-TOKEN with EVEN-PORT or family");
  if (fam && add) return fail(ask, 400, "Bad Request: REQUESTED- and ADDITIONAL-ADDRESS-FAMILY");
  if (tok) {
    ask.token = stun::ReservationToken::decode(tok->value);
    if (!ask.token) return fail(ask, 400, "Bad Request: RESERVATION-TOKEN malformed");
  }
  if (even) {
    auto e = stun::EvenPort::decode(even->value);
    if (!e) return fail(ask, 400, "Bad Request: EVEN-PORT malformed");
    ask.even_port = true;
    ask.reserve_next = e->reserve_next;
  }
  if (fam) {
    auto f = stun::AddressFamily::decode(fam->value);
    if (!f) return fail(ask, 400, "Bad Request: REQUESTED-ADDRESS-FAMILY malformed");
    ask.family = f->family;
  }
  if (add) {
    auto f = stun::AddressFamily::decode(add->value);
    if (!f || f->family != Family::V6) return fail(ask, 400, "Bad Request: ADDITIONAL-ADDRESS-FAMILY must be IPv6");
    if (tok || even) return fail(ask, 400, "Bad Request: ADDITIONAL-ADDRESS-FAMILY with EVEN-PORT or token");
    ask.additional_v6 = true;
  }
  ask.dont_fragment = m.has(attr::DontFragment);
  return true;
}

// Step 9 (lifetime): min(requested, max), but never below the default (RFC 8656 7.2).
uint32_t allocate_lifetime(const stun::Message& m, const CoreConfig& cfg) {
  uint32_t want = cfg.default_lifetime_s;
  if (const auto* l = m.find(attr::Lifetime))
    if (auto v = stun::Lifetime::decode(l->value)) want = std::min(v->seconds, cfg.max_lifetime_s);
  return std::max(want, cfg.default_lifetime_s);
}

int relay_error_code(RelayProvider::Error e, const char** reason) {
  switch (e) {
    case RelayProvider::Error::NoAddressForFamily: *reason = "Address Family not Supported"; return 440;
    case RelayProvider::Error::UnknownToken: *reason = "Insufficient Capacity: reservation unknown"; return 508;
    default: *reason = "Insufficient Capacity"; return 508;
  }
}

}  // namespace

void Core::handle_allocate(Context& c) {
  // Step 2: a 5-tuple holds one allocation; a retransmitted Allocate gets the same answer.
  if (c.alloc) {
    if (c.alloc->allocate_txid != c.msg.transaction_id()) return send_error(c, 437, "Allocation Mismatch");
    Builder b(c.out, Method::Allocate, Class::Success, c.msg.transaction_id());
    for (size_t i = 0; i < c.alloc->relay_count; ++i) b.add_xor_address(attr::XorRelayedAddress, c.alloc->relays[i].address);
    b.add_u32(attr::Lifetime, static_cast<uint32_t>(std::max<int64_t>(0, (c.alloc->expires_ms - c.now.mono_ms) / 1000)));
    b.add_xor_address(attr::XorMappedAddress, c.from.client);
    finish_and_send(c, b);
    return sink_.request_done(Method::Allocate, 200, c.from.transport);
  }
  AllocateAsk ask;
  if (!check_transport(c.msg, ask) || !check_port_and_family(c.msg, ask)) return send_error(c, ask.error, ask.reason);
  ask.lifetime_s = allocate_lifetime(c.msg, cfg_);
  // Data residency, before anything is reserved: another region's client never gets an allocation.
  std::string client_region;
  bool drift = false;
  if (!residency_allows_client(c, client_region, drift)) return;
  if (!drain_allows_client(c)) return;  // draining: new allocations go elsewhere
  // Step 7: quotas; a port reserved by EVEN-PORT's R bit counts as one more allocation.
  const std::string& user = c.cred->user;
  bool other_holder = false;
  auto quota = ask.token ? quotas_->claim(user, ask.token->token, other_holder) : quotas_->acquire(user);
  if (quota == Quotas::Result::Ok && ask.reserve_next && (quota = quotas_->acquire(user)) != Quotas::Result::Ok)
    quotas_->release(user);
  switch (quota) {
    case Quotas::Result::UserQuota: return send_error(c, 486, "Allocation Quota Reached");
    case Quotas::Result::Capacity: return send_error(c, 508, "Insufficient Capacity");
    case Quotas::Result::Ok: break;
  }
  // Step 8: obtain the relayed transport address(es).
  RelayProvider::Opened opened, second;
  int64_t hold_until = c.now.mono_ms + int64_t{cfg_.reservation_hold_s} * 1000;
  auto err = ask.token ? relays_.open_reserved(*ask.token, ask.dont_fragment, opened)
                       : relays_.open({ask.family, ask.even_port, ask.reserve_next, ask.dont_fragment, hold_until}, opened);
  if (err != RelayProvider::Error::None) {
    quotas_->release(user);
    if (ask.reserve_next) quotas_->release(user);
    const char* reason = nullptr;
    int code = relay_error_code(err, &reason);
    return send_error(c, code, reason);
  }
  if (other_holder) quotas_->unhold(ask.token->token);  // another user's reservation, now taken
  // The reserved port's count lasts until the provider has surely closed it (it checks about once a
  // second), so a loop of Allocate(EVEN-PORT R) + Refresh(0) never holds more ports than the quota.
  if (opened.token) quotas_->hold(user, opened.token->token, hold_until + kReservationSlackMs);
  else if (ask.reserve_next) quotas_->release(user);  // nothing was reserved after all
  // A dual allocation that cannot get its IPv6 half still succeeds, with ADDRESS-ERROR-CODE.
  auto second_err = RelayProvider::Error::None;
  if (ask.additional_v6) second_err = relays_.open({Family::V6, false, false, ask.dont_fragment}, second);
  Allocation& ref = install_allocation(c, ask.lifetime_s, opened,
                                       ask.additional_v6 && second_err == RelayProvider::Error::None ? &second : nullptr);
  ref.client_region = std::move(client_region);
  ref.served_region = cfg_.regions && cfg_.regions->enabled() ? cfg_.regions->config().own : std::string();
  ref.drift = drift;
  ref.pinned_region = c.cred->region;
  // Step 10: the success response.
  Builder b(c.out, Method::Allocate, Class::Success, c.msg.transaction_id());
  for (size_t i = 0; i < ref.relay_count; ++i) b.add_xor_address(attr::XorRelayedAddress, ref.relays[i].address);
  if (ask.additional_v6 && second_err != RelayProvider::Error::None) {
    const char* reason = nullptr;
    int code = relay_error_code(second_err, &reason);
    uint8_t v[4 + 64] = {0x02, 0x00, static_cast<uint8_t>(code / 100), static_cast<uint8_t>(code % 100)};
    size_t n = std::min<size_t>(std::strlen(reason), 64);
    std::memcpy(v + 4, reason, n);
    b.add(attr::AddressErrorCode, std::span<const uint8_t>(v, 4 + n));  // RFC 8656 18.12
  }
  b.add_u32(attr::Lifetime, ask.lifetime_s);
  if (opened.token) b.add(attr::ReservationToken, opened.token->token);
  b.add_xor_address(attr::XorMappedAddress, c.from.client);
  if (!cfg_.software.empty()) b.add(attr::Software, cfg_.software);
  finish_and_send(c, b);
  sink_.request_done(Method::Allocate, 200, c.from.transport);
  sink_.allocation_created(ref);
}

Allocation& Core::install_allocation(Context& c, uint32_t lifetime_s, const RelayProvider::Opened& first,
                                     const RelayProvider::Opened* second) {
  auto a = std::make_unique<Allocation>();
  a->id = next_id_++;
  a->five_tuple = c.from;
  a->username = c.username;
  a->user = c.cred->user;
  a->key = c.cred->key;
  a->sha256_integrity = c.sha256;
  a->credential_expires_unix = c.cred->expires_unix;
  a->tags = c.cred->tags;
  if (site_of_ && !find_tag(a->tags, "site")) a->tags.emplace_back("site", site_of_(c.from.client.address));
  a->relays[0] = {first.handle, first.address};
  a->relay_count = 1;
  if (second) a->relays[a->relay_count++] = {second->handle, second->address};
  a->allocate_txid = c.msg.transaction_id();
  a->created_ms = c.now.mono_ms;
  a->created_unix_ms = c.now.unix_ms ? c.now.unix_ms : c.now.unix_s * 1000;
  a->lifetime_s = lifetime_s;
  a->expires_ms = c.now.mono_ms + int64_t{lifetime_s} * 1000;
  a->bandwidth_bps = cfg_.bandwidth_bps;
  a->bucket_bytes = static_cast<int64_t>(cfg_.bandwidth_bps);
  a->bucket_ms = c.now.mono_ms;
  a->stats.rate_at_ms = c.now.mono_ms;
  a->quality.begin(c.now.us());
  a->flow = std::make_shared<FlowClock>();
  a->flow->created_ms = c.now.mono_ms;
  a->flow->last_ms.store(c.now.mono_ms);
  if (datagram(c.from.transport)) {
    check_rebound(a->user, c.from, c.now);
    flows_->add(a->user, c.from.client.address, c.from.client.port, a->flow);
  }
  if (auto it = first_allocate_ms_.find(c.from); it != first_allocate_ms_.end()) {
    a->setup_ms = c.now.mono_ms - it->second;
    first_allocate_ms_.erase(it);
  }
  Allocation& ref = *a;
  for (size_t i = 0; i < ref.relay_count; ++i) by_relay_[ref.relays[i].handle] = &ref;
  by_tuple_.emplace(c.from, std::move(a));
  count_allocation(ref, +1);
  return ref;
}

// RFC 8656 7.3: Refresh sets a new lifetime, or deletes the allocation with LIFETIME 0.
void Core::handle_refresh(Context& c) {
  if (!c.alloc) {
    check_rebound(c.cred->user, c.from, c.now);
    sink_.refresh_failed(RefreshFailure::AllocationMismatch);
    return send_error(c, 437, "Allocation Mismatch");
  }
  if (const auto* fam = c.msg.find(attr::RequestedAddressFamily)) {
    auto f = stun::AddressFamily::decode(fam->value);
    if (!f) return send_error(c, 400, "Bad Request: REQUESTED-ADDRESS-FAMILY malformed");
    if (!c.alloc->relay_for(f->family)) return send_error(c, 443, "Peer Address Family Mismatch");
  }
  uint32_t lifetime = cfg_.default_lifetime_s;
  if (const auto* l = c.msg.find(attr::Lifetime)) {
    auto v = stun::Lifetime::decode(l->value);
    if (!v) return send_error(c, 400, "Bad Request: LIFETIME malformed");
    lifetime = std::min(v->seconds, cfg_.max_lifetime_s);
  }
  Builder b(c.out, Method::Refresh, Class::Success, c.msg.transaction_id());
  b.add_u32(attr::Lifetime, lifetime);
  if (lifetime == 0) {
    remove(c.alloc, EndReason::Deleted, c.now);
    c.alloc = nullptr;
  } else {
    c.alloc->lifetime_s = lifetime;
    c.alloc->expires_ms = c.now.mono_ms + int64_t{lifetime} * 1000;
    c.alloc->credential_expires_unix = c.cred->expires_unix;
  }
  finish_and_send(c, b);
  sink_.request_done(Method::Refresh, 200, c.from.transport);
}

// RFC 8656 9.2: every XOR-PEER-ADDRESS must be acceptable, else none is installed.
void Core::handle_create_permission(Context& c) {
  if (!c.alloc) return check_rebound(c.cred->user, c.from, c.now), send_error(c, 437, "Allocation Mismatch");
  std::array<IpAddress, 16> peers;
  size_t n = 0;
  for (const auto& a : c.msg.attributes()) {
    if (a.type != attr::XorPeerAddress) continue;
    auto peer = stun::XorAddress::decode(a.value, c.msg.transaction_id());
    if (!peer) return send_error(c, 400, "Bad Request: XOR-PEER-ADDRESS malformed");
    if (!c.alloc->relay_for(peer->endpoint.address.family)) return send_error(c, 443, "Peer Address Family Mismatch");
    if (!peer_allowed(c, peer->endpoint)) return;
    if (n == peers.size()) return send_error(c, 400, "Bad Request: too many XOR-PEER-ADDRESS");
    peers[n++] = peer->endpoint.address;
  }
  if (n == 0) return send_error(c, 400, "Bad Request: XOR-PEER-ADDRESS missing");
  // RFC 8656 9.2 / 9 (limits.max_permissions_per_allocation): beyond the limit, 508 and none.
  size_t fresh = 0;
  for (size_t i = 0; i < n; ++i)
    if (!c.alloc->permissions.find(peers[i]) && std::find(peers.begin(), peers.begin() + i, peers[i]) == peers.begin() + i)
      ++fresh;
  if (!room_for(*c.alloc, fresh, 0, c)) return;
  for (size_t i = 0; i < n; ++i) install_permission(*c.alloc, peers[i], c.now);
  Builder b(c.out, Method::CreatePermission, Class::Success, c.msg.transaction_id());
  finish_and_send(c, b);
  sink_.request_done(Method::CreatePermission, 200, c.from.transport);
}

// Whether `a` may take `permissions` more permissions and `channels` more channel bindings
// (limits.max_permissions_per_allocation, limits.max_channels_per_allocation); expired ones are
// dropped first. If not, the request is answered 508 Insufficient Capacity (RFC 8656 9, 12).
bool Core::room_for(Allocation& a, size_t permissions, size_t channels, Context& c) {
  auto fits = [&] {
    return a.permissions.size() + permissions <= cfg_.max_permissions_per_allocation &&
           a.channels.size() + channels <= cfg_.max_channels_per_allocation;
  };
  if (fits()) return true;
  stats_.permissions.sub(a.permissions.erase_if([&](const Permission& p) { return p.expires_ms <= c.now.mono_ms; }));
  int64_t cooldown = int64_t{cfg_.channel_cooldown_s} * 1000;
  stats_.channel_bindings.sub(
      a.channels.erase_if([&](const ChannelBinding& b) { return b.expires_ms + cooldown <= c.now.mono_ms; }));
  if (fits()) return true;
  bool channel_limit = a.channels.size() + channels > cfg_.max_channels_per_allocation;
  (channel_limit ? stats_.channel_limit : stats_.permission_limit).add(1);
  send_error(c, 508, channel_limit ? "Insufficient Capacity: channel limit of this allocation"
                                   : "Insufficient Capacity: permission limit of this allocation");
  return false;
}

// RFC 8656 11.2: bind a channel number to a peer transport address, refreshing its permission.
void Core::handle_channel_bind(Context& c) {
  if (!c.alloc) return check_rebound(c.cred->user, c.from, c.now), send_error(c, 437, "Allocation Mismatch");
  const auto* cn = c.msg.find(attr::ChannelNumber);
  const auto* pa = c.msg.find(attr::XorPeerAddress);
  if (!cn || !pa) return send_error(c, 400, "Bad Request: CHANNEL-NUMBER and XOR-PEER-ADDRESS required");
  auto number = stun::ChannelNumber::decode(cn->value);
  auto peer = stun::XorAddress::decode(pa->value, c.msg.transaction_id());
  if (!number || !peer) return send_error(c, 400, "Bad Request: malformed attribute");
  if (!number->valid()) return send_error(c, 400, "Bad Request: channel number out of range");
  if (!c.alloc->relay_for(peer->endpoint.address.family)) return send_error(c, 443, "Peer Address Family Mismatch");
  ChannelBinding* by_number = c.alloc->channels.find(number->number);
  const ChannelBinding* by_peer = c.alloc->channels.find(peer->endpoint);
  if ((by_number && !(by_number->peer == peer->endpoint)) || (by_peer && by_peer->number != number->number))
    return send_error(c, 400, "Bad Request: channel or peer bound otherwise");
  if (!peer_allowed(c, peer->endpoint)) return;
  // limits.max_channels_per_allocation, and the permission a new binding installs.
  if (!room_for(*c.alloc, c.alloc->permissions.find(peer->endpoint.address) ? 0 : 1, by_number ? 0 : 1, c)) return;
  int64_t expires = c.now.mono_ms + int64_t{cfg_.channel_lifetime_s} * 1000;
  if (by_number) by_number->expires_ms = expires;
  else {
    c.alloc->channels.insert({number->number, peer->endpoint, expires});
    stats_.channel_bindings.add(1);
  }
  install_permission(*c.alloc, peer->endpoint.address, c.now);
  Builder b(c.out, Method::ChannelBind, Class::Success, c.msg.transaction_id());
  finish_and_send(c, b);
  sink_.request_done(Method::ChannelBind, 200, c.from.transport);
}

}  // namespace turn
