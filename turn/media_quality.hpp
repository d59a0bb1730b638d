// The passive relay-quality analyser (issue 19): what crosses an allocation, each way, classified by
// RFC 7983 and measured without any client SDK. SRTP leaves RTP headers in clear (RFC 3711 3.1):
// sequence numbers give loss and reordering, timestamps against arrival give the interarrival
// jitter (RFC 3550 A.1, A.8); plain RTCP report blocks give the far end's own view (RFC 3550 6.4);
// ICE connectivity and consent checks (RFC 8445 7.2, RFC 7675) crossing the relay give each leg's
// round-trip time. Sans-I/O: bytes and `now` (microseconds, monotonic) in; figures out. Bounded:
// at most QualityConfig::max_streams streams and kPending STUN transactions per direction.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "turn/rtp.hpp"

namespace turn {

struct QualityThresholds {
  double loss = 0.02;        // ratio of the interval's expected RTP packets
  double jitter_ms = 30;     // the largest stream jitter of a direction
  double rtt_ms = 300;       // client leg + peer leg
};

// quality.* in the config (docs/configuration.md).
struct QualityConfig {
  bool enabled = true;
  uint32_t interval_s = 10;
  uint32_t min_packets = 50;     // fewer RTP packets expected in an interval: the verdict stays
  QualityThresholds degraded{0.02, 30, 300};
  QualityThresholds bad{0.10, 100, 800};
  bool tcp_degrades = true;      // media over a TCP/TLS client connection: at least degraded
  uint32_t max_streams = 8;      // per direction
};

enum class Verdict : uint8_t { NoMedia, Good, Degraded, Bad };
constexpr size_t kVerdicts = 4;
const char* to_string(Verdict v);  // no_media, good, degraded, bad
// Why an allocation is not good: a bit set.
enum QualityReason : uint8_t { kReasonLoss = 1, kReasonJitter = 2, kReasonRtt = 4, kReasonTcp = 8 };

// RFC 3550 A.1, A.8: one RTP stream (an SSRC) as it reached the relay.
struct StreamQuality {
  uint32_t ssrc = 0;
  uint8_t payload_type = 0;
  uint32_t clock_rate = 0;          // inferred from timestamps against arrival; 0: not yet
  uint64_t packets = 0, bytes = 0;  // every arrival
  uint64_t received = 0;            // distinct sequence numbers
  uint64_t reordered = 0, duplicates = 0;
  // Sequence numbers: extended with the cycles (A.1); `window` marks the 64 below the highest.
  uint64_t base_ext = 0, max_ext = 0, window = 0, expected_prior = 0;
  uint32_t bad_seq = 0x10001;
  // Jitter (A.8) in timestamp units, times 16; the reference for the clock-rate inference.
  int64_t jitter_q4 = 0;
  uint32_t last_transit = 0, last_ts = 0;
  bool have_transit = false;
  int64_t ref_us = 0;
  uint32_t ref_ts = 0;
  // RFC 4588 retransmission streams copy the timestamps of another stream's packets: a stream whose
  // new timestamps were mostly seen on another stream just before is one (`rtx`; a vote over its
  // recent new timestamps, halved every 32), and has no jitter of its own (a retransmission is
  // late by design). `recent` holds its last new timestamps.
  std::array<uint32_t, 16> recent{};
  uint8_t recent_next = 0, probed = 0, copied = 0;
  bool rtx = false;
  bool has_recent(uint32_t ts) const;
  void note_timestamp(uint32_t ts);
  // The far end's report blocks about this SSRC (plain RTCP only).
  bool reported = false;
  uint8_t reported_fraction = 0;
  int32_t reported_cumulative = 0;
  uint32_t reported_jitter = 0;

  void start(const rtp::Header& h, int64_t now_us);
  void on_packet(const rtp::Header& h, size_t size, int64_t now_us);
  uint64_t expected() const { return expected_prior + (packets ? max_ext - base_ext + 1 : 0); }
  uint64_t lost() const { return expected() > received ? expected() - received : 0; }
  double jitter_ms() const;           // < 0: the clock rate is not known yet
  const char* kind() const;           // audio, video, rtx, unknown (by the clock rate)

 private:
  void sequence(uint16_t seq);
  void jitter(uint32_t ts, int64_t now_us);
  void infer_rate(uint32_t ts, int64_t now_us);
};

// What crossed one way: payload kinds, RTP streams, RTCP.
struct DirectionQuality {
  uint64_t packets = 0, bytes = 0;
  std::array<uint64_t, rtp::kKinds> kinds{};
  std::vector<StreamQuality> streams;  // at most QualityConfig::max_streams
  uint64_t streams_untracked = 0;      // RTP packets of streams beyond that
  uint64_t rtcp_encrypted = 0, report_blocks = 0;
  uint64_t interval_expected = 0, interval_received = 0;  // at the start of the interval

  StreamQuality* stream(uint32_t ssrc);
  uint64_t expected() const;
  uint64_t received() const;
  uint64_t lost() const;
  uint64_t reordered() const;
  uint64_t duplicates() const;
  double jitter_ms() const;            // the largest known; < 0: none known
};

// RFC 8445 7.2.5, RFC 7675: Binding requests in one direction answered from the other: the RTT
// of the leg beyond the relay on the answering side. A retransmitted request gives no sample
// (Karn's rule: its answer cannot be told apart).
struct LegRtt {
  static constexpr size_t kPending = 8;
  struct Pending {
    std::array<uint8_t, 12> txid{};
    int64_t at_us = 0;
    bool retransmitted = false, used = false;
  };
  std::array<Pending, kPending> pending{};
  uint8_t next = 0;
  uint64_t samples = 0;
  int64_t last_us = 0, min_us = 0, sum_us = 0;
  uint64_t interval_samples = 0;
  int64_t interval_sum_us = 0;

  void request(std::span<const uint8_t, 12> txid, int64_t now_us);
  void response(std::span<const uint8_t, 12> txid, int64_t now_us);
};

class MediaQuality {
 public:
  enum Dir : uint8_t { ToPeer = 0, ToClient = 1 };
  // A datagram relayed from the client toward a peer (the ChannelData or Send payload), and one
  // from a peer toward the client.
  rtp::Kind observe(Dir dir, std::span<const uint8_t> d, int64_t now_us, const QualityConfig& cfg);

  // One interval's figures, for the histograms and the verdict.
  struct Sample {
    bool media = false;                      // RTP crossed in this interval
    std::array<bool, 2> have_loss{};          // per direction: RTP expected in it
    std::array<double, 2> loss{}, jitter_ms{{-1, -1}};
    std::array<double, 2> rtt_ms{{-1, -1}};    // client leg, peer leg: the interval's mean; < 0: none
    Verdict verdict = Verdict::NoMedia, previous = Verdict::NoMedia;
    uint8_t reasons = 0;
    bool became_media_over_tcp = false;      // media first seen over a TCP/TLS client connection
    double seconds = 0;
  };
  // Closes the interval that began at the previous call: its figures, and the verdict they give.
  Sample close_interval(int64_t now_us, bool over_tcp, const QualityConfig& cfg);

  const DirectionQuality& direction(Dir d) const { return dirs_[d]; }
  const LegRtt& client_leg() const { return client_leg_; }
  const LegRtt& peer_leg() const { return peer_leg_; }
  Verdict verdict() const { return verdict_; }
  Verdict worst() const { return worst_; }
  uint8_t reasons() const { return reasons_; }
  uint32_t intervals(Verdict v) const { return intervals_[static_cast<size_t>(v)]; }
  bool media_over_tcp() const { return media_over_tcp_; }
  bool has_media() const { return dirs_[0].kinds[2] + dirs_[1].kinds[2] > 0; }
  const Sample* last_sample() const { return have_last_ ? &last_ : nullptr; }
  int64_t interval_start_us() const { return interval_start_us_; }
  void begin(int64_t now_us) { interval_start_us_ = now_us; }

 private:
  void rtp(DirectionQuality& d, std::span<const uint8_t> bytes, int64_t now_us, const QualityConfig& cfg);
  static void probe_rtx(DirectionQuality& d, StreamQuality& s, uint32_t ts);
  void rtcp(Dir dir, std::span<const uint8_t> bytes);
  void stun(Dir dir, std::span<const uint8_t> bytes, int64_t now_us);
  void judge(Sample& s, bool over_tcp, const QualityConfig& cfg) const;

  std::array<DirectionQuality, 2> dirs_{};
  LegRtt client_leg_, peer_leg_;
  Verdict verdict_ = Verdict::NoMedia, worst_ = Verdict::NoMedia;
  uint8_t reasons_ = 0;
  std::array<uint32_t, kVerdicts> intervals_{};
  bool media_over_tcp_ = false;
  int64_t interval_start_us_ = 0;
  Sample last_;
  bool have_last_ = false;
};

}  // namespace turn
