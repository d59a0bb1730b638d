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

enum class Profile : uint8_t { Audio, Video, Mixed };
const char* to_string(Profile p);            // "audio", "video", "mixed"
std::optional<Profile> parse_profile(std::string_view s);

// What a call carries in each direction, by profile and the call's global id (so every shard of a
// plan gives a call the same streams): audio -> {Audio}; video -> {Audio, Video};
// mixed -> by id: 50% {Audio}, 35% {Audio, Video}, 15% {Audio, Screen}.
std::vector<MediaKind> streams_for_call(Profile p, uint32_t call_id);
// The call's label in reports: "audio", "video" or "screen" (its richest stream).
const char* call_kind(Profile p, uint32_t call_id);

// One RTP stream in one direction.
//  Audio: Opus-like, 48 kHz clock, one packet per 20 ms, 100-200 bytes (RTP header included).
//  Video: VP8-like, 90 kHz clock, 30 frames/s, a bitrate drawn per stream in 0.3-2.5 Mbit/s, a
//    keyframe every 3 s about 5x a delta frame; each frame split into packets of at most
//    `max_packet` bytes sent back to back, the last with the marker bit.
//  Screen: bursty: mostly 5 small frames/s, with a burst of large frames (a slide change) every
//    few seconds, up to 2.5 Mbit/s during a burst.
// Every packet starts with an RtpHeader and a Probe; the rest is filler.
class MediaSource {
 public:
  MediaSource(MediaKind kind, uint32_t ssrc, uint32_t call_id, uint64_t seed, uint64_t start_us,
              size_t max_packet);
  MediaKind kind() const { return kind_; }
  // When the next packet is due (it may already be past).
  uint64_t next_due_us() const;
  // Writes the next packet if it is due at or before now_us (with `echo` as the probe's echo
  // fields) and returns its size; 0 when nothing is due or out is too small.
  size_t next(uint64_t now_us, uint64_t echo_sent_us, uint32_t echo_hold_us, std::span<uint8_t> out);
  uint64_t packets() const { return packets_; }
  uint64_t bytes() const { return bytes_; }
  // How late the last packet went out against its schedule (the driver's send lag).
  uint64_t last_lag_us() const { return last_lag_us_; }

 private:
  // (helper-owned state)
  MediaKind kind_;
  uint32_t ssrc_, call_id_;
  uint64_t rng_;
  uint64_t start_us_;
  size_t max_packet_;
  uint16_t seq_ = 0;
  uint64_t packets_ = 0, bytes_ = 0, last_lag_us_ = 0;
  uint64_t due_us_ = 0;
  // frame in progress
  size_t frame_left_ = 0;
  uint32_t frame_ts_ = 0;
  uint32_t frame_no_ = 0;
  uint32_t bitrate_bps_ = 0;
};

// Cumulative reception counters of one stream (RFC 3550 6.4.1, A.3, A.8).
struct ReceptionCounters {
  uint64_t expected = 0;      // extended highest seq - first seq + 1
  uint64_t received = 0;      // distinct packets
  uint64_t duplicates = 0;
  uint64_t reordered = 0;     // arrived after a higher sequence number
  uint64_t bytes = 0;
  double jitter_ms = 0;       // RFC 3550 A.8 interarrival jitter, in ms
  uint64_t lost() const { return expected > received ? expected - received : 0; }
};

class Receiver {
 public:
  explicit Receiver(uint32_t clock_rate);
  // One packet of this stream, its header and probe already parsed; `size` bytes on the wire.
  void on_packet(const RtpHeader& h, const Probe& p, size_t size, uint64_t now_us);
  const ReceptionCounters& counters() const { return c_; }
  // The probe to echo back in the other direction: the last sent_us received and its arrival.
  uint64_t last_probe_sent_us() const { return last_sent_us_; }
  uint64_t last_probe_arrival_us() const { return last_arrival_us_; }
  // RTT samples (us) this side measured from echoes since the last call; cleared by the call.
  void take_rtt_samples(std::vector<uint32_t>& out);

 private:
  uint32_t clock_rate_;
  ReceptionCounters c_;
  bool started_ = false;
  uint16_t base_seq_ = 0, max_seq_ = 0;
  uint32_t cycles_ = 0;
  std::vector<uint64_t> seen_;      // a bitmap window of recent extended sequence numbers
  double transit_ = 0, jitter_ = 0;
  bool have_transit_ = false;
  uint64_t last_sent_us_ = 0, last_arrival_us_ = 0;
  std::vector<uint32_t> rtt_us_;
};

uint32_t clock_rate(MediaKind k);    // 48000 audio, 90000 video and screen
uint8_t payload_type(MediaKind k);   // 111 audio, 96 video, 97 screen

}  // namespace loadgen
