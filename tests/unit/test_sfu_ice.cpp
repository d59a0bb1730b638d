// ICE-lite (sfu/ice_lite.hpp): real Chromium connectivity checks from tests/fixtures/chromium, and
// built Binding requests for every acceptance and rejection path of RFC 8445 7.3 / RFC 8489 9.1.3.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "sfu/ice_lite.hpp"
#include "turn/attributes.hpp"
#include "turn/crypto.hpp"
#include "turn/message.hpp"

using namespace sfu;
namespace stun = turn::stun;
namespace attr = turn::stun::attr;

namespace {

std::vector<uint8_t> fixture(const std::string& name) {
  std::ifstream f(std::string(TURNPIKE_SOURCE_DIR) + "/tests/fixtures/chromium/" + name, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

turn::Endpoint ep(const char* s) { return *turn::Endpoint::parse(s); }

const IceCredentials kLocal{"Lite", "abcdefghijklmnopqrstuv"};          // shortest legal pwd
const IceCredentials kRemote{"Brws", "ZYXWVUTSRQPONMLKJIHGFEDCBA+/"};

// A Binding request the way Chromium builds one (USERNAME, ICE role, PRIORITY, MI, FINGERPRINT).
struct Req {
  std::string username = "Lite:Brws";
  std::string pwd = kLocal.pwd;
  bool controlling = true, controlled = false, use_candidate = false, priority = true;
  bool integrity = true, integrity_sha256 = false, fingerprint = true, include_username = true;
  uint16_t extra_attribute = 0;  // added before MESSAGE-INTEGRITY when non-zero
  stun::Class cls = stun::Class::Request;
  uint8_t txid_seed = 1;
};

std::vector<uint8_t> build(const Req& q) {
  std::vector<uint8_t> buf(512);
  stun::TransactionId txid{};
  for (size_t i = 0; i < txid.size(); ++i) txid[i] = static_cast<uint8_t>(q.txid_seed + i);
  stun::Builder b(buf, stun::Method::Binding, q.cls, txid);
  if (q.include_username) b.add(attr::Username, q.username);
  uint8_t tie[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  if (q.controlling) b.add(attr::IceControlling, tie);
  if (q.controlled) b.add(attr::IceControlled, tie);
  if (q.use_candidate) b.add_empty(attr::UseCandidate);
  if (q.priority) b.add_u32(attr::Priority, 0x6e7f1eff);
  if (q.extra_attribute) b.add_u32(q.extra_attribute, 0);
  if (q.integrity) b.add_integrity(turn::crypto::bytes(q.pwd));
  if (q.integrity_sha256) b.add_integrity_sha256(turn::crypto::bytes(q.pwd));
  if (q.fingerprint) b.add_fingerprint();
  EXPECT_TRUE(b.ok());
  buf.resize(b.bytes().size());
  return buf;
}

// Rebuilds a captured request with every attribute before MESSAGE-INTEGRITY kept as Chromium sent
// it (GOOG-NETWORK-INFO included), then MESSAGE-INTEGRITY with `pwd` and FINGERPRINT. The capture
// did not record the ice-pwd, so this is how a real check can be accepted.
std::vector<uint8_t> resign(const std::vector<uint8_t>& captured, const std::string& pwd) {
  stun::Message m;
  EXPECT_EQ(stun::Message::parse(captured, m), stun::ParseError::None);
  std::vector<uint8_t> buf(512);
  stun::Builder b(buf, m.raw_method(), m.cls(), m.transaction_id());
  for (const auto& a : m.attributes()) {
    if (a.type == attr::MessageIntegrity || a.type == attr::Fingerprint) break;
    b.add(a.type, a.value);
  }
  b.add_integrity(turn::crypto::bytes(pwd));
  b.add_fingerprint();
  EXPECT_TRUE(b.ok());
  buf.resize(b.bytes().size());
  return buf;
}

std::string username_of(const std::vector<uint8_t>& msg) {
  stun::Message m;
  EXPECT_EQ(stun::Message::parse(msg, m), stun::ParseError::None);
  const auto* u = m.find(attr::Username);
  return u ? std::string(u->value.begin(), u->value.end()) : std::string();
}

// Parses a response and checks what every response of ours carries.
struct Parsed {
  stun::Message m;
  int error = 0;
};
Parsed parse_response(std::span<const uint8_t> resp, const std::vector<uint8_t>& request) {
  Parsed p;
  EXPECT_EQ(stun::Message::parse(resp, p.m), stun::ParseError::None);
  stun::Message req;
  EXPECT_EQ(stun::Message::parse(request, req), stun::ParseError::None);
  EXPECT_EQ(p.m.method(), stun::Method::Binding);
  EXPECT_EQ(p.m.transaction_id(), req.transaction_id());
  EXPECT_TRUE(p.m.has_fingerprint());
  if (const auto* e = p.m.find(attr::ErrorCode)) {
    auto ec = stun::ErrorCode::decode(e->value);
    EXPECT_TRUE(ec.has_value());
    if (ec) p.error = ec->code;
  }
  return p;
}

// The browser's answer to our probe (RFC 8445 7.2.5 / 7.3): success, same transaction, the source
// as XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY with the browser's own password, FINGERPRINT.
std::vector<uint8_t> answer_probe(std::span<const uint8_t> probe, const std::string& pwd, const turn::Endpoint& mapped,
                                  stun::Class cls = stun::Class::Success) {
  stun::Message m;
  EXPECT_EQ(stun::Message::parse(probe, m), stun::ParseError::None);
  std::vector<uint8_t> buf(512);
  stun::Builder b(buf, stun::Method::Binding, cls, m.transaction_id());
  b.add_xor_address(attr::XorMappedAddress, mapped);
  b.add_integrity(turn::crypto::bytes(pwd));
  b.add_fingerprint();
  EXPECT_TRUE(b.ok());
  buf.resize(b.bytes().size());
  return buf;
}

struct IceTest : ::testing::Test {
  IceLite ice{kLocal};
  std::array<uint8_t, IceLite::kResponseBufferSize> out{};
  std::array<uint8_t, IceLite::kResponseBufferSize> probe_out{};
  void SetUp() override { ASSERT_TRUE(ice.set_remote(kRemote.ufrag, kRemote.pwd)); }
  IceCheckResult check(const std::vector<uint8_t>& req, const char* from = "192.0.2.10:50000", int64_t now = 1000) {
    return ice.on_stun(req, ep(from), now, out);
  }
  // A check; if it nominates an unproven address, our probe goes there and the browser answers it.
  IceCheckResult nominate(const std::vector<uint8_t>& req, const char* from, int64_t now,
                          const std::string& remote_pwd = kRemote.pwd) {
    auto r = check(req, from, now);
    if (!r.probe) return r;
    auto probe = ice.probe(ep(from), true, now, probe_out);
    EXPECT_FALSE(probe.empty());
    auto pr = ice.on_response(answer_probe(probe, remote_pwd, ep("198.51.100.10:40000")), ep(from), now);
    EXPECT_TRUE(pr.proven);
    r.selected_changed = pr.selected_changed;
    return r;
  }
};

}  // namespace

TEST(IceCredentials, GeneratedAreValidAndRandom) {
  auto a = IceCredentials::generate(), b = IceCredentials::generate();
  EXPECT_TRUE(a.valid());
  EXPECT_EQ(a.ufrag.size(), 8u);
  EXPECT_EQ(a.pwd.size(), 24u);
  EXPECT_NE(a.ufrag, b.ufrag);
  EXPECT_NE(a.pwd, b.pwd);
  EXPECT_TRUE(IceCredentials::valid_ufrag("T8zi"));
  EXPECT_TRUE(IceCredentials::valid_ufrag("a+/9"));
  EXPECT_FALSE(IceCredentials::valid_ufrag("abc"));     // RFC 8839 5.4: 4..256
  EXPECT_FALSE(IceCredentials::valid_ufrag("ab:cd"));   // ':' would break USERNAME
  EXPECT_FALSE(IceCredentials::valid_ufrag("ab cd"));
  EXPECT_FALSE(IceCredentials::valid_ufrag(std::string(257, 'a')));
  EXPECT_FALSE(IceCredentials::valid_pwd("abcdefghijklmnopqrstu"));  // 21 < 22
  EXPECT_TRUE(IceCredentials::valid_pwd("abcdefghijklmnopqrstuv"));
  IceLite ice;  // default: generated credentials
  EXPECT_TRUE(ice.local().valid());
  EXPECT_FALSE(ice.set_remote("ab", "abcdefghijklmnopqrstuv"));
  EXPECT_FALSE(ice.set_remote("abcd", "short"));
}

// The captured checks are real Chromium STUN: FINGERPRINT verifies and the attributes are those the
// manifest lists, with the usernames it recorded.
TEST(IceChromium, FixturesParse) {
  auto v1 = fixture("chromium_ice_binding_request.bin");
  auto v2 = fixture("chromium_ice_binding_request_v2.bin");
  ASSERT_EQ(v1.size(), 96u);
  ASSERT_EQ(v2.size(), 100u);
  stun::Message m;
  ASSERT_EQ(stun::Message::parse(v2, m), stun::ParseError::None);
  EXPECT_TRUE(m.has_fingerprint());
  EXPECT_TRUE(m.has(attr::IceControlling));
  EXPECT_TRUE(m.has(attr::UseCandidate));
  EXPECT_TRUE(m.has(attr::Priority));
  EXPECT_TRUE(m.has(0xC057));  // GOOG-NETWORK-INFO: comprehension-optional
  EXPECT_EQ(username_of(v2), "T8zi:HL2n");
  EXPECT_EQ(username_of(v1), "HL2n:T8zi");
}

// The fixture's ice-pwd was not recorded, so no password we hold verifies it: 401, without
// MESSAGE-INTEGRITY (we cannot prove a key the request did not prove), with FINGERPRINT.
TEST(IceChromium, CapturedCheckRejectedWithoutItsPassword) {
  auto v2 = fixture("chromium_ice_binding_request_v2.bin");
  IceLite ice({"T8zi", "notthepasswordchromiumused"});
  ASSERT_TRUE(ice.set_remote("HL2n", "whateverremotepasswordx"));
  std::array<uint8_t, IceLite::kResponseBufferSize> out{};
  auto r = ice.on_stun(v2, ep("198.18.0.1:56963"), 0, out);
  EXPECT_EQ(r.status, IceStatus::BadIntegrity);
  auto p = parse_response(r.response, v2);
  EXPECT_EQ(p.m.cls(), stun::Class::Error);
  EXPECT_EQ(p.error, 401);
  EXPECT_FALSE(p.m.has(attr::MessageIntegrity));
  EXPECT_FALSE(ice.selected());
  EXPECT_FALSE(ice.last_check_ms(ep("198.18.0.1:56963")));
}

TEST(IceChromium, CapturedCheckRejectedWithWrongUfrags) {
  auto v2 = resign(fixture("chromium_ice_binding_request_v2.bin"), "theicepasswordweagreedon");
  std::array<uint8_t, IceLite::kResponseBufferSize> out{};
  {
    IceLite ice({"Xyzw", "theicepasswordweagreedon"});  // not our ufrag
    ASSERT_TRUE(ice.set_remote("HL2n", "whateverremotepasswordx"));
    EXPECT_EQ(ice.on_stun(v2, ep("198.18.0.1:56963"), 0, out).status, IceStatus::Unauthorized);
  }
  {
    IceLite ice({"T8zi", "theicepasswordweagreedon"});
    ASSERT_TRUE(ice.set_remote("Qqqq", "whateverremotepasswordx"));  // not the browser's ufrag
    auto r = ice.on_stun(v2, ep("198.18.0.1:56963"), 0, out);
    EXPECT_EQ(r.status, IceStatus::Unauthorized);
    EXPECT_EQ(parse_response(r.response, v2).error, 401);
  }
}

// The captured nominating check (ICE-CONTROLLING, USE-CANDIDATE, PRIORITY, GOOG-NETWORK-INFO), signed
// with a password we know, is accepted: success with XOR-MAPPED-ADDRESS, MI and FINGERPRINT.
TEST(IceChromium, CapturedCheckAcceptedWithTheRightCredentials) {
  const std::string pwd = "theicepasswordweagreedon";
  auto v2 = resign(fixture("chromium_ice_binding_request_v2.bin"), pwd);
  IceLite ice({"T8zi", pwd});
  ASSERT_TRUE(ice.set_remote("HL2n", "whateverremotepasswordx"));
  std::array<uint8_t, IceLite::kResponseBufferSize> out{};
  auto from = ep("198.18.0.1:56963");
  auto r = ice.on_stun(v2, from, 5000, out);
  ASSERT_EQ(r.status, IceStatus::Ok);
  EXPECT_TRUE(r.use_candidate);
  EXPECT_FALSE(r.selected_changed);  // not before `from` answers our probe
  EXPECT_TRUE(r.probe);
  EXPECT_FALSE(ice.selected());
  std::array<uint8_t, IceLite::kResponseBufferSize> pb{};
  auto probe = ice.probe(from, true, 5000, pb);
  ASSERT_FALSE(probe.empty());
  EXPECT_EQ(username_of({probe.begin(), probe.end()}), "HL2n:T8zi");  // RFC 8445 7.2.2: theirs:ours
  auto pr = ice.on_response(answer_probe(probe, "whateverremotepasswordx", from), from, 5010);
  EXPECT_TRUE(pr.proven);
  EXPECT_TRUE(pr.selected_changed);
  stun::Message req;
  ASSERT_EQ(stun::Message::parse(v2, req), stun::ParseError::None);
  const auto& pv = req.find(attr::Priority)->value;
  EXPECT_EQ(r.priority, uint32_t(pv[0]) << 24 | uint32_t(pv[1]) << 16 | uint32_t(pv[2]) << 8 | pv[3]);
  auto p = parse_response(r.response, v2);
  EXPECT_EQ(p.m.cls(), stun::Class::Success);
  EXPECT_TRUE(p.m.verify_integrity(turn::crypto::bytes(pwd)));
  auto xma = stun::XorAddress::decode(p.m.find(attr::XorMappedAddress)->value, p.m.transaction_id());
  ASSERT_TRUE(xma);
  EXPECT_EQ(xma->endpoint, from);
  ASSERT_TRUE(ice.selected());
  EXPECT_EQ(*ice.selected(), from);
  EXPECT_EQ(ice.last_check_ms(from), 5010);
  // Our response has the shape of Chromium's own (chromium_ice_binding_success_response.bin).
  stun::Message theirs;
  ASSERT_EQ(stun::Message::parse(fixture("chromium_ice_binding_success_response.bin"), theirs),
            stun::ParseError::None);
  ASSERT_EQ(theirs.attributes().size(), p.m.attributes().size());
  for (size_t i = 0; i < theirs.attributes().size(); ++i)
    EXPECT_EQ(theirs.attributes()[i].type, p.m.attributes()[i].type);
}

// The other capture is from the controlled side of a full-full session (ICE-CONTROLLED): to a lite
// agent, which is always controlled, that is a role conflict (RFC 8445 7.3.1.1): 487 with MI.
TEST(IceChromium, CapturedControlledCheckGetsRoleConflict) {
  const std::string pwd = "theicepasswordweagreedon";
  auto v1 = resign(fixture("chromium_ice_binding_request.bin"), pwd);
  IceLite ice({"HL2n", pwd});
  ASSERT_TRUE(ice.set_remote("T8zi", "whateverremotepasswordx"));
  std::array<uint8_t, IceLite::kResponseBufferSize> out{};
  auto r = ice.on_stun(v1, ep("198.18.0.1:36496"), 0, out);
  EXPECT_EQ(r.status, IceStatus::RoleConflict);
  auto p = parse_response(r.response, v1);
  EXPECT_EQ(p.m.cls(), stun::Class::Error);
  EXPECT_EQ(p.error, 487);
  EXPECT_TRUE(p.m.verify_integrity(turn::crypto::bytes(pwd)));
  EXPECT_FALSE(ice.selected());
}

TEST_F(IceTest, ValidCheckWithoutNominationDoesNotSelect) {
  auto req = build({});
  auto r = check(req);
  ASSERT_EQ(r.status, IceStatus::Ok);
  EXPECT_FALSE(r.use_candidate);
  EXPECT_FALSE(r.selected_changed);
  EXPECT_EQ(r.priority, 0x6e7f1effu);
  EXPECT_FALSE(ice.selected());
  EXPECT_EQ(ice.last_check_ms(ep("192.0.2.10:50000")), 1000);
  EXPECT_FALSE(ice.consent_expired(1'000'000));  // nothing selected yet
  auto p = parse_response(r.response, req);
  EXPECT_EQ(p.m.cls(), stun::Class::Success);
  EXPECT_TRUE(p.m.verify_integrity(turn::crypto::bytes(kLocal.pwd)));
}

TEST_F(IceTest, UseCandidateSelectsTheLatestNominatedAddress) {
  auto nomination = build({.use_candidate = true});
  auto r = nominate(nomination, "192.0.2.10:50000", 1000);
  ASSERT_EQ(r.status, IceStatus::Ok);
  EXPECT_TRUE(r.use_candidate);
  EXPECT_TRUE(r.selected_changed);
  EXPECT_EQ(*ice.selected(), ep("192.0.2.10:50000"));
  r = check(nomination, "192.0.2.10:50000", 1500);  // the same pair again (retransmission, keepalive)
  EXPECT_TRUE(r.use_candidate);
  EXPECT_FALSE(r.selected_changed);
  EXPECT_FALSE(r.probe);  // proven already
  r = check(build({}), "[2001:db8::7]:4000", 2000);  // checked, not nominated: no switch
  EXPECT_FALSE(r.selected_changed);
  EXPECT_EQ(*ice.selected(), ep("192.0.2.10:50000"));
  r = nominate(nomination, "[2001:db8::7]:4000", 2500);  // nominated later: it wins
  EXPECT_TRUE(r.selected_changed);
  EXPECT_EQ(*ice.selected(), ep("[2001:db8::7]:4000"));
  auto p = parse_response(r.response, nomination);
  auto xma = stun::XorAddress::decode(p.m.find(attr::XorMappedAddress)->value, p.m.transaction_id());
  ASSERT_TRUE(xma);
  EXPECT_EQ(xma->endpoint, ep("[2001:db8::7]:4000"));
}

TEST_F(IceTest, ConsentExpiresThirtySecondsAfterTheLastCheckOnTheSelectedAddress) {
  ASSERT_TRUE(nominate(build({.use_candidate = true}), "192.0.2.10:50000", 0).ok());
  EXPECT_FALSE(ice.consent_expired(30'000));
  ASSERT_TRUE(check(build({}), "192.0.2.10:50000", 20'000).ok());  // a consent check (RFC 7675 5.1)
  EXPECT_FALSE(ice.consent_expired(50'000));
  ASSERT_TRUE(check(build({}), "192.0.2.99:1234", 45'000).ok());  // another address refreshes nothing
  EXPECT_TRUE(ice.consent_expired(50'001));
  // Failed checks do not refresh consent either.
  check(build({.pwd = "wrongwrongwrongwrongwrong"}), "192.0.2.10:50000", 49'000);
  EXPECT_TRUE(ice.consent_expired(50'001));
  EXPECT_EQ(ice.last_check_ms(ep("192.0.2.10:50000")), 20'000);
}

TEST_F(IceTest, MissingUsernameIs400WithoutIntegrity) {
  auto req = build({.include_username = false});
  auto r = check(req);
  EXPECT_EQ(r.status, IceStatus::BadRequest);
  auto p = parse_response(r.response, req);
  EXPECT_EQ(p.error, 400);
  EXPECT_FALSE(p.m.has(attr::MessageIntegrity));
  EXPECT_FALSE(ice.last_check_ms(ep("192.0.2.10:50000")));
}

TEST_F(IceTest, MissingIntegrityIs400) {
  auto req = build({.integrity = false});
  auto r = check(req);
  EXPECT_EQ(r.status, IceStatus::BadRequest);
  EXPECT_EQ(parse_response(r.response, req).error, 400);
}

TEST_F(IceTest, WrongUfragIs401) {
  for (const char* user : {"Lite:Other", "Other:Brws", "Lite", "Lite:", ":Brws", "Lite:Brws:x", "lite:Brws"}) {
    auto req = build({.username = user});
    auto r = check(req);
    EXPECT_EQ(r.status, IceStatus::Unauthorized) << user;
    auto p = parse_response(r.response, req);
    EXPECT_EQ(p.error, 401);
    EXPECT_FALSE(p.m.has(attr::MessageIntegrity));
  }
}

TEST_F(IceTest, BadIntegrityIs401) {
  auto r = check(build({.pwd = kRemote.pwd}));  // signed with the remote pwd instead of ours
  EXPECT_EQ(r.status, IceStatus::BadIntegrity);
  // A byte changed after signing ("Lite:Brws" -> "Mite:Brws"), FINGERPRINT recomputed so that the
  // message still parses: the USERNAME now matches, the integrity no longer does.
  auto req = build({.fingerprint = false});
  req[stun::kHeaderSize + 4] ^= 1;
  stun::Message m;
  ASSERT_EQ(stun::Message::parse(req, m), stun::ParseError::None);
  std::vector<uint8_t> buf(512);
  stun::Builder b(buf, m.raw_method(), m.cls(), m.transaction_id());
  for (const auto& a : m.attributes()) b.add(a.type, a.value);
  b.add_fingerprint();
  buf.resize(b.bytes().size());
  IceLite mite({"Mite", kLocal.pwd});
  ASSERT_TRUE(mite.set_remote("Brws", kRemote.pwd));
  r = mite.on_stun(buf, ep("192.0.2.10:50000"), 0, out);
  EXPECT_EQ(r.status, IceStatus::BadIntegrity);
  EXPECT_EQ(parse_response(r.response, buf).error, 401);
}

TEST_F(IceTest, NoFingerprintIsDroppedSilently) {
  auto r = check(build({.fingerprint = false}));
  EXPECT_EQ(r.status, IceStatus::NoFingerprint);
  EXPECT_TRUE(r.response.empty());
}

TEST_F(IceTest, BadFingerprintIsDroppedSilently) {
  auto req = build({});
  req.back() ^= 0xFF;
  auto r = check(req);
  EXPECT_EQ(r.status, IceStatus::NotStun);
  EXPECT_TRUE(r.response.empty());
}

TEST_F(IceTest, ResponsesAndIndicationsAreDropped) {
  for (auto cls : {stun::Class::Indication, stun::Class::Success, stun::Class::Error}) {
    auto r = check(build({.cls = cls}));
    EXPECT_EQ(r.status, IceStatus::NotBindingRequest);
    EXPECT_TRUE(r.response.empty());
  }
  // Another method (Allocate) with valid credentials: not an ICE check.
  std::vector<uint8_t> buf(512);
  stun::Builder b(buf, stun::Method::Allocate, stun::Class::Request, stun::TransactionId{});
  b.add(attr::Username, "Lite:Brws");
  b.add_integrity(turn::crypto::bytes(kLocal.pwd));
  b.add_fingerprint();
  buf.resize(b.bytes().size());
  EXPECT_EQ(check(buf).status, IceStatus::NotBindingRequest);
}

TEST_F(IceTest, UnknownComprehensionRequiredAttributeIs420) {
  auto req = build({.extra_attribute = 0x0042});
  auto r = check(req);
  EXPECT_EQ(r.status, IceStatus::UnknownAttribute);
  auto p = parse_response(r.response, req);
  EXPECT_EQ(p.error, 420);
  EXPECT_TRUE(p.m.verify_integrity(turn::crypto::bytes(kLocal.pwd)));
  auto ua = stun::UnknownAttributes::decode(p.m.find(attr::UnknownAttributes)->value);
  ASSERT_TRUE(ua);
  EXPECT_EQ(ua->types, std::vector<uint16_t>{0x0042});
  // Comprehension-optional ones (Chromium's GOOG-* in 0xC000..) are ignored.
  EXPECT_EQ(check(build({.extra_attribute = 0xC057})).status, IceStatus::Ok);
}

TEST_F(IceTest, RoleAndPriorityAreRequired) {
  auto req = build({.controlling = false});
  auto r = check(req);
  EXPECT_EQ(r.status, IceStatus::BadRequest);
  auto p = parse_response(r.response, req);
  EXPECT_EQ(p.error, 400);
  EXPECT_TRUE(p.m.verify_integrity(turn::crypto::bytes(kLocal.pwd)));  // authenticated: MI
  EXPECT_EQ(check(build({.priority = false})).status, IceStatus::BadRequest);
  EXPECT_EQ(check(build({.controlling = true, .controlled = true})).status, IceStatus::BadRequest);
  r = check(build({.controlling = false, .controlled = true, .use_candidate = true}));
  EXPECT_EQ(r.status, IceStatus::RoleConflict);
  EXPECT_FALSE(r.use_candidate);
  EXPECT_FALSE(ice.selected());
}

TEST_F(IceTest, RestartRejectsOldCredentials) {
  ASSERT_TRUE(nominate(build({.use_candidate = true}), "192.0.2.10:50000", 0).ok());
  IceCredentials fresh{"Nwfr", "anewpasswordafterrestart"};
  ice.restart(fresh);
  ASSERT_TRUE(ice.set_remote("Brw2", "thebrowsersnewpassword"));
  EXPECT_EQ(ice.local().ufrag, "Nwfr");
  auto r = check(build({}), "192.0.2.10:50000", 1000);  // old ufrags, old pwd
  EXPECT_EQ(r.status, IceStatus::Unauthorized);
  r = check(build({.username = "Nwfr:Brw2"}), "192.0.2.10:50000", 1000);  // new ufrags, old pwd
  EXPECT_EQ(r.status, IceStatus::BadIntegrity);
  // The old selected pair stays until the new credentials nominate one.
  EXPECT_EQ(*ice.selected(), ep("192.0.2.10:50000"));
  r = nominate(build({.username = "Nwfr:Brw2", .pwd = fresh.pwd, .use_candidate = true}), "192.0.2.20:6000", 2000,
               "thebrowsersnewpassword");
  EXPECT_EQ(r.status, IceStatus::Ok);
  EXPECT_TRUE(r.selected_changed);
  EXPECT_EQ(*ice.selected(), ep("192.0.2.20:6000"));
  auto p = parse_response(r.response, build({.username = "Nwfr:Brw2", .pwd = fresh.pwd, .use_candidate = true}));
  EXPECT_TRUE(p.m.verify_integrity(turn::crypto::bytes(fresh.pwd)));
}

TEST(IceLite, BeforeSetRemoteAnyRemoteUfragIsAccepted) {
  IceLite ice(kLocal);
  std::array<uint8_t, IceLite::kResponseBufferSize> out{};
  EXPECT_EQ(ice.on_stun(build({.username = "Lite:Anyx"}), ep("10.0.0.1:1"), 0, out).status, IceStatus::Ok);
  EXPECT_EQ(ice.on_stun(build({.username = "Lite:"}), ep("10.0.0.1:1"), 0, out).status, IceStatus::Unauthorized);
  EXPECT_EQ(ice.on_stun(build({.username = "Other:Anyx"}), ep("10.0.0.1:1"), 0, out).status,
            IceStatus::Unauthorized);
}

TEST_F(IceTest, MessageIntegritySha256IsAnsweredInKind) {
  auto req = build({.integrity = false, .integrity_sha256 = true});
  auto r = check(req);
  ASSERT_EQ(r.status, IceStatus::Ok);
  auto p = parse_response(r.response, req);
  EXPECT_FALSE(p.m.has(attr::MessageIntegrity));
  EXPECT_TRUE(p.m.verify_integrity_sha256(turn::crypto::bytes(kLocal.pwd)));
}

TEST_F(IceTest, SmallBufferWritesNothing) {
  std::array<uint8_t, 40> small{};
  auto r = ice.on_stun(build({.use_candidate = true}), ep("192.0.2.10:50000"), 0, small);
  EXPECT_EQ(r.status, IceStatus::BufferTooSmall);
  EXPECT_TRUE(r.response.empty());
  EXPECT_FALSE(ice.selected());  // no answer, no state change
}

TEST_F(IceTest, TrackedAddressesAreBoundedAndKeepTheSelectedOne) {
  ASSERT_TRUE(nominate(build({.use_candidate = true}), "192.0.2.1:1", 0).ok());
  for (int i = 0; i < 40; ++i) {
    std::string from = "198.51.100.1:" + std::to_string(1000 + i);
    ASSERT_TRUE(check(build({}), from.c_str(), 1 + i).ok());
  }
  EXPECT_EQ(ice.last_check_ms(ep("192.0.2.1:1")), 0);          // selected: kept
  EXPECT_FALSE(ice.last_check_ms(ep("198.51.100.1:1000")));     // oldest: forgotten
  EXPECT_EQ(ice.last_check_ms(ep("198.51.100.1:1039")), 40);   // newest: kept
}

TEST_F(IceTest, GarbageNeverCrashesOrChangesState) {
  std::mt19937 rng(42);
  auto valid = build({.use_candidate = true});
  for (int i = 0; i < 5000; ++i) {
    std::vector<uint8_t> d;
    if (i % 2) {  // mutate a valid check
      d = valid;
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < flips; ++k) d[rng() % d.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
      if (rng() % 4 == 0) d.resize(rng() % d.size());
    } else {
      d.resize(rng() % 200);
      for (auto& b : d) b = static_cast<uint8_t>(rng());
      if (d.size() >= 8) {  // make some look like STUN
        d[0] &= 0x3F;
        d[4] = 0x21; d[5] = 0x12; d[6] = 0xA4; d[7] = 0x42;
      }
    }
    auto r = check(d);
    if (!r.response.empty()) {
      stun::Message m;
      EXPECT_EQ(stun::Message::parse(r.response, m), stun::ParseError::None);
    }
    // A mutation that still authenticates is astronomically unlikely.
    ASSERT_FALSE(r.ok());
  }
  EXPECT_FALSE(ice.selected());
}

// Issue 14 item 3: a participant knows its own ICE password, so a check with USE-CANDIDATE can come
// from a spoofed source. The address is selected only when it answers our own Binding request.
TEST_F(IceTest, NominationOfAnUnprovenAddressWaitsForTheAnswerToOurProbe) {
  ASSERT_TRUE(nominate(build({.use_candidate = true}), "198.51.100.7:5000", 0).selected_changed);
  auto victim = ep("203.0.113.9:7000");
  auto r = check(build({.use_candidate = true, .txid_seed = 9}), "203.0.113.9:7000", 100);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.probe);
  EXPECT_FALSE(r.selected_changed);
  EXPECT_EQ(*ice.selected(), ep("198.51.100.7:5000"));  // media stays where it was
  auto probe = ice.probe(victim, true, 100, probe_out);
  ASSERT_FALSE(probe.empty());
  std::vector<uint8_t> sent(probe.begin(), probe.end());
  stun::Message m;
  ASSERT_EQ(stun::Message::parse(sent, m), stun::ParseError::None);
  EXPECT_EQ(m.cls(), stun::Class::Request);
  EXPECT_EQ(username_of(sent), "Brws:Lite");
  EXPECT_TRUE(m.verify_integrity(turn::crypto::bytes(kRemote.pwd)));
  EXPECT_TRUE(m.has_fingerprint());
  EXPECT_TRUE(m.has(attr::IceControlled));
  EXPECT_TRUE(m.has(attr::Priority));
  // What does not prove it: an answer from another address, with another key, an error response,
  // another transaction.
  EXPECT_FALSE(ice.on_response(answer_probe(sent, kRemote.pwd, victim), ep("198.51.100.7:5000"), 110).proven);
  EXPECT_FALSE(ice.on_response(answer_probe(sent, kLocal.pwd, victim), victim, 110).proven);
  EXPECT_FALSE(ice.on_response(answer_probe(sent, kRemote.pwd, victim, stun::Class::Error), victim, 110).proven);
  auto other = build({.cls = stun::Class::Success, .txid_seed = 77});
  EXPECT_FALSE(ice.on_response(other, victim, 110).proven);
  EXPECT_FALSE(ice.proven(victim));
  EXPECT_EQ(*ice.selected(), ep("198.51.100.7:5000"));
  // The real answer from there does.
  auto pr = ice.on_response(answer_probe(sent, kRemote.pwd, victim), victim, 120);
  EXPECT_TRUE(pr.proven);
  EXPECT_TRUE(pr.selected_changed);
  EXPECT_EQ(*ice.selected(), victim);
  // A replay of that answer proves nothing more (the transaction is done).
  EXPECT_FALSE(ice.on_response(answer_probe(sent, kRemote.pwd, victim), victim, 130).proven);
}

TEST_F(IceTest, ProbesAreRetransmittedWithBackoffAndBounded) {
  auto to = ep("203.0.113.9:7000");
  ASSERT_TRUE(check(build({.use_candidate = true}), "203.0.113.9:7000", 0).probe);
  auto first = ice.probe(to, true, 0, probe_out);
  ASSERT_FALSE(first.empty());
  stun::Message m1;
  ASSERT_EQ(stun::Message::parse(first, m1), stun::ParseError::None);
  auto txid = m1.transaction_id();
  EXPECT_TRUE(ice.probe(to, true, 100, probe_out).empty());  // every nomination does not re-send
  EXPECT_FALSE(ice.due_probe(200));
  ASSERT_EQ(ice.due_probe(250), to);
  auto again = ice.probe(to, false, 250, probe_out);
  ASSERT_FALSE(again.empty());
  stun::Message m2;
  ASSERT_EQ(stun::Message::parse(again, m2), stun::ParseError::None);
  EXPECT_EQ(m2.transaction_id(), txid);  // RFC 8489 6.2.1: a retransmission keeps the transaction
  size_t sends = 2;
  for (int64_t t = 251; t < 20'000; t += 10)
    if (ice.due_probe(t) && !ice.probe(to, false, t, probe_out).empty()) ++sends;
  EXPECT_EQ(sends, IceLite::kMaxProbeSends);
  // Many spoofed nominations from ever new addresses: at most kMaxProbesPerSecond probes a second.
  size_t burst = 0;
  for (int i = 0; i < 100; ++i) {
    std::string from = "203.0.113.50:" + std::to_string(1000 + i);
    if (check(build({.use_candidate = true}), from.c_str(), 30'000).probe &&
        !ice.probe(ep(from.c_str()), true, 30'000, probe_out).empty())
      ++burst;
  }
  EXPECT_EQ(burst, IceLite::kMaxProbesPerSecond);
}

TEST(IceLite, NoProbeBeforeTheRemoteCredentialsAreKnown) {
  IceLite ice(kLocal);
  std::array<uint8_t, IceLite::kResponseBufferSize> out{};
  EXPECT_TRUE(ice.probe(ep("192.0.2.1:1"), true, 0, out).empty());
}
