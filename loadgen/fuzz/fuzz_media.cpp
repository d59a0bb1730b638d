// libFuzzer target: loadgen's RTP header and probe parsers, and the Receiver fed whatever parses
// (with an arrival time taken from the input). The header must lie inside the input; the counters
// must stay consistent (received <= expected unless late packets moved the base; no NaN jitter).
#include <cmath>
#include <cstring>

#include "loadgen/media.hpp"
#include "loadgen/rtp.hpp"
#include "tests/fuzz/target.hpp"

TURNPIKE_FUZZ_TARGET("loadgen", media) {
  // Input: a series of records [u8 len][u32 arrival delta us][len bytes of packet].
  loadgen::Receiver rx(size > 0 && (data[0] & 1) ? 48000 : 90000);
  uint64_t now = 0;
  size_t i = size > 0 ? 1 : 0;
  while (i + 5 <= size) {
    const size_t len = data[i];
    uint32_t delta;
    std::memcpy(&delta, data + i + 1, 4);
    i += 5;
    const size_t n = len < size - i ? len : size - i;
    const std::span<const uint8_t> pkt(data + i, n);
    i += n;
    now += delta;
    loadgen::RtpHeader h;
    size_t hl = 0;
    if (!loadgen::RtpHeader::parse(pkt, h, hl)) continue;
    if (hl < loadgen::RtpHeader::kSize || hl + h.padding > pkt.size()) FUZZ_FAIL();
    if (h.payload_type > 127) FUZZ_FAIL();
    loadgen::Probe p;
    if (!loadgen::Probe::parse(pkt.subspan(hl, pkt.size() - hl - h.padding), p)) continue;
    uint8_t back[loadgen::Probe::kSize];
    if (p.write(back) != loadgen::Probe::kSize || std::memcmp(back, pkt.data() + hl, sizeof back) != 0) FUZZ_FAIL();
    rx.on_packet(h, p, pkt.size(), now);
    const auto& c = rx.counters();
    if (!std::isfinite(c.jitter_ms) || c.jitter_ms < 0) FUZZ_FAIL();
    if (c.received > c.expected) FUZZ_FAIL();
  }
  std::vector<uint32_t> rtt;
  rx.take_rtt_samples(rtt);
  if (rtt.size() > loadgen::Receiver::kMaxRttSamples) FUZZ_FAIL();
  for (uint32_t v : rtt)
    if (v > loadgen::Receiver::kMaxRttUs) FUZZ_FAIL();
  return 0;
}
