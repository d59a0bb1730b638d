// The WebSocket client codec (ws_client.hpp, RFC 6455).
#include "loadgen/ws_client.hpp"

#include <utility>

#include "loadgen/prng.hpp"

namespace loadgen::ws {

const char* to_string(Error e) {
  switch (e) {
    case Error::None: return "none";
    case Error::BadHandshake: return "bad_handshake";
    case Error::HeaderTooLong: return "header_too_long";
    case Error::MaskedFrame: return "masked_frame";
    case Error::TooLong: return "too_long";
    case Error::BadFrame: return "bad_frame";
  }
  return "?";
}

std::string handshake_request(std::string_view host_port, std::string_view path, std::string_view key) {
  std::string r = "GET ";
  r.append(path).append(" HTTP/1.1\r\nHost: ").append(host_port);
  r.append("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ").append(key);
  r.append("\r\nSec-WebSocket-Version: 13\r\n\r\n");
  return r;
}

Error Client::feed(std::span<const uint8_t> in) {
  if (error_ != Error::None) return error_;
  in_.append(reinterpret_cast<const char*>(in.data()), in.size());
  Error e = open_ ? Error::None : handshake();
  if (e == Error::None && open_) e = frames();
  if (e != Error::None) {
    error_ = e;
    closed_ = true;
  }
  return e;
}

// RFC 6455 4.2.2: the status line must be 101; the rest of the header is not needed.
Error Client::handshake() {
  size_t end = in_.find("\r\n\r\n");
  if (end == std::string::npos) return in_.size() > kMaxHeader ? Error::HeaderTooLong : Error::None;
  if (end > kMaxHeader) return Error::HeaderTooLong;
  if (!in_.starts_with("HTTP/1.1 101")) return Error::BadHandshake;
  in_.erase(0, end + 4);
  open_ = true;
  return Error::None;
}

// RFC 6455 5.2: every whole frame in the buffer.
Error Client::frames() {
  size_t at = 0;
  Error e = Error::None;
  while (e == Error::None && !closed_ && in_.size() - at >= 2) {
    const auto* p = reinterpret_cast<const uint8_t*>(in_.data()) + at;
    size_t avail = in_.size() - at;
    if (p[1] & 0x80) return Error::MaskedFrame;
    uint64_t len = p[1] & 0x7F;
    size_t head = 2;
    if (len == 126) head = 4;
    if (len == 127) head = 10;
    if (avail < head) break;
    if (len >= 126) {
      len = 0;
      for (size_t i = 2; i < head; ++i) len = (len << 8) | p[i];
    }
    if (len > kMaxMessage || message_.size() + len > kMaxMessage) return Error::TooLong;
    if (avail - head < len) break;
    e = frame(p[0], {p + head, static_cast<size_t>(len)});
    at += head + static_cast<size_t>(len);
  }
  in_.erase(0, at);
  return e;
}

Error Client::frame(uint8_t b0, std::span<const uint8_t> payload) {
  if (b0 & 0x70) return Error::BadFrame;  // RSV1-3 without an extension
  bool fin = (b0 & 0x80) != 0;
  uint8_t opcode = b0 & 0x0F;
  if (opcode >= 8) {  // 5.5: control frames are not fragmented and carry at most 125 bytes
    if (!fin || payload.size() > 125 || opcode > 10) return Error::BadFrame;
    control(opcode, payload);
    return Error::None;
  }
  if (opcode == 0 && !in_message_) return Error::BadFrame;
  if (opcode != 0 && (in_message_ || opcode > 2)) return Error::BadFrame;
  in_message_ = true;
  message_.append(reinterpret_cast<const char*>(payload.data()), payload.size());
  if (fin) {
    messages_.push_back(std::move(message_));
    message_.clear();
    in_message_ = false;
  }
  return Error::None;
}

void Client::control(uint8_t opcode, std::span<const uint8_t> payload) {
  if (opcode == 9) masked(0x8A, payload, out_);  // ping -> pong with the same data
  if (opcode == 8) {                             // close -> close, then nothing more
    masked(0x88, payload.first(payload.size() >= 2 ? 2 : 0), out_);
    closed_ = true;
  }
}

void Client::masked(uint8_t b0, std::span<const uint8_t> payload, std::string& out) {
  out.push_back(static_cast<char>(b0));
  size_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<char>(0x80 | n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(static_cast<char>(0x80 | 127));
    for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<char>((static_cast<uint64_t>(n) >> s) & 0xFF));
  }
  uint64_t m = prng::next(mask_state_);
  uint8_t key[4] = {static_cast<uint8_t>(m), static_cast<uint8_t>(m >> 8), static_cast<uint8_t>(m >> 16),
                    static_cast<uint8_t>(m >> 24)};
  out.append(reinterpret_cast<const char*>(key), 4);
  for (size_t i = 0; i < n; ++i) out.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
}

void Client::text(std::string_view message, std::string& out) {
  masked(0x81, {reinterpret_cast<const uint8_t*>(message.data()), message.size()}, out);
}

std::vector<std::string> Client::take_messages() { return std::exchange(messages_, {}); }

std::string Client::take_output() { return std::exchange(out_, {}); }

}  // namespace loadgen::ws
