// Long-term credentials (RFC 8489 9.2), TURN REST API ephemeral credentials, and nonces with the
// security-feature cookie (RFC 8489 9.2). Sans-I/O: the caller passes the time.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "turn/address.hpp"
#include "turn/attributes.hpp"
#include "turn/tags.hpp"

namespace turn {

struct AuthConfig {
  std::string realm = "turnpike.test";
  std::map<std::string, std::string> users;  // username -> password
  std::vector<std::string> rest_secrets;     // newest first
  int64_t nonce_lifetime_s = 600;
  // Keys the nonces' MAC. The nodes of a deployment share it so that a client redirected from one
  // to another (300 ALTERNATE-SERVER, which hands it a nonce) is not refused the nonce there.
  // Empty: a random key per process.
  std::string nonce_secret;
};

// One key a request might have been signed with.
struct Credential {
  std::vector<uint8_t> key;      // MD5 (16) or SHA-256 (32) of "username:realm:password"
  std::string user;              // the identity: the static user, or the REST username's user part
  int64_t expires_unix = 0;      // REST credentials only; 0 = never
  std::string region;            // REST "<expiry>:<user>:<region>": the region the application pinned
  Tags tags;                     // REST "...;key=value": as the application signed them
};

class Authenticator {
 public:
  enum class Lookup : uint8_t { Ok, UnknownUser, Expired };

  explicit Authenticator(AuthConfig cfg);
  const std::string& realm() const { return cfg_.realm; }

  // Candidate keys for `username` (one per REST secret; a static user has one).
  Lookup keys(std::string_view username, stun::PasswordAlgorithmId alg, int64_t now_unix,
              std::vector<Credential>& out) const;

  // What a nonce is bound to (RFC 8489 9.2: the server decides what a nonce means).
  //  Flow: the client's IP, port and transport and the listener it reached (the whole 5-tuple), so
  //    a captured signed request cannot be replayed from another port, transport or listener.
  //  Redirect: the client's IP and transport only. A 300 (ALTERNATE-SERVER) hands this one over for
  //    the client's first request to another node sharing auth.nonce_secret, which it reaches from a
  //    port and at a listener we cannot know.
  enum class NonceScope : uint8_t { Flow, Redirect };
  // "obMatJos2" + security features (password algorithms) + expiry + scope + MAC over what the
  // scope binds.
  // Whether username/password is a credential this server accepts (a static user's password, or a
  // REST credential not expired, under any of the secrets): for callers that present the password
  // itself over HTTPS (the call reports of server/call_report.hpp), not for TURN messages. Constant
  // time in the password's bytes.
  Lookup check_password(std::string_view username, std::string_view password, int64_t now_unix) const;

  std::string make_nonce(const FiveTuple& from, NonceScope scope, int64_t now_unix) const;
  enum class NonceCheck : uint8_t { Valid, Stale };
  NonceCheck check_nonce(std::string_view nonce, const FiveTuple& from, int64_t now_unix) const;

 private:
  // Empty when the MAC cannot be computed (OpenSSL error): the nonce check then fails closed.
  std::string nonce_mac(const FiveTuple& from, NonceScope scope, std::string_view expiry_hex) const;
  AuthConfig cfg_;
  std::array<uint8_t, 32> nonce_secret_{};
};

// TURN REST API: "<unix-expiry>:<user>[:<region>][;key=value]*"; password
// base64(HMAC-SHA1(secret, username)), so the region and tags an application signs are covered by
// the MAC. At most kMaxTags tags, keys unique, each part tag_text_ok: else parse() is false.
struct RestUsername {
  int64_t expiry = 0;
  std::string user;
  std::string region;  // empty: not pinned
  Tags tags;
  static bool parse(std::string_view username, RestUsername& out);
};
std::string rest_password(std::string_view secret, std::string_view username);

}  // namespace turn
