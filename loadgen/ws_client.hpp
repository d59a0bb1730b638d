// A WebSocket client (RFC 6455), sans-I/O, for `turnpike-loadgen sfu`'s signalling: the opening
// handshake request (4.1), the server's 101 response (4.2.2), then frames (5.2) both ways. What we
// send is masked (5.3); what the server sends must not be (5.1). Text and binary messages,
// fragmented or not, up to kMaxMessage bytes; ping answered with pong (5.5.2); close answered
// with close (5.5.1). Bytes in, messages and bytes to send out; no sockets, no clock.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace loadgen::ws {

inline constexpr size_t kMaxMessage = 1 << 20;  // a longer message from the server closes the connection
inline constexpr size_t kMaxHeader = 8192;      // the server's handshake response

enum class Error : uint8_t {
  None,
  BadHandshake,   // the response is not "HTTP/1.1 101" (4.2.2)
  HeaderTooLong,  // no end of the response header within kMaxHeader bytes
  MaskedFrame,    // 5.1: a server must not mask
  TooLong,        // a message longer than kMaxMessage
  BadFrame,       // reserved bits, unknown opcode, a fragmented or long control frame, a stray continuation
};
const char* to_string(Error e);

// RFC 6455 4.1: GET `path` with Upgrade, Sec-WebSocket-Key `key` (base64 of 16 bytes), version 13.
std::string handshake_request(std::string_view host_port, std::string_view path, std::string_view key);

class Client {
 public:
  explicit Client(uint64_t mask_seed) : mask_state_(mask_seed) {}

  // Bytes from the socket. Anything but None: the connection must be closed (error() keeps it).
  Error feed(std::span<const uint8_t> in);
  bool open() const { return open_; }      // the 101 response has arrived
  bool closed() const { return closed_; }  // the server sent close (or an error occurred)
  Error error() const { return error_; }

  // The messages completed since the last call, oldest first.
  std::vector<std::string> take_messages();
  // Appends one masked text frame carrying `message` to `out`.
  void text(std::string_view message, std::string& out);
  // Frames to send in answer to the server (pong, close) since the last call.
  std::string take_output();

 private:
  Error handshake();
  Error frames();
  Error frame(uint8_t b0, std::span<const uint8_t> payload);
  void control(uint8_t opcode, std::span<const uint8_t> payload);
  void masked(uint8_t b0, std::span<const uint8_t> payload, std::string& out);

  std::string in_;
  std::string message_;
  bool in_message_ = false;
  std::vector<std::string> messages_;
  std::string out_;
  uint64_t mask_state_;
  bool open_ = false, closed_ = false;
  Error error_ = Error::None;
};

}  // namespace loadgen::ws
