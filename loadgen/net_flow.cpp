// The driver's addresses and OpenSSL contexts (net_driver.hpp): getaddrinfo for the server, the
// TLS and DTLS client contexts (no verification unless --ca, since loadgen targets test nodes).
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <time.h>

#include <cstring>

#include <openssl/err.h>

#include "common/sockaddr.hpp"
#include "loadgen/net_driver.hpp"

namespace loadgen::net {

int64_t steady_now_us() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

bool resolve(const std::string& host, uint16_t port, bool stream, int family, SockAddr& out, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = stream ? SOCK_STREAM : SOCK_DGRAM;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) {
    error = "cannot resolve " + host + ": " + gai_strerror(rc);
    return false;
  }
  const addrinfo* pick = nullptr;
  for (const addrinfo* ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    if (!pick || (family != AF_UNSPEC && ai->ai_family == family && pick->ai_family != family)) pick = ai;
  }
  if (pick) {
    std::memcpy(&out.ss, pick->ai_addr, pick->ai_addrlen);
    out.len = pick->ai_addrlen;
  } else {
    error = "no IPv4 or IPv6 address for " + host;
  }
  freeaddrinfo(res);
  return pick != nullptr;
}

SockAddr to_sockaddr(const turn::IpAddress& a, uint16_t port) {
  SockAddr s;
  s.len = turnpike::to_sockaddr(turn::Endpoint{a, port}, s.ss);
  return s;
}

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "no error detail";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

namespace {

SSL_CTX* make_ctx(const SSL_METHOD* method, const std::string& ca_file, std::string& error) {
  SSL_CTX* ctx = SSL_CTX_new(method);
  if (!ctx) {
    error = "SSL_CTX_new: " + openssl_error();
    return nullptr;
  }
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (ca_file.empty()) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  } else {
    if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1) {
      error = "--ca " + ca_file + ": " + openssl_error();
      SSL_CTX_free(ctx);
      return nullptr;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  return ctx;
}

}  // namespace

bool TlsContexts::init(bool want_tls, bool want_dtls, const std::string& ca_file, std::string& error) {
  if (want_tls && !(tls = make_ctx(TLS_client_method(), ca_file, error))) return false;
  if (want_dtls && !(dtls = make_ctx(DTLS_client_method(), ca_file, error))) return false;
  return true;
}

TlsContexts::~TlsContexts() {
  if (tls) SSL_CTX_free(tls);
  if (dtls) SSL_CTX_free(dtls);
}

}  // namespace loadgen::net
