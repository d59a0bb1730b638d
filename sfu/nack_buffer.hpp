// Retransmission store for one outgoing stream: the last `capacity` packets, copied into a ring
// allocated once, found again by RTP sequence number to answer a generic NACK (RFC 4585 6.2.1).
// The original packet is resent as it was (no RTX, RFC 4588). Either store what went on the wire
// after SrtpSession::protect_rtp and resend those bytes, or store the plaintext and protect it
// again: outbound sessions accept a repeated sequence number, and identical plaintext gives
// identical ciphertext (never store two different packets under one sequence number and SSRC).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace sfu {

class NackBuffer {
 public:
  static constexpr size_t kDefaultCapacity = 512;
  // A 1200-byte libwebrtc packet plus the SRTP tag and headroom for a rewritten extension block.
  static constexpr size_t kDefaultSlotSize = 1500;

  // capacity: a power of two, 1..32768 (anything else is rounded up, then clamped); memory is
  // capacity * slot_size, allocated here and never again.
  explicit NackBuffer(size_t capacity = kDefaultCapacity, size_t slot_size = kDefaultSlotSize);

  // Copies the packet with this sequence number in. Returns false (and keeps nothing) if it is
  // larger than a slot or older than the window behind the newest stored packet.
  bool store(uint16_t sequence, std::span<const uint8_t> packet);
  // The stored bytes, or an empty span if not held (never stored, overwritten, or out of the window).
  // Valid until the next store() or clear().
  std::span<const uint8_t> find(uint16_t sequence) const;
  void clear();

  size_t capacity() const { return capacity_; }
  size_t slot_size() const { return slot_size_; }

 private:
  struct Slot {
    uint16_t sequence = 0;
    uint16_t length = 0;  // 0: empty
  };
  size_t capacity_;
  size_t slot_size_;
  std::unique_ptr<Slot[]> slots_;
  std::unique_ptr<uint8_t[]> data_;
  bool any_ = false;
  uint16_t newest_ = 0;
};

}  // namespace sfu
