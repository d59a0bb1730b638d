// libFuzzer target: the VP8 payload descriptor (RFC 7741 4.2) and the simulcast layer rewriter.
// A parsed descriptor lies inside the payload and writes back what it read; a stream of packets
// built from the input (layer, sequence step, keyframe flag, target changes) keeps the subscriber's
// sequence numbers continuous for packets forwarded in order from one layer.
#include <array>
#include <optional>
#include <vector>

#include "sfu/simulcast.hpp"
#include "tests/fuzz/target.hpp"

using namespace sfu;

namespace {

void check_descriptor(const uint8_t* data, size_t size) {
  Vp8Descriptor d;
  if (!Vp8Descriptor::parse({data, size}, d)) return;
  if (d.size > size) FUZZ_FAIL();
  if (d.has_picture_id && d.picture_id_offset + (d.long_picture_id ? 2 : 1) > d.size) FUZZ_FAIL();
  if (d.has_tl0picidx && d.tl0picidx_offset >= d.size) FUZZ_FAIL();
  std::vector<uint8_t> copy(data, data + size);
  d.write(copy, d.picture_id, d.tl0picidx);
  Vp8Descriptor again;
  if (!Vp8Descriptor::parse(copy, again) || again.picture_id != d.picture_id || again.tl0picidx != d.tl0picidx) FUZZ_FAIL();
}

void drive_forwarder(const uint8_t* data, size_t size) {
  LayerForwarder f;
  std::array<uint16_t, 3> seq{100, 30000, 65000};
  std::array<uint32_t, 3> ts{0, 1u << 31, 0xFFFFFF00};
  std::array<std::optional<uint16_t>, 3> prev_out;  // the layer's previous packet, if it was forwarded
  int64_t now = 1;
  for (size_t i = 0; i + 1 < size; i += 2) {
    uint8_t a = data[i], b = data[i + 1];
    if (a & 0x80) f.set_target((a >> 4) & 3 ? ((a >> 4) & 3) - 1 : LayerForwarder::kNone);
    auto layer = static_cast<size_t>(a % 3);
    uint16_t step = static_cast<uint16_t>((b & 0x0F) == 0 ? 0xFFF0 : 1);  // mostly in order, sometimes back
    seq[layer] = static_cast<uint16_t>(seq[layer] + step);
    ts[layer] += 3000;
    now += b >> 4;
    LayerPacket p{static_cast<int>(layer), seq[layer], ts[layer], (b & 0x10) != 0, nullptr, 90000};
    LayerOutput out;
    int before = f.current();
    bool sent = f.on_packet(p, now, out);
    if (sent && f.current() != p.layer) FUZZ_FAIL();
    // The next packet of a layer after one forwarded from it, with no switch between: the next number.
    if (sent && step == 1 && before == p.layer && prev_out[layer] && out.sequence != static_cast<uint16_t>(*prev_out[layer] + 1))
      FUZZ_FAIL();
    if (sent && f.source_sequence(out.sequence) && *f.source_sequence(out.sequence) != p.sequence) FUZZ_FAIL();
    if (f.current() != before) prev_out.fill(std::nullopt);
    prev_out[layer] = sent ? std::optional<uint16_t>(out.sequence) : std::nullopt;
  }
}

}  // namespace

TURNPIKE_FUZZ_TARGET("sfu", simulcast) {
  check_descriptor(data, size);
  drive_forwarder(data, size);
  return 0;
}
