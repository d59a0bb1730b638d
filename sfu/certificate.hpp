// The SFU's DTLS identity (RFC 8827 6.5, RFC 8122): an ECDSA P-256 key and a self-signed X.509
// certificate made at start-up, and its fingerprint as SDP's a=fingerprint carries it.
// Copies share one immutable key and certificate (reference counted), so handing the certificate
// to every shard and participant costs nothing.
#pragma once
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sfu {

class Certificate {
 public:
  // A fresh P-256 key and a certificate signed with it: random 64-bit serial, CN "turnpike", valid
  // from 30 days before `unix_now_s` (clock skew) to 365 days after. Throws std::runtime_error if
  // OpenSSL fails (start-up only).
  static Certificate generate(int64_t unix_now_s);

  EVP_PKEY* key() const { return state_->key; }
  X509* x509() const { return state_->cert; }
  // "sha-256 AB:CD:..." (RFC 8122 5), the value after "a=fingerprint:".
  const std::string& fingerprint() const { return state_->fingerprint; }
  std::string_view fingerprint_algorithm() const { return "sha-256"; }
  // "AB:CD:..." alone.
  std::string_view fingerprint_value() const { return std::string_view(state_->fingerprint).substr(8); }

 private:
  struct State {
    EVP_PKEY* key = nullptr;
    X509* cert = nullptr;
    std::string fingerprint;
    State() = default;
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State();
  };
  explicit Certificate(std::shared_ptr<const State> s) : state_(std::move(s)) {}
  std::shared_ptr<const State> state_;
};

// RFC 8122 5 hash-func names OpenSSL can compute: sha-1, sha-224, sha-256, sha-384, sha-512
// (case-insensitive). Null for anything else (md5/md2 are not acceptable, RFC 8122 5).
const EVP_MD* fingerprint_digest(std::string_view algorithm);
// The digest of `cert`'s DER encoding; empty if the algorithm is unknown or OpenSSL fails.
std::vector<uint8_t> certificate_digest(X509* cert, std::string_view algorithm);
// Upper-case hex pairs joined by ':' (RFC 8122 5 "fingerprint").
std::string format_fingerprint(const std::vector<uint8_t>& digest);
// Parses "AB:cd:..." (either case); nullopt unless every pair is two hex digits.
std::optional<std::vector<uint8_t>> parse_fingerprint(std::string_view value);

}  // namespace sfu
