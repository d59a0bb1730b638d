#include "sfu/srtp.hpp"

#include <openssl/crypto.h>
#include <srtp2/srtp.h>

#include <array>
#include <climits>
#include <cstring>
#include <mutex>

#include "sfu/rtp.hpp"
#include "sfu/srtp_sender.hpp"

namespace sfu {

const char* to_string(SrtpError e) {
  switch (e) {
    case SrtpError::None: return "none";
    case SrtpError::BadParam: return "bad parameter";
    case SrtpError::NoRoom: return "no room for the SRTP trailer";
    case SrtpError::Malformed: return "malformed packet";
    case SrtpError::AuthFail: return "authentication failure";
    case SrtpError::Replay: return "replay";
    case SrtpError::Failed: return "failed";
  }
  return "?";
}

namespace {

size_t key_length(uint16_t p) { return p == srtp_profile::kAeadAes256Gcm ? 32 : 16; }
size_t salt_length(uint16_t p) { return p == srtp_profile::kAes128CmSha1_80 ? SRTP_SALT_LEN : SRTP_AEAD_SALT_LEN; }

}  // namespace

bool srtp_profile_supported(uint16_t p) {
  return p == srtp_profile::kAes128CmSha1_80 || p == srtp_profile::kAeadAes128Gcm || p == srtp_profile::kAeadAes256Gcm;
}
size_t srtp_master_length(uint16_t p) { return srtp_profile_supported(p) ? key_length(p) + salt_length(p) : 0; }
size_t srtp_keying_material_length(uint16_t p) { return 2 * srtp_master_length(p); }

namespace {

size_t rtp_tag_length(uint16_t p) { return p == srtp_profile::kAes128CmSha1_80 ? 10 : 16; }
// SRTCP: E bit + index word, then the tag (RFC 3711 3.4, RFC 7714 9.3).
size_t rtcp_trailer_length(uint16_t p) { return 4 + rtp_tag_length(p); }

SrtpError from_libsrtp(srtp_err_status_t s) {
  switch (s) {
    case srtp_err_status_ok: return SrtpError::None;
    case srtp_err_status_auth_fail: return SrtpError::AuthFail;
    // SRTCP whose E bit disagrees with the policy (unencrypted where encryption is required):
    // not authentic as far as this session is concerned.
    case srtp_err_status_cant_check: return SrtpError::AuthFail;
    case srtp_err_status_replay_fail: case srtp_err_status_replay_old: case srtp_err_status_pkt_idx_old:
      return SrtpError::Replay;
    case srtp_err_status_bad_param: return SrtpError::BadParam;
    case srtp_err_status_parse_err: return SrtpError::Malformed;
    default: return SrtpError::Failed;
  }
}

std::once_flag g_init_once;
srtp_err_status_t g_init_status = srtp_err_status_fail;

}  // namespace

SrtpError srtp_library_init() {
  std::call_once(g_init_once, [] { g_init_status = srtp_init(); });
  return from_libsrtp(g_init_status);
}

SrtpSession::SrtpSession(SrtpSession&& o) noexcept
    : ctx_(o.ctx_), rtp_sender_(std::move(o.rtp_sender_)), dir_(o.dir_), profile_(o.profile_) {
  o.ctx_ = nullptr;
}

SrtpSession& SrtpSession::operator=(SrtpSession&& o) noexcept {
  if (this != &o) {
    if (ctx_) srtp_dealloc(ctx_);
    ctx_ = o.ctx_;
    rtp_sender_ = std::move(o.rtp_sender_);
    dir_ = o.dir_;
    profile_ = o.profile_;
    o.ctx_ = nullptr;
  }
  return *this;
}

SrtpSession::~SrtpSession() {
  if (ctx_) srtp_dealloc(ctx_);
}

void SrtpSession::SenderDeleter::operator()(SrtpRtpSender* s) const { std::default_delete<SrtpRtpSender>()(s); }

SrtpError SrtpSession::create(uint16_t p, std::span<const uint8_t> key_and_salt, Direction dir, SrtpSession& out) {
  if (!srtp_profile_supported(p) || key_and_salt.size() != srtp_master_length(p)) return SrtpError::BadParam;
  if (auto e = srtp_library_init(); e != SrtpError::None) return e;

  srtp_policy_t policy;
  std::memset(&policy, 0, sizeof policy);
  switch (p) {
    case srtp_profile::kAes128CmSha1_80:
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
      break;
    case srtp_profile::kAeadAes128Gcm:
      srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
      srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
      break;
    case srtp_profile::kAeadAes256Gcm:
      srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtp);
      srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtcp);
      break;
  }
  std::array<uint8_t, 64> key{};  // libsrtp reads key then salt from one buffer and copies them
  std::memcpy(key.data(), key_and_salt.data(), key_and_salt.size());
  policy.ssrc.type = dir == Direction::Inbound ? ssrc_any_inbound : ssrc_any_outbound;
  policy.key = key.data();
  policy.window_size = kSrtpReplayWindow;
  policy.allow_repeat_tx = dir == Direction::Outbound ? 1 : 0;
  policy.next = nullptr;

  srtp_t ctx = nullptr;
  const srtp_err_status_t s = srtp_create(&ctx, &policy);
  OPENSSL_cleanse(key.data(), key.size());
  // Outbound RTP through OpenSSL (libsrtp through NSS if that cannot be set up).
  auto sender = dir == Direction::Outbound ? SrtpRtpSender::create(p, key_and_salt) : nullptr;
  if (s != srtp_err_status_ok) {
    if (ctx) srtp_dealloc(ctx);
    return from_libsrtp(s) == SrtpError::None ? SrtpError::Failed : from_libsrtp(s);
  }
  out = SrtpSession{};
  out.ctx_ = ctx;
  out.rtp_sender_.reset(sender.release());
  out.dir_ = dir;
  out.profile_ = p;
  return SrtpError::None;
}

SrtpError SrtpSession::protect_rtp(std::span<uint8_t> buffer, size_t& length) {
  if (!ctx_ || dir_ != Direction::Outbound) return SrtpError::BadParam;
  if (length > buffer.size() || length > INT_MAX - 64) return SrtpError::BadParam;
  RtpPacket h;
  if (RtpPacket::parse_header(buffer.first(length), h) != RtpError::None) return SrtpError::Malformed;
  if (buffer.size() - length < rtp_tag_length(profile_)) return SrtpError::NoRoom;
  if (rtp_sender_) return rtp_sender_->protect(buffer, length, h.header_size, h.ssrc, h.sequence);
  int len = static_cast<int>(length);
  const srtp_err_status_t s = srtp_protect(ctx_, buffer.data(), &len);
  if (s != srtp_err_status_ok) return from_libsrtp(s);
  length = static_cast<size_t>(len);
  return SrtpError::None;
}

SrtpError SrtpSession::unprotect_rtp(std::span<uint8_t> buffer, size_t& length) {
  if (!ctx_ || dir_ != Direction::Inbound) return SrtpError::BadParam;
  if (length > buffer.size() || length > INT_MAX) return SrtpError::BadParam;
  RtpPacket h;
  if (RtpPacket::parse_header(buffer.first(length), h) != RtpError::None) return SrtpError::Malformed;
  if (length - h.header_size < rtp_tag_length(profile_)) return SrtpError::Malformed;
  int len = static_cast<int>(length);
  const srtp_err_status_t s = srtp_unprotect(ctx_, buffer.data(), &len);
  if (s != srtp_err_status_ok) return from_libsrtp(s);
  length = static_cast<size_t>(len);
  return SrtpError::None;
}

SrtpError SrtpSession::protect_rtcp(std::span<uint8_t> buffer, size_t& length) {
  if (!ctx_ || dir_ != Direction::Outbound) return SrtpError::BadParam;
  if (length > buffer.size() || length > INT_MAX - 64) return SrtpError::BadParam;
  if (length < 8 || (buffer[0] >> 6) != 2) return SrtpError::Malformed;
  if (buffer.size() - length < rtcp_trailer_length(profile_)) return SrtpError::NoRoom;
  int len = static_cast<int>(length);
  const srtp_err_status_t s = srtp_protect_rtcp(ctx_, buffer.data(), &len);
  if (s != srtp_err_status_ok) return from_libsrtp(s);
  length = static_cast<size_t>(len);
  return SrtpError::None;
}

SrtpError SrtpSession::unprotect_rtcp(std::span<uint8_t> buffer, size_t& length) {
  if (!ctx_ || dir_ != Direction::Inbound) return SrtpError::BadParam;
  if (length > buffer.size() || length > INT_MAX) return SrtpError::BadParam;
  // The 8 clear bytes (header and sender SSRC), then the trailer.
  if (length < 8 + rtcp_trailer_length(profile_) || (buffer[0] >> 6) != 2) return SrtpError::Malformed;
  int len = static_cast<int>(length);
  const srtp_err_status_t s = srtp_unprotect_rtcp(ctx_, buffer.data(), &len);
  if (s != srtp_err_status_ok) return from_libsrtp(s);
  length = static_cast<size_t>(len);
  return SrtpError::None;
}

SrtpError make_srtp_sessions(uint16_t p, std::span<const uint8_t> km, bool we_are_dtls_server, SrtpSessionPair& out) {
  if (!srtp_profile_supported(p)) return SrtpError::BadParam;
  const size_t kl = key_length(p), sl = salt_length(p);
  if (km.size() != 2 * (kl + sl)) return SrtpError::BadParam;
  // RFC 5764 4.2: client_write_key | server_write_key | client_write_salt | server_write_salt.
  std::array<uint8_t, 64> client{}, server{};
  std::memcpy(client.data(), km.data(), kl);
  std::memcpy(client.data() + kl, km.data() + 2 * kl, sl);
  std::memcpy(server.data(), km.data() + kl, kl);
  std::memcpy(server.data() + kl, km.data() + 2 * kl + sl, sl);
  const std::span<const uint8_t> c{client.data(), kl + sl}, s{server.data(), kl + sl};
  SrtpSessionPair pair;
  SrtpError e = SrtpSession::create(p, we_are_dtls_server ? c : s, SrtpSession::Direction::Inbound, pair.inbound);
  if (e == SrtpError::None)
    e = SrtpSession::create(p, we_are_dtls_server ? s : c, SrtpSession::Direction::Outbound, pair.outbound);
  OPENSSL_cleanse(client.data(), client.size());
  OPENSSL_cleanse(server.data(), server.size());
  if (e == SrtpError::None) out = std::move(pair);
  return e;
}

}  // namespace sfu
