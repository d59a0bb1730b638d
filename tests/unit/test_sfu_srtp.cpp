// SRTP/SRTCP sessions through libsrtp2 (sfu/srtp.hpp).
#include <gtest/gtest.h>

#include <array>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "sfu/rtcp.hpp"
#include "sfu/rtp.hpp"
#include "sfu/srtp.hpp"

using namespace sfu;

namespace {

// Deterministic keying material: byte i = seed + i.
std::vector<uint8_t> keying_material(uint16_t profile, uint8_t seed = 1) {
  std::vector<uint8_t> km(srtp_keying_material_length(profile));
  for (size_t i = 0; i < km.size(); ++i) km[i] = static_cast<uint8_t>(seed + i);
  return km;
}

// An RTP packet in a buffer with room for the trailer.
struct Packet {
  std::array<uint8_t, 1500> buf{};
  size_t len = 0;
  std::span<uint8_t> span() { return {buf.data(), buf.size()}; }
  std::vector<uint8_t> bytes() const { return {buf.begin(), buf.begin() + len}; }
};

Packet rtp(uint16_t seq, uint32_t ssrc = 0x12345678, size_t payload = 100) {
  Packet p;
  p.buf[0] = 0x90;  // with a one-byte extension block
  p.buf[1] = 96;
  be::put16(&p.buf[2], seq);
  be::put32(&p.buf[4], seq * 3000u);
  be::put32(&p.buf[8], ssrc);
  const uint8_t ext[] = {0xBE, 0xDE, 0x00, 0x01, 0x10, 0x30, 0x00, 0x00};
  std::copy(std::begin(ext), std::end(ext), p.buf.begin() + 12);
  for (size_t i = 0; i < payload; ++i) p.buf[20 + i] = static_cast<uint8_t>(i ^ seq);
  p.len = 20 + payload;
  return p;
}

Packet rtcp_pli(uint32_t sender = 0x1111, uint32_t media = 0x2222) {
  Packet p;
  std::array<ReportBlock, 1> blocks{ReportBlock{.ssrc = media, .highest_sequence = 5}};
  RtcpWriter w(p.span());
  w.append(build_rr(w.remaining(), sender, blocks));
  w.append(build_pli(w.remaining(), sender, media));
  p.len = w.size();
  return p;
}

const std::array<uint16_t, 3> kProfiles{srtp_profile::kAes128CmSha1_80, srtp_profile::kAeadAes128Gcm,
                                         srtp_profile::kAeadAes256Gcm};

size_t tag_length(uint16_t profile) { return profile == srtp_profile::kAes128CmSha1_80 ? 10 : 16; }

}  // namespace

TEST(SrtpSession, KeyLengths) {
  EXPECT_EQ(srtp_master_length(srtp_profile::kAes128CmSha1_80), 30u);
  EXPECT_EQ(srtp_keying_material_length(srtp_profile::kAes128CmSha1_80), 60u);
  EXPECT_EQ(srtp_master_length(srtp_profile::kAeadAes128Gcm), 28u);
  EXPECT_EQ(srtp_keying_material_length(srtp_profile::kAeadAes128Gcm), 56u);
  EXPECT_EQ(srtp_keying_material_length(srtp_profile::kAeadAes256Gcm), 88u);
  EXPECT_EQ(srtp_keying_material_length(0x0002), 0u);  // AES128_CM_SHA1_32: not offered
  EXPECT_FALSE(srtp_profile_supported(0));
  EXPECT_TRUE(srtp_profile_supported(0x0007));
}

TEST(SrtpSession, RtpRoundTripEveryProfileBothDirections) {
  for (uint16_t profile : kProfiles) {
    SCOPED_TRACE(profile);
    const auto km = keying_material(profile);
    SrtpSessionPair server, client;
    ASSERT_EQ(make_srtp_sessions(profile, km, true, server), SrtpError::None);
    ASSERT_EQ(make_srtp_sessions(profile, km, false, client), SrtpError::None);
    EXPECT_TRUE(server.inbound.valid() && server.outbound.valid());
    EXPECT_EQ(server.outbound.profile(), profile);
    for (uint16_t seq = 1; seq < 20; ++seq) {
      // Browser (DTLS client) -> SFU (DTLS server).
      Packet p = rtp(seq);
      const auto plain = p.bytes();
      ASSERT_EQ(client.outbound.protect_rtp(p.span(), p.len), SrtpError::None);
      EXPECT_EQ(p.len, plain.size() + tag_length(profile));
      EXPECT_NE(p.bytes(), plain);
      EXPECT_TRUE(std::equal(plain.begin(), plain.begin() + 20, p.buf.begin()));  // header in the clear
      ASSERT_EQ(server.inbound.unprotect_rtp(p.span(), p.len), SrtpError::None);
      EXPECT_EQ(p.bytes(), plain);
      // SFU -> browser.
      Packet q = rtp(seq, 0xCAFE);
      const auto qplain = q.bytes();
      ASSERT_EQ(server.outbound.protect_rtp(q.span(), q.len), SrtpError::None);
      ASSERT_EQ(client.inbound.unprotect_rtp(q.span(), q.len), SrtpError::None);
      EXPECT_EQ(q.bytes(), qplain);
    }
  }
}

TEST(SrtpSession, MirrorKeysOnly) {
  // What the SFU sends cannot be read with the key it uses to read, and vice versa: the RFC 5764
  // 4.2 client/server halves are not mixed up.
  const auto km = keying_material(srtp_profile::kAes128CmSha1_80);
  SrtpSessionPair server, other_server;
  ASSERT_EQ(make_srtp_sessions(srtp_profile::kAes128CmSha1_80, km, true, server), SrtpError::None);
  ASSERT_EQ(make_srtp_sessions(srtp_profile::kAes128CmSha1_80, km, true, other_server), SrtpError::None);
  Packet p = rtp(1);
  ASSERT_EQ(server.outbound.protect_rtp(p.span(), p.len), SrtpError::None);
  EXPECT_EQ(other_server.inbound.unprotect_rtp(p.span(), p.len), SrtpError::AuthFail);
  // Different keying material: fails too.
  SrtpSessionPair client2;
  ASSERT_EQ(make_srtp_sessions(srtp_profile::kAes128CmSha1_80, keying_material(srtp_profile::kAes128CmSha1_80, 9), false, client2),
            SrtpError::None);
  EXPECT_EQ(client2.inbound.unprotect_rtp(p.span(), p.len), SrtpError::AuthFail);
}

TEST(SrtpSession, KeyLayoutIsRfc5764) {
  // Build the client's outbound session by hand from client_write_key | client_write_salt and check
  // the SFU (DTLS server) decrypts it with the inbound session of make_srtp_sessions.
  for (uint16_t profile : kProfiles) {
    SCOPED_TRACE(profile);
    const auto km = keying_material(profile);
    const size_t total = srtp_master_length(profile);
    const size_t kl = profile == srtp_profile::kAeadAes256Gcm ? 32 : 16, sl = total - kl;
    std::vector<uint8_t> client_master(km.begin(), km.begin() + kl);
    client_master.insert(client_master.end(), km.begin() + 2 * kl, km.begin() + 2 * kl + sl);
    SrtpSession client_out;
    ASSERT_EQ(SrtpSession::create(profile, client_master, SrtpSession::Direction::Outbound, client_out), SrtpError::None);
    SrtpSessionPair server;
    ASSERT_EQ(make_srtp_sessions(profile, km, true, server), SrtpError::None);
    Packet p = rtp(7);
    ASSERT_EQ(client_out.protect_rtp(p.span(), p.len), SrtpError::None);
    EXPECT_EQ(server.inbound.unprotect_rtp(p.span(), p.len), SrtpError::None);
  }
}

TEST(SrtpSession, TamperedRtpRejected) {
  for (uint16_t profile : kProfiles) {
    SCOPED_TRACE(profile);
    const auto km = keying_material(profile);
    SrtpSessionPair server, client;
    ASSERT_EQ(make_srtp_sessions(profile, km, true, server), SrtpError::None);
    ASSERT_EQ(make_srtp_sessions(profile, km, false, client), SrtpError::None);
    for (size_t where : {size_t{8}, size_t{30}, size_t{0}}) {  // header (authenticated), payload, tag
      Packet p = rtp(static_cast<uint16_t>(100 + where));
      ASSERT_EQ(client.outbound.protect_rtp(p.span(), p.len), SrtpError::None);
      const size_t at = where == 0 ? p.len - 1 : where;
      p.buf[at] ^= 0x01;
      EXPECT_EQ(server.inbound.unprotect_rtp(p.span(), p.len), SrtpError::AuthFail) << where;
    }
    // Truncated tag.
    Packet t = rtp(300);
    ASSERT_EQ(client.outbound.protect_rtp(t.span(), t.len), SrtpError::None);
    t.len -= 1;
    EXPECT_EQ(server.inbound.unprotect_rtp(t.span(), t.len), SrtpError::AuthFail);
  }
}

TEST(SrtpSession, ReplayedRtpRejected) {
  for (uint16_t profile : kProfiles) {
    SCOPED_TRACE(profile);
    const auto km = keying_material(profile);
    SrtpSessionPair server, client;
    ASSERT_EQ(make_srtp_sessions(profile, km, true, server), SrtpError::None);
    ASSERT_EQ(make_srtp_sessions(profile, km, false, client), SrtpError::None);
    Packet p = rtp(42);
    ASSERT_EQ(client.outbound.protect_rtp(p.span(), p.len), SrtpError::None);
    Packet copy = p;
    ASSERT_EQ(server.inbound.unprotect_rtp(p.span(), p.len), SrtpError::None);
    EXPECT_EQ(server.inbound.unprotect_rtp(copy.span(), copy.len), SrtpError::Replay);
  }
}

TEST(SrtpSession, LargeReplayWindow) {
  const uint16_t profile = srtp_profile::kAeadAes128Gcm;
  const auto km = keying_material(profile);
  SrtpSessionPair server, client;
  ASSERT_EQ(make_srtp_sessions(profile, km, true, server), SrtpError::None);
  ASSERT_EQ(make_srtp_sessions(profile, km, false, client), SrtpError::None);
  std::vector<Packet> sent;
  for (uint16_t seq : {uint16_t{1}, uint16_t{5000}, uint16_t{10000}, uint16_t{20000}}) {
    sent.push_back(rtp(seq));
    ASSERT_EQ(client.outbound.protect_rtp(sent.back().span(), sent.back().len), SrtpError::None);
  }
  // 5000 arrives first, then 1: 4999 behind, inside the window.
  ASSERT_EQ(server.inbound.unprotect_rtp(sent[1].span(), sent[1].len), SrtpError::None);
  EXPECT_EQ(server.inbound.unprotect_rtp(sent[0].span(), sent[0].len), SrtpError::None);
  // 20000 then 10000: 10000 behind, outside a window of kSrtpReplayWindow.
  ASSERT_EQ(server.inbound.unprotect_rtp(sent[3].span(), sent[3].len), SrtpError::None);
  EXPECT_EQ(server.inbound.unprotect_rtp(sent[2].span(), sent[2].len), SrtpError::Replay);
}

TEST(SrtpSession, AnySsrcAndResendOfSamePacket) {
  const uint16_t profile = srtp_profile::kAes128CmSha1_80;
  const auto km = keying_material(profile);
  SrtpSessionPair server, client;
  ASSERT_EQ(make_srtp_sessions(profile, km, true, server), SrtpError::None);
  ASSERT_EQ(make_srtp_sessions(profile, km, false, client), SrtpError::None);
  for (uint32_t ssrc = 1; ssrc <= 20; ++ssrc) {
    Packet p = rtp(9, ssrc);
    ASSERT_EQ(server.outbound.protect_rtp(p.span(), p.len), SrtpError::None);
    ASSERT_EQ(client.inbound.unprotect_rtp(p.span(), p.len), SrtpError::None);
  }
  // A NACKed packet protected again (same sequence number, same bytes) gives the same ciphertext.
  Packet a = rtp(50, 3), b = rtp(50, 3);
  ASSERT_EQ(server.outbound.protect_rtp(a.span(), a.len), SrtpError::None);
  ASSERT_EQ(server.outbound.protect_rtp(b.span(), b.len), SrtpError::None);
  EXPECT_EQ(a.bytes(), b.bytes());
}

TEST(SrtpSession, RtcpRoundTripTamperAndReplay) {
  for (uint16_t profile : kProfiles) {
    SCOPED_TRACE(profile);
    const auto km = keying_material(profile);
    SrtpSessionPair server, client;
    ASSERT_EQ(make_srtp_sessions(profile, km, true, server), SrtpError::None);
    ASSERT_EQ(make_srtp_sessions(profile, km, false, client), SrtpError::None);
    Packet p = rtcp_pli();
    const auto plain = p.bytes();
    ASSERT_EQ(client.outbound.protect_rtcp(p.span(), p.len), SrtpError::None);
    EXPECT_EQ(p.len, plain.size() + 4 + tag_length(profile));
    EXPECT_TRUE(std::equal(plain.begin(), plain.begin() + 8, p.buf.begin()));  // header and sender SSRC clear
    EXPECT_TRUE(looks_like_rtcp({p.buf.data(), p.len}));
    Packet copy = p, tampered = p, no_e = p;
    tampered.buf[12] ^= 0x80;  // (a tampered copy is checked before the index is marked as seen)
    EXPECT_EQ(server.inbound.unprotect_rtcp(tampered.span(), tampered.len), SrtpError::AuthFail);
    // E bit cleared ("unencrypted"): E|index precedes the tag with HMAC (RFC 3711 3.4), follows it
    // with AEAD (RFC 7714 9.1).
    const size_t e_at = profile == srtp_profile::kAes128CmSha1_80 ? no_e.len - 14 : no_e.len - 4;
    ASSERT_EQ(no_e.buf[e_at], 0x80);
    no_e.buf[e_at] = 0x00;
    EXPECT_EQ(server.inbound.unprotect_rtcp(no_e.span(), no_e.len), SrtpError::AuthFail);
    ASSERT_EQ(server.inbound.unprotect_rtcp(p.span(), p.len), SrtpError::None);
    EXPECT_EQ(p.bytes(), plain);
    EXPECT_EQ(validate_compound({p.buf.data(), p.len}), RtcpError::None);
    EXPECT_EQ(server.inbound.unprotect_rtcp(copy.span(), copy.len), SrtpError::Replay);
    // The other way.
    Packet q = rtcp_pli(0x3333, 0x4444);
    const auto qplain = q.bytes();
    ASSERT_EQ(server.outbound.protect_rtcp(q.span(), q.len), SrtpError::None);
    ASSERT_EQ(client.inbound.unprotect_rtcp(q.span(), q.len), SrtpError::None);
    EXPECT_EQ(q.bytes(), qplain);
  }
}

TEST(SrtpSession, NoRoomForTrailer) {
  const uint16_t profile = srtp_profile::kAeadAes128Gcm;
  SrtpSessionPair s;
  ASSERT_EQ(make_srtp_sessions(profile, keying_material(profile), true, s), SrtpError::None);
  Packet p = rtp(1);
  size_t len = p.len;
  EXPECT_EQ(s.outbound.protect_rtp({p.buf.data(), p.len + 15}, len), SrtpError::NoRoom);
  EXPECT_EQ(len, p.len);
  EXPECT_EQ(s.outbound.protect_rtp({p.buf.data(), p.len + kSrtpMaxRtpOverhead}, len), SrtpError::None);
  Packet r = rtcp_pli();
  len = r.len;
  EXPECT_EQ(s.outbound.protect_rtcp({r.buf.data(), r.len + 19}, len), SrtpError::NoRoom);
  EXPECT_EQ(s.outbound.protect_rtcp({r.buf.data(), r.len + kSrtpMaxRtcpOverhead}, len), SrtpError::None);
  // Length larger than the buffer.
  len = 100;
  EXPECT_EQ(s.outbound.protect_rtp({p.buf.data(), 50}, len), SrtpError::BadParam);
}

TEST(SrtpSession, MalformedInput) {
  const uint16_t profile = srtp_profile::kAes128CmSha1_80;
  const auto km = keying_material(profile);
  SrtpSessionPair s;
  ASSERT_EQ(make_srtp_sessions(profile, km, true, s), SrtpError::None);
  std::array<uint8_t, 64> buf{};
  size_t len = 0;
  EXPECT_EQ(s.inbound.unprotect_rtp(buf, len), SrtpError::Malformed);
  buf[0] = 0x80;
  len = 12 + 9;  // header + less than a tag
  EXPECT_EQ(s.inbound.unprotect_rtp(buf, len), SrtpError::Malformed);
  buf[0] = 0x8F;  // 15 CSRCs that are not there
  len = 40;
  EXPECT_EQ(s.inbound.unprotect_rtp(buf, len), SrtpError::Malformed);
  buf[0] = 0x40;  // version 1
  EXPECT_EQ(s.inbound.unprotect_rtp(buf, len), SrtpError::Malformed);
  EXPECT_EQ(s.outbound.protect_rtp(buf, len), SrtpError::Malformed);
  buf[0] = 0x80;
  buf[1] = 0xC9;
  len = 8 + 13;  // RTCP shorter than header + SSRC + index + tag
  EXPECT_EQ(s.inbound.unprotect_rtcp(buf, len), SrtpError::Malformed);
  len = 4;
  EXPECT_EQ(s.outbound.protect_rtcp(buf, len), SrtpError::Malformed);
  // Garbage of the right shape: authentication fails, with the E bit clear or set.
  len = 40;
  EXPECT_EQ(s.inbound.unprotect_rtcp(buf, len), SrtpError::AuthFail);
  buf[len - 14] = 0x80;
  EXPECT_EQ(s.inbound.unprotect_rtcp(buf, len), SrtpError::AuthFail);
}

TEST(SrtpSession, BadParametersAndWrongDirection) {
  SrtpSession none;
  EXPECT_FALSE(none.valid());
  Packet p = rtp(1);
  EXPECT_EQ(none.protect_rtp(p.span(), p.len), SrtpError::BadParam);
  SrtpSessionPair s;
  EXPECT_EQ(make_srtp_sessions(0x0002, std::vector<uint8_t>(60), true, s), SrtpError::BadParam);
  EXPECT_EQ(make_srtp_sessions(srtp_profile::kAes128CmSha1_80, std::vector<uint8_t>(59), true, s), SrtpError::BadParam);
  EXPECT_EQ(make_srtp_sessions(srtp_profile::kAeadAes128Gcm, std::vector<uint8_t>(60), true, s), SrtpError::BadParam);
  EXPECT_FALSE(s.inbound.valid());
  SrtpSession x;
  EXPECT_EQ(SrtpSession::create(srtp_profile::kAes128CmSha1_80, std::vector<uint8_t>(28), SrtpSession::Direction::Inbound, x),
            SrtpError::BadParam);
  ASSERT_EQ(make_srtp_sessions(srtp_profile::kAes128CmSha1_80, keying_material(srtp_profile::kAes128CmSha1_80), true, s),
            SrtpError::None);
  EXPECT_EQ(s.inbound.protect_rtp(p.span(), p.len), SrtpError::BadParam);
  EXPECT_EQ(s.outbound.unprotect_rtp(p.span(), p.len), SrtpError::BadParam);
  EXPECT_EQ(s.inbound.protect_rtcp(p.span(), p.len), SrtpError::BadParam);
  EXPECT_EQ(s.outbound.unprotect_rtcp(p.span(), p.len), SrtpError::BadParam);
  EXPECT_STREQ(to_string(SrtpError::Replay), "replay");
}

TEST(SrtpSession, MoveKeepsTheContext) {
  const uint16_t profile = srtp_profile::kAes128CmSha1_80;
  const auto km = keying_material(profile);
  SrtpSessionPair a, client;
  ASSERT_EQ(make_srtp_sessions(profile, km, true, a), SrtpError::None);
  ASSERT_EQ(make_srtp_sessions(profile, km, false, client), SrtpError::None);
  SrtpSession moved = std::move(a.outbound);
  EXPECT_FALSE(a.outbound.valid());
  EXPECT_TRUE(moved.valid());
  EXPECT_EQ(moved.direction(), SrtpSession::Direction::Outbound);
  Packet p = rtp(3);
  ASSERT_EQ(moved.protect_rtp(p.span(), p.len), SrtpError::None);
  EXPECT_EQ(client.inbound.unprotect_rtp(p.span(), p.len), SrtpError::None);
  moved = std::move(a.inbound);  // frees the old context, takes the other
  EXPECT_EQ(moved.direction(), SrtpSession::Direction::Inbound);
}

TEST(SrtpSession, ChromiumPacketWithWrongKeyIsAuthFailure) {
  std::ifstream f(std::string(TURNPIKE_SOURCE_DIR) + "/tests/fixtures/chromium/chromium_channeldata_rtp.bin", std::ios::binary);
  std::vector<uint8_t> d{std::istreambuf_iterator<char>(f), {}};
  ASSERT_GT(d.size(), 4u);
  d.erase(d.begin(), d.begin() + 4);
  const size_t n = d.size();
  d.resize(n + kSrtpMaxRtpOverhead);
  SrtpSessionPair s;
  ASSERT_EQ(make_srtp_sessions(srtp_profile::kAes128CmSha1_80, keying_material(srtp_profile::kAes128CmSha1_80), true, s),
            SrtpError::None);
  size_t len = n;
  EXPECT_EQ(s.inbound.unprotect_rtp(d, len), SrtpError::AuthFail);
  EXPECT_EQ(len, n);

  std::ifstream g(std::string(TURNPIKE_SOURCE_DIR) + "/tests/fixtures/chromium/chromium_channeldata_rtcp.bin", std::ios::binary);
  std::vector<uint8_t> r{std::istreambuf_iterator<char>(g), {}};
  ASSERT_GT(r.size(), 4u);
  r.erase(r.begin(), r.begin() + 4);
  len = r.size();
  EXPECT_EQ(s.inbound.unprotect_rtcp(r, len), SrtpError::AuthFail);
}

TEST(SrtpSession, LibraryInitFromManyThreads) {
  std::vector<std::thread> ts;
  std::array<SrtpError, 8> results{};
  for (size_t i = 0; i < results.size(); ++i) ts.emplace_back([&results, i] { results[i] = srtp_library_init(); });
  for (auto& t : ts) t.join();
  for (auto r : results) EXPECT_EQ(r, SrtpError::None);
}
