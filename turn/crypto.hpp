// Cryptographic primitives STUN needs, from OpenSSL 3 (and zlib's CRC-32 for FINGERPRINT).
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <optional>
#include <string>
#include <string_view>

namespace turn::crypto {

using Sha1 = std::array<uint8_t, 20>;
using Sha256 = std::array<uint8_t, 32>;
using Md5 = std::array<uint8_t, 16>;

// HMAC over the concatenation of `data` and `more` (so a rewritten header and a body need no copy).
// nullopt when OpenSSL fails: a verifier must then refuse (fail closed), never compare a default.
std::optional<Sha1> try_hmac_sha1(std::span<const uint8_t> key, std::span<const uint8_t> data,
                                  std::span<const uint8_t> more = {});
std::optional<Sha256> try_hmac_sha256(std::span<const uint8_t> key, std::span<const uint8_t> data,
                                      std::span<const uint8_t> more = {});
// For signing only (what we send): on an OpenSSL error the MAC is random, so it verifies nowhere.
// Verify with verify_mac() or the try_ forms, never by comparing these.
Sha1 hmac_sha1(std::span<const uint8_t> key, std::span<const uint8_t> data, std::span<const uint8_t> more = {});
Sha256 hmac_sha256(std::span<const uint8_t> key, std::span<const uint8_t> data, std::span<const uint8_t> more = {});
// Whether `received` equals the first received.size() bytes of a MAC that was computed (fails
// closed: a MAC that could not be computed matches nothing); constant time (CRYPTO_memcmp).
template <size_t N>
bool verify_mac(const std::optional<std::array<uint8_t, N>>& computed, std::span<const uint8_t> received);
Md5 md5(std::string_view data);
Sha256 sha256(std::string_view data);
uint32_t crc32(std::span<const uint8_t> data);
std::string base64(std::span<const uint8_t> data);
// Constant-time comparison, so integrity checks leak no timing.
bool equal(std::span<const uint8_t> a, std::span<const uint8_t> b);
// Fills `out` from OpenSSL's CSPRNG; throws only if the CSPRNG fails (start-up).
void random_bytes(std::span<uint8_t> out);

// Test seam: while set, every HMAC on this thread fails as an OpenSSL error would.
void fail_hmac_for_testing(bool on);

template <size_t N>
bool verify_mac(const std::optional<std::array<uint8_t, N>>& computed, std::span<const uint8_t> received) {
  if (!computed || received.empty() || received.size() > N) return false;
  return equal(std::span<const uint8_t>(computed->data(), received.size()), received);
}

inline std::span<const uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace turn::crypto
