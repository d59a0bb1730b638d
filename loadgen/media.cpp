// Media shaped like calls (MediaSource), RFC 3550 reception statistics (Receiver) and the profiles.
#include "loadgen/media.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "loadgen/prng.hpp"

namespace loadgen {

namespace {
constexpr uint64_t kUsPerSecond = 1'000'000;
constexpr uint32_t kSeqMod = 1u << 16;
// Audio (Opus-like): one packet per 20 ms, 100-200 bytes.
constexpr uint64_t kAudioIntervalUs = 20'000;
constexpr uint64_t kAudioMinBytes = 100, kAudioMaxBytes = 200;
// Video (VP8-like): 30 frames/s, a keyframe every 3 s about 5x a delta frame, deltas +-30%.
constexpr uint64_t kVideoFps = 30;
constexpr uint64_t kGopFrames = 3 * kVideoFps;
constexpr double kKeyframeRatio = 5.0;
constexpr uint64_t kVideoMinBps = 300'000, kVideoMaxBps = 2'500'000;
// Screen: 5 small frames/s (1-3 packets) idle; a burst of 10-30 frames at 30 frames/s every 4-8 s.
constexpr uint64_t kScreenIdleIntervalUs = 200'000;
constexpr uint64_t kScreenMinBytes = 150;
constexpr uint64_t kBurstFps = 30;
constexpr uint64_t kBurstMinFrames = 10, kBurstMaxFrames = 30;
constexpr uint64_t kBurstMinGapUs = 4 * kUsPerSecond, kBurstMaxGapUs = 8 * kUsPerSecond;
constexpr double kBurstMaxBps = 2'500'000;
// A catch-up after a stall skips frame by frame up to this many frames, then jumps.
constexpr uint64_t kMaxSkipFrames = 1u << 20;

using prng::mix;
uint64_t splitmix(uint64_t& state) { return prng::next(state); }

// Microseconds to clock units; `round` to nearest, else truncated. Only differences matter, so the
// caller keeps the low 32 bits.
uint64_t to_ticks(uint64_t us, uint32_t rate, bool round) {
  return us / kUsPerSecond * rate + (us % kUsPerSecond * rate + (round ? kUsPerSecond / 2 : 0)) / kUsPerSecond;
}

uint64_t frame_interval_us(MediaKind k) {
  switch (k) {
    case MediaKind::Audio: return kAudioIntervalUs;
    case MediaKind::Video: return kUsPerSecond / kVideoFps;
    case MediaKind::Screen: return kScreenIdleIntervalUs;
  }
  return kAudioIntervalUs;
}

// Mixed profile: 50% audio, 35% video, 15% screen, by a hash of the call's global id.
MediaKind mixed_kind(uint32_t call_id) {
  const uint64_t bucket = mix(uint64_t{call_id} ^ 0x6c6f616467656e00ull) % 100;
  return bucket < 50 ? MediaKind::Audio : bucket < 85 ? MediaKind::Video : MediaKind::Screen;
}
MediaKind richest(Profile p, uint32_t call_id) {
  switch (p) {
    case Profile::Audio: return MediaKind::Audio;
    case Profile::Video: return MediaKind::Video;
    case Profile::Mixed: return mixed_kind(call_id);
    case Profile::None: return MediaKind::Audio;   // not used: no streams
  }
  return MediaKind::Audio;
}
}  // namespace

const char* to_string(MediaKind k) {
  switch (k) {
    case MediaKind::Audio: return "audio";
    case MediaKind::Video: return "video";
    case MediaKind::Screen: return "screen";
  }
  return "?";
}

const char* to_string(Profile p) {
  switch (p) {
    case Profile::Audio: return "audio";
    case Profile::Video: return "video";
    case Profile::Mixed: return "mixed";
    case Profile::None: return "none";
  }
  return "?";
}

std::optional<Profile> parse_profile(std::string_view s) {
  if (s == "audio") return Profile::Audio;
  if (s == "video") return Profile::Video;
  if (s == "mixed") return Profile::Mixed;
  if (s == "none") return Profile::None;
  return std::nullopt;
}

std::vector<MediaKind> streams_for_call(Profile p, uint32_t call_id) {
  if (p == Profile::None) return {};
  const MediaKind k = richest(p, call_id);
  if (k == MediaKind::Audio) return {MediaKind::Audio};
  return {MediaKind::Audio, k};
}

const char* call_kind(Profile p, uint32_t call_id) {
  return p == Profile::None ? "none" : to_string(richest(p, call_id));
}

uint32_t clock_rate(MediaKind k) { return k == MediaKind::Audio ? 48000 : 90000; }

uint8_t payload_type(MediaKind k) {
  switch (k) {
    case MediaKind::Audio: return 111;
    case MediaKind::Video: return 96;
    case MediaKind::Screen: return 97;
  }
  return 0;
}

// ---- MediaSource ---------------------------------------------------------------------------

MediaSource::MediaSource(MediaKind kind, uint32_t ssrc, uint32_t call_id, uint64_t seed, uint64_t start_us,
                         size_t max_packet)
    : kind_(kind),
      ssrc_(ssrc),
      call_id_(call_id),
      rng_(mix(seed) ^ mix(uint64_t{ssrc} << 32 | call_id) ^ mix(static_cast<uint64_t>(kind) + 1)),
      fill_rng_(0),
      start_us_(start_us),
      max_packet_(std::clamp<size_t>(max_packet, kMinPacket, 65535)),
      pt_(payload_type(kind)) {
  fill_rng_ = draw();
  seq_ = static_cast<uint16_t>(draw());        // RFC 3550 5.1: random initial values
  ts_base_ = static_cast<uint32_t>(draw());
  if (kind_ == MediaKind::Video) bitrate_bps_ = static_cast<uint32_t>(draw_in(kVideoMinBps, kVideoMaxBps));
  epoch_us_ = start_us_ + draw_in(0, frame_interval_us(kind_) - 1);
  if (kind_ == MediaKind::Screen) {  // a screen share opens with a full picture: a burst
    burst_left_ = static_cast<uint32_t>(draw_in(kBurstMinFrames, kBurstMaxFrames));
    next_burst_us_ = draw_in(kBurstMinGapUs, kBurstMaxGapUs);
  }
  due_us_ = epoch_us_;
  begin_frame();
}

uint64_t MediaSource::draw() { return splitmix(rng_); }

uint64_t MediaSource::draw_in(uint64_t lo, uint64_t hi) { return hi <= lo ? lo : lo + draw() % (hi - lo + 1); }

double MediaSource::draw_unit() { return static_cast<double>(draw() >> 11) * 0x1.0p-53; }

uint64_t MediaSource::next_due_us() const { return due_us_; }

void MediaSource::begin_frame() {
  frame_ts_ = ts_base_ + static_cast<uint32_t>(to_ticks(offset_us_, clock_rate(kind_), true));
  double bytes = 0;
  switch (kind_) {
    case MediaKind::Audio:
      bytes = static_cast<double>(std::min<uint64_t>(draw_in(kAudioMinBytes, kAudioMaxBytes), max_packet_));
      break;
    case MediaKind::Video: {
      // Per GOP of 90 frames: one keyframe of 5 deltas and 89 deltas carry 3 s of the bitrate.
      const double delta = bitrate_bps_ / 8.0 * kGopFrames / kVideoFps / (kGopFrames - 1 + kKeyframeRatio);
      bytes = frame_no_ % kGopFrames == 0 ? delta * kKeyframeRatio * (0.9 + 0.2 * draw_unit())
                                          : delta * (0.7 + 0.6 * draw_unit());
      break;
    }
    case MediaKind::Screen:
      if (burst_left_ > 0) {
        bytes = kBurstMaxBps / 8.0 / kBurstFps * (0.6 + 0.4 * draw_unit());
      } else {
        const uint64_t hi = 3 * max_packet_;
        bytes = static_cast<double>(draw_in(std::min<uint64_t>(kScreenMinBytes, hi), hi));
      }
      break;
  }
  plan_packets(static_cast<size_t>(bytes));
}

// Split a frame into the fewest packets of at most max_packet_ bytes, of near-equal sizes.
void MediaSource::plan_packets(size_t frame_bytes) {
  frame_bytes = std::max(frame_bytes, kMinPacket);
  packets_left_ = (frame_bytes + max_packet_ - 1) / max_packet_;
  frame_left_ = std::max(frame_bytes, packets_left_ * kMinPacket);
}

void MediaSource::advance_frame() {
  ++frame_no_;
  switch (kind_) {
    case MediaKind::Audio: offset_us_ = frame_no_ * kAudioIntervalUs; break;
    case MediaKind::Video: offset_us_ = frame_no_ * kUsPerSecond / kVideoFps; break;
    case MediaKind::Screen: {
      if (burst_left_ > 0) {
        --burst_left_;
        ++burst_frame_;
      }
      uint64_t next = burst_left_ > 0 ? burst_start_us_ + burst_frame_ * kUsPerSecond / kBurstFps
                                      : offset_us_ + kScreenIdleIntervalUs;
      if (burst_left_ == 0 && next >= next_burst_us_) {  // a slide change
        next = next_burst_us_;
        burst_left_ = static_cast<uint32_t>(draw_in(kBurstMinFrames, kBurstMaxFrames));
        burst_frame_ = 0;
        burst_start_us_ = next;
        next_burst_us_ = next + draw_in(kBurstMinGapUs, kBurstMaxGapUs);
      }
      offset_us_ = next;
      break;
    }
  }
  due_us_ = epoch_us_ + offset_us_;
  begin_frame();
}

// The caller fell more than kMaxLagUs behind: drop every frame due before now (the one in
// progress included) and resume on schedule.
void MediaSource::skip_late(uint64_t now_us) {
  for (uint64_t n = 0; due_us_ < now_us && n < kMaxSkipFrames; ++n) {
    skipped_ += packets_left_;
    advance_frame();
  }
  if (due_us_ < now_us) {  // an absurd stall: move the schedule instead of walking it
    const uint64_t shift = now_us - due_us_;
    epoch_us_ += shift;
    ts_base_ += static_cast<uint32_t>(to_ticks(shift, clock_rate(kind_), true));
    frame_ts_ += static_cast<uint32_t>(to_ticks(shift, clock_rate(kind_), true));
    due_us_ = now_us;
  }
}

void MediaSource::fill(std::span<uint8_t> out) {
  size_t i = 0;
  for (; i + 8 <= out.size(); i += 8) {
    const uint64_t v = splitmix(fill_rng_);
    std::memcpy(out.data() + i, &v, 8);
  }
  if (i < out.size()) {
    const uint64_t v = splitmix(fill_rng_);
    std::memcpy(out.data() + i, &v, out.size() - i);
  }
}

size_t MediaSource::next(uint64_t now_us, uint64_t echo_sent_us, uint32_t echo_hold_us, std::span<uint8_t> out) {
  if (due_us_ > now_us) return 0;
  if (now_us - due_us_ > kMaxLagUs) {
    skip_late(now_us);
    if (due_us_ > now_us) return 0;
  }
  const size_t size = (frame_left_ + packets_left_ - 1) / packets_left_;
  if (out.size() < size) return 0;
  RtpHeader h;
  // Audio: the marker opens the talkspurt (RFC 3551 4.1); video and screen: it closes a frame.
  h.marker = kind_ == MediaKind::Audio ? packets_ == 0 : packets_left_ == 1;
  h.payload_type = pt_;
  h.seq = seq_;
  h.timestamp = frame_ts_;
  h.ssrc = ssrc_;
  h.write(out);
  const Probe probe{call_id_, now_us, echo_sent_us, echo_hold_us};
  probe.write(out.subspan(RtpHeader::kSize));
  fill(out.subspan(kMinPacket, size - kMinPacket));
  ++seq_;
  ++packets_;
  bytes_ += size;
  last_lag_us_ = now_us - due_us_;
  frame_left_ -= size;
  if (--packets_left_ == 0) advance_frame();
  return size;
}

// ---- Receiver ------------------------------------------------------------------------------

Receiver::Receiver(uint32_t clock_rate) : clock_rate_(clock_rate ? clock_rate : 90000), seen_(kWindow / 64, 0) {}

bool Receiver::seen(uint64_t ext) const {
  if (ext > ext_max_ || ext_max_ - ext >= kWindow) return false;
  return (seen_[ext % kWindow / 64] >> (ext % 64)) & 1;
}

void Receiver::mark(uint64_t ext) { seen_[ext % kWindow / 64] |= uint64_t{1} << (ext % 64); }

void Receiver::advance_window(uint64_t new_max) {
  if (new_max - ext_max_ >= kWindow) {
    std::fill(seen_.begin(), seen_.end(), 0);
  } else {
    for (uint64_t e = ext_max_ + 1; e <= new_max; ++e) seen_[e % kWindow / 64] &= ~(uint64_t{1} << (e % 64));
  }
  ext_max_ = new_max;
  mark(new_max);
}

void Receiver::start_run(uint64_t ext) {
  std::fill(seen_.begin(), seen_.end(), 0);
  ext_base_ = ext_max_ = ext;
  mark(ext);
  bad_seq_ = kSeqMod + 1;
}

uint64_t Receiver::expected_now() const { return expected_prior_ + (ext_max_ - ext_base_ + 1); }

// RFC 3550 A.8: transit = arrival - send time in clock units; J += (|D| - J) / 16.
void Receiver::update_jitter(const Probe& p, uint64_t now_us) {
  const uint32_t transit =
      static_cast<uint32_t>(to_ticks(now_us, clock_rate_, false)) - static_cast<uint32_t>(to_ticks(p.sent_us, clock_rate_, false));
  if (have_transit_) {
    const double d = std::abs(static_cast<double>(static_cast<int32_t>(transit - transit_)));
    jitter_ += (d - jitter_) / 16.0;
    c_.jitter_ms = jitter_ * 1000.0 / clock_rate_;
  }
  transit_ = transit;
  have_transit_ = true;
}

void Receiver::on_rtt(const Probe& p, uint64_t now_us) {
  if (p.echo_sent_us == 0 || now_us < p.echo_sent_us) return;
  const uint64_t elapsed = now_us - p.echo_sent_us;
  if (elapsed < p.echo_hold_us) return;
  const uint64_t rtt = elapsed - p.echo_hold_us;
  if (rtt > kMaxRttUs) return;
  // Bounded: keep every rtt_stride_-th sample; when full, keep every other one and double the stride.
  if (++rtt_seen_ % rtt_stride_ != 0) return;
  rtt_us_.push_back(static_cast<uint32_t>(rtt));
  if (rtt_us_.size() >= kMaxRttSamples) {
    size_t w = 0;
    for (size_t r = 1; r < rtt_us_.size(); r += 2) rtt_us_[w++] = rtt_us_[r];
    rtt_us_.resize(w);
    rtt_stride_ *= 2;
  }
}

void Receiver::take_rtt_samples(std::vector<uint32_t>& out) {
  out.insert(out.end(), rtt_us_.begin(), rtt_us_.end());
  rtt_us_.clear();
  rtt_seen_ = 0;
  rtt_stride_ = 1;
}

turn::rtp::ReportBlock Receiver::report_block(uint32_t ssrc) {
  turn::rtp::ReportBlock b;
  b.ssrc = ssrc;
  const uint64_t exp = c_.expected, rec = c_.received;
  const uint64_t exp_iv = exp - std::min(exp, rr_expected_prior_);
  const uint64_t rec_iv = rec - std::min(rec, rr_received_prior_);
  rr_expected_prior_ = exp;
  rr_received_prior_ = rec;
  if (exp_iv > rec_iv) b.fraction_lost = static_cast<uint8_t>(std::min<uint64_t>(255, ((exp_iv - rec_iv) << 8) / exp_iv));
  const int64_t cum = static_cast<int64_t>(exp) - static_cast<int64_t>(rec);
  b.cumulative_lost = static_cast<int32_t>(std::clamp<int64_t>(cum, -0x800000, 0x7FFFFF));
  b.highest_seq = started_ ? static_cast<uint32_t>(ext_max_ - kSeqMod) : 0;
  b.jitter = static_cast<uint32_t>(jitter_);
  return b;
}

void Receiver::accept(uint64_t ext, const Probe& p, uint64_t now_us) {
  if (ext > ext_max_) {
    advance_window(ext);
  } else {  // late: below the highest, not seen before
    mark(ext);
    ++c_.reordered;
    ext_base_ = std::min(ext_base_, ext);  // sent before the first one that arrived
  }
  ++c_.received;
  update_jitter(p, now_us);
}

void Receiver::on_packet(const RtpHeader& h, const Probe& p, size_t size, uint64_t now_us) {
  c_.bytes += size;
  last_sent_us_ = p.sent_us;
  last_arrival_us_ = now_us;
  on_rtt(p, now_us);
  if (!started_) {  // A.1 init_seq; the cycle count starts at 1 so that late packets stay positive
    started_ = true;
    start_run(kSeqMod + h.seq);
    ++c_.received;
    update_jitter(p, now_us);
    c_.expected = expected_now();
    return;
  }
  const uint16_t delta = static_cast<uint16_t>(h.seq - static_cast<uint16_t>(ext_max_));
  const uint64_t behind = kSeqMod - delta;
  if (delta == 0 || (behind < kWindow && seen(ext_max_ - behind))) {
    ++c_.duplicates;
  } else if (delta < kMaxDropout) {
    accept(ext_max_ + delta, p, now_us);
  } else if (behind < kWindow) {
    accept(ext_max_ - behind, p, now_us);
  } else if (h.seq != bad_seq_) {  // A.1: a jump, believed once the next packet follows it
    bad_seq_ = (h.seq + 1u) & (kSeqMod - 1);
  } else {
    // Confirmed: the packet before this one (seq - 1) started the jump. Forward, it is a loss
    // burst: the run goes on and the gap counts as lost. Backward, the sender restarted.
    if (delta < kSeqMod / 2) {
      advance_window(ext_max_ + delta - 1);
    } else {
      expected_prior_ += ext_max_ - ext_base_ + 1;
      start_run((((ext_max_ >> 16) + 2) << 16 | h.seq) - 1);
    }
    ++c_.received;  // the packet that started the jump
    bad_seq_ = kSeqMod + 1;
    accept(ext_max_ + 1, p, now_us);
  }
  c_.expected = expected_now();
}

}  // namespace loadgen
