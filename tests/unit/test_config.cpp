// Configuration validation: every bad input names its key, and good files load.
#include <gtest/gtest.h>

#include "server/config.hpp"

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

TEST(Config, EveryCommittedExampleLoads) {
  for (const char* f : {"/conf/turnpike.yaml", "/conf/local.yaml"})
    EXPECT_NO_THROW(load_config_file(std::string(TURNPIKE_SOURCE_DIR) + f)) << f;
}

TEST(Config, EmbeddedDefaultIsSafe) {
  auto c = embedded_default_config();
  EXPECT_TRUE(c.peers_allow.empty());
  EXPECT_EQ(c.listen.at(0).endpoint.to_string(), "127.0.0.1:3478");
  EXPECT_EQ(c.auth.users.count("demo"), 1u);
  EXPECT_GE(c.auth.users.at("demo").size(), 12u);
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
