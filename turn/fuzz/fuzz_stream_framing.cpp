// libFuzzer target: stream framing (turn/stream_framing.hpp, RFC 8656 12.5). Cuts frames out of the
// input as a stream session does (server/stream_session.cpp), once from the whole input and once from
// reads of varying sizes, and checks that each cut is what the header says and that the way the bytes
// arrive changes nothing.
#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "tests/fuzz/target.hpp"
#include "turn/channel_data.hpp"
#include "turn/stream_framing.hpp"

namespace {

constexpr size_t kMaxFrame = 20 + 0xFFFF;  // the longest frame: a STUN header and a 65535-byte body

struct Cut {
  size_t offset, length;
  bool operator==(const Cut&) const = default;
};

// One frame length, checked against the header it was read from.
size_t checked_length(std::span<const uint8_t> d) {
  const size_t need = turn::stream_frame_length(d);
  if (d.size() < 4) {
    if (need != 0) FUZZ_FAIL();  // too short to tell
    return need;
  }
  if (need != turn::stream_frame_length(d.first(4))) FUZZ_FAIL();  // the first 4 bytes decide
  const size_t len = static_cast<size_t>(d[2]) << 8 | d[3];
  if (d[0] >= 0x80) {
    if (need != SIZE_MAX) FUZZ_FAIL();  // neither STUN nor ChannelData (RFC 7983)
  } else if (d[0] < 0x40) {
    if (need != 20 + len) FUZZ_FAIL();  // STUN: header + body
  } else {
    // ChannelData: padded to 4 on streams, the same size the codec writes.
    if (need != turn::ChannelData::frame_size(static_cast<uint16_t>(len), true) || need % 4 != 0) FUZZ_FAIL();
  }
  if (need != SIZE_MAX && (need < 4 || need > kMaxFrame)) FUZZ_FAIL();
  return need;
}

// A cut frame: a ChannelData frame parses to the data its header announced, inside the frame.
void check_frame(std::span<const uint8_t> frame) {
  if (!turn::ChannelData::looks_like(frame)) return;
  turn::ChannelData cd;
  if (turn::ChannelData::parse(frame, cd) != turn::ChannelData::Error::None) return;
  if (cd.data.size() != (static_cast<size_t>(frame[2]) << 8 | frame[3])) FUZZ_FAIL();
  if (cd.data.data() < frame.data() || cd.data.data() + cd.data.size() > frame.data() + frame.size()) FUZZ_FAIL();
}

// Cuts every whole frame from `d`; stops at the first byte that is neither (the session closes) or
// at a frame not yet complete. `bad` is set in the first case.
std::vector<Cut> cut_all(std::span<const uint8_t> d, bool& bad) {
  std::vector<Cut> cuts;
  size_t off = 0;
  bad = false;
  while (off < d.size()) {
    const size_t need = checked_length(d.subspan(off));
    if (need == SIZE_MAX) {
      bad = true;
      break;
    }
    if (need == 0 || d.size() - off < need) break;
    check_frame(d.subspan(off, need));
    cuts.push_back({off, need});
    off += need;
  }
  return cuts;
}

// The same bytes arriving in reads of 1..16 bytes (sizes taken from the input itself), buffered and
// cut after each read as a stream session does.
std::vector<Cut> cut_in_reads(std::span<const uint8_t> d, bool& bad) {
  std::vector<Cut> cuts;
  std::vector<uint8_t> buf;
  size_t consumed = 0;  // input offset of buf[0]
  bad = false;
  for (size_t pos = 0, i = 0; pos < d.size() && !bad; ++i) {
    const size_t n = std::min<size_t>(1 + d[i % d.size()] % 16, d.size() - pos);
    buf.insert(buf.end(), d.begin() + pos, d.begin() + pos + n);
    pos += n;
    size_t off = 0;
    while (off < buf.size()) {
      const size_t need = checked_length({buf.data() + off, buf.size() - off});
      if (need == SIZE_MAX) {
        bad = true;
        break;
      }
      if (need == 0 || buf.size() - off < need) break;
      cuts.push_back({consumed + off, need});
      off += need;
    }
    buf.erase(buf.begin(), buf.begin() + off);
    consumed += off;
    if (buf.size() > kMaxFrame) FUZZ_FAIL();  // what is kept waits for one frame, never more
  }
  return cuts;
}

}  // namespace

TURNPIKE_FUZZ_TARGET("turn", stream_framing) {
  bool bad_whole = false, bad_reads = false;
  const std::vector<Cut> whole = cut_all({data, size}, bad_whole);
  const std::vector<Cut> reads = cut_in_reads({data, size}, bad_reads);
  if (whole != reads || bad_whole != bad_reads) FUZZ_FAIL();
  size_t end = 0;
  for (const Cut& c : whole) {
    if (c.offset != end) FUZZ_FAIL();  // frames follow each other, no byte skipped
    end = c.offset + c.length;
  }
  if (end > size) FUZZ_FAIL();
  return 0;
}
