// Outbound SRTP through OpenSSL (sfu/srtp_sender.hpp): whatever it sends, libsrtp reads, byte for
// byte, for every profile, across sequence number wrap-arounds (the ROC), several SSRCs, resends
// and reordering; and it refuses what libsrtp's sender refuses (an index older than the window).
#include <gtest/gtest.h>
#include <srtp2/srtp.h>

#include <array>
#include <cstring>
#include <vector>

#include "sfu/rtp.hpp"
#include "sfu/srtp.hpp"
#include "sfu/srtp_sender.hpp"

using namespace sfu;

namespace {

const std::array<uint16_t, 3> kProfiles{srtp_profile::kAes128CmSha1_80, srtp_profile::kAeadAes128Gcm,
                                         srtp_profile::kAeadAes256Gcm};

std::vector<uint8_t> master(uint16_t profile, uint8_t seed) {
  std::vector<uint8_t> m(srtp_master_length(profile));
  for (size_t i = 0; i < m.size(); ++i) m[i] = static_cast<uint8_t>(seed * 7 + i * 13);
  return m;
}

struct Packet {
  std::array<uint8_t, 1500> buf{};
  size_t len = 0;
  std::vector<uint8_t> bytes() const { return {buf.begin(), buf.begin() + static_cast<long>(len)}; }
};

// With a one-byte extension block, one CSRC on odd sequence numbers, padding on multiples of 5.
Packet rtp(uint16_t seq, uint32_t ssrc, size_t payload) {
  Packet p;
  const bool csrc = seq % 2 == 1, pad = seq % 5 == 0;
  p.buf[0] = static_cast<uint8_t>(0x90 | (pad ? 0x20 : 0) | (csrc ? 1 : 0));
  p.buf[1] = 96;
  be::put16(&p.buf[2], seq);
  be::put32(&p.buf[4], seq * 3000u);
  be::put32(&p.buf[8], ssrc);
  size_t off = 12;
  if (csrc) be::put32(&p.buf[off], 0xABCDEF01), off += 4;
  const uint8_t ext[] = {0xBE, 0xDE, 0x00, 0x01, 0x10, 0x30, 0x00, 0x00};
  std::memcpy(&p.buf[off], ext, sizeof ext);
  off += sizeof ext;
  for (size_t i = 0; i < payload; ++i) p.buf[off + i] = static_cast<uint8_t>(i ^ seq);
  off += payload;
  if (pad) p.buf[off + 3] = 4, off += 4;
  p.len = off;
  return p;
}

// A session pair whose outbound RTP goes through SrtpRtpSender, read by a libsrtp inbound session.
struct Pair {
  SrtpSession out, in;
  explicit Pair(uint16_t profile, uint8_t seed = 1) {
    auto m = master(profile, seed);
    EXPECT_EQ(SrtpSession::create(profile, m, SrtpSession::Direction::Outbound, out), SrtpError::None);
    EXPECT_EQ(SrtpSession::create(profile, m, SrtpSession::Direction::Inbound, in), SrtpError::None);
  }
  // Protects and unprotects; true if the plaintext came back.
  bool round_trip(uint16_t seq, uint32_t ssrc, size_t payload = 200) {
    Packet p = rtp(seq, ssrc, payload);
    const auto plain = p.bytes();
    if (out.protect_rtp(p.buf, p.len) != SrtpError::None) return false;
    if (p.bytes() == plain) return false;
    if (in.unprotect_rtp(p.buf, p.len) != SrtpError::None) return false;
    return p.bytes() == plain;
  }
};

}  // namespace

TEST(SrtpRtpSender, CreatedForEveryProfile) {
  for (uint16_t profile : kProfiles) {
    SCOPED_TRACE(profile);
    EXPECT_NE(SrtpRtpSender::create(profile, master(profile, 1)), nullptr);
    EXPECT_EQ(SrtpRtpSender::create(profile, std::vector<uint8_t>(3)), nullptr);
  }
  EXPECT_EQ(SrtpRtpSender::create(0x0002, std::vector<uint8_t>(30)), nullptr);
}

TEST(SrtpRtpSender, LibsrtpReadsEveryPacketAcrossTheRolloverCounter) {
  for (uint16_t profile : kProfiles) {
    SCOPED_TRACE(profile);
    Pair pair(profile);
    // Two SSRCs interleaved, starting near the end of the sequence space: both wrap to ROC 1.
    for (uint32_t i = 0; i < 3000; ++i) {
      ASSERT_TRUE(pair.round_trip(static_cast<uint16_t>(64000 + i), 0x1111)) << i;
      ASSERT_TRUE(pair.round_trip(static_cast<uint16_t>(65000 + i), 0x2222, i % 300)) << i;
    }
  }
}

TEST(SrtpRtpSender, ResendsAndReorderingAsLibsrtpSends) {
  for (uint16_t profile : kProfiles) {
    SCOPED_TRACE(profile);
    Pair pair(profile);
    for (uint16_t seq = 40000; seq < 40100; ++seq) ASSERT_TRUE(pair.round_trip(seq, 0x3333));
    // A NACKed packet resent (the same index: libsrtp's allow_repeat_tx); the receiver's replay
    // window refuses the second copy, as it would libsrtp's.
    Packet p = rtp(40050, 0x3333, 100);
    EXPECT_EQ(pair.out.protect_rtp(p.buf, p.len), SrtpError::None);
    EXPECT_EQ(pair.in.unprotect_rtp(p.buf, p.len), SrtpError::Replay);
    // Older than the replay window: refused by the sender, as libsrtp's sender refuses it.
    Packet old = rtp(static_cast<uint16_t>(40100 - kSrtpReplayWindow - 10), 0x3333, 100);
    EXPECT_EQ(pair.out.protect_rtp(old.buf, old.len), SrtpError::Replay);
    // Reordered (sent late, within the window): readable.
    ASSERT_TRUE(pair.round_trip(40102, 0x3333));
    ASSERT_TRUE(pair.round_trip(40101, 0x3333));
  }
}

TEST(SrtpRtpSender, SameBytesAsLibsrtp) {
  // The reference: a libsrtp outbound session made directly, beside SrtpSession's.
  for (uint16_t profile : kProfiles) {
    SCOPED_TRACE(profile);
    auto m = master(profile, 3);
    srtp_policy_t policy;
    std::memset(&policy, 0, sizeof policy);
    if (profile == srtp_profile::kAes128CmSha1_80) srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
    if (profile == srtp_profile::kAeadAes128Gcm) srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
    if (profile == srtp_profile::kAeadAes256Gcm) srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtp);
    policy.rtcp = policy.rtp;
    policy.ssrc.type = ssrc_any_outbound;
    policy.key = m.data();
    policy.window_size = kSrtpReplayWindow;
    policy.allow_repeat_tx = 1;
    srtp_t ref = nullptr;
    ASSERT_EQ(srtp_library_init(), SrtpError::None);
    ASSERT_EQ(srtp_create(&ref, &policy), srtp_err_status_ok);
    SrtpSession ours;
    ASSERT_EQ(SrtpSession::create(profile, m, SrtpSession::Direction::Outbound, ours), SrtpError::None);
    const std::array<uint16_t, 8> seqs{65530, 65533, 65535, 0, 3, 1, 2, 7};
    for (uint16_t seq : seqs) {
      Packet a = rtp(seq, 0x4444, 150), b = a;
      int len = static_cast<int>(b.len);
      ASSERT_EQ(srtp_protect(ref, b.buf.data(), &len), srtp_err_status_ok);
      b.len = static_cast<size_t>(len);
      ASSERT_EQ(ours.protect_rtp(a.buf, a.len), SrtpError::None);
      EXPECT_EQ(a.bytes(), b.bytes()) << seq;
    }
    srtp_dealloc(ref);
  }
}
