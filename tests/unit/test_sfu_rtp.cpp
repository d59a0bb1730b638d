// RTP view, rewrite and keyframe detection (sfu/rtp.hpp), the NACK buffer (sfu/nack_buffer.hpp).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "sfu/nack_buffer.hpp"
#include "sfu/rtp.hpp"

#include "hex.hpp"

using namespace sfu;

namespace {

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

std::vector<uint8_t> chromium_rtp() {
  auto d = read_file(std::string(TURNPIKE_SOURCE_DIR) + "/tests/fixtures/chromium/chromium_channeldata_rtp.bin");
  return d.size() > 4 ? std::vector<uint8_t>(d.begin() + 4, d.end()) : std::vector<uint8_t>{};  // strip ChannelData
}

std::span<const uint8_t> str(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
std::string as_string(std::span<const uint8_t> s) { return {s.begin(), s.end()}; }

// V=2, M=1, PT 96, seq 0x1234, ts 0x11223344, SSRC 0xAABBCCDD; one-byte extensions: mid (id 1) "0",
// abs-send-time (id 3) 01 02 03, transport-cc (id 5) 00 07, 3 padding bytes; payload DE AD BE EF.
const std::string_view kOneByte =
    "90 E0 12 34 11 22 33 44 AA BB CC DD BE DE 00 03 10 30 32 01 02 03 51 00 07 00 00 00 DE AD BE EF";

}  // namespace

// ---- parse ----

TEST(RtpParse, FixedHeaderFields) {
  auto d = hex("80 E0 12 34 11 22 33 44 AA BB CC DD 01 02");
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse(d, p), RtpError::None);
  EXPECT_TRUE(p.marker);
  EXPECT_EQ(p.payload_type, 96);
  EXPECT_EQ(p.sequence, 0x1234);
  EXPECT_EQ(p.timestamp, 0x11223344u);
  EXPECT_EQ(p.ssrc, 0xAABBCCDDu);
  EXPECT_EQ(p.csrc_count, 0);
  EXPECT_FALSE(p.has_extension);
  EXPECT_FALSE(p.padding);
  EXPECT_EQ(p.header_size, 12u);
  ASSERT_EQ(p.payload.size(), 2u);
  EXPECT_EQ(p.payload.data(), d.data() + 12);
  EXPECT_EQ(p.raw.size(), d.size());
}

TEST(RtpParse, HeaderOnlyPacketHasEmptyPayload) {
  auto d = hex("80 00 00 01 00 00 00 00 00 00 00 01");
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse(d, p), RtpError::None);
  EXPECT_TRUE(p.payload.empty());
}

TEST(RtpParse, TruncatedFixedHeader) {
  auto d = hex("80 E0 12 34 11 22 33 44 AA BB CC DD");
  RtpPacket p;
  for (size_t n = 0; n < 12; ++n) EXPECT_EQ(RtpPacket::parse({d.data(), n}, p), RtpError::Truncated) << n;
  EXPECT_EQ(RtpPacket::parse_header({d.data(), 11}, p), RtpError::Truncated);
}

TEST(RtpParse, BadVersion) {
  for (uint8_t first : {0x00, 0x40, 0xC0, 0x3F}) {
    auto d = hex("80 E0 12 34 11 22 33 44 AA BB CC DD");
    d[0] = first;
    RtpPacket p;
    EXPECT_EQ(RtpPacket::parse(d, p), RtpError::BadVersion) << int(first);
  }
}

TEST(RtpParse, Csrcs) {
  auto d = hex("82 60 00 01 00 00 00 02 00 00 00 03 01 01 01 01 02 02 02 02 FF");
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse(d, p), RtpError::None);
  EXPECT_EQ(p.csrc_count, 2);
  EXPECT_EQ(p.csrc(0), 0x01010101u);
  EXPECT_EQ(p.csrc(1), 0x02020202u);
  EXPECT_EQ(p.csrc(2), 0u);
  EXPECT_EQ(p.header_size, 20u);
  EXPECT_EQ(p.payload.size(), 1u);
}

TEST(RtpParse, CsrcOverrun) {
  RtpPacket p;
  auto d = hex("82 60 00 01 00 00 00 02 00 00 00 03 01 01 01 01 02 02 02");  // 2 CSRCs, 7 bytes
  EXPECT_EQ(RtpPacket::parse(d, p), RtpError::CsrcOverrun);
  auto f = hex("8F 60 00 01 00 00 00 02 00 00 00 03");  // 15 CSRCs, none present
  EXPECT_EQ(RtpPacket::parse(f, p), RtpError::CsrcOverrun);
  EXPECT_EQ(RtpPacket::parse_header(f, p), RtpError::CsrcOverrun);
  auto exact = hex("81 60 00 01 00 00 00 02 00 00 00 03 01 01 01 01");  // exactly fits: fine
  EXPECT_EQ(RtpPacket::parse(exact, p), RtpError::None);
}

TEST(RtpParse, OneByteExtensions) {
  auto d = hex(kOneByte);
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse(d, p), RtpError::None);
  EXPECT_TRUE(p.one_byte_extensions());
  EXPECT_FALSE(p.two_byte_extensions());
  EXPECT_EQ(p.extension_profile, 0xBEDE);
  EXPECT_EQ(p.extension_data.size(), 12u);
  ASSERT_EQ(p.extension_count, 3);
  EXPECT_EQ(p.extensions[0].id, 1);
  EXPECT_EQ(as_string(p.extensions[0].value), "0");
  EXPECT_EQ(p.extensions[1].id, 3);
  EXPECT_EQ(p.extensions[1].value.size(), 3u);
  EXPECT_EQ(p.extensions[2].id, 5);
  EXPECT_EQ(p.extensions[2].value[1], 0x07);
  ASSERT_NE(p.extension(3), nullptr);
  EXPECT_EQ(p.extension(3)->value[0], 0x01);
  EXPECT_EQ(p.extension(7), nullptr);
  EXPECT_EQ(p.header_size, 28u);
  EXPECT_EQ(p.payload.size(), 4u);
}

TEST(RtpParse, OneByteExtensionPaddingBetweenElementsAndId15StopsProcessing) {
  // 00 (padding), id 2 len 1, 00 00 (padding), id 15 (stop: the rest is ignored, even if bogus).
  auto d = hex("90 60 00 01 00 00 00 02 00 00 00 03 BE DE 00 02 00 20 AA 00 00 F0 FF FF");
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse(d, p), RtpError::None);
  ASSERT_EQ(p.extension_count, 1);
  EXPECT_EQ(p.extensions[0].id, 2);
  EXPECT_EQ(p.extensions[0].value[0], 0xAA);
}

TEST(RtpParse, TwoByteExtensions) {
  // Profile 0x1003 (appbits 3): id 1 len 0, padding byte, id 200 len 3, padding.
  auto d = hex("90 60 00 01 00 00 00 02 00 00 00 03 10 03 00 02 01 00 00 C8 03 61 62 63 99");
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse(d, p), RtpError::None);
  EXPECT_TRUE(p.two_byte_extensions());
  ASSERT_EQ(p.extension_count, 2);
  EXPECT_EQ(p.extensions[0].id, 1);
  EXPECT_TRUE(p.extensions[0].value.empty());
  EXPECT_EQ(p.extensions[1].id, 200);
  EXPECT_EQ(as_string(p.extensions[1].value), "abc");
  EXPECT_EQ(p.payload.size(), 1u);
}

TEST(RtpParse, OtherExtensionProfileIsKeptRaw) {
  auto d = hex("90 60 00 01 00 00 00 02 00 00 00 03 AB CD 00 01 01 02 03 04");
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse(d, p), RtpError::None);
  EXPECT_EQ(p.extension_profile, 0xABCD);
  EXPECT_EQ(p.extension_count, 0);
  EXPECT_EQ(p.extension_data.size(), 4u);
  EXPECT_TRUE(p.payload.empty());
}

TEST(RtpParse, EmptyExtensionBlock) {
  auto d = hex("90 60 00 01 00 00 00 02 00 00 00 03 BE DE 00 00 77");
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse(d, p), RtpError::None);
  EXPECT_TRUE(p.has_extension);
  EXPECT_EQ(p.extension_count, 0);
  EXPECT_EQ(p.payload.size(), 1u);
}

TEST(RtpParse, ExtensionOverrun) {
  RtpPacket p;
  // X set, the 4-byte extension header missing or cut.
  EXPECT_EQ(RtpPacket::parse(hex("90 60 00 01 00 00 00 02 00 00 00 03"), p), RtpError::ExtensionOverrun);
  EXPECT_EQ(RtpPacket::parse(hex("90 60 00 01 00 00 00 02 00 00 00 03 BE DE 00"), p), RtpError::ExtensionOverrun);
  // Length says 2 words, 7 bytes follow.
  EXPECT_EQ(RtpPacket::parse(hex("90 60 00 01 00 00 00 02 00 00 00 03 BE DE 00 02 10 30 00 00 00 00 00"), p),
            RtpError::ExtensionOverrun);
  // Length 0xFFFF.
  EXPECT_EQ(RtpPacket::parse(hex("90 60 00 01 00 00 00 02 00 00 00 03 BE DE FF FF 10 30 00 00"), p),
            RtpError::ExtensionOverrun);
  // After CSRCs.
  EXPECT_EQ(RtpPacket::parse(hex("91 60 00 01 00 00 00 02 00 00 00 03 01 02 03 04 BE DE 00 01"), p),
            RtpError::ExtensionOverrun);
}

TEST(RtpParse, ExtensionElementOverrunsBlock) {
  RtpPacket p;
  // One-byte: id 1 with 4 bytes (L=3) in a 4-byte block that has 3 after the element header.
  EXPECT_EQ(RtpPacket::parse(hex("90 60 00 01 00 00 00 02 00 00 00 03 BE DE 00 01 13 01 02 03 FF FF"), p),
            RtpError::BadExtension);
  // One-byte: element header in the last byte, value outside the block (but inside the packet).
  EXPECT_EQ(RtpPacket::parse(hex("90 60 00 01 00 00 00 02 00 00 00 03 BE DE 00 01 00 00 00 10 30 30"), p),
            RtpError::BadExtension);
  // Two-byte: length byte missing.
  EXPECT_EQ(RtpPacket::parse(hex("90 60 00 01 00 00 00 02 00 00 00 03 10 00 00 01 00 00 00 05"), p),
            RtpError::BadExtension);
  // Two-byte: length 3 with 2 bytes left.
  EXPECT_EQ(RtpPacket::parse(hex("90 60 00 01 00 00 00 02 00 00 00 03 10 00 00 01 05 03 AA BB CC"), p),
            RtpError::BadExtension);
}

TEST(RtpParse, TooManyExtensions) {
  // 17 one-byte elements of 1 byte each: 34 bytes, in 9 words.
  std::vector<uint8_t> d = hex("90 60 00 01 00 00 00 02 00 00 00 03 BE DE 00 09");
  for (int i = 0; i < 17; ++i) { d.push_back(static_cast<uint8_t>((1 + i % 14) << 4)); d.push_back(0x55); }
  d.push_back(0); d.push_back(0);
  RtpPacket p;
  EXPECT_EQ(RtpPacket::parse(d, p), RtpError::TooManyExtensions);
  // 16 is the limit and parses.
  std::vector<uint8_t> ok = hex("90 60 00 01 00 00 00 02 00 00 00 03 BE DE 00 08");
  for (int i = 0; i < 16; ++i) { ok.push_back(static_cast<uint8_t>((1 + i % 14) << 4)); ok.push_back(0x55); }
  ASSERT_EQ(RtpPacket::parse(ok, p), RtpError::None);
  EXPECT_EQ(p.extension_count, 16);
}

TEST(RtpParse, Padding) {
  RtpPacket p;
  auto d = hex("A0 60 00 01 00 00 00 02 00 00 00 03 11 22 00 00 03");
  ASSERT_EQ(RtpPacket::parse(d, p), RtpError::None);
  EXPECT_TRUE(p.padding);
  EXPECT_EQ(p.padding_size, 3);
  ASSERT_EQ(p.payload.size(), 2u);
  EXPECT_EQ(p.payload[1], 0x22);
  // Padding-only packet (as libwebrtc's bandwidth probes): the padding is the whole payload.
  auto only = hex("A0 60 00 01 00 00 00 02 00 00 00 03 00 00 00 04");
  ASSERT_EQ(RtpPacket::parse(only, p), RtpError::None);
  EXPECT_TRUE(p.payload.empty());
  EXPECT_EQ(p.padding_size, 4);
}

TEST(RtpParse, BadPadding) {
  RtpPacket p;
  // Count 0.
  EXPECT_EQ(RtpPacket::parse(hex("A0 60 00 01 00 00 00 02 00 00 00 03 11 22 00 00 00"), p), RtpError::BadPadding);
  // Count larger than the payload.
  EXPECT_EQ(RtpPacket::parse(hex("A0 60 00 01 00 00 00 02 00 00 00 03 11 22 00 00 06"), p), RtpError::BadPadding);
  // No payload at all: the count would be read from the header.
  EXPECT_EQ(RtpPacket::parse(hex("A0 60 00 01 00 00 00 02 00 00 00 01"), p), RtpError::BadPadding);
  // Count reaching into the extension block.
  EXPECT_EQ(RtpPacket::parse(hex("B0 60 00 01 00 00 00 02 00 00 00 03 BE DE 00 01 10 30 00 00 AA 02"), p), RtpError::None);
  EXPECT_EQ(RtpPacket::parse(hex("B0 60 00 01 00 00 00 02 00 00 00 03 BE DE 00 01 10 30 00 00 AA 03"), p), RtpError::BadPadding);
  // parse_header does not read the count (it is encrypted in SRTP).
  EXPECT_EQ(RtpPacket::parse_header(hex("A0 60 00 01 00 00 00 02 00 00 00 03 11 22 00 00 00"), p), RtpError::None);
  EXPECT_EQ(p.payload.size(), 5u);
  EXPECT_EQ(p.padding_size, 0);
}

TEST(RtpParse, DemuxPredicates) {
  auto with = [](uint8_t b0, uint8_t b1, size_t n) {
    std::vector<uint8_t> d(n, 0);
    if (n > 0) d[0] = b0;
    if (n > 1) d[1] = b1;
    return d;
  };
  // RFC 7983: 128..191.
  EXPECT_FALSE(looks_like_rtp_or_rtcp(with(127, 96, 12)));
  EXPECT_TRUE(looks_like_rtp_or_rtcp(with(128, 96, 12)));
  EXPECT_TRUE(looks_like_rtp_or_rtcp(with(191, 96, 12)));
  EXPECT_FALSE(looks_like_rtp_or_rtcp(with(192, 96, 12)));
  EXPECT_FALSE(looks_like_rtp_or_rtcp({}));
  // RFC 5761 4: RTCP types 192..223, i.e. 64..95 with the marker bit masked.
  EXPECT_TRUE(looks_like_rtcp(with(0x80, 200, 8)));
  EXPECT_TRUE(looks_like_rtcp(with(0x81, 205, 8)));
  EXPECT_TRUE(looks_like_rtcp(with(0x80, 192, 8)));
  EXPECT_TRUE(looks_like_rtcp(with(0x80, 223, 8)));
  EXPECT_FALSE(looks_like_rtcp(with(0x80, 224, 8)));
  EXPECT_FALSE(looks_like_rtcp(with(0x80, 191, 8)));
  EXPECT_FALSE(looks_like_rtcp(with(0x80, 200, 7)));
  EXPECT_FALSE(looks_like_rtcp(with(0x10, 200, 8)));
  EXPECT_TRUE(looks_like_rtp(with(0x80, 96, 12)));
  EXPECT_TRUE(looks_like_rtp(with(0x80, 96 | 0x80, 12)));
  EXPECT_TRUE(looks_like_rtp(with(0x80, 111, 12)));
  EXPECT_TRUE(looks_like_rtp(with(0x80, 0, 12)));
  EXPECT_FALSE(looks_like_rtp(with(0x80, 200, 12)));
  EXPECT_FALSE(looks_like_rtp(with(0x80, 72, 12)));  // PT 72 is ambiguous: RTCP (RFC 5761 4)
  EXPECT_FALSE(looks_like_rtp(with(0x80, 96, 11)));
  EXPECT_FALSE(looks_like_rtp(with(0x16, 0xFE, 20)));  // DTLS
  EXPECT_FALSE(looks_like_rtp(with(0x00, 0x01, 20)));  // STUN
}

TEST(RtpParse, ChromiumSrtpPacketHeader) {
  auto d = chromium_rtp();
  ASSERT_EQ(d.size(), 293u);
  EXPECT_TRUE(looks_like_rtp(d));
  EXPECT_FALSE(looks_like_rtcp(d));
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse_header(d, p), RtpError::None);
  EXPECT_TRUE(p.padding);  // a padding-only bandwidth probe; its padding count is encrypted
  EXPECT_FALSE(p.marker);
  EXPECT_EQ(p.payload_type, 97);
  EXPECT_EQ(p.sequence, 0x346A);
  EXPECT_EQ(p.timestamp, 0u);
  EXPECT_EQ(p.ssrc, 0x84D0E933u);
  EXPECT_TRUE(p.one_byte_extensions());
  ASSERT_EQ(p.extension_count, 3);
  EXPECT_EQ(p.extensions[0].id, 9);  // mid "0"
  EXPECT_EQ(as_string(p.extensions[0].value), "0");
  EXPECT_EQ(p.extensions[1].id, 4);  // transport-wide sequence number
  EXPECT_EQ(p.extensions[1].value.size(), 2u);
  EXPECT_EQ(p.extensions[2].id, 2);  // abs-send-time
  EXPECT_EQ(p.extensions[2].value.size(), 3u);
  EXPECT_EQ(p.header_size, 28u);
  EXPECT_EQ(p.payload.size(), 293u - 28u);  // encrypted payload + padding, then the 10-byte tag
}

// ---- rewrite ----

TEST(RtpRewrite, OneByteExactOutput) {
  auto in = hex(kOneByte);
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse(in, p), RtpError::None);
  ExtensionIdMap map;
  map.set(3, 2);  // abs-send-time
  map.set(5, 4);  // transport-cc
  RtpRewrite r;
  r.ssrc = 0x01020304;
  r.payload_type = 111;
  r.sequence = 0x0042;
  r.timestamp_offset = 0x10;
  r.extension_map = &map;
  r.publisher_mid_id = 1;
  r.mid_id = 9;
  r.mid = str("3");
  std::vector<uint8_t> out(64);
  const size_t n = rewrite(p, out, r);
  out.resize(n);
  EXPECT_EQ(out, hex("90 EF 00 42 11 22 33 54 01 02 03 04 BE DE 00 03 22 01 02 03 41 00 07 90 33 00 00 00 DE AD BE EF"));

  RtpPacket q;
  ASSERT_EQ(RtpPacket::parse(out, q), RtpError::None);
  EXPECT_EQ(q.ssrc, 0x01020304u);
  EXPECT_EQ(q.payload_type, 111);
  EXPECT_TRUE(q.marker);
  EXPECT_EQ(q.sequence, 0x42);
  EXPECT_EQ(q.timestamp, 0x11223354u);
  ASSERT_EQ(q.extension_count, 3);
  EXPECT_EQ(as_string(q.extension(9)->value), "3");
  EXPECT_EQ(q.extension(2)->value.size(), 3u);
  EXPECT_EQ(q.extension(4)->value[1], 0x07);
  EXPECT_EQ(q.extension(1), nullptr);
  EXPECT_TRUE(std::equal(q.payload.begin(), q.payload.end(), p.payload.begin(), p.payload.end()));
}

TEST(RtpRewrite, LongMidNeedsTwoByteForm) {
  auto in = hex(kOneByte);
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse(in, p), RtpError::None);
  ExtensionIdMap map;
  map.set(3, 2);
  map.set(5, 4);
  RtpRewrite r{.ssrc = 0x01020304, .payload_type = 111, .sequence = 0x0042, .extension_map = &map,
               .publisher_mid_id = 1, .mid_id = 9, .mid = str("subscriber-mid-01")};
  std::vector<uint8_t> out(80);
  const size_t n = rewrite(p, out, r);
  out.resize(n);
  EXPECT_EQ(out, hex("90 EF 00 42 11 22 33 44 01 02 03 04 10 00 00 07"
                     "02 03 01 02 03 04 02 00 07 09 11 73 75 62 73 63 72 69 62 65 72 2D 6D 69 64 2D 30 31"
                     "DE AD BE EF"));
  RtpPacket q;
  ASSERT_EQ(RtpPacket::parse(out, q), RtpError::None);
  EXPECT_TRUE(q.two_byte_extensions());
  EXPECT_EQ(as_string(q.extension(9)->value), "subscriber-mid-01");
  EXPECT_EQ(q.payload.size(), 4u);
}

TEST(RtpRewrite, HighIdNeedsTwoByteFormAndPads) {
  auto in = hex(kOneByte);
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse(in, p), RtpError::None);
  ExtensionIdMap map;
  map.set(5, 20);  // subscriber negotiated id 20 (a=extmap-allow-mixed)
  RtpRewrite r{.ssrc = 7, .payload_type = 96, .sequence = 1, .extension_map = &map};
  std::vector<uint8_t> out(64);
  const size_t n = rewrite(p, out, r);
  out.resize(n);
  // mid dropped (no publisher_mid_id given and id 1 unmapped), abs-send-time unmapped.
  EXPECT_EQ(out, hex("90 E0 00 01 11 22 33 44 00 00 00 07 10 00 00 01 14 02 00 07 DE AD BE EF"));
}

TEST(RtpRewrite, TwoByteInputBecomesOneByte) {
  // Two-byte input: id 1 len 1 "0", id 2 len 2 AA BB; payload 01.
  auto in = hex("90 60 00 05 00 00 00 10 00 00 00 20 10 00 00 02 01 01 30 02 02 AA BB 00 01");
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse(in, p), RtpError::None);
  ExtensionIdMap map;
  map.set(2, 14);
  RtpRewrite r{.ssrc = 0x20, .payload_type = 100, .sequence = 6, .extension_map = &map,
               .publisher_mid_id = 1, .mid_id = 1, .mid = str("a1")};
  std::vector<uint8_t> out(64);
  const size_t n = rewrite(p, out, r);
  out.resize(n);
  EXPECT_EQ(out, hex("90 64 00 06 00 00 00 10 00 00 00 20 BE DE 00 02 E1 AA BB 11 61 31 00 00 01"));
}

TEST(RtpRewrite, NothingMappedDropsTheExtensionBlock) {
  auto in = hex(kOneByte);
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse(in, p), RtpError::None);
  RtpRewrite r{.ssrc = 9, .payload_type = 96, .sequence = 2};
  std::vector<uint8_t> out(64);
  const size_t n = rewrite(p, out, r);
  out.resize(n);
  EXPECT_EQ(out, hex("80 E0 00 02 11 22 33 44 00 00 00 09 DE AD BE EF"));
}

TEST(RtpRewrite, MidOnlyWhenPublisherSentItUnlessAlways) {
  auto in = hex("80 60 00 05 00 00 00 10 00 00 00 20 AB");  // no extensions at all
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse(in, p), RtpError::None);
  RtpRewrite r{.ssrc = 1, .payload_type = 96, .sequence = 1, .publisher_mid_id = 1, .mid_id = 3, .mid = str("3")};
  std::vector<uint8_t> out(64);
  size_t n = rewrite(p, out, r);
  EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + n), hex("80 60 00 01 00 00 00 10 00 00 00 01 AB"));
  r.mid_always = true;
  n = rewrite(p, out, r);
  EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + n),
            hex("90 60 00 01 00 00 00 10 00 00 00 01 BE DE 00 01 30 33 00 00 AB"));
}

TEST(RtpRewrite, MappedElementCollidingWithMidIdIsDropped) {
  auto in = hex(kOneByte);
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse(in, p), RtpError::None);
  ExtensionIdMap map;
  map.set(3, 9);  // misconfigured: same id as the subscriber's mid
  RtpRewrite r{.ssrc = 1, .payload_type = 96, .sequence = 1, .extension_map = &map, .publisher_mid_id = 1, .mid_id = 9, .mid = str("7")};
  std::vector<uint8_t> out(64);
  const size_t n = rewrite(p, out, r);
  RtpPacket q;
  ASSERT_EQ(RtpPacket::parse({out.data(), n}, q), RtpError::None);
  ASSERT_EQ(q.extension_count, 1);
  EXPECT_EQ(as_string(q.extension(9)->value), "7");
}

TEST(RtpRewrite, CsrcsPaddingAndTimestampWrapKept) {
  auto in = hex("A1 60 00 05 FF FF FF F0 00 00 00 20 0A 0B 0C 0D 01 02 00 02");  // 1 CSRC, padding 2
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse(in, p), RtpError::None);
  RtpRewrite r{.ssrc = 0x30, .payload_type = 96, .sequence = 0xFFFF, .timestamp_offset = 0x20};
  std::vector<uint8_t> out(64);
  const size_t n = rewrite(p, out, r);
  out.resize(n);
  EXPECT_EQ(out, hex("A1 60 FF FF 00 00 00 10 00 00 00 30 0A 0B 0C 0D 01 02 00 02"));
  RtpPacket q;
  ASSERT_EQ(RtpPacket::parse(out, q), RtpError::None);
  EXPECT_EQ(q.padding_size, 2);
  EXPECT_EQ(q.payload.size(), 2u);
}

TEST(RtpRewrite, LeavesRoomForTheSrtpTag) {
  auto in = hex(kOneByte);
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse(in, p), RtpError::None);
  RtpRewrite r{.ssrc = 9, .payload_type = 96, .sequence = 2};
  const size_t size = 16;  // 12-byte header + 4-byte payload, no extensions
  std::vector<uint8_t> out(size + kSrtpRtpTrailerRoom);
  EXPECT_EQ(rewrite(p, out, r), size);
  EXPECT_EQ(rewrite(p, std::span<uint8_t>(out).first(size + kSrtpRtpTrailerRoom - 1), r), 0u);
  EXPECT_EQ(rewrite(p, std::span<uint8_t>(out).first(0), r), 0u);
  EXPECT_EQ(kSrtpRtpTrailerRoom, 16u);
}

TEST(RtpRewrite, RejectsUnencodableValuesAndEmptyView) {
  auto in = hex(kOneByte);
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse(in, p), RtpError::None);
  std::vector<uint8_t> big(256, 'x');
  RtpRewrite r{.ssrc = 9, .payload_type = 96, .sequence = 2, .mid_id = 3, .mid = big, .mid_always = true};
  std::vector<uint8_t> out(600);
  EXPECT_EQ(rewrite(p, out, r), 0u);
  RtpPacket empty;
  EXPECT_EQ(rewrite(empty, out, RtpRewrite{}), 0u);
}

TEST(RtpRewrite, ChromiumHeaderToSubscriber) {
  auto d = chromium_rtp();
  RtpPacket p;
  ASSERT_EQ(RtpPacket::parse_header(d, p), RtpError::None);
  ExtensionIdMap map;
  map.set(2, 3);  // abs-send-time 2 -> 3; transport-cc (4) terminated at the SFU, not forwarded
  RtpRewrite r{.ssrc = 0x5EED0001, .payload_type = 97, .sequence = 100, .extension_map = &map,
               .publisher_mid_id = 9, .mid_id = 1, .mid = str("3")};
  std::vector<uint8_t> out(400);
  const size_t n = rewrite(p, out, r);
  ASSERT_GT(n, 0u);
  RtpPacket q;
  ASSERT_EQ(RtpPacket::parse_header({out.data(), n}, q), RtpError::None);
  EXPECT_TRUE(q.padding);
  EXPECT_EQ(q.ssrc, 0x5EED0001u);
  EXPECT_EQ(q.sequence, 100);
  ASSERT_EQ(q.extension_count, 2);
  EXPECT_EQ(q.extensions[0].id, 3);
  EXPECT_EQ(q.extensions[1].id, 1);
  EXPECT_EQ(as_string(q.extensions[1].value), "3");
  EXPECT_EQ(q.header_size, 12u + 4u + 8u);
  EXPECT_TRUE(std::equal(q.payload.begin(), q.payload.end(), p.payload.begin(), p.payload.end()));
}

// ---- keyframes ----

TEST(RtpKeyframe, Vp8) {
  // Descriptor: X=1, S=1, PID=0; I=1 with a 15-bit PictureID (M=1), L=1 TL0PICIDX, T=1 TID byte.
  // Payload header: frame tag P=0 (key frame), start code 9D 01 2A, 160x120.
  auto key = hex("90 E0 80 01 05 40 50 00 00 9D 01 2A A0 00 78 00");
  EXPECT_TRUE(vp8_is_keyframe(key));
  EXPECT_TRUE(is_keyframe(MediaCodec::Vp8, key));
  auto plain = hex("10 50 00 00 9D 01 2A A0 00 78 00");  // no X byte
  EXPECT_TRUE(vp8_is_keyframe(plain));
  auto short_pid = hex("90 80 05 50 00 00 9D 01 2A A0 00 78 00");  // 7-bit PictureID
  EXPECT_TRUE(vp8_is_keyframe(short_pid));
  auto inter = hex("10 51 00 00 9D 01 2A A0 00 78 00");  // P=1: interframe
  EXPECT_FALSE(vp8_is_keyframe(inter));
  auto not_start = hex("00 50 00 00 9D 01 2A A0 00 78 00");  // S=0: continuation
  EXPECT_FALSE(vp8_is_keyframe(not_start));
  auto other_partition = hex("11 50 00 00 9D 01 2A A0 00 78 00");  // PID=1
  EXPECT_FALSE(vp8_is_keyframe(other_partition));
  auto no_start_code = hex("10 50 00 00 9D 01 2B A0 00 78 00");
  EXPECT_FALSE(vp8_is_keyframe(no_start_code));
  EXPECT_FALSE(vp8_is_keyframe({}));
  for (size_t n = 0; n < key.size(); ++n) EXPECT_FALSE(vp8_is_keyframe({key.data(), n})) << n;  // truncated
  EXPECT_FALSE(vp8_is_keyframe(hex("90 80")));  // I set, PictureID missing
}

TEST(RtpKeyframe, H264) {
  EXPECT_TRUE(h264_is_keyframe(hex("65 88 84 00")));   // IDR slice
  EXPECT_TRUE(h264_is_keyframe(hex("67 42 C0 1F")));   // SPS
  EXPECT_FALSE(h264_is_keyframe(hex("41 9A 00")));     // non-IDR slice
  EXPECT_FALSE(h264_is_keyframe(hex("68 CE 3C 80")));  // PPS alone
  EXPECT_FALSE(h264_is_keyframe(hex("06 05")));        // SEI
  // STAP-A: SPS (4 bytes), PPS (4 bytes).
  EXPECT_TRUE(h264_is_keyframe(hex("78 00 04 67 42 C0 1F 00 04 68 CE 3C 80")));
  EXPECT_TRUE(h264_is_keyframe(hex("78 00 04 68 CE 3C 80 00 02 65 88")));  // IDR second
  EXPECT_FALSE(h264_is_keyframe(hex("78 00 04 68 CE 3C 80 00 02 41 9A")));
  EXPECT_FALSE(h264_is_keyframe(hex("78 00 09 67 42")));  // NAL size past the payload
  EXPECT_FALSE(h264_is_keyframe(hex("78 00 00 67 42")));  // zero-size NAL
  EXPECT_FALSE(h264_is_keyframe(hex("78 00")));
  // FU-A: start of an IDR, middle of an IDR, start of a non-IDR.
  EXPECT_TRUE(h264_is_keyframe(hex("7C 85 88 84")));
  EXPECT_FALSE(h264_is_keyframe(hex("7C 05 88 84")));
  EXPECT_FALSE(h264_is_keyframe(hex("7C 81 9A 00")));
  EXPECT_FALSE(h264_is_keyframe(hex("7C")));
  EXPECT_FALSE(h264_is_keyframe({}));
  EXPECT_TRUE(is_keyframe(MediaCodec::H264, hex("65 88")));
}

TEST(RtpKeyframe, OpusAlwaysDecodable) {
  EXPECT_TRUE(opus_is_keyframe(hex("FC FF FE")));
  EXPECT_TRUE(is_keyframe(MediaCodec::Opus, {}));
  EXPECT_FALSE(is_keyframe(MediaCodec::Other, hex("65")));
}

// ---- NACK buffer ----

TEST(NackBuffer, StoresAndFinds) {
  NackBuffer b(8, 32);
  EXPECT_EQ(b.capacity(), 8u);
  EXPECT_TRUE(b.find(1).empty());
  for (uint16_t s = 100; s < 105; ++s) {
    std::vector<uint8_t> pkt(10, static_cast<uint8_t>(s));
    ASSERT_TRUE(b.store(s, pkt));
  }
  for (uint16_t s = 100; s < 105; ++s) {
    auto f = b.find(s);
    ASSERT_EQ(f.size(), 10u);
    EXPECT_EQ(f[0], static_cast<uint8_t>(s));
  }
  EXPECT_TRUE(b.find(99).empty());
  EXPECT_TRUE(b.find(105).empty());
  EXPECT_TRUE(b.find(100 + 8).empty());  // same slot as 100, other sequence
}

TEST(NackBuffer, OverwritesOldestAndWindow) {
  NackBuffer b(8, 32);
  std::vector<uint8_t> pkt(4, 1);
  for (uint16_t s = 0; s < 20; ++s) ASSERT_TRUE(b.store(s, pkt));
  for (uint16_t s = 0; s < 12; ++s) EXPECT_TRUE(b.find(s).empty()) << s;
  for (uint16_t s = 12; s < 20; ++s) EXPECT_FALSE(b.find(s).empty()) << s;
  EXPECT_FALSE(b.store(5, pkt));  // older than the window
  EXPECT_TRUE(b.find(5).empty());
  EXPECT_TRUE(b.store(13, pkt));  // late retransmit of something in the window is fine
}

TEST(NackBuffer, SequenceWraparound) {
  NackBuffer b(16, 32);
  std::vector<uint8_t> pkt(4);
  for (uint32_t i = 0; i < 10; ++i) {
    const uint16_t s = static_cast<uint16_t>(65530 + i);
    pkt[0] = static_cast<uint8_t>(i);
    ASSERT_TRUE(b.store(s, pkt));
  }
  EXPECT_EQ(b.find(65530)[0], 0);
  EXPECT_EQ(b.find(65535)[0], 5);
  EXPECT_EQ(b.find(0)[0], 6);
  EXPECT_EQ(b.find(3)[0], 9);
  EXPECT_TRUE(b.find(4).empty());
  EXPECT_TRUE(b.find(65529).empty());
}

TEST(NackBuffer, JumpForgetsSkippedSlots) {
  NackBuffer b(8, 32);
  std::vector<uint8_t> pkt(4, 1);
  for (uint16_t s = 0; s < 8; ++s) ASSERT_TRUE(b.store(s, pkt));
  ASSERT_TRUE(b.store(1000, pkt));  // a jump of ~1000: everything before is outside the window
  for (uint16_t s = 0; s < 8; ++s) EXPECT_TRUE(b.find(s).empty());
  EXPECT_FALSE(b.find(1000).empty());
  // 65536 later the old sequence numbers come round again: not found unless stored anew.
  for (uint32_t s = 1001; s < 1000 + 65536; s += 7) b.store(static_cast<uint16_t>(s), pkt);
  EXPECT_TRUE(b.find(1000).empty());
}

TEST(NackBuffer, RejectsOversizeAndEmptyAndRounds) {
  NackBuffer b(100, 16);
  EXPECT_EQ(b.capacity(), 128u);
  EXPECT_FALSE(b.store(1, std::vector<uint8_t>(17)));
  EXPECT_FALSE(b.store(1, {}));
  EXPECT_TRUE(b.store(1, std::vector<uint8_t>(16, 3)));
  EXPECT_EQ(b.find(1).size(), 16u);
  b.clear();
  EXPECT_TRUE(b.find(1).empty());
  NackBuffer d;
  EXPECT_EQ(d.capacity(), 512u);
  EXPECT_EQ(d.slot_size(), 1500u);
}
