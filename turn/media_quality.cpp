// The passive relay-quality analyser (turn/media_quality.hpp).
#include "turn/media_quality.hpp"

#include <algorithm>
#include <cstring>

#include "turn/byte_order.hpp"

namespace turn {

namespace {
constexpr uint32_t kMaxDropout = 3000;   // RFC 3550 A.1
constexpr uint32_t kMaxMisorder = 100;   // RFC 3550 A.1
constexpr uint64_t kSeqOffset = 1u << 16;  // extended numbers start one cycle up: late ones stay >= 0
constexpr int64_t kMaxRttUs = 60'000'000;
constexpr int64_t kRateWindowUs = 1'000'000;
constexpr uint8_t kRtxProbe = 8;
constexpr uint32_t kRates[] = {8000, 16000, 24000, 32000, 48000, 90000};  // RFC 3551 and WebRTC's
}  // namespace

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::NoMedia: return "no_media";
    case Verdict::Good: return "good";
    case Verdict::Degraded: return "degraded";
    case Verdict::Bad: return "bad";
  }
  return "?";
}

// ---- StreamQuality ---------------------------------------------------------------------------

void StreamQuality::start(const rtp::Header& h, int64_t now_us) {
  ssrc = h.ssrc;
  payload_type = h.payload_type;
  base_ext = max_ext = kSeqOffset + h.seq;
  window = 1;
  received = 1;
  ref_us = now_us;
  ref_ts = h.timestamp;
  last_ts = h.timestamp;
}

void StreamQuality::on_packet(const rtp::Header& h, size_t size, int64_t now_us) {
  bytes += size;
  if (packets++ == 0) return start(h, now_us);
  uint64_t before = received, max_before = max_ext;
  sequence(h.seq);
  if (received == before) return;  // a duplicate, or a jump not yet confirmed
  if (clock_rate == 0) infer_rate(h.timestamp, now_us);
  // Jitter from in-order packets with a new timestamp (as receivers compute it, libwebrtc among
  // them): the packets of one video frame leave in a paced burst that is not network jitter.
  bool in_order = max_ext > max_before;
  if (in_order && h.timestamp != last_ts && clock_rate != 0) jitter(h.timestamp, now_us);
  if (in_order) last_ts = h.timestamp;
}

// RFC 3550 A.1: in order up to kMaxDropout ahead; late up to kMaxMisorder behind (a duplicate when
// its bit in the 64-number window is set); anything else is a jump, taken as a new run of sequence
// numbers (the sender restarted) once the next packet follows it.
void StreamQuality::sequence(uint16_t seq) {
  auto udelta = static_cast<uint16_t>(seq - static_cast<uint16_t>(max_ext));
  if (udelta == 0) { ++duplicates; return; }
  if (udelta < kMaxDropout) {
    window = (udelta >= 64 ? 0 : window << udelta) | 1;
    max_ext += udelta;
    ++received;
    bad_seq = 0x10001;
    return;
  }
  if (udelta > 0x10000 - kMaxMisorder) {
    uint32_t back = 0x10000u - udelta;
    uint64_t ext = max_ext - back;
    if (back < 64) {
      uint64_t bit = uint64_t{1} << back;
      if (window & bit) { ++duplicates; return; }
      window |= bit;
    }
    if (ext < base_ext) base_ext = ext;  // older than the first packet seen: the run began earlier
    ++received;
    ++reordered;
    return;
  }
  if (seq != bad_seq) {
    bad_seq = (seq + 1u) & 0xFFFFu;
    return;
  }
  expected_prior += max_ext - base_ext + 1;  // a new run: the jumped-to packet and this one
  max_ext = kSeqOffset + seq;
  base_ext = max_ext - 1;
  window = 3;
  received += 2;
  bad_seq = 0x10001;
  have_transit = false;
}

// The clock rate is not in the packet: timestamps advancing against arrival over a second, snapped
// to the nearest common rate (within 15 %), else measured again over the next second.
void StreamQuality::infer_rate(uint32_t ts, int64_t now_us) {
  int64_t dt = now_us - ref_us;
  if (dt < kRateWindowUs) return;
  auto dts = static_cast<int32_t>(ts - ref_ts);
  double est = dts > 0 ? static_cast<double>(dts) * 1e6 / static_cast<double>(dt) : 0;
  ref_us = now_us;
  ref_ts = ts;
  for (uint32_t r : kRates)
    if (est > r * 0.85 && est < r * 1.15) { clock_rate = r; return; }
}

// RFC 3550 A.8: J += (|D| - J) / 16, kept times 16 in timestamp units.
void StreamQuality::jitter(uint32_t ts, int64_t now_us) {
  auto arrival = static_cast<uint32_t>(static_cast<uint64_t>(now_us) * clock_rate / 1'000'000);
  uint32_t transit = arrival - ts;
  if (have_transit) {
    int64_t d = static_cast<int32_t>(transit - last_transit);
    d = d < 0 ? -d : d;
    if (d > int64_t{clock_rate} * 10) {  // ten seconds: a timestamp jump, not jitter
      have_transit = false;
      return;
    }
    jitter_q4 += d - ((jitter_q4 + 8) >> 4);
  }
  last_transit = transit;
  have_transit = true;
}

bool StreamQuality::has_recent(uint32_t ts) const {
  return std::find(recent.begin(), recent.end(), ts) != recent.end() && packets > 0;
}

void StreamQuality::note_timestamp(uint32_t ts) {
  if (has_recent(ts)) return;
  recent[recent_next] = ts;
  recent_next = static_cast<uint8_t>((recent_next + 1) % recent.size());
}

double StreamQuality::jitter_ms() const {
  if (clock_rate == 0 || rtx) return -1;
  return static_cast<double>(jitter_q4) / 16.0 * 1000.0 / clock_rate;
}

const char* StreamQuality::kind() const {
  if (rtx) return "rtx";
  if (clock_rate == 90000) return "video";
  if (clock_rate != 0) return "audio";
  return "unknown";
}

// ---- DirectionQuality ------------------------------------------------------------------------

StreamQuality* DirectionQuality::stream(uint32_t ssrc) {
  for (auto& s : streams)
    if (s.ssrc == ssrc) return &s;
  return nullptr;
}

namespace {
template <class F>
uint64_t sum(const std::vector<StreamQuality>& streams, F f) {
  uint64_t n = 0;
  for (const auto& s : streams) n += f(s);
  return n;
}
}  // namespace

uint64_t DirectionQuality::expected() const { return sum(streams, [](const auto& s) { return s.expected(); }); }
uint64_t DirectionQuality::received() const { return sum(streams, [](const auto& s) { return s.received; }); }
uint64_t DirectionQuality::lost() const { return sum(streams, [](const auto& s) { return s.lost(); }); }
uint64_t DirectionQuality::reordered() const { return sum(streams, [](const auto& s) { return s.reordered; }); }
uint64_t DirectionQuality::duplicates() const { return sum(streams, [](const auto& s) { return s.duplicates; }); }
double DirectionQuality::jitter_ms() const {
  double j = -1;
  for (const auto& s : streams) j = std::max(j, s.jitter_ms());
  return j;
}

// ---- LegRtt ----------------------------------------------------------------------------------

void LegRtt::request(std::span<const uint8_t, 12> txid, int64_t now_us) {
  for (auto& p : pending)
    if (p.used && std::memcmp(p.txid.data(), txid.data(), 12) == 0) {
      p.retransmitted = true;
      return;
    }
  Pending& p = pending[next];
  next = static_cast<uint8_t>((next + 1) % kPending);
  std::memcpy(p.txid.data(), txid.data(), 12);
  p.at_us = now_us;
  p.retransmitted = false;
  p.used = true;
}

void LegRtt::response(std::span<const uint8_t, 12> txid, int64_t now_us) {
  for (auto& p : pending) {
    if (!p.used || std::memcmp(p.txid.data(), txid.data(), 12) != 0) continue;
    p.used = false;
    int64_t rtt = now_us - p.at_us;
    if (p.retransmitted || rtt < 0 || rtt > kMaxRttUs) return;
    min_us = samples ? std::min(min_us, rtt) : rtt;
    last_us = rtt;
    sum_us += rtt;
    ++samples;
    interval_sum_us += rtt;
    ++interval_samples;
    return;
  }
}

// ---- MediaQuality ----------------------------------------------------------------------------

rtp::Kind MediaQuality::observe(Dir dir, std::span<const uint8_t> d, int64_t now_us, const QualityConfig& cfg) {
  DirectionQuality& q = dirs_[dir];
  ++q.packets;
  q.bytes += d.size();
  rtp::Kind k = rtp::classify(d);
  ++q.kinds[static_cast<size_t>(k)];
  switch (k) {
    case rtp::Kind::Rtp: rtp(q, d, now_us, cfg); break;
    case rtp::Kind::Rtcp: rtcp(dir, d); break;
    case rtp::Kind::Stun: stun(dir, d, now_us); break;
    default: break;
  }
  return k;
}

void MediaQuality::rtp(DirectionQuality& d, std::span<const uint8_t> bytes, int64_t now_us, const QualityConfig& cfg) {
  rtp::Header h;
  size_t header_len = 0;
  if (!rtp::Header::parse_clear(bytes, h, header_len)) return;
  StreamQuality* s = d.stream(h.ssrc);
  if (!s) {
    if (d.streams.size() >= cfg.max_streams) { ++d.streams_untracked; return; }
    s = &d.streams.emplace_back();
  }
  probe_rtx(d, *s, h.timestamp);
  s->on_packet(h, bytes.size(), now_us);
  s->note_timestamp(h.timestamp);
}

// A stream's new timestamps copied from another stream's recent ones in at least three quarters of
// the last kRtxProbe or more make it a retransmission stream (RFC 4588 4: "the RTP timestamp of the
// retransmission packet is the timestamp of the original packet").
void MediaQuality::probe_rtx(DirectionQuality& d, StreamQuality& s, uint32_t ts) {
  if (s.has_recent(ts) || d.streams.size() < 2) return;
  if (s.probed == 4 * kRtxProbe) {  // age the vote
    s.probed /= 2;
    s.copied /= 2;
  }
  ++s.probed;
  for (const auto& other : d.streams)
    if (&other != &s && other.has_recent(ts)) {
      ++s.copied;
      break;
    }
  s.rtx = s.probed >= kRtxProbe && s.copied * 4 >= s.probed * 3;
}

// RFC 3550 6.4: report blocks sent one way describe the streams flowing the other way. SRTCP
// (RFC 3711 3.4) encrypts them: only its header is read, and it is counted as encrypted.
void MediaQuality::rtcp(Dir dir, std::span<const uint8_t> bytes) {
  DirectionQuality& q = dirs_[dir];
  DirectionQuality& other = dirs_[dir == ToPeer ? ToClient : ToPeer];
  bool plain = rtp::for_each_report_block(bytes, [&](const rtp::ReportBlock& b) {
    ++q.report_blocks;
    if (StreamQuality* s = other.stream(b.ssrc)) {
      s->reported = true;
      s->reported_fraction = b.fraction_lost;
      s->reported_cumulative = b.cumulative_lost;
      s->reported_jitter = b.jitter;
    }
  });
  if (!plain) ++q.rtcp_encrypted;
}

// A Binding request one way, its answer the other: the leg beyond the relay on the answering side.
void MediaQuality::stun(Dir dir, std::span<const uint8_t> bytes, int64_t now_us) {
  uint16_t type = be::u16(bytes.data());
  if ((type & 0x3EEF) != 0x0001) return;                    // RFC 8489 5: Binding
  unsigned cls = ((type & 0x0100) >> 7) | ((type & 0x0010) >> 4);
  std::span<const uint8_t, 12> txid(bytes.data() + 8, 12);
  // A request from the client is answered by the peer (peer leg), and the other way round.
  LegRtt& asked_of_peer = peer_leg_;
  LegRtt& asked_of_client = client_leg_;
  if (cls == 0) (dir == ToPeer ? asked_of_peer : asked_of_client).request(txid, now_us);
  else if (cls >= 2) (dir == ToClient ? asked_of_peer : asked_of_client).response(txid, now_us);
}

MediaQuality::Sample MediaQuality::close_interval(int64_t now_us, bool over_tcp, const QualityConfig& cfg) {
  Sample s;
  s.seconds = static_cast<double>(now_us - interval_start_us_) / 1e6;
  interval_start_us_ = now_us;
  uint64_t expected_total = 0;
  for (size_t i = 0; i < 2; ++i) {
    DirectionQuality& d = dirs_[i];
    uint64_t exp = d.expected(), rec = d.received();
    uint64_t de = exp - std::min(exp, d.interval_expected), dr = rec - std::min(rec, d.interval_received);
    d.interval_expected = exp;
    d.interval_received = rec;
    expected_total += de;
    s.have_loss[i] = de > 0;
    s.loss[i] = de > dr ? static_cast<double>(de - dr) / static_cast<double>(de) : 0.0;
    s.jitter_ms[i] = d.jitter_ms();
  }
  LegRtt* legs[2] = {&client_leg_, &peer_leg_};
  for (size_t i = 0; i < 2; ++i) {
    if (legs[i]->interval_samples)
      s.rtt_ms[i] = static_cast<double>(legs[i]->interval_sum_us) / static_cast<double>(legs[i]->interval_samples) / 1000.0;
    legs[i]->interval_samples = 0;
    legs[i]->interval_sum_us = 0;
  }
  s.previous = verdict_;
  s.became_media_over_tcp = !media_over_tcp_ && over_tcp && has_media();
  media_over_tcp_ = media_over_tcp_ || s.became_media_over_tcp;
  s.media = expected_total >= std::max<uint32_t>(1, cfg.min_packets);
  if (s.media) {
    judge(s, over_tcp, cfg);
    verdict_ = s.verdict;
    reasons_ = s.reasons;
    ++intervals_[static_cast<size_t>(verdict_)];
    worst_ = std::max(worst_, verdict_);
  } else {
    s.verdict = verdict_;
    s.reasons = reasons_;
  }
  last_ = s;
  have_last_ = true;
  return s;
}

// The verdict of one interval: bad past any `bad` threshold, degraded past any `degraded` one.
// Jitter is judged on the audio streams when there are any (a video frame's packets leave in a
// paced burst that RFC 3550 jitter counts), else on every stream.
void MediaQuality::judge(Sample& s, bool over_tcp, const QualityConfig& cfg) const {
  double loss = 0, jitter = -1, audio_jitter = -1;
  for (size_t i = 0; i < 2; ++i) {
    if (s.have_loss[i]) loss = std::max(loss, s.loss[i]);
    for (const auto& st : dirs_[i].streams) {
      jitter = std::max(jitter, st.jitter_ms());
      if (st.clock_rate && st.clock_rate != 90000) audio_jitter = std::max(audio_jitter, st.jitter_ms());
    }
  }
  if (audio_jitter >= 0) jitter = audio_jitter;
  double rtt = -1;
  if (client_leg_.samples || peer_leg_.samples)
    rtt = static_cast<double>((client_leg_.samples ? client_leg_.last_us : 0) + (peer_leg_.samples ? peer_leg_.last_us : 0)) / 1000.0;
  Verdict v = Verdict::Good;
  uint8_t reasons = 0;
  auto check = [&](double value, double degraded, double bad, uint8_t reason) {
    if (value < 0 || value < degraded) return;
    reasons |= reason;
    v = std::max(v, value >= bad ? Verdict::Bad : Verdict::Degraded);
  };
  check(loss, cfg.degraded.loss, cfg.bad.loss, kReasonLoss);
  check(jitter, cfg.degraded.jitter_ms, cfg.bad.jitter_ms, kReasonJitter);
  check(rtt, cfg.degraded.rtt_ms, cfg.bad.rtt_ms, kReasonRtt);
  if (over_tcp && cfg.tcp_degrades) {
    reasons |= kReasonTcp;
    v = std::max(v, Verdict::Degraded);
  }
  s.verdict = v;
  s.reasons = reasons;
}

}  // namespace turn
