// libFuzzer target: join token verification (base64url, JSON, HS256, claims) on arbitrary input,
// and base64url round trips. Seeds: corpus/fuzz_token/.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sfu/token.hpp"
#include "turn/crypto.hpp"
#include "tests/fuzz/target.hpp"

using namespace sfu::token;

TURNPIKE_FUZZ_TARGET("sfu", token) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string> keys = {"k1", "turnpike-token-key-2026"};
  auto r = verify(text, keys, 1'800'000'000, 30);
  if (r.error != Error::None && r.message.empty()) FUZZ_FAIL();
  if (r) {
    // Whatever verifies re-encodes into a token that verifies to the same claims.
    auto again = verify(encode(r.claims, "k1"), keys, 1'800'000'000, 30);
    if (!again || !(again.claims == r.claims)) FUZZ_FAIL();
  }
  // base64url: decode(encode(x)) == x, and what decodes re-encodes to the same text.
  std::string enc = base64url_encode({data, size});
  auto dec = base64url_decode(enc);
  if (!dec || *dec != std::vector<uint8_t>(data, data + size)) FUZZ_FAIL();
  if (auto d = base64url_decode(text); d && base64url_encode(*d) != text) FUZZ_FAIL();
  // The input as a payload JSON, correctly signed: exercises the claim checks behind the signature.
  std::string input = base64url_encode(turn::crypto::bytes(R"({"alg":"HS256","typ":"JWT"})")) + "." + enc;
  std::string token = input + "." + base64url_encode(turn::crypto::hmac_sha256(turn::crypto::bytes("k1"), turn::crypto::bytes(input)));
  auto s = verify(token, keys, 1'800'000'000, 30);
  if (s.error == Error::Malformed && s.message.find("payload") == std::string::npos) FUZZ_FAIL();
  if (s.error == Error::BadSignature) FUZZ_FAIL();
  return 0;
}
