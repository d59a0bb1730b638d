// libFuzzer target: transport-wide feedback (sfu/twcc.hpp). The input is read as an RTCP compound;
// every transport-cc packet is parsed (its spans inside the packet), expanded (the cursor gives
// exactly status_count statuses, received_count of them received, and consumes exactly the deltas),
// fed to a send-side estimator whose history holds every sequence number (no crash, the estimate
// within its bounds), and its arrivals recorded by a TwccRecorder whose feedback must parse back.
#include <array>
#include <vector>

#include "sfu/bwe.hpp"
#include "sfu/twcc.hpp"
#include "tests/fuzz/target.hpp"

using namespace sfu;

namespace {

bool inside(std::span<const uint8_t> s, std::span<const uint8_t> outer) {
  return s.empty() || (s.data() >= outer.data() && s.data() + s.size() <= outer.data() + outer.size());
}

void check_recorder(const std::vector<TwccPacketStatus>& statuses, int64_t reference_us) {
  TwccRecorder rec(1, 2, 1024);
  size_t recorded = 0;
  for (const auto& s : statuses)
    if (s.received) {
      rec.record(s.seq, reference_us + s.arrival_us);
      ++recorded;
    }
  std::array<uint8_t, 4 * TwccRecorder::kMaxPacketSize> buf;
  for (int round = 0; round < 64 && rec.pending(); ++round) {
    const size_t n = rec.build(round, buf);
    if (n == 0) FUZZ_FAIL();
    RtcpReader r({buf.data(), n});
    RtcpPacket p;
    while (r.next(p)) {
      TwccFeedback fb;
      if (p.raw.size() > TwccRecorder::kMaxPacketSize || TwccFeedback::parse(p, fb) != RtcpError::None) FUZZ_FAIL();
    }
    if (r.error() != RtcpError::None) FUZZ_FAIL();
  }
  if (recorded > 0 && rec.pending()) FUZZ_FAIL();
}

}  // namespace

TURNPIKE_FUZZ_TARGET("sfu", twcc) {
  const std::span<const uint8_t> in(data, size);
  static SendSideBwe bwe = [] {
    SendSideBwe b(BweConfig{}, 32768);  // 32768..65535 sent: the half of the numbers feedback can name
    for (uint32_t s = 0; s < 65536; s += 1) b.on_sent(static_cast<uint16_t>(s), int64_t{s} * 1000, 1200);
    return b;
  }();
  static int64_t now = 0;
  RtcpReader reader(in);
  RtcpPacket p;
  std::vector<TwccPacketStatus> statuses;
  while (reader.next(p)) {
    TwccFeedback fb;
    if (TwccFeedback::parse(p, fb) != RtcpError::None) continue;
    if (!inside(fb.chunks, p.raw) || !inside(fb.deltas, p.raw) || fb.status_count == 0) FUZZ_FAIL();
    statuses.assign(fb.status_count + size_t{1}, TwccPacketStatus{});
    statuses.resize(fb.expand(statuses));
    if (statuses.size() != fb.status_count) FUZZ_FAIL();
    size_t received = 0;
    for (size_t i = 0; i < statuses.size(); ++i) {
      if (statuses[i].seq != static_cast<uint16_t>(fb.base_seq + i)) FUZZ_FAIL();
      received += statuses[i].received;
    }
    if (received != fb.received_count) FUZZ_FAIL();
    now += 50000;
    bwe.on_feedback(fb, now);
    bwe.on_remb(static_cast<uint64_t>(fb.reference_time) * 1000, now);
    if (bwe.estimate_bps() < 30'000 || bwe.estimate_bps() > 10'000'000) FUZZ_FAIL();
    check_recorder(statuses, fb.reference_us());
  }
  return 0;
}
