// Sink::answered (turn/answer.hpp, issue 17): every answer reported with the client's USERNAME, the
// code and why credentials were refused, which server/ turns into log lines (docs/logs.md).
#include "core_fixture.hpp"

using namespace turn;
using namespace turn::stun;

namespace {
auto udp_transport = [](Builder& b) { b.add_u32(attr::RequestedTransport, 17u << 24); };
// A suite of its own: CoreTest's fixture class is per translation unit.
class CoreAnswers : public CoreTest {};
}  // namespace

TEST_F(CoreAnswers, AnswersCarryTheRefusalReasonAndUsername) {
  allocate(client());  // 401 first round (missing), then 200
  ASSERT_GE(sink.answers.size(), 2u);
  EXPECT_EQ(sink.answers[sink.answers.size() - 2].auth, AuthRefusal::Missing);
  EXPECT_EQ(sink.answers.back().code, 200);
  EXPECT_EQ(sink.answers.back().auth, AuthRefusal::None);
  EXPECT_EQ(sink.answers.back().username, "alice");

  request(Method::Allocate, client(41000), udp_transport, "alice", "wrong");
  EXPECT_EQ(sink.answers.back().auth, AuthRefusal::BadPassword);
  EXPECT_EQ(sink.answers.back().code, 401);
  EXPECT_EQ(sink.answers.back().username, "alice");
  request(Method::Allocate, client(41001), udp_transport, "mallory", "x");
  EXPECT_EQ(sink.answers.back().auth, AuthRefusal::UnknownUser);
  EXPECT_STREQ(to_string(AuthRefusal::BadPassword), "bad_password");
}

TEST_F(CoreAnswers, RestCredentialWithAWrongSecretIsBadRestCredential) {
  std::string user = std::to_string(now.unix_s + 3600) + ":carol";
  EXPECT_EQ(allocate(client(40002), user, rest_password("other", user)).code, 401);
  EXPECT_EQ(sink.answers.back().auth, AuthRefusal::BadRestCredential);
  std::string expired = std::to_string(now.unix_s - 1) + ":carol";
  EXPECT_EQ(allocate(client(40003), expired, rest_password("northwind", expired)).code, 401);
  EXPECT_EQ(sink.answers.back().auth, AuthRefusal::ExpiredCredential);
}

TEST_F(CoreAnswers, StaleNonceAndANonUtf8Username) {
  sign = true;
  retry_stale = false;
  nonces[client(42000).client.port] = "not-a-nonce-of-this-server";
  EXPECT_EQ(request(Method::Allocate, client(42000), udp_transport).code, 438);
  EXPECT_EQ(sink.answers.back().auth, AuthRefusal::StaleNonce);
  EXPECT_EQ(sink.answers.back().username, "alice");

  sign = false;
  auto r = request(Method::Allocate, client(42001), [](Builder& b) {
    b.add_u32(attr::RequestedTransport, 17u << 24);
    b.add(attr::Username, std::string_view("bob\xff\xfe"));
  });
  EXPECT_EQ(r.code, 400);
  EXPECT_EQ(sink.answers.back().auth, AuthRefusal::BadUsername);
  EXPECT_EQ(sink.answers.back().username, "bob\xff\xfe");  // the bytes as sent; server/ escapes them
}
