// The SDP offer a synthetic SFU participant makes (JSEP, RFC 8829 5.2.1, as Chromium's unified plan
// does, reduced to what the SFU reads): one BUNDLE group (RFC 8843) with rtcp-mux, the participant's
// ICE credentials (RFC 8839 5.4), the fingerprint of its certificate (RFC 8122) and setup:actpass
// (RFC 5763 5); a sendonly section per track it publishes (VP8 or Opus, with a=ssrc, RFC 5576) and a
// recvonly section per remote track it subscribes to. Pure text.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace loadgen::sfuload {

inline constexpr uint8_t kVp8PayloadType = 96;
inline constexpr uint8_t kOpusPayloadType = 111;

struct OfferSection {
  std::string mid;
  bool video = true;
  bool send = false;   // sendonly (our track) or recvonly (a remote one)
  uint32_t ssrc = 0;   // sendonly: our SSRC
};

struct OfferSpec {
  std::string ufrag, pwd;      // ours (RFC 8839 5.4: 4+ and 22+ characters)
  std::string fingerprint;     // "AB:CD:..." (sha-256)
  std::string cname;
  uint64_t session_id = 0, version = 1;
  std::vector<OfferSection> sections;
};

std::string build_offer(const OfferSpec& spec);

}  // namespace loadgen::sfuload
