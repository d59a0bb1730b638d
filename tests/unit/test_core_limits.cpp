// Issue 14 bounds of turn::Core: the amplification budget of unauthenticated answers (item 4),
// permission and channel limits (item 5), EVEN-PORT reservations under the quotas (item 6), and
// text attributes validated on receipt.
#include "core_fixture.hpp"

using namespace turn;
using namespace turn::stun;

namespace {

class LimitsTest : public CoreTest {
 protected:
  void remake(CoreConfig cfg) { core = std::make_unique<Core>(std::move(cfg), auth, policy, quotas, relays, sink); }

  // How many of `n` unauthenticated Allocates from `ft` are answered (each with a 401).
  int answered_challenges(const FiveTuple& ft, int n) {
    sign = false;
    int answered = 0;
    for (int i = 0; i < n; ++i) {
      auto r = request(Method::Allocate, ft, [](Builder& b) { b.add_u32(attr::RequestedTransport, 17u << 24); });
      if (r.code == 401) ++answered;
      else EXPECT_EQ(r.code, 0);
    }
    return answered;
  }
  FiveTuple from(const std::string& ip, uint16_t port = 40000, Transport t = Transport::Udp) {
    auto a = *IpAddress::parse(ip);
    return FiveTuple{{a, port}, {*IpAddress::parse(a.is_v4() ? "192.0.2.1" : "2001:db8::3478"), 3478}, t};
  }
  Response allocate_even_port_r(const FiveTuple& ft) {
    return request(Method::Allocate, ft, [](Builder& b) {
      b.add_u32(attr::RequestedTransport, 17u << 24);
      b.add(attr::EvenPort, std::span<const uint8_t>(std::array<uint8_t, 1>{0x80}));
    });
  }
};

}  // namespace

TEST_F(LimitsTest, UnauthenticatedAnswersLargerThanTheRequestSpendAPerSourceBudget) {
  CoreConfig cfg;
  cfg.unauth_excess_bytes_per_second = 1000;
  cfg.unauth_excess_burst_bytes = 2000;
  remake(cfg);
  // A 28-byte Allocate earns a 401 of about 150 bytes: the burst pays for about 16 of them.
  int first = answered_challenges(from("192.0.2.10"), 100);
  EXPECT_GE(first, 10);
  EXPECT_LE(first, 20);
  EXPECT_EQ(core->stats().unauth_limited.get(), static_cast<uint64_t>(100 - first));
  // Every port of the source shares it, and so does every address of an IPv6 /64.
  EXPECT_EQ(answered_challenges(from("192.0.2.10", 41000), 5), 0);
  int v6 = answered_challenges(from("2001:db8:1:2::1"), 100);
  EXPECT_EQ(v6, first);
  EXPECT_EQ(answered_challenges(from("2001:db8:1:2:ffff::99"), 5), 0);
  EXPECT_EQ(answered_challenges(from("2001:db8:1:3::1"), 5), 5);  // another /64
  EXPECT_EQ(answered_challenges(from("192.0.2.11"), 5), 5);       // another source
  // Binding success is larger than a bare request too, and limited alike; one that is not larger
  // is always answered.
  EXPECT_EQ(request(Method::Binding, from("192.0.2.10"), [](Builder&) {}).code, 0);
  auto big = request(Method::Binding, from("192.0.2.10"), [](Builder& b) { b.add(attr::Software, std::string(40, 's')); });
  EXPECT_EQ(big.code, 200);
  // Streams verified the source: no budget.
  EXPECT_EQ(answered_challenges(from("192.0.2.10", 40000, Transport::Tcp), 30), 30);
  // The budget refills at its rate.
  advance(1);
  int refilled = answered_challenges(from("192.0.2.10"), 100);
  EXPECT_GE(refilled, 5);
  EXPECT_LE(refilled, 10);
}

TEST_F(LimitsTest, AuthenticatedAnswersAreNotCharged) {
  CoreConfig cfg;
  cfg.unauth_excess_bytes_per_second = 0;
  cfg.unauth_excess_burst_bytes = 400;  // about two challenges
  remake(cfg);
  ASSERT_EQ(allocate(client()).code, 200);  // one 401, then signed answers
  for (int i = 0; i < 20; ++i) ASSERT_EQ(create_permission(client(), "198.51.100.7:9").code, 200);
  EXPECT_EQ(core->stats().unauth_limited.get(), 0u);
}

TEST_F(LimitsTest, TheSourceTableIsBoundedAndEvictsOnlyRefilledSources) {
  SourceLimiter l(10, 100, 4);
  auto ip = [](int i) { return *IpAddress::parse("198.51.100." + std::to_string(i)); };
  for (int i = 1; i <= 4; ++i) EXPECT_TRUE(l.allow(ip(i), 1000, 60));
  EXPECT_FALSE(l.allow(ip(5), 1000, 1));  // full of sources still being limited: refused
  EXPECT_EQ(l.table_full(), 1u);
  EXPECT_EQ(l.size(), 4u);
  // 6 s later every bucket has refilled: they carry no state and make room.
  EXPECT_TRUE(l.allow(ip(5), 7000, 60));
  EXPECT_LE(l.size(), 4u);
  EXPECT_FALSE(l.allow(ip(5), 7000, 60));  // its own budget still holds
}

TEST_F(LimitsTest, PermissionsAreCappedWith508AndLookedUpByHash) {
  CoreConfig cfg;
  cfg.max_permissions_per_allocation = 4;
  remake(cfg);
  ASSERT_EQ(allocate(client()).code, 200);
  ASSERT_EQ(create_permission(client(), "198.51.100.1:9").code, 200);
  advance(200);
  for (const char* p : {"198.51.100.2:9", "198.51.100.3:9", "198.51.100.4:9"}) ASSERT_EQ(create_permission(client(), p).code, 200);
  auto r = create_permission(client(), "198.51.100.5:9");
  EXPECT_EQ(r.code, 508);
  EXPECT_EQ(core->stats().permission_limit.get(), 1u);
  EXPECT_EQ(create_permission(client(), "198.51.100.2:9").code, 200);  // a refresh needs no room
  // One request with an existing and a new peer: 508, and nothing installed.
  auto both = request(Method::CreatePermission, client(), [](Builder& b) {
    b.add_xor_address(attr::XorPeerAddress, *Endpoint::parse("198.51.100.3:9"));
    b.add_xor_address(attr::XorPeerAddress, *Endpoint::parse("198.51.100.6:9"));
  });
  EXPECT_EQ(both.code, 508);
  EXPECT_EQ(core->find(client())->permissions.size(), 4u);
  // The first permission expires (the table moves its last entry into its place): the others
  // still relay both ways, and there is room again.
  advance(101);
  EXPECT_EQ(core->find(client())->permissions.size(), 3u);
  uint64_t handle = *relays.open_handles.begin();
  for (const char* p : {"198.51.100.2:9", "198.51.100.3:9", "198.51.100.4:9"}) {
    sink.client.clear();
    std::vector<uint8_t> data{1, 2, 3};
    core->handle_peer(handle, *Endpoint::parse(p), data, now);
    EXPECT_EQ(sink.client.size(), 1u) << p;
  }
  sink.client.clear();
  core->handle_peer(handle, *Endpoint::parse("198.51.100.1:9"), std::vector<uint8_t>{1}, now);
  EXPECT_TRUE(sink.client.empty());
  EXPECT_EQ(create_permission(client(), "198.51.100.5:9").code, 200);
}

TEST_F(LimitsTest, ChannelsAreCappedWith508) {
  CoreConfig cfg;
  cfg.max_channels_per_allocation = 2;
  remake(cfg);
  ASSERT_EQ(allocate(client()).code, 200);
  EXPECT_EQ(channel_bind(client(), 0x4000, "198.51.100.1:9").code, 200);
  EXPECT_EQ(channel_bind(client(), 0x4001, "198.51.100.2:9").code, 200);
  EXPECT_EQ(channel_bind(client(), 0x4002, "198.51.100.3:9").code, 508);
  EXPECT_EQ(core->stats().channel_limit.get(), 1u);
  EXPECT_EQ(channel_bind(client(), 0x4000, "198.51.100.1:9").code, 200);  // a refresh
  // ChannelData still reaches the right peers through the hashed tables.
  std::vector<uint8_t> frame{0x40, 0x01, 0x00, 0x02, 7, 7};
  sink.peer.clear();
  core->handle(frame, client(), now);
  ASSERT_EQ(sink.peer.size(), 1u);
  EXPECT_EQ(sink.peer[0].peer.to_string(), "198.51.100.2:9");
  // A channel's permission counts against the permission limit too.
  cfg.max_channels_per_allocation = 10;
  cfg.max_permissions_per_allocation = 2;
  remake(cfg);
  ASSERT_EQ(allocate(client(40100)).code, 200);
  EXPECT_EQ(channel_bind(client(40100), 0x4000, "198.51.100.1:9").code, 200);
  EXPECT_EQ(channel_bind(client(40100), 0x4001, "198.51.100.2:9").code, 200);
  EXPECT_EQ(channel_bind(client(40100), 0x4002, "198.51.100.3:9").code, 508);
  EXPECT_EQ(channel_bind(client(40100), 0x4003, "198.51.100.2:10").code, 200);  // same IP: no new permission
}

// Issue 14 item 6: Allocate(EVEN-PORT R) + Refresh(0) in a loop.
TEST_F(LimitsTest, EvenPortReservationsCountAgainstTheQuotaUntilTheirHoldEnds) {
  int ok = 0, refused = 0;
  for (uint16_t i = 0; i < 10; ++i) {
    FiveTuple ft = client(43000 + i);
    sign = false;
    nonce_for(ft);
    sign = true;
    auto r = allocate_even_port_r(ft);
    if (r.code == 200) {
      ++ok;
      ASSERT_TRUE(r.msg.has(attr::ReservationToken));
      ASSERT_EQ(request(Method::Refresh, ft, [](Builder& b) { b.add_u32(attr::Lifetime, 0); }).code, 200);
    } else {
      EXPECT_EQ(r.code, 486);
      ++refused;
    }
  }
  // Quota 3 per user: each held port counts, so at most 3 are ever held.
  EXPECT_LE(quotas->holds(), 3u);
  EXPECT_EQ(ok, 2);  // 2 + 2 > 3 on the third round: one allocation plus its reservation
  EXPECT_EQ(refused, 8);
  EXPECT_EQ(quotas->total(), quotas->holds());
  // Another user is unaffected; the holds end with their time and the quota is back.
  EXPECT_EQ(allocate(client(44000), "bob", "builder").code, 200);
  advance(33);
  EXPECT_EQ(quotas->holds(), 0u);
  EXPECT_EQ(quotas->total(), 1u);
  EXPECT_EQ(allocate_even_port_r(client(43000)).code, 200);
}

TEST_F(LimitsTest, ClaimingYourOwnReservationTakesNoMoreQuota) {
  // Quota 3: an RTP allocation, its reserved RTCP port, the RTCP allocation by token: 2 counted.
  sign = false;
  nonce_for(client(41000));
  sign = true;
  auto r = allocate_even_port_r(client(41000));
  ASSERT_EQ(r.code, 200);
  EXPECT_EQ(quotas->total(), 2u);
  auto token = ReservationToken::decode(r.msg.find(attr::ReservationToken)->value);
  sign = false;
  nonce_for(client(41001));
  sign = true;
  auto r2 = request(Method::Allocate, client(41001), [&](Builder& b) {
    b.add_u32(attr::RequestedTransport, 17u << 24);
    b.add(attr::ReservationToken, token->token);
  });
  ASSERT_EQ(r2.code, 200);
  EXPECT_EQ(quotas->total(), 2u);
  EXPECT_EQ(quotas->holds(), 0u);
  EXPECT_EQ(allocate(client(41002)).code, 200);
  EXPECT_EQ(quotas->total(), 3u);
}

TEST_F(LimitsTest, IllFormedTextAttributesGet400AndIndicationsWithThemAreDropped) {
  sign = false;
  auto r = request(Method::Allocate, client(), [](Builder& b) {
    b.add_u32(attr::RequestedTransport, 17u << 24);
    b.add(attr::Username, std::string_view("caf\xE9"));
  });
  EXPECT_EQ(r.code, 400);
  r = request(Method::Binding, client(), [](Builder& b) { b.add(attr::Software, std::string(200, 's')); });
  EXPECT_EQ(r.code, 400);
  // A validly signed request whose USERNAME is not UTF-8 never reaches the credential check.
  std::string latin1 = std::to_string(now.unix_s + 600) + ":caf\xE9";
  auto signed_r = allocate(client(40001), latin1, rest_password("northwind", latin1));
  EXPECT_EQ(signed_r.code, 400);
  EXPECT_EQ(core->allocation_count(), 0u);
  // A Send indication with ill-formed SOFTWARE is dropped as malformed.
  ASSERT_EQ(allocate(client(40002)).code, 200);
  ASSERT_EQ(create_permission(client(40002), "198.51.100.7:9").code, 200);
  std::array<uint8_t, 256> buf;
  Builder b(buf, Method::Send, Class::Indication, next_txid());
  b.add_xor_address(attr::XorPeerAddress, *Endpoint::parse("198.51.100.7:9"));
  b.add(attr::Data, std::string_view("hi"));
  b.add(attr::Software, std::string_view("\xFF\xFE"));
  sink.peer.clear();
  core->handle(b.bytes(), client(40002), now);
  EXPECT_TRUE(sink.peer.empty());
  ASSERT_FALSE(sink.drops.empty());
  EXPECT_EQ(sink.drops.back(), DropReason::Malformed);
}
