// RTX (RFC 4588) toward subscribers: a forwarded packet turned into its retransmission on the RTX
// stream (RFC 4588 4: the original sequence number, OSN, before the original payload), and
// padding-only packets on that stream (RFC 3550 5.1 padding; how libwebrtc probes a path) that the
// send-side estimate can count. In place, bounds-checked, no allocation.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

namespace sfu {

// The RTX stream's fields.
struct RtxStream {
  uint32_t ssrc = 0;
  uint8_t payload_type = 0;
  uint16_t sequence = 0;  // the next one
};

// `packet` holds a plaintext RTP packet of n bytes (as rewrite() wrote it) with room after it:
// moves its payload 2 bytes on, writes the OSN (the packet's sequence number) before it, and sets
// SSRC, payload type and sequence to the RTX stream's (advancing it). Returns the new size, 0 if
// the packet does not parse or n + 2 + trailer_room exceeds the span.
size_t to_rtx(std::span<uint8_t> packet, size_t n, RtxStream& rtx, size_t trailer_room);

// A padding-only packet on the RTX stream (RFC 3550 5.1: P set, the last byte the padding count),
// `padding` (1..255) bytes of padding, the given timestamp, and a one-byte-form header extension
// block with a 2-byte element `ext_id` (1..14; 0: no extension) for the transport-wide sequence
// number the caller stamps. Returns its size, 0 if it does not fit or ext_id is out of range.
size_t build_padding(std::span<uint8_t> out, RtxStream& rtx, uint32_t timestamp, uint8_t ext_id, uint8_t padding);

}  // namespace sfu
