// Outbound SRTP for RTP through OpenSSL EVP (sfu/srtp_sender.hpp).
#include "sfu/srtp_sender.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <climits>
#include <cstring>

#include "turn/byte_order.hpp"

namespace sfu {

namespace be = ::turn::be;

namespace {

constexpr uint8_t kLabelRtpEncryption = 0x00;  // RFC 3711 4.3.2
constexpr uint8_t kLabelRtpAuth = 0x01;
constexpr uint8_t kLabelRtpSalt = 0x02;
constexpr size_t kAuthKeyLength = 20;  // HMAC-SHA1 (RFC 3711 4.2.1)
constexpr uint32_t kSeqMedian = 1u << 15;
constexpr int64_t kSeqMax = 1 << 16;

struct CipherCtx {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ~CipherCtx() { EVP_CIPHER_CTX_free(ctx); }
  CipherCtx() = default;
  CipherCtx(const CipherCtx&) = delete;
  CipherCtx& operator=(const CipherCtx&) = delete;
};

// RFC 3711 4.3.1 and 4.3.3 with a key derivation rate of 0: AES-CM under the master key, counter
// block (master salt, padded to 14 bytes, XOR label << 48) || 0x0000, its keystream truncated.
// RFC 7714 11: the same for GCM's 12-byte master salt (libsrtp pads it with zeros).
bool derive(std::span<const uint8_t> master_key, std::span<const uint8_t> master_salt, uint8_t label,
            std::span<uint8_t> out) {
  std::array<uint8_t, 16> iv{};
  std::memcpy(iv.data(), master_salt.data(), std::min<size_t>(master_salt.size(), 14));
  iv[7] ^= label;
  CipherCtx c;
  const EVP_CIPHER* aes = master_key.size() == 32 ? EVP_aes_256_ctr() : EVP_aes_128_ctr();
  std::array<uint8_t, 32> zeros{};
  int len = 0;
  bool ok = c.ctx && out.size() <= zeros.size() &&
            EVP_EncryptInit_ex(c.ctx, aes, nullptr, master_key.data(), iv.data()) == 1 &&
            EVP_EncryptUpdate(c.ctx, out.data(), &len, zeros.data(), static_cast<int>(out.size())) == 1;
  return ok && static_cast<size_t>(len) == out.size();
}

// RFC 3711 Appendix A, as libsrtp's srtp_index_guess: the index nearest the highest one sent.
int64_t index_guess(uint64_t local, uint16_t seq, uint64_t& guess) {
  const auto local_roc = static_cast<uint32_t>(local >> 16);
  const auto local_seq = static_cast<uint16_t>(local);
  uint32_t roc = local_roc;
  int64_t difference = static_cast<int64_t>(seq) - local_seq;
  if (local_seq < kSeqMedian) {
    if (difference > static_cast<int64_t>(kSeqMedian)) {
      roc = local_roc - 1;
      difference -= kSeqMax;
    }
  } else if (local_seq - kSeqMedian > seq) {
    roc = local_roc + 1;
    difference += kSeqMax;
  }
  guess = (static_cast<uint64_t>(roc) << 16 | seq) & 0xFFFF'FFFF'FFFFull;
  return difference;
}

}  // namespace

std::unique_ptr<SrtpRtpSender> SrtpRtpSender::create(uint16_t profile, std::span<const uint8_t> key_and_salt) {
  if (!srtp_profile_supported(profile) || key_and_salt.size() != srtp_master_length(profile)) return nullptr;
  std::unique_ptr<SrtpRtpSender> s(new SrtpRtpSender());
  if (!s->init(profile, key_and_salt)) return nullptr;
  return s;
}

SrtpRtpSender::~SrtpRtpSender() {
  EVP_CIPHER_CTX_free(cipher_);
  EVP_MAC_CTX_free(mac_);
  OPENSSL_cleanse(salt_.data(), salt_.size());
}

bool SrtpRtpSender::init(uint16_t profile, std::span<const uint8_t> key_and_salt) {
  gcm_ = profile != srtp_profile::kAes128CmSha1_80;
  tag_length_ = gcm_ ? 16 : 10;
  const size_t key_length = profile == srtp_profile::kAeadAes256Gcm ? 32 : 16;
  const auto master_key = key_and_salt.first(key_length);
  const auto master_salt = key_and_salt.subspan(key_length);
  std::array<uint8_t, 32> key{};
  std::array<uint8_t, kAuthKeyLength> auth{};
  bool ok = derive(master_key, master_salt, kLabelRtpEncryption, std::span(key).first(key_length)) &&
            derive(master_key, master_salt, kLabelRtpSalt, std::span(salt_).first(gcm_ ? 12 : 14)) &&
            (gcm_ || derive(master_key, master_salt, kLabelRtpAuth, auth));
  cipher_ = EVP_CIPHER_CTX_new();
  const EVP_CIPHER* c = key_length == 32 ? EVP_aes_256_gcm() : gcm_ ? EVP_aes_128_gcm() : EVP_aes_128_ctr();
  ok = ok && cipher_ && EVP_EncryptInit_ex(cipher_, c, nullptr, key.data(), nullptr) == 1;
  if (ok && !gcm_) {
    EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    mac_ = hmac ? EVP_MAC_CTX_new(hmac) : nullptr;
    EVP_MAC_free(hmac);
    std::array<char, 5> digest{"SHA1"};
    std::array<OSSL_PARAM, 2> params{OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest.data(), 0),
                                     OSSL_PARAM_construct_end()};
    ok = mac_ && EVP_MAC_init(mac_, auth.data(), auth.size(), params.data()) == 1;
  }
  OPENSSL_cleanse(key.data(), key.size());
  OPENSSL_cleanse(auth.data(), auth.size());
  return ok;
}

bool SrtpRtpSender::index_of(uint32_t ssrc, uint16_t seq, uint64_t& index) {
  if (last_ >= streams_.size() || streams_[last_].ssrc != ssrc) {
    size_t i = 0;
    while (i < streams_.size() && streams_[i].ssrc != ssrc) ++i;
    if (i == streams_.size()) {
      if (streams_.size() >= kMaxStreams) return false;
      streams_.push_back(Stream{ssrc, 0});  // libsrtp's new stream: index 0
    }
    last_ = i;
  }
  Stream& s = streams_[last_];
  // libsrtp's srtp_rdbx_estimate_index: near the start (index <= 2^15), the sequence number as is.
  int64_t delta = 0;
  if (s.index > kSeqMedian) {
    delta = index_guess(s.index, seq, index);
  } else {
    index = seq;
    delta = static_cast<int64_t>(seq) - static_cast<int64_t>(s.index);
  }
  if (delta + static_cast<int64_t>(kSrtpReplayWindow) <= 0) return false;  // srtp_rdbx_check: too old
  if (delta > 0) s.index = index;
  return true;
}

SrtpError SrtpRtpSender::protect(std::span<uint8_t> buffer, size_t& length, size_t header_size, uint32_t ssrc,
                                 uint16_t seq) {
  if (length > buffer.size() || length > INT_MAX - 64 || header_size > length) return SrtpError::BadParam;
  if (buffer.size() - length < tag_length_) return SrtpError::NoRoom;
  uint64_t index = 0;
  if (!index_of(ssrc, seq, index)) return SrtpError::Replay;
  return gcm_ ? protect_gcm(buffer.data(), length, header_size, ssrc, index)
              : protect_cm(buffer.data(), length, header_size, ssrc, index);
}

// RFC 7714 8.1 and 9.1: IV = (0x0000 || SSRC || ROC || SEQ) XOR salt; the header is the AAD, the
// payload (with any padding) is encrypted in place, the 16-byte tag appended.
SrtpError SrtpRtpSender::protect_gcm(uint8_t* p, size_t& length, size_t header_size, uint32_t ssrc,
                                     uint64_t index) {
  std::array<uint8_t, 12> iv{};
  be::put32(iv.data() + 2, ssrc);
  be::put32(iv.data() + 6, static_cast<uint32_t>(index >> 16));
  be::put16(iv.data() + 10, static_cast<uint16_t>(index));
  for (size_t i = 0; i < iv.size(); ++i) iv[i] ^= salt_[i];
  int n = 0;
  const int body = static_cast<int>(length - header_size);
  if (EVP_EncryptInit_ex(cipher_, nullptr, nullptr, nullptr, iv.data()) != 1 ||
      EVP_EncryptUpdate(cipher_, nullptr, &n, p, static_cast<int>(header_size)) != 1 ||
      (body > 0 && EVP_EncryptUpdate(cipher_, p + header_size, &n, p + header_size, body) != 1) ||
      EVP_EncryptFinal_ex(cipher_, p + length, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(cipher_, EVP_CTRL_GCM_GET_TAG, 16, p + length) != 1)
    return SrtpError::Failed;
  length += 16;
  return SrtpError::None;
}

// RFC 3711 4.1.1: counter block (salt << 16) XOR (SSRC << 64) XOR (index << 16); then 4.2.1: the
// HMAC-SHA1 of the packet and the ROC, its first 80 bits appended.
SrtpError SrtpRtpSender::protect_cm(uint8_t* p, size_t& length, size_t header_size, uint32_t ssrc,
                                    uint64_t index) {
  std::array<uint8_t, 16> iv{};
  be::put32(iv.data() + 4, ssrc);
  be::put32(iv.data() + 8, static_cast<uint32_t>(index >> 16));
  be::put16(iv.data() + 12, static_cast<uint16_t>(index));
  for (size_t i = 0; i < 14; ++i) iv[i] ^= salt_[i];
  int n = 0;
  const int body = static_cast<int>(length - header_size);
  if (EVP_EncryptInit_ex(cipher_, nullptr, nullptr, nullptr, iv.data()) != 1 ||
      (body > 0 && EVP_EncryptUpdate(cipher_, p + header_size, &n, p + header_size, body) != 1))
    return SrtpError::Failed;
  std::array<uint8_t, 4> roc{};
  be::put32(roc.data(), static_cast<uint32_t>(index >> 16));
  std::array<uint8_t, 20> tag{};
  size_t tag_len = 0;
  if (EVP_MAC_init(mac_, nullptr, 0, nullptr) != 1 || EVP_MAC_update(mac_, p, length) != 1 ||
      EVP_MAC_update(mac_, roc.data(), roc.size()) != 1 || EVP_MAC_final(mac_, tag.data(), &tag_len, tag.size()) != 1)
    return SrtpError::Failed;
  std::memcpy(p + length, tag.data(), tag_length_);
  length += tag_length_;
  return SrtpError::None;
}

}  // namespace sfu
