// loadgen/ws_client.hpp: the WebSocket client codec (RFC 6455) on hand-made server bytes.
#include <gtest/gtest.h>

#include "loadgen/ws_client.hpp"

namespace {

using loadgen::ws::Client;
using loadgen::ws::Error;

std::span<const uint8_t> bytes(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

const std::string kOk = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";

TEST(LoadgenWs, HandshakeRequestNamesTheUpgrade) {
  auto r = loadgen::ws::handshake_request("127.0.0.1:8443", "/signal", "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_TRUE(r.starts_with("GET /signal HTTP/1.1\r\nHost: 127.0.0.1:8443\r\n"));
  EXPECT_NE(r.find("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"), std::string::npos);
  EXPECT_NE(r.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos);
  EXPECT_TRUE(r.ends_with("\r\n\r\n"));
}

TEST(LoadgenWs, MessagesArriveWholeWhateverTheCuts) {
  std::string in = kOk + std::string("\x81\x05hello", 7) + std::string("\x01\x02{\"", 4) + std::string("\x80\x01}", 3);
  std::string big(300, 'x');
  in += std::string("\x81\x7e\x01\x2c", 4) + big;
  Client c(1);
  for (char ch : in) ASSERT_EQ(c.feed(bytes(std::string(1, ch))), Error::None);
  auto m = c.take_messages();
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0], "hello");
  EXPECT_EQ(m[1], "{\"}");
  EXPECT_EQ(m[2], big);
}

TEST(LoadgenWs, OurFramesAreMaskedAndPingGetsPong) {
  Client c(7);
  ASSERT_EQ(c.feed(bytes(kOk + std::string("\x89\x02hi", 4))), Error::None);
  std::string pong = c.take_output();
  ASSERT_EQ(pong.size(), 2u + 4 + 2);
  EXPECT_EQ(static_cast<uint8_t>(pong[0]), 0x8A);
  EXPECT_EQ(static_cast<uint8_t>(pong[1]), 0x82);
  EXPECT_EQ(pong[6] ^ pong[2], 'h');
  std::string out;
  c.text("abc", out);
  ASSERT_EQ(out.size(), 2u + 4 + 3);
  EXPECT_EQ(static_cast<uint8_t>(out[0]), 0x81);
  EXPECT_EQ(out[6] ^ out[2], 'a');
  EXPECT_EQ(out[8] ^ out[4], 'c');
}

TEST(LoadgenWs, RefusalsAndBadFramesCloseTheConnection) {
  Client refused(1);
  EXPECT_EQ(refused.feed(bytes("HTTP/1.1 403 Forbidden\r\n\r\n")), Error::BadHandshake);
  EXPECT_TRUE(refused.closed());
  Client masked(1);
  EXPECT_EQ(masked.feed(bytes(kOk + std::string("\x81\x81\0\0\0\0a", 7))), Error::MaskedFrame);
  Client huge(1);
  EXPECT_EQ(huge.feed(bytes(kOk + std::string("\x81\x7f\0\0\0\0\x10\0\0\0", 10))), Error::TooLong);
  Client stray(1);
  EXPECT_EQ(stray.feed(bytes(kOk + std::string("\x80\x01x", 3))), Error::BadFrame);
  Client closing(1);
  EXPECT_EQ(closing.feed(bytes(kOk + std::string("\x88\x02\x03\xe8", 4))), Error::None);
  EXPECT_TRUE(closing.closed());
  EXPECT_EQ(static_cast<uint8_t>(closing.take_output()[0]), 0x88);
}

}  // namespace
