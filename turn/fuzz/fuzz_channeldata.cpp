// libFuzzer target: the ChannelData decoder; a parsed frame must lie inside the input.
#include "turn/channel_data.hpp"
#include "tests/fuzz/target.hpp"

TURNPIKE_FUZZ_TARGET("turn", channeldata) {
  turn::ChannelData cd;
  if (turn::ChannelData::parse({data, size}, cd) != turn::ChannelData::Error::None) return 0;
  if (cd.data.data() < data || cd.data.data() + cd.data.size() > data + size) FUZZ_FAIL();
  if (cd.channel < 0x4000 || cd.channel > 0x7FFF) FUZZ_FAIL();  // RFC 5766 11
  return 0;
}
