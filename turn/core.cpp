#include "turn/core.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "turn/channel_data.hpp"
#include "turn/core_context.hpp"

namespace turn {

using stun::Builder;
using stun::Class;
using stun::Message;
using stun::Method;
namespace attr = stun::attr;

const char* to_string(EndReason r) {
  switch (r) {
    case EndReason::Deleted: return "deleted";
    case EndReason::Expired: return "expired";
    case EndReason::Shutdown: return "shutdown";
    case EndReason::Policy: return "policy";
    case EndReason::DrainTimeout: return "drain_timeout";
    case EndReason::Admin: return "admin";
  }
  return "?";
}

const char* to_string(DropReason r) {
  switch (r) {
    case DropReason::NoPermission: return "no_permission";
    case DropReason::PeerDenied: return "peer_denied";
    case DropReason::Quota: return "quota";
    case DropReason::Bandwidth: return "bandwidth";
    case DropReason::Malformed: return "malformed";
    case DropReason::NoAllocation: return "no_allocation";
  }
  return "?";
}

const char* to_string(AuthFailure r) {
  switch (r) {
    case AuthFailure::BadIntegrity: return "bad_integrity";
    case AuthFailure::UnknownUser: return "unknown_user";
    case AuthFailure::ExpiredCredential: return "expired_credential";
    case AuthFailure::StaleNonce: return "stale_nonce";
    case AuthFailure::Missing: return "missing";
  }
  return "?";
}

const char* to_string(ResidencyDenial d) {
  switch (d) {
    case ResidencyDenial::Peer: return "peer";
    case ResidencyDenial::Client: return "client";
    case ResidencyDenial::Credential: return "credential";
  }
  return "?";
}

const char* to_string(GapOutcome g) { return g == GapOutcome::Survived ? "survived" : "rebound"; }

const char* to_string(LossCause c) {
  switch (c) {
    case LossCause::Expired: return "expired";
    case LossCause::Rebinding: return "rebinding";
    case LossCause::ExpiredCredential: return "expired_credential";
    case LossCause::ConnectionClosed: return "connection_closed";
  }
  return "?";
}

const char* to_string(RefreshFailure f) {
  switch (f) {
    case RefreshFailure::ExpiredCredential: return "expired_credential";
    case RefreshFailure::BadCredential: return "bad_credential";
    case RefreshFailure::AllocationMismatch: return "allocation_mismatch";
  }
  return "?";
}

Core::Core(CoreConfig cfg, std::shared_ptr<const Authenticator> auth, std::shared_ptr<const PeerPolicy> policy,
           std::shared_ptr<Quotas> quotas, RelayProvider& relays, Sink& sink, uint64_t id_base)
    : cfg_(std::move(cfg)),
      auth_(std::move(auth)),
      policy_(std::move(policy)),
      quotas_(std::move(quotas)),
      relays_(relays),
      sink_(sink),
      next_id_(id_base + 1),
      discovery_limiter_(cfg_.nat_discovery ? cfg_.nat_discovery->per_second : 0,
                         cfg_.nat_discovery ? cfg_.nat_discovery->burst : 0),
      unauth_limiter_(cfg_.unauth_excess_bytes_per_second, cfg_.unauth_excess_burst_bytes) {}

Core::~Core() = default;

const Allocation* Core::find(const FiveTuple& ft) const {
  auto it = by_tuple_.find(ft);
  return it == by_tuple_.end() ? nullptr : it->second.get();
}

void Core::for_each_allocation(const std::function<void(const Allocation&)>& fn) const {
  for (const auto& [_, a] : by_tuple_) fn(*a);
}

// RFC 7983 demultiplexing of what a client sends to a TURN listener: STUN or ChannelData.
void Core::handle(std::span<const uint8_t> bytes, const FiveTuple& from, Now now) {
  if (ChannelData::looks_like(bytes)) return handle_channel_data(bytes, from, now);
  if (stun::looks_like_stun(bytes)) return handle_stun(bytes, from, now);
  drop(DropReason::Malformed, bytes.size());
}

void Core::handle_channel_data(std::span<const uint8_t> bytes, const FiveTuple& from, Now now) {
  ChannelData cd;
  auto it = by_tuple_.find(from);
  if (it == by_tuple_.end()) return drop(DropReason::NoAllocation, bytes.size());
  Allocation& a = *it->second;
  client_activity(a, now);
  if (ChannelData::parse(bytes, cd) != ChannelData::Error::None) {
    ++a.stats.dropped_malformed;
    return drop(DropReason::Malformed, bytes.size());
  }
  const ChannelBinding* b = a.find_channel(cd.channel);
  if (!b || b->expires_ms <= now.mono_ms || !a.find_permission(b->peer.address, now.mono_ms)) {
    ++a.stats.dropped_no_permission;
    return drop(DropReason::NoPermission, cd.data.size());
  }
  relay_to_peer(a, b->peer, cd.data, now);
}

// RFC 8656 11.2: a Send indication relays its DATA to XOR-PEER-ADDRESS if a permission exists.
void Core::handle_send_indication(const Message& msg, const FiveTuple& from, Now now) {
  auto it = by_tuple_.find(from);
  if (it == by_tuple_.end()) return drop(DropReason::NoAllocation, msg.bytes().size());
  Allocation& a = *it->second;
  client_activity(a, now);
  const auto* pa = msg.find(attr::XorPeerAddress);
  const auto* da = msg.find(attr::Data);
  std::optional<stun::XorAddress> peer;
  if (pa) peer = stun::XorAddress::decode(pa->value, msg.transaction_id());
  if (!peer || !da) {
    ++a.stats.dropped_malformed;
    return drop(DropReason::Malformed, msg.bytes().size());
  }
  if (!policy_->allowed(peer->endpoint.address) || (cfg_.regions && !cfg_.regions->peer_allowed(peer->endpoint.address))) {
    ++a.stats.dropped_peer_denied;
    return drop(DropReason::PeerDenied, da->value.size());
  }
  if (!a.find_permission(peer->endpoint.address, now.mono_ms)) {
    ++a.stats.dropped_no_permission;
    return drop(DropReason::NoPermission, da->value.size());
  }
  relay_to_peer(a, peer->endpoint, da->value, now);
}

void Core::drop(DropReason r, size_t bytes) {
  stats_.dropped[static_cast<size_t>(r)].add(1);
  sink_.dropped(r, bytes);
}

const Allocation* Core::find_id(uint64_t id) const {
  for (const auto& [_, a] : by_tuple_)
    if (a->id == id) return a.get();
  return nullptr;
}

std::optional<Transport> Core::peer_send_failed(uint64_t relay_handle, bool too_big) {
  auto it = by_relay_.find(relay_handle);
  if (it == by_relay_.end()) return std::nullopt;
  if (too_big) ++it->second->stats.dropped_too_big;
  return it->second->five_tuple.transport;
}

void Core::relay_to_peer(Allocation& a, const Endpoint& peer, std::span<const uint8_t> data, Now now) {
  const Allocation::Relay* r = a.relay_for(peer.address.family);
  if (!r) {
    ++a.stats.dropped_no_permission;
    return drop(DropReason::NoPermission, data.size());
  }
  if (!a.take_bandwidth(data.size(), now.mono_ms)) {
    ++a.stats.dropped_bandwidth;
    return drop(DropReason::Bandwidth, data.size());
  }
  if (cfg_.quality.enabled) observe(a, MediaQuality::ToPeer, data, now);
  a.stats.bytes_to_peer += data.size();
  ++a.stats.packets_to_peer;
  a.stats.last_to_peer_ms = now.mono_ms;
  auto t = static_cast<size_t>(a.five_tuple.transport);
  stats_.bytes_to_peer[t].add(data.size());
  stats_.packets_to_peer[t].add(1);
  sink_.to_peer(r->handle, peer, data);
}

// RFC 8656 11.3 and 12.5: data from a peer goes to the client as ChannelData if a channel is
// bound to that peer, else as a Data indication; only if a permission for the peer's IP exists.
void Core::handle_peer(uint64_t relay_handle, const Endpoint& peer, std::span<const uint8_t> data, Now now) {
  auto it = by_relay_.find(relay_handle);
  if (it == by_relay_.end()) return drop(DropReason::NoAllocation, data.size());
  Allocation& a = *it->second;
  if (!a.find_permission(peer.address, now.mono_ms)) {
    // Residency: data from a peer of a forbidden region is counted apart (peer_denied), the proof
    // that such peers reached no client; it can never have a permission.
    if (cfg_.regions && !cfg_.regions->peer_allowed(peer.address)) {
      ++a.stats.dropped_peer_denied;
      return drop(DropReason::PeerDenied, data.size());
    }
    ++a.stats.dropped_no_permission;
    return drop(DropReason::NoPermission, data.size());
  }
  if (data.size() > 65535 - 64) return drop(DropReason::Malformed, data.size());
  if (!a.take_bandwidth(data.size(), now.mono_ms)) {
    ++a.stats.dropped_bandwidth;
    return drop(DropReason::Bandwidth, data.size());
  }
  if (cfg_.quality.enabled) observe(a, MediaQuality::ToClient, data, now);
  a.stats.bytes_to_client += data.size();
  ++a.stats.packets_to_client;
  a.stats.last_to_client_ms = now.mono_ms;
  if (a.flow) a.flow->last_ms.store(now.mono_ms, std::memory_order_relaxed);  // refreshes the NAT's timer too
  auto ti = static_cast<size_t>(a.five_tuple.transport);
  stats_.bytes_to_client[ti].add(data.size());
  stats_.packets_to_client[ti].add(1);
  static const uint8_t zeros[4] = {0, 0, 0, 0};
  bool stream = a.five_tuple.transport != Transport::Udp && a.five_tuple.transport != Transport::Dtls;
  const ChannelBinding* b = a.find_channel(peer);
  if (b && b->expires_ms > now.mono_ms) {
    uint8_t hdr[4];
    ChannelData::write_header(hdr, b->number, static_cast<uint16_t>(data.size()));
    size_t pad = stream ? (4 - data.size() % 4) % 4 : 0;  // RFC 8656 12.5: pad to 4 on streams
    std::span<const uint8_t> parts[3] = {{hdr, 4}, data, {zeros, pad}};
    return sink_.to_client(a.five_tuple, {parts, pad ? 3u : 2u});
  }
  // Data indication: header, XOR-PEER-ADDRESS, DATA header, data, padding. A fresh transaction id.
  stun::TransactionId txid;
  uint64_t seq = ++next_id_;
  std::memcpy(txid.data(), &seq, 8);
  std::memcpy(txid.data() + 8, &relay_handle, 4);
  std::array<uint8_t, 64> head;
  Builder b2(head, Method::Data, Class::Indication, txid);
  b2.add_xor_address(attr::XorPeerAddress, peer);
  size_t pad = (4 - data.size() % 4) % 4;
  uint8_t* p = head.data() + b2.bytes().size();
  p[0] = attr::Data >> 8; p[1] = attr::Data & 0xff; p[2] = data.size() >> 8; p[3] = data.size() & 0xff;
  size_t head_len = b2.bytes().size() + 4;
  uint16_t body = static_cast<uint16_t>(head_len - stun::kHeaderSize + data.size() + pad);
  head[2] = body >> 8;
  head[3] = body & 0xff;
  std::span<const uint8_t> parts[3] = {{head.data(), head_len}, data, {zeros, pad}};
  sink_.to_client(a.five_tuple, {parts, pad ? 3u : 2u});
}

void Core::handle_stun(std::span<const uint8_t> bytes, const FiveTuple& from, Now now) {
  Message msg;
  auto err = Message::parse(bytes, msg);
  if (err != stun::ParseError::None) {
    // RFC 8489 6.3: malformed messages are discarded silently; a well-framed request with a bad
    // attribute layout gets 400 so the client learns why.
    if (err == stun::ParseError::AttributeOverrun && bytes.size() >= stun::kHeaderSize && (bytes[0] & 0x01) == 0 &&
        (bytes[1] & 0x10) == 0) {
      Message hdr_only;
      std::array<uint8_t, stun::kHeaderSize> hdr;
      std::memcpy(hdr.data(), bytes.data(), hdr.size());
      hdr[2] = hdr[3] = 0;
      if (Message::parse(hdr, hdr_only) == stun::ParseError::None) {
        Context c(hdr_only, from, now);
        send_error(c, 400, "Bad Request");
        return;
      }
    }
    return drop(DropReason::Malformed, bytes.size());
  }
  // RFC 8489 14.3, 14.9, 14.10, 14.14: text attributes are UTF-8 within their bounds, checked
  // once here so that nothing past this point (logs, records, JSON) sees ill-formed text.
  if (stun::first_bad_text_attribute(msg) != 0) {
    if (msg.cls() != Class::Request) return drop(DropReason::Malformed, bytes.size());
    Context c(msg, from, now);
    if (stun::first_bad_text_attribute(msg) == attr::Username) c.auth = AuthRefusal::BadUsername;
    return send_error(c, 400, "Bad Request: text attribute not UTF-8 or too long");
  }
  if (msg.cls() == Class::Indication) {
    if (msg.method() == Method::Send) return handle_send_indication(msg, from, now);
    // Other indications (Binding keepalives) need no answer, but keep the flow alive.
    if (auto it = by_tuple_.find(from); it != by_tuple_.end()) client_activity(*it->second, now);
    return;
  }
  if (msg.cls() != Class::Request) return;
  Context c(msg, from, now);
  if (auto it = by_tuple_.find(from); it != by_tuple_.end()) {
    c.alloc = it->second.get();
    client_activity(*c.alloc, now);
  }
  if (!check_unknown_attributes(c)) return;
  if (msg.method() == Method::Allocate && !c.alloc && first_allocate_ms_.size() < kMaxPendingSetups)
    first_allocate_ms_.try_emplace(from, now.mono_ms);
  using Handler = void (Core::*)(Context&);
  struct Route { Method method; Handler fn; bool needs_auth; };
  static constexpr Route kRoutes[] = {
      {Method::Binding, &Core::handle_binding, false},
      {Method::Allocate, &Core::handle_allocate, true},
      {Method::Refresh, &Core::handle_refresh, true},
      {Method::CreatePermission, &Core::handle_create_permission, true},
      {Method::ChannelBind, &Core::handle_channel_bind, true},
  };
  for (const auto& r : kRoutes) {
    if (r.method != msg.method()) continue;
    if (r.needs_auth && !authenticate(c)) return;
    return (this->*r.fn)(c);
  }
  send_error(c, 400, "Bad Request: unknown method");
}

// RFC 8489 6.3.1: unknown comprehension-required attributes in a request get 420.
bool Core::check_unknown_attributes(Context& c) {
  std::array<uint8_t, 64> unknown;
  size_t n = 0;
  for (const auto& a : c.msg.attributes()) {
    if (stun::attr::known(a.type) || n + 2 > unknown.size()) continue;
    bool rfc5780 = a.type == attr::ChangeRequest || a.type == attr::ResponsePort || a.type == attr::Padding;
    if (rfc5780 && discovery_applies(c)) continue;  // RFC 5780 7.2: without it, CHANGE-REQUEST gets 420
    unknown[n++] = a.type >> 8;
    unknown[n++] = a.type & 0xff;
  }
  if (n == 0) return true;
  Builder b(c.out, c.msg.raw_method(), Class::Error, c.msg.transaction_id());
  b.add_error(420, "Unknown Attribute");
  b.add(attr::UnknownAttributes, std::span<const uint8_t>(unknown.data(), n));
  if (finish_and_send(c, b)) sink_.request_done(c.msg.method(), 420, c.from.transport);
  return false;
}

bool Core::peer_allowed(Context& c, const Endpoint& peer) {
  if (!policy_->allowed(peer.address)) {
    send_error(c, 403, "Forbidden: peer address not allowed");
    return false;
  }
  const Region* region = nullptr;
  if (cfg_.regions && !cfg_.regions->peer_allowed(peer.address, &region)) {
    send_error(c, 403, "Forbidden: peer outside the approved regions");
    sink_.residency_denied(ResidencyDenial::Peer, region ? region->name : std::string());
    return false;
  }
  return true;
}

// 300 Try Alternate with ALTERNATE-SERVER `to` (RFC 8656 6.2 / RFC 8489 10).
void Core::send_try_alternate(Context& c, const Endpoint& to) {
  Builder b(c.out, c.msg.raw_method(), Class::Error, c.msg.transaction_id());
  b.add_error(300, "Try Alternate");
  b.add_address(attr::AlternateServer, to);
  // Browsers (libwebrtc) take REALM and NONCE from a 300 for their first request to the
  // alternate; with auth.nonce_secret shared by the nodes, that one accepts this nonce. It is
  // bound to the client's IP and transport only: the alternate sees another port and listener.
  b.add(attr::Realm, auth_->realm());
  b.add(attr::Nonce, auth_->make_nonce(c.from, Authenticator::NonceScope::Redirect, c.now.unix_s));
  finish_and_send(c, b);
  sink_.request_done(c.msg.method(), 300, c.from.transport);
}

// Drain (docs/configuration.md, drain.*): a new allocation is sent to the first alternate that fits
// the client's transport and family, or refused when none does.
bool Core::drain_allows_client(Context& c) {
  if (!drain_) return true;
  if (auto to = alternate_among(*drain_, c.from.transport, c.from.client.address.unmapped().family)) {
    send_try_alternate(c, *to);
  } else {
    send_error(c, 403, "Forbidden: this node is draining and has no alternate for this transport and address family");
  }
  return false;
}

// Data residency (docs/residency.md): a client of another region (by the region its credential
// pins, else by its address) is redirected to that region's node, refused, or served as drift.
bool Core::residency_allows_client(Context& c, std::string& client_region, bool& drift) {
  if (!cfg_.regions || !cfg_.regions->enabled()) return true;
  std::optional<std::string_view> pinned;
  if (c.cred && !c.cred->region.empty()) pinned = c.cred->region;
  auto d = cfg_.regions->client(c.from.client.address, pinned, c.from.transport);
  client_region = d.region ? d.region->name : (pinned ? std::string(*pinned) : std::string());
  auto kind = d.basis == RegionPolicy::Basis::Credential ? ResidencyDenial::Credential : ResidencyDenial::Client;
  switch (d.verdict) {
    case RegionPolicy::Verdict::Serve: return true;
    case RegionPolicy::Verdict::Drift: drift = true; return true;
    case RegionPolicy::Verdict::Redirect:
      send_try_alternate(c, *d.alternate);
      sink_.residency_redirect(d.region->name);
      return false;
    case RegionPolicy::Verdict::Refuse:
      // A redirect that found no server of the client's transport and family is a refusal too.
      send_error(c, 403, d.region && cfg_.regions->config().foreign_clients == ResidencyConfig::Foreign::Redirect
                             ? "Forbidden: your region has no TURN server for this transport and address family"
                             : "Forbidden: this node does not serve your region");
      sink_.residency_denied(kind, client_region);
      return false;
  }
  return false;
}

void Core::install_permission(Allocation& a, const IpAddress& peer, Now now) {
  int64_t expires = now.mono_ms + int64_t{cfg_.permission_lifetime_s} * 1000;
  if (Permission* p = a.permissions.find(peer)) { p->expires_ms = expires; return; }
  a.permissions.insert({peer, expires});
  stats_.permissions.add(1);
}

size_t relay_family_index(const Allocation& a) {
  if (a.relay_count > 1) return 2;
  return a.relays[0].address.address.is_v4() ? 0 : 1;
}

const char* relay_family_name(size_t index) {
  static const char* const kNames[] = {"ipv4", "ipv6", "dual"};
  return index < 3 ? kNames[index] : "?";
}

void Core::count_allocation(const Allocation& a, int delta) {
  auto& g = stats_.allocations[static_cast<size_t>(a.five_tuple.transport)][relay_family_index(a)];
  if (delta > 0) g.add(1);
  else g.sub(1);
}

void Core::remove(Allocation* a, EndReason why, Now now) {
  if (a->flow) {
    if (datagram(a->five_tuple.transport)) flows_->remove(a->user, a->five_tuple.client.address, a->five_tuple.client.port);
    // Expired without a refresh: the client vanished (its last packet marks the loss).
    if (why == EndReason::Expired) lose(*a, LossCause::Expired, a->flow->last_ms.load() - a->created_ms);
  }
  if (cfg_.quality.enabled) sample_quality(*a, now, true);
  sink_.allocation_ended(*a, why, now.mono_ms);
  count_allocation(*a, -1);
  stats_.permissions.sub(a->permissions.size());
  stats_.channel_bindings.sub(a->channels.size());
  for (size_t i = 0; i < a->relay_count; ++i) {
    relays_.close(a->relays[i].handle);
    by_relay_.erase(a->relays[i].handle);
  }
  quotas_->release(a->user);
  by_tuple_.erase(a->five_tuple);  // destroys *a
}

void Core::tick(Now now) {
  std::erase_if(first_allocate_ms_, [&](const auto& kv) { return now.mono_ms - kv.second > 60'000; });
  discovery_limiter_.expire(now.mono_ms);
  unauth_limiter_.expire(now.mono_ms);
  quotas_->expire_holds(now.mono_ms);
  stats_.unauth_sources.set(unauth_limiter_.size());
  std::vector<Allocation*> expired;
  uint64_t permissions = 0, channels = 0;
  for (auto& [_, a] : by_tuple_) {
    if (a->expires_ms <= now.mono_ms) { expired.push_back(a.get()); continue; }
    auto& s = a->stats;
    if (int64_t dt = now.mono_ms - s.rate_at_ms; dt > 0) {
      s.rate_bps_to_peer = (s.bytes_to_peer - s.rate_prev_to_peer) * 1000 / static_cast<uint64_t>(dt);
      s.rate_bps_to_client = (s.bytes_to_client - s.rate_prev_to_client) * 1000 / static_cast<uint64_t>(dt);
      s.peak_bps_to_peer = std::max(s.peak_bps_to_peer, s.rate_bps_to_peer);
      s.peak_bps_to_client = std::max(s.peak_bps_to_client, s.rate_bps_to_client);
      s.rate_prev_to_peer = s.bytes_to_peer;
      s.rate_prev_to_client = s.bytes_to_client;
      s.rate_at_ms = now.mono_ms;
    }
    if (cfg_.quality.enabled) sample_quality(*a, now);
    a->permissions.erase_if([&](const Permission& p) { return p.expires_ms <= now.mono_ms; });
    int64_t cooldown = int64_t{cfg_.channel_cooldown_s} * 1000;
    a->channels.erase_if([&](const ChannelBinding& b) { return b.expires_ms + cooldown <= now.mono_ms; });
    permissions += a->permissions.size();
    channels += a->channels.size();
  }
  // remove() subtracts what each expired allocation held; start from the survivors' totals.
  for (auto* a : expired) {
    permissions += a->permissions.size();
    channels += a->channels.size();
  }
  stats_.permissions.set(permissions);
  stats_.channel_bindings.set(channels);
  for (auto* a : expired) remove(a, EndReason::Expired, now);
}

void Core::shutdown(Now now, EndReason why) {
  std::vector<Allocation*> all;
  for (auto& [_, a] : by_tuple_) all.push_back(a.get());
  for (auto* a : all) remove(a, why, now);
}

// SIGHUP reloaded the residency catalog and policy: allocations it forbids end (EndReason::Policy),
// and permissions and channels to peers outside its peer regions go at once.
void Core::set_regions(std::shared_ptr<const RegionPolicy> regions, Now now) {
  cfg_.regions = std::move(regions);
  if (!cfg_.regions || !cfg_.regions->enabled()) return;
  std::vector<Allocation*> forbidden;
  for (auto& [_, a] : by_tuple_) {
    std::optional<std::string_view> pinned;
    if (!a->pinned_region.empty()) pinned = a->pinned_region;
    auto d = cfg_.regions->client(a->five_tuple.client.address, pinned, a->five_tuple.transport);
    if (d.verdict == RegionPolicy::Verdict::Redirect || d.verdict == RegionPolicy::Verdict::Refuse) {
      forbidden.push_back(a.get());
      continue;
    }
    size_t before = a->permissions.size() + a->channels.size();
    a->permissions.erase_if([&](const Permission& p) { return !cfg_.regions->peer_allowed(p.peer); });
    a->channels.erase_if([&](const ChannelBinding& c) { return !cfg_.regions->peer_allowed(c.peer.address); });
    if (size_t revoked = before - a->permissions.size() - a->channels.size())
      sink_.residency_revoked(a->client_region, revoked);
  }
  for (Allocation* a : forbidden) {
    sink_.residency_ended(a->client_region);
    remove(a, EndReason::Policy, now);
  }
}

std::optional<Allocation> Core::end_allocation(uint64_t id, Now now) {
  for (auto& [_, a] : by_tuple_) {
    if (a->id != id) continue;
    if (cfg_.quality.enabled) sample_quality(*a, now, true);  // the copy carries the final verdict
    std::optional<Allocation> copy(*a);
    remove(a.get(), EndReason::Admin, now);  // invalidates the iteration: return at once
    return copy;
  }
  return std::nullopt;
}

void Core::connection_closed(const FiveTuple& ft, Now now) {
  auto it = by_tuple_.find(ft);
  if (it == by_tuple_.end()) return;
  // The connection went away under a live allocation (a client that ends a call deletes it first).
  lose(*it->second, LossCause::ConnectionClosed, now.mono_ms - it->second->created_ms);
  remove(it->second.get(), EndReason::Deleted, now);
}

// A packet from the client on its allocation's 5-tuple: after a silence, the NAT mapping survived it.
void Core::client_activity(Allocation& a, Now now) {
  if (!a.flow) return;
  int64_t gap = now.mono_ms - a.flow->last_ms.load(std::memory_order_relaxed);
  if (gap >= kMinGapMs && datagram(a.five_tuple.transport))
    sink_.flow_gap(a.five_tuple.client.address, GapOutcome::Survived, gap);
  a.flow->last_ms.store(now.mono_ms, std::memory_order_relaxed);
}

// The same user is back from the same IP on another port (a new Allocate, or a request answered
// 437): an older silent flow of theirs lost its NAT mapping.
void Core::check_rebound(const std::string& user, const FiveTuple& from, Now now) {
  if (!datagram(from.transport)) return;
  auto r = flows_->take_rebound(user, from.client.address, from.client.port, now.mono_ms, kMinGapMs);
  if (!r) return;
  sink_.flow_gap(from.client.address, GapOutcome::Rebound, r->gap_ms);
  sink_.session_lost(from.client.address, LossCause::Rebinding, r->age_ms);
}

void Core::observe(Allocation& a, MediaQuality::Dir dir, std::span<const uint8_t> data, Now now) {
  rtp::Kind k = a.quality.observe(dir, data, now.us(), cfg_.quality);
  stats_.payloads[static_cast<size_t>(k)].add(1);
}

// Every quality.interval seconds, an allocation's figures since the last interval and its verdict;
// `last`: the allocation ends, and what is left of its interval is judged (with enough packets).
void Core::sample_quality(Allocation& a, Now now, bool last) {
  int64_t us = now.us();
  if (!last && us - a.quality.interval_start_us() < int64_t{cfg_.quality.interval_s} * 1'000'000) return;
  if (last && us == a.quality.interval_start_us()) return;  // closed at this instant already
  bool over_tcp = a.five_tuple.transport == Transport::Tcp || a.five_tuple.transport == Transport::Tls;
  auto s = a.quality.close_interval(us, over_tcp, cfg_.quality);
  sink_.quality_sample(a, s);
}

void Core::lose(Allocation& a, LossCause why, int64_t age_ms) {
  if (a.flow && a.flow->lost.exchange(true)) return;  // recorded once
  sink_.session_lost(a.five_tuple.client.address, why, std::max<int64_t>(0, age_ms));
}

}  // namespace turn
