// libFuzzer target: the SDP parser, serializer and answer builder. Whatever parses must serialize to
// text that parses back to an equal description; every answer built from it must parse; every
// refusal must name its reason. Seeds: corpus/fuzz_sdp/ (Chromium offers); dictionary: fuzz_sdp.dict.
#include <cstdint>
#include <string_view>

#include "sfu/sdp.hpp"
#include "tests/fuzz/target.hpp"

using namespace sfu::sdp;

TURNPIKE_FUZZ_TARGET("sfu", sdp) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Error err;
  auto sd = parse(text, err);
  if (!sd) {
    if (!err || err.message.empty()) FUZZ_FAIL();
    return 0;
  }
  if (err) FUZZ_FAIL();
  if (sd->media.size() > kMaxSections) FUZZ_FAIL();

  // Round trip.
  std::string out = to_string(*sd);
  Error err2;
  auto again = parse(out, err2);
  if (!again || !(*again == *sd)) FUZZ_FAIL();

  // Lookups never fail on any parsed value.
  (void)bundle_tag(*sd);
  (void)ice_credentials(*sd);
  (void)fingerprint(*sd);
  (void)setup(*sd);
  (void)ice_restart(*sd, *again);
  for (const auto& m : sd->media) {
    (void)payload_type(m, "H264");
    (void)extmap_id(m, ext::kMid);
    for (const auto& c : m.codecs) (void)rtx_payload_type(m, c.payload_type);
  }

  // Answers, with options varied by the input.
  AnswerOptions o;
  o.ice = {"TpSf", "turnpikeSfuIcePassword0"};
  o.fingerprint = *Fingerprint::parse("sha-256 00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F");
  o.addresses = {*turn::Endpoint::parse("198.18.0.1:3478"), *turn::Endpoint::parse("[2001:db8::1]:3478")};
  uint8_t bits = size ? data[size / 2] : 0;
  o.transport_cc = bits & 1;
  o.rtx = bits & 2;
  o.red = bits & 4;
  o.ulpfec = bits & 8;
  o.extmap_allow_mixed = bits & 16;
  if (bits & 32) o.video_codecs = {"H264", "VP9", "AV1", "VP8"};
  uint32_t ssrc = 1;
  for (const auto& m : sd->media) {
    if (m.mid.empty()) continue;
    if ((ssrc & 3) == 3) o.reject.push_back(m.mid);
    o.send[m.mid] = SendTrack{ssrc, ssrc + 1, "cname", "stream", "track-" + m.mid};
    ssrc += (bits & 64) ? 0 : 2;  // sometimes the same SSRC for every section
  }
  (void)check_offer(*sd, o);
  auto answer = build_answer(*sd, o);
  Error err3;
  auto parsed_answer = parse(to_string(answer), err3);
  if (!parsed_answer) FUZZ_FAIL();
  if (parsed_answer->media.size() != sd->media.size()) FUZZ_FAIL();
  // One section per SSRC in the answer (RFC 8843 9.2).
  for (size_t i = 0; i < answer.media.size(); ++i)
    for (const auto& s : answer.media[i].ssrcs)
      for (size_t j = i + 1; j < answer.media.size(); ++j)
        for (const auto& t : answer.media[j].ssrcs)
          if (s.ssrc == t.ssrc) FUZZ_FAIL();
  return 0;
}
