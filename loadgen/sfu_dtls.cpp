// The synthetic participant's DTLS-SRTP client (sfu_dtls.hpp).
#include "loadgen/sfu_dtls.hpp"

#include <openssl/err.h>

#include <stdexcept>
#include <utility>

namespace loadgen::sfuload {

DtlsClientContext::DtlsClientContext(sfu::Certificate cert) : cert_(std::move(cert)) {
  ctx_ = SSL_CTX_new(DTLS_client_method());
  if (!ctx_) throw std::runtime_error("DTLS: cannot create the client context");
  bool ok = SSL_CTX_set_min_proto_version(ctx_, DTLS1_2_VERSION) == 1 &&
            SSL_CTX_use_certificate(ctx_, cert_.x509()) == 1 && SSL_CTX_use_PrivateKey(ctx_, cert_.key()) == 1 &&
            SSL_CTX_set_tlsext_use_srtp(ctx_, "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80") == 0;  // 0 is success
  if (!ok) {
    SSL_CTX_free(ctx_);
    throw std::runtime_error("DTLS: OpenSSL refused the client configuration");
  }
  // As a browser: any certificate is accepted in the handshake; its fingerprint is checked after.
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
}

DtlsClientContext::~DtlsClientContext() { SSL_CTX_free(ctx_); }

DtlsClient::DtlsClient(const DtlsClientContext& ctx, std::string fingerprint) : fingerprint_(std::move(fingerprint)) {
  channel_.sink = [this](std::span<const uint8_t> d) {
    if (out_.size() < kMaxQueued) out_.emplace_back(d.begin(), d.end());
  };
  ssl_ = SSL_new(ctx.native());
  BIO* bio = ssl_ ? turnpike::new_datagram_bio(&channel_) : nullptr;
  if (!bio) {
    state_ = State::Failed;
    error_ = "dtls_internal";
    return;
  }
  SSL_set_bio(ssl_, bio, bio);
  SSL_set_options(ssl_, SSL_OP_NO_QUERY_MTU);
  SSL_set_mtu(ssl_, 1200);
  SSL_set_connect_state(ssl_);
}

DtlsClient::~DtlsClient() { SSL_free(ssl_); }

void DtlsClient::start() {
  if (state_ != State::Idle) return;
  state_ = State::Connecting;
  step();
}

void DtlsClient::datagram(std::span<const uint8_t> records) {
  if (state_ != State::Connecting && state_ != State::Connected) return;
  channel_.incoming = records;
  step();
  channel_.incoming = {};
}

void DtlsClient::tick() {
  if (state_ != State::Connecting) return;
  if (DTLSv1_handle_timeout(ssl_) < 0) {
    state_ = State::Failed;
    error_ = "dtls_timeout";
  }
  ERR_clear_error();
}

// One handshake step, or (connected) reading whatever arrived: alerts, close_notify.
void DtlsClient::step() {
  int rc = 0;
  if (state_ == State::Connecting) {
    rc = SSL_do_handshake(ssl_);
  } else {
    unsigned char buf[256];
    rc = SSL_read(ssl_, buf, sizeof buf);
  }
  if (rc <= 0) {
    int err = SSL_get_error(ssl_, rc);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      state_ = State::Failed;
      error_ = err == SSL_ERROR_ZERO_RETURN ? "dtls_closed" : "dtls_handshake";
    }
  } else if (state_ == State::Connecting) {
    state_ = peer_matches() ? State::Connected : State::Failed;
    if (state_ == State::Failed) error_ = "dtls_fingerprint";
  }
  ERR_clear_error();
}

// RFC 8122 5: the SFU's certificate is the one its answer named.
bool DtlsClient::peer_matches() {
  X509* peer = SSL_get1_peer_certificate(ssl_);
  if (!peer) return false;
  auto digest = sfu::certificate_digest(peer, "sha-256");
  X509_free(peer);
  auto want = sfu::parse_fingerprint(fingerprint_);
  return want && !digest.empty() && *want == digest;
}

std::vector<std::vector<uint8_t>> DtlsClient::take_outgoing() { return std::exchange(out_, {}); }

bool DtlsClient::srtp(sfu::SrtpSessionPair& out) {
  if (state_ != State::Connected) return false;
  const SRTP_PROTECTION_PROFILE* profile = SSL_get_selected_srtp_profile(ssl_);
  if (!profile) return false;
  auto id = static_cast<uint16_t>(profile->id);
  std::vector<uint8_t> km(sfu::srtp_keying_material_length(id));
  if (km.empty()) return false;
  static constexpr char kLabel[] = "EXTRACTOR-dtls_srtp";  // RFC 5764 4.2
  if (SSL_export_keying_material(ssl_, km.data(), km.size(), kLabel, sizeof kLabel - 1, nullptr, 0, 0) != 1) return false;
  return sfu::make_srtp_sessions(id, km, false, out) == sfu::SrtpError::None;
}

}  // namespace loadgen::sfuload
