// Simulcast forwarding (RFC 8853 layers, one forwarded per subscriber): the VP8 payload descriptor
// (RFC 7741 4.2), the per-subscription rewriter that makes whichever layer is forwarded one
// continuous stream (SSRC, sequence numbers, timestamps, VP8 picture id and TL0PICIDX), switching
// only on a keyframe, and the choice of layers for one subscriber's bandwidth. Sans-I/O: packets'
// fields and `now` in, decisions out; nothing allocates.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace sfu {

// RFC 7741 4.2: the VP8 payload descriptor's fields and where they are, for rewriting in place.
struct Vp8Descriptor {
  bool start = false;          // S: the first packet of a partition
  uint8_t partition = 0;       // PID
  bool has_picture_id = false; // I
  bool long_picture_id = false;// M: 15 bits, else 7
  uint16_t picture_id = 0;
  size_t picture_id_offset = 0;  // byte offset of the picture id in the payload
  bool has_tl0picidx = false;  // L
  uint8_t tl0picidx = 0;
  size_t tl0picidx_offset = 0;
  size_t size = 0;             // descriptor length in bytes
  // False on a truncated descriptor.
  static bool parse(std::span<const uint8_t> payload, Vp8Descriptor& out);
  // Writes picture id and TL0PICIDX (same widths as parsed) into a copy of the payload.
  void write(std::span<uint8_t> payload, uint16_t new_picture_id, uint8_t new_tl0picidx) const;
};

// What the rewriter needs from one publisher packet.
struct LayerPacket {
  int layer = 0;             // index of the simulcast layer (0: lowest)
  uint16_t sequence = 0;
  uint32_t timestamp = 0;
  bool keyframe = false;     // starts a frame a decoder can start from
  const Vp8Descriptor* vp8 = nullptr;
  uint32_t clock_rate = 90000;
};

// The subscriber's view of a forwarded packet.
struct LayerOutput {
  uint16_t sequence = 0;
  uint32_t timestamp = 0;
  uint16_t picture_id = 0;
  uint8_t tl0picidx = 0;
};

// One subscription's forwarding of a track's layers as one stream. Packets of the current layer
// are forwarded with offsets that keep the subscriber's sequence numbers, timestamps and VP8
// picture ids continuous; a switch to the target layer happens on that layer's keyframe (the caller
// asks the publisher for one while wants_keyframe()). A single-layer track starts with zero offsets,
// so its packets pass unchanged.
class LayerForwarder {
 public:
  static constexpr int kNone = -1;

  // kNone pauses: nothing is forwarded, and the next layer starts on a keyframe, continuing the
  // subscriber's stream.
  void set_target(int layer) {
    target_ = layer;
    if (layer == kNone) current_ = kNone;
  }
  int target() const { return target_; }
  int current() const { return current_; }
  bool wants_keyframe() const { return target_ != kNone && target_ != current_; }
  uint64_t switches() const { return switches_; }
  uint32_t timestamp_offset() const { return ts_offset_; }  // out = in + this, for the current layer

  // Forward this packet? If so `out` holds its rewritten fields. `now_ms` times a switch's
  // timestamp gap.
  bool on_packet(const LayerPacket& p, int64_t now_ms, LayerOutput& out);

  // A subscriber's NACKed sequence number mapped back to the current layer's, if it was forwarded
  // from that layer since the last switch.
  std::optional<uint16_t> source_sequence(uint16_t out_sequence) const;

 private:
  void switch_to(const LayerPacket& p, int64_t now_ms);

  int target_ = kNone, current_ = kNone;
  uint64_t switches_ = 0;
  bool started_ = false;   // a layer has been chosen (offsets set)
  bool sent_any_ = false;
  uint16_t seq_offset_ = 0;       // out = in + offset (mod 2^16)
  uint32_t ts_offset_ = 0;        // out = in + offset (mod 2^32)
  uint16_t pid_offset_ = 0;       // mod 2^15 (or 2^7)
  uint8_t tl0_offset_ = 0;
  uint16_t switch_in_seq_ = 0;    // the current layer's first forwarded sequence number
  uint16_t switch_out_seq_ = 0;
  uint16_t last_out_seq_ = 0;
  uint32_t last_out_ts_ = 0;
  uint16_t last_out_pid_ = 0;
  uint8_t last_out_tl0_ = 0;
  int64_t last_out_ms_ = 0;
};

// One layer of a track as the allocation sees it.
struct LayerOffer {
  uint64_t bitrate_bps = 0;  // measured over the last second (0: not measured yet)
  bool active = false;       // packets arrived recently
};

// RFC 8853 layer choice for one subscription: the highest active layer not above `max_layer`
// whose bitrate fits `budget_bps`, with hysteresis (going up needs 15% headroom above that
// layer's rate); when none fits, the lowest active one (the subscriber never starves). kNone when
// no layer is active.
int choose_layer(std::span<const LayerOffer> layers, uint64_t budget_bps, int max_layer, int current);

}  // namespace sfu
