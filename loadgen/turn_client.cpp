// TurnClient, the public side: the client's life (start, peers, close), its timers (retransmission
// RFC 8489 6.2.1, refreshes RFC 8656 7.2, 9, 11) and the data path (wrap: ChannelData RFC 8656 12.4 or
// Send indication 10.1; unwrap: ChannelData or Data indication 10.4). Requests and responses are in
// turn_client_requests.cpp.
#include "loadgen/turn_client.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>

#include "loadgen/prng.hpp"
#include "loadgen/turn_client_impl.hpp"
#include "turn/attributes.hpp"
#include "turn/channel_data.hpp"
#include "turn/crypto.hpp"

namespace loadgen {

using turn::stun::Builder;
using turn::stun::Class;
using turn::stun::Message;
using turn::stun::Method;
namespace attr = turn::stun::attr;
using client_detail::Kind;

const char* to_string(ClientState s) {
  switch (s) {
    case ClientState::Idle: return "idle";
    case ClientState::Allocating: return "allocating";
    case ClientState::Allocated: return "allocated";
    case ClientState::Failed: return "failed";
    case ClientState::Closing: return "closing";
    case ClientState::Closed: return "closed";
  }
  return "?";
}

// Transaction ids (RFC 8489 6: uniformly random) come from a PRNG whose state mixes the caller's
// seed with 64 bits of the CSPRNG, so that no two runs or clients share ids.
TurnClient::Impl::Impl(ClientConfig c, uint64_t seed) : cfg(std::move(c)) {
  std::array<uint8_t, 8> r{};
  turn::crypto::random_bytes(r);
  uint64_t mix = 0;
  std::memcpy(&mix, r.data(), r.size());
  rng = seed ^ mix;
  peers.reserve(client_detail::kMaxPeers);
}

turn::stun::TransactionId TurnClient::Impl::next_txid() {
  turn::stun::TransactionId id;
  uint64_t a = prng::next(rng), b = prng::next(rng);
  std::memcpy(id.data(), &a, 8);
  std::memcpy(id.data() + 8, &b, 4);
  return id;
}

void TurnClient::Impl::emit(std::span<const uint8_t> bytes) {
  if (out.size() >= client_detail::kMaxOutput) {  // the caller is not draining: lost like a datagram
    ++dropped_output;
    return;
  }
  out.emplace_back(bytes.begin(), bytes.end());
}

void TurnClient::Impl::fail(Kind kind, int code, std::string reason, int64_t now_ms) {
  state = ClientState::Failed;
  failure = ClientFailure{client_detail::stage(kind), code, std::move(reason), now_ms};
  pending.clear();
  refresh_due_ms = INT64_MAX;
}

// RFC 8656 9.1 and 11.1: a permission for the peer and, with channels, its channel binding.
void TurnClient::Impl::start_peer(uint8_t index, int64_t now_ms) {
  send_request(Kind::Permission, index, now_ms);
  if (state == ClientState::Allocated && cfg.use_channels) send_request(Kind::ChannelBind, index, now_ms);
}

bool TurnClient::Impl::has_pending(Kind kind, uint8_t peer) const {
  return std::any_of(pending.begin(), pending.end(), [&](const Transaction& t) {
    return t.kind == kind && (t.peer == peer || (kind != Kind::Permission && kind != Kind::ChannelBind));
  });
}

// RFC 8489 6.2.1: over datagrams, retransmit at RTO, 2*RTO, 4*RTO, ... (at most Rc = 7 sends)
// until the transaction's time is up; over streams, wait the same time for the one copy. Then the stage fails ("timeout"),
// except a Close, which ends the client anyway.
void TurnClient::Impl::expire_transactions(int64_t now_ms) {
  for (size_t i = 0; i < pending.size();) {
    Transaction& t = pending[i];
    if (now_ms - t.started_ms >= cfg.transaction_timeout_ms) {
      Kind kind = t.kind;
      pending.erase(pending.begin() + static_cast<ptrdiff_t>(i));
      if (kind != Kind::Close) return fail(kind, 0, "timeout", now_ms);
      if (state == ClientState::Closing) state = ClientState::Closed;
      continue;
    }
    if (now_ms >= t.next_send_ms) {
      emit(t.bytes);
      ++retransmits;
      t.rto_ms *= 2;
      t.next_send_ms = ++t.sends < client_detail::kMaxSends ? t.next_send_ms + t.rto_ms : INT64_MAX;
    }
    ++i;
  }
}

// RFC 8656 7.2, 9, 11: the allocation at half its lifetime, permissions every 240 s, channels every
// 540 s; each at most one request at a time.
void TurnClient::Impl::run_refreshes(int64_t now_ms) {
  if (state != ClientState::Allocated) return;
  if (now_ms >= refresh_due_ms && !has_pending(Kind::Refresh, 0)) {
    refresh_due_ms = INT64_MAX;  // until answered
    send_request(Kind::Refresh, 0, now_ms);
  }
  for (size_t i = 0; i < peers.size() && state == ClientState::Allocated; ++i) {
    auto& p = peers[i];
    auto idx = static_cast<uint8_t>(i);
    if (now_ms >= p.permission_due_ms && !has_pending(Kind::Permission, idx)) {
      p.permission_due_ms = INT64_MAX;
      send_request(Kind::Permission, idx, now_ms);
    }
    if (now_ms >= p.channel_due_ms && !has_pending(Kind::ChannelBind, idx)) {
      p.channel_due_ms = INT64_MAX;
      send_request(Kind::ChannelBind, idx, now_ms);
    }
  }
}

const client_detail::Peer* TurnClient::Impl::find_peer(const turn::Endpoint& e) const {
  for (const auto& p : peers)
    if (p.endpoint == e) return &p;
  return nullptr;
}

TurnClient::TurnClient(ClientConfig cfg, uint64_t seed) : impl_(std::make_unique<Impl>(std::move(cfg), seed)) {}
TurnClient::~TurnClient() = default;
TurnClient::TurnClient(TurnClient&&) noexcept = default;
TurnClient& TurnClient::operator=(TurnClient&&) noexcept = default;

// RFC 8656 7.1 and RFC 8489 9.2.4: the first Allocate goes without credentials; the 401 brings them.
void TurnClient::start(int64_t now_ms) {
  if (impl_->state != ClientState::Idle) return;
  impl_->state = ClientState::Allocating;
  impl_->send_request(Kind::Allocate, 0, now_ms);
}

void TurnClient::add_peer(const turn::Endpoint& peer, int64_t now_ms) {
  auto& s = *impl_;
  if (s.find_peer(peer) || s.peers.size() >= client_detail::kMaxPeers) return;
  client_detail::Peer p;
  p.endpoint = peer;
  if (s.cfg.use_channels) p.channel = static_cast<uint16_t>(client_detail::kFirstChannel + s.peers.size());
  s.peers.push_back(p);
  if (s.state == ClientState::Allocated) s.start_peer(static_cast<uint8_t>(s.peers.size() - 1), now_ms);
}

Delivery TurnClient::on_message(std::span<const uint8_t> bytes, int64_t now_ms) {
  auto& s = *impl_;
  Delivery d;
  if (turn::ChannelData::looks_like(bytes)) {  // RFC 8656 12.4; over UDP padding may follow (12.5)
    turn::ChannelData cd;
    if (turn::ChannelData::parse(bytes, cd) != turn::ChannelData::Error::None) return d;
    for (const auto& p : s.peers)
      if (p.bound && p.channel == cd.channel) return Delivery{true, p.endpoint, cd.data};
    return d;
  }
  Message m;
  if (Message::parse(bytes, m) != turn::stun::ParseError::None) return d;
  if (m.cls() == Class::Indication && m.method() == Method::Data) {  // RFC 8656 10.4
    const auto* pa = m.find(attr::XorPeerAddress);
    const auto* data = m.find(attr::Data);
    auto peer = pa ? turn::stun::XorAddress::decode(pa->value, m.transaction_id()) : std::nullopt;
    if (peer && data) return Delivery{true, peer->endpoint, data->value};
    return d;
  }
  if (m.cls() == Class::Success || m.cls() == Class::Error) s.on_response(m, now_ms);
  return d;
}

void TurnClient::tick(int64_t now_ms) {
  impl_->expire_transactions(now_ms);
  impl_->run_refreshes(now_ms);
}

int64_t TurnClient::next_timer_ms() const {
  const auto& s = *impl_;
  int64_t t = INT64_MAX;
  for (const auto& p : s.pending) t = std::min({t, p.next_send_ms, p.started_ms + s.cfg.transaction_timeout_ms});
  if (s.state != ClientState::Allocated) return t;
  t = std::min(t, s.refresh_due_ms);
  for (const auto& p : s.peers) t = std::min({t, p.permission_due_ms, p.channel_due_ms});
  return t;
}

bool TurnClient::pop_output(std::vector<uint8_t>& out) {
  auto& q = impl_->out;
  if (q.empty()) return false;
  out = std::move(q.front());
  q.pop_front();
  return true;
}

// ChannelData once the channel is bound (RFC 8656 12.4; padded to 4 on streams, 12.5), else a Send
// indication with XOR-PEER-ADDRESS and DATA (RFC 8656 10.1) once the permission is installed.
size_t TurnClient::wrap(const turn::Endpoint& peer, std::span<const uint8_t> payload, std::span<uint8_t> out) const {
  auto& s = *impl_;  // the PRNG advances for the indication's transaction id
  const auto* p = s.find_peer(peer);
  if (s.state != ClientState::Allocated || !p || !p->permitted || payload.size() > 65535 - 64) return 0;
  if (s.cfg.use_channels && p->bound) {
    size_t frame = turn::ChannelData::frame_size(static_cast<uint16_t>(payload.size()), s.stream());
    if (out.size() < frame) return 0;
    turn::ChannelData::write_header(out.data(), p->channel, static_cast<uint16_t>(payload.size()));
    if (!payload.empty()) std::memcpy(out.data() + 4, payload.data(), payload.size());
    std::fill(out.begin() + 4 + static_cast<ptrdiff_t>(payload.size()), out.begin() + static_cast<ptrdiff_t>(frame), 0);
    return frame;
  }
  Builder b(out, Method::Send, Class::Indication, s.next_txid());
  b.add_xor_address(attr::XorPeerAddress, peer);
  b.add(attr::Data, payload);
  return b.ok() ? b.bytes().size() : 0;
}

// RFC 8656 7.2: Refresh with LIFETIME 0 deletes the allocation. A failed client that held one ends
// it too (so that it does not hold the server's quota), but stays Failed with its failure.
void TurnClient::close(int64_t now_ms) {
  auto& s = *impl_;
  switch (s.state) {
    case ClientState::Idle:
      s.state = ClientState::Closed;
      return;
    case ClientState::Allocating:
      s.pending.clear();
      // Unsigned so far: the server holds nothing. Signed: it may have allocated already.
      s.state = s.creds.key.empty() ? ClientState::Closed : ClientState::Closing;
      if (s.state == ClientState::Closing) s.send_request(Kind::Close, 0, now_ms);
      return;
    case ClientState::Allocated:
      s.pending.clear();
      s.refresh_due_ms = INT64_MAX;
      s.state = ClientState::Closing;
      s.send_request(Kind::Close, 0, now_ms);
      return;
    case ClientState::Failed:
      if (s.had_allocation && !s.has_pending(Kind::Close, 0) && s.failure.reason != "timeout") {
        s.had_allocation = false;
        s.send_request(Kind::Close, 0, now_ms);
      }
      return;
    case ClientState::Closing:
    case ClientState::Closed: return;
  }
}

ClientState TurnClient::state() const { return impl_->state; }

bool TurnClient::peer_ready(const turn::Endpoint& peer) const {
  const auto* p = impl_->find_peer(peer);
  return impl_->state == ClientState::Allocated && p && p->permitted && (!impl_->cfg.use_channels || p->bound);
}

const turn::Endpoint& TurnClient::relayed() const { return impl_->relayed; }
const turn::Endpoint& TurnClient::mapped() const { return impl_->mapped; }
const ClientFailure& TurnClient::failure() const { return impl_->failure; }
int64_t TurnClient::allocated_at_ms() const { return impl_->allocated_at; }
uint64_t TurnClient::requests() const { return impl_->requests; }
uint64_t TurnClient::retransmits() const { return impl_->retransmits; }
uint64_t TurnClient::error_responses() const { return impl_->error_responses; }

}  // namespace loadgen
