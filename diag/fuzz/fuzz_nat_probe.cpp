// libFuzzer: diag::NatProbe driven by arbitrary answers. Input: records of
//   [socket role][source selector][length: 2 bytes][datagram]
// each handed to on_datagram after the probe's next Send; a datagram of 20+ bytes gets the pending
// transaction id patched in, so that the fuzzer reaches the response handling of every test step.
#include <cstdint>
#include <cstring>
#include <span>

#include "diag/nat_probe.hpp"
#include "tests/fuzz/target.hpp"

namespace {
const turn::Endpoint kSources[] = {
    *turn::Endpoint::parse("203.0.113.1:3478"), *turn::Endpoint::parse("203.0.113.2:3479"),
    *turn::Endpoint::parse("203.0.113.2:3478"), *turn::Endpoint::parse("203.0.113.1:3479"),
    *turn::Endpoint::parse("198.51.100.9:40000"),
};
}  // namespace

TURNPIKE_FUZZ_TARGET("diag", nat_probe) {
  diag::NatProbeConfig cfg;
  cfg.server = kSources[0];
  cfg.local[0] = turn::Endpoint::parse("192.0.2.10:40000");
  cfg.local[1] = turn::Endpoint::parse("192.0.2.10:40001");
  cfg.local[2] = turn::Endpoint::parse("192.0.2.10:40002");
  uint8_t seq = 0;
  cfg.new_transaction_id = [&seq] {
    turn::stun::TransactionId t{};
    t[0] = ++seq;
    return t;
  };
  diag::NatProbe probe(cfg);
  int64_t now_ms = 1000;
  turn::stun::TransactionId pending{};
  std::vector<uint8_t> buf;
  size_t off = 0;
  for (int steps = 0; steps < 200 && !probe.done(); ++steps) {
    auto a = probe.next_action(now_ms);
    if (a.kind == diag::Action::Kind::Done) break;
    if (a.kind == diag::Action::Kind::Send) {
      if (a.transmit.bytes.size() >= 20) std::memcpy(pending.data(), a.transmit.bytes.data() + 8, 12);
      continue;
    }
    if (off + 4 > size) {  // out of input: let time run out
      now_ms = a.until_ms + 1;
      probe.on_timeout(now_ms);
      continue;
    }
    auto role = static_cast<diag::SocketRole>(data[off] % 4);
    const auto& from = kSources[data[off + 1] % std::size(kSources)];
    size_t len = (size_t{data[off + 2]} << 8 | data[off + 3]) % 1500;
    off += 4;
    len = std::min(len, size - off);
    buf.assign(data + off, data + off + len);
    off += len;
    if (buf.size() >= 20) std::memcpy(buf.data() + 8, pending.data(), 12);
    if (role == diag::SocketRole::Tcp && len == 0) probe.on_transport_error(role, now_ms);
    else probe.on_datagram(role, from, buf, now_ms);
    now_ms += 5;
  }
  (void)probe.report();
  return 0;
}
