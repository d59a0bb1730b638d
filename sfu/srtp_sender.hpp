// Outbound SRTP for RTP (RFC 3711 3.3 and 4.3, RFC 7714 8-11) through OpenSSL's EVP ciphers: what
// the SFU sends to every subscriber. SrtpSession (srtp.hpp) uses it for protect_rtp of outbound
// sessions and keeps libsrtp for the rest: Debian's libsrtp2 encrypts through NSS, which sets up a
// cipher context (hash-table lookups, locks, allocations) per packet, half the SFU's CPU at 1 x 200
// subscribers (docs/benchmarks.md). The packet index follows libsrtp's sender exactly (RFC 3711
// Appendix A guess; a resend of a recent index is allowed, one older than the replay window is
// refused), so the output is what libsrtp would have sent; tests check it against libsrtp inbound.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "sfu/srtp.hpp"

struct evp_cipher_ctx_st;  // OpenSSL's EVP_CIPHER_CTX
struct evp_mac_ctx_st;     // OpenSSL's EVP_MAC_CTX

namespace sfu {

class SrtpRtpSender {
 public:
  static constexpr size_t kMaxStreams = 4096;  // SSRCs per session (libsrtp: one stream each)

  // key_and_salt: master key then master salt (srtp_master_length(profile) bytes). nullptr if the
  // profile is unsupported or OpenSSL refuses.
  static std::unique_ptr<SrtpRtpSender> create(uint16_t profile, std::span<const uint8_t> key_and_salt);
  ~SrtpRtpSender();
  SrtpRtpSender(const SrtpRtpSender&) = delete;
  SrtpRtpSender& operator=(const SrtpRtpSender&) = delete;

  // In place, as SrtpSession::protect_rtp: the plaintext packet is the first `length` bytes of
  // buffer, its header (fixed, CSRCs, extension block) `header_size` bytes; the tag is appended.
  SrtpError protect(std::span<uint8_t> buffer, size_t& length, size_t header_size, uint32_t ssrc, uint16_t seq);

 private:
  SrtpRtpSender() = default;
  bool init(uint16_t profile, std::span<const uint8_t> key_and_salt);
  // RFC 3711 3.3.1: the 48-bit packet index (ROC << 16 | SEQ) for this SSRC; false: too old.
  bool index_of(uint32_t ssrc, uint16_t seq, uint64_t& index);
  SrtpError protect_gcm(uint8_t* p, size_t& length, size_t header_size, uint32_t ssrc, uint64_t index);
  SrtpError protect_cm(uint8_t* p, size_t& length, size_t header_size, uint32_t ssrc, uint64_t index);

  struct Stream {
    uint32_t ssrc = 0;
    uint64_t index = 0;  // highest index sent
  };
  bool gcm_ = false;
  size_t tag_length_ = 0;
  std::array<uint8_t, 14> salt_{};  // session salt: 14 bytes (AES-CM) or 12 (GCM)
  evp_cipher_ctx_st* cipher_ = nullptr;
  evp_mac_ctx_st* mac_ = nullptr;  // HMAC-SHA1 (AES-CM only)
  std::vector<Stream> streams_;
  size_t last_ = 0;  // the stream used last (consecutive packets are mostly one stream's)
};

}  // namespace sfu
