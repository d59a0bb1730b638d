// SRTP and SRTCP (RFC 3711, RFC 7714) through libsrtp2, keyed from DTLS-SRTP (RFC 5764 4.2); outbound
// RTP through OpenSSL instead (srtp_sender.hpp: Debian's libsrtp2 encrypts through NSS, slowly).
// protect/unprotect work in place and return an error code; nothing throws or allocates per packet
// (libsrtp allocates a stream context once per new SSRC).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>

struct srtp_ctx_t_;  // libsrtp's srtp_t is a pointer to this

namespace sfu {

class SrtpRtpSender;  // srtp_sender.hpp

// DTLS-SRTP protection profile ids (RFC 5764 4.1.2, RFC 7714 14.2), as negotiated in use_srtp and
// as OpenSSL's SSL_get_selected_srtp_profile()->id gives them. Plain ids rather than an enum so that
// sfu/dtls_srtp.hpp's SrtpProfile converts with a static_cast and the two headers can be included
// together.
namespace srtp_profile {
constexpr uint16_t kAes128CmSha1_80 = 0x0001;  // AES128_CM_HMAC_SHA1_80: 16-byte key, 14-byte salt, 10-byte tag
constexpr uint16_t kAeadAes128Gcm = 0x0007;    // AEAD_AES_128_GCM: 16-byte key, 12-byte salt, 16-byte tag
constexpr uint16_t kAeadAes256Gcm = 0x0008;    // AEAD_AES_256_GCM: 32-byte key, 12-byte salt, 16-byte tag
}  // namespace srtp_profile
bool srtp_profile_supported(uint16_t profile);
// Master key + master salt of one direction (what SrtpSession::create takes); 0 if unsupported.
size_t srtp_master_length(uint16_t profile);
// Bytes to export from the DTLS session (RFC 5764 4.2, label "EXTRACTOR-dtls_srtp"): two keys and
// two salts, 2 * srtp_master_length(); 0 if unsupported.
size_t srtp_keying_material_length(uint16_t profile);

// Most bytes protect_rtp / protect_rtcp add (no MKI): the RTP auth tag (10 or 16), and for RTCP
// the E bit + 31-bit SRTCP index word before the tag (4 + 16).
constexpr size_t kSrtpMaxRtpOverhead = 16;
constexpr size_t kSrtpMaxRtcpOverhead = 20;
// Replay window of each inbound RTP stream (libsrtp's maximum is 32767). RTCP's is libsrtp's fixed 128.
constexpr unsigned long kSrtpReplayWindow = 8192;

enum class SrtpError : uint8_t {
  None,
  BadParam,     // unsupported profile, wrong key material length, session not initialised
  NoRoom,       // the buffer cannot hold the packet plus the trailer
  Malformed,    // too short or not an RTP/RTCP header libsrtp can process
  AuthFail,     // authentication tag did not verify (tampered, or the wrong key)
  Replay,       // replayed packet, or too old for the replay window
  Failed,       // any other libsrtp failure
};
const char* to_string(SrtpError e);

// One libsrtp session (one direction of one DTLS-SRTP association), for any SSRC: inbound
// sessions use ssrc_any_inbound, outbound ones ssrc_any_outbound. Move-only; not thread-safe (one
// per shard, like the connection it belongs to).
class SrtpSession {
 public:
  enum class Direction : uint8_t { Inbound, Outbound };

  SrtpSession() = default;
  SrtpSession(SrtpSession&& o) noexcept;
  SrtpSession& operator=(SrtpSession&& o) noexcept;
  SrtpSession(const SrtpSession&) = delete;
  SrtpSession& operator=(const SrtpSession&) = delete;
  ~SrtpSession();

  // key_and_salt: master key then master salt, srtp_master_length(profile) bytes.
  // Outbound sessions allow resending a packet with the same sequence number (libsrtp's
  // allow_repeat_tx), which is safe only for identical packets, as NACK resends are.
  static SrtpError create(uint16_t profile, std::span<const uint8_t> key_and_salt, Direction dir, SrtpSession& out);

  bool valid() const { return ctx_ != nullptr; }
  Direction direction() const { return dir_; }
  uint16_t profile() const { return profile_; }

  // In place: buffer holds the packet in its first `length` bytes and has room for the trailer
  // (kSrtpMaxRtpOverhead / kSrtpMaxRtcpOverhead); on success length is the new size.
  SrtpError protect_rtp(std::span<uint8_t> buffer, size_t& length);
  SrtpError unprotect_rtp(std::span<uint8_t> buffer, size_t& length);
  SrtpError protect_rtcp(std::span<uint8_t> buffer, size_t& length);
  SrtpError unprotect_rtcp(std::span<uint8_t> buffer, size_t& length);

 private:
  srtp_ctx_t_* ctx_ = nullptr;
  struct SenderDeleter {
    void operator()(SrtpRtpSender* s) const;
  };
  std::unique_ptr<SrtpRtpSender, SenderDeleter> rtp_sender_;  // outbound RTP without libsrtp (srtp_sender.hpp)
  Direction dir_ = Direction::Inbound;
  uint16_t profile_ = 0;
};

// The two sessions of one DTLS-SRTP association, from the exported keying material
// client_write_key | server_write_key | client_write_salt | server_write_salt (RFC 5764 4.2).
// As DTLS server we encrypt with the server's key and decrypt with the client's; as client the
// reverse.
struct SrtpSessionPair {
  SrtpSession inbound;   // unprotect what the peer sends
  SrtpSession outbound;  // protect what we send
};
SrtpError make_srtp_sessions(uint16_t profile, std::span<const uint8_t> keying_material, bool we_are_dtls_server,
                             SrtpSessionPair& out);
// The same from an enum whose values are the profile ids (sfu/dtls_srtp.hpp's SrtpProfile).
template <typename Profile>
  requires std::is_enum_v<Profile>
SrtpError make_srtp_sessions(Profile profile, std::span<const uint8_t> keying_material, bool we_are_dtls_server,
                             SrtpSessionPair& out) {
  return make_srtp_sessions(static_cast<uint16_t>(profile), keying_material, we_are_dtls_server, out);
}

// libsrtp's srtp_init(), once per process (std::call_once); create() calls it. Returns its result.
SrtpError srtp_library_init();

}  // namespace sfu
