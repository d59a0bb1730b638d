#include "server/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstring>
#include <stdexcept>

namespace turnpike {

namespace {
// RFC 7443: "stun.turn" for TURN, "stun.nat-discovery" for STUN; a client offering neither still
// connects (most TURN clients send no ALPN at all).
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen, void*) {
  for (const char* want : {"stun.turn", "stun.nat-discovery"}) {
    size_t wl = std::strlen(want);
    for (unsigned i = 0; i < inlen;) {
      unsigned l = in[i];
      if (i + 1 + l > inlen) break;
      if (l == wl && std::memcmp(in + i + 1, want, wl) == 0) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(l);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + l;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}
}  // namespace

std::shared_ptr<boost::asio::ssl::context> TlsContexts::load(const std::string& cert, const std::string& key) {
  namespace ssl = boost::asio::ssl;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_cipher_list(native, "ECDHE+AESGCM:ECDHE+CHACHA20");
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_alpn_select_cb(native, select_alpn, nullptr);
  if (SSL_CTX_use_certificate_chain_file(native, cert.c_str()) != 1)
    throw std::runtime_error("tls.cert: cannot load certificate chain '" + cert + "'");
  if (SSL_CTX_use_PrivateKey_file(native, key.c_str(), SSL_FILETYPE_PEM) != 1)
    throw std::runtime_error("tls.key: cannot load private key '" + key + "'");
  if (SSL_CTX_check_private_key(native) != 1) throw std::runtime_error("tls.key: does not match the certificate");
  ERR_clear_error();
  return ctx;
}

}  // namespace turnpike
