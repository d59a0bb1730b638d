// The troubleshooting events' policy types (issue 17, docs/logs.md): the per-kind rate limiter with
// its suppressed count, user redaction, and lines that stay valid JSON for any input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>

#include "server/event_log.hpp"
#include "server/log_limiter.hpp"
#include "server/redact.hpp"

using namespace turnpike;

namespace {

TEST(LogRateLimiter, BurstThenRateAndTheSuppressedCountOnTheNextLine) {
  LogRateLimiter l(10, 5);
  int emitted = 0;
  for (int i = 0; i < 100; ++i) emitted += l.admit(LogKind::AuthFailed, 1'000).emit;
  EXPECT_EQ(emitted, 5);  // the burst, then nothing within the same millisecond
  // Another kind has its own bucket.
  EXPECT_TRUE(l.admit(LogKind::Refused, 1'000).emit);
  // 100 ms later one token is back: the line carries the 95 refused before it.
  auto v = l.admit(LogKind::AuthFailed, 1'100);
  EXPECT_TRUE(v.emit);
  EXPECT_EQ(v.suppressed, 95u);
  EXPECT_FALSE(l.admit(LogKind::AuthFailed, 1'100).emit);
  auto next = l.admit(LogKind::AuthFailed, 1'200);
  EXPECT_TRUE(next.emit);
  EXPECT_EQ(next.suppressed, 1u);
}

TEST(LogRateLimiter, ABoundedNumberOfLinesOverAFlood) {
  LogRateLimiter l(10, 20);
  uint64_t emitted = 0, suppressed = 0, total = 0;
  for (int64_t t = 0; t < 2'000; ++t)  // 2 s at 10 per millisecond: 20,000 events
    for (int i = 0; i < 10; ++i) {
      ++total;
      auto v = l.admit(LogKind::AuthFailed, t);
      emitted += v.emit;
      suppressed += v.suppressed;
    }
  EXPECT_LE(emitted, 20u + 2u * 10u + 1u);  // burst + rate * seconds
  auto last = l.admit(LogKind::AuthFailed, 10'000);  // the flood over: the rest accounted for
  ++total;
  EXPECT_TRUE(last.emit);
  EXPECT_EQ(emitted + 1 + suppressed + last.suppressed, total);
}

TEST(LogRateLimiter, ZeroMeansNoLimit) {
  LogRateLimiter l(0, 1);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(l.admit(LogKind::SfuJoin, 0).emit);
}

TEST(UserRedactor, StableSaltedHashAndOffIsIdentity) {
  UserRedactor off;
  EXPECT_EQ(off("alice"), "alice");
  UserRedactor a(true, ""), b(true, "node-salt");
  std::string h = a("alice");
  EXPECT_EQ(h.size(), 18u);
  EXPECT_EQ(h.rfind("u:", 0), 0u);
  EXPECT_EQ(h.find("alice"), std::string::npos);
  EXPECT_EQ(a("alice"), h);  // stable
  // SHA-256("alice") = 2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90
  EXPECT_EQ(h, "u:2bd806c97f0e00af");
  EXPECT_NE(b("alice"), h);  // the salt changes it
  EXPECT_NE(a("bob"), h);
  EXPECT_EQ(a(""), "");
}

TEST(EventLog, LinesAreJsonForAnyUsernameAndRedacted) {
  events::configure({0, 1, false, ""});
  std::string user = "bad\xff\xfe\"user\n";
  testing::internal::CaptureStderr();
  events::emit(LogKind::AuthFailed, log::Level::Warn, "auth_failed", {{"user", user}, {"reason", "bad_password"}});
  std::string line = testing::internal::GetCapturedStderr();
  ASSERT_FALSE(line.empty());
  auto j = nlohmann::json::parse(line, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << line;
  EXPECT_EQ(j["event"], "auth_failed");
  EXPECT_EQ(j["reason"], "bad_password");
  EXPECT_NE(j["user"].get<std::string>().find("\"user\n"), std::string::npos);

  events::configure({0, 1, true, ""});
  EXPECT_EQ(events::user("alice"), "u:2bd806c97f0e00af");
  nlohmann::json record = {{"user", "alice"}, {"username", "1700000000:alice"}, {"id", 1}};
  events::redact_record(record);
  EXPECT_EQ(record["user"], "u:2bd806c97f0e00af");
  EXPECT_EQ(record["username"].get<std::string>().find("alice"), std::string::npos);
  events::configure({});
}

}  // namespace
