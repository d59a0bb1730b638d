// libFuzzer target: the relay-quality analyser (turn/rtp.*, turn/media_quality.*). The input is a
// run of datagrams, each `dir|len_hi|len_lo|bytes`, fed both ways with a rising clock, with an
// interval closed every 16; the figures must stay consistent and bounded.
#include <algorithm>

#include "tests/fuzz/target.hpp"
#include "turn/media_quality.hpp"

TURNPIKE_FUZZ_TARGET("turn", relay_quality) {
  turn::MediaQuality q;
  turn::QualityConfig cfg;
  cfg.max_streams = 4;
  int64_t now = 1'000'000;
  q.begin(now);
  for (size_t off = 0, n = 0; off + 3 <= size; ++n) {
    auto dir = static_cast<turn::MediaQuality::Dir>(data[off] & 1);
    size_t len = size_t{data[off + 1]} << 8 | data[off + 2];
    off += 3;
    len = std::min(len, size - off);
    q.observe(dir, {data + off, len}, now, cfg);
    off += len;
    now += 1000 + (data[off - 1] & 0x7F) * 500;
    if (n % 16 == 15) {
      auto s = q.close_interval(now, (n & 32) != 0, cfg);
      for (double l : s.loss)
        if (l < 0 || l > 1) FUZZ_FAIL();
    }
  }
  for (const auto* d : {&q.direction(turn::MediaQuality::ToPeer), &q.direction(turn::MediaQuality::ToClient)}) {
    if (d->streams.size() > cfg.max_streams) FUZZ_FAIL();
    for (const auto& s : d->streams)
      if (s.received > s.packets || s.lost() > s.expected()) FUZZ_FAIL();
  }
  turn::rtp::Header h;
  size_t hl = 0;
  if (turn::rtp::Header::parse({data, size}, h, hl) && hl + h.padding > size) FUZZ_FAIL();
  return 0;
}
