#include "sfu/rtp_stats.hpp"

#include <algorithm>

namespace sfu {

namespace {
constexpr uint32_t kSeqMod = 1u << 16;

// Arrival time in timestamp units, modulo 2^32 (only differences matter).
uint32_t to_rtp_units(int64_t us, uint32_t clock_rate) {
  const int64_t s = us / 1000000, rem = us % 1000000;
  const uint64_t ticks = static_cast<uint64_t>(s) * clock_rate + static_cast<uint64_t>(rem) * clock_rate / 1000000;
  return static_cast<uint32_t>(ticks);
}
}  // namespace

void RtpReceiveStats::init_seq(uint16_t seq) {
  base_seq_ = seq;
  max_seq_ = seq;
  bad_seq_ = kSeqMod + 1;
  cycles_ = 0;
  received_ = 0;
  expected_prior_ = 0;
  received_prior_ = 0;
  have_transit_ = false;
}

bool RtpReceiveStats::on_packet(uint16_t seq, uint32_t ts, int64_t arrival_us) {
  if (!seen_) {  // A.1: the first packet starts probation
    seen_ = true;
    init_seq(seq);
    max_seq_ = static_cast<uint16_t>(seq - 1);
    probation_ = kMinSequential;
  }
  const uint16_t udelta = static_cast<uint16_t>(seq - max_seq_);
  bool in_order = false;
  if (probation_) {
    if (seq == static_cast<uint16_t>(max_seq_ + 1)) {
      probation_--;
      max_seq_ = seq;
      if (probation_ == 0) {
        init_seq(seq);
        in_order = true;
      } else {
        return false;
      }
    } else {
      probation_ = kMinSequential - 1;
      max_seq_ = seq;
      return false;
    }
  } else if (udelta < kMaxDropout) {
    if (seq < max_seq_) cycles_ += kSeqMod;  // wrapped
    max_seq_ = seq;
    in_order = udelta != 0;
  } else if (udelta <= kSeqMod - kMaxMisorder) {
    // A large jump: accept it only if the next packet follows it (the sender restarted).
    if (seq == bad_seq_) {
      init_seq(seq);
      in_order = true;
    } else {
      bad_seq_ = (seq + 1u) & (kSeqMod - 1);
      return false;
    }
  }
  // else: duplicate or reordered packet, counted
  received_++;

  const uint32_t arrival = to_rtp_units(arrival_us, clock_rate_);
  const uint32_t transit = arrival - ts;
  if (in_order && (!have_transit_ || ts != last_timestamp_)) {
    if (have_transit_) {
      // A.8: J += (|D| - J) / 16, kept as 16 * J.
      const int32_t diff = static_cast<int32_t>(transit - transit_);
      const uint32_t d = static_cast<uint32_t>(diff < 0 ? -static_cast<int64_t>(diff) : diff);
      jitter_ += d - ((jitter_ + 8) >> 4);
    }
    have_transit_ = true;
    transit_ = transit;
    last_timestamp_ = ts;
  }
  return true;
}

void RtpReceiveStats::on_sender_report(uint64_t ntp, int64_t arrival_us) {
  have_sr_ = true;
  lsr_ = static_cast<uint32_t>(ntp >> 16);  // middle 32 bits
  sr_arrival_us_ = arrival_us;
}

int64_t RtpReceiveStats::cumulative_lost() const {
  if (!valid()) return 0;
  const int64_t expected = int64_t{extended_highest_sequence()} - base_seq_ + 1;
  return expected - received_;
}

ReportBlock RtpReceiveStats::report_block(uint32_t ssrc, int64_t now_us) {
  ReportBlock b;
  b.ssrc = ssrc;
  if (valid()) {
    // A.3
    const uint32_t expected = extended_highest_sequence() - base_seq_ + 1;
    const int64_t lost = cumulative_lost();
    b.cumulative_lost = lost > 0x7FFFFF ? 0x7FFFFF : lost < -0x800000 ? -0x800000 : static_cast<int32_t>(lost);
    const uint32_t expected_interval = expected - expected_prior_;
    const uint32_t received_interval = received_ - received_prior_;
    expected_prior_ = expected;
    received_prior_ = received_;
    const int64_t lost_interval = int64_t{expected_interval} - received_interval;
    b.fraction_lost = (expected_interval == 0 || lost_interval <= 0)
                          ? 0
                          : static_cast<uint8_t>(std::min<int64_t>((lost_interval << 8) / expected_interval, 255));
    b.highest_sequence = extended_highest_sequence();
    b.jitter = jitter();
  }
  if (have_sr_) {
    b.lsr = lsr_;
    const int64_t delay = now_us > sr_arrival_us_ ? now_us - sr_arrival_us_ : 0;
    const int64_t dlsr = delay / 1000000 * 65536 + delay % 1000000 * 65536 / 1000000;
    b.dlsr = static_cast<uint32_t>(dlsr > 0xFFFFFFFFll ? 0xFFFFFFFFll : dlsr);
  }
  return b;
}

}  // namespace sfu
