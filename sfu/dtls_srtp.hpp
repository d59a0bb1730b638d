// DTLS-SRTP (RFC 5764) on the SFU's media port, sans-I/O: one DtlsSrtpTransport per participant, an
// OpenSSL DTLS 1.2 (RFC 6347) server session driven through common/datagram_bio.hpp. Datagrams in
// come from the caller (RFC 7983 demux: first byte 20..63); every write OpenSSL makes (a flight's
// records packed up to the MTU, or one message when it retransmits) is queued as one datagram for
// the caller to send. We answer a=setup:passive, so we are always the DTLS server; no cookie
// exchange (ICE has already proved the peer's address). The client must present a certificate
// whose fingerprint matches its SDP's a=fingerprint (RFC 8122 5, RFC 8827 6.5); on success the
// negotiated SRTP profile and keying material (RFC 5764 4.2) are exposed for libsrtp.
#pragma once
#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "sfu/certificate.hpp"

namespace sfu {

// RFC 5764 4.1.2 and RFC 7714 14.2 protection profile ids.
enum class SrtpProfile : uint16_t { None = 0, Aes128CmSha1_80 = 0x0001, AeadAes128Gcm = 0x0007 };
const char* to_string(SrtpProfile p);

// RFC 5764 4.1.2: AES128_CM_HMAC_SHA1_80 16+14; RFC 7714 12: AEAD_AES_128_GCM 16+12.
struct SrtpKeyLengths {
  size_t key = 0, salt = 0;
};
SrtpKeyLengths srtp_key_lengths(SrtpProfile p);

// RFC 5764 4.2: the exporter output, 2 * (key + salt) bytes laid out
// client_write_key | server_write_key | client_write_salt | server_write_salt.
// We are the DTLS server: protect what we send with server_master(), unprotect what the browser
// sends with client_master().
struct SrtpKeyingMaterial {
  SrtpProfile profile = SrtpProfile::None;
  std::vector<uint8_t> material;

  std::span<const uint8_t> client_key() const;
  std::span<const uint8_t> server_key() const;
  std::span<const uint8_t> client_salt() const;
  std::span<const uint8_t> server_salt() const;
  // key || salt, the layout libsrtp's srtp_policy_t.key expects (30 bytes for CM, 28 for GCM).
  std::vector<uint8_t> client_master() const;
  std::vector<uint8_t> server_master() const;
};

// The SSL_CTX every transport is made from: our certificate, DTLS 1.2 only, ECDHE-ECDSA AEAD
// suites, use_srtp offering AEAD_AES_128_GCM then AES128_CM_SHA1_80 (our preference order),
// a client certificate required and checked by fingerprint. One per process (or shard); transports
// hold their own reference to the SSL_CTX, so they may outlive it.
class DtlsSrtpContext {
 public:
  // Throws std::runtime_error if OpenSSL refuses any of it (start-up only).
  explicit DtlsSrtpContext(Certificate cert);
  ~DtlsSrtpContext();
  DtlsSrtpContext(const DtlsSrtpContext&) = delete;
  DtlsSrtpContext& operator=(const DtlsSrtpContext&) = delete;

  const Certificate& certificate() const { return cert_; }
  SSL_CTX* native() const { return ctx_; }

 private:
  Certificate cert_;
  SSL_CTX* ctx_ = nullptr;
};

enum class DtlsState : uint8_t { Connecting, Connected, Failed, Closed };
const char* to_string(DtlsState s);

// Why a transport failed (or None).
enum class DtlsError : uint8_t {
  None,
  HandshakeFailed,      // a fatal alert sent or received, or a protocol error, during the handshake
  HandshakeTimeout,     // not connected within Options::handshake_timeout_ms, or retransmissions ran out
  TooManyDatagrams,     // more than Options::max_handshake_datagrams datagrams before connecting
  NoRemoteFingerprint,  // the client's certificate arrived before set_remote_fingerprint()
  FingerprintMismatch,  // RFC 8122 5: the certificate is not the one the SDP named
  NoPeerCertificate,    // the client sent no certificate
  NoSrtpProfile,        // RFC 5764 4.1.1: the client offered no profile we support
  KeyExportFailed,      // SSL_export_keying_material failed
  ProtocolError,        // a fatal alert or error after connecting
  Internal,             // OpenSSL could not create the session
};
const char* to_string(DtlsError e);

class DtlsSrtpTransport {
 public:
  struct Options {
    int64_t handshake_timeout_ms = 30'000;   // caller's clock, from construction
    // RFC 6347 4.2.4.1; doubles per retransmission, up to 60 s. At least 50: OpenSSL counts a timer
    // with under 15 ms left as expired and, on every read, retransmits until it is not.
    unsigned initial_retransmit_ms = 1000;
    size_t max_outgoing = 64;               // datagrams queued for the caller; beyond, new ones are dropped
    size_t max_handshake_datagrams = 256;   // datagrams accepted before connecting
    size_t mtu = 1200;                      // bytes per datagram we write
  };
  using Datagram = std::vector<uint8_t>;

  // Never throws: if OpenSSL cannot make the session the transport starts out Failed (Internal).
  // Movable (a moved-from transport may only be destroyed or assigned to); not copyable.
  DtlsSrtpTransport(const DtlsSrtpContext& ctx, int64_t now_ms);
  DtlsSrtpTransport(const DtlsSrtpContext& ctx, int64_t now_ms, Options options);
  ~DtlsSrtpTransport();
  DtlsSrtpTransport(DtlsSrtpTransport&&) noexcept;
  DtlsSrtpTransport& operator=(DtlsSrtpTransport&&) noexcept;

  // The remote a=fingerprint (RFC 8122 5), e.g. ("sha-256", "AB:CD:..."). False (and nothing
  // changes) if the hash function is unsupported or the value malformed. Set it before the
  // client's certificate arrives; a later call replaces it.
  bool set_remote_fingerprint(std::string_view algorithm, std::string_view value);

  // One UDP datagram of DTLS records from the participant. Returns the state afterwards.
  DtlsState on_datagram(std::span<const uint8_t> in, int64_t now_ms);
  // Retransmission (RFC 6347 4.2.4) and the handshake deadline. Call when next_timeout_ms() is due,
  // or simply every 100-500 ms. Returns the state afterwards. The retransmission timer is
  // OpenSSL's, on its own clock (gettimeofday): no OpenSSL API lets now_ms drive it, and OpenSSL
  // also retransmits by itself when a read finds it expired. now_ms governs the handshake deadline.
  DtlsState tick(int64_t now_ms);
  // When tick() next has work: now_ms + what OpenSSL's retransmission timer has left, or the
  // handshake deadline; nullopt once connected or finished.
  std::optional<int64_t> next_timeout_ms(int64_t now_ms) const;
  // Sends close_notify if connected; the state becomes Closed.
  void close();

  // The datagrams produced since the last call, oldest first; each is one UDP datagram.
  std::vector<Datagram> take_outgoing();
  bool has_outgoing() const;
  // Datagrams dropped because the queue held max_outgoing.
  uint64_t dropped_outgoing() const;

  DtlsState state() const;
  DtlsError error() const;
  // Set once Connected (and kept after close_notify); null before.
  const SrtpKeyingMaterial* keying_material() const;
  SrtpProfile profile() const;

  struct Impl;  // public for OpenSSL's callbacks

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sfu
