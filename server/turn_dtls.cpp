#include "server/turn_dtls.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "common/datagram_bio.hpp"
#include "common/sockaddr.hpp"
#include "server/log.hpp"
#include "turn/crypto.hpp"

namespace turnpike {

using turn::Endpoint;

struct TurnDtlsListener::Session {
  TurnDtlsListener* owner = nullptr;
  turn::FiveTuple ft;
  SSL* ssl = nullptr;
  DatagramChannel channel;  // the BIO's side: the datagram being read; writes go to sendto()
  bool established = false;
  int64_t created_ms = 0, last_ms = 0;
  int64_t unallocated_since_ms = 0;  // when the session opened or last had an allocation
  ~Session() {
    if (ssl) SSL_free(ssl);
  }
};

namespace {

constexpr int kMtu = 1200;  // conservative: fits IPv6 minimum MTU with room for tunnels


// Each datagram OpenSSL writes for a session is one sendto() to its client.
void send_datagram(const TurnDtlsListener::Session& s, std::span<const uint8_t> datagram) {
  sockaddr_storage ss;
  socklen_t sl = to_sockaddr(s.ft.client, ss);
  ::sendto(s.owner->fd(), datagram.data(), datagram.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&ss), sl);
  // UDP: a datagram the kernel drops is lost like any other
}

// HelloVerifyRequest cookies: HMAC over the client's address with a per-process secret.
unsigned char g_cookie_secret[32];
int session_index = -1;

void cookie_for(SSL* ssl, unsigned char* out, unsigned int* len) {
  auto* s = static_cast<TurnDtlsListener::Session*>(SSL_get_ex_data(ssl, session_index));
  std::string addr = s ? s->ft.client.to_string() : "";
  auto mac = turn::crypto::hmac_sha256(g_cookie_secret, turn::crypto::bytes(addr));
  std::memcpy(out, mac.data(), 16);
  *len = 16;
}

int generate_cookie(SSL* ssl, unsigned char* cookie, unsigned int* len) {
  cookie_for(ssl, cookie, len);
  return 1;
}

int verify_cookie(SSL* ssl, const unsigned char* cookie, unsigned int len) {
  unsigned char want[32];
  unsigned int wl = 0;
  cookie_for(ssl, want, &wl);
  return len == wl && CRYPTO_memcmp(cookie, want, wl) == 0;
}

}  // namespace

SSL_CTX* make_turn_dtls_context(const std::string& cert, const std::string& key) {
  static const bool once = [] {  // one secret per process: a reload must not race the callbacks
    RAND_bytes(g_cookie_secret, sizeof g_cookie_secret);
    session_index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return true;
  }();
  (void)once;
  SSL_CTX* ctx = SSL_CTX_new(DTLS_server_method());
  if (!ctx) throw std::runtime_error("DTLS: cannot create context");
  SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
  SSL_CTX_set_options(ctx, SSL_OP_COOKIE_EXCHANGE | SSL_OP_NO_QUERY_MTU | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_cookie_generate_cb(ctx, generate_cookie);
  SSL_CTX_set_cookie_verify_cb(ctx, verify_cookie);
  SSL_CTX_set_read_ahead(ctx, 1);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    SSL_CTX_free(ctx);
    throw std::runtime_error("DTLS: cannot load tls.cert / tls.key");
  }
  return ctx;
}

TurnDtlsListener::TurnDtlsListener(int fd, const Endpoint& local, ContextSource context, void* context_arg,
                                   turn::Core& core, Limits limits)
    : fd_(fd), local_(local), context_(context), context_arg_(context_arg), core_(core), limits_(limits),
      plain_(65536 + 64) {}

TurnDtlsListener::~TurnDtlsListener() {
  sessions_.clear();
  gate_.reset();
}

void TurnDtlsListener::drop(const Endpoint& client, const char* why, turn::Now now) {
  auto it = sessions_.find(client);
  if (it == sessions_.end()) return;
  log::info("connection_closed", {log::str("client", client.to_string()), log::str("transport", "dtls"),
                                  log::str("reason", why)});
  core_.connection_closed(it->second->ft, now);
  if (limits_.release) limits_.release(client.address);
  sessions_.erase(it);
}

std::unique_ptr<TurnDtlsListener::Session> TurnDtlsListener::new_session(const Endpoint& from) {
  SSL_CTX* ctx = context_(context_arg_);
  if (!ctx) return nullptr;
  auto s = std::make_unique<Session>();
  s->owner = this;
  s->ft = turn::FiveTuple{from, local_, turn::Transport::Dtls};
  s->ssl = SSL_new(ctx);
  SSL_CTX_free(ctx);  // the SSL holds its own reference
  if (!s->ssl) return nullptr;
  s->channel.mtu = kMtu;
  s->channel.sink = [session = s.get()](std::span<const uint8_t> datagram) { send_datagram(*session, datagram); };
  BIO* bio = new_datagram_bio(&s->channel);
  if (!bio) return nullptr;
  SSL_set_bio(s->ssl, bio, bio);
  SSL_set_ex_data(s->ssl, session_index, s.get());
  SSL_set_mtu(s->ssl, kMtu);
  DTLS_set_link_mtu(s->ssl, kMtu);
  SSL_set_accept_state(s->ssl);
  return s;
}

// A datagram from an address without a session goes through the stateless gate (RFC 6347
// 4.2.1): DTLSv1_listen answers a ClientHello without a valid cookie with a HelloVerifyRequest and
// keeps nothing, so spoofed ClientHellos cost one small answer each and never a session. Only a
// ClientHello that returns our cookie, which proves the address, opens one.
TurnDtlsListener::Session* TurnDtlsListener::admit(const Endpoint& from, std::span<const uint8_t> data, turn::Now now) {
  // Only a handshake record (content type 22) can open a session.
  if (data.size() < 14 || data[0] != 22) return nullptr;
  if (!gate_) gate_ = new_session(from);
  if (!gate_) return nullptr;
  gate_->ft.client = from;
  gate_->channel.incoming = data;
  BIO_ADDR* peer = BIO_ADDR_new();
  int rc = DTLSv1_listen(gate_->ssl, peer);
  BIO_ADDR_free(peer);
  gate_->channel.incoming = {};
  ERR_clear_error();
  if (rc < 0) gate_.reset();  // a fatal error leaves the SSL in no usable state: make a new one
  if (rc <= 0) return nullptr;
  if (sessions_.size() >= limits_.max_sessions || (limits_.acquire && !limits_.acquire(from.address))) {
    gate_.reset();
    return nullptr;
  }
  // The gate's SSL has consumed the cookie-bearing ClientHello: it becomes the session.
  gate_->created_ms = gate_->unallocated_since_ms = now.mono_ms;
  Session* s = gate_.get();
  sessions_.emplace(from, std::move(gate_));
  return s;
}

void TurnDtlsListener::on_datagram(const Endpoint& from, std::span<const uint8_t> data, turn::Now now) {
  auto it = sessions_.find(from);
  if (it == sessions_.end()) {
    Session* s = admit(from, data, now);
    if (!s) return;
    s->last_ms = now.mono_ms;
    int rc = SSL_do_handshake(s->ssl);  // sends ServerHello..ServerHelloDone
    int err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(s->ssl, rc);
    ERR_clear_error();
    if (rc != 1 && err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) drop(from, "dtls handshake failed", now);
    return;
  }
  Session& s = *it->second;
  s.last_ms = now.mono_ms;
  s.channel.incoming = data;
  if (!s.established) {
    int rc = SSL_do_handshake(s.ssl);
    if (rc == 1) {
      s.established = true;
    } else {
      int err = SSL_get_error(s.ssl, rc);
      ERR_clear_error();
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) return drop(from, "dtls handshake failed", now);
      // Still handshaking (perhaps after our HelloVerifyRequest); a client that never completes
      // is dropped at the handshake timeout.
      return;
    }
  }
  // Each DTLS record carries one STUN message or ChannelData (RFC 8656 3.1).
  while (true) {
    int n = SSL_read(s.ssl, plain_.data(), static_cast<int>(plain_.size()));
    if (n <= 0) {
      int err = SSL_get_error(s.ssl, n);
      ERR_clear_error();
      if (err == SSL_ERROR_ZERO_RETURN) return drop(from, "close_notify", now);
      if (err != SSL_ERROR_WANT_READ) return drop(from, "dtls read error", now);
      return;
    }
    core_.handle({plain_.data(), static_cast<size_t>(n)}, s.ft, now);
    if (sessions_.find(from) == sessions_.end()) return;
  }
}

void TurnDtlsListener::send(const turn::FiveTuple& ft, std::span<const std::span<const uint8_t>> parts) {
  auto it = sessions_.find(ft.client);
  if (it == sessions_.end() || !it->second->established) return;
  uint8_t buf[65536];
  size_t n = 0;
  for (auto p : parts) {
    if (n + p.size() > sizeof buf) return;
    std::memcpy(buf + n, p.data(), p.size());
    n += p.size();
  }
  if (SSL_write(it->second->ssl, buf, static_cast<int>(n)) <= 0) ERR_clear_error();
}

void TurnDtlsListener::tick(turn::Now now) {
  std::vector<std::pair<Endpoint, const char*>> dead;
  for (auto& [client, s] : sessions_) {
    if (!s->established) {
      DTLSv1_handle_timeout(s->ssl);  // retransmit our flight if its timer ran out
      if (now.mono_ms - s->created_ms > limits_.handshake_timeout_ms) dead.emplace_back(client, "dtls handshake timeout");
      continue;
    }
    bool allocated = core_.find(s->ft) != nullptr;
    if (allocated) s->unallocated_since_ms = now.mono_ms;
    if (limits_.allocate_overdue && limits_.allocate_overdue(s->unallocated_since_ms, now.mono_ms, allocated)) {
      if (limits_.on_allocate_overdue) limits_.on_allocate_overdue();
      dead.emplace_back(client, "no allocation within limits.connection_allocate_timeout");
    } else if (now.mono_ms - s->last_ms > (limits_.idle_timeout ? limits_.idle_timeout() : limits_.idle_timeout_ms) && !allocated) {
      dead.emplace_back(client, "idle without allocation");
    }
  }
  for (auto& [client, why] : dead) drop(client, why, now);
}

void TurnDtlsListener::close_all(turn::Now now) {
  for (auto& [client, s] : sessions_) {
    if (s->established) SSL_shutdown(s->ssl);
    core_.connection_closed(s->ft, now);
    if (limits_.release) limits_.release(client.address);
  }
  sessions_.clear();
  ERR_clear_error();
}

}  // namespace turnpike
