// The test fixture of turn::Core: a fake clock, fake relays and a recording sink; no sockets, no
// sleeping. Shared by the core's test files.
#pragma once
#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <set>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "turn/attributes.hpp"
#include "turn/channel_data.hpp"
#include "turn/core.hpp"
#include "turn/crypto.hpp"

using namespace turn;
using namespace turn::stun;

namespace {

struct Sent {
  FiveTuple to;
  std::vector<uint8_t> bytes;
};
struct ToPeer {
  uint64_t handle;
  Endpoint peer;
  std::vector<uint8_t> bytes;
};

class RecordingSink : public Sink {
 public:
  void to_client(const FiveTuple& to, std::span<const std::span<const uint8_t>> parts) override {
    Sent s{to, {}};
    for (auto p : parts) s.bytes.insert(s.bytes.end(), p.begin(), p.end());
    client.push_back(std::move(s));
  }
  void to_peer(uint64_t h, const Endpoint& p, std::span<const uint8_t> d) override {
    peer.push_back({h, p, {d.begin(), d.end()}});
  }
  void allocation_ended(const Allocation&, EndReason r, int64_t) override { ended.push_back(r); }
  void quality_sample(const Allocation&, const MediaQuality::Sample& s) override { quality_samples.push_back(s); }
  std::vector<MediaQuality::Sample> quality_samples;
  void auth_failed(AuthFailure f) override { auth_failures.push_back(f); }
  void dropped(DropReason r, size_t) override { drops.push_back(r); }
  void request_done(Method m, int code, Transport, bool challenge) override {
    requests.push_back({m, code, challenge});
  }
  void flow_gap(const IpAddress&, GapOutcome o, int64_t gap_ms) override { gaps.push_back({o, gap_ms}); }
  void session_lost(const IpAddress&, LossCause c, int64_t age_ms) override { losses.push_back({c, age_ms}); }
  void refresh_failed(RefreshFailure f) override { refresh_failures.push_back(f); }
  void answered(const Answer& a) override {
    answers.push_back({a.method, a.code, std::string(a.username), a.auth, a.sent});
  }
  struct Answered {
    Method method;
    int code;
    std::string username;
    AuthRefusal auth;
    bool sent;
  };
  std::vector<Answered> answers;
  std::vector<std::pair<GapOutcome, int64_t>> gaps;
  std::vector<std::pair<LossCause, int64_t>> losses;
  std::vector<RefreshFailure> refresh_failures;
  struct Request {
    Method method;
    int code;
    bool challenge;
  };
  std::vector<Request> requests;
  std::deque<Sent> client;
  std::vector<ToPeer> peer;
  std::vector<EndReason> ended;
  std::vector<AuthFailure> auth_failures;
  std::vector<DropReason> drops;
};

class FakeRelays : public RelayProvider {
 public:
  Error open(const Request& r, Opened& out) override {
    if (r.family == Family::V6 && !v6) return Error::NoAddressForFamily;
    if (exhausted) return Error::Exhausted;
    uint16_t port = next_port;
    next_port += 2;
    out.handle = ++next_handle;
    out.address = Endpoint{*IpAddress::parse(r.family == Family::V6 ? "2001:db8::1" : "198.51.100.1"), port};
    if (r.reserve_next) {
      ReservationToken t;
      t.token = {1, 2, 3, 4, 5, 6, 7, static_cast<uint8_t>(next_handle)};
      reserved[t.token] = static_cast<uint16_t>(port + 1);
      out.token = t;
    }
    open_handles.insert(out.handle);
    return Error::None;
  }
  Error open_reserved(const ReservationToken& t, bool, Opened& out) override {
    auto it = reserved.find(t.token);
    if (it == reserved.end()) return Error::UnknownToken;
    out.handle = ++next_handle;
    out.address = Endpoint{*IpAddress::parse("198.51.100.1"), it->second};
    reserved.erase(it);
    open_handles.insert(out.handle);
    return Error::None;
  }
  void close(uint64_t h) override { open_handles.erase(h); }
  bool exhausted = false, v6 = false;
  uint16_t next_port = 50000;
  uint64_t next_handle = 0;
  std::set<uint64_t> open_handles;
  std::map<std::array<uint8_t, 8>, uint16_t> reserved;
};

struct Response {
  Class cls = Class::Request;
  int code = 0;
  std::vector<uint8_t> bytes;
  Message msg;
  std::optional<Endpoint> xor_addr(uint16_t t) const {
    auto* a = msg.find(t);
    if (!a) return std::nullopt;
    auto x = XorAddress::decode(a->value, msg.transaction_id());
    return x ? std::optional(x->endpoint) : std::nullopt;
  }
  std::string text(uint16_t t) const {
    auto* a = msg.find(t);
    return a ? std::string(a->value.begin(), a->value.end()) : "";
  }
};

class CoreTest : public ::testing::Test {
 protected:
  CoreTest() {
    AuthConfig ac;
    ac.realm = "turnpike.test";
    ac.users = {{"alice", "wonderland"}, {"bob", "builder"}};
    ac.rest_secrets = {"newsecret", "northwind"};
    auth = std::make_shared<Authenticator>(ac);
    policy = std::make_shared<PeerPolicy>(std::vector<Cidr>{}, std::vector<Cidr>{*Cidr::parse("203.0.113.128/25")});
    quotas = std::make_shared<Quotas>(100, 3);
    core = std::make_unique<Core>(CoreConfig{}, auth, policy, quotas, relays, sink);
  }

  FiveTuple client(uint16_t port = 40000) {
    return FiveTuple{*Endpoint::parse("192.0.2.10:" + std::to_string(port)), *Endpoint::parse("192.0.2.1:3478"),
                     Transport::Udp};
  }

  TransactionId next_txid() {
    TransactionId t{};
    ++seq;
    std::memcpy(t.data(), &seq, sizeof seq);
    return t;
  }

  // The nonce a client on this 5-tuple learns from a 401 (nonces are bound to the client address).
  std::string& nonce_for(const FiveTuple& ft) {
    auto& n = nonces[ft.client.port];
    if (n.empty()) {
      std::array<uint8_t, 64> buf;
      Builder b(buf, Method::Refresh, Class::Request, next_txid());
      auto r = send(b.bytes(), ft);
      EXPECT_EQ(r.code, 401);
      n = r.text(attr::Nonce);
    }
    return n;
  }

  // Sends a request built by `fill`, signed as `user` once `sign` is on, and returns the answer.
  // A 438 is answered as a client would: retry once with the fresh nonce.
  template <typename Fill>
  Response request(Method m, const FiveTuple& ft, Fill fill, std::string user = "alice",
                   std::string password = "wonderland", std::optional<TransactionId> txid = {}) {
    for (int attempt = 0;; ++attempt) {
      std::array<uint8_t, 1500> buf;
      Builder b(buf, m, Class::Request, txid ? *txid : next_txid());
      fill(b);
      if (sign) {
        b.add(attr::Username, user);
        b.add(attr::Realm, std::string_view("turnpike.test"));
        b.add(attr::Nonce, nonce_for(ft));
        b.add_integrity(crypto::md5(user + ":turnpike.test:" + password));
      }
      b.add_fingerprint();
      auto r = send(b.bytes(), ft);
      if (r.code != 438 || attempt > 0 || !retry_stale) return r;
      nonces[ft.client.port] = r.text(attr::Nonce);
    }
  }

  Response send(std::span<const uint8_t> bytes, const FiveTuple& ft) {
    sink.client.clear();
    core->handle(bytes, ft, now);
    Response r;
    if (sink.client.empty()) return r;
    r.bytes = sink.client.back().bytes;
    EXPECT_EQ(Message::parse(r.bytes, r.msg), ParseError::None);
    r.cls = r.msg.cls();
    if (auto* e = r.msg.find(attr::ErrorCode)) r.code = ErrorCode::decode(e->value)->code;
    else if (r.cls == Class::Success) r.code = 200;
    return r;
  }

  // The usual dance: unauthenticated Allocate, 401 with a nonce, then the signed Allocate.
  Response allocate(const FiveTuple& ft, std::string user = "alice", std::string pw = "wonderland") {
    sign = false;
    auto r401 = request(Method::Allocate, ft, [](Builder& b) { b.add_u32(attr::RequestedTransport, 17u << 24); });
    EXPECT_EQ(r401.code, 401);
    nonces[ft.client.port] = r401.text(attr::Nonce);
    sign = true;
    return request(Method::Allocate, ft, [](Builder& b) { b.add_u32(attr::RequestedTransport, 17u << 24); }, user, pw);
  }

  Response create_permission(const FiveTuple& ft, const std::string& peer) {
    return request(Method::CreatePermission, ft,
                   [&](Builder& b) { b.add_xor_address(attr::XorPeerAddress, *Endpoint::parse(peer)); });
  }

  Response channel_bind(const FiveTuple& ft, uint16_t ch, const std::string& peer) {
    return request(Method::ChannelBind, ft, [&](Builder& b) {
      b.add_u32(attr::ChannelNumber, uint32_t{ch} << 16);
      b.add_xor_address(attr::XorPeerAddress, *Endpoint::parse(peer));
    });
  }

  void advance(int64_t seconds) {
    now.mono_ms += seconds * 1000;
    now.unix_s += seconds;
    core->tick(now);
  }

  Now now{1'000'000, 1'800'000'000};
  uint64_t seq = 0;
  bool sign = false, retry_stale = true;
  std::map<uint16_t, std::string> nonces;
  std::shared_ptr<Authenticator> auth;
  std::shared_ptr<PeerPolicy> policy;
  std::shared_ptr<Quotas> quotas;
  FakeRelays relays;
  RecordingSink sink;
  std::unique_ptr<Core> core;
};

}  // namespace
