#include "sfu/nack_buffer.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace sfu {

NackBuffer::NackBuffer(size_t capacity, size_t slot_size)
    : capacity_(std::bit_ceil(std::clamp<size_t>(capacity, 1, 32768))),
      slot_size_(std::clamp<size_t>(slot_size, 1, 65535)),
      slots_(std::make_unique<Slot[]>(capacity_)),
      data_(std::make_unique<uint8_t[]>(capacity_ * slot_size_)) {}

bool NackBuffer::store(uint16_t seq, std::span<const uint8_t> packet) {
  if (packet.empty() || packet.size() > slot_size_) return false;
  if (any_) {
    // Newer than the newest (RFC 3550 A.1 style: a forward distance under half the space).
    const uint16_t ahead = static_cast<uint16_t>(seq - newest_);
    if (ahead != 0 && ahead < 0x8000) {
      // Slots skipped over by a jump hold packets now outside the window: empty them.
      const size_t skipped = std::min<size_t>(ahead - 1u, capacity_);
      for (size_t i = 1; i <= skipped; ++i) slots_[(newest_ + i) & (capacity_ - 1)].length = 0;
      newest_ = seq;
    } else if (static_cast<uint16_t>(newest_ - seq) >= capacity_) {
      return false;  // too old for the window
    }
  } else {
    any_ = true;
    newest_ = seq;
  }
  const size_t i = seq & (capacity_ - 1);
  std::memcpy(data_.get() + i * slot_size_, packet.data(), packet.size());
  slots_[i] = Slot{seq, static_cast<uint16_t>(packet.size())};
  return true;
}

std::span<const uint8_t> NackBuffer::find(uint16_t seq) const {
  if (!any_ || static_cast<uint16_t>(newest_ - seq) >= capacity_) return {};
  const size_t i = seq & (capacity_ - 1);
  const Slot& s = slots_[i];
  if (s.length == 0 || s.sequence != seq) return {};
  return {data_.get() + i * slot_size_, s.length};
}

void NackBuffer::clear() {
  for (size_t i = 0; i < capacity_; ++i) slots_[i] = Slot{};
  any_ = false;
  newest_ = 0;
}

}  // namespace sfu
