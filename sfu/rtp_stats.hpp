// Receive statistics of one incoming RTP stream (RFC 3550 A.1, A.3, A.8, 6.4.1), for the report
// blocks the SFU sends its publishers. Times are monotonic microseconds from the caller.
#pragma once
#include <cstdint>

#include "sfu/rtcp.hpp"

namespace sfu {

class RtpReceiveStats {
 public:
  // RFC 3550 A.1 constants.
  static constexpr uint32_t kMaxDropout = 3000, kMaxMisorder = 100, kMinSequential = 2;

  explicit RtpReceiveStats(uint32_t clock_rate) : clock_rate_(clock_rate) {}

  // One received packet (RFC 3550 A.1 update_seq). Returns false while the source is on probation
  // or when the sequence number is a jump not yet confirmed (the packet is then not counted). The
  // jitter (A.8) is updated for in-order packets whose timestamp differs from the previous one, so
  // that the packets of one video frame, sent in a burst, do not count as jitter.
  bool on_packet(uint16_t sequence, uint32_t rtp_timestamp, int64_t arrival_us);
  // An SR from this source arrived (RFC 3550 6.4.1 LSR/DLSR).
  void on_sender_report(uint64_t ntp, int64_t arrival_us);

  // The report block for this source now (RFC 3550 6.4.1, A.3); advances the interval for the
  // fraction lost, so call it once per report sent.
  ReportBlock report_block(uint32_t ssrc, int64_t now_us);

  bool valid() const { return probation_ == 0 && received_ > 0; }  // past probation
  uint32_t extended_highest_sequence() const { return cycles_ + max_seq_; }
  uint32_t received() const { return received_; }
  int64_t cumulative_lost() const;   // not clamped; the report block clamps to 24 bits
  uint32_t jitter() const { return jitter_ >> 4; }  // timestamp units

 private:
  void init_seq(uint16_t seq);
  uint32_t clock_rate_;
  uint16_t max_seq_ = 0;
  uint32_t cycles_ = 0;        // shifted count of sequence number cycles (A.1)
  uint32_t base_seq_ = 0;
  uint32_t bad_seq_ = (1u << 16) + 1;  // RTP_SEQ_MOD + 1: no jump pending
  uint32_t probation_ = kMinSequential;
  bool seen_ = false;
  uint32_t received_ = 0;
  uint32_t expected_prior_ = 0;
  uint32_t received_prior_ = 0;
  uint32_t jitter_ = 0;        // jitter * 16 (A.8 integer form)
  bool have_transit_ = false;
  uint32_t transit_ = 0;
  uint32_t last_timestamp_ = 0;
  bool have_sr_ = false;
  uint32_t lsr_ = 0;
  int64_t sr_arrival_us_ = 0;
};

}  // namespace sfu
