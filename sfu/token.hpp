// Join tokens: JWTs (RFC 7519) signed with HS256 (RFC 7515, RFC 7518 3.2) that the application's
// backend mints and a browser presents when it joins a room. Sans-I/O: the caller passes the time.
// verify() tries every configured key (sfu.token_keys, so keys can be rotated) and tells apart a
// malformed token, a bad signature, an expired or not yet valid one, and a missing or invalid claim.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sfu::token {

constexpr size_t kMaxTokenSize = 4096;  // bytes; longer tokens are Malformed

struct Claims {
  std::string room;      // "room": the room to join (non-empty)
  std::string identity;  // "identity": who joins (non-empty), unique in the room by convention
  std::string region;    // "region": the region the token is for (non-empty)
  int64_t exp = 0;       // "exp" (RFC 7519 4.1.4), NumericDate: seconds since the epoch
  std::optional<int64_t> nbf;  // "nbf" (RFC 7519 4.1.5)
  std::optional<int64_t> iat;  // "iat" (RFC 7519 4.1.6)
  bool publish = true;    // "publish": may send media
  bool subscribe = true;  // "subscribe": may receive media
  bool operator==(const Claims&) const = default;
};

enum class Error : uint8_t {
  None,
  Malformed,     // not header.payload.signature, bad base64url, not JSON objects, alg not HS256, typ not JWT, crit
  BadSignature,  // no configured key produces the signature
  Expired,       // unix_s >= exp + leeway (RFC 7519 4.1.4)
  NotYetValid,   // unix_s < nbf - leeway (RFC 7519 4.1.5)
  MissingClaim,  // room, identity, region or exp absent
  InvalidClaim,  // a claim of the wrong JSON type or an empty string
};
const char* to_string(Error e);

struct Result {
  Error error = Error::None;
  std::string message;  // why, for logs; never includes key material
  Claims claims;        // set only when error == None
  explicit operator bool() const { return error == Error::None; }
};

// Signs `claims` with `key` (HMAC-SHA256): header {"alg":"HS256","typ":"JWT"}.
std::string encode(const Claims& claims, std::string_view key);

// Checks `token` against `keys` (any one may have signed it) at `unix_s` (wall clock, seconds since the epoch),
// allowing `leeway_s` seconds of clock skew on exp and nbf. The signature is checked (in constant time,
// RFC 7515 5.2) before any claim is looked at.
Result verify(std::string_view token, std::span<const std::string> keys, int64_t unix_s, int64_t leeway_s = 30);

// base64url without padding (RFC 7515 2, RFC 4648 5). decode() rejects padding, characters outside
// the alphabet, a length of 1 mod 4 and non-zero trailing bits (so each value has one encoding).
std::string base64url_encode(std::span<const uint8_t> data);
std::optional<std::vector<uint8_t>> base64url_decode(std::string_view text);

}  // namespace sfu::token

namespace sfu {
// The names the engine uses.
using JoinClaims = token::Claims;
using TokenError = token::Error;
// verify(), with the claims written to `out` on success only.
TokenError verify_join_token(std::string_view token, std::span<const std::string> keys, int64_t unix_s, JoinClaims& out,
                             int64_t leeway_s = 30);
}  // namespace sfu
