#include "turn/channel_data.hpp"

namespace turn {

ChannelData::Error ChannelData::parse(std::span<const uint8_t> d, ChannelData& out) {
  if (d.size() < kHeaderSize) return Error::Truncated;
  uint16_t ch = static_cast<uint16_t>(d[0] << 8 | d[1]);
  uint16_t len = static_cast<uint16_t>(d[2] << 8 | d[3]);
  if (ch < 0x4000 || ch > 0x7FFF) return Error::BadChannel;
  // RFC 8656 12.5: a length greater than the datagram's payload is malformed and discarded.
  if (len > d.size() - kHeaderSize) return Error::BadLength;
  out.channel = ch;
  out.data = d.subspan(kHeaderSize, len);
  return Error::None;
}

}  // namespace turn
