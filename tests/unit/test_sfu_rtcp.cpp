// RTCP reader, packet types, builders and SSRC rewrite (sfu/rtcp.hpp); receive statistics
// (sfu/rtp_stats.hpp).
#include <gtest/gtest.h>

#include <array>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "sfu/rtcp.hpp"
#include "sfu/rtp_stats.hpp"

#include "hex.hpp"

using namespace sfu;

namespace {

// hex() kept alive for the whole test run: parsed views point into it.
std::span<const uint8_t> kept(std::string_view s) {
  static std::deque<std::vector<uint8_t>> store;
  return store.emplace_back(hex(s));
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

// The single packet of a buffer, or a failed assertion.
RtcpPacket only_packet(std::span<const uint8_t> d) {
  RtcpReader r(d);
  RtcpPacket p;
  EXPECT_TRUE(r.next(p));
  RtcpPacket extra;
  EXPECT_FALSE(r.next(extra));
  EXPECT_EQ(r.error(), RtcpError::None);
  return p;
}

std::vector<RtcpPacket> all_packets(std::span<const uint8_t> d, RtcpError* err = nullptr) {
  std::vector<RtcpPacket> v;
  RtcpReader r(d);
  RtcpPacket p;
  while (r.next(p)) v.push_back(p);
  if (err) *err = r.error();
  return v;
}

}  // namespace

// ---- reader ----

TEST(RtcpReader, ChromiumSrtcpTransportCcHeader) {
  auto f = read_file(std::string(TURNPIKE_SOURCE_DIR) + "/tests/fixtures/chromium/chromium_channeldata_rtcp.bin");
  ASSERT_EQ(f.size(), 46u);
  std::vector<uint8_t> d(f.begin() + 4, f.end());  // strip the ChannelData header
  EXPECT_TRUE(looks_like_rtcp(d));
  EXPECT_FALSE(looks_like_rtp(d));
  // SRTCP: the header and sender SSRC are clear, the rest is encrypted, then E|index and a 10-byte tag.
  RtcpHeader h;
  ASSERT_EQ(RtcpHeader::parse(d, h), RtcpError::None);
  EXPECT_TRUE(h.padding);
  EXPECT_EQ(h.type, rtcp_type::kRtpfb);
  EXPECT_EQ(h.count, rtcp_fmt::kTransportCc);
  EXPECT_EQ(h.packet_size(), 28u);
  EXPECT_EQ(be::u32(&d[4]), 1u);             // sender SSRC of a receive-only libwebrtc stream
  EXPECT_EQ(be::u32(&d[28]), 0x80000001u);   // E=1, SRTCP index 1
  EXPECT_EQ(d.size(), 28u + 4u + 10u);       // AES_CM_128_HMAC_SHA1_80
  // Read as plaintext it fails: the padding count is ciphertext (0x36 > 24), and the SRTCP trailer
  // is not an RTCP packet.
  EXPECT_EQ(validate_compound(d), RtcpError::BadPadding);
  // With the padding bit cleared the one packet is identified as transport-cc.
  std::vector<uint8_t> one(d.begin(), d.begin() + 28);
  one[0] &= ~0x20;
  RtcpPacket p = only_packet(one);
  EXPECT_EQ(kind_of(p), RtcpKind::TransportCc);
  TransportCc t;
  ASSERT_EQ(TransportCc::parse(p, t), RtcpError::None);
  EXPECT_EQ(t.sender_ssrc, 1u);
  EXPECT_EQ(t.fci.size(), 16u);
  // The trailer alone, read as RTCP: E|index passes for a version-2 header of length 1, then the
  // tag's bytes do not.
  std::vector<uint8_t> rest(d.begin() + 28, d.end());
  EXPECT_EQ(validate_compound(rest), RtcpError::BadVersion);
}

TEST(RtcpReader, EmptyAndTruncatedHeaders) {
  EXPECT_EQ(validate_compound({}), RtcpError::Truncated);
  RtcpReader r({});
  RtcpPacket p;
  EXPECT_FALSE(r.next(p));
  EXPECT_EQ(r.error(), RtcpError::None);
  auto d = hex("80 C9 00 01 00 00 00 01");
  for (size_t n = 1; n < 4; ++n) EXPECT_EQ(validate_compound({d.data(), n}), RtcpError::Truncated) << n;
  // A good packet followed by 1..3 stray bytes.
  auto t = hex("80 C9 00 01 00 00 00 01 80 C9");
  EXPECT_EQ(validate_compound(t), RtcpError::Truncated);
}

TEST(RtcpReader, BadVersion) {
  EXPECT_EQ(validate_compound(hex("40 C9 00 01 00 00 00 01")), RtcpError::BadVersion);
  EXPECT_EQ(validate_compound(hex("00 C9 00 01 00 00 00 01")), RtcpError::BadVersion);
  RtcpError e;
  auto v = all_packets(kept("80 C9 00 01 00 00 00 01 C0 C9 00 01 00 00 00 01"), &e);
  EXPECT_EQ(v.size(), 1u);
  EXPECT_EQ(e, RtcpError::BadVersion);
}

TEST(RtcpReader, LengthPastBuffer) {
  EXPECT_EQ(validate_compound(hex("80 C9 00 02 00 00 00 01")), RtcpError::BadLength);
  EXPECT_EQ(validate_compound(hex("80 C9 FF FF 00 00 00 01")), RtcpError::BadLength);
  RtcpError e;
  auto v = all_packets(kept("80 C9 00 01 00 00 00 01 81 CE 00 02 00 00 00 01"), &e);
  EXPECT_EQ(v.size(), 1u);
  EXPECT_EQ(e, RtcpError::BadLength);
}

TEST(RtcpReader, ZeroLengthPackets) {
  // Length 0: a header alone. The reader accepts it; what needs fields rejects it.
  auto d = hex("80 C9 00 00 80 CB 00 00 81 CE 00 00 81 CD 00 00 80 C8 00 00 84 CE 00 00 8F CE 00 00");
  auto v = all_packets(d);
  ASSERT_EQ(v.size(), 7u);
  ReceiverReport rr;
  EXPECT_EQ(ReceiverReport::parse(v[0], rr), RtcpError::Truncated);
  Bye bye;  // BYE with SC=0 is legal
  EXPECT_EQ(Bye::parse(v[1], bye), RtcpError::None);
  EXPECT_TRUE(bye.ssrcs.empty());
  Pli pli;
  EXPECT_EQ(Pli::parse(v[2], pli), RtcpError::Truncated);
  GenericNack nack;
  EXPECT_EQ(GenericNack::parse(v[3], nack), RtcpError::Truncated);
  SenderReport sr;
  EXPECT_EQ(SenderReport::parse(v[4], sr), RtcpError::Truncated);
  Fir fir;
  EXPECT_EQ(Fir::parse(v[5], fir), RtcpError::Truncated);
  Remb remb;
  EXPECT_EQ(Remb::parse(v[6], remb), RtcpError::Truncated);
  EXPECT_EQ(kind_of(v[6]), RtcpKind::OtherPsfb);  // too short to carry "REMB"
}

TEST(RtcpReader, Padding) {
  auto ok = hex("A0 C9 00 02 00 00 00 07 00 00 00 04");
  RtcpPacket p = only_packet(ok);
  EXPECT_EQ(p.body.size(), 4u);
  EXPECT_EQ(p.raw.size(), 12u);
  ReceiverReport rr;
  ASSERT_EQ(ReceiverReport::parse(p, rr), RtcpError::None);
  EXPECT_EQ(rr.ssrc, 7u);
  EXPECT_EQ(validate_compound(hex("A0 C9 00 02 00 00 00 07 00 00 00 00")), RtcpError::BadPadding);  // count 0
  EXPECT_EQ(validate_compound(hex("A0 C9 00 02 00 00 00 07 00 00 00 09")), RtcpError::BadPadding);  // past the body
  EXPECT_EQ(validate_compound(hex("A0 C9 00 00")), RtcpError::BadPadding);  // no body to pad
  // Padding eating the whole body leaves a packet too short for its type.
  RtcpPacket q = only_packet(kept("A0 C9 00 02 00 00 00 07 00 00 00 08"));
  EXPECT_TRUE(q.body.empty());
  EXPECT_EQ(ReceiverReport::parse(q, rr), RtcpError::Truncated);
}

// ---- packet types and builders ----

TEST(RtcpSr, BuildAndParseNumbers) {
  SenderInfo info{0x0123456789ABCDEFull, 0xDEADBEEF, 1234, 567890};
  std::array<ReportBlock, 2> blocks{
      ReportBlock{0x1111, 12, 345, 0x00020010, 77, 0xABCD0000, 0x00018000},
      ReportBlock{0x2222, 255, -5, 0xFFFFFFFF, 0, 0, 0}};
  std::vector<uint8_t> buf(100);
  const size_t n = build_sr(buf, 0xCAFEBABE, info, blocks);
  ASSERT_EQ(n, 28u + 48u);
  EXPECT_EQ(buf[0], 0x82);
  EXPECT_EQ(buf[1], 200);
  EXPECT_EQ(be::u16(&buf[2]), n / 4 - 1);
  RtcpPacket p = only_packet({buf.data(), n});
  EXPECT_EQ(kind_of(p), RtcpKind::SenderReport);
  SenderReport sr;
  ASSERT_EQ(SenderReport::parse(p, sr), RtcpError::None);
  EXPECT_EQ(sr.ssrc, 0xCAFEBABEu);
  EXPECT_EQ(sr.info, info);
  ASSERT_EQ(sr.blocks.size(), 2u);
  EXPECT_EQ(sr.blocks[0], blocks[0]);
  EXPECT_EQ(sr.blocks[1], blocks[1]);
  EXPECT_EQ(build_sr({buf.data(), n - 1}, 1, info, blocks), 0u);
  std::vector<ReportBlock> many(32);
  std::vector<uint8_t> large(2000);
  EXPECT_EQ(build_sr(large, 1, info, many), 0u);
}

TEST(RtcpSr, MalformedCounts) {
  // RC=1 but no report block; sender info cut.
  SenderReport sr;
  EXPECT_EQ(SenderReport::parse(only_packet(kept("81 C8 00 06 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00")), sr),
            RtcpError::BadLength);
  EXPECT_EQ(SenderReport::parse(only_packet(kept("80 C8 00 05 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00")), sr),
            RtcpError::Truncated);
  // Extra words after the blocks (profile-specific extension) are allowed.
  ASSERT_EQ(SenderReport::parse(only_packet(kept("80 C8 00 07 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 FF FF FF FF")), sr),
            RtcpError::None);
  EXPECT_TRUE(sr.blocks.empty());
}

TEST(RtcpRr, ByteExactAndRoundTrip) {
  std::array<ReportBlock, 1> blocks{ReportBlock{0x22222222, 0x40, -1, 0x00010005, 7, 0x12345678, 0x00010000}};
  std::vector<uint8_t> buf(64);
  const size_t n = build_rr(buf, 0x11111111, blocks);
  buf.resize(n);
  EXPECT_EQ(buf, hex("81 C9 00 07 11 11 11 11 22 22 22 22 40 FF FF FF 00 01 00 05 00 00 00 07 12 34 56 78 00 01 00 00"));
  ReceiverReport rr;
  ASSERT_EQ(ReceiverReport::parse(only_packet(buf), rr), RtcpError::None);
  EXPECT_EQ(rr.ssrc, 0x11111111u);
  ASSERT_EQ(rr.blocks.size(), 1u);
  EXPECT_EQ(rr.blocks[0], blocks[0]);
  for (const ReportBlock b : rr.blocks) EXPECT_EQ(b.cumulative_lost, -1);
  // Empty RR.
  std::vector<uint8_t> e(8);
  ASSERT_EQ(build_rr(e, 5, {}), 8u);
  EXPECT_EQ(e, hex("80 C9 00 01 00 00 00 05"));
}

TEST(RtcpRr, CumulativeLostClampedTo24Bits) {
  std::array<ReportBlock, 2> blocks{ReportBlock{.ssrc = 1, .cumulative_lost = 0x12345678},
                                    ReportBlock{.ssrc = 2, .cumulative_lost = -0x12345678}};
  std::vector<uint8_t> buf(64);
  const size_t n = build_rr(buf, 9, blocks);
  ReceiverReport rr;
  ASSERT_EQ(ReceiverReport::parse(only_packet({buf.data(), n}), rr), RtcpError::None);
  EXPECT_EQ(rr.blocks[0].cumulative_lost, 0x7FFFFF);
  EXPECT_EQ(rr.blocks[1].cumulative_lost, -0x800000);
}

TEST(RtcpRr, BlockCountPastBody) {
  ReceiverReport rr;
  auto d = hex("82 C9 00 07 00 00 00 01");  // RC=2, one block's worth of body
  d.resize(32, 0);
  EXPECT_EQ(ReceiverReport::parse(only_packet(d), rr), RtcpError::BadLength);
  EXPECT_EQ(ReceiverReport::parse(only_packet(kept("81 CE 00 02 00 00 00 01 00 00 00 02")), rr), RtcpError::WrongType);
}

TEST(RtcpSdes, CnameBuildAndSkip) {
  std::vector<uint8_t> buf(64);
  const size_t n = build_sdes_cname(buf, 0x01020304, "abc");
  buf.resize(n);
  EXPECT_EQ(buf, hex("81 CA 00 03 01 02 03 04 01 03 61 62 63 00 00 00"));
  EXPECT_EQ(kind_of(only_packet(buf)), RtcpKind::Sdes);
  // A CNAME whose item ends on a word boundary still gets a full word of nulls.
  std::vector<uint8_t> b2(64);
  const size_t n2 = build_sdes_cname(b2, 1, "abcdef");  // 4 + 2 + 6 = 12, + 4 nulls
  EXPECT_EQ(n2, 4u + 16u);
  EXPECT_EQ(build_sdes_cname(b2, 1, std::string(256, 'x')), 0u);
  EXPECT_EQ(build_sdes_cname({b2.data(), 8}, 1, "abc"), 0u);
}

TEST(RtcpBye, SsrcsAndReason) {
  std::array<uint32_t, 2> ssrcs{1, 2};
  std::vector<uint8_t> buf(64);
  const size_t n = build_bye(buf, ssrcs);
  buf.resize(n);
  EXPECT_EQ(buf, hex("82 CB 00 02 00 00 00 01 00 00 00 02"));
  Bye bye;
  ASSERT_EQ(Bye::parse(only_packet(buf), bye), RtcpError::None);
  ASSERT_EQ(bye.ssrcs.size(), 2u);
  EXPECT_EQ(bye.ssrcs[1], 2u);
  EXPECT_TRUE(bye.reason.empty());
  ASSERT_EQ(Bye::parse(only_packet(kept("81 CB 00 02 00 00 00 01 03 62 79 65")), bye), RtcpError::None);
  EXPECT_EQ(std::string(bye.reason.begin(), bye.reason.end()), "bye");
  EXPECT_EQ(Bye::parse(only_packet(kept("81 CB 00 02 00 00 00 01 05 62 79 65")), bye), RtcpError::BadLength);
  EXPECT_EQ(Bye::parse(only_packet(kept("82 CB 00 01 00 00 00 01")), bye), RtcpError::BadLength);
}

TEST(RtcpNack, PacksExpandsAndWraps) {
  std::array<uint16_t, 6> seqs{65534, 65535, 0, 5, 5, 40};
  std::vector<uint8_t> buf(64);
  const size_t n = build_nack(buf, 0xAAAAAAAA, 0xBBBBBBBB, seqs);
  buf.resize(n);
  EXPECT_EQ(buf, hex("81 CD 00 04 AA AA AA AA BB BB BB BB FF FE 00 43 00 28 00 00"));
  RtcpPacket p = only_packet(buf);
  EXPECT_EQ(kind_of(p), RtcpKind::GenericNack);
  GenericNack nack;
  ASSERT_EQ(GenericNack::parse(p, nack), RtcpError::None);
  EXPECT_EQ(nack.sender_ssrc, 0xAAAAAAAAu);
  EXPECT_EQ(nack.media_ssrc, 0xBBBBBBBBu);
  ASSERT_EQ(nack.items.size(), 2u);
  EXPECT_EQ(nack.sequence_count(), 5u);
  std::array<uint16_t, 8> out{};
  ASSERT_EQ(nack.expand(out), 5u);
  EXPECT_EQ((std::vector<uint16_t>(out.begin(), out.begin() + 5)), (std::vector<uint16_t>{65534, 65535, 0, 5, 40}));
  // Bounded: only as many as the caller has room for.
  std::array<uint16_t, 3> small{};
  EXPECT_EQ(nack.expand(small), 3u);
  EXPECT_EQ(small[2], 0);
  EXPECT_EQ(nack.expand({}), 0u);
  EXPECT_EQ(build_nack(buf, 1, 2, {}), 0u);
}

TEST(RtcpNack, FullBitmaskAndManyItems) {
  std::vector<uint16_t> seqs;
  for (uint16_t s = 1000; s < 1000 + 17 * 20; ++s) seqs.push_back(s);  // 20 items, all bits set
  std::vector<uint8_t> buf(200);
  const size_t n = build_nack(buf, 1, 2, seqs);
  ASSERT_EQ(n, 12u + 80u);
  GenericNack nack;
  ASSERT_EQ(GenericNack::parse(only_packet({buf.data(), n}), nack), RtcpError::None);
  EXPECT_EQ(nack.items.size(), 20u);
  EXPECT_EQ(nack.items[0].blp, 0xFFFF);
  EXPECT_EQ(nack.sequence_count(), seqs.size());
  std::vector<uint16_t> out(400);
  out.resize(nack.expand(out));
  EXPECT_EQ(out, seqs);
  EXPECT_EQ(build_nack({buf.data(), n - 1}, 1, 2, seqs), 0u);
}

TEST(RtcpNack, MalformedFci) {
  GenericNack nack;
  EXPECT_EQ(GenericNack::parse(only_packet(kept("81 CD 00 02 00 00 00 01 00 00 00 02")), nack), RtcpError::BadLength);
  // Padding of 3 leaves a 5-byte FCI.
  EXPECT_EQ(GenericNack::parse(only_packet(kept("A1 CD 00 04 00 00 00 01 00 00 00 02 00 01 00 00 00 00 00 03")), nack),
            RtcpError::BadLength);
  EXPECT_EQ(GenericNack::parse(only_packet(kept("81 CE 00 03 00 00 00 01 00 00 00 02 00 01 00 00")), nack),
            RtcpError::WrongType);  // PSFB PLI-shaped
}

TEST(RtcpPli, ByteExact) {
  std::vector<uint8_t> buf(12);
  ASSERT_EQ(build_pli(buf, 0x01020304, 0x05060708), 12u);
  EXPECT_EQ(buf, hex("81 CE 00 02 01 02 03 04 05 06 07 08"));
  RtcpPacket p = only_packet(buf);
  EXPECT_EQ(kind_of(p), RtcpKind::Pli);
  Pli pli;
  ASSERT_EQ(Pli::parse(p, pli), RtcpError::None);
  EXPECT_EQ(pli.sender_ssrc, 0x01020304u);
  EXPECT_EQ(pli.media_ssrc, 0x05060708u);
  EXPECT_EQ(build_pli({buf.data(), 11}, 1, 2), 0u);
  EXPECT_EQ(Pli::parse(only_packet(kept("81 CE 00 01 00 00 00 01")), pli), RtcpError::Truncated);
}

TEST(RtcpFir, ByteExactAndEntries) {
  std::vector<uint8_t> buf(20);
  ASSERT_EQ(build_fir(buf, 0x01020304, 0x0A0B0C0D, 7), 20u);
  EXPECT_EQ(buf, hex("84 CE 00 04 01 02 03 04 00 00 00 00 0A 0B 0C 0D 07 00 00 00"));
  RtcpPacket p = only_packet(buf);
  EXPECT_EQ(kind_of(p), RtcpKind::Fir);
  Fir fir;
  ASSERT_EQ(Fir::parse(p, fir), RtcpError::None);
  EXPECT_EQ(fir.sender_ssrc, 0x01020304u);
  EXPECT_EQ(fir.media_ssrc, 0u);
  ASSERT_EQ(fir.entries.size(), 1u);
  EXPECT_EQ(fir.entries[0].ssrc, 0x0A0B0C0Du);
  EXPECT_EQ(fir.entries[0].sequence, 7);
  // Two entries.
  ASSERT_EQ(Fir::parse(only_packet(kept("84 CE 00 06 00 00 00 01 00 00 00 00 00 00 00 0A 01 00 00 00 00 00 00 0B 02 00 00 00")), fir),
            RtcpError::None);
  EXPECT_EQ(fir.entries.size(), 2u);
  EXPECT_EQ(fir.entries[1].sequence, 2);
  // FCI not a multiple of 8, or empty.
  EXPECT_EQ(Fir::parse(only_packet(kept("84 CE 00 03 00 00 00 01 00 00 00 00 00 00 00 0A")), fir), RtcpError::BadLength);
  EXPECT_EQ(Fir::parse(only_packet(kept("84 CE 00 02 00 00 00 01 00 00 00 00")), fir), RtcpError::BadLength);
  EXPECT_EQ(build_fir({buf.data(), 19}, 1, 2, 3), 0u);
}

TEST(RtcpRemb, ByteExactBitrateAndSaturation) {
  std::array<uint32_t, 1> ssrcs{0xAABBCCDD};
  std::vector<uint8_t> buf(24);
  ASSERT_EQ(build_remb(buf, 0x01020304, 1'000'000, ssrcs), 24u);
  EXPECT_EQ(buf, hex("8F CE 00 05 01 02 03 04 00 00 00 00 52 45 4D 42 01 0B D0 90 AA BB CC DD"));
  RtcpPacket p = only_packet(buf);
  EXPECT_EQ(kind_of(p), RtcpKind::Remb);
  Remb remb;
  ASSERT_EQ(Remb::parse(p, remb), RtcpError::None);
  EXPECT_EQ(remb.sender_ssrc, 0x01020304u);
  EXPECT_EQ(remb.bitrate_bps, 1'000'000u);
  ASSERT_EQ(remb.ssrcs.size(), 1u);
  EXPECT_EQ(remb.ssrcs[0], 0xAABBCCDDu);
  // Rounds down to 18 bits of mantissa.
  std::vector<uint8_t> b2(40);
  const size_t n2 = build_remb(b2, 1, 2'500'001, {});
  ASSERT_EQ(Remb::parse(only_packet({b2.data(), n2}), remb), RtcpError::None);
  EXPECT_LE(remb.bitrate_bps, 2'500'001u);
  EXPECT_GT(remb.bitrate_bps, 2'500'001u - 16);
  // Largest exponent and mantissa: saturates instead of overflowing.
  ASSERT_EQ(Remb::parse(only_packet(kept("8F CE 00 04 00 00 00 01 00 00 00 00 52 45 4D 42 00 FF FF FF")), remb), RtcpError::None);
  EXPECT_EQ(remb.bitrate_bps, std::numeric_limits<uint64_t>::max());
  // Exponent 46 still fits exactly.
  ASSERT_EQ(Remb::parse(only_packet(kept("8F CE 00 04 00 00 00 01 00 00 00 00 52 45 4D 42 00 BB FF FF")), remb), RtcpError::None);
  EXPECT_EQ(remb.bitrate_bps, uint64_t{0x3FFFF} << 46);
  // SSRC count past the FCI.
  EXPECT_EQ(Remb::parse(only_packet(kept("8F CE 00 05 00 00 00 01 00 00 00 00 52 45 4D 42 02 0B D0 90 AA BB CC DD")), remb),
            RtcpError::BadLength);
  // AFB that is not REMB.
  RtcpPacket other = only_packet(kept("8F CE 00 04 00 00 00 01 00 00 00 00 41 42 43 44 00 00 00 00"));
  EXPECT_EQ(kind_of(other), RtcpKind::OtherPsfb);
  EXPECT_EQ(Remb::parse(other, remb), RtcpError::WrongType);
}

TEST(RtcpCompound, WriterBuildsAndReaderIterates) {
  std::array<uint8_t, 200> buf{};
  RtcpWriter w(buf);
  std::array<ReportBlock, 1> blocks{ReportBlock{.ssrc = 0x5555, .fraction_lost = 3, .cumulative_lost = 9, .highest_sequence = 70000}};
  std::array<uint16_t, 2> lost{10, 12};
  EXPECT_TRUE(w.append(build_rr(w.remaining(), 0x1111, blocks)));
  EXPECT_TRUE(w.append(build_sdes_cname(w.remaining(), 0x1111, "sfu")));
  EXPECT_TRUE(w.append(build_pli(w.remaining(), 0x1111, 0x5555)));
  EXPECT_TRUE(w.append(build_nack(w.remaining(), 0x1111, 0x5555, lost)));
  EXPECT_TRUE(w.append(build_fir(w.remaining(), 0x1111, 0x5555, 1)));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w.size(), 32u + 16u + 12u + 16u + 20u);
  EXPECT_EQ(validate_compound(w.bytes()), RtcpError::None);
  auto v = all_packets(w.bytes());
  ASSERT_EQ(v.size(), 5u);
  EXPECT_EQ(kind_of(v[0]), RtcpKind::ReceiverReport);
  EXPECT_EQ(kind_of(v[1]), RtcpKind::Sdes);
  EXPECT_EQ(kind_of(v[2]), RtcpKind::Pli);
  EXPECT_EQ(kind_of(v[3]), RtcpKind::GenericNack);
  EXPECT_EQ(kind_of(v[4]), RtcpKind::Fir);
  ReceiverReport rr;
  ASSERT_EQ(ReceiverReport::parse(v[0], rr), RtcpError::None);
  EXPECT_EQ(rr.blocks[0].highest_sequence, 70000u);
  GenericNack nack;
  ASSERT_EQ(GenericNack::parse(v[3], nack), RtcpError::None);
  std::array<uint16_t, 4> seqs{};
  ASSERT_EQ(nack.expand(seqs), 2u);
  EXPECT_EQ(seqs[1], 12);
}

TEST(RtcpCompound, WriterKeepsSrtcpRoomAndFailsWhenFull) {
  std::array<uint8_t, 8 + kSrtcpTrailerRoom> buf{};
  RtcpWriter w(buf);
  EXPECT_EQ(w.remaining().size(), 8u);
  EXPECT_TRUE(w.append(build_rr(w.remaining(), 1, {})));
  EXPECT_FALSE(w.append(build_pli(w.remaining(), 1, 2)));
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(w.size(), 8u);
  std::array<uint8_t, 10> tiny{};
  RtcpWriter t(tiny);
  EXPECT_TRUE(t.remaining().empty());
  EXPECT_FALSE(t.ok());
}

TEST(RtcpRewrite, SubscriberFeedbackToPublisher) {
  constexpr uint32_t kSub = 0x50B, kSfu = 0x5F0, kA = 0xA0A0, kB = 0xB0B0, kX = 0x7777;
  constexpr uint32_t kPubA = 0x1A1A, kPubB = 0x1B1B;
  std::array<uint8_t, 400> buf{};
  RtcpWriter w(buf);
  std::array<ReportBlock, 2> blocks{ReportBlock{.ssrc = kA}, ReportBlock{.ssrc = kX}};
  std::array<uint32_t, 2> remb_ssrcs{kA, kB};
  std::array<uint32_t, 1> bye_ssrcs{kSub};
  std::array<uint16_t, 1> lost{99};
  w.append(build_rr(w.remaining(), kSub, blocks));
  w.append(build_sdes_cname(w.remaining(), kSub, "sub"));
  w.append(build_pli(w.remaining(), kSub, kA));
  w.append(build_fir(w.remaining(), kSub, kA, 4));
  w.append(build_remb(w.remaining(), kSub, 300000, remb_ssrcs));
  w.append(build_nack(w.remaining(), kSub, kB, lost));
  w.append(build_bye(w.remaining(), bye_ssrcs));
  ASSERT_TRUE(w.ok());
  std::vector<uint8_t> d(w.bytes().begin(), w.bytes().end());
  std::array<SsrcMapping, 2> map{SsrcMapping{kA, kPubA}, SsrcMapping{kB, kPubB}};
  size_t unmapped = 99;
  ASSERT_EQ(rewrite_ssrcs(d, kSfu, map, &unmapped), RtcpError::None);
  EXPECT_EQ(unmapped, 1u);  // kX's report block
  auto v = all_packets(d);
  ASSERT_EQ(v.size(), 7u);
  ReceiverReport rr;
  ASSERT_EQ(ReceiverReport::parse(v[0], rr), RtcpError::None);
  EXPECT_EQ(rr.ssrc, kSfu);
  EXPECT_EQ(rr.blocks[0].ssrc, kPubA);
  EXPECT_EQ(rr.blocks[1].ssrc, kX);
  EXPECT_EQ(be::u32(v[1].body.data()), kSfu);  // SDES chunk
  Pli pli;
  ASSERT_EQ(Pli::parse(v[2], pli), RtcpError::None);
  EXPECT_EQ(pli.sender_ssrc, kSfu);
  EXPECT_EQ(pli.media_ssrc, kPubA);
  Fir fir;
  ASSERT_EQ(Fir::parse(v[3], fir), RtcpError::None);
  EXPECT_EQ(fir.sender_ssrc, kSfu);
  EXPECT_EQ(fir.media_ssrc, 0u);
  EXPECT_EQ(fir.entries[0].ssrc, kPubA);
  EXPECT_EQ(fir.entries[0].sequence, 4);
  Remb remb;
  ASSERT_EQ(Remb::parse(v[4], remb), RtcpError::None);
  EXPECT_EQ(remb.ssrcs[0], kPubA);
  EXPECT_EQ(remb.ssrcs[1], kPubB);
  EXPECT_EQ(remb.bitrate_bps, 300000u);
  GenericNack nack;
  ASSERT_EQ(GenericNack::parse(v[5], nack), RtcpError::None);
  EXPECT_EQ(nack.sender_ssrc, kSfu);
  EXPECT_EQ(nack.media_ssrc, kPubB);
  EXPECT_EQ(nack.items[0].pid, 99);
  Bye bye;
  ASSERT_EQ(Bye::parse(v[6], bye), RtcpError::None);
  EXPECT_EQ(bye.ssrcs[0], kSfu);

  // Without a sender SSRC only the media side changes.
  std::vector<uint8_t> p(12);
  build_pli(p, kSub, kB);
  ASSERT_EQ(rewrite_ssrcs(p, std::nullopt, map), RtcpError::None);
  EXPECT_EQ(p, hex("81 CE 00 02 00 00 05 0B 00 00 1B 1B"));
}

TEST(RtcpRewrite, MalformedCompoundLeftUntouched) {
  std::array<SsrcMapping, 1> map{SsrcMapping{2, 3}};
  // A good PLI followed by a FIR whose FCI is not a multiple of 8.
  auto d = hex("81 CE 00 02 00 00 00 01 00 00 00 02 84 CE 00 03 00 00 00 01 00 00 00 00 00 00 00 02");
  const auto before = d;
  EXPECT_EQ(rewrite_ssrcs(d, 9u, map), RtcpError::BadLength);
  EXPECT_EQ(d, before);
  // SDES chunk running past the body.
  auto s = hex("81 CA 00 02 00 00 00 01 01 09 61 62");
  EXPECT_EQ(rewrite_ssrcs(s, 9u, map), RtcpError::BadLength);
  // SDES with no null terminator before the end.
  auto s2 = hex("81 CA 00 02 00 00 00 01 01 02 61 62");
  EXPECT_EQ(rewrite_ssrcs(s2, 9u, map), RtcpError::BadLength);
  // Length past the buffer, and empty.
  auto l = hex("81 CE 00 03 00 00 00 01 00 00 00 02");
  EXPECT_EQ(rewrite_ssrcs(l, 9u, map), RtcpError::BadLength);
  EXPECT_EQ(rewrite_ssrcs({}, 9u, map), RtcpError::Truncated);
  // Two SDES chunks, one with two items, are walked.
  auto ok = hex("82 CA 00 05 00 00 00 01 01 01 61 00 00 00 00 02 01 02 61 62 06 01 7A 00");
  ASSERT_EQ(rewrite_ssrcs(ok, 9u, map), RtcpError::None);
  EXPECT_EQ(be::u32(&ok[4]), 9u);
  EXPECT_EQ(be::u32(&ok[12]), 9u);
}

// ---- receive statistics ----

TEST(RtpStats, ProbationThenSequentialAcrossWrap) {
  RtpReceiveStats s(90000);
  EXPECT_FALSE(s.on_packet(65500, 0, 0));  // first packet: probation
  EXPECT_FALSE(s.valid());
  for (uint32_t i = 1; i < 100; ++i) EXPECT_TRUE(s.on_packet(static_cast<uint16_t>(65500 + i), i * 3000, i * 33333));
  EXPECT_TRUE(s.valid());
  EXPECT_EQ(s.extended_highest_sequence(), 65599u);
  EXPECT_EQ(s.received(), 99u);
  EXPECT_EQ(s.cumulative_lost(), 0);
  ReportBlock b = s.report_block(0xABC, 4'000'000);
  EXPECT_EQ(b.ssrc, 0xABCu);
  EXPECT_EQ(b.highest_sequence, 65599u);
  EXPECT_EQ(b.cumulative_lost, 0);
  EXPECT_EQ(b.fraction_lost, 0);
  EXPECT_EQ(b.lsr, 0u);
  EXPECT_EQ(b.dlsr, 0u);
}

TEST(RtpStats, ProbationRestartsOnGap) {
  RtpReceiveStats s(48000);
  EXPECT_FALSE(s.on_packet(10, 0, 0));
  EXPECT_FALSE(s.on_packet(20, 960, 20000));  // not sequential: probation again
  EXPECT_TRUE(s.on_packet(21, 1920, 40000));
  EXPECT_EQ(s.received(), 1u);
  EXPECT_EQ(s.extended_highest_sequence(), 21u);
  ReportBlock empty = RtpReceiveStats(8000).report_block(1, 0);
  EXPECT_EQ(empty.highest_sequence, 0u);
}

TEST(RtpStats, LossFractionAndInterval) {
  RtpReceiveStats s(8000);
  for (uint16_t i = 0; i < 100; ++i) {
    if (i >= 50 && i < 60) continue;
    s.on_packet(i, i * 160u, i * 20000);
  }
  // Counted from 1 (0 was probation): 99 expected, 89 received.
  EXPECT_EQ(s.cumulative_lost(), 10);
  ReportBlock b = s.report_block(7, 2'000'000);
  EXPECT_EQ(b.cumulative_lost, 10);
  EXPECT_EQ(b.fraction_lost, 10 * 256 / 99);
  EXPECT_EQ(b.highest_sequence, 99u);
  // Next interval: 10 more packets, none lost.
  for (uint16_t i = 100; i < 110; ++i) s.on_packet(i, i * 160u, i * 20000);
  b = s.report_block(7, 2'200'000);
  EXPECT_EQ(b.fraction_lost, 0);
  EXPECT_EQ(b.cumulative_lost, 10);
  // An interval with no packets at all.
  b = s.report_block(7, 2'400'000);
  EXPECT_EQ(b.fraction_lost, 0);
}

TEST(RtpStats, DuplicatesMakeLossNegative) {
  RtpReceiveStats s(8000);
  for (uint16_t i = 0; i < 10; ++i) s.on_packet(i, i * 160u, i * 20000);
  for (uint16_t i = 5; i < 10; ++i) s.on_packet(i, i * 160u, 300000);  // duplicates are counted (A.3)
  EXPECT_EQ(s.cumulative_lost(), -5);
  ReportBlock b = s.report_block(1, 400000);
  EXPECT_EQ(b.cumulative_lost, -5);
  EXPECT_EQ(b.fraction_lost, 0);
}

TEST(RtpStats, SequenceJumpNeedsConfirmation) {
  RtpReceiveStats s(90000);
  for (uint16_t i = 0; i < 10; ++i) s.on_packet(i, 0, 0);
  EXPECT_FALSE(s.on_packet(20000, 0, 0));  // a jump > MAX_DROPOUT: not counted yet
  EXPECT_EQ(s.extended_highest_sequence(), 9u);
  EXPECT_TRUE(s.on_packet(20001, 0, 0));   // confirmed: the source restarted
  EXPECT_EQ(s.extended_highest_sequence(), 20001u);
  EXPECT_EQ(s.received(), 1u);
  EXPECT_EQ(s.cumulative_lost(), 0);
  EXPECT_TRUE(s.on_packet(19990, 0, 0));   // late packet from before: counted, not a new max
  EXPECT_EQ(s.extended_highest_sequence(), 20001u);
}

TEST(RtpStats, InterarrivalJitter) {
  RtpReceiveStats s(8000);
  for (int64_t i = 0; i <= 4; ++i) s.on_packet(static_cast<uint16_t>(i), static_cast<uint32_t>(i * 160), i * 20000);
  EXPECT_EQ(s.jitter(), 0u);
  s.on_packet(5, 800, 5 * 20000 + 10000);  // 10 ms (80 ticks) late: J = 80/16 = 5
  EXPECT_EQ(s.jitter(), 5u);
  s.on_packet(6, 960, 6 * 20000);          // back on time: |D| = 80 again, J = 5 + 75/16 = 9
  EXPECT_EQ(s.jitter(), 9u);
  // Packets of one frame (same timestamp) sent in a burst do not add jitter.
  s.on_packet(7, 1120, 7 * 20000);
  const uint32_t j = s.jitter();
  s.on_packet(8, 1120, 7 * 20000 + 5000);
  EXPECT_EQ(s.jitter(), j);
  EXPECT_EQ(s.report_block(1, 200000).jitter, j);
}

TEST(RtpStats, LastSenderReport) {
  RtpReceiveStats s(90000);
  s.on_packet(1, 0, 0);
  s.on_packet(2, 0, 0);
  s.on_sender_report(0x1122334455667788ull, 1'000'000);
  ReportBlock b = s.report_block(3, 1'500'000);
  EXPECT_EQ(b.lsr, 0x33445566u);
  EXPECT_EQ(b.dlsr, 32768u);  // 0.5 s in 1/65536 s
  b = s.report_block(3, 3'000'000);
  EXPECT_EQ(b.dlsr, 2u * 65536u);
  b = s.report_block(3, 500'000);  // clock before the SR: no negative delay
  EXPECT_EQ(b.dlsr, 0u);
}
