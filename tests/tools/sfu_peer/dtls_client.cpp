#include "dtls_client.hpp"

#include <cstring>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

namespace peer {
namespace {

constexpr size_t kSrtpKey = 16, kSrtpSalt = 14;  // SRTP_AES128_CM_SHA1_80 (RFC 5764 4.1.2)

std::string openssl_error(const char* what) {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  return std::string(what) + ": " + buf;
}

// A fresh P-256 key and a self-signed certificate, as browsers make for WebRTC (RFC 8827 6.5).
std::string sha256_fingerprint(X509* x) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  std::string out;
  if (!x || X509_digest(x, EVP_sha256(), md, &n) != 1) return out;
  static const char* hex = "0123456789ABCDEF";
  for (unsigned i = 0; i < n; ++i) {
    if (i) out += ':';
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

bool make_certificate(SSL_CTX* ctx, std::string& fingerprint) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  if (!key || !x) return false;
  X509_set_version(x, 2);
  uint64_t serial = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof serial);
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial >> 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -86400);
  X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("sfu-peer"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_set_pubkey(x, key);
  bool ok = X509_sign(x, key, EVP_sha256()) > 0 && SSL_CTX_use_certificate(ctx, x) == 1 &&
            SSL_CTX_use_PrivateKey(ctx, key) == 1;
  if (ok) fingerprint = sha256_fingerprint(x);
  ok = ok && !fingerprint.empty();
  X509_free(x);
  EVP_PKEY_free(key);
  return ok;
}

srtp_t make_session(const uint8_t* key, const uint8_t* salt, bool outbound) {
  srtp_policy_t policy;
  std::memset(&policy, 0, sizeof policy);
  srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
  srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
  unsigned char master[kSrtpKey + kSrtpSalt];
  std::memcpy(master, key, kSrtpKey);
  std::memcpy(master + kSrtpKey, salt, kSrtpSalt);
  policy.key = master;
  policy.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
  policy.window_size = 1024;
  policy.allow_repeat_tx = 1;
  srtp_t s = nullptr;
  if (srtp_create(&s, &policy) != srtp_err_status_ok) return nullptr;
  return s;
}

}  // namespace

DtlsClient::DtlsClient() {
  static bool srtp_initialized = srtp_init() == srtp_err_status_ok;
  if (!srtp_initialized) {
    error_ = "srtp_init failed";
    return;
  }
  ctx_ = SSL_CTX_new(DTLS_client_method());
  if (!ctx_ || !make_certificate(ctx_, fingerprint_)) {
    error_ = openssl_error("certificate");
    return;
  }
  SSL_CTX_set_min_proto_version(ctx_, DTLS1_2_VERSION);
  // The server's certificate is self-signed: verified against the answer's fingerprint (by the caller).
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
  if (SSL_CTX_set_tlsext_use_srtp(ctx_, "SRTP_AES128_CM_SHA1_80") != 0) {  // 0 is success here
    error_ = openssl_error("use_srtp");
    return;
  }
  ssl_ = SSL_new(ctx_);
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(rbio_, -1);
  SSL_set_bio(ssl_, rbio_, wbio_);
  SSL_set_options(ssl_, SSL_OP_NO_QUERY_MTU);
  SSL_set_mtu(ssl_, 1200);
  SSL_set_connect_state(ssl_);
}

DtlsClient::~DtlsClient() {
  if (out_) srtp_dealloc(out_);
  if (in_) srtp_dealloc(in_);
  if (ssl_) SSL_free(ssl_);  // frees the BIOs
  if (ctx_) SSL_CTX_free(ctx_);
}

void DtlsClient::start() {
  if (!ok()) return;
  SSL_do_handshake(ssl_);
}

void DtlsClient::on_datagram(const uint8_t* data, size_t len) {
  if (!ok() || failed_) return;
  BIO_write(rbio_, data, static_cast<int>(len));
  if (!srtp_ready_) {
    int r = SSL_do_handshake(ssl_);
    if (r == 1) {
      after_handshake();
    } else {
      int e = SSL_get_error(ssl_, r);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        failed_ = true;
        error_ = openssl_error("handshake");
      }
    }
    return;
  }
  unsigned char sink[2048];
  while (SSL_read(ssl_, sink, sizeof sink) > 0) {
  }
}

void DtlsClient::on_timer() {
  if (ok() && !srtp_ready_ && !failed_) DTLSv1_handle_timeout(ssl_);
}

std::vector<std::vector<uint8_t>> DtlsClient::take_outgoing() {
  std::vector<std::vector<uint8_t>> out;
  if (!ok()) return out;
  size_t pending = BIO_ctrl_pending(wbio_);
  if (pending == 0) return out;
  std::vector<uint8_t> dg(pending);
  int n = BIO_read(wbio_, dg.data(), static_cast<int>(pending));
  if (n > 0) {
    dg.resize(static_cast<size_t>(n));
    out.push_back(std::move(dg));
  }
  return out;
}

void DtlsClient::after_handshake() {
  SRTP_PROTECTION_PROFILE* profile = SSL_get_selected_srtp_profile(ssl_);
  if (!profile || profile->id != SRTP_AES128_CM_SHA1_80) {
    failed_ = true;
    error_ = "the server chose no SRTP_AES128_CM_SHA1_80 profile";
    return;
  }
  // RFC 5764 4.2: client key, server key, client salt, server salt.
  uint8_t km[2 * (kSrtpKey + kSrtpSalt)];
  static const char label[] = "EXTRACTOR-dtls_srtp";
  if (SSL_export_keying_material(ssl_, km, sizeof km, label, sizeof label - 1, nullptr, 0, 0) != 1) {
    failed_ = true;
    error_ = openssl_error("export_keying_material");
    return;
  }
  const uint8_t* client_key = km;
  const uint8_t* server_key = km + kSrtpKey;
  const uint8_t* client_salt = km + 2 * kSrtpKey;
  const uint8_t* server_salt = km + 2 * kSrtpKey + kSrtpSalt;
  out_ = make_session(client_key, client_salt, true);
  in_ = make_session(server_key, server_salt, false);
  if (!out_ || !in_) {
    failed_ = true;
    error_ = "srtp_create failed";
    return;
  }
  srtp_ready_ = true;
}

std::string DtlsClient::peer_fingerprint() const {
  if (!ssl_) return {};
  X509* x = SSL_get1_peer_certificate(ssl_);
  std::string fp = sha256_fingerprint(x);
  X509_free(x);
  return fp;
}

bool DtlsClient::protect_rtp(std::vector<uint8_t>& pkt) {
  if (!srtp_ready_) return false;
  int len = static_cast<int>(pkt.size());
  pkt.resize(pkt.size() + SRTP_MAX_TRAILER_LEN);
  if (srtp_protect(out_, pkt.data(), &len) != srtp_err_status_ok) return false;
  pkt.resize(static_cast<size_t>(len));
  return true;
}

bool DtlsClient::protect_rtcp(std::vector<uint8_t>& pkt) {
  if (!srtp_ready_) return false;
  int len = static_cast<int>(pkt.size());
  pkt.resize(pkt.size() + SRTP_MAX_TRAILER_LEN);
  if (srtp_protect_rtcp(out_, pkt.data(), &len) != srtp_err_status_ok) return false;
  pkt.resize(static_cast<size_t>(len));
  return true;
}

bool DtlsClient::unprotect(uint8_t* data, int& len, bool rtcp) {
  if (!srtp_ready_) return false;
  auto st = rtcp ? srtp_unprotect_rtcp(in_, data, &len) : srtp_unprotect(in_, data, &len);
  return st == srtp_err_status_ok;
}

}  // namespace peer
