// The synthetic participant's SDP offer (sfu_offer.hpp).
#include "loadgen/sfu_offer.hpp"

namespace loadgen::sfuload {
namespace {

void section(const OfferSpec& spec, const OfferSection& s, std::string& o) {
  const std::string pt = std::to_string(s.video ? kVp8PayloadType : kOpusPayloadType);
  o += std::string("m=") + (s.video ? "video" : "audio") + " 9 UDP/TLS/RTP/SAVPF " + pt + "\r\n";
  o += "c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n";
  o += "a=ice-ufrag:" + spec.ufrag + "\r\na=ice-pwd:" + spec.pwd + "\r\na=ice-options:trickle\r\n";
  o += "a=fingerprint:sha-256 " + spec.fingerprint + "\r\na=setup:actpass\r\n";
  o += "a=mid:" + s.mid + "\r\n";
  o += s.send ? "a=sendonly\r\n" : "a=recvonly\r\n";
  if (s.send) o += "a=msid:" + spec.cname + " " + spec.cname + "-" + s.mid + "\r\n";
  o += "a=rtcp-mux\r\na=rtcp-rsize\r\n";
  if (s.video) {
    o += "a=rtpmap:" + pt + " VP8/90000\r\na=rtcp-fb:" + pt + " nack\r\na=rtcp-fb:" + pt + " nack pli\r\n";
  } else {
    o += "a=rtpmap:" + pt + " opus/48000/2\r\na=fmtp:" + pt + " minptime=10;useinbandfec=1\r\n";
  }
  if (s.send) {
    const std::string ssrc = "a=ssrc:" + std::to_string(s.ssrc);
    o += ssrc + " cname:" + spec.cname + "\r\n";
    o += ssrc + " msid:" + spec.cname + " " + spec.cname + "-" + s.mid + "\r\n";
  }
}

}  // namespace

std::string build_offer(const OfferSpec& spec) {
  std::string o = "v=0\r\no=- " + std::to_string(spec.session_id) + " " + std::to_string(spec.version) +
                  " IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE";
  for (const auto& s : spec.sections) o += " " + s.mid;
  o += "\r\na=msid-semantic: WMS " + spec.cname + "\r\n";
  for (const auto& s : spec.sections) section(spec, s, o);
  return o;
}

}  // namespace loadgen::sfuload
