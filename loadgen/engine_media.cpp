// The engine's media (engine.hpp): once a call's two allocations can reach each other, RTP-shaped
// streams both ways (streams_for_call), each packet wrapped for the other side's relayed address;
// what arrives is matched to its stream by SSRC and measured (RFC 3550 A.3, A.8) by a Receiver.
#include <algorithm>
#include <array>

#include "loadgen/engine_impl.hpp"
#include "loadgen/prng.hpp"

namespace loadgen {
namespace {

// A distinct SSRC per call, direction and stream (SplitMix64 of the three).
uint32_t ssrc_for(uint32_t call, int dir, size_t stream) {
  uint64_t z = (static_cast<uint64_t>(call) << 8 | static_cast<uint64_t>(dir) << 4 | stream) + prng::kGamma;
  return static_cast<uint32_t>(prng::mix(z)) | 1u;
}

// Packets one source may send in one wakeup (a video keyframe is a few dozen).
constexpr int kBurstBound = 256;

// A per-call start offset in [0, kCallPhaseUs) drawn from the seed and the call id, on top of the
// sources' own phase: calls set up in the same instant do not send in lockstep, so a queue's tail
// drops do not always hit the same calls.
constexpr uint64_t kCallPhaseUs = 20000;

uint64_t call_phase_us(uint64_t seed, uint32_t call) {
  return prng::mix(seed + prng::kGamma * (static_cast<uint64_t>(call) + 1)) % kCallPhaseUs;
}

}  // namespace

// Setup is done: the streams of the profile start both ways (none with --profile none: the call
// is then held, its allocations, permissions and channels refreshed, until the plan ends).
void Engine::Impl::start_media(Call& c, int64_t now_us) {
  --setting_up;
  c.state = CallState::Media;
  c.media_start_us = now_us;
  c.rec.setup_ms = static_cast<double>(now_us - c.started_us) / 1000.0;
  ++iv_setups;
  ++total_setups;
  iv_setup_ms.push_back(c.rec.setup_ms);
  auto kinds = streams_for_call(cfg.profile, c.id);
  uint64_t start = static_cast<uint64_t>(now_us - t0_us) + call_phase_us(cfg.seed, c.id);
  for (int d = 0; d < 2; ++d) {
    Direction& dir = c.dir[d];
    dir.last_rx_us = now_us;
    for (size_t k = 0; k < kinds.size(); ++k) {
      uint32_t ssrc = ssrc_for(c.id, d, k);
      dir.ssrcs.push_back(ssrc);
      dir.sources.emplace_back(kinds[k], ssrc, c.id, cfg.seed ^ ssrc, start, cfg.max_packet);
      dir.receivers.emplace_back(clock_rate(kinds[k]));
      int64_t due = t0_us + static_cast<int64_t>(dir.sources.back().next_due_us());
      timers.push(Timer{due, c.local, 1, static_cast<uint8_t>(d), static_cast<uint8_t>(k)});
      if (cfg.rtcp_interval_ms > 0)
        c.rec.rtcp.push_back(RtcpStreamRecord{static_cast<uint8_t>(d), ssrc, clock_rate(kinds[k]), 0, {}});
    }
    // The first report one interval after the media's start (the call's phase keeps calls apart).
    if (cfg.rtcp_interval_ms > 0 && !kinds.empty())
      timers.push(Timer{t0_us + static_cast<int64_t>(start) + cfg.rtcp_interval_ms * 1000, c.local, 3,
                        static_cast<uint8_t>(d), 0});
  }
}

// RFC 3550 6.4.2: the receiving side of direction d (side 1 - d) sends a plain receiver report,
// one report block per stream it receives (at most 31), to the sending side's relayed address,
// through both relays like the media. Its own SSRC is that of the first stream it sends.
void Engine::Impl::send_rtcp(Call& c, int d, int64_t now_us) {
  Direction& dir = c.dir[d];
  const int side = 1 - d;
  if (drain_until_us || dir.receivers.empty()) return;
  const size_t n = std::min<size_t>(dir.receivers.size(), 31);
  std::array<uint8_t, turn::rtp::RtcpHeader::kSize + 31 * turn::rtp::ReportBlock::kSize> rr{};
  turn::rtp::RtcpHeader h;
  h.count = static_cast<uint8_t>(n);
  h.packet_type = turn::rtp::RtcpHeader::kReceiverReport;
  const size_t len = turn::rtp::RtcpHeader::kSize + n * turn::rtp::ReportBlock::kSize;
  h.length_words = static_cast<uint16_t>(len / 4 - 1);
  h.ssrc = c.dir[side].ssrcs.empty() ? 0 : c.dir[side].ssrcs[0];
  h.write(rr);
  const double t_s = static_cast<double>(now_us - t0_us) / 1e6;
  for (size_t k = 0; k < n; ++k) {
    turn::rtp::ReportBlock b = dir.receivers[k].report_block(dir.ssrcs[k]);
    b.write(std::span<uint8_t>(rr).subspan(turn::rtp::RtcpHeader::kSize + k * turn::rtp::ReportBlock::kSize));
    for (auto& r : c.rec.rtcp) {
      if (r.direction != d || r.ssrc != b.ssrc) continue;
      if (r.recent.size() == RtcpStreamRecord::kKept) r.recent.erase(r.recent.begin());
      r.recent.push_back(RtcpBlockRecord{b.fraction_lost, b.cumulative_lost, b.highest_seq, b.jitter, t_s});
      ++r.reports;
    }
  }
  size_t w = c.side[side].wrap(c.side[d].relayed(), std::span<const uint8_t>(rr.data(), len), wire);
  if (w) sink.send(flow_of(c, side), std::span<const uint8_t>(wire.data(), w));
  timers.push(Timer{now_us + cfg.rtcp_interval_ms * 1000, c.local, 3, static_cast<uint8_t>(d), 0});
}

// Sends what source k of direction d has due, echoing the last probe the reverse direction's
// receiver (on the same side) got, then waits for its next packet.
void Engine::Impl::send_media(Call& c, int d, size_t k, int64_t now_us) {
  Direction& dir = c.dir[d];
  if (k >= dir.sources.size() || drain_until_us) return;
  MediaSource& src = dir.sources[k];
  const auto& back = c.dir[1 - d].receivers;
  const Receiver& echo = back[k < back.size() ? k : 0];
  uint64_t now = static_cast<uint64_t>(now_us - t0_us);
  const turn::Endpoint& peer = c.side[1 - d].relayed();
  for (int i = 0; i < kBurstBound && src.next_due_us() <= now; ++i) {
    uint64_t echo_sent = echo.last_probe_sent_us();
    uint64_t hold = echo_sent ? now - std::min(now, echo.last_probe_arrival_us()) : 0;
    size_t n = src.next(now, echo_sent, static_cast<uint32_t>(std::min<uint64_t>(hold, UINT32_MAX)), payload);
    if (n == 0) break;
    size_t w = c.side[d].wrap(peer, std::span<const uint8_t>(payload.data(), n), wire);
    if (w == 0) continue;
    sink.send(flow_of(c, d), std::span<const uint8_t>(wire.data(), w));
    ++tx_packets;
    ++run_tx;
    ++dir.sent_total;
    tx_bytes += n;
    iv_lag.add(src.last_lag_us());
    run_lag.add(src.last_lag_us());
  }
  int64_t due = t0_us + static_cast<int64_t>(src.next_due_us());
  timers.push(Timer{std::max(due, now_us + 1), c.local, 1, static_cast<uint8_t>(d), static_cast<uint8_t>(k)});
}

// Application data that arrived on `side`'s flow: the other side's direction.
void Engine::Impl::receive_media(Call& c, int side, std::span<const uint8_t> data, int64_t now_us) {
  Direction& dir = c.dir[1 - side];
  // RTCP (the far end's receiver reports, RFC 5761 4's payload types 192-223) is not media.
  if (turn::rtp::classify(data) == turn::rtp::Kind::Rtcp) return;
  RtpHeader h;
  size_t hlen = 0;
  Probe p;
  if (!RtpHeader::parse(data, h, hlen) || !Probe::parse(data.subspan(hlen), p) || p.call_id != c.id) return;
  for (size_t k = 0; k < dir.ssrcs.size(); ++k) {
    if (dir.ssrcs[k] != h.ssrc) continue;
    dir.receivers[k].on_packet(h, p, data.size(), static_cast<uint64_t>(now_us - t0_us));
    dir.last_rx_us = now_us;
    ++rx_packets;
    ++run_rx;
    rx_bytes += data.size();
    return;
  }
}

}  // namespace loadgen
