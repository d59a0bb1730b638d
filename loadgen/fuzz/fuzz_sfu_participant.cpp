// libFuzzer target: a synthetic SFU participant (sfu_participant.hpp) fed what an SFU could send.
// It joins and gets a valid answer first (so it has the SFU's address, credentials and
// fingerprint), then the input: records [u8 kind][u8 len hi][u8 len lo][bytes], kind even a
// signalling message, odd a datagram from the SFU's address, and ticks. Nothing may crash, what it
// sends goes to the SFU's address or back to where a check came from, and its counters stay bounded.
#include <map>
#include <string>

#include "loadgen/sfu_participant.hpp"
#include "tests/fuzz/target.hpp"

namespace {

using namespace loadgen::sfuload;

struct Sink : ParticipantSink {
  size_t signals = 0, datagrams = 0;
  void send_signal(uint32_t, const std::string&) override { ++signals; }
  void send_media(uint32_t, const turn::Endpoint&, std::span<const uint8_t> d) override {
    if (d.size() > 1500) FUZZ_FAIL();
    ++datagrams;
  }
};

const DtlsClientContext& context() {
  static DtlsClientContext ctx(sfu::Certificate::generate(1'800'000'000));
  return ctx;
}

constexpr const char* kAnswer =
    "{\"type\":\"answer\",\"sdp\":\"v=0\\r\\no=- 1 1 IN IP4 192.0.2.1\\r\\ns=-\\r\\nt=0 0\\r\\na=ice-lite\\r\\n"
    "a=group:BUNDLE 0\\r\\nm=video 9 UDP/TLS/RTP/SAVPF 96\\r\\nc=IN IP4 192.0.2.1\\r\\na=mid:0\\r\\n"
    "a=ice-ufrag:abcd\\r\\na=ice-pwd:abcdefghijklmnopqrstuvwx\\r\\n"
    "a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\\r\\n"
    "a=setup:passive\\r\\na=rtcp-mux\\r\\na=recvonly\\r\\na=rtpmap:96 VP8/90000\\r\\n"
    "a=candidate:1 1 udp 2130706431 192.0.2.1 40000 typ host\\r\\n\"}";

}  // namespace

TURNPIKE_FUZZ_TARGET("loadgen", sfu_participant) {
  Sink sink;
  std::map<uint32_t, const SendCounter*> senders;
  SendCounter other{0x11223344, true, 100, 500, 9};
  senders[other.ssrc] = &other;
  ParticipantConfig cfg;
  cfg.publisher = size > 0 && (data[0] & 1);
  cfg.audio = true;
  cfg.video_ssrc = 1;
  cfg.audio_ssrc = 2;
  Participant p(cfg, context(), sink, senders);
  int64_t now = 1000;
  p.signal_opened(now);
  p.signal_message(R"({"type":"joined","participant":"p1","participants":[{"id":"p9","tracks":[{"id":"p9-0","kind":"video"}]}]})", now);
  p.signal_message(kAnswer, now);
  const turn::Endpoint sfu_ep = *turn::Endpoint::parse("192.0.2.1:40000");
  std::vector<uint8_t> buf;
  for (size_t i = 1; i + 3 <= size;) {
    const uint8_t kind = data[i];
    const size_t len = std::min<size_t>((size_t{data[i + 1]} << 8 | data[i + 2]), size - i - 3);
    buf.assign(data + i + 3, data + i + 3 + len);
    i += 3 + len;
    if (kind & 1) p.media(buf, sfu_ep, now);
    else p.signal_message(std::string(buf.begin(), buf.end()), now);
    now += kind >> 1;
    p.tick(now);
  }
  if (p.subscribed_tracks() > Participant::kMaxRemoteTracks || p.receiving().size() > senders.size()) FUZZ_FAIL();
  return 0;
}
