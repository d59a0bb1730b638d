#include "sfu/dtls_srtp.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "common/datagram_bio.hpp"

namespace sfu {

const char* to_string(SrtpProfile p) {
  switch (p) {
    case SrtpProfile::None: return "none";
    case SrtpProfile::Aes128CmSha1_80: return "SRTP_AES128_CM_SHA1_80";
    case SrtpProfile::AeadAes128Gcm: return "SRTP_AEAD_AES_128_GCM";
  }
  return "?";
}

SrtpKeyLengths srtp_key_lengths(SrtpProfile p) {
  switch (p) {
    case SrtpProfile::Aes128CmSha1_80: return {16, 14};  // RFC 5764 4.1.2
    case SrtpProfile::AeadAes128Gcm: return {16, 12};    // RFC 7714 12
    case SrtpProfile::None: break;
  }
  return {};
}

std::span<const uint8_t> SrtpKeyingMaterial::client_key() const {
  auto l = srtp_key_lengths(profile);
  return material.size() < 2 * (l.key + l.salt) ? std::span<const uint8_t>{} : std::span(material).subspan(0, l.key);
}
std::span<const uint8_t> SrtpKeyingMaterial::server_key() const {
  auto l = srtp_key_lengths(profile);
  return material.size() < 2 * (l.key + l.salt) ? std::span<const uint8_t>{} : std::span(material).subspan(l.key, l.key);
}
std::span<const uint8_t> SrtpKeyingMaterial::client_salt() const {
  auto l = srtp_key_lengths(profile);
  return material.size() < 2 * (l.key + l.salt) ? std::span<const uint8_t>{}
                                                 : std::span(material).subspan(2 * l.key, l.salt);
}
std::span<const uint8_t> SrtpKeyingMaterial::server_salt() const {
  auto l = srtp_key_lengths(profile);
  return material.size() < 2 * (l.key + l.salt) ? std::span<const uint8_t>{}
                                                 : std::span(material).subspan(2 * l.key + l.salt, l.salt);
}

namespace {
std::vector<uint8_t> concat(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  std::vector<uint8_t> out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}
}  // namespace

std::vector<uint8_t> SrtpKeyingMaterial::client_master() const { return concat(client_key(), client_salt()); }
std::vector<uint8_t> SrtpKeyingMaterial::server_master() const { return concat(server_key(), server_salt()); }

const char* to_string(DtlsState s) {
  switch (s) {
    case DtlsState::Connecting: return "connecting";
    case DtlsState::Connected: return "connected";
    case DtlsState::Failed: return "failed";
    case DtlsState::Closed: return "closed";
  }
  return "?";
}

const char* to_string(DtlsError e) {
  switch (e) {
    case DtlsError::None: return "none";
    case DtlsError::HandshakeFailed: return "handshake failed";
    case DtlsError::HandshakeTimeout: return "handshake timeout";
    case DtlsError::TooManyDatagrams: return "too many handshake datagrams";
    case DtlsError::NoRemoteFingerprint: return "no remote fingerprint";
    case DtlsError::FingerprintMismatch: return "certificate fingerprint mismatch";
    case DtlsError::NoPeerCertificate: return "no client certificate";
    case DtlsError::NoSrtpProfile: return "no common SRTP profile";
    case DtlsError::KeyExportFailed: return "keying material export failed";
    case DtlsError::ProtocolError: return "protocol error";
    case DtlsError::Internal: return "internal error";
  }
  return "?";
}

struct DtlsSrtpTransport::Impl {
  Options opt;
  SSL* ssl = nullptr;
  DtlsState state = DtlsState::Connecting;
  DtlsError error = DtlsError::None;
  DtlsError pending_error = DtlsError::None;  // set by a callback, reported when OpenSSL gives up
  int64_t created_ms = 0;
  size_t handshake_datagrams = 0;
  turnpike::DatagramChannel channel;  // the BIO's side: the datagram being read, and queue()
  std::vector<Datagram> outgoing;
  uint64_t dropped = 0;
  const EVP_MD* remote_md = nullptr;
  std::vector<uint8_t> remote_digest;
  bool peer_verified = false;
  std::optional<SrtpKeyingMaterial> keys;

  ~Impl() {
    if (keys) OPENSSL_cleanse(keys->material.data(), keys->material.size());
    SSL_free(ssl);  // frees the BIO too
  }

  // Every datagram OpenSSL writes is queued whole for the caller, up to opt.max_outgoing.
  void queue(std::span<const uint8_t> datagram) {
    if (outgoing.size() >= opt.max_outgoing) {
      ++dropped;  // lost like any datagram; the peer retransmits
    } else {
      outgoing.emplace_back(datagram.begin(), datagram.end());
    }
  }
  void fail(DtlsError e) {
    if (state == DtlsState::Connecting || state == DtlsState::Connected) {
      state = DtlsState::Failed;
      error = e;
    }
  }
  void handshake();
  void read_records();
  void connected();
};

namespace {

constexpr unsigned kMaxRetransmitUs = 60'000'000;  // RFC 6347 4.2.4.1: at least 60 s

int impl_index() {
  static const int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return idx;
}

DtlsSrtpTransport::Impl* impl_of(SSL* ssl) {
  return static_cast<DtlsSrtpTransport::Impl*>(SSL_get_ex_data(ssl, impl_index()));
}

// RFC 6347 4.2.4.1: the retransmission timer starts at initial_retransmit_ms and doubles.
unsigned timer_cb(SSL* ssl, unsigned previous_us) {
  auto* t = impl_of(ssl);
  unsigned initial = t ? t->opt.initial_retransmit_ms * 1000u : 1'000'000u;
  if (previous_us == 0) return initial;
  return previous_us >= kMaxRetransmitUs / 2 ? kMaxRetransmitUs : previous_us * 2;
}

// Replaces chain verification: a WebRTC certificate is self-signed and trusted only because its
// digest is the one the peer's SDP named (RFC 8122 5, RFC 8827 6.5). Possession of its key is
// proven by the CertificateVerify message.
int verify_cert(X509_STORE_CTX* store, void*) {
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* t = ssl ? impl_of(ssl) : nullptr;
  X509* leaf = X509_STORE_CTX_get0_cert(store);
  if (!t || !leaf) return 0;
  if (!t->remote_md || t->remote_digest.empty()) {
    t->pending_error = DtlsError::NoRemoteFingerprint;
    X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(leaf, t->remote_md, digest, &len) != 1 || len != t->remote_digest.size() ||
      CRYPTO_memcmp(digest, t->remote_digest.data(), len) != 0) {
    t->pending_error = DtlsError::FingerprintMismatch;
    X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
    return 0;
  }
  t->peer_verified = true;
  X509_STORE_CTX_set_error(store, X509_V_OK);
  return 1;
}

// RFC 5764 4.1.1/4.1.3: refuse a ClientHello without use_srtp or without a profile we support,
// with handshake_failure, rather than complete a DTLS session that can carry no media.
int client_hello_cb(SSL* ssl, int* alert, void*) {
  auto* t = impl_of(ssl);
  const unsigned char* ext = nullptr;
  size_t len = 0;
  bool ok = false;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_use_srtp, &ext, &len) == 1 && len >= 2) {
    size_t n = static_cast<size_t>(ext[0] << 8 | ext[1]);  // SRTPProtectionProfiles length
    if (n % 2 == 0 && n + 2 <= len) {
      for (size_t i = 2; i + 1 < 2 + n; i += 2) {
        uint16_t id = static_cast<uint16_t>(ext[i] << 8 | ext[i + 1]);
        if (id == static_cast<uint16_t>(SrtpProfile::Aes128CmSha1_80) ||
            id == static_cast<uint16_t>(SrtpProfile::AeadAes128Gcm))
          ok = true;
      }
    }
  }
  if (ok) return SSL_CLIENT_HELLO_SUCCESS;
  if (t) t->pending_error = DtlsError::NoSrtpProfile;
  *alert = SSL_AD_HANDSHAKE_FAILURE;
  return SSL_CLIENT_HELLO_ERROR;
}

bool is_dtls_record(std::span<const uint8_t> d) {
  // RFC 7983 7: DTLS content types occupy first bytes 20..63; 13 is the record header size.
  return d.size() >= 13 && d[0] >= 20 && d[0] <= 63;
}

}  // namespace

DtlsSrtpContext::DtlsSrtpContext(Certificate cert) : cert_(std::move(cert)) {
  ctx_ = SSL_CTX_new(DTLS_server_method());
  auto fail = [this](const char* what) {
    SSL_CTX_free(ctx_);
    ctx_ = nullptr;
    ERR_clear_error();
    throw std::runtime_error(std::string("DTLS-SRTP: ") + what);
  };
  if (!ctx_) fail("cannot create context");
  // RFC 8827 6.5: DTLS 1.2; ECDHE with AEAD suites, ECDSA for our P-256 certificate.
  if (SSL_CTX_set_min_proto_version(ctx_, DTLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx_, DTLS1_2_VERSION) != 1)
    fail("DTLS 1.2");
  if (SSL_CTX_set_cipher_list(
          ctx_, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305") != 1)
    fail("cipher list");
  if (SSL_CTX_set1_groups_list(ctx_, "X25519:P-256:P-384") != 1) fail("groups");
  SSL_CTX_set_options(ctx_, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                                SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
  static const unsigned char sid_ctx[] = "turnpike-sfu";
  SSL_CTX_set_session_id_context(ctx_, sid_ctx, sizeof sid_ctx - 1);
  SSL_CTX_set_read_ahead(ctx_, 1);
  if (SSL_CTX_use_certificate(ctx_, cert_.x509()) != 1 || SSL_CTX_use_PrivateKey(ctx_, cert_.key()) != 1 ||
      SSL_CTX_check_private_key(ctx_) != 1)
    fail("certificate");
  // RFC 5764 4.1.2, RFC 7714 14.2, our preference first. Beware: returns 0 on success.
  if (SSL_CTX_set_tlsext_use_srtp(ctx_, "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80") != 0) fail("use_srtp");
  // Ask for the client's certificate (CertificateRequest) and fail without one; verify_cert decides.
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx_, verify_cert, nullptr);
  SSL_CTX_set_client_hello_cb(ctx_, client_hello_cb, nullptr);
  (void)impl_index();
}

DtlsSrtpContext::~DtlsSrtpContext() { SSL_CTX_free(ctx_); }

DtlsSrtpTransport::DtlsSrtpTransport(const DtlsSrtpContext& ctx, int64_t now_ms)
    : DtlsSrtpTransport(ctx, now_ms, Options{}) {}

DtlsSrtpTransport::DtlsSrtpTransport(const DtlsSrtpContext& ctx, int64_t now_ms, Options options)
    : impl_(std::make_unique<Impl>()) {
  Impl& t = *impl_;
  t.opt = options;
  t.opt.max_outgoing = std::max<size_t>(t.opt.max_outgoing, 1);
  t.opt.initial_retransmit_ms = std::clamp(t.opt.initial_retransmit_ms, 50u, kMaxRetransmitUs / 1000u);
  t.created_ms = now_ms;
  t.ssl = ctx.native() ? SSL_new(ctx.native()) : nullptr;  // holds its own reference to the SSL_CTX
  t.channel.mtu = t.opt.mtu;
  t.channel.sink = [&t](std::span<const uint8_t> datagram) { t.queue(datagram); };
  BIO* bio = t.ssl ? turnpike::new_datagram_bio(&t.channel) : nullptr;
  if (!bio) {
    ERR_clear_error();
    t.fail(DtlsError::Internal);
    return;
  }
  SSL_set_bio(t.ssl, bio, bio);
  SSL_set_ex_data(t.ssl, impl_index(), &t);
  SSL_set_mtu(t.ssl, static_cast<long>(t.opt.mtu));
  DTLS_set_link_mtu(t.ssl, static_cast<long>(t.opt.mtu));
  DTLS_set_timer_cb(t.ssl, timer_cb);
  SSL_set_accept_state(t.ssl);
  ERR_clear_error();
}

DtlsSrtpTransport::~DtlsSrtpTransport() = default;
DtlsSrtpTransport::DtlsSrtpTransport(DtlsSrtpTransport&&) noexcept = default;
DtlsSrtpTransport& DtlsSrtpTransport::operator=(DtlsSrtpTransport&&) noexcept = default;

bool DtlsSrtpTransport::set_remote_fingerprint(std::string_view algorithm, std::string_view value) {
  const EVP_MD* md = fingerprint_digest(algorithm);
  auto digest = parse_fingerprint(value);
  if (!md || !digest || digest->size() != static_cast<size_t>(EVP_MD_get_size(md))) return false;
  impl_->remote_md = md;
  impl_->remote_digest = std::move(*digest);
  return true;
}

void DtlsSrtpTransport::Impl::handshake() {
  int rc = SSL_do_handshake(ssl);
  if (rc == 1) {
    ERR_clear_error();
    connected();
    return;
  }
  int err = SSL_get_error(ssl, rc);
  unsigned long reason = ERR_GET_REASON(ERR_peek_error());
  ERR_clear_error();
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
  if (pending_error != DtlsError::None) return fail(pending_error);
  if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) return fail(DtlsError::NoPeerCertificate);
  fail(DtlsError::HandshakeFailed);
}

void DtlsSrtpTransport::Impl::connected() {
  // Failing after OpenSSL completed the handshake: tell the client with close_notify.
  auto refuse = [this](DtlsError e) {
    SSL_shutdown(ssl);
    ERR_clear_error();
    fail(e);
  };
  // The client certificate was required and checked in verify_cert; make sure it really was.
  if (!peer_verified || !SSL_get0_peer_certificate(ssl)) return refuse(DtlsError::NoPeerCertificate);
  const SRTP_PROTECTION_PROFILE* p = SSL_get_selected_srtp_profile(ssl);
  auto profile = p ? static_cast<SrtpProfile>(p->id) : SrtpProfile::None;
  auto lengths = srtp_key_lengths(profile);
  if (lengths.key == 0) return refuse(DtlsError::NoSrtpProfile);
  SrtpKeyingMaterial k;
  k.profile = profile;
  k.material.resize(2 * (lengths.key + lengths.salt));
  // RFC 5764 4.2: the TLS exporter (RFC 5705) with this label and no context.
  static constexpr char kLabel[] = "EXTRACTOR-dtls_srtp";
  if (SSL_export_keying_material(ssl, k.material.data(), k.material.size(), kLabel, sizeof kLabel - 1, nullptr, 0,
                                 0) != 1) {
    OPENSSL_cleanse(k.material.data(), k.material.size());
    return refuse(DtlsError::KeyExportFailed);
  }
  keys = std::move(k);
  state = DtlsState::Connected;
}

void DtlsSrtpTransport::Impl::read_records() {
  // No application data is used (media is SRTP beside DTLS, RFC 5764 4.1); records are drained so
  // that alerts, close_notify and retransmitted Finished messages are processed.
  unsigned char buf[2048];
  while (state == DtlsState::Connected) {
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n > 0) continue;
    int err = SSL_get_error(ssl, n);
    ERR_clear_error();
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
    if (err == SSL_ERROR_ZERO_RETURN) {  // close_notify (RFC 5246 7.2.1): answer it and stop
      SSL_shutdown(ssl);
      ERR_clear_error();
      state = DtlsState::Closed;
      return;
    }
    fail(DtlsError::ProtocolError);
  }
}

DtlsState DtlsSrtpTransport::on_datagram(std::span<const uint8_t> in, int64_t now_ms) {
  Impl& t = *impl_;
  if (t.state != DtlsState::Connecting && t.state != DtlsState::Connected) return t.state;
  if (!is_dtls_record(in)) return t.state;  // not DTLS: leaves OpenSSL untouched
  if (t.state == DtlsState::Connecting) {
    if (now_ms - t.created_ms >= t.opt.handshake_timeout_ms) {
      t.fail(DtlsError::HandshakeTimeout);
      return t.state;
    }
    if (++t.handshake_datagrams > t.opt.max_handshake_datagrams) {
      t.fail(DtlsError::TooManyDatagrams);
      return t.state;
    }
  }
  t.channel.incoming = in;
  if (t.state == DtlsState::Connecting) t.handshake();
  if (t.state == DtlsState::Connected) t.read_records();
  t.channel.incoming = {};
  return t.state;
}

DtlsState DtlsSrtpTransport::tick(int64_t now_ms) {
  Impl& t = *impl_;
  if (t.state != DtlsState::Connecting) return t.state;
  if (now_ms - t.created_ms >= t.opt.handshake_timeout_ms) {
    t.fail(DtlsError::HandshakeTimeout);
    return t.state;
  }
  // Retransmits our last flight if OpenSSL's timer ran out (RFC 6347 4.2.4); -1 after too many.
  int rc = DTLSv1_handle_timeout(t.ssl);
  ERR_clear_error();
  if (rc < 0) t.fail(DtlsError::HandshakeTimeout);
  return t.state;
}

std::optional<int64_t> DtlsSrtpTransport::next_timeout_ms(int64_t now_ms) const {
  const Impl& t = *impl_;
  if (t.state != DtlsState::Connecting) return std::nullopt;
  int64_t deadline = t.created_ms + t.opt.handshake_timeout_ms;
  timeval tv{};
  if (DTLSv1_get_timeout(t.ssl, &tv) == 1) {
    int64_t left_ms = static_cast<int64_t>(tv.tv_sec) * 1000 + (tv.tv_usec + 999) / 1000;
    deadline = std::min(deadline, now_ms + left_ms);
  }
  return std::max(deadline, now_ms);
}

void DtlsSrtpTransport::close() {
  Impl& t = *impl_;
  if (t.state == DtlsState::Connected) {
    SSL_shutdown(t.ssl);  // close_notify
    ERR_clear_error();
  }
  if (t.state == DtlsState::Connecting || t.state == DtlsState::Connected) t.state = DtlsState::Closed;
}

std::vector<DtlsSrtpTransport::Datagram> DtlsSrtpTransport::take_outgoing() {
  std::vector<Datagram> out;
  out.swap(impl_->outgoing);
  return out;
}

bool DtlsSrtpTransport::has_outgoing() const { return !impl_->outgoing.empty(); }
uint64_t DtlsSrtpTransport::dropped_outgoing() const { return impl_->dropped; }
DtlsState DtlsSrtpTransport::state() const { return impl_->state; }
DtlsError DtlsSrtpTransport::error() const { return impl_->error; }
const SrtpKeyingMaterial* DtlsSrtpTransport::keying_material() const {
  return impl_->keys ? &*impl_->keys : nullptr;
}
SrtpProfile DtlsSrtpTransport::profile() const { return impl_->keys ? impl_->keys->profile : SrtpProfile::None; }

}  // namespace sfu
