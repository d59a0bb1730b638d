// Framing of STUN and ChannelData on stream transports (TCP, TLS): one place for the server's stream
// sessions and for clients that cut frames from a byte stream.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

namespace turn {

// RFC 8656 12.5 / RFC 6544-style framing: the bytes the frame at the start of `d` occupies on a
// stream (STUN: 20 + length; ChannelData: 4 + length padded to 4), 0 while fewer than 4 bytes are
// there to tell, SIZE_MAX when the first byte is neither (RFC 7983 first-byte demultiplexing).
inline size_t stream_frame_length(std::span<const uint8_t> d) {
  if (d.size() < 4) return 0;
  size_t len = static_cast<size_t>(d[2] << 8 | d[3]);
  if (d[0] < 0x40) return 20 + len;                      // STUN: header + body (a multiple of 4)
  if (d[0] < 0x80) return 4 + ((len + 3) & ~size_t{3});  // ChannelData, padded on streams
  return SIZE_MAX;
}

}  // namespace turn
