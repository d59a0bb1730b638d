// libFuzzer: diag::LifetimeProbe driven by arbitrary answers and arbitrary timing. Input: records of
//   [socket][txid pick][time step][length: 2 bytes][datagram]
// handed to on_datagram when the probe waits. socket: low 7 bits pick the checker (0) or one of the
// open trial sockets; the high bit makes the datagram come from a stranger instead of the server;
// 0xFF interrupts the probe instead (Ctrl-C). A datagram of 20+ bytes gets the transaction id of one
// of the last 16 transmissions patched in (txid pick: 0 the latest), so that the fuzzer reaches the
// answer handling of every stage; the clock moves by `time step` x 20 ms first. A byte 0xFE where a
// record would start makes the next socket the probe opens fail. Out of input, time runs out.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include "common/json_text.hpp"
#include "diag/lifetime_probe.hpp"
#include "tests/fuzz/target.hpp"

namespace {
const turn::Endpoint kServer = *turn::Endpoint::parse("127.0.0.1:3478");
const turn::Endpoint kStranger = *turn::Endpoint::parse("127.0.0.2:3479");
const turn::IpAddress kLocal = *turn::IpAddress::parse("192.0.2.10");
}  // namespace

TURNPIKE_FUZZ_TARGET("diag", lifetime_probe) {
  diag::LifetimeConfig cfg;
  cfg.server = kServer;
  cfg.min_ms = 100;
  cfg.max_ms = 3200;
  cfg.precision_ms = 100;
  cfg.parallel = 4;
  cfg.split = 3;
  cfg.timeout_ms = 600;
  cfg.max_trials = 40;
  uint32_t seq = 0;
  cfg.new_transaction_id = [&seq] {
    turn::stun::TransactionId t{};
    ++seq;
    std::memcpy(t.data(), &seq, sizeof seq);
    return t;
  };
  size_t progress_bytes = 0;
  cfg.progress = [&progress_bytes](const std::string& s) {
    progress_bytes += s.size();
#ifdef LIFETIME_FUZZ_DEBUG  // a replay build that shows where an input goes
    std::printf("  %s\n", s.c_str());
#endif
  };
  diag::LifetimeProbe probe(cfg);

  int64_t now_ms = 1000;
  std::deque<turn::stun::TransactionId> recent;
  std::vector<diag::LifetimeSocket> open;
  std::vector<uint8_t> buf;
  size_t off = 0;
  for (int steps = 0; steps < 20000 && !probe.done(); ++steps) {
    diag::LifetimeAction a = probe.next_action(now_ms);
    if (a.kind == diag::LifetimeAction::Kind::Done) break;
    if (a.kind == diag::LifetimeAction::Kind::Open) {
      bool fail = off < size && data[off] == 0xFE;
      off += fail;
      const turn::Endpoint local{kLocal, static_cast<uint16_t>(40000 + a.socket % 20000)};
      probe.on_opened(a.socket, fail ? std::nullopt : std::optional<turn::Endpoint>(local), now_ms);
      if (!fail) open.push_back(a.socket);
      continue;
    }
    if (a.kind == diag::LifetimeAction::Kind::Close) {
      std::erase(open, a.socket);
      continue;
    }
    if (a.kind == diag::LifetimeAction::Kind::Send) {
      if (a.bytes.size() >= 20) {
        turn::stun::TransactionId t;
        std::memcpy(t.data(), a.bytes.data() + 8, 12);
        recent.push_back(t);
        if (recent.size() > 16) recent.pop_front();
      }
      continue;
    }
    if (off + 5 > size) {  // out of input: let time run out
      now_ms = std::max(now_ms, a.until_ms);
      continue;
    }
    const uint8_t sock = data[off], pick = data[off + 1], step = data[off + 2];
    size_t len = (size_t{data[off + 3]} << 8 | data[off + 4]) % 1500;
    off += 5;
    len = std::min(len, size - off);
    buf.assign(data + off, data + off + len);
    off += len;
    now_ms += int64_t{step} * 20;
    if (sock == 0xFF) {
      probe.interrupt(now_ms);
      continue;
    }
    if (buf.size() >= 20 && !recent.empty())
      std::memcpy(buf.data() + 8, recent[recent.size() - 1 - pick % recent.size()].data(), 12);
    const uint8_t which = sock & 0x7F;
    diag::LifetimeSocket s = which == 0 || open.size() < 2 ? diag::kCheckerSocket : open[1 + which % (open.size() - 1)];
    probe.on_datagram(s, sock & 0x80 ? kStranger : kServer, buf, now_ms);
  }
  const diag::LifetimeReport& r = probe.report();
  volatile size_t sink = turnpike::safe_dump(diag::to_json(r)).size() + diag::to_text(r).size() + progress_bytes;
  (void)sink;
#ifdef LIFETIME_FUZZ_DEBUG
  std::printf("%s\n", diag::to_text(r).c_str());
#endif
  return 0;
}
