// ChannelData message (RFC 8656 12.4): channel number, length, application data.
#pragma once
#include <cstdint>
#include <span>

namespace turn {

struct ChannelData {
  uint16_t channel = 0;
  std::span<const uint8_t> data;

  static constexpr size_t kHeaderSize = 4;
  enum class Error : uint8_t { None, Truncated, BadChannel, BadLength };

  // RFC 7983: first byte 64..79 is ChannelData; RFC 5766's wider range (to 0x7FFF) is accepted on a
  // TURN port, see ChannelNumber.
  static bool looks_like(std::span<const uint8_t> d) { return !d.empty() && d[0] >= 0x40 && d[0] <= 0x7F; }
  // Over UDP the datagram may carry padding past the length (RFC 8656 12.5); over streams the frame
  // occupies 4 + length rounded up to 4 (frame_size()).
  static Error parse(std::span<const uint8_t> d, ChannelData& out);
  static size_t frame_size(uint16_t length, bool stream) { return 4 + (stream ? ((length + 3u) & ~3u) : length); }
  static void write_header(uint8_t out[4], uint16_t channel, uint16_t length) {
    out[0] = channel >> 8; out[1] = channel & 0xff; out[2] = length >> 8; out[3] = length & 0xff;
  }
};

}  // namespace turn
