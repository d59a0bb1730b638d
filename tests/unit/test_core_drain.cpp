// Drain in the TURN core (Core::set_drain, docs/configuration.md drain.*): new Allocates get 300
// ALTERNATE-SERVER to the first alternate that fits the client's transport and family, or 403;
// existing allocations go on; what is left at the end of the grace ends as drain_timeout.
#include "core_fixture.hpp"

using namespace turn;
using namespace turn::stun;

namespace {

class DrainCoreTest : public CoreTest {
 protected:
  static std::vector<TurnUri> uris(std::initializer_list<const char*> l) {
    std::vector<TurnUri> v;
    for (const char* u : l) v.push_back(*TurnUri::parse(u));
    return v;
  }
  FiveTuple from(uint16_t port, Transport t = Transport::Udp) {
    auto ft = client(port);
    ft.transport = t;
    return ft;
  }
  static std::optional<Endpoint> alternate(const Response& r) {
    auto* a = r.msg.find(attr::AlternateServer);
    if (!a) return std::nullopt;
    auto p = PlainAddress::decode(a->value);
    return p ? std::optional(p->endpoint) : std::nullopt;
  }
};

}  // namespace

TEST_F(DrainCoreTest, NewAllocatesAreSentToTheAlternateWhileExistingOnesGoOn) {
  auto old = from(41000);
  ASSERT_EQ(allocate(old).code, 200);
  ASSERT_EQ(create_permission(old, "198.51.100.7:5000").code, 200);
  core->set_drain(uris({"turn:[2001:db8::9]:3478", "turn:198.51.100.9:3478?transport=tcp", "turn:198.51.100.8:3478"}));
  EXPECT_TRUE(core->draining());
  auto r = allocate(from(41001));
  EXPECT_EQ(r.code, 300);
  ASSERT_TRUE(alternate(r));
  EXPECT_EQ(alternate(r)->to_string(), "198.51.100.8:3478");  // the first of the client's family and transport
  EXPECT_FALSE(r.text(attr::Nonce).empty());                  // as a residency redirect: realm and nonce
  r = allocate(from(41002, Transport::Tcp));
  EXPECT_EQ(alternate(r)->to_string(), "198.51.100.9:3478");  // the one that names tcp
  EXPECT_EQ(core->allocation_count(), 1u);
  // The allocation made before the drain refreshes, permits and relays as before.
  EXPECT_EQ(request(Method::Refresh, old, [](Builder& b) { b.add_u32(attr::Lifetime, 600); }).code, 200);
  EXPECT_EQ(create_permission(old, "198.51.100.7:5001").code, 200);
  EXPECT_EQ(channel_bind(old, 0x4001, "198.51.100.7:5002").code, 200);
  EXPECT_EQ(core->allocation_count(), 1u);
}

TEST_F(DrainCoreTest, NoFittingAlternateIsA403AndNothingIsReserved) {
  core->set_drain(uris({"turns:198.51.100.8:5349?transport=tcp"}));
  EXPECT_EQ(allocate(from(41010)).code, 403);  // UDP client, only a TLS alternate
  core->set_drain(std::vector<TurnUri>{});
  EXPECT_EQ(allocate(from(41011)).code, 403);
  EXPECT_TRUE(relays.open_handles.empty());
  EXPECT_EQ(quotas->total(), 0u);
  core->set_drain(std::nullopt);  // serving again
  EXPECT_EQ(allocate(from(41012)).code, 200);
}

TEST_F(DrainCoreTest, WhatIsLeftAtTheEndOfTheGraceEndsAsDrainTimeout) {
  ASSERT_EQ(allocate(from(41020)).code, 200);
  ASSERT_EQ(allocate(from(41021)).code, 200);
  core->set_drain(std::vector<TurnUri>{});
  core->shutdown(now, EndReason::DrainTimeout);
  ASSERT_EQ(sink.ended.size(), 2u);
  for (auto r : sink.ended) EXPECT_STREQ(to_string(r), "drain_timeout");
  EXPECT_EQ(core->allocation_count(), 0u);
  EXPECT_TRUE(relays.open_handles.empty());
}
