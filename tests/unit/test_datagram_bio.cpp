// common/datagram_bio.hpp: the one OpenSSL datagram BIO (TURN over DTLS, the SFU's DTLS-SRTP).
#include "common/datagram_bio.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

namespace turnpike {
namespace {

using Datagram = std::vector<uint8_t>;

TEST(DatagramBio, ReadHandsOutTheDatagramOnceThenRetries) {
  DatagramChannel ch;
  BIO* bio = new_datagram_bio(&ch);
  ASSERT_NE(bio, nullptr);
  char buf[64];
  EXPECT_EQ(BIO_read(bio, buf, sizeof buf), -1);
  EXPECT_TRUE(BIO_should_retry(bio));
  EXPECT_TRUE(BIO_should_read(bio));

  const uint8_t datagram[] = {22, 254, 253, 0, 1, 2, 3};
  ch.incoming = datagram;
  ASSERT_EQ(BIO_read(bio, buf, sizeof buf), static_cast<int>(sizeof datagram));
  EXPECT_EQ(std::memcmp(buf, datagram, sizeof datagram), 0);
  EXPECT_FALSE(BIO_should_retry(bio));
  EXPECT_TRUE(ch.incoming.empty());
  EXPECT_EQ(BIO_read(bio, buf, sizeof buf), -1);  // one datagram per read, as recvfrom
  EXPECT_TRUE(BIO_should_retry(bio));
  BIO_free(bio);
}

TEST(DatagramBio, ShortReadTruncatesAndConsumesTheDatagram) {
  DatagramChannel ch;
  BIO* bio = new_datagram_bio(&ch);
  const uint8_t datagram[] = {1, 2, 3, 4, 5, 6};
  ch.incoming = datagram;
  char buf[4];
  ASSERT_EQ(BIO_read(bio, buf, sizeof buf), 4);
  EXPECT_EQ(std::memcmp(buf, datagram, 4), 0);
  EXPECT_TRUE(ch.incoming.empty());  // the rest is lost, as a truncated UDP read's
  BIO_free(bio);
}

TEST(DatagramBio, EachWriteIsOneDatagramToTheSink) {
  DatagramChannel ch;
  std::vector<Datagram> out;
  ch.sink = [&](std::span<const uint8_t> d) { out.emplace_back(d.begin(), d.end()); };
  BIO* bio = new_datagram_bio(&ch);
  EXPECT_EQ(BIO_write(bio, "abc", 3), 3);
  EXPECT_EQ(BIO_write(bio, "de", 2), 2);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], (Datagram{'a', 'b', 'c'}));
  EXPECT_EQ(out[1], (Datagram{'d', 'e'}));
  BIO_free(bio);
}

TEST(DatagramBio, WriteWithoutSinkIsADroppedDatagram) {
  DatagramChannel ch;
  BIO* bio = new_datagram_bio(&ch);
  EXPECT_EQ(BIO_write(bio, "abc", 3), 3);  // lost like any UDP datagram, never an error
  BIO_free(bio);
}

TEST(DatagramBio, AnswersTheChannelsMtu) {
  DatagramChannel ch;
  ch.mtu = 1000;
  BIO* bio = new_datagram_bio(&ch);
  EXPECT_EQ(BIO_ctrl(bio, BIO_CTRL_DGRAM_QUERY_MTU, 0, nullptr), 1000);
  EXPECT_EQ(BIO_ctrl(bio, BIO_CTRL_DGRAM_GET_FALLBACK_MTU, 0, nullptr), 1000);
  EXPECT_EQ(BIO_ctrl(bio, BIO_CTRL_PENDING, 0, nullptr), 0);
  EXPECT_EQ(BIO_ctrl(bio, BIO_CTRL_WPENDING, 0, nullptr), 0);
  EXPECT_EQ(BIO_ctrl(bio, BIO_CTRL_FLUSH, 0, nullptr), 1);
  BIO_free(bio);
}

// A self-signed P-256 certificate for the server side of the round trip.
struct TestCert {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  TestCert() {
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("test"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_sign(cert, key, EVP_sha256());
  }
  ~TestCert() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

// One DTLS endpoint: an SSL driven through the datagram BIO, its writes queued for the other side.
struct Endpoint {
  DatagramChannel ch;
  std::deque<Datagram> sent;
  size_t largest = 0;
  SSL* ssl = nullptr;
  Endpoint(SSL_CTX* ctx, size_t mtu) {
    ch.mtu = mtu;
    ch.sink = [this](std::span<const uint8_t> d) {
      sent.emplace_back(d.begin(), d.end());
      largest = std::max(largest, d.size());
    };
    ssl = SSL_new(ctx);
    BIO* bio = new_datagram_bio(&ch);
    SSL_set_bio(ssl, bio, bio);
    SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU);
    SSL_set_mtu(ssl, static_cast<long>(mtu));
    DTLS_set_link_mtu(ssl, static_cast<long>(mtu));
  }
  ~Endpoint() { SSL_free(ssl); }
  // Hands every datagram `from` sent to this endpoint, one read each, stepping the handshake.
  void receive(Endpoint& from) {
    while (!from.sent.empty()) {
      Datagram d = std::move(from.sent.front());
      from.sent.pop_front();
      ch.incoming = d;
      if (!SSL_is_init_finished(ssl)) SSL_do_handshake(ssl);
      ch.incoming = {};
      ERR_clear_error();
    }
  }
};

TEST(DatagramBio, DtlsHandshakeAndRecordRoundTrip) {
  TestCert cert;
  SSL_CTX* server_ctx = SSL_CTX_new(DTLS_server_method());
  SSL_CTX* client_ctx = SSL_CTX_new(DTLS_client_method());
  ASSERT_TRUE(server_ctx && client_ctx);
  ASSERT_EQ(SSL_CTX_use_certificate(server_ctx, cert.cert), 1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey(server_ctx, cert.key), 1);
  SSL_CTX_set_read_ahead(server_ctx, 1);
  SSL_CTX_set_read_ahead(client_ctx, 1);
  SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, nullptr);
  constexpr size_t kMtu = 1200;
  {
    Endpoint server(server_ctx, kMtu), client(client_ctx, kMtu);
    SSL_set_accept_state(server.ssl);
    SSL_set_connect_state(client.ssl);
    SSL_do_handshake(client.ssl);  // ClientHello
    ERR_clear_error();
    for (int i = 0; i < 20 && !(SSL_is_init_finished(server.ssl) && SSL_is_init_finished(client.ssl)); ++i) {
      server.receive(client);
      client.receive(server);
    }
    ASSERT_TRUE(SSL_is_init_finished(server.ssl));
    ASSERT_TRUE(SSL_is_init_finished(client.ssl));
    EXPECT_LE(server.largest, kMtu);
    EXPECT_LE(client.largest, kMtu);

    // One record written is one datagram, and reads back whole on the other side.
    client.sent.clear();
    const std::string message = "STUN or ChannelData";
    ASSERT_EQ(SSL_write(client.ssl, message.data(), static_cast<int>(message.size())),
              static_cast<int>(message.size()));
    ASSERT_EQ(client.sent.size(), 1u);
    server.ch.incoming = client.sent.front();
    char buf[256];
    int n = SSL_read(server.ssl, buf, sizeof buf);
    ASSERT_EQ(n, static_cast<int>(message.size()));
    EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), message);
    EXPECT_EQ(SSL_read(server.ssl, buf, sizeof buf), -1);  // nothing more to read: retry
    EXPECT_EQ(SSL_get_error(server.ssl, -1), SSL_ERROR_WANT_READ);
    ERR_clear_error();
  }
  SSL_CTX_free(server_ctx);
  SSL_CTX_free(client_ctx);
}

}  // namespace
}  // namespace turnpike
