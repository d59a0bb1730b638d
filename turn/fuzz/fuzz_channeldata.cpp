// libFuzzer target: the ChannelData decoder; a parsed frame must lie inside the input.
#include "turn/channel_data.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  turn::ChannelData cd;
  if (turn::ChannelData::parse({data, size}, cd) != turn::ChannelData::Error::None) return 0;
  if (cd.data.data() < data || cd.data.data() + cd.data.size() > data + size) __builtin_trap();
  if (cd.channel < 0x4000 || cd.channel > 0x7FFF) __builtin_trap();  // RFC 5766 11
  return 0;
}
