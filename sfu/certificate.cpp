#include "sfu/certificate.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>

#include <cctype>
#include <ctime>
#include <stdexcept>

namespace sfu {

Certificate::State::~State() {
  X509_free(cert);
  EVP_PKEY_free(key);
}

namespace {
[[noreturn]] void fail(const char* what) {
  ERR_clear_error();
  throw std::runtime_error(std::string("certificate: ") + what);
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Certificate Certificate::generate(int64_t unix_now_s) {
  auto s = std::make_shared<State>();
  // RFC 8827 6.5: ECDSA with P-256 is the one algorithm every WebRTC endpoint supports.
  s->key = EVP_EC_gen("P-256");
  if (!s->key) fail("cannot generate a P-256 key");
  s->cert = X509_new();
  if (!s->cert) fail("X509_new");
  X509* x = s->cert;
  if (X509_set_version(x, X509_VERSION_3) != 1) fail("version");
  // RFC 5280 4.1.2.2: a positive serial of at most 20 octets; random so that restarts differ.
  BIGNUM* bn = BN_new();
  bool serial_ok = bn && BN_rand(bn, 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
                   BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != nullptr;
  BN_free(bn);
  if (!serial_ok) fail("serial");
  const auto now = static_cast<time_t>(unix_now_s);
  if (!ASN1_TIME_adj(X509_getm_notBefore(x), now, -30, 0) || !ASN1_TIME_adj(X509_getm_notAfter(x), now, 365, 0))
    fail("validity");
  X509_NAME* name = X509_get_subject_name(x);
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("turnpike"), -1,
                                 -1, 0) != 1 ||
      X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, s->key) != 1)
    fail("subject");
  if (X509_sign(x, s->key, EVP_sha256()) <= 0) fail("signing");
  auto digest = certificate_digest(x, "sha-256");
  if (digest.size() != 32) fail("fingerprint");
  s->fingerprint = "sha-256 " + format_fingerprint(digest);
  return Certificate(std::move(s));
}

const EVP_MD* fingerprint_digest(std::string_view algorithm) {
  // RFC 8122 5 / IANA "Hash Function Textual Names".
  if (iequals(algorithm, "sha-256")) return EVP_sha256();
  if (iequals(algorithm, "sha-384")) return EVP_sha384();
  if (iequals(algorithm, "sha-512")) return EVP_sha512();
  if (iequals(algorithm, "sha-1")) return EVP_sha1();
  if (iequals(algorithm, "sha-224")) return EVP_sha224();
  return nullptr;
}

std::vector<uint8_t> certificate_digest(X509* cert, std::string_view algorithm) {
  const EVP_MD* md = fingerprint_digest(algorithm);
  if (!md || !cert) return {};
  unsigned char buf[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, md, buf, &len) != 1) {  // over the DER encoding (RFC 8122 5)
    ERR_clear_error();
    return {};
  }
  return {buf, buf + len};
}

std::string format_fingerprint(const std::vector<uint8_t>& digest) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(digest.size() * 3);
  for (size_t i = 0; i < digest.size(); ++i) {
    if (i) out.push_back(':');
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xF]);
  }
  return out;
}

std::optional<std::vector<uint8_t>> parse_fingerprint(std::string_view v) {
  // 2 hex digits, then (":" 2 hex digits)*.
  if (v.size() < 2 || (v.size() + 1) % 3 != 0) return std::nullopt;
  std::vector<uint8_t> out;
  out.reserve((v.size() + 1) / 3);
  for (size_t i = 0; i < v.size(); i += 3) {
    int hi = hex_value(v[i]), lo = hex_value(v[i + 1]);
    if (hi < 0 || lo < 0 || (i + 2 < v.size() && v[i + 2] != ':')) return std::nullopt;
    out.push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return out;
}

}  // namespace sfu
