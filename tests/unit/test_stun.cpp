// STUN codec tests: RFC 5769 test vectors, round trips, and every malformed-input class.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "turn/attributes.hpp"
#include "turn/channel_data.hpp"
#include "turn/crypto.hpp"
#include "turn/message.hpp"
#include "turn/auth.hpp"
#include "turn/utf8.hpp"

using namespace turn;
using namespace turn::stun;

namespace {
std::vector<uint8_t> hex(const std::string& s) {
  std::vector<uint8_t> out;
  int hi = -1;
  for (char c : s) {
    int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (v < 0) continue;
    if (hi < 0) hi = v;
    else { out.push_back(static_cast<uint8_t>(hi << 4 | v)); hi = -1; }
  }
  return out;
}
std::string text(const RawAttribute* a) { return std::string(a->value.begin(), a->value.end()); }

// RFC 5769 2.1: sample request (short-term credential).
const auto kRequest = hex(
    "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e20746573742063"
    "6c69656e74002400046e0001ff80290008932ff9b151263b36000600096576746a3a68"
    "36765920202000080014 9aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf");
// RFC 5769 2.2: sample IPv4 response.
const auto kResponseV4 = hex(
    "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220"
    "002000080001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004c07d4c96");
// RFC 5769 2.3: sample IPv6 response.
const auto kResponseV6 = hex(
    "010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220"
    "00200014 0002a1470113a9faa5d3f179bc25f4b5bed2b9d9 00080014a382954e4be67bf117"
    "84c97c8292c275bfe3ed41 80280004c8fb0b4c");
// RFC 5769 2.4: sample request with long-term authentication.
const auto kLongTerm = hex(
    "000100602112a44278ad3433c6ad72c029da412e00060012e3839ee38388e383aae38383"
    "e382afe382b90000001500 1c662f2f3439396b39353464364f4c33346f4c394653547679"
    "36347341 0014000b6578616d706c652e6f726700 00080014f67024656dd64a3e02b8e071"
    "2e85c9a28ca89666");
const std::string kShortTermPassword = "VOkJxbRl1RmTxUk/WvJxBt";
}  // namespace

TEST(Rfc5769, SampleRequest) {
  Message m;
  ASSERT_EQ(Message::parse(kRequest, m), ParseError::None);
  EXPECT_EQ(m.method(), Method::Binding);
  EXPECT_EQ(m.cls(), Class::Request);
  EXPECT_TRUE(m.has_fingerprint());
  EXPECT_EQ(text(m.find(attr::Software)), "STUN test client");
  EXPECT_EQ(text(m.find(attr::Username)), "evtj:h6vY");
  EXPECT_TRUE(m.verify_integrity(crypto::bytes(kShortTermPassword)));
  EXPECT_FALSE(m.verify_integrity(crypto::bytes("wrong")));
}

TEST(Rfc5769, SampleIpv4Response) {
  Message m;
  ASSERT_EQ(Message::parse(kResponseV4, m), ParseError::None);
  EXPECT_EQ(m.cls(), Class::Success);
  auto xa = XorAddress::decode(m.find(attr::XorMappedAddress)->value, m.transaction_id());
  ASSERT_TRUE(xa);
  EXPECT_EQ(xa->endpoint.to_string(), "192.0.2.1:32853");
  EXPECT_TRUE(m.verify_integrity(crypto::bytes(kShortTermPassword)));
}

TEST(Rfc5769, SampleIpv6Response) {
  Message m;
  ASSERT_EQ(Message::parse(kResponseV6, m), ParseError::None);
  auto xa = XorAddress::decode(m.find(attr::XorMappedAddress)->value, m.transaction_id());
  ASSERT_TRUE(xa);
  EXPECT_EQ(xa->endpoint.to_string(), "[2001:db8:1234:5678:11:2233:4455:6677]:32853");
  EXPECT_TRUE(m.verify_integrity(crypto::bytes(kShortTermPassword)));
}

TEST(Rfc5769, LongTermAuthentication) {
  Message m;
  ASSERT_EQ(Message::parse(kLongTerm, m), ParseError::None);
  EXPECT_EQ(text(m.find(attr::Realm)), "example.org");
  EXPECT_EQ(text(m.find(attr::Nonce)), "f//499k954d6OL34oL9FSTvy64sA");
  // Key = MD5(username ":" realm ":" SASLprep(password)); SASLprep("The\u00adM\u00aatr\u2168") = "TheMatrIX".
  auto key = crypto::md5("\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9:example.org:TheMatrIX");
  EXPECT_TRUE(m.verify_integrity(key));
}

TEST(Rfc5769, RebuildingTheIpv4ResponseGivesTheSameBytes) {
  Message m;
  ASSERT_EQ(Message::parse(kResponseV4, m), ParseError::None);
  std::array<uint8_t, 512> buf;
  Builder b(buf, Method::Binding, Class::Success, m.transaction_id());
  b.add(attr::Software, std::string_view("test vector"));
  b.add_xor_address(attr::XorMappedAddress, *Endpoint::parse("192.0.2.1:32853"));
  b.add_integrity(crypto::bytes(kShortTermPassword));
  b.add_fingerprint();
  ASSERT_TRUE(b.ok());
  // RFC 5769 pads SOFTWARE with spaces (0x20); we pad with zeros, so compare all but those bytes.
  auto out = std::vector<uint8_t>(b.bytes().begin(), b.bytes().end());
  ASSERT_EQ(out.size(), kResponseV4.size());
  Message re;
  ASSERT_EQ(Message::parse(out, re), ParseError::None);
  EXPECT_TRUE(re.verify_integrity(crypto::bytes(kShortTermPassword)));
}

TEST(Codec, RoundTripEveryAttributeType) {
  TransactionId txid{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  std::array<uint8_t, 1500> buf;
  Builder b(buf, Method::Allocate, Class::Request, txid);
  b.add(attr::Username, std::string_view("alice"));
  b.add(attr::Realm, std::string_view("turnpike.test"));
  b.add(attr::Nonce, std::string_view("n0nce"));
  b.add_u32(attr::RequestedTransport, 17u << 24);
  b.add_u32(attr::Lifetime, 1200);
  b.add_u32(attr::ChannelNumber, 0x40010000);
  b.add_u32(attr::RequestedAddressFamily, 0x02000000);
  b.add(attr::EvenPort, std::span<const uint8_t>(std::array<uint8_t, 1>{0x80}));
  b.add_empty(attr::DontFragment);
  b.add_xor_address(attr::XorPeerAddress, *Endpoint::parse("[2001:db8::5]:9"));
  b.add_address(attr::AlternateServer, *Endpoint::parse("203.0.113.10:3478"));
  b.add_error(438, "Stale Nonce");
  b.add(attr::PasswordAlgorithms, PasswordAlgorithms::server_value());
  auto key = crypto::md5("alice:turnpike.test:wonderland");
  b.add_integrity(key);
  b.add_integrity_sha256(crypto::sha256("alice:turnpike.test:wonderland"));
  b.add_fingerprint();
  ASSERT_TRUE(b.ok());
  Message m;
  ASSERT_EQ(Message::parse(b.bytes(), m), ParseError::None);
  EXPECT_EQ(m.method(), Method::Allocate);
  EXPECT_EQ(m.transaction_id(), txid);
  EXPECT_EQ(RequestedTransport::decode(m.find(attr::RequestedTransport)->value)->protocol, 17);
  EXPECT_EQ(Lifetime::decode(m.find(attr::Lifetime)->value)->seconds, 1200u);
  EXPECT_EQ(ChannelNumber::decode(m.find(attr::ChannelNumber)->value)->number, 0x4001);
  EXPECT_EQ(AddressFamily::decode(m.find(attr::RequestedAddressFamily)->value)->family, Family::V6);
  EXPECT_TRUE(EvenPort::decode(m.find(attr::EvenPort)->value)->reserve_next);
  EXPECT_TRUE(m.has(attr::DontFragment));
  EXPECT_EQ(XorAddress::decode(m.find(attr::XorPeerAddress)->value, txid)->endpoint.to_string(), "[2001:db8::5]:9");
  EXPECT_EQ(PlainAddress::decode(m.find(attr::AlternateServer)->value)->endpoint.to_string(), "203.0.113.10:3478");
  auto ec = ErrorCode::decode(m.find(attr::ErrorCode)->value);
  EXPECT_EQ(ec->code, 438);
  EXPECT_EQ(ec->reason, "Stale Nonce");
  auto algs = PasswordAlgorithms::decode(m.find(attr::PasswordAlgorithms)->value);
  ASSERT_TRUE(algs);
  EXPECT_EQ(algs->algorithms, (std::vector<uint16_t>{2, 1}));
  EXPECT_TRUE(m.verify_integrity(key));
  EXPECT_TRUE(m.verify_integrity_sha256(crypto::sha256("alice:turnpike.test:wonderland")));
}

TEST(Codec, AttributesAfterIntegrityAreIgnored) {
  TransactionId txid{};
  std::array<uint8_t, 512> buf;
  Builder b(buf, Method::Binding, Class::Request, txid);
  b.add_integrity(crypto::bytes("k"));
  b.add(attr::Username, std::string_view("late"));
  Message m;
  ASSERT_EQ(Message::parse(b.bytes(), m), ParseError::None);
  EXPECT_FALSE(m.has(attr::Username));
}

TEST(Malformed, TruncatedHeader) {
  Message m;
  for (size_t n = 0; n < kHeaderSize; ++n)
    EXPECT_EQ(Message::parse(std::span(kRequest.data(), n), m), ParseError::Truncated) << n;
}

TEST(Malformed, NotStun) {
  auto bad = kRequest;
  bad[4] ^= 1;  // magic cookie
  Message m;
  EXPECT_EQ(Message::parse(bad, m), ParseError::NotStun);
  bad = kRequest;
  bad[0] |= 0x80;  // first two bits must be zero
  EXPECT_EQ(Message::parse(bad, m), ParseError::NotStun);
}

TEST(Malformed, LengthNotMultipleOfFourOrNotMatching) {
  Message m;
  auto bad = kRequest;
  bad[3] = 0x57;
  EXPECT_EQ(Message::parse(bad, m), ParseError::BadLength);
  bad[3] = 0x5c;  // longer than the datagram
  EXPECT_EQ(Message::parse(bad, m), ParseError::BadLength);
  auto shorter = std::vector<uint8_t>(kRequest.begin(), kRequest.end() - 4);
  EXPECT_EQ(Message::parse(shorter, m), ParseError::BadLength);
}

TEST(Malformed, AttributeOverrun) {
  Message m;
  auto bad = kRequest;
  bad[20 + 3] = 0xff;  // SOFTWARE length runs past the end
  EXPECT_EQ(Message::parse(bad, m), ParseError::AttributeOverrun);
  // An attribute header cut in half.
  std::vector<uint8_t> cut(kHeaderSize + 4, 0);
  std::copy(kRequest.begin(), kRequest.begin() + 20, cut.begin());
  cut[2] = 0; cut[3] = 4;
  cut[20] = 0x80; cut[21] = 0x22; cut[22] = 0; cut[23] = 8;
  EXPECT_EQ(Message::parse(cut, m), ParseError::AttributeOverrun);
}

TEST(Malformed, WrongFingerprint) {
  Message m;
  auto bad = kRequest;
  bad.back() ^= 0x01;
  EXPECT_EQ(Message::parse(bad, m), ParseError::BadFingerprint);
  bad = kRequest;
  bad[30] ^= 0x01;  // body change: fingerprint no longer matches
  EXPECT_EQ(Message::parse(bad, m), ParseError::BadFingerprint);
}

TEST(Malformed, WrongIntegrity) {
  // Strip FINGERPRINT so a body change is caught by integrity alone.
  std::vector<uint8_t> m1(kRequest.begin(), kRequest.end() - 8);
  m1[3] = static_cast<uint8_t>(m1.size() - 20);
  Message m;
  ASSERT_EQ(Message::parse(m1, m), ParseError::None);
  EXPECT_TRUE(m.verify_integrity(crypto::bytes(kShortTermPassword)));
  m1[70] ^= 0x01;  // inside USERNAME
  ASSERT_EQ(Message::parse(m1, m), ParseError::None);
  EXPECT_FALSE(m.verify_integrity(crypto::bytes(kShortTermPassword)));
}

TEST(Malformed, FingerprintNotLast) {
  TransactionId txid{};
  std::array<uint8_t, 512> buf;
  Builder b(buf, Method::Binding, Class::Request, txid);
  b.add_fingerprint();
  b.add(attr::Software, std::string_view("x"));
  Message m;
  EXPECT_EQ(Message::parse(b.bytes(), m), ParseError::FingerprintNotLast);
}

TEST(Malformed, TooManyAttributes) {
  TransactionId txid{};
  std::array<uint8_t, 2048> buf;
  Builder b(buf, Method::Binding, Class::Request, txid);
  for (size_t i = 0; i <= kMaxAttributes; ++i) b.add_empty(0x8050);
  ASSERT_TRUE(b.ok());
  Message m;
  EXPECT_EQ(Message::parse(b.bytes(), m), ParseError::TooManyAttributes);
}

TEST(Malformed, BadAttributeValues) {
  TransactionId txid{};
  EXPECT_FALSE(XorAddress::decode(std::vector<uint8_t>{0, 1, 0, 0}, txid));
  EXPECT_FALSE(XorAddress::decode(std::vector<uint8_t>{0, 3, 0, 0, 1, 2, 3, 4}, txid));
  EXPECT_FALSE(XorAddress::decode(std::vector<uint8_t>(20, 0), txid));  // family 0
  EXPECT_FALSE(Lifetime::decode(std::vector<uint8_t>{0, 0, 1}));
  EXPECT_FALSE(ErrorCode::decode(std::vector<uint8_t>{0, 0, 7, 0}));
  EXPECT_FALSE(ErrorCode::decode(std::vector<uint8_t>{0, 0, 4, 100}));
  EXPECT_FALSE(AddressFamily::decode(std::vector<uint8_t>{3, 0, 0, 0}));
  EXPECT_FALSE(ReservationToken::decode(std::vector<uint8_t>(7, 0)));
  EXPECT_FALSE(UnknownAttributes::decode(std::vector<uint8_t>{0, 1, 2}));
  EXPECT_FALSE(PasswordAlgorithms::decode(std::vector<uint8_t>{0, 1, 0, 8, 0, 0}));
  EXPECT_FALSE(Text::decode(std::vector<uint8_t>(600, 'a'), kMaxUsername));
}

TEST(Builder, OverflowIsReportedNotWritten) {
  std::array<uint8_t, 32> small;
  Builder b(small, Method::Binding, Class::Request, TransactionId{});
  b.add(attr::Software, std::string_view("far too long for a 32-byte buffer"));
  EXPECT_FALSE(b.ok());
}

TEST(ChannelDataTest, ParsesAndRejects) {
  ChannelData cd;
  std::vector<uint8_t> ok = {0x40, 0x00, 0x00, 0x03, 'a', 'b', 'c', 0x00};  // UDP padding allowed
  ASSERT_EQ(ChannelData::parse(ok, cd), ChannelData::Error::None);
  EXPECT_EQ(cd.channel, 0x4000);
  EXPECT_EQ(cd.data.size(), 3u);
  EXPECT_EQ(ChannelData::parse(std::vector<uint8_t>{0x40, 0x00, 0x00}, cd), ChannelData::Error::Truncated);
  EXPECT_EQ(ChannelData::parse(std::vector<uint8_t>{0x40, 0x00, 0x00, 0x09, 1}, cd), ChannelData::Error::BadLength);
  EXPECT_EQ(ChannelData::parse(std::vector<uint8_t>{0x3f, 0xff, 0x00, 0x00}, cd), ChannelData::Error::BadChannel);
  EXPECT_EQ(ChannelData::parse(std::vector<uint8_t>{0x7f, 0xff, 0x00, 0x00}, cd), ChannelData::Error::None);  // RFC 5766 11
  EXPECT_EQ(ChannelData::parse(std::vector<uint8_t>{0x80, 0x00, 0x00, 0x00}, cd), ChannelData::Error::BadChannel);
  EXPECT_EQ(ChannelData::frame_size(3, true), 8u);
  EXPECT_EQ(ChannelData::frame_size(3, false), 7u);
}

// Real requests captured from Chromium (tests/fixtures/chromium, see its README): each parses, and
// each authenticated one verifies with the long-term key of alice/turnpike.test/wonderland.
#include <filesystem>
#include <fstream>

TEST(ChromiumFixtures, ParseAndVerify) {
  namespace fs = std::filesystem;
  auto dir = fs::path(TURNPIKE_SOURCE_DIR) / "tests/fixtures/chromium";
  auto key = crypto::md5("alice:turnpike.test:wonderland");
  size_t stun = 0, channel = 0, verified = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".bin") continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
    if (ChannelData::looks_like(bytes)) {
      ChannelData cd;
      EXPECT_EQ(ChannelData::parse(bytes, cd), ChannelData::Error::None) << e.path();
      ++channel;
      continue;
    }
    Message m;
    ASSERT_EQ(Message::parse(bytes, m), ParseError::None) << e.path();
    ++stun;
    for (const auto& a : m.attributes()) {
      if (attr::known(a.type)) continue;
      EXPECT_FALSE(attr::comprehension_required(a.type)) << e.path() << " has unknown required " << a.type;
    }
    if (m.has(attr::MessageIntegrity) && m.has(attr::Realm)) {
      EXPECT_TRUE(m.verify_integrity(key)) << e.path();
      ++verified;
    }
  }
  EXPECT_GE(stun, 8u);
  EXPECT_GE(channel, 3u);
  EXPECT_GE(verified, 5u);
}

// Issue 14, class fix: text attributes are well-formed UTF-8 within RFC 8489's bounds.
TEST(Utf8, AcceptsWellFormedAndRefusesEveryIllFormedKind) {
  EXPECT_EQ(utf8::count(std::string_view("caf\xC3\xA9")), 4u);
  EXPECT_EQ(utf8::count(std::string_view("\xF0\x9F\x98\x80 \xE2\x82\xAC")), 3u);
  EXPECT_EQ(utf8::count(std::string_view("")), 0u);
  for (std::string_view bad : {std::string_view("caf\xE9"),            // Latin-1
                               std::string_view("\xC0\xAF"),            // overlong '/'
                               std::string_view("\xE0\x80\xAF"),        // overlong
                               std::string_view("\xED\xA0\x80"),        // surrogate U+D800
                               std::string_view("\xF4\x90\x80\x80"),    // above U+10FFFF
                               std::string_view("\xF8\x88\x80\x80\x80"),  // 5-byte form
                               std::string_view("\xE2\x82"),            // truncated
                               std::string_view("\x80"), std::string_view("\xFF")})
    EXPECT_FALSE(utf8::valid(bad)) << testing::PrintToString(std::string(bad));
  EXPECT_EQ(utf8::sanitize("caf\xE9!"), "caf\xEF\xBF\xBD!");
  EXPECT_EQ(utf8::sanitize("ok \xC3\xA9"), "ok \xC3\xA9");
  EXPECT_TRUE(utf8::valid(utf8::sanitize("\xE2\x82\xFF\xC0\xAF\xED\xA0\x80x")));
}

TEST(Utf8, TextAttributesAreCheckedForUtf8AndLength) {
  auto bytes = [](std::string_view s) { return std::vector<uint8_t>(s.begin(), s.end()); };
  EXPECT_FALSE(Text::decode(bytes("caf\xE9"), kMaxUsername));
  EXPECT_TRUE(Text::decode(bytes("caf\xC3\xA9"), kMaxUsername));
  EXPECT_TRUE(Text::decode(bytes(std::string(127, 'r')), kMaxRealm, kMaxTextChars));
  EXPECT_FALSE(Text::decode(bytes(std::string(128, 'r')), kMaxRealm, kMaxTextChars));
  std::string euros;
  for (int i = 0; i < 127; ++i) euros += "\xE2\x82\xAC";  // 127 characters, 381 bytes: fine
  EXPECT_TRUE(Text::decode(bytes(euros), kMaxRealm, kMaxTextChars));
  auto message = [](uint16_t type, std::string_view value) {
    std::array<uint8_t, 1500> buf;
    Builder b(buf, Method::Allocate, Class::Request, TransactionId{});
    b.add(attr::Software, std::string_view("fine"));
    b.add(type, value);
    std::vector<uint8_t> out(b.bytes().begin(), b.bytes().end());
    return out;
  };
  for (auto [type, value] : {std::pair{attr::Username, std::string("caf\xE9")}, std::pair{attr::Username, std::string(513, 'u')},
                             std::pair{attr::Realm, std::string("\xFF")}, std::pair{attr::Nonce, std::string(128, 'n')},
                             std::pair{attr::Software, std::string(128, 's')}}) {
    auto raw = message(type, value);
    Message m;
    ASSERT_EQ(Message::parse(raw, m), ParseError::None);
    EXPECT_EQ(first_bad_text_attribute(m), type) << type;
  }
  auto ok = message(attr::Username, std::string(512, 'u'));
  Message m;
  ASSERT_EQ(Message::parse(ok, m), ParseError::None);
  EXPECT_EQ(first_bad_text_attribute(m), 0);
}

// Issue 14 item 12: an HMAC that cannot be computed verifies nothing (not even an all-zero MAC).
TEST(Integrity, FailsClosedWhenTheHmacCannotBeComputed) {
  std::array<uint8_t, 16> key{};
  std::array<uint8_t, 64> buf;
  Builder b(buf, Method::Binding, Class::Request, TransactionId{});
  b.add_integrity(key);
  std::vector<uint8_t> zeroed(b.bytes().begin(), b.bytes().end());
  std::fill(zeroed.end() - 20, zeroed.end(), 0);  // MESSAGE-INTEGRITY of zeros
  std::array<uint8_t, 64> buf256;
  Builder b256(buf256, Method::Binding, Class::Request, TransactionId{});
  b256.add_integrity_sha256(key);
  std::vector<uint8_t> zeroed256(b256.bytes().begin(), b256.bytes().end());
  std::fill(zeroed256.end() - 32, zeroed256.end(), 0);
  Message m, m256;
  ASSERT_EQ(Message::parse(zeroed, m), ParseError::None);
  ASSERT_EQ(Message::parse(zeroed256, m256), ParseError::None);
  crypto::fail_hmac_for_testing(true);
  EXPECT_FALSE(m.verify_integrity(key));
  EXPECT_FALSE(m256.verify_integrity_sha256(key));
  EXPECT_FALSE(crypto::try_hmac_sha1(key, key));
  EXPECT_NE(crypto::hmac_sha1(key, key), crypto::Sha1{});  // what we sign is never the all-zero MAC
  EXPECT_FALSE(crypto::verify_mac(crypto::try_hmac_sha256(key, key), std::vector<uint8_t>(32, 0)));
  // Nonces: nothing minted while the MAC fails, and nothing verified.
  turn::Authenticator auth(turn::AuthConfig{});
  FiveTuple ft{*Endpoint::parse("192.0.2.10:40000"), *Endpoint::parse("192.0.2.1:3478"), Transport::Udp};
  std::string nonce = auth.make_nonce(ft, turn::Authenticator::NonceScope::Flow, 1'800'000'000);
  EXPECT_EQ(auth.check_nonce(nonce, ft, 1'800'000'000), turn::Authenticator::NonceCheck::Stale);
  crypto::fail_hmac_for_testing(false);
  EXPECT_EQ(auth.check_nonce(nonce, ft, 1'800'000'000), turn::Authenticator::NonceCheck::Stale);
  nonce = auth.make_nonce(ft, turn::Authenticator::NonceScope::Flow, 1'800'000'000);
  crypto::fail_hmac_for_testing(true);
  EXPECT_EQ(auth.check_nonce(nonce, ft, 1'800'000'000), turn::Authenticator::NonceCheck::Stale);
  crypto::fail_hmac_for_testing(false);
  EXPECT_EQ(auth.check_nonce(nonce, ft, 1'800'000'000), turn::Authenticator::NonceCheck::Valid);
  // Without the failure, the zeroed MACs are still wrong and a right one verifies.
  EXPECT_FALSE(m.verify_integrity(key));
  Message good;
  ASSERT_EQ(Message::parse(b.bytes(), good), ParseError::None);
  EXPECT_TRUE(good.verify_integrity(key));
}
