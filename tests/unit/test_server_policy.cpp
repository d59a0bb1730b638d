// The policy server/main.cpp wires into the SFU and the admin server: ICE servers and TURN REST
// credentials for browsers, STUN endpoints, SFU admission by residency, path classification, and
// the per-allocation metrics cut.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "server/config.hpp"
#include "server/ice_servers.hpp"
#include "server/metrics.hpp"
#include "server/relay_directory.hpp"
#include "server/sfu_policy.hpp"
#include "turn/auth.hpp"

using namespace turnpike;
using turn::Endpoint;
using turn::IpAddress;

namespace {

Endpoint ep(const char* text) { return *Endpoint::parse(text); }
IpAddress ip(const char* text) { return *IpAddress::parse(text); }

Config listeners() {
  Config c;
  c.listen = {{turn::Transport::Udp, ep("203.0.113.1:3478")},
              {turn::Transport::Tcp, ep("203.0.113.1:3478")},
              {turn::Transport::Tls, ep("[2001:db8::1]:5349")},
              {turn::Transport::Dtls, ep("203.0.113.1:5349")}};
  c.auth.rest_secrets = {"northwind", "older"};
  c.sfu.ice_credential_ttl_s = 600;
  return c;
}

}  // namespace

TEST(IceServers, DerivedFromListenersWithRestCredentials) {
  auto j = nlohmann::json::parse(ice_servers_json(listeners(), "ward:7", 1'000'000));
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["urls"], nlohmann::json({"stun:203.0.113.1:3478"}));
  EXPECT_FALSE(j[0].contains("username"));
  // DTLS is left out: browsers do not speak TURN over DTLS.
  EXPECT_EQ(j[1]["urls"], nlohmann::json({"turn:203.0.113.1:3478?transport=udp", "turn:203.0.113.1:3478?transport=tcp",
                                          "turns:[2001:db8::1]:5349?transport=tcp"}));
  // Expiry from the TTL; a ':' in the identity would read as a region pin.
  EXPECT_EQ(j[1]["username"], "1000600:ward_7");
  EXPECT_EQ(j[1]["credential"], turn::rest_password("northwind", "1000600:ward_7"));
}

TEST(IceServers, NoTurnWithoutRestSecrets) {
  auto c = listeners();
  c.auth.rest_secrets.clear();
  auto j = nlohmann::json::parse(ice_servers_json(c, "a", 0));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["urls"][0], "stun:203.0.113.1:3478");
}

TEST(IceServers, UnspecifiedListenerTakesTheAnnouncedAddressOfItsFamily) {
  Config c;
  c.listen = {{turn::Transport::Udp, ep("0.0.0.0:3478")}, {turn::Transport::Udp, ep("[::]:3478")}};
  c.sfu.media_announce = {ip("198.51.100.7")};
  auto urls = ice_urls(c);
  EXPECT_EQ(urls.stun, std::vector<std::string>{"stun:198.51.100.7:3478"});  // no IPv6 announced: skipped
  EXPECT_EQ(urls.turn, std::vector<std::string>{"turn:198.51.100.7:3478?transport=udp"});
}

TEST(IceServers, Rfc5780AlternatePortIsAlsoAStunServer) {
  Config c;
  c.listen = {{turn::Transport::Udp, ep("203.0.113.1:3478")}};
  c.core.nat_discovery = turn::NatDiscoveryConfig{ep("203.0.113.1:3478"), ep("203.0.113.2:3479")};
  EXPECT_EQ(ice_urls(c).stun, (std::vector<std::string>{"stun:203.0.113.1:3478", "stun:203.0.113.1:3479"}));
}

TEST(IceServers, ConfiguredUrlsSplitByScheme) {
  auto c = listeners();
  c.sfu.turn_urls = {"stun:192.0.2.9", "turn:turn.example.test:3478", "stun:[2001:db8::9]:3479?x=y",
                     "stun:stun.example.test"};
  auto urls = ice_urls(c);
  EXPECT_EQ(urls.turn, std::vector<std::string>{"turn:turn.example.test:3478"});
  ASSERT_EQ(urls.stun.size(), 3u);
  // Only literal addresses are STUN endpoints; a URL without a port means 3478 (RFC 7064).
  auto stun = stun_endpoints(c);
  ASSERT_EQ(stun.size(), 2u);
  EXPECT_EQ(stun[0], ep("192.0.2.9:3478"));
  EXPECT_EQ(stun[1], ep("[2001:db8::9]:3479"));
}

TEST(IceServers, UrlHostPortBracketsIpv6) {
  EXPECT_EQ(url_host_port(ep("192.0.2.1:80")), "192.0.2.1:80");
  EXPECT_EQ(url_host_port(ep("[2001:db8::1]:443")), "[2001:db8::1]:443");
}

namespace {

turn::RegionPolicy regions(turn::ResidencyConfig::Foreign foreign) {
  turn::ResidencyConfig r;
  r.regions.push_back({"eu-west", {*turn::Cidr::parse("198.51.100.0/26")}, {}, "wss://198.51.100.10:8443/signal"});
  r.regions.push_back({"eu-central", {*turn::Cidr::parse("198.51.100.64/26")}, {}, ""});
  r.regions.push_back({"us-east", {*turn::Cidr::parse("203.0.113.0/24")}, {}, ""});
  r.own = "us-east";
  r.client_regions = {"us-east"};
  r.peer_regions = {"us-east"};
  r.foreign_clients = foreign;
  return turn::RegionPolicy(r);
}

using Verdict = sfu::EngineConfig::Admission::Verdict;

}  // namespace

TEST(SfuAdmission, ServesAllWithoutResidency) {
  RelayDirectory relays;
  auto a = sfu_admission(nullptr, relays, ep("198.51.100.1:5000"));
  EXPECT_EQ(a.verdict, Verdict::Serve);
  EXPECT_TRUE(a.region.empty());
  auto off = turn::RegionPolicy(turn::ResidencyConfig{});
  EXPECT_EQ(sfu_admission(&off, relays, ep("198.51.100.1:5000")).verdict, Verdict::Serve);
}

TEST(SfuAdmission, JudgedByAddress) {
  RelayDirectory relays;
  auto p = regions(turn::ResidencyConfig::Foreign::Redirect);
  auto own = sfu_admission(&p, relays, ep("203.0.113.50:5000"));
  EXPECT_EQ(own.verdict, Verdict::Serve);
  EXPECT_EQ(own.region, "us-east");
  // Foreign with a signal_url: sent there, even though the region has no TURN URL to redirect to.
  auto west = sfu_admission(&p, relays, ep("198.51.100.1:5000"));
  EXPECT_EQ(west.verdict, Verdict::Redirect);
  EXPECT_EQ(west.region, "eu-west");
  EXPECT_EQ(west.signal_url, "wss://198.51.100.10:8443/signal");
  // Foreign without one: refused.
  EXPECT_EQ(sfu_admission(&p, relays, ep("198.51.100.70:5000")).verdict, Verdict::Refuse);
  // An address in no region: refused (unknown_addresses defaults to refuse).
  auto nowhere = sfu_admission(&p, relays, ep("192.0.2.1:5000"));
  EXPECT_EQ(nowhere.verdict, Verdict::Refuse);
  EXPECT_TRUE(nowhere.region.empty());
}

TEST(SfuAdmission, ForeignClientsPolicy) {
  RelayDirectory relays;
  auto refuse = regions(turn::ResidencyConfig::Foreign::Refuse);
  EXPECT_EQ(sfu_admission(&refuse, relays, ep("198.51.100.1:5000")).verdict, Verdict::Refuse);
  auto serve = regions(turn::ResidencyConfig::Foreign::Serve);
  EXPECT_EQ(sfu_admission(&serve, relays, ep("198.51.100.1:5000")).verdict, Verdict::Drift);
}

TEST(SfuAdmission, OwnRelayKeepsTurnsVerdict) {
  RelayDirectory relays;
  relays.set_relay_addresses({ip("203.0.113.1")});
  relays.add(ep("203.0.113.1:50000"), {turn::Transport::Tcp, "eu-west", true});
  relays.add(ep("203.0.113.1:50002"), {turn::Transport::Udp, "us-east", false});
  auto p = regions(turn::ResidencyConfig::Foreign::Redirect);
  auto drift = sfu_admission(&p, relays, ep("203.0.113.1:50000"));
  EXPECT_TRUE(drift.via_own_relay);
  EXPECT_EQ(drift.verdict, Verdict::Drift);
  EXPECT_EQ(drift.region, "eu-west");
  auto serve = sfu_admission(&p, relays, ep("203.0.113.1:50002"));
  EXPECT_TRUE(serve.via_own_relay);
  EXPECT_EQ(serve.verdict, Verdict::Serve);
  // A relay address but no live allocation on that port: judged by address like anyone.
  auto gone = sfu_admission(&p, relays, ep("203.0.113.1:50004"));
  EXPECT_FALSE(gone.via_own_relay);
  EXPECT_EQ(gone.verdict, Verdict::Serve);
  EXPECT_EQ(gone.region, "us-east");
}

TEST(ClassifyPath, ByTheClientsTransport) {
  RelayDirectory relays;
  relays.set_relay_addresses({ip("203.0.113.1")});
  relays.add(ep("203.0.113.1:50000"), {turn::Transport::Udp, "", false});
  relays.add(ep("203.0.113.1:50002"), {turn::Transport::Tcp, "", false});
  relays.add(ep("203.0.113.1:50004"), {turn::Transport::Tls, "", false});
  relays.add(ep("203.0.113.1:50006"), {turn::Transport::Dtls, "", false});
  EXPECT_EQ(classify_path(relays, ep("203.0.113.1:50000")), sfu::Path::RelayUdp);
  EXPECT_EQ(classify_path(relays, ep("203.0.113.1:50002")), sfu::Path::RelayTcp);
  EXPECT_EQ(classify_path(relays, ep("203.0.113.1:50004")), sfu::Path::RelayTls);
  EXPECT_EQ(classify_path(relays, ep("203.0.113.1:50006")), sfu::Path::RelayDtls);
  EXPECT_EQ(classify_path(relays, ep("203.0.113.1:50008")), sfu::Path::Direct);  // no such allocation
  EXPECT_EQ(classify_path(relays, ep("192.0.2.1:50000")), sfu::Path::Direct);
  relays.remove(ep("203.0.113.1:50000"));
  EXPECT_EQ(classify_path(relays, ep("203.0.113.1:50000")), sfu::Path::Direct);
}

TEST(KeepBusiest, KeepsTheMostBytesRelayedTiesById) {
  std::vector<turn::Allocation> v(5);
  uint64_t bytes[] = {10, 500, 10, 0, 300};
  for (size_t i = 0; i < v.size(); ++i) {
    v[i].id = 10 - i;
    v[i].stats.bytes_to_peer = bytes[i];
    v[i].stats.bytes_to_client = i == 4 ? 250 : 0;  // 550 in all: the busiest
  }
  EXPECT_EQ(keep_busiest(v, 3), 2u);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].id, 6u);
  EXPECT_EQ(v[1].id, 9u);
  EXPECT_EQ(v[2].id, 8u);  // 10 bytes each: the lower id first
  std::vector<turn::Allocation> few(2);
  EXPECT_EQ(keep_busiest(few, 500), 0u);
  EXPECT_EQ(few.size(), 2u);
  EXPECT_EQ(keep_busiest(few, 0), 2u);
  EXPECT_TRUE(few.empty());
}
