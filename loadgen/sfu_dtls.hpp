// The DTLS-SRTP client side (RFC 5764, RFC 6347) of a synthetic SFU participant, as a browser runs
// it: DTLS 1.2 with our self-signed certificate (sfu/certificate.hpp), use_srtp offering
// AEAD_AES_128_GCM then AES128_CM_SHA1_80, driven through common/datagram_bio.hpp (the BIO the SFU's
// own DTLS server uses), sans-I/O. The server's certificate is checked against the answer's
// a=fingerprint (RFC 8122 5); the keys become sfu/srtp.hpp's sessions (we are the DTLS client).
#pragma once
#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/datagram_bio.hpp"
#include "sfu/certificate.hpp"
#include "sfu/srtp.hpp"

namespace loadgen::sfuload {

// The SSL_CTX every participant's client is made from (one per process): DTLS 1.2, our
// certificate, use_srtp. Throws std::runtime_error if OpenSSL refuses (start-up only).
class DtlsClientContext {
 public:
  explicit DtlsClientContext(sfu::Certificate cert);
  ~DtlsClientContext();
  DtlsClientContext(const DtlsClientContext&) = delete;
  DtlsClientContext& operator=(const DtlsClientContext&) = delete;
  const sfu::Certificate& certificate() const { return cert_; }
  SSL_CTX* native() const { return ctx_; }

 private:
  sfu::Certificate cert_;
  SSL_CTX* ctx_ = nullptr;
};

class DtlsClient {
 public:
  enum class State : uint8_t { Idle, Connecting, Connected, Failed };
  static constexpr size_t kMaxQueued = 32;  // datagrams waiting for the caller; more are dropped (DTLS retransmits)

  // `fingerprint`: the answer's a=fingerprint value ("AB:CD:..."), sha-256.
  DtlsClient(const DtlsClientContext& ctx, std::string fingerprint);
  ~DtlsClient();
  DtlsClient(const DtlsClient&) = delete;
  DtlsClient& operator=(const DtlsClient&) = delete;

  void start();                                    // the ClientHello
  void datagram(std::span<const uint8_t> records);  // DTLS records from the SFU (RFC 7983: 20..63)
  void tick();                                     // retransmissions (RFC 6347 4.2.4)
  std::vector<std::vector<uint8_t>> take_outgoing();
  State state() const { return state_; }
  const std::string& error() const { return error_; }
  // Once Connected: the SRTP sessions (inbound: what the SFU sends). False if the keys cannot be made.
  bool srtp(sfu::SrtpSessionPair& out);

 private:
  void step();
  bool peer_matches();
  turnpike::DatagramChannel channel_;
  std::vector<std::vector<uint8_t>> out_;
  SSL* ssl_ = nullptr;
  std::string fingerprint_;
  State state_ = State::Idle;
  std::string error_;
};

}  // namespace loadgen::sfuload
