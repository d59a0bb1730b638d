// TurnClient, the request side: building and signing requests (RFC 8656 7.1, 7.2, 9.1, 11.1), the
// long-term credential mechanism as a client (RFC 8489 9.2.4), and what each response does.
#include <algorithm>
#include <array>
#include <cstring>

#include "loadgen/turn_client_impl.hpp"
#include "turn/attributes.hpp"
#include "turn/crypto.hpp"

namespace loadgen {

using turn::stun::Builder;
using turn::stun::Class;
using turn::stun::Message;
using turn::stun::Method;
namespace attr = turn::stun::attr;
using client_detail::Kind;

namespace {

Method method_of(Kind k) {
  switch (k) {
    case Kind::Allocate: return Method::Allocate;
    case Kind::Permission: return Method::CreatePermission;
    case Kind::ChannelBind: return Method::ChannelBind;
    case Kind::Refresh:
    case Kind::Close: return Method::Refresh;
  }
  return Method::Refresh;
}

constexpr std::string_view kNonceCookie = "obMatJos2";  // RFC 8489 9.2

// RFC 8489 9.2: a nonce starting with the cookie carries 24 bits of security features as 4 base64
// characters; bit 0 (the most significant) is "Password algorithms" (RFC 8489 18.1).
bool offers_password_algorithms(std::string_view nonce) {
  if (nonce.size() < kNonceCookie.size() + 4 || nonce.substr(0, kNonceCookie.size()) != kNonceCookie) return false;
  char c = nonce[kNonceCookie.size()];
  int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52
        : c == '+' ? 62 : c == '/' ? 63 : -1;
  return v >= 32;  // the top bit of the first sextet
}

std::string text_of(const Message& m, uint16_t type, size_t max_bytes) {
  const auto* a = m.find(type);
  if (!a) return {};
  auto t = turn::stun::Text::decode(a->value, max_bytes, turn::stun::kMaxTextChars);
  return t ? t->value : std::string{};
}

// LIFETIME of an Allocate or Refresh success (RFC 8656 18.2); what was asked for, or the RFC 8656
// default of 600 s, when it is missing or zero.
uint32_t granted_lifetime(const Message& m, uint32_t asked) {
  const auto* l = m.find(attr::Lifetime);
  auto granted = l ? turn::stun::Lifetime::decode(l->value) : std::nullopt;
  if (granted && granted->seconds) return granted->seconds;
  return asked ? asked : 600;
}

}  // namespace

const char* client_detail::stage(Kind k) {
  switch (k) {
    case Kind::Allocate: return "allocate";
    case Kind::Permission: return "permission";
    case Kind::ChannelBind: return "channel_bind";
    case Kind::Refresh:
    case Kind::Close: return "refresh";
  }
  return "refresh";
}

// Sends a new transaction (a fresh transaction id, RFC 8489 6.2), signed once credentials are known.
void TurnClient::Impl::send_request(Kind kind, uint8_t peer, int64_t now_ms, bool stale_retried) {
  if (pending.size() >= client_detail::kMaxPending) return;  // cannot happen: one per kind and peer
  Transaction t;
  t.kind = kind;
  t.peer = peer;
  t.id = next_txid();
  t.signed_request = !creds.key.empty();
  t.stale_retried = stale_retried;
  if (!build(kind, peer, t.id, t.bytes)) return fail(kind, 0, "request too large", now_ms);
  t.started_ms = now_ms;
  t.rto_ms = cfg.rto_ms > 0 ? cfg.rto_ms : 500;
  t.next_send_ms = stream() ? INT64_MAX : now_ms + t.rto_ms;  // RFC 8489 6.2.2: no retransmits on streams
  emit(t.bytes);
  ++requests;
  pending.push_back(std::move(t));
}

bool TurnClient::Impl::build(Kind kind, uint8_t peer, const turn::stun::TransactionId& id,
                             std::vector<uint8_t>& out) const {
  std::array<uint8_t, 2048> buf;  // USERNAME, REALM and NONCE at their RFC 8489 maximums fit
  Builder b(buf, method_of(kind), Class::Request, id);
  switch (kind) {
    case Kind::Allocate:  // RFC 8656 7.1
      b.add_u32(attr::RequestedTransport, uint32_t{turn::stun::RequestedTransport::kUdp} << 24);
      if (cfg.lifetime_s) b.add_u32(attr::Lifetime, cfg.lifetime_s);
      if (cfg.relay_family == turn::Family::V6) b.add_u32(attr::RequestedAddressFamily, 0x02u << 24);
      if (!cfg.software.empty()) b.add(attr::Software, cfg.software);
      break;
    case Kind::Refresh: b.add_u32(attr::Lifetime, cfg.lifetime_s); break;  // RFC 8656 7.2
    case Kind::Close: b.add_u32(attr::Lifetime, 0); break;
    case Kind::Permission: b.add_xor_address(attr::XorPeerAddress, peers[peer].endpoint); break;  // RFC 8656 9.1
    case Kind::ChannelBind:  // RFC 8656 11.1
      b.add_u32(attr::ChannelNumber, uint32_t{peers[peer].channel} << 16);
      b.add_xor_address(attr::XorPeerAddress, peers[peer].endpoint);
      break;
  }
  if (!creds.key.empty()) sign(b);
  b.add_fingerprint();
  if (!b.ok()) return false;
  out.assign(b.bytes().begin(), b.bytes().end());
  return true;
}

// RFC 8489 9.2.4: USERNAME, REALM and NONCE, the negotiated password algorithm, then the integrity.
void TurnClient::Impl::sign(Builder& b) const {
  b.add(attr::Username, cfg.username);
  b.add(attr::Realm, creds.realm);
  b.add(attr::Nonce, creds.nonce);
  if (!creds.algorithms.empty()) {
    b.add(attr::PasswordAlgorithms, creds.algorithms);
    b.add_u32(attr::PasswordAlgorithm, uint32_t{creds.algorithm} << 16);  // no parameters
  }
  if (creds.sha256) b.add_integrity_sha256(creds.key);
  else b.add_integrity(creds.key);
}

// RFC 8489 9.2.4: a 401 or 438 carries REALM and NONCE. SHA-256 is used when the nonce's security
// features announce password algorithms and the server lists SHA-256 (as Turnpike does); otherwise
// MD5 and MESSAGE-INTEGRITY (coturn). The key is H(username ":" realm ":" password) (RFC 8489 9.2.2).
bool TurnClient::Impl::learn_challenge(const Message& m) {
  std::string realm = text_of(m, attr::Realm, turn::stun::kMaxRealm);
  std::string nonce = text_of(m, attr::Nonce, turn::stun::kMaxNonce);
  if (realm.empty() || nonce.empty()) return false;
  client_detail::Credentials c;
  c.realm = std::move(realm);
  c.nonce = std::move(nonce);
  const auto* pa = m.find(attr::PasswordAlgorithms);
  if (pa && offers_password_algorithms(c.nonce)) {
    auto list = turn::stun::PasswordAlgorithms::decode(pa->value);
    if (!list) return false;
    auto has = [&](turn::stun::PasswordAlgorithmId id) {
      return std::find(list->algorithms.begin(), list->algorithms.end(), static_cast<uint16_t>(id)) != list->algorithms.end();
    };
    if (has(turn::stun::PasswordAlgorithmId::Sha256)) c.algorithm = 2, c.sha256 = true;
    else if (has(turn::stun::PasswordAlgorithmId::Md5)) c.algorithm = 1;
    else return false;  // nothing we can sign with
    c.algorithms.assign(pa->value.begin(), pa->value.end());
  }
  std::string input = cfg.username + ":" + c.realm + ":" + cfg.password;
  if (c.sha256) {
    auto h = turn::crypto::sha256(input);
    c.key.assign(h.begin(), h.end());
  } else {
    auto h = turn::crypto::md5(input);
    c.key.assign(h.begin(), h.end());
  }
  creds = std::move(c);
  return true;
}

// RFC 8489 6.3.3 / 9.2.5: a response is matched by transaction id (others are ignored); one that
// carries MESSAGE-INTEGRITY(-SHA256) for a signed request must verify with the key, else it is ignored.
void TurnClient::Impl::on_response(const Message& m, int64_t now_ms) {
  auto it = std::find_if(pending.begin(), pending.end(), [&](const Transaction& t) { return t.id == m.transaction_id(); });
  if (it == pending.end() || m.method() != method_of(it->kind)) return;
  if (it->signed_request) {
    if (m.has(attr::MessageIntegritySha256) && !m.verify_integrity_sha256(creds.key)) return;
    if (!m.has(attr::MessageIntegritySha256) && m.has(attr::MessageIntegrity) && !m.verify_integrity(creds.key)) return;
  }
  Transaction t = std::move(*it);
  pending.erase(it);
  if (m.cls() == Class::Success) on_success(t, m, now_ms);
  else on_error(t, m, now_ms);
}

void TurnClient::Impl::on_success(const Transaction& t, const Message& m, int64_t now_ms) {
  switch (t.kind) {
    case Kind::Allocate: return on_allocated(t, m, now_ms);
    case Kind::Refresh:  // RFC 8656 7.3: refreshed at half the lifetime granted
      refresh_due_ms = t.started_ms + int64_t{granted_lifetime(m, cfg.lifetime_s)} * 500;
      return;
    case Kind::Permission: {
      auto& p = peers[t.peer];
      p.permitted = true;
      p.permission_due_ms = t.started_ms + client_detail::kPermissionRefreshMs;
      return;
    }
    case Kind::ChannelBind: {  // RFC 8656 11.2: the binding installs or refreshes the permission too
      auto& p = peers[t.peer];
      p.bound = p.permitted = true;
      p.channel_due_ms = t.started_ms + client_detail::kChannelRefreshMs;
      return;
    }
    case Kind::Close:
      if (state == ClientState::Closing) state = ClientState::Closed;
      return;
  }
}

// RFC 8656 7.3: XOR-RELAYED-ADDRESS, XOR-MAPPED-ADDRESS and LIFETIME; then the queued peers.
void TurnClient::Impl::on_allocated(const Transaction& t, const Message& m, int64_t now_ms) {
  if (state != ClientState::Allocating) return;
  const auto* r = m.find(attr::XorRelayedAddress);
  auto relay = r ? turn::stun::XorAddress::decode(r->value, m.transaction_id()) : std::nullopt;
  if (!relay) return fail(Kind::Allocate, 0, "no XOR-RELAYED-ADDRESS in the Allocate success", now_ms);
  relayed = relay->endpoint;
  if (const auto* x = m.find(attr::XorMappedAddress))
    if (auto mapped_addr = turn::stun::XorAddress::decode(x->value, m.transaction_id())) mapped = mapped_addr->endpoint;
  refresh_due_ms = t.started_ms + int64_t{granted_lifetime(m, cfg.lifetime_s)} * 500;
  state = ClientState::Allocated;
  allocated_at = now_ms;
  had_allocation = true;
  for (size_t i = 0; i < peers.size(); ++i) start_peer(static_cast<uint8_t>(i), now_ms);
}

// RFC 8489 9.2.4: a 401 to the first, unsigned request is the challenge; a 438 is retried once with
// the new nonce. Any other error fails the client at the stage (a Close ends it anyway).
void TurnClient::Impl::on_error(const Transaction& t, const Message& m, int64_t now_ms) {
  ++error_responses;
  const auto* e = m.find(attr::ErrorCode);
  auto err = e ? turn::stun::ErrorCode::decode(e->value) : std::nullopt;
  int code = err ? err->code : 0;
  bool challenge = (code == 401 && !t.signed_request) || (code == 438 && !t.stale_retried);
  if (challenge && learn_challenge(m)) return send_request(t.kind, t.peer, now_ms, code == 438 || t.stale_retried);
  if (t.kind == Kind::Close) {
    if (state == ClientState::Closing) state = ClientState::Closed;
    return;
  }
  fail(t.kind, code, err ? err->reason : std::string("error response without ERROR-CODE"), now_ms);
}

}  // namespace loadgen
