// What a subscriber's NACKs (RFC 4585 6.2.1) may cost, sans-I/O: a NACK is a few bytes of SRTCP that
// asks for whole packets, so without bounds one compound buys megabytes of egress. Three bounds:
// RecentResends (a packet is resent to one subscription at most once per interval, so the same
// sequence number repeated within a compound or across compounds costs one resend), TokenBucket
// (the bytes a subscriber may be resent per second, with a burst), ResendShare (resends may not
// exceed a share of the media actually forwarded to that subscriber, so asking for the same packets
// over and over buys no more than the stream itself), and the engine's cap on the sequence numbers
// it looks at per compound (EngineConfig::max_nack_seqs_per_compound).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

namespace sfu {

// Bytes per second with a burst; `take()` spends from it if enough is left.
class TokenBucket {
 public:
  TokenBucket(uint64_t bytes_per_second, uint64_t burst_bytes)
      : rate_(bytes_per_second), burst_(burst_bytes), tokens_(burst_bytes) {}
  bool take(uint64_t bytes, int64_t now_ms);
  uint64_t available() const { return tokens_; }

 private:
  uint64_t rate_, burst_, tokens_;
  uint64_t carry_ = 0;  // thousandths of a byte earned but not yet credited
  int64_t last_ms_ = -1;
};

// Resend credit earned by forwarding: every byte of live media sent to a subscriber earns `percent`
// hundredths of a byte of resends, up to `cap` bytes held (a start-up allowance of `cap`).
class ResendShare {
 public:
  ResendShare(uint32_t percent, uint64_t cap) : percent_(percent), cap_(cap), credit_(cap * 100) {}
  void earn(uint64_t forwarded_bytes);
  bool take(uint64_t bytes);
  uint64_t available() const { return credit_ / 100; }

 private:
  uint64_t percent_, cap_;
  uint64_t credit_;  // hundredths of a byte
};

// When each of the last kSlots sequence numbers of one stream was last resent (a ring indexed by
// the sequence number, like NackBuffer's window).
class RecentResends {
 public:
  static constexpr size_t kSlots = 512;  // NackBuffer's default window: older packets are not held anyway
  // Whether `sequence` was resent less than `interval_ms` before `now_ms`.
  bool recent(uint16_t sequence, int64_t now_ms, int64_t interval_ms) const;
  void note(uint16_t sequence, int64_t now_ms);

 private:
  struct Slot {
    uint16_t sequence = 0;
    bool used = false;
    int64_t at_ms = 0;
  };
  std::array<Slot, kSlots> slots_{};
};

}  // namespace sfu
