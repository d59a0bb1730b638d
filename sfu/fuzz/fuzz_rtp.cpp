// libFuzzer target: the RTP view (full and header-only), the per-subscriber rewrite, keyframe
// detection and SRTP unprotect. Every span must lie inside the input; a parsed packet must rewrite,
// and the rewrite must parse back to the same payload, padding, CSRCs and mapped extensions.
#include <array>
#include <cstring>
#include <vector>

#include "sfu/rtp.hpp"
#include "sfu/srtp.hpp"
#include "tests/fuzz/target.hpp"

using namespace sfu;

namespace {

bool inside(std::span<const uint8_t> s, const uint8_t* data, size_t size) {
  return s.empty() || (s.data() >= data && s.data() + s.size() <= data + size);
}

void check_view(const RtpPacket& p, const uint8_t* data, size_t size) {
  if (!inside(p.payload, data, size) || !inside(p.extension_data, data, size)) FUZZ_FAIL();
  if (p.extension_count > RtpPacket::kMaxExtensions) FUZZ_FAIL();
  for (const auto& e : p.extension_list()) {
    if (!inside(e.value, data, size)) FUZZ_FAIL();
    if (e.value.data() < p.extension_data.data() ||
        e.value.data() + e.value.size() > p.extension_data.data() + p.extension_data.size()) FUZZ_FAIL();
  }
  if (p.header_size + p.payload.size() + p.padding_size != size) FUZZ_FAIL();
}

const ExtensionIdMap& test_map() {
  static const ExtensionIdMap m = [] {
    ExtensionIdMap x;
    for (int i = 1; i < 256; ++i) {
      if (i % 3 == 0) continue;                                        // dropped
      x.set(static_cast<uint8_t>(i), static_cast<uint8_t>(i % 5 == 0 ? 20 + i % 200 : 1 + i % 14));
    }
    return x;
  }();
  return m;
}

SrtpSession& inbound() {
  static SrtpSessionPair pair = [] {
    SrtpSessionPair p;
    std::array<uint8_t, 60> km{};
    for (size_t i = 0; i < km.size(); ++i) km[i] = static_cast<uint8_t>(i * 7);
    if (make_srtp_sessions(srtp_profile::kAes128CmSha1_80, km, true, p) != SrtpError::None) FUZZ_FAIL();
    return p;
  }();
  return pair.inbound;
}

}  // namespace

TURNPIKE_FUZZ_TARGET("sfu", rtp) {
  const std::span<const uint8_t> in(data, size);
  if (looks_like_rtp(in) && looks_like_rtcp(in)) FUZZ_FAIL();

  std::vector<uint8_t> copy(in.begin(), in.end());
  copy.resize(size + kSrtpMaxRtpOverhead);
  size_t len = size;
  if (inbound().unprotect_rtp(copy, len) == SrtpError::None && len > size) FUZZ_FAIL();

  RtpPacket h;
  if (RtpPacket::parse_header(in, h) == RtpError::None) {
    if (!inside(h.payload, data, size) || h.header_size + h.payload.size() != size) FUZZ_FAIL();
  }
  RtpPacket p;
  if (RtpPacket::parse(in, p) != RtpError::None) return 0;
  check_view(p, data, size);
  (void)vp8_is_keyframe(p.payload);
  (void)h264_is_keyframe(p.payload);

  static const uint8_t kMid[] = {'m', '3'};
  RtpRewrite r;
  r.ssrc = 0x11223344;
  r.payload_type = 100;
  r.sequence = static_cast<uint16_t>(p.sequence + 1);
  r.timestamp_offset = 0x9E3779B9;
  r.extension_map = &test_map();
  r.publisher_mid_id = 1;
  r.mid_id = 3;
  r.mid = kMid;

  // What should come out: mapped elements in order, then the mid if the publisher sent one.
  std::array<RtpExtension, RtpPacket::kMaxExtensions + 1> want{};
  size_t nwant = 0;
  bool sent_mid = false;
  for (const auto& e : p.extension_list()) {
    if (e.id == 1) { sent_mid = true; continue; }
    const uint8_t to = test_map()[e.id];
    if (to == 0 || to == 3) continue;
    want[nwant++] = RtpExtension{to, e.value};
  }
  if (sent_mid) want[nwant++] = RtpExtension{3, kMid};

  std::vector<uint8_t> out(size + 8 * 1024);
  const size_t n = rewrite(p, out, r);
  if (n == 0 || n + kSrtpRtpTrailerRoom > out.size()) FUZZ_FAIL();
  RtpPacket q;
  if (RtpPacket::parse({out.data(), n}, q) != RtpError::None) FUZZ_FAIL();
  if (q.ssrc != r.ssrc || q.payload_type != r.payload_type || q.sequence != r.sequence ||
      q.timestamp != p.timestamp + r.timestamp_offset || q.marker != p.marker || q.csrc_count != p.csrc_count ||
      q.padding_size != p.padding_size || q.payload.size() != p.payload.size())
    FUZZ_FAIL();
  if (!p.payload.empty() && std::memcmp(q.payload.data(), p.payload.data(), p.payload.size()) != 0) FUZZ_FAIL();
  for (size_t i = 0; i < p.csrc_count; ++i)
    if (q.csrc(i) != p.csrc(i)) FUZZ_FAIL();
  if (q.extension_count != nwant || q.has_extension != (nwant > 0)) FUZZ_FAIL();
  for (size_t i = 0; i < nwant; ++i) {
    const auto& a = q.extensions[i];
    if (a.id != want[i].id || a.value.size() != want[i].value.size()) FUZZ_FAIL();
    if (!a.value.empty() && std::memcmp(a.value.data(), want[i].value.data(), a.value.size()) != 0) FUZZ_FAIL();
  }
  return 0;
}
