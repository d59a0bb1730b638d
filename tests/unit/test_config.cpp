// Configuration validation: every bad input names its key, and good files load.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "server/config.hpp"
#include "server/connection_policy.hpp"

using namespace turnpike;

namespace {
const std::string kGood = R"(
region: local
listen:
  - { transport: udp, address: 127.0.0.1, port: 3478 }
relay:
  addresses: [127.0.0.1]
  port_range: [49152, 65535]
auth:
  realm: turnpike.test
  users: { alice: wonderland }
  rest_secrets: [ northwind ]
peers:
  allow: [ 127.0.0.0/8 ]
  deny: []
admin:
  listen: 127.0.0.1:9641
threads: 2
log: { level: info, format: json }
)";

std::string bad_key(const std::string& yaml) {
  try {
    load_config_text(yaml);
  } catch (const ConfigError& e) {
    return e.key;
  }
  return "(accepted)";
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos == std::string::npos) return s;
  return s.replace(pos, from.size(), to);
}
}  // namespace

TEST(Config, TheIssueExampleLoads) {
  auto c = load_config_text(kGood);
  EXPECT_EQ(c.region, "local");
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0].endpoint.to_string(), "127.0.0.1:3478");
  EXPECT_EQ(c.relay_port_min, 49152);
  EXPECT_EQ(c.auth.users.at("alice"), "wonderland");
  EXPECT_EQ(c.auth.rest_secrets.at(0), "northwind");
  EXPECT_EQ(c.threads, 2u);
  EXPECT_EQ(c.admin_listen.port, 9641);
}

// A throwaway self-signed pair, made by the openssl CLI (never committed).
std::pair<std::string, std::string> make_cert(const std::string& tag) {
  std::string dir = ::testing::TempDir() + "turnpike-cert-" + tag;
  std::filesystem::create_directories(dir);
  std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=" + tag +
                    " -keyout " + dir + "/key.pem -out " + dir + "/cert.pem >/dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  return {dir + "/cert.pem", dir + "/key.pem"};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Config, EveryCommittedExampleLoads) {
  auto [cert, key] = make_cert("examples");
  for (const char* f : {"/conf/turnpike.yaml", "/conf/local.yaml"}) {
    std::string text = read_file(std::string(TURNPIKE_SOURCE_DIR) + f);
    if (auto p = text.find("/etc/turnpike/tls.crt"); p != std::string::npos) text.replace(p, 21, cert);
    if (auto p = text.find("/etc/turnpike/tls.key"); p != std::string::npos) text.replace(p, 21, key);
    EXPECT_NO_THROW(load_config_text(text)) << f;
  }
}

TEST(Config, TlsNeedsAMatchingCertificateAndKey) {
  auto [cert, key] = make_cert("a");
  auto [cert_b, key_b] = make_cert("b");
  std::string with_tls = replace(kGood, "threads: 2", "threads: 2\ntls: { cert: " + cert + ", key: " + key + " }");
  with_tls = replace(with_tls, "  - { transport: udp, address: 127.0.0.1, port: 3478 }",
                     "  - { transport: udp, address: 127.0.0.1, port: 3478 }\n  - { transport: tls, address: 127.0.0.1, port: 5349 }"
                     "\n  - { transport: dtls, address: 127.0.0.1, port: 5349 }\n  - { transport: tcp, address: 127.0.0.1, port: 3478 }");
  EXPECT_EQ(bad_key(with_tls), "(accepted)");
  EXPECT_EQ(bad_key(replace(with_tls, "key: " + key, "key: " + key_b)), "tls.key");
  EXPECT_EQ(bad_key(replace(with_tls, "cert: " + cert, "cert: /nonexistent.pem")), "tls.cert");
  EXPECT_EQ(bad_key(replace(with_tls, "\ntls: { cert: " + cert + ", key: " + key + " }", "")), "tls");
  // tcp and tls on one port need the same socket.
  EXPECT_EQ(bad_key(replace(with_tls, "transport: tcp, address: 127.0.0.1, port: 3478", "transport: tcp, address: 127.0.0.1, port: 5349")),
            "listen[3]");
}

TEST(Config, ExternalAddressesPairWithRelayAddresses) {
  EXPECT_EQ(bad_key(replace(kGood, "  port_range: [49152, 65535]", "  port_range: [49152, 65535]\n  external_addresses: [203.0.113.5]")),
            "(accepted)");
  EXPECT_EQ(bad_key(replace(kGood, "  port_range: [49152, 65535]", "  port_range: [49152, 65535]\n  external_addresses: [\"2001:db8::1\"]")),
            "relay.external_addresses[0]");
  EXPECT_EQ(bad_key(replace(kGood, "  port_range: [49152, 65535]", "  port_range: [49152, 65535]\n  external_addresses: [203.0.113.5, 203.0.113.6]")),
            "relay.external_addresses");
}

TEST(Config, EmbeddedDefaultIsSafe) {
  auto c = embedded_default_config();
  EXPECT_TRUE(c.peers_allow.empty());
  EXPECT_EQ(c.listen.at(0).endpoint.to_string(), "127.0.0.1:3478");
  EXPECT_EQ(c.auth.users.count("demo"), 1u);
  EXPECT_GE(c.auth.users.at("demo").size(), 12u);
  // The quick start's SFU: loopback only, a fresh random join-token key each start.
  EXPECT_TRUE(c.sfu.enabled);
  EXPECT_EQ(c.sfu.signal_listen.to_string(), "127.0.0.1:9642");
  EXPECT_EQ(c.sfu.media_listen.to_string(), "127.0.0.1:9643");
  ASSERT_EQ(c.sfu.token_keys.size(), 1u);
  EXPECT_GE(c.sfu.token_keys[0].size(), 32u);
  EXPECT_NE(c.sfu.token_keys[0], embedded_default_config().sfu.token_keys[0]);
}

TEST(Config, BadInputNamesTheKey) {
  EXPECT_EQ(bad_key(kGood + "colour: blue\n"), "colour");
  EXPECT_EQ(bad_key(replace(kGood, "realm: turnpike.test", "realm: turnpike.test\n  relam: x")), "auth.relam");
  EXPECT_EQ(bad_key(replace(kGood, "address: 127.0.0.1, port", "address: 127.0.0.300, port")), "listen[0].address");
  EXPECT_EQ(bad_key(replace(kGood, "port: 3478", "port: 70000")), "listen[0].port");
  EXPECT_EQ(bad_key(replace(kGood, "transport: udp", "transport: sctp")), "listen[0].transport");
  EXPECT_EQ(bad_key(replace(kGood, "[49152, 65535]", "[65535, 49152]")), "relay.port_range");
  EXPECT_EQ(bad_key(replace(kGood, "[49152, 65535]", "[49152]")), "relay.port_range");
  EXPECT_EQ(bad_key(replace(kGood, "addresses: [127.0.0.1]", "addresses: [0.0.0.0]")), "relay.addresses[0]");
  EXPECT_EQ(bad_key(replace(kGood, "addresses: [127.0.0.1]", "addresses: []")), "relay.addresses");
  EXPECT_EQ(bad_key(replace(kGood, "allow: [ 127.0.0.0/8 ]", "allow: [ 127.0.0.0/40 ]")), "peers.allow[0]");
  EXPECT_EQ(bad_key(replace(kGood, "deny: []", "deny: [ 127.0.0.0/16 ]")), "peers.deny[0]");
  EXPECT_EQ(bad_key(replace(kGood, "listen: 127.0.0.1:9641", "listen: localhost")), "admin.listen");
  EXPECT_EQ(bad_key(replace(kGood, "threads: 2", "threads: 0")), "threads");
  EXPECT_EQ(bad_key(replace(kGood, "threads: 2", "threads: -1")), "threads");
  EXPECT_EQ(bad_key(replace(kGood, "level: info", "level: loud")), "log.level");
  EXPECT_EQ(bad_key(replace(kGood, "port: 3478", "port: 50000")), "listen[0].port");  // inside relay range
  EXPECT_EQ(bad_key(replace(kGood, "users: { alice: wonderland }\n  rest_secrets: [ northwind ]", "users: {}")), "auth");
  EXPECT_EQ(bad_key("listen: [ {address: 127.0.0.1\n"), "(yaml)");
  EXPECT_EQ(bad_key("- a\n- b\n"), "(top level)");
}

TEST(SfuConfig, SimulcastIsOnUnlessTurnedOff) {
  const std::string sfu = kGood + "sfu: { signal_listen: 127.0.0.1:9642, media_listen: 127.0.0.1:9643, token_keys: [k0123456789abcdef0123456789abcdef] }\n";
  EXPECT_TRUE(load_config_text(sfu).sfu.simulcast);
  EXPECT_FALSE(load_config_text(replace(sfu, "token_keys", "simulcast: false, token_keys")).sfu.simulcast);
  EXPECT_EQ(bad_key(replace(sfu, "token_keys", "simulcast: sometimes, token_keys")), "sfu.simulcast");
}

TEST(MetricsConfig, TagLabelsAreUpToFourDistinctLabelNames) {
  EXPECT_EQ(load_config_text(kGood).metrics_tag_labels, std::vector<std::string>{"site"});
  auto with = [](const std::string& list) { return kGood + "metrics: { tag_labels: " + list + " }\n"; };
  EXPECT_EQ(load_config_text(with("[site, device, ward_2]")).metrics_tag_labels,
            (std::vector<std::string>{"site", "device", "ward_2"}));
  EXPECT_TRUE(load_config_text(with("[]")).metrics_tag_labels.empty());
  EXPECT_EQ(bad_key(with("site")), "metrics.tag_labels");
  EXPECT_EQ(bad_key(with("[a, b, c, d, e]")), "metrics.tag_labels");
  EXPECT_EQ(bad_key(with("[site, site]")), "metrics.tag_labels[1]");
  EXPECT_EQ(bad_key(with("[site, 'dev-ice']")), "metrics.tag_labels[1]");  // a tag key, not a label name
  EXPECT_EQ(bad_key(with("['']")), "metrics.tag_labels[0]");
  EXPECT_EQ(bad_key(with("[2nd]")), "metrics.tag_labels[0]");
  EXPECT_EQ(bad_key(with("[__name]")), "metrics.tag_labels[0]");
  EXPECT_EQ(bad_key(with("[direction]")), "metrics.tag_labels[0]");  // the quality metrics' own
  EXPECT_EQ(bad_key(with("[le]")), "metrics.tag_labels[0]");
  EXPECT_EQ(bad_key(with("[[site]]")), "metrics.tag_labels[0]");
  EXPECT_EQ(bad_key(with("[" + std::string(65, 'k') + "]")), "metrics.tag_labels[0]");
  try {
    load_config_text(with("[site, site]"));
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("listed twice"), std::string::npos) << e.what();
  }
}

namespace {
const std::string kNat = R"(
listen:
  - { transport: udp, address: 203.0.113.1, port: 3478 }
relay: { addresses: [203.0.113.1] }
auth: { users: { alice: wonderland } }
)";
}  // namespace

TEST(NatDiscoveryConfig, DerivesTheFourAddressesAndValidates) {
  auto c = load_config_text(kNat + "nat_discovery: { enabled: true, alternate: \"203.0.113.2:3479\" }\n");
  ASSERT_TRUE(c.core.nat_discovery);
  EXPECT_EQ(c.core.nat_discovery->primary.to_string(), "203.0.113.1:3478");
  EXPECT_EQ(c.core.nat_discovery->alternate.to_string(), "203.0.113.2:3479");
  ASSERT_EQ(c.nat_discovery.listeners.size(), 3u);
  EXPECT_EQ(c.nat_discovery.listeners[0].to_string(), "203.0.113.1:3479");
  EXPECT_EQ(c.nat_discovery.listeners[1].to_string(), "203.0.113.2:3478");
  EXPECT_EQ(c.all_listeners().size(), 4u);
  // Off by default, and off when disabled.
  EXPECT_FALSE(load_config_text(kNat).core.nat_discovery);
  EXPECT_FALSE(load_config_text(kNat + "nat_discovery: { enabled: false }\n").core.nat_discovery);
  EXPECT_EQ(bad_key(kNat + "nat_discovery: { enabled: true }\n"), "nat_discovery.alternate");
  EXPECT_EQ(bad_key(kNat + "nat_discovery: { enabled: true, alternate: \"203.0.113.1:3479\" }\n"), "nat_discovery.alternate");
  EXPECT_EQ(bad_key(kNat + "nat_discovery: { enabled: true, alternate: \"203.0.113.2:3478\" }\n"), "nat_discovery.alternate");
  EXPECT_EQ(bad_key(kNat + "nat_discovery: { enabled: true, alternate: \"[2001:db8::2]:3479\" }\n"), "nat_discovery.alternate");
  EXPECT_EQ(bad_key(kNat + "nat_discovery: { enabled: true, alternate: \"203.0.113.2:3480\" }\n"), "(accepted)");
  // (primary IP, alternate port) would lie inside relay.port_range on the relay address.
  EXPECT_EQ(bad_key(kNat + "nat_discovery: { enabled: true, alternate: \"203.0.113.2:50000\" }\n"), "nat_discovery.alternate");
  EXPECT_EQ(bad_key(kNat + "nat_discovery: { enabled: yes-please, alternate: \"203.0.113.2:3479\" }\n"), "nat_discovery.enabled");
  EXPECT_EQ(bad_key(kNat + "nat_discovery: { enabled: true, alternate: \"203.0.113.2:3479\", colour: red }\n"), "nat_discovery.colour");
  EXPECT_EQ(bad_key(kNat + "nat_discovery: { enabled: true, alternate: \"203.0.113.2:3479\", per_second: 0 }\n"), "nat_discovery.per_second");
  std::string wildcard = R"(
listen: [ { transport: udp, address: 0.0.0.0, port: 3478 } ]
relay: { addresses: [203.0.113.1] }
auth: { users: { alice: wonderland } }
nat_discovery: { enabled: true, alternate: "203.0.113.2:3479" }
)";
  EXPECT_EQ(bad_key(wildcard), "nat_discovery");
}

TEST(SitesConfig, NamesMapToCidrs) {
  auto c = load_config_text(kNat + "sites: { hq: [198.51.100.0/28, 192.0.2.0/24], branch-2: [203.0.113.64/26] }\n");
  ASSERT_EQ(c.sites.size(), 2u);
  EXPECT_EQ(bad_key(kNat + "sites: [198.51.100.0/28]\n"), "sites");
  EXPECT_EQ(bad_key(kNat + "sites: { hq: [nonsense] }\n"), "sites.hq[0]");
  EXPECT_EQ(bad_key(kNat + "sites: { hq: [] }\n"), "sites.hq");
  EXPECT_EQ(bad_key(kNat + "sites: { \"h q\": [198.51.100.0/28] }\n"), "sites.h q");
}

namespace {
const std::string kRegions = R"(
region: eu-west
listen: [ { transport: udp, address: 198.51.100.10, port: 3478 } ]
relay: { addresses: [198.51.100.10] }
auth: { users: { alice: wonderland } }
regions:
  eu-west:    { networks: [198.51.100.0/26], turn_urls: ["turn:198.51.100.10:3478"], signal_url: "wss://198.51.100.10:8443/signal" }
  eu-central: { networks: [198.51.100.64/26], turn_urls: ["turn:198.51.100.74:3478"] }
  us-east:    { networks: [203.0.113.0/24], turn_urls: ["turns:example.test:443", "turn:203.0.113.10:3478?transport=udp"] }
)";
}  // namespace

TEST(AuthConfig, NonceSecretIsSharedKeyOfAtLeast16Characters) {
  EXPECT_EQ(load_config_text(replace(kRegions, "auth: { users: { alice: wonderland } }",
                                     "auth: { users: { alice: wonderland }, nonce_secret: one-key-for-every-node }")).auth.nonce_secret,
            "one-key-for-every-node");
  EXPECT_EQ(bad_key(replace(kRegions, "auth: { users: { alice: wonderland } }", "auth: { users: { alice: wonderland }, nonce_secret: short }")),
            "auth.nonce_secret");
}

TEST(ResidencyConfig, CatalogAndPolicyLoadAndValidate) {
  auto c = load_config_text(kRegions + "residency: { peer_regions: [eu-west, eu-central], client_regions: [eu-west], foreign_clients: redirect }\n");
  ASSERT_TRUE(c.core.regions);
  EXPECT_TRUE(c.core.regions->enabled());
  const auto* us = c.core.regions->find("us-east");
  ASSERT_EQ(us->turn_urls.size(), 2u);
  EXPECT_EQ(us->alternate_for(turn::Transport::Udp, turn::Family::V4)->to_string(), "203.0.113.10:3478");
  EXPECT_FALSE(us->alternate_for(turn::Transport::Tls, turn::Family::V4));  // turns: by name only
  EXPECT_FALSE(us->alternate_for(turn::Transport::Tcp, turn::Family::V4));  // ?transport=udp
  EXPECT_TRUE(c.core.regions->peer_allowed(*turn::IpAddress::parse("198.51.100.70")));
  EXPECT_FALSE(c.core.regions->peer_allowed(*turn::IpAddress::parse("203.0.113.5")));
  // A catalog alone: the node serves and relays within its own region.
  auto d = load_config_text(kRegions);
  EXPECT_FALSE(d.core.regions->peer_allowed(*turn::IpAddress::parse("198.51.100.70")));
  // No catalog: off.
  EXPECT_FALSE(load_config_text(kNat).core.regions);
  EXPECT_EQ(bad_key(kRegions + "residency: { peer_regions: [mars] }\n"), "residency.peer_regions");
  // Every TURN URL is checked in full (RFC 7065), naming the entry.
  for (const char* url : {"turn:203.0.113.10:99999", "turn://203.0.113.10", "stun:203.0.113.10", "turn:203.0.113.10?transport=sctp",
                          "turn:2001:db8::1:3478", "turn:203.0.113.300", "turn:", "turns:[2001:db8::1"})
    EXPECT_EQ(bad_key(replace(kRegions, "\"turns:example.test:443\"", std::string("\"") + url + "\"")), "regions.us-east.turn_urls[0]") << url;
  EXPECT_EQ(bad_key(kRegions + "residency: { foreign_clients: shrug }\n"), "residency.foreign_clients");
  EXPECT_EQ(bad_key(kRegions + "residency: { unknown_addresses: maybe }\n"), "residency.unknown_addresses");
  EXPECT_EQ(bad_key(kNat + "residency: { client_regions: [eu-west] }\n"), "residency");
  EXPECT_EQ(bad_key(replace(kRegions, "region: eu-west", "region: mars")), "region");
  EXPECT_EQ(bad_key(replace(kRegions, "networks: [198.51.100.64/26]", "networks: [198.51.100.32/27]")), "regions.eu-central.networks");
  EXPECT_EQ(bad_key(replace(kRegions, "relay: { addresses: [198.51.100.10] }", "relay: { addresses: [198.51.100.70] }")), "relay.addresses");
}

// Issue 14 item 9: TCP/TLS/DTLS admission (server/connection_policy.hpp).
namespace {
turn::IpAddress ip(const char* s) { return *turn::IpAddress::parse(s); }
}  // namespace

TEST(ConnectionPolicy, CountsPerPrefixNotPerAddress) {
  ConnectionPolicy p({/*max_total=*/100, /*max_per_prefix=*/2, /*prefix_v4=*/24, /*prefix_v6=*/64, 60'000});
  using V = ConnectionPolicy::Verdict;
  EXPECT_EQ(p.acquire(ip("2001:db8:1:2::1")), V::Admit);
  EXPECT_EQ(p.acquire(ip("2001:db8:1:2:ffff::9")), V::Admit);
  EXPECT_EQ(p.acquire(ip("2001:db8:1:2:abcd::1")), V::OverPrefix);  // same /64, another address
  EXPECT_EQ(p.acquire(ip("2001:db8:1:3::1")), V::Admit);            // the next /64
  EXPECT_EQ(p.acquire(ip("192.0.2.1")), V::Admit);
  EXPECT_EQ(p.acquire(ip("::ffff:192.0.2.200")), V::Admit);         // IPv4-mapped: the same /24
  EXPECT_EQ(p.acquire(ip("192.0.2.77")), V::OverPrefix);
  EXPECT_EQ(p.acquire(ip("192.0.3.1")), V::Admit);
  EXPECT_EQ(p.total(), 6u);
  p.release(ip("192.0.2.1"));
  EXPECT_EQ(p.acquire(ip("192.0.2.5")), V::Admit);
  p.release(ip("198.51.100.1"));  // never admitted: nothing changes
  EXPECT_EQ(p.total(), 6u);
  EXPECT_EQ(p.network(ip("2001:db8:1:2:abcd::1")).to_string(), "2001:db8:1:2::");
  EXPECT_EQ(network_of(ip("198.51.100.130"), 25).to_string(), "198.51.100.128");
}

TEST(ConnectionPolicy, GlobalCapAndTableBound) {
  ConnectionPolicy p({/*max_total=*/3, /*max_per_prefix=*/10, 32, 64, 60'000});
  using V = ConnectionPolicy::Verdict;
  EXPECT_EQ(p.acquire(ip("192.0.2.1")), V::Admit);
  EXPECT_EQ(p.acquire(ip("192.0.2.2")), V::Admit);
  EXPECT_EQ(p.acquire(ip("192.0.2.3")), V::Admit);
  EXPECT_EQ(p.acquire(ip("192.0.2.4")), V::OverTotal);
  EXPECT_EQ(p.networks(), 3u);  // one entry per network with a live connection
  for (const char* a : {"192.0.2.1", "192.0.2.2", "192.0.2.3"}) p.release(ip(a));
  EXPECT_EQ(p.networks(), 0u);
  EXPECT_EQ(p.total(), 0u);
}

TEST(ConnectionPolicy, NoAllocationInTimeIsClosedWhateverItSays) {
  ConnectionPolicy p({100, 10, 32, 64, /*allocate_timeout_ms=*/5'000});
  EXPECT_FALSE(p.allocate_overdue(1'000, 5'999, false));
  EXPECT_TRUE(p.allocate_overdue(1'000, 6'000, false));
  EXPECT_FALSE(p.allocate_overdue(1'000, 600'000, true));
  auto c = load_config_text(kGood + "limits: {connection_prefix_v4: 24, connection_prefix_v6: 56, max_connections: 7, "
                                    "connection_allocate_timeout: 5, max_sites: 9}\n");
  EXPECT_EQ(c.connection_prefix_v4, 24u);
  EXPECT_EQ(c.connection_prefix_v6, 56u);
  EXPECT_EQ(c.max_connections, 7u);
  EXPECT_EQ(c.connection_allocate_timeout_s, 5u);
  EXPECT_EQ(c.max_sites, 9u);
}
