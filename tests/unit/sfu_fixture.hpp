// The SFU's test harness, shared by tests/unit/test_sfu_*.cpp: a DTLS client as a browser runs it
// (OpenSSL, memory BIOs), a recording EngineSink, and an engine fixture that joins participants with
// real Chromium offers (tests/fixtures/chromium_sdp/), runs ICE and DTLS through the engine in
// memory and gives each client its SRTP sessions. No sockets, no sleeping: the clock is `now`.
#pragma once
#include <map>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "sfu/certificate.hpp"
#include "sfu/engine.hpp"
#include "sfu/sdp.hpp"
#include "sfu/srtp.hpp"
#include "sfu/token.hpp"
#include "turn/attributes.hpp"
#include "turn/crypto.hpp"
#include "turn/message.hpp"

namespace sfu_fixture {

using namespace sfu;
using json = nlohmann::json;

inline constexpr int64_t kUnix = 1'800'000'000;

inline turn::Endpoint ep(const char* s) { return *turn::Endpoint::parse(s); }

// A captured Chromium offer from tests/fixtures/chromium_sdp/.
inline std::string chromium_sdp(const std::string& name) {
  std::ifstream f(std::string(TURNPIKE_SOURCE_DIR) + "/tests/fixtures/chromium_sdp/" + name);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// RFC 5389 6: a Binding request (method 1, class request).
inline bool is_stun_request(const std::vector<uint8_t>& d) { return d.size() >= 20 && d[0] == 0x00 && d[1] == 0x01; }

struct DtlsClientConfig {
  const char* profiles = "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80";
  bool certificate = true;
  int64_t unix_s = kUnix;  // when its self-signed certificate is made
};

// A DTLS 1.2 client as a browser runs it: self-signed P-256 certificate, use_srtp, memory BIOs.
struct DtlsClient {
  using Config = DtlsClientConfig;
  Certificate cert;
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  BIO* rbio = nullptr;
  BIO* wbio = nullptr;
  bool failed = false;
  bool got_close_notify = false;

  DtlsClient() : DtlsClient(Config{}) {}
  explicit DtlsClient(Config cfg) : cert(Certificate::generate(cfg.unix_s)) {
    ctx = SSL_CTX_new(DTLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
    if (cfg.certificate) {
      SSL_CTX_use_certificate(ctx, cert.x509());
      SSL_CTX_use_PrivateKey(ctx, cert.key());
    }
    if (cfg.profiles) {
      EXPECT_EQ(SSL_CTX_set_tlsext_use_srtp(ctx, cfg.profiles), 0);  // 0 is success
    }
    // The browser accepts any certificate here and checks the fingerprint itself afterwards.
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    ssl = SSL_new(ctx);
    rbio = BIO_new(BIO_s_mem());
    wbio = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(rbio, -1);  // empty means "try again", not EOF
    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU);
    SSL_set_mtu(ssl, 1200);
    SSL_set_connect_state(ssl);
  }
  ~DtlsClient() {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
  DtlsClient(const DtlsClient&) = delete;
  DtlsClient& operator=(const DtlsClient&) = delete;

  bool done() const { return SSL_is_init_finished(ssl); }
  void step() {
    if (failed) return;
    int rc;
    if (!done()) {
      rc = SSL_do_handshake(ssl);
    } else {
      unsigned char buf[2048];
      rc = SSL_read(ssl, buf, sizeof buf);
    }
    if (rc <= 0) {
      int err = SSL_get_error(ssl, rc);
      if (err == SSL_ERROR_ZERO_RETURN) {
        got_close_notify = true;
      } else if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        failed = true;
      }
    }
    ERR_clear_error();
  }
  // Everything the client wrote since last time, as one datagram (several records, as BoringSSL packs them).
  std::vector<uint8_t> take() {
    std::vector<uint8_t> out(static_cast<size_t>(BIO_ctrl_pending(wbio)));
    if (!out.empty()) BIO_read(wbio, out.data(), static_cast<int>(out.size()));
    return out;
  }
  void give(const std::vector<uint8_t>& d) {
    BIO_write(rbio, d.data(), static_cast<int>(d.size()));
    step();
  }
  std::vector<uint8_t> export_keys(size_t len) {
    std::vector<uint8_t> out(len);
    EXPECT_EQ(SSL_export_keying_material(ssl, out.data(), len, "EXTRACTOR-dtls_srtp", 19, nullptr, 0, 0), 1);
    return out;
  }
  std::pair<std::string, std::string> fingerprint() const {
    return {"sha-256", std::string(cert.fingerprint_value())};
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

// Records everything the engine hands its host.
struct Sink : EngineSink {
  std::vector<std::pair<turn::Endpoint, std::vector<uint8_t>>> media;
  std::vector<std::pair<ConnectionId, json>> signals;
  std::vector<ConnectionId> joined;
  std::vector<std::string> closed, denied, redirects, ended;
  void send_media(const turn::Endpoint& to, std::span<const uint8_t> d) override {
    media.emplace_back(to, std::vector<uint8_t>(d.begin(), d.end()));
  }
  void send_signal(ConnectionId c, const std::string& text) override { signals.emplace_back(c, json::parse(text)); }
  void close_signal(ConnectionId, const char* why) override { closed.emplace_back(why); }
  void signal_joined(ConnectionId c) override { joined.push_back(c); }
  void residency_denied(const std::string& r) override { denied.push_back(r); }
  void residency_redirect(const std::string& r) override { redirects.push_back(r); }
  void residency_ended(const std::string& r) override { ended.push_back(r); }
  // Live media sessions by connection, as media_session_path reports them; a report that does not
  // start from the path last reported is recorded as a mismatch.
  std::map<ConnectionId, Path> sessions;
  std::vector<std::string> session_mismatches;
  void media_session_path(ConnectionId c, Path from, Path to) override {
    auto it = sessions.find(c);
    Path was = it == sessions.end() ? Path::Unknown : it->second;
    if (was != from) session_mismatches.push_back(std::to_string(c) + ": from " + to_string(from) + ", was " + to_string(was));
    if (to == Path::Unknown) sessions.erase(c);
    else sessions[c] = to;
  }

  std::vector<json> of(ConnectionId c, const std::string& type) const {
    std::vector<json> out;
    for (const auto& [to, m] : signals)
      if (to == c && m["type"] == type) out.push_back(m);
    return out;
  }
  // The last signal of this type to anyone, or nullptr.
  const json* last(const std::string& type) const {
    for (auto it = signals.rbegin(); it != signals.rend(); ++it)
      if (it->second["type"] == type) return &it->second;
    return nullptr;
  }
  // Our Binding requests to `to` (probes proving an address, ice_lite.hpp).
  size_t requests_to(const turn::Endpoint& to) const {
    size_t n = 0;
    for (const auto& [a, d] : media) n += a == to && is_stun_request(d);
    return n;
  }
  // Everything else sent to `to`: responses to its checks, DTLS, SRTP.
  size_t answered(const turn::Endpoint& to) const {
    size_t n = 0;
    for (const auto& [a, d] : media) n += a == to && !is_stun_request(d);
    return n;
  }
};

// One participant as its browser sees it: the signalling connection and both sides' ICE credentials.
struct Client {
  ConnectionId conn = 0;
  std::string id, local_ufrag, local_pwd, remote_ufrag, remote_pwd;
};

// An engine of region eu-west with one host candidate (198.51.100.10:40000); configure() adjusts
// the configuration before the engine is made.
class EngineTest : public ::testing::Test {
 protected:
  static constexpr const char* kKey = "engine-test-key";
  Sink sink;
  std::unique_ptr<Engine> engine;
  int64_t now = 1'000;

  virtual void configure(EngineConfig&) {}

  void SetUp() override {
    EngineConfig cfg;
    cfg.region = "eu-west";
    cfg.token_keys = {kKey};
    cfg.candidates = {ep("198.51.100.10:40000")};
    cfg.start_unix_s = kUnix;
    configure(cfg);
    engine = std::make_unique<Engine>(cfg, sink);
  }

  // Joins room ward-9 as `identity` and sends `offer`; the client's ICE credentials from both sides.
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
    if (!a || !o) return c;
    c.local_ufrag = sdp::ice_credentials(*a)->ufrag;
    c.local_pwd = sdp::ice_credentials(*a)->pwd;
    c.remote_ufrag = sdp::ice_credentials(*o)->ufrag;
    c.remote_pwd = sdp::ice_credentials(*o)->pwd;
    return c;
  }

  // The last answer `c` got, parsed.
  std::optional<sdp::SessionDescription> answer_of(const Client& c) const {
    auto answers = sink.of(c.conn, "answer");
    if (answers.empty()) return std::nullopt;
    sdp::Error err;
    return sdp::parse(answers.back()["sdp"].get<std::string>(), err);
  }

  // A connectivity check as Chromium sends one (RFC 8445 7.2.2), from `from` (which may be spoofed:
  // the participant knows its own credentials).
  void check(const Client& c, const char* from, bool nominate) {
    static uint8_t seq = 0;
    std::array<uint8_t, 512> buf{};
    turn::stun::TransactionId txid{};
    txid[0] = ++seq;
    turn::stun::Builder b(buf, turn::stun::Method::Binding, turn::stun::Class::Request, txid);
    b.add(turn::stun::attr::Username, c.local_ufrag + ":" + c.remote_ufrag);
    std::array<uint8_t, 8> tie{1, 2, 3, 4, 5, 6, 7, 8};
    b.add(turn::stun::attr::IceControlling, tie);
    b.add_u32(turn::stun::attr::Priority, 0x6e7f1eff);
    if (nominate) b.add_empty(turn::stun::attr::UseCandidate);
    b.add_integrity(turn::crypto::bytes(c.local_pwd));
    b.add_fingerprint();
    ASSERT_TRUE(b.ok());
    std::vector<uint8_t> bytes(b.bytes().begin(), b.bytes().end());
    engine->media(bytes, ep(from), now);
  }

  // The browser's ICE agent at `at` answers every Binding request the SFU sent there.
  void answer_probes(const Client& c, const char* at) {
    namespace stun = turn::stun;
    for (size_t i = 0; i < sink.media.size(); ++i) {
      auto [to, d] = sink.media[i];
      if (to != ep(at) || !is_stun_request(d)) continue;
      stun::Message m;
      ASSERT_EQ(stun::Message::parse(d, m), stun::ParseError::None);
      const auto* u = m.find(stun::attr::Username);
      ASSERT_TRUE(u);
      EXPECT_EQ(std::string(u->value.begin(), u->value.end()), c.remote_ufrag + ":" + c.local_ufrag);
      ASSERT_TRUE(m.verify_integrity(turn::crypto::bytes(c.remote_pwd)));
      std::array<uint8_t, 512> buf{};
      stun::Builder b(buf, stun::Method::Binding, stun::Class::Success, m.transaction_id());
      b.add_xor_address(stun::attr::XorMappedAddress, ep("198.51.100.10:40000"));
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

  // The paths the room was told for `c` (engine "path" messages), in order.
  std::vector<std::string> paths_of(const Client& c) const {
    std::vector<std::string> out;
    for (const auto& m : sink.of(c.conn, "path"))
      if (m["participant"] == c.id) out.push_back(m["path"]);
    return out;
  }
};

}  // namespace sfu_fixture
