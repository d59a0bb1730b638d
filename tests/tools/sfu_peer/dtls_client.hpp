// The peer's DTLS-SRTP client (RFC 5763, RFC 5764): OpenSSL's DTLS client over memory BIOs (the
// datagrams travel on the peer's one UDP socket beside STUN and SRTP, RFC 7983), a self-signed
// certificate whose fingerprint goes into the offer, and libsrtp sessions keyed from
// SSL_export_keying_material("EXTRACTOR-dtls_srtp"). Deliberately independent of sfu/'s own DTLS
// and SRTP code: the point of this tool is a second implementation facing the server's.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <openssl/ssl.h>
#include <srtp2/srtp.h>

namespace peer {

class DtlsClient {
 public:
  DtlsClient();
  ~DtlsClient();
  DtlsClient(const DtlsClient&) = delete;
  DtlsClient& operator=(const DtlsClient&) = delete;

  const std::string& fingerprint() const { return fingerprint_; }  // "AB:CD:..." (sha-256)
  bool ok() const { return ctx_ && ssl_; }

  void start();                                          // ClientHello
  void on_datagram(const uint8_t* data, size_t len);     // a DTLS record from the server
  void on_timer();                                       // retransmissions (DTLSv1_handle_timeout)
  std::vector<std::vector<uint8_t>> take_outgoing();     // what to send to the server
  bool connected() const { return srtp_ready_; }
  std::string peer_fingerprint() const;  // the server certificate's sha-256, "AB:CD:..."
  bool failed() const { return failed_; }
  std::string error() const { return error_; }

  // SRTP (SRTP_AES128_CM_SHA1_80). In place; `len` in/out; false when libsrtp refuses.
  bool protect_rtp(std::vector<uint8_t>& pkt);
  bool protect_rtcp(std::vector<uint8_t>& pkt);
  bool unprotect(uint8_t* data, int& len, bool rtcp);

 private:
  void after_handshake();
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;
  BIO* wbio_ = nullptr;
  std::string fingerprint_;
  bool srtp_ready_ = false, failed_ = false;
  std::string error_;
  srtp_t out_ = nullptr, in_ = nullptr;
};

}  // namespace peer
