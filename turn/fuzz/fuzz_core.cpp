// libFuzzer target: the whole request path of turn::Core (demux, parse, authenticate, every handler),
// from one client and one peer, with fake relays. Input: a sequence of [len:2][from-peer:1][bytes].
#include <memory>

#include "turn/core.hpp"
#include "tests/fuzz/target.hpp"

using namespace turn;

namespace {
struct NullSink : Sink {
  void to_client(const FiveTuple&, std::span<const std::span<const uint8_t>>) override {}
  void to_peer(uint64_t, const Endpoint&, std::span<const uint8_t>) override {}
};
struct Relays : RelayProvider {
  uint64_t next = 0;
  Error open(const Request&, Opened& o) override {
    o.handle = ++next;
    o.address = Endpoint{IpAddress::v4(0xC6336401), static_cast<uint16_t>(50000 + next % 1000)};
    return Error::None;
  }
  Error open_reserved(const stun::ReservationToken&, bool, Opened&) override { return Error::UnknownToken; }
  void close(uint64_t) override {}
};
}  // namespace

TURNPIKE_FUZZ_TARGET("turn", core) {
  static auto auth = [] {
    AuthConfig ac;
    ac.users = {{"alice", "wonderland"}};
    ac.rest_secrets = {"northwind"};
    return std::make_shared<Authenticator>(ac);
  }();
  static auto policy = std::make_shared<PeerPolicy>();
  NullSink sink;
  Relays relays;
  Core core(CoreConfig{}, auth, policy, std::make_shared<Quotas>(10, 10), relays, sink);
  FiveTuple ft{Endpoint{IpAddress::v4(0xC000020A), 40000}, Endpoint{IpAddress::v4(0xC0000201), 3478}, Transport::Udp};
  Now now{1000, 1'800'000'000};
  size_t pos = 0;
  while (size - pos >= 3) {
    size_t len = (data[pos] << 8 | data[pos + 1]) % 2048;
    bool from_peer = data[pos + 2] & 1;
    pos += 3;
    len = std::min(len, size - pos);
    std::span<const uint8_t> msg(data + pos, len);
    if (from_peer) core.handle_peer(1, Endpoint{IpAddress::v4(0xC0000232), 7000}, msg, now);
    else core.handle(msg, ft, now);
    pos += len;
    now.mono_ms += 1000;
    core.tick(now);
  }
  core.shutdown(now);
  return 0;
}
