#include "turn/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <zlib.h>

#include <algorithm>
#include <optional>
#include <random>
#include <stdexcept>

namespace turn::crypto {

namespace {
thread_local bool t_fail_hmac = false;

// EVP_MAC is fetched once; contexts are per call (requests are not the hot path). Any OpenSSL
// error, or a MAC of the wrong length, is nullopt.
template <size_t N>
std::optional<std::array<uint8_t, N>> hmac(const char* digest, std::span<const uint8_t> key,
                                           std::span<const uint8_t> a, std::span<const uint8_t> b) {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (!mac || t_fail_hmac) return std::nullopt;
  std::array<uint8_t, N> out{};
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  if (!ctx) return std::nullopt;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", const_cast<char*>(digest), 0),
                         OSSL_PARAM_construct_end()};
  size_t len = 0;
  static const uint8_t empty_key = 0;
  const uint8_t* k = key.empty() ? &empty_key : key.data();
  bool ok = EVP_MAC_init(ctx, k, key.size(), params) == 1 && EVP_MAC_update(ctx, a.data(), a.size()) == 1 &&
            (b.empty() || EVP_MAC_update(ctx, b.data(), b.size()) == 1) &&
            EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1 && len == N;
  EVP_MAC_CTX_free(ctx);
  if (!ok) return std::nullopt;
  return out;
}

template <size_t N>
std::array<uint8_t, N> or_random(std::optional<std::array<uint8_t, N>> m) {
  if (m) return *m;
  std::array<uint8_t, N> out{};
  if (RAND_bytes(out.data(), static_cast<int>(N)) != 1) {
    std::random_device rd;  // OpenSSL is failing altogether: still never a predictable MAC
    for (auto& b : out) b = static_cast<uint8_t>(rd());
  }
  return out;
}
}  // namespace

void fail_hmac_for_testing(bool on) { t_fail_hmac = on; }

std::optional<Sha1> try_hmac_sha1(std::span<const uint8_t> key, std::span<const uint8_t> data,
                                  std::span<const uint8_t> more) {
  return hmac<20>("SHA1", key, data, more);
}

std::optional<Sha256> try_hmac_sha256(std::span<const uint8_t> key, std::span<const uint8_t> data,
                                      std::span<const uint8_t> more) {
  return hmac<32>("SHA256", key, data, more);
}

Sha1 hmac_sha1(std::span<const uint8_t> key, std::span<const uint8_t> data, std::span<const uint8_t> more) {
  return or_random(hmac<20>("SHA1", key, data, more));
}

Sha256 hmac_sha256(std::span<const uint8_t> key, std::span<const uint8_t> data, std::span<const uint8_t> more) {
  return or_random(hmac<32>("SHA256", key, data, more));
}

Md5 md5(std::string_view data) {
  Md5 out{};
  unsigned len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_md5(), nullptr);
  return out;
}

Sha256 sha256(std::string_view data) {
  Sha256 out{};
  unsigned len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

uint32_t crc32(std::span<const uint8_t> data) {
  // zlib's CRC-32 (the same ISO-HDLC polynomial as FINGERPRINT, RFC 8489 14.7) works on words, not
  // bytes: several times faster than a byte table on the Send-indication path.
  uLong crc = ::crc32(0L, Z_NULL, 0);
  size_t off = 0;
  while (off < data.size()) {
    uInt n = static_cast<uInt>(std::min<size_t>(data.size() - off, 1u << 30));
    crc = ::crc32(crc, data.data() + off, n);
    off += n;
  }
  return static_cast<uint32_t>(crc);
}

std::string base64(std::span<const uint8_t> data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(), static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

bool equal(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void random_bytes(std::span<uint8_t> out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) throw std::runtime_error("RAND_bytes failed");
}

}  // namespace turn::crypto
