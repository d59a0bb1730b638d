// Join tokens: JWT HS256 with externally generated vectors, key rotation and every error class.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sfu/token.hpp"
#include "turn/crypto.hpp"

using namespace sfu::token;

namespace {

const int64_t kNow = 1'800'000'000;

// Produced outside this code base with Python's standard library:
//   import base64, hashlib, hmac, json
//   b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")
//   h = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
//   p = b64(json.dumps({"room": "ward-7", "identity": "dr-ana", "region": "eu-west", "exp": 1800000600,
//                       "iat": 1800000000, "publish": False}, separators=(",", ":")).encode())
//   s = b64(hmac.new(b"turnpike-token-key-2026", h + b"." + p, hashlib.sha256).digest())
//   print((h + b"." + p + b"." + s).decode())
const std::string kPythonToken =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJyb29tIjoid2FyZC03IiwiaWRlbnRpdHkiOiJkci1hbmEiLCJyZWdpb24iOiJldS13ZXN0IiwiZXhwIjoxODAwMDAwNjAwLCJpYXQiOjE4MDAwMDAwMDAsInB1Ymxpc2giOmZhbHNlfQ."
    "Y_JjA5huPNWMJNJK7he_Z2RPEBwf5FrAdAuaOsB_g1A";
const std::string kPythonKey = "turnpike-token-key-2026";

// jwt.io's HS256 example, secret "your-256-bit-secret".
const std::string kJwtIo =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

Claims claims() {
  Claims c;
  c.room = "ward-7";
  c.identity = "dr-ana";
  c.region = "eu-west";
  c.exp = kNow + 600;
  c.iat = kNow;
  return c;
}

std::string b64(const std::string& s) { return base64url_encode(turn::crypto::bytes(s)); }

// A token with this header and payload JSON, correctly signed with `key`.
std::string sign(const std::string& header, const std::string& payload, const std::string& key = "k1") {
  std::string input = b64(header) + "." + b64(payload);
  return input + "." + base64url_encode(turn::crypto::hmac_sha256(turn::crypto::bytes(key), turn::crypto::bytes(input)));
}
const std::string kHeader = R"({"alg":"HS256","typ":"JWT"})";

Result check(const std::string& token, std::vector<std::string> keys = {"k1"}, int64_t now = kNow, int64_t leeway = 30) {
  return verify(token, keys, now, leeway);
}

}  // namespace

TEST(TokenBase64url, Rfc4648Vectors) {
  // RFC 4648 10, in the URL alphabet without padding.
  const std::pair<std::string, std::string> v[] = {{"", ""},         {"f", "Zg"},         {"fo", "Zm8"},   {"foo", "Zm9v"},
                                                   {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, enc] : v) {
    EXPECT_EQ(b64(plain), enc);
    auto d = base64url_decode(enc);
    ASSERT_TRUE(d);
    EXPECT_EQ(std::string(d->begin(), d->end()), plain);
  }
  const uint8_t bytes[] = {0xfb, 0xff, 0xbf};  // the two characters that differ from base64
  EXPECT_EQ(base64url_encode(bytes), "-_-_");
  for (const char* bad : {"Zg==", "Zm9v+", "Zm9v/", "Z", "Zm9vY", "Zm 9v", "Zh", "Zm9"}) {
    // padding, base64 (not url) characters, 1 mod 4, a space, non-zero trailing bits ("Zh", "Zm9" are not canonical)
    EXPECT_FALSE(base64url_decode(bad)) << bad;
  }
}

TEST(TokenVerify, JwtIoExampleSignature) {
  // The signature verifies with the jwt.io secret; the claims are not ours, so the result is
  // MissingClaim, which is only reported after the signature was accepted.
  auto r = check(kJwtIo, {"your-256-bit-secret"});
  EXPECT_EQ(r.error, Error::MissingClaim) << r.message;
  EXPECT_EQ(check(kJwtIo, {"your-256-bit-secreT"}).error, Error::BadSignature);
  // The same signature recomputed here.
  std::string input = kJwtIo.substr(0, kJwtIo.rfind('.'));
  auto mac = turn::crypto::hmac_sha256(turn::crypto::bytes("your-256-bit-secret"), turn::crypto::bytes(input));
  EXPECT_EQ(base64url_encode(mac), "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c");
}

TEST(TokenVerify, PythonGeneratedToken) {
  auto r = check(kPythonToken, {kPythonKey});
  ASSERT_TRUE(r) << to_string(r.error) << ": " << r.message;
  EXPECT_EQ(r.claims.room, "ward-7");
  EXPECT_EQ(r.claims.identity, "dr-ana");
  EXPECT_EQ(r.claims.region, "eu-west");
  EXPECT_EQ(r.claims.exp, 1800000600);
  EXPECT_EQ(r.claims.iat, 1800000000);
  EXPECT_FALSE(r.claims.nbf);
  EXPECT_FALSE(r.claims.publish);
  EXPECT_TRUE(r.claims.subscribe);  // default
  // What our encoder makes of the same claims verifies to the same claims.
  Claims c = r.claims;
  EXPECT_EQ(check(encode(c, kPythonKey), {kPythonKey}).claims, c);
}

TEST(TokenVerify, RoundTripAndKeyRotation) {
  Claims c = claims();
  c.nbf = kNow - 5;
  c.subscribe = false;
  std::string t = encode(c, "new-key");
  std::vector<std::string> keys = {"old-key", "new-key"};
  auto r = verify(t, keys, kNow);
  ASSERT_TRUE(r) << r.message;
  EXPECT_EQ(r.claims, c);
  EXPECT_TRUE(verify(encode(c, "old-key"), keys, kNow));
  EXPECT_EQ(verify(encode(c, "retired-key"), keys, kNow).error, Error::BadSignature);
  EXPECT_EQ(verify(t, std::vector<std::string>{}, kNow).error, Error::BadSignature);

  sfu::JoinClaims out;
  EXPECT_EQ(sfu::verify_join_token(t, keys, kNow, out), sfu::TokenError::None);
  EXPECT_EQ(out, c);
  sfu::JoinClaims untouched;
  EXPECT_EQ(sfu::verify_join_token(t, keys, c.exp + 60, untouched), sfu::TokenError::Expired);
  EXPECT_EQ(untouched, sfu::JoinClaims{});
}

TEST(TokenVerify, TimeWithLeeway) {
  Claims c = claims();
  c.nbf = kNow + 100;
  std::string t = encode(c, "k1");
  EXPECT_EQ(check(t, {"k1"}, kNow).error, Error::NotYetValid);
  EXPECT_EQ(check(t, {"k1"}, kNow + 69).error, Error::NotYetValid);
  EXPECT_TRUE(check(t, {"k1"}, kNow + 70));  // nbf - leeway
  EXPECT_TRUE(check(t, {"k1"}, c.exp + 29));
  EXPECT_EQ(check(t, {"k1"}, c.exp + 30).error, Error::Expired);  // exp + leeway
  EXPECT_EQ(check(t, {"k1"}, c.exp, 0).error, Error::Expired);     // "on or after" exp
  EXPECT_TRUE(check(t, {"k1"}, c.exp - 1, 0));
  // Non-integer NumericDates round down; extreme values do not overflow.
  EXPECT_EQ(check(sign(kHeader, R"({"room":"r","identity":"i","region":"g","exp":1800000000.9})"), {"k1"}, kNow, 0).error,
            Error::Expired);
  EXPECT_TRUE(check(sign(kHeader, R"({"room":"r","identity":"i","region":"g","exp":9223372036854775807})"), {"k1"},
                    kNow, 9223372036854775807LL));
  EXPECT_EQ(check(sign(kHeader, R"({"room":"r","identity":"i","region":"g","exp":1,"nbf":-9223372036854775807})"),
                  {"k1"}, kNow, 9223372036854775807LL).error,
            Error::None);
}

TEST(TokenVerify, Malformed) {
  const std::string body = R"({"room":"r","identity":"i","region":"g","exp":1900000000})";
  std::string good = sign(kHeader, body);
  ASSERT_TRUE(check(good));
  std::string sig = good.substr(good.rfind('.') + 1);
  const std::string cases[] = {
      "",
      "abc",
      "a.b",
      good + ".",
      good + ".x",
      "." + good.substr(good.find('.')),
      b64(kHeader) + "=." + b64(body) + "." + sig,                 // padding
      b64(kHeader) + "." + b64(body) + "." + sig + "=",             // padding in the signature
      b64("not json") + "." + b64(body) + "." + sig,
      b64("[1,2]") + "." + b64(body) + "." + sig,                   // JSON, not an object
      b64(kHeader) + "." + b64("[\"room\"]") + "." + sig,
      b64(kHeader) + "." + b64("{\"room\":") + "." + sig,
      sign(R"({"alg":"none","typ":"JWT"})", body),
      b64(R"({"alg":"none"})") + "." + b64(body) + ".",            // the classic unsigned token
      sign(R"({"alg":"HS512","typ":"JWT"})", body),
      sign(R"({"alg":"RS256"})", body),
      sign(R"({"alg":"hs256"})", body),
      sign(R"({"typ":"JWT"})", body),
      sign(R"({"alg":["HS256"]})", body),
      sign(R"({"alg":"HS256","typ":"JWS"})", body),
      sign(R"({"alg":"HS256","typ":1})", body),
      sign(R"({"alg":"HS256","crit":["exp"]})", body),
      std::string(kMaxTokenSize + 1, 'a'),
      b64(kHeader) + "." + b64(body) + "." + sig.substr(0, sig.size() - 1) + "!",
  };
  for (const auto& t : cases) {
    auto r = check(t);
    EXPECT_EQ(r.error, Error::Malformed) << t << " -> " << to_string(r.error) << ": " << r.message;
    EXPECT_FALSE(r.message.empty());
  }
  // typ is compared case-insensitively; a header without typ is fine.
  EXPECT_TRUE(check(sign(R"({"alg":"HS256","typ":"jwt"})", body)));
  EXPECT_TRUE(check(sign(R"({"alg":"HS256"})", body)));
}

TEST(TokenVerify, BadSignature) {
  std::string good = encode(claims(), "k1");
  std::string tampered_payload = b64(kHeader) + "." +
                                 b64(R"({"room":"ward-8","identity":"dr-ana","region":"eu-west","exp":1900000000})") +
                                 good.substr(good.rfind('.'));
  EXPECT_EQ(check(tampered_payload).error, Error::BadSignature);
  std::string truncated = good.substr(0, good.size() - 3);  // 30 bytes: valid base64url, compared, never matches
  EXPECT_EQ(check(truncated).error, Error::BadSignature);
  std::string flipped = good;
  flipped.back() = flipped.back() == 'A' ? 'Q' : 'A';
  auto r = check(flipped);
  EXPECT_TRUE(r.error == Error::BadSignature || r.error == Error::Malformed);  // may break canonical trailing bits
  EXPECT_EQ(check(good, {"k2"}).error, Error::BadSignature);
  // Claims are not looked at before the signature: an unsigned, expired token is a bad signature.
  Claims old = claims();
  old.exp = 1;
  EXPECT_EQ(check(encode(old, "other")).error, Error::BadSignature);
}

TEST(TokenVerify, Claims) {
  struct Case {
    std::string payload;
    Error error;
    std::string why;
  } cases[] = {
      {R"({"identity":"i","region":"g","exp":1900000000})", Error::MissingClaim, "room"},
      {R"({"room":"r","region":"g","exp":1900000000})", Error::MissingClaim, "identity"},
      {R"({"room":"r","identity":"i","exp":1900000000})", Error::MissingClaim, "region"},
      {R"({"room":"r","identity":"i","region":"g"})", Error::MissingClaim, "exp"},
      {R"({"room":7,"identity":"i","region":"g","exp":1900000000})", Error::InvalidClaim, "room"},
      {R"({"room":"","identity":"i","region":"g","exp":1900000000})", Error::InvalidClaim, "room"},
      {R"({"room":"r","identity":null,"region":"g","exp":1900000000})", Error::InvalidClaim, "identity"},
      {R"({"room":"r","identity":"i","region":"g","exp":"1900000000"})", Error::InvalidClaim, "exp"},
      {R"({"room":"r","identity":"i","region":"g","exp":true})", Error::InvalidClaim, "exp"},
      {R"({"room":"r","identity":"i","region":"g","exp":1e300})", Error::InvalidClaim, "exp"},
      {R"({"room":"r","identity":"i","region":"g","exp":18446744073709551615})", Error::InvalidClaim, "exp"},
      {R"({"room":"r","identity":"i","region":"g","exp":1900000000,"nbf":"x"})", Error::InvalidClaim, "nbf"},
      {R"({"room":"r","identity":"i","region":"g","exp":1900000000,"iat":{}})", Error::InvalidClaim, "iat"},
      {R"({"room":"r","identity":"i","region":"g","exp":1900000000,"publish":1})", Error::InvalidClaim, "publish"},
      {R"({"room":"r","identity":"i","region":"g","exp":1900000000,"subscribe":"yes"})", Error::InvalidClaim, "subscribe"},
  };
  for (const auto& c : cases) {
    auto r = check(sign(kHeader, c.payload));
    EXPECT_EQ(r.error, c.error) << c.payload << " -> " << r.message;
    EXPECT_NE(r.message.find(c.why), std::string::npos) << r.message;
  }
  // Unknown claims are ignored; publish/subscribe default to true.
  auto r = check(sign(kHeader, R"({"room":"r","identity":"i","region":"g","exp":1900000000,"sub":"x","aud":["a"]})"));
  ASSERT_TRUE(r) << r.message;
  EXPECT_TRUE(r.claims.publish);
  EXPECT_TRUE(r.claims.subscribe);
  // Unicode in claims survives the round trip.
  Claims u = claims();
  u.room = "Station Süd \xF0\x9F\x8F\xA5";
  EXPECT_EQ(check(encode(u, "k1")).claims.room, u.room);
}

// Regression: every committed fuzz input (seeds and crash reproducers) verifies without crashing.
TEST(TokenVerify, FuzzCorpusAndCrashesReplay) {
  namespace fs = std::filesystem;
  size_t files = 0;
  for (const char* dir : {"/sfu/fuzz/corpus/fuzz_token", "/sfu/fuzz/crashes/fuzz_token"}) {
    const fs::path p = std::string(TURNPIKE_SOURCE_DIR) + dir;
    if (!fs::exists(p)) continue;
    for (const auto& e : fs::directory_iterator(p)) {
      std::ifstream f(e.path(), std::ios::binary);
      std::stringstream ss;
      ss << f.rdbuf();
      std::string t = ss.str();
      auto r = check(t, {"k1", "turnpike-token-key-2026"});
      EXPECT_TRUE(r || !r.message.empty()) << e.path();
      if (e.path().filename() == "valid.jwt") {
        EXPECT_TRUE(r) << r.message;
      }
      if (e.path().filename() == "alg_none.jwt") {
        EXPECT_EQ(r.error, Error::Malformed);
      }
      ++files;
    }
  }
  EXPECT_GT(files, 0u);
}
