// loadgen::TurnClient against the real in-process turn::Core (core_fixture.hpp: fake clock, fake
// relays, recording sink): what the clients send goes to the core, what the core sends goes back to
// the client of that 5-tuple, and what a relay sends to a peer that is another client's relayed
// address comes in on that relay (handle_peer). Streams are cut with turn::stream_frame_length.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core_fixture.hpp"
#include "loadgen/turn_client.hpp"
#include "turn/auth.hpp"
#include "turn/stream_framing.hpp"

namespace {

using loadgen::ClientConfig;
using loadgen::ClientState;
using loadgen::TurnClient;

std::vector<uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

// A response cut before its MESSAGE-INTEGRITY(-SHA256): a fuzz seed whose rewritten transaction id
// still reaches the state machine (an unsigned response is not checked).
std::vector<uint8_t> unsigned_copy(const std::vector<uint8_t>& bytes) {
  Message m;
  if (Message::parse(bytes, m) != ParseError::None) return bytes;
  const RawAttribute* mi = m.find(attr::MessageIntegritySha256);
  if (!mi) mi = m.find(attr::MessageIntegrity);
  if (!mi) return bytes;
  std::vector<uint8_t> out(bytes.begin(), bytes.begin() + mi->offset);
  out[2] = static_cast<uint8_t>((out.size() - kHeaderSize) >> 8);
  out[3] = static_cast<uint8_t>((out.size() - kHeaderSize) & 0xff);
  return out;
}

class ClientCoreTest : public CoreTest {
 protected:
  static constexpr int64_t kNonceLifetimeS = 120;  // short, so that long runs meet stale nonces

  ClientCoreTest() {
    AuthConfig ac;
    ac.realm = "turnpike.test";
    ac.users = {{"alice", "wonderland"}, {"bob", "builder"}};
    ac.rest_secrets = {"newsecret", "northwind"};
    ac.nonce_lifetime_s = kNonceLifetimeS;
    auth = std::make_shared<Authenticator>(ac);
    core = std::make_unique<Core>(CoreConfig{}, auth, policy, quotas, relays, sink);
  }

  struct Node {
    FiveTuple ft;
    TurnClient client;
    std::vector<uint8_t> from_core;   // stream bytes not yet a whole frame
    std::vector<uint8_t> to_core;
    std::vector<std::pair<Endpoint, std::vector<uint8_t>>> delivered;
    std::vector<std::vector<uint8_t>> received;  // every frame the core sent, as the client got it
  };

  Node& add(ClientConfig cfg, uint16_t port, std::string user = "alice", std::string pw = "wonderland") {
    cfg.username = std::move(user);
    cfg.password = std::move(pw);
    FiveTuple ft = client(port);
    ft.transport = cfg.transport;
    nodes.push_back(std::make_unique<Node>(Node{ft, TurnClient(cfg, port), {}, {}, {}, {}}));
    return *nodes.back();
  }

  // Cuts whole frames off the front of a stream buffer (RFC 8656 12.5 framing).
  template <typename Fn>
  static void frames(std::vector<uint8_t>& buf, Fn fn) {
    size_t off = 0;
    for (;;) {
      size_t n = turn::stream_frame_length({buf.data() + off, buf.size() - off});
      ASSERT_NE(n, SIZE_MAX);
      if (n == 0 || buf.size() - off < n) break;
      fn(std::span<const uint8_t>(buf.data() + off, n));
      off += n;
    }
    buf.erase(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(off));
  }

  // What a client sends, as its transport carries it.
  void to_core(Node& n, std::span<const uint8_t> msg) {
    if (datagram(n.ft.transport)) return core->handle(msg, n.ft, now);
    n.to_core.insert(n.to_core.end(), msg.begin(), msg.end());
    frames(n.to_core, [&](std::span<const uint8_t> f) { core->handle(f, n.ft, now); });
  }

  void to_client(Node& n, std::span<const uint8_t> bytes) {
    auto take = [&](std::span<const uint8_t> f) {
      n.received.emplace_back(f.begin(), f.end());
      auto d = n.client.on_message(f, now.mono_ms);
      if (d.ok) n.delivered.push_back({d.peer, {d.payload.begin(), d.payload.end()}});
    };
    if (datagram(n.ft.transport)) return take(bytes);
    n.from_core.insert(n.from_core.end(), bytes.begin(), bytes.end());
    frames(n.from_core, take);
  }

  const Allocation::Relay* relay_by(const std::function<bool(const Allocation::Relay&)>& pred) {
    const Allocation::Relay* found = nullptr;
    core->for_each_allocation([&](const Allocation& a) {
      for (size_t i = 0; i < a.relay_count; ++i)
        if (pred(a.relays[i])) found = &a.relays[i];
    });
    return found;
  }

  // Moves messages until nothing moves: clients -> core -> clients, relay -> peer relay.
  void pump(bool deliver = true) {
    for (int round = 0; round < 100; ++round) {
      bool moved = false;
      std::vector<uint8_t> msg;
      for (auto& n : nodes)
        while (n->client.pop_output(msg)) {
          moved = true;
          if (deliver) to_core(*n, msg);
        }
      while (!sink.client.empty()) {
        Sent s = std::move(sink.client.front());
        sink.client.pop_front();
        moved = true;
        for (auto& n : nodes)
          if (n->ft == s.to) to_client(*n, s.bytes);
      }
      auto to_peers = std::move(sink.peer);
      sink.peer.clear();
      for (auto& p : to_peers) {
        moved = true;
        const auto* from = relay_by([&](const Allocation::Relay& r) { return r.handle == p.handle; });
        const auto* to = relay_by([&](const Allocation::Relay& r) { return r.address == p.peer; });
        if (from && to) core->handle_peer(to->handle, from->address, p.bytes, now);
      }
      if (!moved) return;
    }
    ADD_FAILURE() << "messages still moving after 100 rounds";
  }

  // Runs the clock in steps: the core's expiry, the clients' timers, and the messages between.
  void run_for(int64_t ms, int64_t step_ms = 100, bool deliver = true) {
    for (int64_t t = 0; t < ms; t += step_ms) {
      now.mono_ms += step_ms;
      now.unix_s = 1'800'000'000 + (now.mono_ms - 1'000'000) / 1000;
      core->tick(now);
      for (auto& n : nodes) n->client.tick(now.mono_ms);
      pump(deliver);
    }
  }

  // Two clients allocate and add each other's relayed address as their peer.
  void pair(Node& a, Node& b) {
    a.client.start(now.mono_ms);
    b.client.start(now.mono_ms);
    pump();
    ASSERT_EQ(a.client.state(), ClientState::Allocated) << a.client.failure().stage << " " << a.client.failure().code;
    ASSERT_EQ(b.client.state(), ClientState::Allocated);
    a.client.add_peer(b.client.relayed(), now.mono_ms);
    b.client.add_peer(a.client.relayed(), now.mono_ms);
    pump();
    ASSERT_TRUE(a.client.peer_ready(b.client.relayed()));
    ASSERT_TRUE(b.client.peer_ready(a.client.relayed()));
  }

  // A wraps `payload` for B; it must reach B as a Delivery from A's relayed address.
  void expect_relayed(Node& a, Node& b, std::string_view text) {
    std::array<uint8_t, 1500> out;
    auto payload = bytes_of(text);
    size_t n = a.client.wrap(b.client.relayed(), payload, out);
    ASSERT_GT(n, 0u);
    b.delivered.clear();
    to_core(a, {out.data(), n});
    pump();
    ASSERT_EQ(b.delivered.size(), 1u);
    EXPECT_EQ(b.delivered[0].first, a.client.relayed());
    EXPECT_EQ(b.delivered[0].second, payload);
  }

  void relay_both_ways(Transport t, bool channels) {
    ClientConfig cfg;
    cfg.transport = t;
    cfg.use_channels = channels;
    auto& a = add(cfg, 40001);
    auto& b = add(cfg, 40002, "bob", "builder");
    pair(a, b);
    EXPECT_EQ(a.client.mapped(), a.ft.client);
    for (const char* text : {"hello from a", "odd", "x", "four"}) {  // lengths 12, 3, 1, 4: padding
      expect_relayed(a, b, text);
      expect_relayed(b, a, text);
    }
    // What B got is ChannelData with channels, a Data indication without.
    ASSERT_FALSE(b.received.empty());
    EXPECT_EQ(ChannelData::looks_like(b.received.back()), channels);
    const Allocation* alloc = core->find(a.ft);
    ASSERT_NE(alloc, nullptr);
    EXPECT_EQ(alloc->channels.size(), channels ? 1u : 0u);
    EXPECT_TRUE(alloc->sha256_integrity);  // the core's nonce offers SHA-256 (RFC 8489 9.2.4)
  }

  std::vector<std::unique_ptr<Node>> nodes;
};

TEST(StreamFraming, LengthOfStunAndChannelDataFrames) {
  const uint8_t stun[4] = {0x01, 0x01, 0x00, 0x08};
  const uint8_t cd[4] = {0x40, 0x00, 0x00, 0x05};
  const uint8_t cd_even[4] = {0x40, 0x01, 0x00, 0x08};
  const uint8_t other[4] = {0x80, 0x00, 0x00, 0x00};
  EXPECT_EQ(turn::stream_frame_length(stun), 28u);
  EXPECT_EQ(turn::stream_frame_length(cd), 12u);  // 4 + 5 padded to 8
  EXPECT_EQ(turn::stream_frame_length(cd_even), 12u);
  EXPECT_EQ(turn::stream_frame_length(other), SIZE_MAX);
  EXPECT_EQ(turn::stream_frame_length(std::span<const uint8_t>(stun, 3)), 0u);
  EXPECT_EQ(turn::stream_frame_length({}), 0u);
}

TEST_F(ClientCoreTest, UdpChannelsRelayBothWays) { relay_both_ways(Transport::Udp, true); }
TEST_F(ClientCoreTest, UdpSendIndicationsRelayBothWays) { relay_both_ways(Transport::Udp, false); }
TEST_F(ClientCoreTest, TcpChannelsRelayBothWays) { relay_both_ways(Transport::Tcp, true); }
TEST_F(ClientCoreTest, TcpSendIndicationsRelayBothWays) { relay_both_ways(Transport::Tcp, false); }

TEST_F(ClientCoreTest, WrapPadsChannelDataOnStreamsOnly) {
  for (Transport t : {Transport::Udp, Transport::Tcp}) {
    nodes.clear();
    ClientConfig cfg;
    cfg.transport = t;
    auto& a = add(cfg, t == Transport::Udp ? 40011 : 40012);
    auto& b = add(cfg, t == Transport::Udp ? 40013 : 40014, "bob", "builder");
    pair(a, b);
    std::array<uint8_t, 64> out;
    const uint8_t five[5] = {1, 2, 3, 4, 5};
    EXPECT_EQ(a.client.wrap(b.client.relayed(), five, out), t == Transport::Udp ? 9u : 12u);
    EXPECT_EQ(a.client.wrap(b.client.relayed(), five, std::span<uint8_t>(out.data(), 8)), 0u);  // too small
    EXPECT_EQ(a.client.wrap(*Endpoint::parse("203.0.113.9:1"), five, out), 0u);               // not a peer
  }
}

TEST_F(ClientCoreTest, RestCredentials) {
  std::string username = std::to_string(now.unix_s + 3600) + ":carol";
  ClientConfig cfg;
  auto& a = add(cfg, 40021, username, rest_password("newsecret", username));
  auto& b = add(cfg, 40022, username, rest_password("newsecret", username));
  pair(a, b);
  expect_relayed(a, b, "rest");
  EXPECT_EQ(core->find(a.ft)->user, "carol");
}

TEST_F(ClientCoreTest, WrongPasswordFailsAllocateWith401) {
  auto& a = add(ClientConfig{}, 40031, "alice", "wrong");
  a.client.start(now.mono_ms);
  pump();
  ASSERT_EQ(a.client.state(), ClientState::Failed);
  EXPECT_EQ(a.client.failure().stage, "allocate");
  EXPECT_EQ(a.client.failure().code, 401);
  EXPECT_EQ(a.client.failure().at_ms, now.mono_ms);
  EXPECT_EQ(a.client.requests(), 2u);  // the unsigned Allocate and the signed one, no more
  EXPECT_EQ(a.client.error_responses(), 2u);
  EXPECT_EQ(core->allocation_count(), 0u);
}

TEST_F(ClientCoreTest, QuotaFailsAllocateWith486) {
  for (uint16_t port = 40041; port <= 40044; ++port) add(ClientConfig{}, port).client.start(now.mono_ms);
  pump();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(nodes[i]->client.state(), ClientState::Allocated);  // quota: 3 per user
  ASSERT_EQ(nodes[3]->client.state(), ClientState::Failed);
  EXPECT_EQ(nodes[3]->client.failure().stage, "allocate");
  EXPECT_EQ(nodes[3]->client.failure().code, 486);
  EXPECT_FALSE(nodes[3]->client.failure().reason.empty());
}

TEST_F(ClientCoreTest, DatagramRetransmitsThenTimesOut) {
  ClientConfig cfg;
  cfg.rto_ms = 500;
  cfg.transaction_timeout_ms = 8000;
  auto& a = add(cfg, 40051);
  int64_t t0 = now.mono_ms;
  a.client.start(t0);
  EXPECT_EQ(a.client.next_timer_ms(), t0 + 500);
  std::vector<int64_t> sent_at;
  std::vector<uint8_t> msg, first;
  ASSERT_TRUE(a.client.pop_output(first));
  for (int64_t t = t0; t <= t0 + 9000; t += 100) {
    a.client.tick(t);
    while (a.client.pop_output(msg)) {
      EXPECT_EQ(msg, first);  // the same transaction, byte for byte
      sent_at.push_back(t - t0);
    }
  }
  EXPECT_EQ(sent_at, (std::vector<int64_t>{500, 1500, 3500, 7500}));  // RFC 8489 6.2.1: RTO doubling
  ASSERT_EQ(a.client.state(), ClientState::Failed);
  EXPECT_EQ(a.client.failure().stage, "allocate");
  EXPECT_EQ(a.client.failure().code, 0);
  EXPECT_EQ(a.client.failure().reason, "timeout");
  EXPECT_EQ(a.client.failure().at_ms, t0 + 8000);
  EXPECT_EQ(a.client.requests(), 1u);
  EXPECT_EQ(a.client.retransmits(), 4u);
  EXPECT_EQ(a.client.next_timer_ms(), INT64_MAX);
}

TEST_F(ClientCoreTest, DatagramSendsAtMostSevenTimes) {
  ClientConfig cfg;
  cfg.rto_ms = 100;
  cfg.transaction_timeout_ms = 60'000;
  auto& a = add(cfg, 40055);
  a.client.start(now.mono_ms);
  run_for(59'000, 100, /*deliver=*/false);
  EXPECT_EQ(a.client.state(), ClientState::Allocating);
  EXPECT_EQ(a.client.retransmits(), 6u);  // RFC 8489 6.2.1: Rc = 7 transmissions
  run_for(2'000, 100, /*deliver=*/false);
  EXPECT_EQ(a.client.failure().reason, "timeout");
}

TEST_F(ClientCoreTest, StreamSendsOnceThenTimesOut) {
  ClientConfig cfg;
  cfg.transport = Transport::Tcp;
  auto& a = add(cfg, 40052);
  a.client.start(now.mono_ms);
  run_for(9000, 100, /*deliver=*/false);
  ASSERT_EQ(a.client.state(), ClientState::Failed);
  EXPECT_EQ(a.client.failure().reason, "timeout");
  EXPECT_EQ(a.client.retransmits(), 0u);
}

TEST_F(ClientCoreTest, ServerThatStopsAnsweringFailsTheRefresh) {
  auto& a = add(ClientConfig{}, 40053);
  auto& b = add(ClientConfig{}, 40054, "bob", "builder");
  pair(a, b);
  run_for(400'000, 1000, /*deliver=*/false);  // past the first refresh at 300 s (half of 600)
  ASSERT_EQ(a.client.state(), ClientState::Failed);
  EXPECT_EQ(a.client.failure().reason, "timeout");
  EXPECT_TRUE(a.client.failure().stage == "permission" || a.client.failure().stage == "refresh");
}

TEST_F(ClientCoreTest, StaleNonceIsRetriedTransparently) {
  auto& a = add(ClientConfig{}, 40061);
  a.client.start(now.mono_ms);
  pump();
  ASSERT_EQ(a.client.state(), ClientState::Allocated);
  now.mono_ms += (kNonceLifetimeS + 10) * 1000;  // the nonce is stale, the allocation still alive
  now.unix_s += kNonceLifetimeS + 10;
  uint64_t before = a.client.requests();
  a.client.add_peer(*Endpoint::parse("203.0.113.5:7000"), now.mono_ms);
  pump();
  EXPECT_EQ(a.client.state(), ClientState::Allocated);
  EXPECT_TRUE(a.client.peer_ready(*Endpoint::parse("203.0.113.5:7000")));
  EXPECT_EQ(std::count(sink.auth_failures.begin(), sink.auth_failures.end(), AuthFailure::StaleNonce), 2);
  EXPECT_EQ(a.client.requests(), before + 4);  // CreatePermission and ChannelBind, each twice
}

TEST_F(ClientCoreTest, RefreshesKeepEverythingAliveFor20Minutes) {
  auto& a = add(ClientConfig{}, 40071);
  auto& b = add(ClientConfig{}, 40072, "bob", "builder");
  pair(a, b);
  uint64_t requests = a.client.requests();
  run_for(20 * 60 * 1000, 1000);
  EXPECT_EQ(a.client.state(), ClientState::Allocated);
  EXPECT_EQ(core->allocation_count(), 2u);
  EXPECT_TRUE(sink.ended.empty());
  // 20 min: Refresh every 300 s (4), CreatePermission every 240 s (5), ChannelBind every 540 s (2),
  // and a retry for each stale nonce.
  EXPECT_GE(a.client.requests() - requests, 11u);
  EXPECT_GT(std::count(sink.auth_failures.begin(), sink.auth_failures.end(), AuthFailure::StaleNonce), 0);
  const Allocation* alloc = core->find(a.ft);
  ASSERT_NE(alloc, nullptr);
  EXPECT_GT(alloc->expires_ms, now.mono_ms + 250'000);
  expect_relayed(a, b, "still here");  // the channel binding is still there
  EXPECT_TRUE(ChannelData::looks_like(b.received.back()));
}

TEST_F(ClientCoreTest, CloseDeletesTheAllocation) {
  auto& a = add(ClientConfig{}, 40081);
  a.client.start(now.mono_ms);
  pump();
  ASSERT_EQ(core->allocation_count(), 1u);
  a.client.close(now.mono_ms);
  EXPECT_EQ(a.client.state(), ClientState::Closing);
  pump();
  EXPECT_EQ(a.client.state(), ClientState::Closed);
  EXPECT_EQ(core->allocation_count(), 0u);
  ASSERT_EQ(sink.ended.size(), 1u);
  EXPECT_EQ(sink.ended[0], EndReason::Deleted);
  EXPECT_EQ(a.client.next_timer_ms(), INT64_MAX);
}

TEST_F(ClientCoreTest, CloseWithoutAnAnswerEndsAfterTheTimeout) {
  auto& a = add(ClientConfig{}, 40082);
  a.client.start(now.mono_ms);
  pump();
  a.client.close(now.mono_ms);
  run_for(9000, 100, /*deliver=*/false);
  EXPECT_EQ(a.client.state(), ClientState::Closed);
}

TEST_F(ClientCoreTest, CloseWhileTheSignedAllocateIsAnsweredDeletesIt) {
  auto& a = add(ClientConfig{}, 40083);
  a.client.start(now.mono_ms);
  std::vector<uint8_t> msg;
  ASSERT_TRUE(a.client.pop_output(msg));
  to_core(a, msg);
  a.client.on_message(sink.client.front().bytes, now.mono_ms);  // the 401
  sink.client.clear();
  ASSERT_TRUE(a.client.pop_output(msg));  // the signed Allocate reaches the server...
  to_core(a, msg);
  sink.client.clear();                     // ...whose answer is lost
  ASSERT_EQ(core->allocation_count(), 1u);
  a.client.close(now.mono_ms);
  EXPECT_EQ(a.client.state(), ClientState::Closing);
  pump();
  EXPECT_EQ(a.client.state(), ClientState::Closed);
  EXPECT_EQ(core->allocation_count(), 0u);
}

TEST_F(ClientCoreTest, ResponsesWithBadIntegrityOrUnknownIdsAreIgnored) {
  auto& a = add(ClientConfig{}, 40091);
  a.client.start(now.mono_ms);
  std::vector<uint8_t> msg;
  ASSERT_TRUE(a.client.pop_output(msg));
  to_core(a, msg);  // the 401 comes back
  ASSERT_EQ(sink.client.size(), 1u);
  a.client.on_message(sink.client.front().bytes, now.mono_ms);
  sink.client.clear();
  ASSERT_TRUE(a.client.pop_output(msg));  // the signed Allocate
  to_core(a, msg);
  ASSERT_EQ(sink.client.size(), 1u);
  std::vector<uint8_t> success = sink.client.front().bytes;
  sink.client.clear();
  Message m;
  ASSERT_EQ(Message::parse(success, m), ParseError::None);
  const auto* mi = m.find(attr::MessageIntegritySha256);
  ASSERT_NE(mi, nullptr);
  std::vector<uint8_t> forged = success;
  forged[mi->offset + 4] ^= 1;
  a.client.on_message(forged, now.mono_ms);
  EXPECT_EQ(a.client.state(), ClientState::Allocating);  // RFC 8489 9.2.5: ignored
  std::vector<uint8_t> other = success;
  other[8] ^= 1;  // another transaction id
  a.client.on_message(other, now.mono_ms);
  EXPECT_EQ(a.client.state(), ClientState::Allocating);
  a.client.on_message(success, now.mono_ms);
  EXPECT_EQ(a.client.state(), ClientState::Allocated);
  EXPECT_EQ(a.client.allocated_at_ms(), now.mono_ms);
}

TEST_F(ClientCoreTest, Ipv6RelayFamily) {
  relays.v6 = true;
  ClientConfig cfg;
  cfg.relay_family = Family::V6;
  auto& a = add(cfg, 40101);
  a.client.start(now.mono_ms);
  pump();
  ASSERT_EQ(a.client.state(), ClientState::Allocated);
  EXPECT_FALSE(a.client.relayed().address.is_v4());
}

TEST_F(ClientCoreTest, PeersAreBoundedAndQueuedUntilAllocated) {
  auto& a = add(ClientConfig{}, 40111);
  for (int i = 0; i < 20; ++i) a.client.add_peer(*Endpoint::parse("203.0.113." + std::to_string(i + 1) + ":9"), now.mono_ms);
  a.client.start(now.mono_ms);
  pump();
  ASSERT_EQ(a.client.state(), ClientState::Allocated);
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(a.client.peer_ready(*Endpoint::parse("203.0.113." + std::to_string(i + 1) + ":9")), i < 16) << i;
  EXPECT_EQ(core->find(a.ft)->channels.size(), 16u);
}

TEST_F(ClientCoreTest, DeniedPeerFailsThePermission) {
  auto& a = add(ClientConfig{}, 40121);
  a.client.start(now.mono_ms);
  pump();
  a.client.add_peer(*Endpoint::parse("203.0.113.200:9"), now.mono_ms);  // the fixture denies 203.0.113.128/25
  pump();
  ASSERT_EQ(a.client.state(), ClientState::Failed);
  EXPECT_EQ(a.client.failure().stage, "permission");
  EXPECT_EQ(a.client.failure().code, 403);
  a.client.close(now.mono_ms);  // a failed client still ends its allocation, and stays Failed
  pump();
  EXPECT_EQ(a.client.state(), ClientState::Failed);
  EXPECT_EQ(core->allocation_count(), 0u);
}

// Writes the seed corpus of loadgen/fuzz/fuzz_turn_client from what the real core answers:
//   TURNPIKE_LOADGEN_CORPUS=loadgen/fuzz/corpus/fuzz_turn_client turnpike_loadgen_tests --gtest_filter='*Corpus*'
// Each file: the mode byte of the target (the state it answers in), then one message from the core.
TEST_F(ClientCoreTest, WriteFuzzCorpus) {
  const char* dir = std::getenv("TURNPIKE_LOADGEN_CORPUS");
  if (!dir) GTEST_SKIP() << "TURNPIKE_LOADGEN_CORPUS not set";
  auto& a = add(ClientConfig{}, 40131);
  auto& b = add(ClientConfig{}, 40132, "bob", "builder");
  pair(a, b);
  expect_relayed(b, a, "channel data");
  auto write = [&](const std::string& name, uint8_t mode, const std::vector<uint8_t>& m) {
    std::ofstream f(std::filesystem::path(dir) / name, std::ios::binary);
    f.put(static_cast<char>(mode));
    f.write(reinterpret_cast<const char*>(m.data()), static_cast<std::streamsize>(m.size()));
  };
  // a.received: 401, Allocate success, CreatePermission and ChannelBind successes, ChannelData.
  ASSERT_GE(a.received.size(), 5u);
  write("core_401.bin", 1, a.received[0]);
  write("core_allocate_success.bin", 2, unsigned_copy(a.received[1]));
  write("core_allocate_success_signed.bin", 2, a.received[1]);
  write("core_permission_success.bin", 3 | 0x10, unsigned_copy(a.received[2]));
  write("core_channel_bind_success.bin", 3, unsigned_copy(a.received[3]));
  write("core_channel_data.bin", 3 | 0x40, a.received.back());
  // A Data indication (no channel) and a 438 from the core.
  nodes.clear();
  ClientConfig send;
  send.use_channels = false;
  auto& c = add(send, 40133);
  auto& d = add(send, 40134, "bob", "builder");
  pair(c, d);
  expect_relayed(d, c, "data indication");
  write("core_data_indication.bin", 3 | 8 | 0x40, c.received.back());
  now.mono_ms += (kNonceLifetimeS + 10) * 1000;
  now.unix_s += kNonceLifetimeS + 10;
  c.client.add_peer(*Endpoint::parse("203.0.113.5:7000"), now.mono_ms);
  pump();
  auto stale = std::find_if(c.received.begin(), c.received.end(), [](const std::vector<uint8_t>& r) {
    Message m;
    const RawAttribute* e = nullptr;
    return Message::parse(r, m) == ParseError::None && (e = m.find(attr::ErrorCode)) && ErrorCode::decode(e->value)->code == 438;
  });
  ASSERT_NE(stale, c.received.end());
  write("core_438.bin", 3 | 8, *stale);
}

}  // namespace
