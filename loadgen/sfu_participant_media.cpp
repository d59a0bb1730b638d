// A synthetic SFU participant's media once SRTP is keyed (sfu_participant.hpp): VP8- and Opus-shaped
// RTP sent at the configured rate, sender and receiver reports, PLI/FIR answered with a keyframe,
// and what arrives counted per SSRC against what its publisher sent.
#include <algorithm>

#include "loadgen/sfu_offer.hpp"
#include "loadgen/sfu_participant.hpp"
#include "sfu/rtcp.hpp"
#include "sfu/rtp.hpp"

namespace loadgen::sfuload {
namespace {

namespace be = turn::be;
constexpr uint32_t kAudioPps = 50;          // 20 ms Opus frames
constexpr uint32_t kAudioPayload = 80;      // bytes, about 32 kbit/s
constexpr uint32_t kAudioTicks = 960;       // 20 ms at 48 kHz
constexpr size_t kHeader = 12;              // RFC 3550 5.1, no CSRC, no extension
constexpr size_t kMaxReportBlocks = 31;     // RFC 3550 6.4: RC is 5 bits

// RFC 7741 4.2 payload descriptor (S=1, PID 0 on a frame's first packet) and, on that packet, the
// VP8 frame tag (RFC 6386 9.1): P=0 and the start code with 640x360 for a keyframe, P=1 otherwise.
size_t vp8_head(uint8_t* p, bool first, bool key) {
  p[0] = first ? 0x10 : 0x00;
  if (!first) return 1;
  static constexpr uint8_t kKey[] = {0x10, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01};
  static constexpr uint8_t kDelta[] = {0x11, 0x00, 0x00};
  if (key) {
    std::copy(std::begin(kKey), std::end(kKey), p + 1);
    return 1 + sizeof kKey;
  }
  std::copy(std::begin(kDelta), std::end(kDelta), p + 1);
  return 1 + sizeof kDelta;
}

uint64_t ntp_of(int64_t now_ms) {
  auto ms = static_cast<uint64_t>(now_ms);
  return ((ms / 1000) << 32) | (((ms % 1000) << 32) / 1000);
}

}  // namespace

void Participant::protect_and_send(size_t len, bool rtcp) {
  std::span<uint8_t> b(buf_);
  sfu::SrtpError e = rtcp ? srtp_.outbound.protect_rtcp(b, len) : srtp_.outbound.protect_rtp(b, len);
  if (e == sfu::SrtpError::None) sink_.send_media(cfg_.index, *target_, b.first(len));
}

// Each track's packets due since media started; a stall is caught up at most a tenth of a second at a time.
void Participant::send_media_due(int64_t now_ms) {
  const auto elapsed = static_cast<uint64_t>(std::max<int64_t>(0, now_ms - media_start_ms_));
  for (size_t i = 0; i < send_count_; ++i) {
    SendCounter& c = send_[i];
    const uint64_t pps = c.video ? cfg_.video_pps : kAudioPps;
    const uint64_t due = elapsed * pps / 1000 + 1;
    const uint64_t burst = std::max<uint64_t>(8, pps / 10);
    for (uint64_t n = 0; c.sent < due && n < burst; ++n) send_packet(c, now_ms);
  }
}

void Participant::send_packet(SendCounter& c, int64_t) {
  uint8_t* p = buf_.data();
  const size_t track = c.video ? 0 : 1;
  size_t len = kHeader;
  bool marker = false;
  if (c.video) {
    const uint64_t per_frame = std::max<uint32_t>(1, cfg_.video_pps / std::max<uint32_t>(1, cfg_.fps));
    const bool first = frame_packets_ == 0;
    const bool key = first && keyframe_wanted_;
    if (key) keyframe_wanted_ = false;
    len += vp8_head(p + kHeader, first, key);
    marker = ++frame_packets_ >= per_frame;
    len = std::max<size_t>(len, kHeader + std::min<size_t>(cfg_.video_payload, 1100));
  } else {
    len += kAudioPayload;
  }
  p[0] = 0x80;
  p[1] = static_cast<uint8_t>((c.video ? kVp8PayloadType : kOpusPayloadType) | (marker ? 0x80 : 0));
  be::put16(p + 2, c.next_seq);
  be::put32(p + 4, timestamp_[track]);
  be::put32(p + 8, c.ssrc);
  ++c.sent;  // before the send: an in-process receiver may count it at once
  ++c.next_seq;
  if (!c.video) timestamp_[track] += kAudioTicks;
  if (marker) {
    frame_packets_ = 0;
    timestamp_[track] += 90000 / std::max<uint32_t>(1, cfg_.fps);
  }
  protect_and_send(len, false);
}

// Publishers: a sender report per track (RFC 3550 6.4.1); subscribers: a receiver report with a
// block per SSRC received (6.4.2), up to 31.
void Participant::send_reports(int64_t now_ms) {
  next_report_ms_ = now_ms + cfg_.report_interval_ms;
  std::span<uint8_t> room = std::span<uint8_t>(buf_).first(buf_.size() - sfu::kSrtpMaxRtcpOverhead);
  size_t len = 0;
  if (send_count_ > 0) {
    for (size_t i = 0; i < send_count_; ++i) {
      const SendCounter& c = send_[i];
      sfu::SenderInfo info{ntp_of(now_ms), timestamp_[i], static_cast<uint32_t>(c.sent),
                           static_cast<uint32_t>(c.sent * (c.video ? cfg_.video_payload : kAudioPayload))};
      len += sfu::build_sr(room.subspan(len), c.ssrc, info, {});
    }
  } else {
    std::array<sfu::ReportBlock, kMaxReportBlocks> blocks{};
    size_t n = 0;
    for (const auto& [ssrc, r] : recv_) {
      if (n == blocks.size()) break;
      const uint64_t expected = uint64_t{r.cycles} + r.max_seq - r.base_seq + 1;  // RFC 3550 A.3
      blocks[n].ssrc = ssrc;
      blocks[n].highest_sequence = r.cycles + r.max_seq;
      blocks[n].cumulative_lost = static_cast<int32_t>(std::min<uint64_t>(expected > r.received ? expected - r.received : 0, 0x7FFFFF));
      ++n;
    }
    len = sfu::build_rr(room, cfg_.rtcp_ssrc, std::span(blocks).first(n));
  }
  if (len > 0) protect_and_send(len, true);
}

void Participant::srtp(std::span<uint8_t> d) {
  size_t len = d.size();
  if (sfu::looks_like_rtcp(d)) {
    if (srtp_.inbound.unprotect_rtcp(d, len) == sfu::SrtpError::None) rtcp_in(d.first(len));
    return;
  }
  if (srtp_.inbound.unprotect_rtp(d, len) != sfu::SrtpError::None) {
    ++undecryptable_;
    return;
  }
  rtp_in(d.first(len));
}

// PLI (RFC 4585 6.3.1) or FIR (RFC 5104 4.3.1) for our video: the next frame is a keyframe.
void Participant::rtcp_in(std::span<const uint8_t> d) {
  sfu::RtcpReader reader(d);
  sfu::RtcpPacket pkt;
  while (reader.next(pkt)) {
    auto kind = sfu::kind_of(pkt);
    bool want = false;
    if (kind == sfu::RtcpKind::Pli) {
      sfu::Pli pli;
      want = sfu::Pli::parse(pkt, pli) == sfu::RtcpError::None && send_count_ > 0 && pli.media_ssrc == send_[0].ssrc;
    } else if (kind == sfu::RtcpKind::Fir) {
      want = send_count_ > 0;
    }
    if (want) {
      keyframe_wanted_ = true;
      ++plis_;
    }
  }
}

// RFC 3550 A.1: the extended highest sequence number; the first packet places the count in its
// publisher's sequence (what it had sent then, less those sent after this one).
void Participant::rtp_in(std::span<const uint8_t> d) {
  if (d.size() < kHeader) return;
  const uint16_t seq = be::u16(d.data() + 2);
  const uint32_t ssrc = be::u32(d.data() + 8);
  auto s = senders_.find(ssrc);
  if (s == senders_.end()) {
    ++undecryptable_;
    return;
  }
  auto [it, fresh] = recv_.try_emplace(ssrc);
  ReceiveCounter& r = it->second;
  if (fresh) {
    const SendCounter& c = *s->second;
    r.ssrc = ssrc;
    r.first_index = c.sent - static_cast<uint16_t>(c.next_seq - seq);
    r.max_seq = r.base_seq = seq;
  } else if (static_cast<uint16_t>(seq - r.max_seq) < 0x8000) {
    if (seq < r.max_seq) r.cycles += 65536;
    r.max_seq = seq;
  }
  ++r.received;
}

}  // namespace loadgen::sfuload
