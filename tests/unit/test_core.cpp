// The allocation state machine, driven through turn::Core with a fake clock, fake relays and a
// recording sink: no sockets, no sleeping.
#include "core_fixture.hpp"

using namespace turn;
using namespace turn::stun;

TEST_F(CoreTest, BindingAnswersWithXorMappedAddress) {
  auto r = request(Method::Binding, client(), [](Builder&) {});
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.xor_addr(attr::XorMappedAddress)->to_string(), "192.0.2.10:40000");
  EXPECT_TRUE(r.msg.has_fingerprint());
}

TEST_F(CoreTest, AllocateChallengesThenSucceeds) {
  auto r = allocate(client());
  ASSERT_EQ(r.code, 200);
  EXPECT_EQ(r.xor_addr(attr::XorRelayedAddress)->to_string(), "198.51.100.1:50000");
  EXPECT_EQ(r.xor_addr(attr::XorMappedAddress)->to_string(), "192.0.2.10:40000");
  EXPECT_EQ(Lifetime::decode(r.msg.find(attr::Lifetime)->value)->seconds, 600u);
  EXPECT_TRUE(r.msg.verify_integrity(crypto::md5("alice:turnpike.test:wonderland")));
  EXPECT_EQ(core->allocation_count(), 1u);
}

TEST_F(CoreTest, ChallengeCarriesRealmNonceCookieAndAlgorithms) {
  auto r = request(Method::Allocate, client(), [](Builder& b) { b.add_u32(attr::RequestedTransport, 17u << 24); });
  EXPECT_EQ(r.code, 401);
  EXPECT_EQ(r.text(attr::Realm), "turnpike.test");
  EXPECT_EQ(r.text(attr::Nonce).rfind("obMatJos2", 0), 0u);
  EXPECT_TRUE(r.msg.has(attr::PasswordAlgorithms));
  EXPECT_FALSE(r.msg.has(attr::MessageIntegrity));
}

TEST_F(CoreTest, WrongPasswordAndUnknownUserGet401) {
  allocate(client());
  auto r = request(Method::Allocate, client(41000), [](Builder& b) { b.add_u32(attr::RequestedTransport, 17u << 24); },
                   "alice", "wrong");
  EXPECT_EQ(r.code, 401);
  r = request(Method::Allocate, client(41000), [](Builder& b) { b.add_u32(attr::RequestedTransport, 17u << 24); },
              "mallory", "x");
  EXPECT_EQ(r.code, 401);
  EXPECT_EQ(sink.auth_failures.back(), AuthFailure::UnknownUser);
}

TEST_F(CoreTest, NonceExpiresWith438AndIsBoundToTheClient) {
  allocate(client());
  retry_stale = false;
  advance(400);
  EXPECT_EQ(request(Method::Refresh, client(), [](Builder&) {}).code, 200);
  advance(250);  // the nonce is now 650 s old: past its 600 s
  auto r = request(Method::Refresh, client(), [](Builder&) {});
  EXPECT_EQ(r.code, 438);
  EXPECT_FALSE(r.text(attr::Nonce).empty());
  EXPECT_EQ(sink.auth_failures.back(), AuthFailure::StaleNonce);
  nonces[client().client.port] = r.text(attr::Nonce);
  EXPECT_EQ(request(Method::Refresh, client(), [](Builder&) {}).code, 200);
  // The same nonce is stale from another client address, and (issue 14 item 13: a captured signed
  // request must not be replayable elsewhere) from another port, transport or listener of the same
  // address too; the client then retries with the fresh nonce of the 438.
  FiveTuple elsewhere = client(45000);
  elsewhere.client.address = *IpAddress::parse("192.0.2.99");
  nonces[45000] = nonces[client().client.port];
  auto other = request(Method::Allocate, elsewhere, [](Builder& b) { b.add_u32(attr::RequestedTransport, 17u << 24); });
  EXPECT_EQ(other.code, 438);
  nonces[45001] = nonces[client().client.port];
  auto port = request(Method::Allocate, client(45001), [](Builder& b) { b.add_u32(attr::RequestedTransport, 17u << 24); });
  EXPECT_EQ(port.code, 438);
  std::string captured = nonces[client().client.port];
  FiveTuple tcp = client();
  tcp.transport = Transport::Tcp;
  FiveTuple listener = client();
  listener.server = *Endpoint::parse("192.0.2.2:3478");
  for (const FiveTuple& ft : {tcp, listener})
    EXPECT_EQ(auth->check_nonce(captured, ft, now.unix_s), Authenticator::NonceCheck::Stale) << to_string(ft.transport);
  EXPECT_EQ(auth->check_nonce(captured, client(), now.unix_s), Authenticator::NonceCheck::Valid);
  // With the fresh nonce of the 438, the client on the new port goes on.
  retry_stale = true;
  auto again = request(Method::Allocate, client(45001), [](Builder& b) { b.add_u32(attr::RequestedTransport, 17u << 24); });
  EXPECT_EQ(again.code, 200);
}

TEST_F(CoreTest, RestCredentialsWithAnySecretAndExpiry) {
  std::string user = std::to_string(now.unix_s + 3600) + ":carol";
  EXPECT_EQ(allocate(client(), user, rest_password("northwind", user)).code, 200);
  EXPECT_EQ(allocate(client(40001), user, rest_password("newsecret", user)).code, 200);
  EXPECT_EQ(allocate(client(40002), user, rest_password("other", user)).code, 401);
  std::string expired = std::to_string(now.unix_s - 1) + ":carol";
  EXPECT_EQ(allocate(client(40003), expired, rest_password("northwind", expired)).code, 401);
  EXPECT_EQ(sink.auth_failures.back(), AuthFailure::ExpiredCredential);
}

TEST_F(CoreTest, RetransmittedAllocateGetsTheSameAnswerAnotherGets437) {
  auto first = allocate(client());
  auto txid = first.msg.transaction_id();
  auto again = request(Method::Allocate, client(), [](Builder& b) { b.add_u32(attr::RequestedTransport, 17u << 24); },
                       "alice", "wonderland", txid);
  EXPECT_EQ(again.code, 200);
  EXPECT_EQ(again.xor_addr(attr::XorRelayedAddress), first.xor_addr(attr::XorRelayedAddress));
  auto other = request(Method::Allocate, client(), [](Builder& b) { b.add_u32(attr::RequestedTransport, 17u << 24); });
  EXPECT_EQ(other.code, 437);
  EXPECT_EQ(relays.open_handles.size(), 1u);
}

TEST_F(CoreTest, AllocateValidatesItsAttributes) {
  allocate(client());  // obtain a nonce
  auto none = request(Method::Allocate, client(41000), [](Builder&) {});
  EXPECT_EQ(none.code, 400);
  auto tcp = request(Method::Allocate, client(41001), [](Builder& b) { b.add_u32(attr::RequestedTransport, 6u << 24); });
  EXPECT_EQ(tcp.code, 442);
  auto v6 = request(Method::Allocate, client(41002), [](Builder& b) {
    b.add_u32(attr::RequestedTransport, 17u << 24);
    b.add_u32(attr::RequestedAddressFamily, 0x02000000);
  });
  EXPECT_EQ(v6.code, 440);
  auto both = request(Method::Allocate, client(41003), [](Builder& b) {
    b.add_u32(attr::RequestedTransport, 17u << 24);
    b.add_u32(attr::RequestedAddressFamily, 0x01000000);
    b.add_u32(attr::AdditionalAddressFamily, 0x02000000);
  });
  EXPECT_EQ(both.code, 400);
  auto token_and_even = request(Method::Allocate, client(41004), [](Builder& b) {
    b.add_u32(attr::RequestedTransport, 17u << 24);
    b.add(attr::ReservationToken, std::span<const uint8_t>(std::array<uint8_t, 8>{}));
    b.add(attr::EvenPort, std::span<const uint8_t>(std::array<uint8_t, 1>{0}));
  });
  EXPECT_EQ(token_and_even.code, 400);
  EXPECT_EQ(core->allocation_count(), 1u);
}

TEST_F(CoreTest, UnknownComprehensionRequiredAttributeGets420) {
  auto r = request(Method::Binding, client(), [](Builder& b) { b.add_u32(0x0077, 1); });
  EXPECT_EQ(r.code, 420);
  auto u = UnknownAttributes::decode(r.msg.find(attr::UnknownAttributes)->value);
  EXPECT_EQ(u->types, std::vector<uint16_t>{0x0077});
  // Comprehension-optional ones are ignored.
  EXPECT_EQ(request(Method::Binding, client(), [](Builder& b) { b.add_u32(0xC057, 1); }).code, 200);
}

TEST_F(CoreTest, EvenPortReservesTheNextPortForAToken) {
  allocate(client());
  auto r = request(Method::Allocate, client(41000), [](Builder& b) {
    b.add_u32(attr::RequestedTransport, 17u << 24);
    b.add(attr::EvenPort, std::span<const uint8_t>(std::array<uint8_t, 1>{0x80}));
  });
  ASSERT_EQ(r.code, 200);
  auto port = r.xor_addr(attr::XorRelayedAddress)->port;
  EXPECT_EQ(port % 2, 0);
  auto token = ReservationToken::decode(r.msg.find(attr::ReservationToken)->value);
  ASSERT_TRUE(token);
  auto r2 = request(Method::Allocate, client(41001), [&](Builder& b) {
    b.add_u32(attr::RequestedTransport, 17u << 24);
    b.add(attr::ReservationToken, token->token);
  });
  ASSERT_EQ(r2.code, 200);
  EXPECT_EQ(r2.xor_addr(attr::XorRelayedAddress)->port, port + 1);
  auto r3 = request(Method::Allocate, client(41002), [&](Builder& b) {
    b.add_u32(attr::RequestedTransport, 17u << 24);
    b.add(attr::ReservationToken, token->token);
  }, "bob", "builder");
  EXPECT_EQ(r3.code, 508);
}

TEST_F(CoreTest, QuotaPerUserGives486AndCapacity508) {
  for (uint16_t i = 0; i < 3; ++i) ASSERT_EQ(allocate(client(42000 + i)).code, 200);
  EXPECT_EQ(allocate(client(42100)).code, 486);
  EXPECT_EQ(allocate(client(42101), "bob", "builder").code, 200);
  relays.exhausted = true;
  EXPECT_EQ(allocate(client(42102), "bob", "builder").code, 508);
  EXPECT_EQ(quotas->total(), 4u);
}

TEST_F(CoreTest, AllocationExpiresAndRefreshExtendsIt) {
  allocate(client());
  advance(500);
  auto r = request(Method::Refresh, client(), [](Builder& b) { b.add_u32(attr::Lifetime, 100000); });
  ASSERT_EQ(r.code, 200);
  EXPECT_EQ(Lifetime::decode(r.msg.find(attr::Lifetime)->value)->seconds, 3600u);  // capped at max
  advance(500);
  EXPECT_EQ(core->allocation_count(), 1u);
  advance(3100);
  EXPECT_EQ(core->allocation_count(), 0u);
  EXPECT_EQ(sink.ended.back(), EndReason::Expired);
  EXPECT_TRUE(relays.open_handles.empty());
}

TEST_F(CoreTest, RefreshToZeroDeletes) {
  allocate(client());
  auto r = request(Method::Refresh, client(), [](Builder& b) { b.add_u32(attr::Lifetime, 0); });
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(core->allocation_count(), 0u);
  EXPECT_EQ(sink.ended.back(), EndReason::Deleted);
  EXPECT_EQ(request(Method::Refresh, client(), [](Builder&) {}).code, 437);
  EXPECT_EQ(create_permission(client(), "192.0.2.50:1").code, 437);
  EXPECT_EQ(quotas->total(), 0u);
}

TEST_F(CoreTest, OtherCredentialsOnAnAllocationGet441) {
  allocate(client());
  auto r = request(Method::Refresh, client(), [](Builder&) {}, "bob", "builder");
  EXPECT_EQ(r.code, 441);
}

TEST_F(CoreTest, PermissionsGateRelayingBothWaysAndExpire) {
  auto a = allocate(client());
  sink.client.clear();
  // No permission: a peer's data is dropped, a Send indication too.
  core->handle_peer(1, *Endpoint::parse("192.0.2.50:7000"), std::vector<uint8_t>{1, 2, 3}, now);
  EXPECT_TRUE(sink.client.empty());
  ASSERT_EQ(create_permission(client(), "192.0.2.50:9").code, 200);
  sink.client.clear();
  core->handle_peer(1, *Endpoint::parse("192.0.2.50:7000"), std::vector<uint8_t>{1, 2, 3}, now);
  ASSERT_EQ(sink.client.size(), 1u);
  Message data;
  ASSERT_EQ(Message::parse(sink.client[0].bytes, data), ParseError::None);
  EXPECT_EQ(data.method(), Method::Data);
  EXPECT_EQ(data.cls(), Class::Indication);
  EXPECT_EQ(XorAddress::decode(data.find(attr::XorPeerAddress)->value, data.transaction_id())->endpoint.to_string(),
            "192.0.2.50:7000");
  auto* d = data.find(attr::Data);
  EXPECT_EQ(std::vector<uint8_t>(d->value.begin(), d->value.end()), (std::vector<uint8_t>{1, 2, 3}));
  // Send indication to the permitted peer reaches it.
  std::array<uint8_t, 256> buf;
  Builder s(buf, Method::Send, Class::Indication, next_txid());
  s.add_xor_address(attr::XorPeerAddress, *Endpoint::parse("192.0.2.50:7000"));
  s.add(attr::Data, std::string_view("hello"));
  core->handle(s.bytes(), client(), now);
  ASSERT_EQ(sink.peer.size(), 1u);
  EXPECT_EQ(std::string(sink.peer[0].bytes.begin(), sink.peer[0].bytes.end()), "hello");
  // After 300 s the permission is gone.
  advance(301);
  sink.client.clear();
  core->handle_peer(1, *Endpoint::parse("192.0.2.50:7000"), std::vector<uint8_t>{1}, now);
  EXPECT_TRUE(sink.client.empty());
  EXPECT_EQ(sink.drops.back(), DropReason::NoPermission);
}

TEST_F(CoreTest, ChannelBindRulesAndChannelDataBothWays) {
  allocate(client());
  ASSERT_EQ(request(Method::Refresh, client(), [](Builder& b) { b.add_u32(attr::Lifetime, 3600); }).code, 200);
  EXPECT_EQ(channel_bind(client(), 0x3FFF, "192.0.2.50:7000").code, 400);
  ASSERT_EQ(channel_bind(client(), 0x4001, "192.0.2.50:7000").code, 200);
  EXPECT_EQ(channel_bind(client(), 0x4001, "192.0.2.50:7000").code, 200);  // refresh
  EXPECT_EQ(channel_bind(client(), 0x4001, "192.0.2.51:7000").code, 400);  // channel taken
  EXPECT_EQ(channel_bind(client(), 0x4002, "192.0.2.50:7000").code, 400);  // peer taken
  std::vector<uint8_t> cd = {0x40, 0x01, 0x00, 0x02, 'h', 'i'};
  core->handle(cd, client(), now);
  ASSERT_EQ(sink.peer.size(), 1u);
  EXPECT_EQ(sink.peer[0].peer.to_string(), "192.0.2.50:7000");
  sink.client.clear();
  core->handle_peer(1, *Endpoint::parse("192.0.2.50:7000"), std::vector<uint8_t>{9, 8, 7}, now);
  ASSERT_EQ(sink.client.size(), 1u);
  EXPECT_EQ(sink.client[0].bytes, (std::vector<uint8_t>{0x40, 0x01, 0x00, 0x03, 9, 8, 7}));
  // An unbound channel is dropped.
  core->handle(std::vector<uint8_t>{0x40, 0x05, 0x00, 0x00}, client(), now);
  EXPECT_EQ(sink.peer.size(), 1u);
  // After 600 s the binding expires; the number stays reserved to its peer for 5 more minutes.
  advance(601);
  core->handle(cd, client(), now);
  EXPECT_EQ(sink.peer.size(), 1u);
  EXPECT_EQ(channel_bind(client(), 0x4001, "192.0.2.51:7000").code, 400);
  advance(301);
  EXPECT_EQ(channel_bind(client(), 0x4001, "192.0.2.51:7000").code, 200);
}

TEST_F(CoreTest, PeerPolicyRefusesInternalAndDeniedPeers) {
  allocate(client());
  EXPECT_EQ(create_permission(client(), "127.0.0.1:9").code, 403);
  EXPECT_EQ(create_permission(client(), "169.254.169.254:80").code, 403);
  EXPECT_EQ(create_permission(client(), "10.0.0.1:80").code, 403);
  EXPECT_EQ(create_permission(client(), "203.0.113.200:80").code, 403);  // configured deny
  EXPECT_EQ(channel_bind(client(), 0x4000, "192.168.0.1:80").code, 403);
  // A request with one good and one denied peer installs none.
  auto r = request(Method::CreatePermission, client(), [](Builder& b) {
    b.add_xor_address(attr::XorPeerAddress, *Endpoint::parse("192.0.2.60:1"));
    b.add_xor_address(attr::XorPeerAddress, *Endpoint::parse("127.0.0.1:1"));
  });
  EXPECT_EQ(r.code, 403);
  EXPECT_EQ(core->find(client())->permissions.size(), 0u);
  // A denied peer never receives a byte, not even by Send indication.
  std::array<uint8_t, 256> buf;
  Builder s(buf, Method::Send, Class::Indication, next_txid());
  s.add_xor_address(attr::XorPeerAddress, *Endpoint::parse("127.0.0.1:9"));
  s.add(attr::Data, std::string_view("x"));
  core->handle(s.bytes(), client(), now);
  EXPECT_TRUE(sink.peer.empty());
  EXPECT_EQ(create_permission(client(), "[2001:db8::1]:9").code, 443);
}

TEST_F(CoreTest, MalformedInputChangesNothing) {
  allocate(client());
  size_t before = core->allocation_count();
  std::vector<uint8_t> junk = {0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42};
  core->handle(junk, client(46000), now);
  core->handle(std::vector<uint8_t>{0xff, 0xff}, client(46000), now);
  core->handle(std::vector<uint8_t>{0x40, 0x00, 0xff, 0xff}, client(), now);
  EXPECT_EQ(core->allocation_count(), before);
  EXPECT_TRUE(sink.peer.empty());
}

TEST_F(CoreTest, ShutdownEndsEveryAllocation) {
  allocate(client());
  allocate(client(40001));
  core->shutdown(now);
  EXPECT_EQ(core->allocation_count(), 0u);
  EXPECT_EQ(sink.ended, (std::vector<EndReason>{EndReason::Shutdown, EndReason::Shutdown}));
  EXPECT_TRUE(relays.open_handles.empty());
  EXPECT_EQ(quotas->total(), 0u);
}

TEST_F(CoreTest, Sha256PasswordAlgorithmIsNegotiated) {
  std::string n = nonce_for(client());
  std::array<uint8_t, 1500> buf;
  Builder b(buf, Method::Allocate, Class::Request, next_txid());
  b.add_u32(attr::RequestedTransport, 17u << 24);
  b.add(attr::Username, std::string_view("alice"));
  b.add(attr::Realm, std::string_view("turnpike.test"));
  b.add(attr::Nonce, n);
  b.add(attr::PasswordAlgorithms, PasswordAlgorithms::server_value());
  b.add_u32(attr::PasswordAlgorithm, 0x00020000);
  auto key = crypto::sha256("alice:turnpike.test:wonderland");
  b.add_integrity_sha256(key);
  auto r = send(b.bytes(), client());
  ASSERT_EQ(r.code, 200);
  EXPECT_TRUE(r.msg.verify_integrity_sha256(key));
}

TEST_F(CoreTest, DualAllocationRelaysBothFamilies) {
  relays.v6 = true;
  allocate(client());  // for a nonce
  auto r = request(Method::Allocate, client(43000), [](Builder& b) {
    b.add_u32(attr::RequestedTransport, 17u << 24);
    b.add_u32(attr::AdditionalAddressFamily, 0x02000000);
  });
  ASSERT_EQ(r.code, 200);
  std::vector<std::string> relayed;
  for (const auto& a : r.msg.attributes())
    if (a.type == attr::XorRelayedAddress)
      relayed.push_back(XorAddress::decode(a.value, r.msg.transaction_id())->endpoint.address.to_string());
  EXPECT_EQ(relayed, (std::vector<std::string>{"198.51.100.1", "2001:db8::1"}));
  EXPECT_EQ(create_permission(client(43000), "[2001:db8::99]:5").code, 200);
  EXPECT_EQ(create_permission(client(43000), "192.0.2.99:5").code, 200);
  // Each family's peer is reached through that family's relay.
  auto* alloc = core->find(client(43000));
  ASSERT_EQ(alloc->relay_count, 2u);
  std::array<uint8_t, 256> buf;
  for (const char* peer : {"[2001:db8::99]:5", "192.0.2.99:5"}) {
    Builder s(buf, Method::Send, Class::Indication, next_txid());
    s.add_xor_address(attr::XorPeerAddress, *Endpoint::parse(peer));
    s.add(attr::Data, std::string_view("x"));
    core->handle(s.bytes(), client(43000), now);
  }
  ASSERT_EQ(sink.peer.size(), 2u);
  EXPECT_EQ(sink.peer[0].handle, alloc->relays[1].handle);
  EXPECT_EQ(sink.peer[1].handle, alloc->relays[0].handle);
  ASSERT_EQ(request(Method::Refresh, client(43000), [](Builder& b) { b.add_u32(attr::Lifetime, 0); }).code, 200);
  EXPECT_EQ(relays.open_handles.size(), 1u);  // only the first client's relay is left
}

TEST_F(CoreTest, DualAllocationWithoutIpv6SaysSoAndKeepsIpv4) {
  allocate(client());
  auto r = request(Method::Allocate, client(43001), [](Builder& b) {
    b.add_u32(attr::RequestedTransport, 17u << 24);
    b.add_u32(attr::AdditionalAddressFamily, 0x02000000);
  });
  ASSERT_EQ(r.code, 200);
  auto* aec = r.msg.find(attr::AddressErrorCode);
  ASSERT_NE(aec, nullptr);
  EXPECT_EQ(aec->value[0], 0x02);
  EXPECT_EQ(aec->value[2] * 100 + aec->value[3], 440);
  EXPECT_EQ(create_permission(client(43001), "[2001:db8::99]:5").code, 443);
}

TEST_F(CoreTest, BandwidthLimitDropsTheExcess) {
  CoreConfig cc;
  cc.bandwidth_bps = 1000;
  core = std::make_unique<Core>(cc, auth, policy, quotas, relays, sink);
  allocate(client());
  ASSERT_EQ(create_permission(client(), "192.0.2.50:9").code, 200);
  std::vector<uint8_t> payload(400, 7);
  for (int i = 0; i < 5; ++i) core->handle_peer(1, *Endpoint::parse("192.0.2.50:7000"), payload, now);
  EXPECT_EQ(core->find(client())->stats.packets_to_client, 2u);
  EXPECT_EQ(core->find(client())->stats.dropped_bandwidth, 3u);
  now.mono_ms += 1000;  // a second later the bucket is full again
  core->handle_peer(1, *Endpoint::parse("192.0.2.50:7000"), payload, now);
  EXPECT_EQ(core->find(client())->stats.packets_to_client, 3u);
}

TEST_F(CoreTest, GaugesFollowAllocationsPermissionsAndChannels) {
  const auto& st = core->stats();
  auto live = [&] { return st.allocations[0][0].get(); };  // udp, ipv4
  ASSERT_EQ(allocate(client(40000)).code, 200);
  ASSERT_EQ(allocate(client(40001)).code, 200);
  EXPECT_EQ(live(), 2u);
  ASSERT_EQ(create_permission(client(40000), "203.0.113.5:1000").code, 200);
  ASSERT_EQ(create_permission(client(40000), "203.0.113.5:2000").code, 200);  // same IP: one permission
  ASSERT_EQ(channel_bind(client(40001), 0x4001, "203.0.113.6:3000").code, 200);
  EXPECT_EQ(st.permissions.get(), 2u);
  EXPECT_EQ(st.channel_bindings.get(), 1u);
  advance(1);
  EXPECT_EQ(st.permissions.get(), 2u);  // recounted by tick: unchanged
  // Refresh(0) ends the second allocation: its channel and permission go with it.
  ASSERT_EQ(request(Method::Refresh, client(40001), [](Builder& b) { b.add_u32(attr::Lifetime, 0); }).code, 200);
  EXPECT_EQ(live(), 1u);
  EXPECT_EQ(st.channel_bindings.get(), 0u);
  EXPECT_EQ(st.permissions.get(), 1u);
  advance(301);  // the remaining permission expires
  EXPECT_EQ(st.permissions.get(), 0u);
  advance(600);  // and then the allocation
  EXPECT_EQ(live(), 0u);
}

TEST_F(CoreTest, RequestOutcomesTellChallengesFromFailures) {
  allocate(client());
  ASSERT_GE(sink.requests.size(), 2u);
  EXPECT_EQ(sink.requests[0].code, 401);
  EXPECT_TRUE(sink.requests[0].challenge);   // no credentials yet: the mechanism's first round
  EXPECT_EQ(sink.requests.back().code, 200);
  auto r = request(Method::Allocate, client(41000), [](Builder& b) { b.add_u32(attr::RequestedTransport, 17u << 24); },
                   "alice", "wrong");
  EXPECT_EQ(r.code, 401);
  EXPECT_FALSE(sink.requests.back().challenge);  // a wrong password is a failure
}

TEST_F(CoreTest, RenewedRestCredentialOfTheSameUserIsAcceptedAnotherUserGets441) {
  std::string first = std::to_string(now.unix_s + 600) + ":carol";
  ASSERT_EQ(allocate(client(), first, rest_password("northwind", first)).code, 200);
  // The application hands out a fresh credential (a later expiry) for the same user: a renewal.
  std::string renewed = std::to_string(now.unix_s + 4200) + ":carol";
  auto r = request(Method::Refresh, client(), [](Builder& b) { b.add_u32(attr::Lifetime, 600); }, renewed,
                   rest_password("newsecret", renewed));
  EXPECT_EQ(r.code, 200);
  // Another user's valid REST credential, or a static user, is not the allocation's.
  std::string dave = std::to_string(now.unix_s + 600) + ":dave";
  EXPECT_EQ(request(Method::Refresh, client(), [](Builder&) {}, dave, rest_password("northwind", dave)).code, 441);
  EXPECT_EQ(request(Method::Refresh, client(), [](Builder&) {}, "alice", "wonderland").code, 441);
}

// ---------------------------------------------------------------------------------------------
// RFC 5780 6: NAT behavior discovery on the four addresses 192.0.2.1/192.0.2.2 x 3478/3479.
namespace {

class DiscoveryTest : public CoreTest {
 protected:
  DiscoveryTest() {
    CoreConfig cfg;
    cfg.nat_discovery = NatDiscoveryConfig{*Endpoint::parse("192.0.2.1:3478"), *Endpoint::parse("192.0.2.2:3479"), 10, 5};
    core = std::make_unique<Core>(cfg, auth, policy, quotas, relays, sink);
  }
  FiveTuple at(const char* local, Transport t = Transport::Udp) {
    return FiveTuple{*Endpoint::parse("198.51.100.7:50000"), *Endpoint::parse(local), t};
  }
  std::optional<Endpoint> plain(const Response& r, uint16_t t) {
    auto* a = r.msg.find(t);
    if (!a) return std::nullopt;
    auto p = PlainAddress::decode(a->value);
    return p ? std::optional(p->endpoint) : std::nullopt;
  }
  // The destination and source of the last datagram sent.
  FiveTuple sent_to() { return sink.client.back().to; }
};

}  // namespace

TEST_F(DiscoveryTest, AnswerCarriesMappedResponseOriginAndOtherAddress) {
  auto r = request(Method::Binding, at("192.0.2.1:3478"), [](Builder&) {});
  ASSERT_EQ(r.code, 200);
  EXPECT_EQ(r.xor_addr(attr::XorMappedAddress)->to_string(), "198.51.100.7:50000");
  EXPECT_EQ(plain(r, attr::MappedAddress)->to_string(), "198.51.100.7:50000");
  EXPECT_EQ(plain(r, attr::ResponseOrigin)->to_string(), "192.0.2.1:3478");
  EXPECT_EQ(plain(r, attr::OtherAddress)->to_string(), "192.0.2.2:3479");
  // Received on the alternate pair: OTHER-ADDRESS is the primary.
  r = request(Method::Binding, at("192.0.2.2:3479"), [](Builder&) {});
  EXPECT_EQ(plain(r, attr::OtherAddress)->to_string(), "192.0.2.1:3478");
  EXPECT_EQ(plain(r, attr::ResponseOrigin)->to_string(), "192.0.2.2:3479");
  EXPECT_EQ(core->stats().nat_discovery_responses.get(), 2u);
}

TEST_F(DiscoveryTest, ChangeRequestSendsFromTheOtherIpPortOrBoth) {
  struct Case { uint32_t flags; const char* from; };
  for (Case c : {Case{0x6, "192.0.2.2:3479"}, Case{0x4, "192.0.2.2:3478"}, Case{0x2, "192.0.2.1:3479"}, Case{0, "192.0.2.1:3478"}}) {
    auto r = request(Method::Binding, at("192.0.2.1:3478"), [&](Builder& b) { b.add_u32(attr::ChangeRequest, c.flags); });
    ASSERT_EQ(r.code, 200) << c.flags;
    EXPECT_EQ(sent_to().server.to_string(), c.from) << c.flags;
    EXPECT_EQ(sent_to().client.to_string(), "198.51.100.7:50000");
    EXPECT_EQ(plain(r, attr::ResponseOrigin)->to_string(), c.from);
    EXPECT_EQ(plain(r, attr::OtherAddress)->to_string(), "192.0.2.2:3479");  // of where it was received
  }
  // From the alternate IP, change IP goes back to the primary IP.
  request(Method::Binding, at("192.0.2.2:3478"), [](Builder& b) { b.add_u32(attr::ChangeRequest, 0x4); });
  EXPECT_EQ(sent_to().server.to_string(), "192.0.2.1:3478");
}

TEST_F(DiscoveryTest, ResponsePortRedirectsToThatPortOfTheSameIp) {
  auto r = request(Method::Binding, at("192.0.2.1:3478"), [](Builder& b) { b.add_u32(attr::ResponsePort, 50123u << 16); });
  ASSERT_EQ(r.code, 200);
  EXPECT_EQ(sent_to().client.to_string(), "198.51.100.7:50123");
  EXPECT_EQ(r.xor_addr(attr::XorMappedAddress)->to_string(), "198.51.100.7:50000");  // what was seen
  EXPECT_EQ(request(Method::Binding, at("192.0.2.1:3478"), [](Builder& b) { b.add_u32(attr::ResponsePort, 0); }).code, 400);
  EXPECT_EQ(request(Method::Binding, at("192.0.2.1:3478"), [](Builder& b) { b.add(attr::ResponsePort, std::string_view("ab")); }).code, 400);
  EXPECT_EQ(request(Method::Binding, at("192.0.2.1:3478"), [](Builder& b) { b.add(attr::ChangeRequest, std::string_view("ab")); }).code, 400);
}

TEST_F(DiscoveryTest, PaddingIsEchoedAndNeverBeyondTheRequestsOwn) {
  std::vector<uint8_t> pad(400, 0xAB);
  auto r = request(Method::Binding, at("192.0.2.1:3478"), [&](Builder& b) { b.add(attr::Padding, pad); });
  ASSERT_EQ(r.code, 200);
  ASSERT_TRUE(r.msg.find(attr::Padding));
  EXPECT_EQ(r.msg.find(attr::Padding)->value.size(), 400u);
  std::vector<uint8_t> huge(1200, 0);
  std::array<uint8_t, 1500> buf;
  Builder b(buf, Method::Binding, Class::Request, next_txid());
  b.add(attr::Padding, huge);
  auto big = send(b.bytes(), at("192.0.2.1:3478"));
  ASSERT_EQ(big.code, 200);
  EXPECT_LE(big.bytes.size(), b.bytes().size() + 64);
}

TEST_F(DiscoveryTest, OverTcpChangeRequestIs400AndPlainBindingWorks) {
  EXPECT_EQ(request(Method::Binding, at("192.0.2.1:3478", Transport::Tcp), [](Builder& b) { b.add_u32(attr::ChangeRequest, 6); }).code, 400);
  auto r = request(Method::Binding, at("192.0.2.1:3478", Transport::Tcp), [](Builder&) {});
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(plain(r, attr::OtherAddress)->to_string(), "192.0.2.2:3479");
}

TEST_F(DiscoveryTest, OtherListenersAndDisabledServersAnswer420ToChangeRequest) {
  auto r = request(Method::Binding, at("127.0.0.1:3478"), [](Builder& b) { b.add_u32(attr::ChangeRequest, 6); });
  EXPECT_EQ(r.code, 420);
  r = request(Method::Binding, at("127.0.0.1:3478"), [](Builder&) {});
  EXPECT_EQ(r.code, 200);
  EXPECT_FALSE(r.msg.find(attr::OtherAddress));
  core = std::make_unique<Core>(CoreConfig{}, auth, policy, quotas, relays, sink);
  EXPECT_EQ(request(Method::Binding, at("192.0.2.1:3478"), [](Builder& b) { b.add_u32(attr::ChangeRequest, 6); }).code, 420);
  EXPECT_EQ(request(Method::Binding, at("192.0.2.1:3478"), [](Builder& b) { b.add_u32(attr::ResponsePort, 1u << 16); }).code, 420);
}

TEST_F(DiscoveryTest, PerSourceLimitFallsBackToPlainAnswersAndRefusesRedirects) {
  for (int i = 0; i < 5; ++i)  // the burst
    EXPECT_TRUE(request(Method::Binding, at("192.0.2.1:3478"), [](Builder&) {}).msg.find(attr::OtherAddress));
  auto r = request(Method::Binding, at("192.0.2.1:3478"), [](Builder&) {});
  EXPECT_EQ(r.code, 200);
  EXPECT_FALSE(r.msg.find(attr::OtherAddress));  // plain RFC 8489 answer
  r = request(Method::Binding, at("192.0.2.1:3478"), [](Builder& b) { b.add_u32(attr::ChangeRequest, 6); });
  EXPECT_EQ(r.code, 400);  // a short error to where it came from, not a redirect
  EXPECT_EQ(sent_to().server.to_string(), "192.0.2.1:3478");
  EXPECT_LE(r.bytes.size(), 48u);
  EXPECT_EQ(core->stats().nat_discovery_limited.get(), 2u);
  // Another source is unaffected; the first recovers at 10 per second.
  FiveTuple other = at("192.0.2.1:3478");
  other.client = *Endpoint::parse("198.51.100.8:50000");
  EXPECT_TRUE(request(Method::Binding, other, [](Builder&) {}).msg.find(attr::OtherAddress));
  now.mono_ms += 200;
  EXPECT_TRUE(request(Method::Binding, at("192.0.2.1:3478"), [](Builder&) {}).msg.find(attr::OtherAddress));
}

// ---------------------------------------------------------------------------------------------
// Idle-timer evidence: silences survived on a 5-tuple, rebindings, and sessions lost.

TEST_F(CoreTest, SilenceThenTheSameFiveTupleIsASurvivedGap) {
  auto ft = client(41000);
  ASSERT_EQ(allocate(ft).code, 200);
  now.mono_ms += 500;  // too short to count
  EXPECT_EQ(request(Method::Refresh, ft, [](Builder&) {}).code, 200);
  now.mono_ms += 7'000;
  EXPECT_EQ(request(Method::Refresh, ft, [](Builder&) {}).code, 200);
  ASSERT_EQ(sink.gaps.size(), 1u);
  EXPECT_EQ(sink.gaps[0].first, GapOutcome::Survived);
  EXPECT_EQ(sink.gaps[0].second, 7'000);
}

TEST_F(CoreTest, SameUserBackOnANewPortAfterSilenceIsARebinding) {
  auto old_ft = client(41000), new_ft = client(41001);
  ASSERT_EQ(allocate(old_ft).code, 200);
  now.mono_ms += 3'000;
  EXPECT_EQ(request(Method::Refresh, old_ft, [](Builder&) {}).code, 200);  // survived 3 s
  now.mono_ms += 9'000;
  // The NAT gave the client a new port: its Refresh there gets 437, then it allocates anew.
  EXPECT_EQ(request(Method::Refresh, new_ft, [](Builder&) {}).code, 437);
  ASSERT_EQ(allocate(new_ft).code, 200);
  ASSERT_EQ(sink.gaps.size(), 2u);
  EXPECT_EQ(sink.gaps[1].first, GapOutcome::Rebound);
  EXPECT_EQ(sink.gaps[1].second, 9'000);
  ASSERT_EQ(sink.losses.size(), 1u);  // counted once, at the 437
  EXPECT_EQ(sink.losses[0].first, LossCause::Rebinding);
  EXPECT_EQ(sink.losses[0].second, 3'000);  // its age when it went silent
  EXPECT_EQ(sink.refresh_failures, std::vector<RefreshFailure>{RefreshFailure::AllocationMismatch});
  // When the old allocation expires it is not counted lost a second time.
  advance(700);
  EXPECT_EQ(sink.losses.size(), 2u);  // the new one expired (silent); the old one was already counted
  EXPECT_EQ(sink.losses[1].first, LossCause::Expired);
}

TEST_F(CoreTest, AnotherUserOrABusyFlowIsNoRebinding) {
  ASSERT_EQ(allocate(client(41000), "alice").code, 200);
  now.mono_ms += 9'000;
  ASSERT_EQ(allocate(client(41001), "bob", "builder").code, 200);  // another user
  now.mono_ms += 200;
  ASSERT_EQ(allocate(client(41002), "alice").code, 200);  // alice again, but 41001 is bob's
  // alice's 41000 flow was silent 9.2 s: that is a rebinding; nothing else.
  size_t rebound = 0;
  for (auto& g : sink.gaps) rebound += g.first == GapOutcome::Rebound;
  EXPECT_EQ(rebound, 1u);
  ASSERT_EQ(allocate(client(41003), "alice").code, 200);  // 41002 is fresh (0.0 s silent): none
  rebound = 0;
  for (auto& g : sink.gaps) rebound += g.first == GapOutcome::Rebound;
  EXPECT_EQ(rebound, 1u);
}

TEST_F(CoreTest, RefreshWithAnExpiredRestCredentialLosesTheSessionOnce) {
  auto ft = client(42000);
  std::string user = std::to_string(now.unix_s + 30) + ":carol";
  std::string pw = rest_password("newsecret", user);
  ASSERT_EQ(allocate(ft, user, pw).code, 200);
  advance(20);
  EXPECT_EQ(request(Method::Refresh, ft, [](Builder&) {}, user, pw).code, 200);
  advance(20);  // the credential expired 10 s ago
  EXPECT_EQ(request(Method::Refresh, ft, [](Builder&) {}, user, pw).code, 401);
  EXPECT_EQ(request(Method::Refresh, ft, [](Builder&) {}, user, pw).code, 401);
  EXPECT_EQ(sink.refresh_failures,
            (std::vector<RefreshFailure>{RefreshFailure::ExpiredCredential, RefreshFailure::ExpiredCredential}));
  ASSERT_EQ(sink.losses.size(), 1u);
  EXPECT_EQ(sink.losses[0].first, LossCause::ExpiredCredential);
  EXPECT_EQ(sink.losses[0].second, 40'000);
  advance(700);  // and its expiry is not a second loss
  EXPECT_EQ(sink.losses.size(), 1u);
}

TEST_F(CoreTest, ExpiryAndClosedConnectionsAreLossesDeletionIsNot) {
  auto a = client(43000), b = client(43001), d = client(43002);
  d.transport = Transport::Tcp;
  ASSERT_EQ(allocate(a).code, 200);
  ASSERT_EQ(allocate(b).code, 200);
  ASSERT_EQ(allocate(d).code, 200);
  now.mono_ms += 5'000;
  EXPECT_EQ(request(Method::Refresh, b, [](Builder& m) { m.add_u32(attr::Lifetime, 0); }).code, 200);  // deleted
  core->connection_closed(d, now);
  advance(700);
  std::map<LossCause, int64_t> got;
  for (auto& [c, age] : sink.losses) got[c] = age;
  EXPECT_EQ(got.size(), 2u);
  EXPECT_EQ(got[LossCause::ConnectionClosed], 5'000);
  EXPECT_EQ(got[LossCause::Expired], 0);  // silent from its start
}

// ---------------------------------------------------------------------------------------------
// Data residency: eu-west serves its own clients, relays to eu-west and eu-central peers only.
namespace {

class ResidencyTest : public CoreTest {
 protected:
  ResidencyTest() { make(ResidencyConfig::Foreign::Redirect); }
  void make(ResidencyConfig::Foreign foreign) {
    ResidencyConfig rc;
    rc.own = "eu-west";
    auto uris = [](std::initializer_list<const char*> l) {
      std::vector<TurnUri> v;
      for (const char* u : l) v.push_back(*TurnUri::parse(u));
      return v;
    };
    rc.regions = {
        {"eu-west", {*Cidr::parse("192.0.2.0/25")}, uris({"turn:192.0.2.1:3478"}), "wss://192.0.2.1:8443/signal"},
        {"eu-central", {*Cidr::parse("198.51.100.0/24")}, uris({"turn:198.51.100.1:3478"}), ""},
        // us-east names a server by DNS name first (never an ALTERNATE-SERVER: it has no address),
        // then one per transport, and one for IPv6 clients.
        {"us-east", {*Cidr::parse("203.0.113.0/25"), *Cidr::parse("2001:db8:1::/48")},
         uris({"turns:turn.us-east.test:443", "turn:203.0.113.9:3478?transport=tcp", "turn:203.0.113.1:3478?transport=udp",
               "turn:203.0.113.1:3478?transport=tcp", "turns:203.0.113.1:443?transport=tcp", "turn:[2001:db8::1]"}),
         ""},
    };
    rc.peer_regions = {"eu-west", "eu-central"};
    rc.client_regions = {"eu-west"};
    rc.foreign_clients = foreign;
    CoreConfig cfg;
    cfg.regions = std::make_shared<RegionPolicy>(rc);
    core = std::make_unique<Core>(cfg, auth, policy, quotas, relays, sink);
  }
  FiveTuple from(const char* ip, uint16_t port = 40000, Transport t = Transport::Udp) {
    bool v6 = std::string_view(ip).find(':') != std::string_view::npos;
    return FiveTuple{*Endpoint::parse(v6 ? "[" + std::string(ip) + "]:" + std::to_string(port) : std::string(ip) + ":" + std::to_string(port)),
                     *Endpoint::parse(v6 ? "[2001:db8::10]:3478" : "192.0.2.1:3478"), t};
  }
  std::optional<Endpoint> alternate(const Response& r) {
    auto* a = r.msg.find(attr::AlternateServer);
    if (!a) return std::nullopt;
    auto p = PlainAddress::decode(a->value);
    return p ? std::optional(p->endpoint) : std::nullopt;
  }
};

}  // namespace

TEST_F(ResidencyTest, OwnRegionIsServedAndRelaysOnlyToApprovedPeerRegions) {
  auto ft = from("192.0.2.10");
  ASSERT_EQ(allocate(ft).code, 200);
  EXPECT_EQ(core->find(ft)->client_region, "eu-west");
  EXPECT_EQ(core->find(ft)->served_region, "eu-west");
  EXPECT_EQ(create_permission(ft, "198.51.100.7:5000").code, 200);  // eu-central
  EXPECT_EQ(create_permission(ft, "203.0.113.7:5000").code, 403);   // us-east
  EXPECT_EQ(create_permission(ft, "192.0.2.200:5000").code, 403);   // in no region
  EXPECT_EQ(channel_bind(ft, 0x4001, "203.0.113.7:5000").code, 403);
  EXPECT_EQ(relays.open_handles.size(), 1u);
}

TEST_F(ResidencyTest, DataFromAForbiddenPeerIsDroppedAndCountedAsPeerDenied) {
  auto ft = from("192.0.2.10");
  ASSERT_EQ(allocate(ft).code, 200);
  sink.client.clear();
  core->handle_peer(1, *Endpoint::parse("203.0.113.7:5000"), std::vector<uint8_t>{1, 2, 3}, now);  // us-east
  core->handle_peer(1, *Endpoint::parse("198.51.100.7:5000"), std::vector<uint8_t>{1, 2, 3}, now);  // eu-central, no permission
  EXPECT_TRUE(sink.client.empty());
  EXPECT_EQ(core->find(ft)->stats.dropped_peer_denied, 1u);
  EXPECT_EQ(core->find(ft)->stats.dropped_no_permission, 1u);
}

TEST_F(ResidencyTest, ForeignClientIsRedirectedToItsRegionAndGetsNoAllocation) {
  auto r = allocate(from("203.0.113.20"));
  EXPECT_EQ(r.code, 300);
  EXPECT_EQ(alternate(r)->to_string(), "203.0.113.1:3478");
  EXPECT_TRUE(relays.open_handles.empty());
  EXPECT_EQ(core->allocation_count(), 0u);
  // An address in no region is refused by default.
  EXPECT_EQ(allocate(from("192.0.2.200")).code, 403);
}

// RFC 8489 10: a redirected client retries over the transport it used, so ALTERNATE-SERVER names a
// server of the client's region that speaks it; 14.15: in the address family of the request.
TEST_F(ResidencyTest, TheAlternateServerKeepsTheClientsTransportAndAddressFamily) {
  auto r = allocate(from("203.0.113.20", 40001, Transport::Tcp));
  EXPECT_EQ(r.code, 300);
  EXPECT_EQ(alternate(r)->to_string(), "203.0.113.9:3478");  // the first that names tcp
  r = allocate(from("203.0.113.20", 40002, Transport::Tls));
  EXPECT_EQ(r.code, 300);
  EXPECT_EQ(alternate(r)->to_string(), "203.0.113.1:443");
  // No turns: URL of us-east carries DTLS: refused, not sent where the handshake cannot work.
  EXPECT_EQ(allocate(from("203.0.113.20", 40003, Transport::Dtls)).code, 403);
  // IPv6 clients: the IPv6 server, on TURN's default port, over UDP or TCP alike.
  r = allocate(from("2001:db8:1::5", 40004));
  EXPECT_EQ(r.code, 300);
  EXPECT_EQ(alternate(r)->to_string(), "[2001:db8::1]:3478");
  r = allocate(from("2001:db8:1::5", 40005, Transport::Tcp));
  EXPECT_EQ(alternate(r)->to_string(), "[2001:db8::1]:3478");
  EXPECT_EQ(allocate(from("2001:db8:1::5", 40006, Transport::Tls)).code, 403);
  EXPECT_TRUE(relays.open_handles.empty());
  EXPECT_EQ(core->allocation_count(), 0u);
}

// libwebrtc sends its first Allocate to the alternate with the REALM and NONCE of the 300: a node
// sharing auth.nonce_secret accepts that nonce, from another port of the same address and transport.
TEST_F(ResidencyTest, TheRedirectCarriesANonceTheOtherNodesAcceptWhenTheyShareTheNonceSecret) {
  AuthConfig shared;
  shared.realm = "turnpike.test";
  shared.users = {{"alice", "wonderland"}};
  shared.nonce_secret = "one-secret-for-every-node";
  auth = std::make_shared<Authenticator>(shared);
  make(ResidencyConfig::Foreign::Redirect);
  auto r = allocate(from("203.0.113.20", 40001, Transport::Tcp));
  ASSERT_EQ(r.code, 300);
  EXPECT_EQ(r.text(attr::Realm), "turnpike.test");
  std::string nonce = r.text(attr::Nonce);
  ASSERT_FALSE(nonce.empty());
  Authenticator us_east(shared), stranger(AuthConfig{shared.realm, shared.users, {}, 600, ""});
  // The redirect nonce binds the client's IP and transport only: the alternate sees another port
  // and is another listener.
  FiveTuple at_alternate{*Endpoint::parse("203.0.113.20:40777"), *Endpoint::parse("203.0.113.1:3478"), Transport::Tcp};
  EXPECT_EQ(us_east.check_nonce(nonce, at_alternate, now.unix_s), Authenticator::NonceCheck::Valid);
  FiveTuple other_ip = at_alternate, other_transport = at_alternate;
  other_ip.client.address = *IpAddress::parse("203.0.113.21");
  other_transport.transport = Transport::Udp;
  EXPECT_EQ(us_east.check_nonce(nonce, other_ip, now.unix_s), Authenticator::NonceCheck::Stale);
  EXPECT_EQ(us_east.check_nonce(nonce, other_transport, now.unix_s), Authenticator::NonceCheck::Stale);
  EXPECT_EQ(stranger.check_nonce(nonce, at_alternate, now.unix_s), Authenticator::NonceCheck::Stale);
}

TEST_F(ResidencyTest, ACredentialPinnedToAnotherRegionIsRedirectedFromAnyAddress) {
  std::string user = std::to_string(now.unix_s + 600) + ":erin:us-east";
  auto r = allocate(from("192.0.2.10"), user, rest_password("northwind", user));
  EXPECT_EQ(r.code, 300);
  EXPECT_EQ(alternate(r)->to_string(), "203.0.113.1:3478");
  user = std::to_string(now.unix_s + 600) + ":erin:eu-west";
  EXPECT_EQ(allocate(from("192.0.2.11"), user, rest_password("northwind", user)).code, 200);
  user = std::to_string(now.unix_s + 600) + ":erin:atlantis";
  EXPECT_EQ(allocate(from("192.0.2.12"), user, rest_password("northwind", user)).code, 403);
}

TEST_F(ResidencyTest, ForeignClientsCanBeRefusedOrServedAsDrift) {
  make(ResidencyConfig::Foreign::Refuse);
  EXPECT_EQ(allocate(from("203.0.113.20")).code, 403);
  make(ResidencyConfig::Foreign::Serve);
  auto ft = from("203.0.113.21");
  ASSERT_EQ(allocate(ft).code, 200);
  EXPECT_TRUE(core->find(ft)->drift);
  EXPECT_EQ(core->find(ft)->client_region, "us-east");
}

// RFC 5766 11 allowed channel numbers 0x4000 through 0x7FFF; coturn's clients pick from all of it.
TEST_F(CoreTest, ChannelNumbersUpTo0x7FFFAreAcceptedAbove400) {
  policy = std::make_shared<PeerPolicy>(std::vector<Cidr>{*Cidr::parse("192.0.2.0/24")}, std::vector<Cidr>{});
  core = std::make_unique<Core>(CoreConfig{}, auth, policy, quotas, relays, sink);
  auto ft = client(44000);
  ASSERT_EQ(allocate(ft).code, 200);
  EXPECT_EQ(channel_bind(ft, 0x7FFF, "192.0.2.77:5000").code, 200);
  EXPECT_EQ(channel_bind(ft, 0x8000, "192.0.2.78:5000").code, 400);
  EXPECT_EQ(channel_bind(ft, 0x3FFF, "192.0.2.79:5000").code, 400);
}

TEST_F(ResidencyTest, AReloadedPolicyEndsForbiddenAllocationsAndRevokesForbiddenPeers) {
  auto stays = from("192.0.2.10", 40000), goes = from("192.0.2.11", 40001);
  ASSERT_EQ(allocate(stays).code, 200);
  ASSERT_EQ(create_permission(stays, "198.51.100.7:5000").code, 200);  // eu-central
  ASSERT_EQ(create_permission(stays, "192.0.2.20:5000").code, 200);    // eu-west
  std::string user = std::to_string(now.unix_s + 600) + ":erin:eu-west";
  ASSERT_EQ(allocate(goes, user, rest_password("northwind", user)).code, 200);
  // The new policy no longer allows eu-central peers.
  ResidencyConfig rc;
  rc.own = "eu-west";
  rc.regions = {
      {"eu-west", {*Cidr::parse("192.0.2.0/25")}, {*TurnUri::parse("turn:192.0.2.1")}, ""},
      {"eu-central", {*Cidr::parse("198.51.100.0/24")}, {*TurnUri::parse("turn:198.51.100.1")}, ""},
      {"us-east", {*Cidr::parse("203.0.113.0/25")}, {*TurnUri::parse("turn:203.0.113.1")}, ""},
  };
  rc.peer_regions = {"eu-west"};
  rc.client_regions = {"eu-west"};
  core->set_regions(std::make_shared<RegionPolicy>(rc), now);
  ASSERT_TRUE(core->find(stays));
  EXPECT_EQ(core->find(stays)->permissions.size(), 1u);  // the eu-central one is gone
  EXPECT_TRUE(core->find(goes));                          // still served: eu-west is served
  // Now eu-west stops serving its own clients (a failover elsewhere): both end, with reason policy.
  rc.client_regions = {"eu-central"};
  core->set_regions(std::make_shared<RegionPolicy>(rc), now);
  EXPECT_EQ(core->allocation_count(), 0u);
  EXPECT_EQ(sink.ended, (std::vector<EndReason>{EndReason::Policy, EndReason::Policy}));
  EXPECT_TRUE(relays.open_handles.empty());
}
