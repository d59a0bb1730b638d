// What a participant can make the SFU engine do to others (issue 14): a spoofed nomination must not
// move its media to a victim (item 3, RFC 8445 7.2.2 return routability), and an offer announcing
// another participant's SSRC must not take that SSRC over (item 11). Real Chromium offers
// (tests/fixtures/chromium_sdp/) and checks built as Chromium builds them.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sfu/certificate.hpp"
#include "sfu/engine.hpp"
#include "sfu/rtcp.hpp"
#include "sfu/srtp.hpp"
#include "sfu/sdp.hpp"
#include "sfu/token.hpp"
#include "turn/attributes.hpp"
#include "turn/crypto.hpp"
#include "turn/message.hpp"

using namespace sfu;
using json = nlohmann::json;
namespace stun = turn::stun;
namespace attr = turn::stun::attr;

namespace {

constexpr const char* kKey = "engine-abuse-test-key";
constexpr int64_t kUnix = 1'800'000'000;
constexpr uint64_t kBudget = 16'000;  // NACK resends per subscriber and second (a quarter of it as burst)

turn::Endpoint ep(const char* s) { return *turn::Endpoint::parse(s); }

std::string fixture(const std::string& name) {
  std::ifstream f(std::string(TURNPIKE_SOURCE_DIR) + "/tests/fixtures/chromium_sdp/" + name);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

bool is_request(const std::vector<uint8_t>& d) { return d.size() >= 20 && d[0] == 0x00 && d[1] == 0x01; }

struct Sink : EngineSink {
  std::vector<std::pair<turn::Endpoint, std::vector<uint8_t>>> media;
  std::vector<std::pair<ConnectionId, json>> signals;
  std::vector<ConnectionId> joined;
  void send_media(const turn::Endpoint& to, std::span<const uint8_t> d) override {
    media.emplace_back(to, std::vector<uint8_t>(d.begin(), d.end()));
  }
  void send_signal(ConnectionId c, const std::string& text) override { signals.emplace_back(c, json::parse(text)); }
  void close_signal(ConnectionId, const char*) override {}
  void signal_joined(ConnectionId c) override { joined.push_back(c); }
  std::vector<json> of(ConnectionId c, const std::string& type) const {
    std::vector<json> out;
    for (const auto& [to, m] : signals)
      if (to == c && m["type"] == type) out.push_back(m);
    return out;
  }
  size_t requests_to(const turn::Endpoint& to) const {
    size_t n = 0;
    for (const auto& [a, d] : media) n += a == to && is_request(d);
    return n;
  }
};

struct Client {
  ConnectionId conn = 0;
  std::string id, local_ufrag, local_pwd, remote_ufrag, remote_pwd;
};

// The browser's DTLS client (as in test_sfu_dtls.cpp): a self-signed P-256 certificate, use_srtp.
struct DtlsClient {
  Certificate cert = Certificate::generate(kUnix);
  SSL_CTX* ctx = SSL_CTX_new(DTLS_client_method());
  SSL* ssl = nullptr;
  BIO* wbio = BIO_new(BIO_s_mem());
  BIO* rbio = BIO_new(BIO_s_mem());
  DtlsClient() {
    SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
    SSL_CTX_use_certificate(ctx, cert.x509());
    SSL_CTX_use_PrivateKey(ctx, cert.key());
    SSL_CTX_set_tlsext_use_srtp(ctx, "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    ssl = SSL_new(ctx);
    BIO_set_mem_eof_return(rbio, -1);
    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU);
    SSL_set_mtu(ssl, 1200);
    SSL_set_connect_state(ssl);
  }
  ~DtlsClient() {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
  void step() {
    if (!SSL_is_init_finished(ssl)) SSL_do_handshake(ssl);
    ERR_clear_error();
  }
  std::vector<uint8_t> take() {
    std::vector<uint8_t> out(static_cast<size_t>(BIO_ctrl_pending(wbio)));
    if (!out.empty()) BIO_read(wbio, out.data(), static_cast<int>(out.size()));
    return out;
  }
  void give(const std::vector<uint8_t>& d) {
    BIO_write(rbio, d.data(), static_cast<int>(d.size()));
    step();
  }
  // The offer with this client's certificate as its fingerprint.
  std::string offer(std::string sdp) const {
    const std::string tag = "a=fingerprint:sha-256 ";
    for (size_t at = sdp.find(tag); at != std::string::npos; at = sdp.find(tag, at + 1)) {
      size_t end = sdp.find("\r\n", at);
      sdp.replace(at + tag.size(), end - at - tag.size(), std::string(cert.fingerprint_value()));
    }
    return sdp;
  }
};

class SfuEngineAbuse : public ::testing::Test {
 protected:
  Sink sink;
  std::unique_ptr<Engine> engine;
  int64_t now = 1'000;

  void SetUp() override {
    EngineConfig cfg;
    cfg.region = "eu-west";
    cfg.token_keys = {kKey};
    cfg.candidates = {ep("198.51.100.10:40000")};
    cfg.start_unix_s = kUnix;
    cfg.max_retransmit_bytes_per_second = kBudget;
    // 192.0.2.0/24 plays this node's TURN relay: a media path there is reported as relay_udp.
    cfg.classify = [](const turn::Endpoint& from) {
      return turn::Cidr::parse("192.0.2.0/24")->contains(from.address) ? Path::RelayUdp : Path::Direct;
    };
    engine = std::make_unique<Engine>(cfg, sink);
  }

  Client join(ConnectionId conn, const std::string& identity, const std::string& offer, json subscriptions = nullptr) {
    Client c;
    c.conn = conn;
    token::Claims claims;
    claims.room = "ward-9";
    claims.identity = identity;
    claims.region = "eu-west";
    claims.exp = kUnix + 600;
    engine->signal_opened(conn, now);
    engine->signal_message(conn, json{{"type", "join"}, {"token", token::encode(claims, kKey)}}.dump(), now, kUnix);
    auto joined = sink.of(conn, "joined");
    EXPECT_EQ(joined.size(), 1u);
    if (joined.empty()) return c;
    c.id = joined[0]["participant"];
    json msg = {{"type", "offer"}, {"sdp", offer}};
    if (!subscriptions.is_null()) msg["subscriptions"] = subscriptions;
    engine->signal_message(conn, msg.dump(), now, kUnix);
    auto answers = sink.of(conn, "answer");
    EXPECT_FALSE(answers.empty());
    if (answers.empty()) return c;
    sdp::Error err;
    auto a = sdp::parse(answers.back()["sdp"].get<std::string>(), err);
    auto o = sdp::parse(offer, err);
    EXPECT_TRUE(a && o) << err.to_string();
    c.local_ufrag = sdp::ice_credentials(*a)->ufrag;
    c.local_pwd = sdp::ice_credentials(*a)->pwd;
    c.remote_ufrag = sdp::ice_credentials(*o)->ufrag;
    c.remote_pwd = sdp::ice_credentials(*o)->pwd;
    return c;
  }

  // A connectivity check as Chromium sends one (RFC 8445 7.2.2), from `from` (which may be spoofed:
  // the participant knows its own credentials).
  void check(const Client& c, const char* from, bool nominate) {
    static uint8_t seq = 0;
    std::array<uint8_t, 512> buf{};
    stun::TransactionId txid{};
    txid[0] = ++seq;
    stun::Builder b(buf, stun::Method::Binding, stun::Class::Request, txid);
    b.add(attr::Username, c.local_ufrag + ":" + c.remote_ufrag);
    std::array<uint8_t, 8> tie{1, 2, 3, 4, 5, 6, 7, 8};
    b.add(attr::IceControlling, tie);
    b.add_u32(attr::Priority, 0x6e7f1eff);
    if (nominate) b.add_empty(attr::UseCandidate);
    b.add_integrity(turn::crypto::bytes(c.local_pwd));
    b.add_fingerprint();
    ASSERT_TRUE(b.ok());
    std::vector<uint8_t> bytes(b.bytes().begin(), b.bytes().end());
    engine->media(bytes, ep(from), now);
  }

  // The browser's ICE agent at `at` answers every Binding request the SFU sent there.
  void answer_probes(const Client& c, const char* at) {
    for (size_t i = 0; i < sink.media.size(); ++i) {
      auto [to, d] = sink.media[i];
      if (to != ep(at) || !is_request(d)) continue;
      stun::Message m;
      ASSERT_EQ(stun::Message::parse(d, m), stun::ParseError::None);
      const auto* u = m.find(attr::Username);
      ASSERT_TRUE(u);
      EXPECT_EQ(std::string(u->value.begin(), u->value.end()), c.remote_ufrag + ":" + c.local_ufrag);
      ASSERT_TRUE(m.verify_integrity(turn::crypto::bytes(c.remote_pwd)));
      std::array<uint8_t, 512> buf{};
      stun::Builder b(buf, stun::Method::Binding, stun::Class::Success, m.transaction_id());
      b.add_xor_address(attr::XorMappedAddress, ep("198.51.100.10:40000"));
      b.add_integrity(turn::crypto::bytes(c.remote_pwd));
      b.add_fingerprint();
      ASSERT_TRUE(b.ok());
      std::vector<uint8_t> bytes(b.bytes().begin(), b.bytes().end());
      engine->media(bytes, ep(at), now);
    }
  }

  // ICE (a proven nomination from `at`), then DTLS through the engine; the client's SRTP sessions.
  SrtpSessionPair connect(const Client& c, DtlsClient& d, const char* at) {
    check(c, at, true);
    answer_probes(c, at);
    d.step();
    for (int round = 0; round < 20; ++round) {
      size_t since = sink.media.size();
      auto out = d.take();
      if (!out.empty()) engine->media(out, ep(at), now);
      bool any = !out.empty();
      for (size_t i = since; i < sink.media.size(); ++i) {
        auto [to, dg] = sink.media[i];
        if (to == ep(at) && !dg.empty() && dg[0] >= 20 && dg[0] <= 63) {
          d.give(dg);
          any = true;
        }
      }
      if (!any) break;
    }
    SrtpSessionPair pair;
    EXPECT_TRUE(SSL_is_init_finished(d.ssl));
    const auto* profile = SSL_get_selected_srtp_profile(d.ssl);
    if (!profile) return pair;
    auto id = static_cast<uint16_t>(profile->id);
    std::vector<uint8_t> km(srtp_keying_material_length(id));
    EXPECT_EQ(SSL_export_keying_material(d.ssl, km.data(), km.size(), "EXTRACTOR-dtls_srtp", 19, nullptr, 0, 0), 1);
    EXPECT_EQ(make_srtp_sessions(id, km, false, pair), SrtpError::None);
    return pair;
  }

  std::vector<std::string> paths_of(const Client& c) const {
    std::vector<std::string> out;
    for (const auto& m : sink.of(c.conn, "path"))
      if (m["participant"] == c.id) out.push_back(m["path"]);
    return out;
  }
};

}  // namespace

// Item 3: checks with USE-CANDIDATE from a spoofed source (the victim's address) do not move the
// participant's media there; only an address that answers the SFU's own Binding request does.
TEST_F(SfuEngineAbuse, SpoofedNominationDoesNotMoveMediaUntilTheAddressAnswers) {
  Client a = join(1, "attacker", fixture("a_sendonly_audio_video.sdp"));
  check(a, "198.51.100.20:5000", true);
  EXPECT_EQ(sink.requests_to(ep("198.51.100.20:5000")), 1u);  // our probe
  EXPECT_TRUE(paths_of(a).empty()) << "the first address is not used before it answers either";
  answer_probes(a, "198.51.100.20:5000");
  EXPECT_EQ(paths_of(a), (std::vector<std::string>{"direct"}));
  EXPECT_EQ(engine->stats().ice_probes_answered.get(), 1u);

  // The attacker nominates the victim's address (here, a relay address: the path would say so).
  for (int i = 0; i < 20; ++i) {
    check(a, "192.0.2.7:6000", true);
    now += 100;
    engine->tick(now);
  }
  EXPECT_EQ(paths_of(a), (std::vector<std::string>{"direct"})) << "media moved to an unproven address";
  // The victim got a bounded number of our probes (backoff), not one per spoofed check.
  EXPECT_GE(sink.requests_to(ep("192.0.2.7:6000")), 1u);
  EXPECT_LE(sink.requests_to(ep("192.0.2.7:6000")), 4u);
  // A forged answer: the attacker knows the password (it is its own browser's) but not the
  // transaction id, which only the victim saw.
  size_t before = sink.media.size();
  std::array<uint8_t, 512> buf{};
  stun::TransactionId guess{};
  stun::Builder b(buf, stun::Method::Binding, stun::Class::Success, guess);
  b.add_xor_address(attr::XorMappedAddress, ep("198.51.100.10:40000"));
  b.add_integrity(turn::crypto::bytes(a.remote_pwd));
  b.add_fingerprint();
  std::vector<uint8_t> forged(b.bytes().begin(), b.bytes().end());
  engine->media(forged, ep("192.0.2.7:6000"), now);
  EXPECT_EQ(sink.media.size(), before);
  EXPECT_EQ(paths_of(a), (std::vector<std::string>{"direct"}));

  // A real move (the browser behind that address answers): media follows.
  answer_probes(a, "192.0.2.7:6000");
  EXPECT_EQ(paths_of(a), (std::vector<std::string>{"direct", "relay_udp"}));
}

// Item 11: SSRCs are per participant; an offer announcing an SSRC another participant of the room
// publishes is refused for that track, and the owner keeps it.
TEST_F(SfuEngineAbuse, AnSsrcAlreadyPublishedInTheRoomIsRefused) {
  std::string offer = fixture("a_sendonly_audio_video.sdp");
  Client owner = join(1, "owner", offer);
  EXPECT_TRUE(sink.of(1, "error").empty());
  // The owner renegotiates with the same SSRCs on the same mids: that is no conflict.
  engine->signal_message(1, json{{"type", "offer"}, {"sdp", offer}}.dump(), now, kUnix);
  EXPECT_TRUE(sink.of(1, "error").empty());

  Client thief = join(2, "thief", offer);  // the SSRCs the owner's subscribers see in their answers
  auto errors = sink.of(2, "error");
  ASSERT_EQ(errors.size(), 2u);  // audio and video
  for (const auto& e : errors) {
    EXPECT_EQ(e["code"], "bad_sdp");
    EXPECT_NE(e["message"].get<std::string>().find("already used in this room"), std::string::npos) << e.dump();
  }
  EXPECT_EQ(engine->stats().ssrc_conflicts.get(), 2u);
  EXPECT_TRUE(sink.of(1, "track_published").empty()) << "the thief's copies were published";
  // Its answer takes nothing from it.
  sdp::Error err;
  auto answer = sdp::parse(sink.of(2, "answer").back()["sdp"].get<std::string>(), err);
  ASSERT_TRUE(answer);
  for (const auto& m : answer->media) EXPECT_TRUE(m.rejected() || m.direction == sdp::Direction::Inactive);

  // The thief leaving takes nothing of the owner's: a newcomer sees the owner's two tracks.
  engine->signal_message(2, R"({"type":"leave"})", now, kUnix);
  join(3, "newcomer", fixture("e_recvonly_only.sdp"));
  auto joined = sink.of(3, "joined");
  ASSERT_EQ(joined.size(), 1u);
  ASSERT_EQ(joined[0]["participants"].size(), 1u);
  EXPECT_EQ(joined[0]["participants"][0]["identity"], "owner");
  EXPECT_EQ(joined[0]["participants"][0]["tracks"].size(), 2u);
}

TEST_F(SfuEngineAbuse, JoinIsReportedToTheHost) {
  join(7, "someone", fixture("a_sendonly_audio_video.sdp"));
  EXPECT_EQ(sink.joined, (std::vector<ConnectionId>{7}));
}

TEST_F(SfuEngineAbuse, InvalidUtf8NeverThrowsFromSignalling) {
  // nlohmann's parser refuses invalid UTF-8 in JSON text; error messages quoting an offer must
  // survive multi-byte characters (cut or not): answers are dumped with replacement.
  join(1, "someone", fixture("a_sendonly_audio_video.sdp"));
  json msg = {{"type", "offer"}, {"sdp", fixture("a_sendonly_audio_video.sdp") + "a=\xc3\xa9\xe2\x82\xac\r\n"}};
  EXPECT_NO_THROW(engine->signal_message(1, msg.dump(), now, kUnix));
  EXPECT_NO_THROW(engine->signal_message(1, json{{"type", "offer"}, {"sdp", "\xc3\xa9"}}.dump(), now, kUnix));
}

// Item 2: one SRTCP compound of Generic NACKs (RFC 4585 6.2.1) naming the same packets over and over
// buys each packet at most once per interval, and no more than the per-compound cap.
TEST_F(SfuEngineAbuse, NackCompoundCannotAmplify) {
  DtlsClient pub_dtls, sub_dtls;
  Client pub = join(1, "publisher", pub_dtls.offer(fixture("a_sendonly_audio_video.sdp")));
  auto published = sink.of(1, "answer");
  sdp::Error err;
  auto pub_answer = sdp::parse(published.back()["sdp"].get<std::string>(), err);
  ASSERT_TRUE(pub_answer);
  const auto* video = sdp::find_section(*pub_answer, "1");
  ASSERT_TRUE(video && !video->codecs.empty());
  const uint8_t pt = video->codecs.front().payload_type;
  const uint32_t video_ssrc = 596868569;  // the fixture's primary video SSRC
  Client sub = join(2, "subscriber", sub_dtls.offer(fixture("e_recvonly_only.sdp")), {{"0", pub.id + "-1"}});
  auto pub_srtp = connect(pub, pub_dtls, "198.51.100.20:5000");
  auto sub_srtp = connect(sub, sub_dtls, "198.51.100.30:6000");
  const auto sub_addr = ep("198.51.100.30:6000");
  auto to_sub = [&] {
    size_t n = 0, bytes = 0;
    for (const auto& [to, d] : sink.media)
      if (to == sub_addr && !d.empty() && d[0] >= 128) ++n, bytes += d.size();
    return std::pair{n, bytes};
  };

  // 50 video packets, forwarded once each.
  for (uint16_t seq = 1000; seq < 1050; ++seq) {
    std::array<uint8_t, 256> pkt{};
    pkt[0] = 0x80;
    pkt[1] = pt;
    pkt[2] = seq >> 8;
    pkt[3] = seq & 0xff;
    pkt[7] = 90;
    for (int i = 0; i < 4; ++i) pkt[8 + i] = static_cast<uint8_t>(video_ssrc >> (24 - 8 * i));
    pkt[12] = 0x10;  // VP8 payload descriptor, S=1, not a keyframe
    for (size_t i = 13; i < 113; ++i) pkt[i] = static_cast<uint8_t>(i);
    size_t len = 113;
    ASSERT_EQ(pub_srtp.outbound.protect_rtp(pkt, len), SrtpError::None);
    engine->media(std::span<uint8_t>(pkt.data(), len), ep("198.51.100.20:5000"), now);
  }
  auto [forwarded, forwarded_bytes] = to_sub();
  ASSERT_EQ(forwarded, 50u) << "the subscription does not receive the track";

  // One ~1.7 KB compound: 60 NACKs, each for all 50 packets (3000 resends asked for).
  auto compound = [&] {
    std::vector<uint8_t> buf(2048);
    RtcpWriter w(buf);
    std::vector<uint16_t> seqs;
    for (uint16_t s = 1000; s < 1050; ++s) seqs.push_back(s);
    for (int i = 0; i < 60; ++i) EXPECT_TRUE(w.append(build_nack(w.remaining(), 0x11223344, video_ssrc, seqs)));
    size_t len = w.size();
    EXPECT_EQ(sub_srtp.outbound.protect_rtcp(buf, len), SrtpError::None);
    buf.resize(len);
    return buf;
  };
  auto nacks = compound();
  engine->media(nacks, sub_addr, now);
  auto [after, after_bytes] = to_sub();
  size_t resent = after - forwarded;
  EXPECT_GT(resent, 0u);
  EXPECT_LE(resent, 50u) << "each packet resent at most once per compound";
  EXPECT_LE(after_bytes - forwarded_bytes, 5 * nacks.size());
  EXPECT_GT(engine->stats().nack_limited_repeat.get() + engine->stats().nack_limited_cap.get(), 0u);

  // The same compound again 10 ms later: what was resent is not resent (within the interval); of
  // what the budget refused, only what 10 ms of budget buys (160 bytes: one packet).
  uint64_t repeats = engine->stats().nack_limited_repeat.get();
  auto again = compound();
  engine->media(again, sub_addr, now + 10);
  EXPECT_LE(to_sub().first - after, 1u);
  EXPECT_GE(engine->stats().nack_limited_repeat.get() - repeats, resent);

  // Compounds every 100 ms for 10 s: bounded by the per-subscriber byte budget (what is budgeted
  // is the stored packet; what goes out adds the mid extension and the SRTP tag).
  for (int i = 0; i < 100; ++i) {
    now += 100;
    auto c = compound();
    engine->media(c, sub_addr, now);
  }
  auto [total, total_bytes] = to_sub();
  EXPECT_LE(total_bytes - after_bytes, (kBudget * 10 + kBudget / 4) * 3 / 2);
  EXPECT_GT(total - after, 0u);
  EXPECT_GT(engine->stats().nack_limited_budget.get(), 0u);
}
