// diff_config (server/config_diff.hpp): which keys a reload applies live and which need a restart;
// and the admin route of POST /api/v1/reload (token, method, the backend's status passed through).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <string>

#include "server/admin.hpp"
#include "server/config.hpp"
#include "server/config_diff.hpp"

using namespace turnpike;

namespace {

const std::string kBase = R"(
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

// kBase with the first occurrence of `from` replaced by `to` (which must occur).
Config with(const std::string& from, const std::string& to) {
  std::string y = kBase;
  auto at = y.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  y.replace(at, from.size(), to);
  return load_config_text(y);
}

ConfigDiff diff_to(const std::string& from, const std::string& to) { return diff_config(load_config_text(kBase), with(from, to)); }

using Keys = std::vector<std::string>;

}  // namespace

TEST(ConfigDiff, SameFileChangesNothing) {
  auto d = diff_config(load_config_text(kBase), load_config_text(kBase));
  EXPECT_TRUE(d.changed.empty());
  EXPECT_TRUE(d.restart.empty());
  EXPECT_TRUE(d.applicable());
}

TEST(ConfigDiff, AuthKeysAreLive) {
  auto d = diff_to("users: { alice: wonderland }", "users: { alice: wonderland, bob: builder }");
  EXPECT_EQ(d.changed, Keys{"auth.users"});
  EXPECT_TRUE(d.applicable());
  EXPECT_EQ(diff_to("rest_secrets: [ northwind ]", "rest_secrets: [ southwind, northwind ]").changed,
            Keys{"auth.rest_secrets"});
  EXPECT_EQ(diff_to("realm: turnpike.test", "realm: example.org").changed, Keys{"auth.realm"});
  EXPECT_EQ(diff_to("realm: turnpike.test", "realm: turnpike.test\n  nonce_secret: 0123456789abcdef0123456789abcdef").changed,
            Keys{"auth.nonce_secret"});
}

TEST(ConfigDiff, PeersLimitsSitesLogLevelAreLive) {
  EXPECT_EQ(diff_to("deny: []", "deny: [ 192.0.2.0/24 ]").changed, Keys{"peers.deny"});
  EXPECT_EQ(diff_to("threads: 2", "threads: 2\nlimits: { max_allocations: 7, max_lifetime: 1200 }").changed,
            (Keys{"limits.max_allocations", "limits.max_lifetime"}));
  EXPECT_EQ(diff_to("threads: 2", "threads: 2\nsites: { hq: [ 198.51.100.0/24 ] }").changed, Keys{"sites"});
  auto d = diff_to("level: info", "level: debug");
  EXPECT_EQ(d.changed, Keys{"log.level"});
  EXPECT_TRUE(d.applicable());
}

TEST(ConfigDiff, RestartKeysAreNamed) {
  auto d = diff_to("port: 3478", "port: 3479");
  EXPECT_EQ(d.restart, Keys{"listen"});
  EXPECT_FALSE(d.applicable());
  EXPECT_EQ(diff_to("threads: 2", "threads: 3").restart, Keys{"threads"});
  EXPECT_EQ(diff_to("listen: 127.0.0.1:9641", "listen: 127.0.0.1:9642").restart, Keys{"admin.listen"});
  EXPECT_EQ(diff_to("port_range: [49152, 65535]", "port_range: [50000, 60000]").restart, Keys{"relay.port_range"});
  EXPECT_EQ(diff_to("region: local", "region: other").restart, Keys{"region"});
  EXPECT_EQ(diff_to("format: json", "format: text").restart, Keys{"log.format"});
  EXPECT_EQ(diff_to("threads: 2", "threads: 2\nlimits: { connection_prefix_v4: 24 }").restart,
            Keys{"limits.connection_prefix_v4"});
  EXPECT_EQ(diff_to("threads: 2", "threads: 2\nmetrics: { tag_labels: [site, device] }").restart,
            Keys{"metrics.tag_labels"});
  auto same = diff_to("threads: 2", "threads: 2\nmetrics: { tag_labels: [site] }");  // the default
  EXPECT_TRUE(same.changed.empty() && same.restart.empty());
}

TEST(ConfigDiff, MixedChangeListsBothAndIsNotApplicable) {
  auto d = diff_to("threads: 2", "threads: 4\nlimits: { max_allocations: 9 }");
  EXPECT_EQ(d.changed, Keys{"limits.max_allocations"});
  EXPECT_EQ(d.restart, Keys{"threads"});
  EXPECT_FALSE(d.applicable());
}

TEST(ConfigDiff, SfuTokenKeysLiveTheRestRestart) {
  const std::string sfu = "threads: 2\nsfu: { signal_listen: 127.0.0.1:8443, media_listen: 127.0.0.1:8444, "
                          "token_keys: [ 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' ] }";
  auto base = with("threads: 2", sfu);
  std::string keys2 = sfu;
  keys2.replace(keys2.find("[ 'a"), 3, "[ 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', '");
  auto d = diff_config(base, with("threads: 2", keys2));
  EXPECT_EQ(d.changed, Keys{"sfu.token_keys"});
  EXPECT_TRUE(d.applicable());
  std::string port = sfu;
  port.replace(port.find("8444"), 4, "8445");
  EXPECT_EQ(diff_config(base, with("threads: 2", port)).restart, Keys{"sfu.media_listen"});
  auto on = diff_config(load_config_text(kBase), base);  // turning the SFU on needs a restart
  ASSERT_FALSE(on.restart.empty());
  EXPECT_EQ(on.restart.front(), "sfu");
  EXPECT_FALSE(on.applicable());
}

TEST(ConfigDiff, EveryKeyIsListedOnce) {
  std::set<std::string> seen;
  size_t live = 0;
  for (const auto& k : reload_keys()) {
    EXPECT_TRUE(seen.insert(k.name).second) << k.name;
    live += k.live ? 1 : 0;
  }
  for (const char* k : {"auth.users", "auth.rest_secrets", "peers.allow", "limits.max_allocations", "sites",
                        "regions", "residency", "log.level", "sfu.token_keys", "tls.cert"})
    EXPECT_TRUE(seen.count(k)) << k;
  EXPECT_GT(live, 10u);
  EXPECT_GT(seen.size(), live);
}

TEST(ReloadRoute, PostWithTheTokenReachesTheBackend) {
  AdminBackend b;
  b.token = "0123456789abcdef";
  int calls = 0;
  b.reload = [&calls] {
    ++calls;
    return std::make_pair(409u, nlohmann::json{{"error", "needs a restart: threads"}, {"restart_required", {"threads"}}});
  };
  const std::string auth = "Bearer 0123456789abcdef";
  EXPECT_EQ(AdminServer::route(b, "POST", "/api/v1/reload", "").status, 401u);
  EXPECT_EQ(AdminServer::route(b, "GET", "/api/v1/reload", auth).status, 405u);
  EXPECT_EQ(calls, 0);
  auto r = AdminServer::route(b, "POST", "/api/v1/reload", auth);
  EXPECT_EQ(r.status, 409u);
  EXPECT_EQ(nlohmann::json::parse(r.body)["restart_required"][0], "threads");
  EXPECT_EQ(calls, 1);
  b.reload = nullptr;
  EXPECT_EQ(AdminServer::route(b, "POST", "/api/v1/reload", auth).status, 503u);
}
