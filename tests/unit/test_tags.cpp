// Tags of TURN REST usernames ("<expiry>:<user>[:<region>][;key=value]*", turn/tags.hpp): the
// parser's bounds, the Authenticator refusing malformed ones, and the core tagging allocations.
#include "core_fixture.hpp"

#include "turn/auth.hpp"

using namespace turn;
using namespace turn::stun;

namespace {
class CoreTags : public CoreTest {};  // CoreTest's fixture class is per translation unit

Tags tags_of(std::string_view username) {
  RestUsername r;
  EXPECT_TRUE(RestUsername::parse(username, r)) << username;
  return r.tags;
}
bool parses(std::string_view username) {
  RestUsername r;
  return RestUsername::parse(username, r);
}
}  // namespace

TEST(RestUsernameTags, UserAndRegionStopAtTheFirstSemicolon) {
  RestUsername r;
  ASSERT_TRUE(RestUsername::parse("1800000000:alice:eu;site=ward-5;device=cart", r));
  EXPECT_EQ(r.expiry, 1'800'000'000);
  EXPECT_EQ(r.user, "alice");
  EXPECT_EQ(r.region, "eu");
  EXPECT_EQ(r.tags, (Tags{{"site", "ward-5"}, {"device", "cart"}}));
  ASSERT_TRUE(RestUsername::parse("1800000000:bob;site=hq", r));
  EXPECT_EQ(r.user, "bob");
  EXPECT_EQ(r.region, "");
  EXPECT_EQ(r.tags, (Tags{{"site", "hq"}}));
  ASSERT_TRUE(RestUsername::parse("1800000000:carol:us", r));  // no tags: cleared from an earlier parse
  EXPECT_EQ(r.region, "us");
  EXPECT_TRUE(r.tags.empty());
  // The whole charset, 64 characters at most; a value may hold ':' and '/'.
  EXPECT_EQ(tags_of("1:u;a.B-c_9=x/y:z"), (Tags{{"a.B-c_9", "x/y:z"}}));
  std::string k64(64, 'k');
  EXPECT_EQ(tags_of("1:u;" + k64 + "=" + std::string(64, 'v')).size(), 1u);
}

TEST(RestUsernameTags, MalformedTagPartsAreRefused) {
  for (const char* bad : {"1:u;",             // ';' without a tag
                          "1:u;;a=b",         // an empty tag
                          "1:u;a=b;",         // a trailing ';'
                          "1:u;site",         // no '='
                          "1:u;site=",        // empty value
                          "1:u;=x",           // empty key
                          "1:u;site=a b",     // space
                          "1:u;site=ward#5",  // outside the charset
                          "1:u;s\xC3\xA9=x",  // non-ASCII
                          "1:u;a=b=c",        // '=' in a value
                          "1:u;a=1;a=2",      // duplicate key
                          "1;a=b:u"}) {       // the tag part swallows the user
    EXPECT_FALSE(parses(bad)) << bad;
  }
  EXPECT_FALSE(parses("1:u;" + std::string(65, 'k') + "=v"));
  EXPECT_FALSE(parses("1:u;k=" + std::string(65, 'v')));
  std::string eight = "1:u", nine;
  for (int i = 0; i < 8; ++i) eight += ";k" + std::to_string(i) + "=v";
  nine = eight + ";k8=v";
  EXPECT_EQ(tags_of(eight).size(), kMaxTags);
  EXPECT_FALSE(parses(nine));
}

TEST(RestUsernameTags, TagTextCharset) {
  EXPECT_TRUE(tag_text_ok("ward-5"));
  EXPECT_TRUE(tag_text_ok("10.1.0.0/24"));
  EXPECT_TRUE(tag_text_ok("2001:db8::/56"));
  EXPECT_FALSE(tag_text_ok(""));
  EXPECT_FALSE(tag_text_ok("a;b"));
  EXPECT_FALSE(tag_text_ok("a=b"));
  EXPECT_FALSE(tag_text_ok(std::string(65, 'a')));
}

TEST(RestUsernameTags, KeysCarryTheTagsAndRefuseMalformedOnes) {
  AuthConfig ac;
  ac.users = {{"alice", "wonderland"}};
  ac.rest_secrets = {"new", "old"};
  Authenticator auth(ac);
  std::vector<Credential> keys;
  using L = Authenticator::Lookup;
  ASSERT_EQ(auth.keys("2000:web:eu;site=ward-5", PasswordAlgorithmId::Md5, 1'000, keys), L::Ok);
  ASSERT_EQ(keys.size(), 2u);  // one per secret, each with the tags
  for (const auto& k : keys) {
    EXPECT_EQ(k.user, "web");
    EXPECT_EQ(k.region, "eu");
    EXPECT_EQ(k.tags, (Tags{{"site", "ward-5"}}));
  }
  EXPECT_EQ(auth.keys("2000:web;site=a;site=b", PasswordAlgorithmId::Md5, 1'000, keys), L::UnknownUser);
  EXPECT_TRUE(keys.empty());
  EXPECT_EQ(auth.keys("2000:web;site=", PasswordAlgorithmId::Md5, 1'000, keys), L::UnknownUser);
  EXPECT_EQ(auth.keys("2000:web;", PasswordAlgorithmId::Md5, 1'000, keys), L::UnknownUser);
  ASSERT_EQ(auth.keys("alice", PasswordAlgorithmId::Md5, 1'000, keys), L::Ok);
  EXPECT_TRUE(keys[0].tags.empty());
  // The tags are signed: the password of the untagged username does not sign a tagged one.
  EXPECT_EQ(auth.check_password("2000:web;site=hq", rest_password("new", "2000:web"), 1'000), L::UnknownUser);
  EXPECT_EQ(auth.check_password("2000:web;site=hq", rest_password("new", "2000:web;site=hq"), 1'000), L::Ok);
}

TEST_F(CoreTags, AllocationsCarryTheCredentialsTagsAndTheResolvedSite) {
  std::vector<IpAddress> asked;
  core->set_site_resolver([&](const IpAddress& a) {
    asked.push_back(a);
    return std::string("lab");
  });
  std::string tagged = std::to_string(now.unix_s + 3600) + ":carol;device=cart;site=ward-5";
  ASSERT_EQ(allocate(client(), tagged, rest_password("northwind", tagged)).code, 200);
  const Allocation* a = core->find(client());
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->tags, (Tags{{"device", "cart"}, {"site", "ward-5"}}));  // the username's site wins
  EXPECT_TRUE(asked.empty());
  std::string plain = std::to_string(now.unix_s + 3600) + ":dave;device=cart";
  ASSERT_EQ(allocate(client(40001), plain, rest_password("newsecret", plain)).code, 200);
  EXPECT_EQ(core->find(client(40001))->tags, (Tags{{"device", "cart"}, {"site", "lab"}}));
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0], client().client.address);
  ASSERT_EQ(allocate(client(40002)).code, 200);  // a static user: the site alone
  EXPECT_EQ(core->find(client(40002))->tags, (Tags{{"site", "lab"}}));
  // A malformed tag part is refused like an unknown user.
  std::string bad = std::to_string(now.unix_s + 3600) + ":erin;site=a;site=b";
  EXPECT_EQ(allocate(client(40003), bad, rest_password("northwind", bad)).code, 401);
  EXPECT_EQ(sink.auth_failures.back(), AuthFailure::UnknownUser);
  EXPECT_EQ(core->find(client(40003)), nullptr);
}

TEST_F(CoreTags, WithoutAResolverOnlyTheCredentialsTags) {
  std::string tagged = std::to_string(now.unix_s + 3600) + ":carol;device=cart";
  ASSERT_EQ(allocate(client(), tagged, rest_password("northwind", tagged)).code, 200);
  EXPECT_EQ(core->find(client())->tags, (Tags{{"device", "cart"}}));
  ASSERT_EQ(allocate(client(40001)).code, 200);
  EXPECT_TRUE(core->find(client(40001))->tags.empty());
}
