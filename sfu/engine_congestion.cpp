// Engine: transport-wide congestion control (draft-holmer-rmcat-transport-wide-cc-extensions-01).
// Toward publishers: the arrival of every packet carrying a transport-wide sequence number is
// recorded and reported every 100 ms (TwccRecorder), so the browser's own estimator (GCC) sets
// what it sends. Toward subscribers: every forwarded packet carries our own transport-wide
// sequence number, and the subscriber's feedback drives a send-side estimate (SendSideBwe, GCC's
// delay- and loss-based controllers) that picks its layers; REMB when it sends no feedback.
#include "sfu/engine_impl.hpp"

namespace sfu {

namespace {
constexpr int64_t kProbeProofMs = 1'000;  // a probe's rate acknowledged this long: the path carries it
}  // namespace

void Engine::Impl::record_arrival(Participant& p, const Track& t, const RtpPacket& pkt, int64_t now_ms) {
  if (!t.twcc_ext_id) return;
  auto seq = transport_seq(pkt, t.twcc_ext_id);
  if (!seq) return;
  if (!p.twcc_in) p.twcc_in = std::make_unique<TwccRecorder>(p.local_ssrc, pkt.ssrc);
  p.twcc_in->record(*seq, now_ms * 1000);
}

void Engine::Impl::transport_feedback(Participant& p, int64_t now_ms) {
  if (!p.twcc_in || !p.lifecycle.srtp_ready || !p.addr || !p.twcc_in->due(now_ms * 1000)) return;
  // One datagram's worth; what does not fit stays pending for the next tick.
  size_t n = p.twcc_in->build(now_ms * 1000, std::span<uint8_t>(out).first(TwccRecorder::kMaxPacketSize));
  send_rtcp(p, n);
}

SendSideBwe& Engine::Impl::bwe_of(Participant& p) {
  if (!p.bwe) {
    BweConfig c;
    c.start_bps = static_cast<int64_t>(kStartBudgetBps);  // as choose_layers() assumes before any feedback
    p.bwe = std::make_unique<SendSideBwe>(c);
  }
  return *p.bwe;
}

void Engine::Impl::stamp_sent(Participant& to, const Subscription& sub, size_t n, int64_t now_ms) {
  if (!sub.twcc_ext_id) return;
  uint16_t seq = to.transport_seq;
  if (!set_transport_seq(std::span<uint8_t>(out).first(n), sub.twcc_ext_id, seq)) return;
  ++to.transport_seq;
  bwe_of(to).on_sent(seq, now_ms * 1000, n);
}

void Engine::Impl::on_transport_cc(Participant& p, const RtcpPacket& pkt, int64_t now_ms) {
  TwccFeedback fb;
  if (!p.bwe || TwccFeedback::parse(pkt, fb) != RtcpError::None) return;
  if (p.bwe->on_feedback(fb, now_ms * 1000) == 0) return;
  // A probe got through: what was acknowledged for a second, with no overuse, is what the path
  // carries (a second: a shaper's bucket lets a short burst through faster than its rate).
  auto acked = p.bwe->acked_bps();
  bool through = p.probe.target_bps && acked && p.bwe->state() != BandwidthUsage::Overusing &&
                 static_cast<uint64_t>(*acked) * 10 >= p.probe.target_bps * 9;
  if (!through) p.probe.through_since_ms = 0;
  else if (p.probe.through_since_ms == 0) p.probe.through_since_ms = now_ms;
  else if (now_ms - p.probe.through_since_ms >= kProbeProofMs) p.bwe->on_probe_result(*acked);
  p.bandwidth.estimate_bps = static_cast<uint64_t>(p.bwe->estimate_bps());
  p.bandwidth.updated_ms = now_ms;
}

void Engine::Impl::on_remb(Participant& p, uint64_t bps, int64_t now_ms) {
  // A subscriber with transport-wide feedback gets REMB only as the estimator's fallback.
  if (p.bwe) {
    p.bwe->on_remb(bps, now_ms * 1000);
    bps = static_cast<uint64_t>(p.bwe->estimate_bps());
  }
  p.bandwidth.estimate_bps = bps;
  p.bandwidth.updated_ms = now_ms;
}

namespace {
constexpr int64_t kProbeBackoffMs = 4'000;   // after the estimate saw overuse while probing
constexpr uint8_t kPaddingBytes = 224;       // per padding packet, as libwebrtc's
constexpr size_t kMaxPaddingPerTick = 16;    // packets per tick (50 ms): at most ~570 kbit/s of padding
}  // namespace

// While choose_layers() holds a subscriber below the layers it wants for lack of estimate, and the
// estimate comes from its transport-wide feedback, the gap between what it is sent and what the
// next layers need is filled with padding on an RTX stream: if the path carries it, the feedback
// shows it and the estimate rises (GCC caps increases near what is acknowledged, so without this
// a subscriber held at a low layer would stay there). Overuse while probing stops it for a while.
void Engine::Impl::probe(Participant& p, int64_t now_ms) {
  auto& pr = p.probe;
  if (!p.bwe || pr.target_bps == 0 || !p.lifecycle.srtp_ready || !p.addr || now_ms < pr.backoff_until_ms) return;
  if (p.bwe->state() == BandwidthUsage::Overusing) {
    pr.backoff_until_ms = now_ms + kProbeBackoffMs;
    return;
  }
  if (static_cast<uint64_t>(p.bwe->estimate_bps()) >= pr.target_bps || pr.out_rate_bps >= pr.target_bps) return;
  Subscription* via = nullptr;
  for (auto& [_, sub] : p.receiving)
    if (sub->rtx.payload_type && sub->twcc_ext_id && sub->twcc_ext_id <= 14 && sub->packets) via = sub.get();
  if (!via) return;
  // Aim a little over the target: the acknowledged rate, smoothed, settles just under what is sent.
  uint64_t bytes = (pr.target_bps + pr.target_bps / 10 - pr.out_rate_bps) / 8 * kTickMs / 1000;
  for (size_t i = 0; i < kMaxPaddingPerTick && bytes >= kPaddingBytes; ++i, bytes -= kPaddingBytes) {
    size_t n = build_padding(out, via->rtx, 0, via->twcc_ext_id, kPaddingBytes);
    if (n == 0) return;
    stamp_sent(p, *via, n, now_ms);
    size_t len = n;
    if (p.srtp.outbound.protect_rtp(out, len) != SrtpError::None) return;
    p.bytes_out += len;
    sink.send_media(*p.addr, {out.data(), len});
    stats.probe_padding_bytes.add(len);
  }
}

}  // namespace sfu
