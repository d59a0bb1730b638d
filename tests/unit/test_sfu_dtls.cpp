// Certificate and DTLS-SRTP (sfu/certificate.hpp, sfu/dtls_srtp.hpp): a real OpenSSL DTLS client
// (its own SSL_CTX, its own self-signed certificate, use_srtp, memory BIOs) handshakes with our
// transport by shuttling datagrams in memory, as a browser would over the media port.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <chrono>
#include <optional>
#include <ctime>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "sfu/certificate.hpp"
#include "sfu/dtls_srtp.hpp"
#include "sfu_fixture.hpp"

using namespace sfu;

namespace {

const int64_t kUnixNow = 1'790'000'000;  // 2026-09

const Certificate& server_cert() {
  static const Certificate c = Certificate::generate(kUnixNow);
  return c;
}
const DtlsSrtpContext& server_ctx() {
  static const DtlsSrtpContext ctx(server_cert());
  return ctx;
}

// A DTLS 1.2 client as a browser runs it (sfu_fixture.hpp), its certificate made at kUnixNow.
struct Client : sfu_fixture::DtlsClient {
  Client() : Client(Config{}) {}
  explicit Client(Config cfg) : DtlsClient(at_now(cfg)) {}
  static Config at_now(Config cfg) {
    cfg.unix_s = kUnixNow;
    return cfg;
  }
};

// Shuttles datagrams both ways until neither side has anything to say. Returns the server's datagrams.
std::vector<std::vector<uint8_t>> pump(Client& c, DtlsSrtpTransport& s, int64_t now, int rounds = 10) {
  std::vector<std::vector<uint8_t>> seen;
  c.step();
  for (int i = 0; i < rounds; ++i) {
    auto out = c.take();
    if (!out.empty()) s.on_datagram(out, now);
    auto dgs = s.take_outgoing();
    for (auto& d : dgs) {
      c.give(d);
      seen.push_back(d);
    }
    if (out.empty() && dgs.empty()) break;
  }
  return seen;
}

DtlsSrtpTransport make_server(Client& c, int64_t now = 0, DtlsSrtpTransport::Options opt = {}) {
  DtlsSrtpTransport s(server_ctx(), now, opt);
  auto [alg, fp] = c.fingerprint();
  EXPECT_TRUE(s.set_remote_fingerprint(alg, fp));
  return s;
}

}  // namespace

TEST(Certificate, IsASelfSignedP256Certificate) {
  const Certificate& c = server_cert();
  ASSERT_NE(c.key(), nullptr);
  ASSERT_NE(c.x509(), nullptr);
  EXPECT_TRUE(EVP_PKEY_is_a(c.key(), "EC"));
  char group[64] = {};
  size_t glen = 0;
  ASSERT_EQ(EVP_PKEY_get_group_name(c.key(), group, sizeof group, &glen), 1);
  EXPECT_STREQ(group, "prime256v1");
  EXPECT_EQ(X509_verify(c.x509(), c.key()), 1);  // signed by its own key
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(c.x509()), X509_get_issuer_name(c.x509())), 0);
  char cn[64] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(c.x509()), NID_commonName, cn, sizeof cn);
  EXPECT_STREQ(cn, "turnpike");
  EXPECT_EQ(X509_get_signature_nid(c.x509()), NID_ecdsa_with_SHA256);
  // Valid from 30 days back to a year ahead of the time it was given.
  time_t now = kUnixNow;
  time_t before = now - 29 * 86400, after = now + 364 * 86400;
  time_t too_early = now - 31 * 86400, too_late = now + 366 * 86400;
  EXPECT_LT(X509_cmp_time(X509_get0_notBefore(c.x509()), &before), 0);
  EXPECT_GT(X509_cmp_time(X509_get0_notBefore(c.x509()), &too_early), 0);
  EXPECT_GT(X509_cmp_time(X509_get0_notAfter(c.x509()), &after), 0);
  EXPECT_LT(X509_cmp_time(X509_get0_notAfter(c.x509()), &too_late), 0);
  const ASN1_INTEGER* serial = X509_get0_serialNumber(c.x509());
  EXPECT_GT(ASN1_STRING_length(serial), 0);
  EXPECT_LE(ASN1_STRING_length(serial), 20);
}

TEST(Certificate, FingerprintIsSdpFormattedSha256OfTheDer) {
  const Certificate& c = server_cert();
  EXPECT_TRUE(std::regex_match(c.fingerprint(), std::regex("sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}")))
      << c.fingerprint();
  EXPECT_EQ(c.fingerprint_algorithm(), "sha-256");
  EXPECT_EQ(c.fingerprint(), "sha-256 " + std::string(c.fingerprint_value()));
  unsigned char* der = nullptr;
  int len = i2d_X509(c.x509(), &der);
  ASSERT_GT(len, 0);
  unsigned char md[32];
  unsigned mdlen = 0;
  EVP_Digest(der, static_cast<size_t>(len), md, &mdlen, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  EXPECT_EQ(std::string(c.fingerprint_value()), format_fingerprint(std::vector<uint8_t>(md, md + mdlen)));
  // Copies share the key and certificate; a new one differs.
  Certificate copy = c;
  EXPECT_EQ(copy.x509(), c.x509());
  EXPECT_EQ(copy.key(), c.key());
  Certificate other = Certificate::generate(kUnixNow);
  EXPECT_NE(other.fingerprint(), c.fingerprint());
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(other.x509()), X509_get0_serialNumber(c.x509())), 0);
}

TEST(Certificate, FingerprintHelpers) {
  EXPECT_EQ(format_fingerprint({0x0a, 0xbc, 0xff}), "0A:BC:FF");
  EXPECT_EQ(parse_fingerprint("0A:bc:FF"), (std::vector<uint8_t>{0x0a, 0xbc, 0xff}));
  EXPECT_EQ(parse_fingerprint("7F"), (std::vector<uint8_t>{0x7f}));
  for (const char* bad : {"", "A", "0A:", "0A:B", "0A-BC", "0G:00", "0A::BC", " 0A:BC", "0ABC"})
    EXPECT_FALSE(parse_fingerprint(bad)) << bad;
  EXPECT_EQ(fingerprint_digest("SHA-256"), EVP_sha256());
  EXPECT_EQ(fingerprint_digest("sha-1"), EVP_sha1());
  EXPECT_EQ(fingerprint_digest("sha-512"), EVP_sha512());
  EXPECT_EQ(fingerprint_digest("md5"), nullptr);
  EXPECT_EQ(fingerprint_digest("sha256"), nullptr);
  EXPECT_EQ(certificate_digest(server_cert().x509(), "sha-384").size(), 48u);
  EXPECT_TRUE(certificate_digest(server_cert().x509(), "md5").empty());
}

TEST(Dtls, KeyingMaterialLayout) {
  SrtpKeyingMaterial k;
  k.profile = SrtpProfile::Aes128CmSha1_80;
  for (int i = 0; i < 60; ++i) k.material.push_back(static_cast<uint8_t>(i));
  EXPECT_EQ(k.client_key()[0], 0);
  EXPECT_EQ(k.server_key()[0], 16);
  EXPECT_EQ(k.client_salt()[0], 32);
  EXPECT_EQ(k.server_salt()[0], 46);
  EXPECT_EQ(k.server_salt().size(), 14u);
  auto cm = k.client_master();
  ASSERT_EQ(cm.size(), 30u);
  EXPECT_EQ(cm[15], 15);
  EXPECT_EQ(cm[16], 32);  // key || salt
  auto sm = k.server_master();
  EXPECT_EQ(sm[0], 16);
  EXPECT_EQ(sm[16], 46);
  k.profile = SrtpProfile::AeadAes128Gcm;
  k.material.resize(56);
  EXPECT_EQ(k.client_master().size(), 28u);
  EXPECT_EQ(k.server_salt()[0], 44);  // 16+16+12
  k.material.resize(10);  // short: nothing rather than out of bounds
  EXPECT_TRUE(k.client_key().empty());
  EXPECT_EQ(srtp_key_lengths(SrtpProfile::None).key, 0u);
}

TEST(Dtls, HandshakeExportsTheSameKeysAsTheClient) {
  Client c;
  auto s = make_server(c, 1000);
  EXPECT_EQ(s.state(), DtlsState::Connecting);
  EXPECT_EQ(s.keying_material(), nullptr);
  auto seen = pump(c, s, 1000);
  ASSERT_TRUE(c.done());
  ASSERT_EQ(s.state(), DtlsState::Connected) << to_string(s.error());
  EXPECT_EQ(s.error(), DtlsError::None);
  // Our preference wins: AEAD_AES_128_GCM, as with Chromium, which offers both.
  EXPECT_EQ(s.profile(), SrtpProfile::AeadAes128Gcm);
  ASSERT_NE(SSL_get_selected_srtp_profile(c.ssl), nullptr);
  EXPECT_EQ(SSL_get_selected_srtp_profile(c.ssl)->id, 0x0007u);
  const SrtpKeyingMaterial* k = s.keying_material();
  ASSERT_NE(k, nullptr);
  ASSERT_EQ(k->material.size(), 56u);  // 2 * (16 + 12)
  EXPECT_EQ(k->material, c.export_keys(56));
  EXPECT_EQ(k->client_master().size(), 28u);
  EXPECT_NE(k->client_master(), k->server_master());
  // The client saw our certificate (and would check it against our a=fingerprint).
  X509* theirs = SSL_get0_peer_certificate(c.ssl);
  ASSERT_NE(theirs, nullptr);
  EXPECT_EQ("sha-256 " + format_fingerprint(certificate_digest(theirs, "sha-256")), server_cert().fingerprint());
  EXPECT_STREQ(SSL_get_version(c.ssl), "DTLSv1.2");
  // Each write OpenSSL made came out as one datagram within the MTU. OpenSSL buffers a whole
  // flight and writes it at once, packing records up to the MTU: here two datagrams, flight 4
  // (ServerHello .. ServerHelloDone) and flight 6 (ChangeCipherSpec, Finished).
  EXPECT_GE(seen.size(), 2u);
  for (auto& d : seen) {
    EXPECT_LE(d.size(), 1200u);
    EXPECT_GE(d[0], 20);
    EXPECT_LE(d[0], 63);
  }
  EXPECT_EQ(s.next_timeout_ms(2000), std::nullopt);
  EXPECT_EQ(s.tick(1'000'000), DtlsState::Connected);  // no handshake deadline once connected
}

TEST(Dtls, NegotiatesAes128CmSha1_80WhenThatIsAllTheClientOffers) {
  Client c({.profiles = "SRTP_AES128_CM_SHA1_80"});
  auto s = make_server(c);
  pump(c, s, 0);
  ASSERT_EQ(s.state(), DtlsState::Connected) << to_string(s.error());
  EXPECT_EQ(s.profile(), SrtpProfile::Aes128CmSha1_80);
  ASSERT_EQ(s.keying_material()->material.size(), 60u);  // 2 * (16 + 14)
  EXPECT_EQ(s.keying_material()->material, c.export_keys(60));
  EXPECT_EQ(s.keying_material()->server_master().size(), 30u);
}

TEST(Dtls, WrongFingerprintFails) {
  Client c;
  DtlsSrtpTransport s(server_ctx(), 0);
  Certificate someone_else = Certificate::generate(kUnixNow);
  ASSERT_TRUE(s.set_remote_fingerprint("sha-256", someone_else.fingerprint_value()));
  pump(c, s, 0);
  EXPECT_EQ(s.state(), DtlsState::Failed);
  EXPECT_EQ(s.error(), DtlsError::FingerprintMismatch);
  EXPECT_EQ(s.keying_material(), nullptr);
  EXPECT_FALSE(c.done());
  EXPECT_TRUE(c.failed);  // it got our fatal alert
  // Nothing more happens.
  EXPECT_EQ(s.on_datagram(c.take(), 10), DtlsState::Failed);
  EXPECT_EQ(s.tick(100'000), DtlsState::Failed);
}

TEST(Dtls, FingerprintWithAnotherHashFunction) {
  Client c;
  DtlsSrtpTransport s(server_ctx(), 0);
  auto digest = certificate_digest(c.cert.x509(), "sha-384");
  ASSERT_TRUE(s.set_remote_fingerprint("SHA-384", format_fingerprint(digest)));
  pump(c, s, 0);
  EXPECT_EQ(s.state(), DtlsState::Connected) << to_string(s.error());
}

TEST(Dtls, MalformedRemoteFingerprintsAreRefused) {
  DtlsSrtpTransport s(server_ctx(), 0);
  EXPECT_FALSE(s.set_remote_fingerprint("md5", "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"));
  EXPECT_FALSE(s.set_remote_fingerprint("sha-256", "00:11"));  // wrong length for SHA-256
  EXPECT_FALSE(s.set_remote_fingerprint("sha-256", "zz"));
  EXPECT_TRUE(s.set_remote_fingerprint("sha-256", server_cert().fingerprint_value()));
}

TEST(Dtls, NoRemoteFingerprintFails) {
  Client c;
  DtlsSrtpTransport s(server_ctx(), 0);
  pump(c, s, 0);
  EXPECT_EQ(s.state(), DtlsState::Failed);
  EXPECT_EQ(s.error(), DtlsError::NoRemoteFingerprint);
}

TEST(Dtls, ClientWithoutCertificateFails) {
  Client c({.certificate = false});
  auto s = make_server(c);
  pump(c, s, 0);
  EXPECT_EQ(s.state(), DtlsState::Failed);
  EXPECT_EQ(s.error(), DtlsError::NoPeerCertificate);
  EXPECT_EQ(s.keying_material(), nullptr);
}

TEST(Dtls, ClientWithoutUseSrtpIsRefused) {
  for (const char* profiles : {static_cast<const char*>(nullptr), "SRTP_AES128_CM_SHA1_32"}) {
    Client c({.profiles = profiles});
    auto s = make_server(c);
    pump(c, s, 0);
    EXPECT_EQ(s.state(), DtlsState::Failed);
    EXPECT_EQ(s.error(), DtlsError::NoSrtpProfile);
    EXPECT_TRUE(c.failed);  // handshake_failure alert
  }
}

TEST(Dtls, GarbageNeitherCrashesNorChangesState) {
  Client c;
  auto s = make_server(c);
  std::mt19937 rng(7);
  auto garbage = [&](int n) {
    for (int i = 0; i < n; ++i) {
      std::vector<uint8_t> d(rng() % 300);
      for (auto& b : d) b = static_cast<uint8_t>(rng());
      if (!d.empty() && i % 2) d[0] = static_cast<uint8_t>(20 + rng() % 44);  // passes the RFC 7983 demux
      if (d.size() >= 3 && i % 4 == 1) { d[1] = 0xFE; d[2] = 0xFD; }          // and claims DTLS 1.2
      auto before = s.state();
      EXPECT_EQ(s.on_datagram(d, 0), before);
    }
  };
  garbage(100);  // before the ClientHello
  EXPECT_EQ(s.state(), DtlsState::Connecting);
  // A STUN message and an RTP packet that reach the DTLS path by mistake are ignored too.
  std::vector<uint8_t> stunmsg(20, 0);
  stunmsg[1] = 1;
  stunmsg[4] = 0x21; stunmsg[5] = 0x12; stunmsg[6] = 0xA4; stunmsg[7] = 0x42;
  EXPECT_EQ(s.on_datagram(stunmsg, 0), DtlsState::Connecting);
  std::vector<uint8_t> rtp(100, 0x80);
  EXPECT_EQ(s.on_datagram(rtp, 0), DtlsState::Connecting);
  EXPECT_EQ(s.on_datagram({}, 0), DtlsState::Connecting);
  // Mid-handshake: ClientHello in, our flight out, then garbage, then the rest.
  c.step();
  s.on_datagram(c.take(), 0);
  for (auto& d : s.take_outgoing()) c.give(d);
  garbage(100);
  EXPECT_EQ(s.state(), DtlsState::Connecting);
  EXPECT_FALSE(s.has_outgoing());  // garbage gets no answer
  pump(c, s, 0);
  ASSERT_EQ(s.state(), DtlsState::Connected) << to_string(s.error());
  garbage(200);  // after: bad records are discarded (RFC 6347 4.1.2.7)
  EXPECT_EQ(s.state(), DtlsState::Connected);
  EXPECT_EQ(s.keying_material()->material, c.export_keys(56));
}

TEST(Dtls, DroppedFlightIsRetransmittedOnTick) {
  Client c;
  auto s = make_server(c, 0, {.initial_retransmit_ms = 200});
  c.step();
  s.on_datagram(c.take(), 0);  // ClientHello
  auto flight = s.take_outgoing();  // ServerHello .. ServerHelloDone: lost
  ASSERT_GE(flight.size(), 1u);
  auto next = s.next_timeout_ms(0);
  ASSERT_TRUE(next);
  EXPECT_LE(*next, 200);
  EXPECT_EQ(s.tick(0), DtlsState::Connecting);
  EXPECT_FALSE(s.has_outgoing());  // the timer has not run out
  // OpenSSL's DTLS timer runs on its own clock (see dtls_srtp.hpp), so wait for real.
  std::this_thread::sleep_for(std::chrono::milliseconds(260));
  EXPECT_EQ(s.tick(260), DtlsState::Connecting);
  auto again = s.take_outgoing();
  ASSERT_FALSE(again.empty());
  // The same records again (new record sequence numbers). OpenSSL packed the first transmission
  // into one datagram but flushes after each message when retransmitting: five datagrams here.
  auto total = [](const std::vector<std::vector<uint8_t>>& v) {
    size_t n = 0;
    for (auto& d : v) n += d.size();
    return n;
  };
  EXPECT_EQ(total(again), total(flight));
  for (auto& d : again) EXPECT_LE(d.size(), 1200u);
  for (auto& d : again) c.give(d);
  pump(c, s, 300);
  ASSERT_EQ(s.state(), DtlsState::Connected) << to_string(s.error());
  EXPECT_EQ(s.keying_material()->material, c.export_keys(56));
}

TEST(Dtls, RetransmittedClientFlightGetsOurLastFlightAgain) {
  // Our final flight (ChangeCipherSpec, Finished) is lost; the client's timer retransmits its flight
  // and we, already connected, answer with ours again (RFC 6347 4.2.4).
  Client c;
  // The client's timer for its flight 5 (only: a fast timer on its ClientHello could fire while
  // our flight 4 is on its way, and the test would hand its retransmission over with flight 5).
  static bool fast = false;
  fast = false;
  DTLS_set_timer_cb(c.ssl, [](SSL*, unsigned) -> unsigned { return fast ? 20'000 : 1'000'000; });
  auto s = make_server(c);
  c.step();
  s.on_datagram(c.take(), 0);
  fast = true;
  for (auto& d : s.take_outgoing()) c.give(d);
  auto client_flight = c.take();  // Certificate .. Finished
  ASSERT_FALSE(client_flight.empty());
  ASSERT_EQ(s.on_datagram(client_flight, 0), DtlsState::Connected) << to_string(s.error());
  ASSERT_FALSE(s.take_outgoing().empty());  // lost
  EXPECT_FALSE(c.done());
  // A byte-identical copy is a replay (RFC 6347 4.1.2.6): discarded, no answer.
  EXPECT_EQ(s.on_datagram(client_flight, 10), DtlsState::Connected);
  EXPECT_FALSE(s.has_outgoing());
  std::this_thread::sleep_for(std::chrono::milliseconds(40));
  ASSERT_EQ(DTLSv1_handle_timeout(c.ssl), 1);
  auto retransmitted = c.take();
  ASSERT_FALSE(retransmitted.empty());
  EXPECT_EQ(s.on_datagram(retransmitted, 1000), DtlsState::Connected);
  auto again = s.take_outgoing();
  ASSERT_FALSE(again.empty());
  for (auto& d : again) c.give(d);
  EXPECT_TRUE(c.done());
  EXPECT_EQ(s.keying_material()->material, c.export_keys(56));
}

TEST(Dtls, SmallMtuFragmentsTheFlight) {
  Client c;
  auto s = make_server(c, 0, {.mtu = 400});
  auto seen = pump(c, s, 0);
  ASSERT_EQ(s.state(), DtlsState::Connected) << to_string(s.error());
  EXPECT_GE(seen.size(), 3u);
  for (auto& d : seen) EXPECT_LE(d.size(), 400u);
}

TEST(Dtls, HandshakeTimesOut) {
  Client c;
  auto s = make_server(c, 5000);
  c.step();
  s.on_datagram(c.take(), 5000);
  auto next = s.next_timeout_ms(5000);
  ASSERT_TRUE(next);
  EXPECT_LE(*next, 35'000);
  EXPECT_EQ(s.tick(34'999), DtlsState::Connecting);
  EXPECT_EQ(s.tick(35'000), DtlsState::Failed);
  EXPECT_EQ(s.error(), DtlsError::HandshakeTimeout);
  EXPECT_EQ(s.next_timeout_ms(35'000), std::nullopt);
}

TEST(Dtls, LateDatagramAfterDeadlineFails) {
  Client c;
  auto s = make_server(c, 0, {.handshake_timeout_ms = 1000});
  c.step();
  EXPECT_EQ(s.on_datagram(c.take(), 1000), DtlsState::Failed);
  EXPECT_EQ(s.error(), DtlsError::HandshakeTimeout);
}

TEST(Dtls, TooManyHandshakeDatagramsFail) {
  Client c;
  auto s = make_server(c, 0, {.max_handshake_datagrams = 5});
  std::vector<uint8_t> junk(40, 0x16);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(s.on_datagram(junk, 0), DtlsState::Connecting);
  EXPECT_EQ(s.on_datagram(junk, 0), DtlsState::Failed);
  EXPECT_EQ(s.error(), DtlsError::TooManyDatagrams);
}

TEST(Dtls, OutgoingQueueIsCapped) {
  Client c;
  auto s = make_server(c, 0, {.initial_retransmit_ms = 50, .max_outgoing = 1});
  c.step();
  s.on_datagram(c.take(), 0);
  ASSERT_TRUE(s.has_outgoing());  // flight 4, not collected by the caller
  std::this_thread::sleep_for(std::chrono::milliseconds(70));
  s.tick(70);  // the retransmission finds the queue full
  EXPECT_GE(s.dropped_outgoing(), 1u);
  EXPECT_EQ(s.take_outgoing().size(), 1u);
}

TEST(Dtls, CloseNotifyFromTheClientCloses) {
  Client c;
  auto s = make_server(c);
  pump(c, s, 0);
  ASSERT_EQ(s.state(), DtlsState::Connected);
  SSL_shutdown(c.ssl);
  EXPECT_EQ(s.on_datagram(c.take(), 10), DtlsState::Closed);
  EXPECT_EQ(s.error(), DtlsError::None);
  EXPECT_NE(s.keying_material(), nullptr);  // still there for what is in flight
  auto reply = s.take_outgoing();  // our close_notify in answer
  ASSERT_EQ(reply.size(), 1u);
  c.give(reply[0]);
  EXPECT_TRUE(c.got_close_notify);
  EXPECT_EQ(s.on_datagram(reply[0], 20), DtlsState::Closed);
}

TEST(Dtls, LocalCloseSendsCloseNotify) {
  Client c;
  auto s = make_server(c);
  pump(c, s, 0);
  ASSERT_EQ(s.state(), DtlsState::Connected);
  s.close();
  EXPECT_EQ(s.state(), DtlsState::Closed);
  auto out = s.take_outgoing();
  ASSERT_EQ(out.size(), 1u);
  c.give(out[0]);
  EXPECT_TRUE(c.got_close_notify);
}

TEST(Dtls, NewClientHelloAfterConnectingIsIgnored) {
  // Someone else's (or a restarted browser's) epoch-0 ClientHello on a connected session: DTLS
  // discards records of an old epoch; the session and its keys stay (a new session needs a new
  // transport, which the engine makes on an ICE restart with a new fingerprint).
  Client c;
  auto s = make_server(c);
  pump(c, s, 0);
  ASSERT_EQ(s.state(), DtlsState::Connected);
  auto keys = s.keying_material()->material;
  Client stranger;
  stranger.step();
  EXPECT_EQ(s.on_datagram(stranger.take(), 5), DtlsState::Connected);
  EXPECT_EQ(s.keying_material()->material, keys);
}

TEST(Dtls, MovedTransportKeepsWorking) {
  Client c;
  auto s = make_server(c);
  c.step();
  s.on_datagram(c.take(), 0);
  DtlsSrtpTransport moved = std::move(s);
  for (auto& d : moved.take_outgoing()) c.give(d);
  pump(c, moved, 0);
  EXPECT_EQ(moved.state(), DtlsState::Connected) << to_string(moved.error());
}

TEST(Dtls, TransportsOutliveTheirContext) {
  Client c;
  std::optional<DtlsSrtpTransport> s;
  {
    DtlsSrtpContext ctx(server_cert());
    s.emplace(ctx, 0);
  }
  auto [alg, fp] = c.fingerprint();
  ASSERT_TRUE(s->set_remote_fingerprint(alg, fp));
  pump(c, *s, 0);
  EXPECT_EQ(s->state(), DtlsState::Connected) << to_string(s->error());
}
