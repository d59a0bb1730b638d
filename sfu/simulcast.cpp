// Simulcast forwarding: the VP8 payload descriptor, the per-subscription layer rewriter and the
// layer choice (sfu/simulcast.hpp).
#include "sfu/simulcast.hpp"

#include <algorithm>

namespace sfu {

namespace {

// RFC 3550 / RFC 1982 serial number comparison: a is before b.
bool seq_before(uint16_t a, uint16_t b) { return a != b && static_cast<uint16_t>(b - a) < 0x8000; }

}  // namespace

// RFC 7741 4.2: |X|R|N|S|R| PID | then, with X, |I|L|T|K| RSV |, then with I the picture id
// (M bit: 15 bits in two bytes, else 7), with L TL0PICIDX, with T or K |TID|Y| KEYIDX |.
bool Vp8Descriptor::parse(std::span<const uint8_t> payload, Vp8Descriptor& out) {
  out = {};
  if (payload.empty()) return false;
  size_t i = 0;
  uint8_t b0 = payload[i++];
  out.start = (b0 & 0x10) != 0;
  out.partition = b0 & 0x0F;
  if (b0 & 0x80) {
    if (i >= payload.size()) return false;
    uint8_t x = payload[i++];
    out.has_picture_id = (x & 0x80) != 0;
    out.has_tl0picidx = (x & 0x40) != 0;
    bool tid_or_key = (x & 0x30) != 0;
    if (out.has_picture_id) {
      if (i >= payload.size()) return false;
      out.picture_id_offset = i;
      out.long_picture_id = (payload[i] & 0x80) != 0;
      if (out.long_picture_id) {
        if (i + 1 >= payload.size()) return false;
        out.picture_id = static_cast<uint16_t>((payload[i] & 0x7F) << 8 | payload[i + 1]);
        i += 2;
      } else {
        out.picture_id = payload[i] & 0x7F;
        i += 1;
      }
    }
    if (out.has_tl0picidx) {
      if (i >= payload.size()) return false;
      out.tl0picidx_offset = i;
      out.tl0picidx = payload[i++];
    }
    if (tid_or_key) ++i;
  }
  if (i > payload.size()) return false;
  out.size = i;
  return true;
}

void Vp8Descriptor::write(std::span<uint8_t> payload, uint16_t new_picture_id, uint8_t new_tl0picidx) const {
  if (has_picture_id && payload.size() >= size) {
    if (long_picture_id) {
      payload[picture_id_offset] = static_cast<uint8_t>(0x80 | ((new_picture_id >> 8) & 0x7F));
      payload[picture_id_offset + 1] = static_cast<uint8_t>(new_picture_id & 0xFF);
    } else {
      payload[picture_id_offset] = static_cast<uint8_t>(new_picture_id & 0x7F);
    }
  }
  if (has_tl0picidx && payload.size() >= size) payload[tl0picidx_offset] = new_tl0picidx;
}

void LayerForwarder::switch_to(const LayerPacket& p, int64_t now_ms) {
  if (!started_) {
    // The first layer forwarded: zero offsets, so a single-layer track passes unchanged.
    seq_offset_ = 0;
    ts_offset_ = 0;
    pid_offset_ = 0;
    tl0_offset_ = 0;
    started_ = true;
  } else {
    // The new layer continues where the subscriber's stream stopped: the next sequence number,
    // a timestamp advanced by the time since the last packet (at least one tick), the next
    // picture id and TL0PICIDX.
    seq_offset_ = static_cast<uint16_t>(last_out_seq_ + 1 - p.sequence);
    int64_t gap_ms = std::max<int64_t>(now_ms - last_out_ms_, 1);
    auto ticks = static_cast<uint32_t>(gap_ms * static_cast<int64_t>(p.clock_rate) / 1000);
    ts_offset_ = last_out_ts_ + std::max<uint32_t>(ticks, 1) - p.timestamp;
    if (p.vp8 && p.vp8->has_picture_id) pid_offset_ = static_cast<uint16_t>(last_out_pid_ + 1 - p.vp8->picture_id);
    if (p.vp8 && p.vp8->has_tl0picidx) tl0_offset_ = static_cast<uint8_t>(last_out_tl0_ + 1 - p.vp8->tl0picidx);
    ++switches_;
  }
  current_ = p.layer;
  switch_in_seq_ = p.sequence;
  switch_out_seq_ = static_cast<uint16_t>(p.sequence + seq_offset_);
}

bool LayerForwarder::on_packet(const LayerPacket& p, int64_t now_ms, LayerOutput& out) {
  if (target_ == kNone) return false;
  // Switch to the target on its keyframe; the very first layer may start anywhere (a single-layer
  // track is forwarded from its first packet, its decoder asks for a keyframe itself).
  if (p.layer == target_ && p.layer != current_ && (p.keyframe || !started_)) switch_to(p, now_ms);
  if (p.layer != current_) return false;
  if (seq_before(p.sequence, switch_in_seq_)) return false;  // from before the switch: the subscriber never had its frame
  out.sequence = static_cast<uint16_t>(p.sequence + seq_offset_);
  out.timestamp = p.timestamp + ts_offset_;
  if (p.vp8) {
    uint16_t mask = p.vp8->long_picture_id ? 0x7FFF : 0x7F;
    out.picture_id = static_cast<uint16_t>((p.vp8->picture_id + pid_offset_) & mask);
    out.tl0picidx = static_cast<uint8_t>(p.vp8->tl0picidx + tl0_offset_);
  }
  if (!sent_any_ || seq_before(last_out_seq_, out.sequence)) {
    sent_any_ = true;
    last_out_seq_ = out.sequence;
    last_out_ts_ = out.timestamp;
    if (p.vp8 && p.vp8->has_picture_id) last_out_pid_ = out.picture_id;
    if (p.vp8 && p.vp8->has_tl0picidx) last_out_tl0_ = out.tl0picidx;
  }
  last_out_ms_ = now_ms;
  return true;
}

std::optional<uint16_t> LayerForwarder::source_sequence(uint16_t out_sequence) const {
  if (current_ == kNone || seq_before(out_sequence, switch_out_seq_) || seq_before(last_out_seq_, out_sequence))
    return std::nullopt;
  return static_cast<uint16_t>(out_sequence - seq_offset_);
}

int choose_layer(std::span<const LayerOffer> layers, uint64_t budget_bps, int max_layer, int current) {
  int lowest = LayerForwarder::kNone, best = LayerForwarder::kNone;
  int top = std::min<int>(max_layer, static_cast<int>(layers.size()) - 1);
  for (int i = 0; i <= top; ++i) {
    const auto& l = layers[static_cast<size_t>(i)];
    if (!l.active) continue;
    if (lowest == LayerForwarder::kNone) lowest = i;
    // Staying needs the layer's rate; going up needs 15% headroom above it.
    uint64_t need = i > current ? l.bitrate_bps + l.bitrate_bps * 15 / 100 : l.bitrate_bps;
    if (need <= budget_bps) best = i;
  }
  return best != LayerForwarder::kNone ? best : lowest;
}

}  // namespace sfu
