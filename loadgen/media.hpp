// Media shaped like real calls (sender side) and RFC 3550 reception statistics (receiver side).
// Sans-I/O: times are microseconds on the caller's clock, passed in.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "loadgen/rtp.hpp"

namespace loadgen {

enum class MediaKind : uint8_t { Audio, Video, Screen };
const char* to_string(MediaKind k);          // "audio", "video", "screen"

// None: calls with no media (allocations, permissions and channels set up and held; for
// allocation capacity and memory per held allocation).
enum class Profile : uint8_t { Audio, Video, Mixed, None };
const char* to_string(Profile p);            // "audio", "video", "mixed", "none"
std::optional<Profile> parse_profile(std::string_view s);

// What a call carries in each direction, by profile and the call's global id (so every shard of a
// plan gives a call the same streams): audio -> {Audio}; video -> {Audio, Video};
// mixed -> by id: 50% {Audio}, 35% {Audio, Video}, 15% {Audio, Screen}; none -> {}.
std::vector<MediaKind> streams_for_call(Profile p, uint32_t call_id);
// The call's label in reports: "audio", "video" or "screen" (its richest stream), "none".
const char* call_kind(Profile p, uint32_t call_id);

// One RTP stream in one direction.
//  Audio: Opus-like, 48 kHz clock, one packet per 20 ms, 100-200 bytes (RTP header included).
//  Video: VP8-like, 90 kHz clock, 30 frames/s, a bitrate drawn per stream in 0.3-2.5 Mbit/s, a
//    keyframe every 3 s about 5x a delta frame; each frame split into packets of at most
//    `max_packet` bytes sent back to back, the last with the marker bit.
//  Screen: bursty: mostly 5 small frames/s (1-3 packets), and every 4-8 s (and at the start) a
//    burst of 10-30 large frames at 30 frames/s (a slide change), up to 2.5 Mbit/s during a burst;
//    90 kHz clock, the marker on the last packet of each frame.
// Every packet starts with an RtpHeader and a Probe; the rest is filler (pseudo-random bytes, so no
// compression gains anything). Everything drawn (initial sequence number and timestamp, sizes, the
// video bitrate, the phase) comes from `seed`, `ssrc`, `call_id` and `kind` only: the same arguments
// give the same stream. The first packet is due at start_us plus a phase drawn in [0, one frame
// interval), so that calls started together do not send in lockstep.
// When the caller falls more than 1 s behind the schedule, the frames already due are skipped
// (counted in skipped()) and the stream resumes on schedule instead of sending them in a burst; the
// sequence number does not advance over skipped packets (they are not network loss), the timestamp does.
class MediaSource {
 public:
  static constexpr uint64_t kMaxLagUs = 1'000'000;
  static constexpr size_t kMinPacket = RtpHeader::kSize + Probe::kSize;
  MediaSource(MediaKind kind, uint32_t ssrc, uint32_t call_id, uint64_t seed, uint64_t start_us,
              size_t max_packet);
  MediaKind kind() const { return kind_; }
  // When the next packet is due (it may already be past).
  uint64_t next_due_us() const;
  // Writes the next packet if it is due at or before now_us (with `echo` as the probe's echo
  // fields) and returns its size; 0 when nothing is due or out is too small. The probe's sent_us
  // is now_us (the true send time); last_lag_us() is now_us minus the packet's due time.
  size_t next(uint64_t now_us, uint64_t echo_sent_us, uint32_t echo_hold_us, std::span<uint8_t> out);
  uint64_t packets() const { return packets_; }
  uint64_t bytes() const { return bytes_; }
  // How late the last packet went out against its schedule (the driver's send lag).
  uint64_t last_lag_us() const { return last_lag_us_; }
  // Packets not sent because the caller fell more than kMaxLagUs behind (see above).
  uint64_t skipped() const { return skipped_; }
  // Video: the bitrate drawn for this stream (bits/s, RTP header and probe included); 0 otherwise.
  uint32_t bitrate_bps() const { return bitrate_bps_; }
  uint32_t ssrc() const { return ssrc_; }

 private:
  uint64_t draw();                               // splitmix64 over rng_
  uint64_t draw_in(uint64_t lo, uint64_t hi);    // uniform in [lo, hi]
  double draw_unit();                            // uniform in [0, 1)
  void begin_frame();                            // sizes the frame due at due_us_
  void advance_frame();                          // schedules and sizes the next frame
  void plan_packets(size_t frame_bytes);
  void skip_late(uint64_t now_us);
  void fill(std::span<uint8_t> out);

  MediaKind kind_;
  uint32_t ssrc_, call_id_;
  uint64_t rng_;
  uint64_t fill_rng_;
  uint64_t start_us_;
  size_t max_packet_;
  uint8_t pt_;
  uint16_t seq_ = 0;
  uint32_t ts_base_ = 0;
  uint64_t packets_ = 0, bytes_ = 0, last_lag_us_ = 0, skipped_ = 0;
  uint64_t epoch_us_ = 0;        // start_us + phase: frame offsets count from here
  uint64_t offset_us_ = 0;       // the current frame's due time - epoch_us_
  uint64_t due_us_ = 0;
  // frame in progress
  size_t frame_left_ = 0;        // bytes of the current frame not yet sent
  size_t packets_left_ = 0;      // packets of the current frame not yet sent
  uint32_t frame_ts_ = 0;
  uint64_t frame_no_ = 0;
  uint32_t bitrate_bps_ = 0;
  // screen: the burst in progress and the next one
  uint32_t burst_left_ = 0;      // frames left in the burst (0: idle)
  uint32_t burst_frame_ = 0;     // frames of the burst scheduled so far
  uint64_t burst_start_us_ = 0;  // offset of the burst's first frame
  uint64_t next_burst_us_ = 0;   // offset of the next burst
};

// Cumulative reception counters of one stream (RFC 3550 6.4.1, A.3, A.8).
struct ReceptionCounters {
  uint64_t expected = 0;      // extended highest seq - first seq + 1 (summed over sender restarts)
  uint64_t received = 0;      // distinct packets
  uint64_t duplicates = 0;
  uint64_t reordered = 0;     // arrived after a higher sequence number (distinct, not duplicates)
  uint64_t bytes = 0;         // every arrival's size on the wire, duplicates included
  double jitter_ms = 0;       // RFC 3550 A.8 interarrival jitter, in ms
  uint64_t lost() const { return expected > received ? expected - received : 0; }
};

// Reception statistics of one stream.
//  Sequence numbers (RFC 3550 A.1): extended with a cycle count. A packet up to MAX_DROPOUT ahead of
//    the highest is in order (the gap is lost until it arrives); one less than kWindow behind is late:
//    a duplicate when its bit in a window of the last kWindow extended sequence numbers is set,
//    reordered otherwise (this widens A.1's MAX_MISORDER to the window: a late packet is never taken
//    for a restart). Anything else is a jump, counted only once the next packet follows it (A.1's
//    bad_seq): forward (< 2^15 ahead) it is a loss burst and the gap counts as lost; backward the
//    sender restarted and a new run of sequence numbers begins (expected adds up over the runs).
//  Jitter (RFC 3550 6.4.1, A.8): J += (|D| - J) / 16 over successive distinct arrivals, with the
//    transit in clock units (arrival - send time, both converted with clock_rate). The send time is
//    the probe's sent_us, the instant the packet actually left, rather than the RTP timestamp (its
//    schedule): the loadgen's own send lag is measured apart (MediaSource::last_lag_us), and the
//    packets of one video frame, sent back to back, are each a true sample of the path.
//  RTT (RFC 3550 6.4.1's LSR/DLSR idea): a probe echoing our sent_us gives
//    now - echo_sent_us - echo_hold_us; values below 0 or above kMaxRttUs are dropped. At most
//    kMaxRttSamples are kept between take_rtt_samples() calls (every k-th, k doubling when full).
class Receiver {
 public:
  static constexpr uint32_t kMaxDropout = 3000;     // RFC 3550 A.1
  static constexpr uint64_t kWindow = 4096;         // duplicate detection, in sequence numbers
  static constexpr uint64_t kMaxRttUs = 60'000'000;
  static constexpr size_t kMaxRttSamples = 1024;

  explicit Receiver(uint32_t clock_rate);
  // One packet of this stream, its header and probe already parsed; `size` bytes on the wire.
  void on_packet(const RtpHeader& h, const Probe& p, size_t size, uint64_t now_us);
  const ReceptionCounters& counters() const { return c_; }
  // The probe to echo back in the other direction: the last sent_us received and its arrival.
  uint64_t last_probe_sent_us() const { return last_sent_us_; }
  uint64_t last_probe_arrival_us() const { return last_arrival_us_; }
  // RTT samples (us) this side measured from echoes since the last call, appended to `out`;
  // cleared by the call.
  void take_rtt_samples(std::vector<uint32_t>& out);
  // RFC 3550 6.4.1, A.3: the report block about this stream (its sender's `ssrc`) for a receiver
  // report sent now: fraction lost since the previous call (in 1/256), cumulative lost (expected -
  // received, 24-bit signed), the extended highest sequence number (cycles from 0), the jitter in
  // timestamp units (this receiver's A.8 figure); LSR and DLSR 0 (no sender reports to echo).
  turn::rtp::ReportBlock report_block(uint32_t ssrc);

 private:
  void start_run(uint64_t ext);                  // a new run of sequence numbers at ext
  void accept(uint64_t ext, const Probe& p, uint64_t now_us);  // a packet with a new ext seq
  bool seen(uint64_t ext) const;
  void mark(uint64_t ext);
  void advance_window(uint64_t new_max);         // clears the bits between the old and new highest
  void update_jitter(const Probe& p, uint64_t now_us);
  void on_rtt(const Probe& p, uint64_t now_us);
  uint64_t expected_now() const;

  uint32_t clock_rate_;
  ReceptionCounters c_;
  bool started_ = false;
  uint64_t ext_base_ = 0, ext_max_ = 0;   // extended sequence numbers of the current run
  uint64_t expected_prior_ = 0;           // expected in the runs before this one
  uint32_t bad_seq_ = 1u << 16 | 1;       // A.1: the sequence number that confirms a jump
  std::vector<uint64_t> seen_;            // a bitmap window of recent extended sequence numbers
  uint32_t transit_ = 0;
  double jitter_ = 0;                     // in clock units
  bool have_transit_ = false;
  uint64_t last_sent_us_ = 0, last_arrival_us_ = 0;
  uint64_t rr_expected_prior_ = 0, rr_received_prior_ = 0;   // at the previous report_block
  std::vector<uint32_t> rtt_us_;
  uint64_t rtt_seen_ = 0, rtt_stride_ = 1;
};

uint32_t clock_rate(MediaKind k);    // 48000 audio, 90000 video and screen
uint8_t payload_type(MediaKind k);   // 111 audio, 96 video, 97 screen

}  // namespace loadgen
