// libFuzzer target: TurnClient::on_message in each state. The first byte picks the state the client is
// brought to (bits 0-1: Idle, Allocating, challenged, Allocated with a peer), the transport (bit 2:
// UDP or TCP), channels or Send indications (bit 3) and which outstanding request the input answers
// (bits 4-5: its transaction id is written into a STUN input, so that responses reach the state
// machine); bit 6 with Allocated answers the peer's CreatePermission and ChannelBind first, so that
// ChannelData and Data indications are delivered. The rest is one message from the server. Then time runs to past every timeout and the
// client closes. Invariants: deliveries lie inside the input, everything sent is a well-formed STUN
// message or ChannelData, a failure says its stage, and a ready peer belongs to an allocated client.
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "loadgen/turn_client.hpp"
#include "tests/fuzz/target.hpp"
#include "turn/attributes.hpp"
#include "turn/channel_data.hpp"
#include "turn/message.hpp"

namespace {

using turn::stun::Builder;
using turn::stun::Class;
using turn::stun::Message;
using turn::stun::Method;
namespace attr = turn::stun::attr;

const turn::Endpoint kPeer = *turn::Endpoint::parse("203.0.113.7:40000");

// Everything the client sent so far; each must parse. Returns the transaction ids of the requests.
void drain(loadgen::TurnClient& c, std::vector<turn::stun::TransactionId>& ids) {
  std::vector<uint8_t> out;
  while (c.pop_output(out)) {
    Message m;
    if (Message::parse(out, m) != turn::stun::ParseError::None) FUZZ_FAIL();
    if (m.cls() == Class::Request) ids.push_back(m.transaction_id());
  }
}

// The server's side of the exchange, enough to bring the client to a state: a 401 challenge with a
// nonce announcing password algorithms, and an (unsigned) Allocate success.
void answer(loadgen::TurnClient& c, const turn::stun::TransactionId& id, bool challenge, int64_t now,
            Method method = Method::Allocate) {
  std::array<uint8_t, 512> buf;
  Builder b(buf, method, challenge ? Class::Error : Class::Success, id);
  if (challenge) {
    b.add_error(401, "Unauthorized");
    b.add(attr::Realm, std::string_view("fuzz.test"));
    b.add(attr::Nonce, std::string_view("obMatJos2gAAA0000000000000000"));
    b.add(attr::PasswordAlgorithms, turn::stun::PasswordAlgorithms::server_value());
  } else if (method == Method::Allocate) {
    b.add_xor_address(attr::XorRelayedAddress, *turn::Endpoint::parse("198.51.100.1:50000"));
    b.add_xor_address(attr::XorMappedAddress, *turn::Endpoint::parse("192.0.2.10:40000"));
    b.add_u32(attr::Lifetime, 600);
  }
  c.on_message(b.bytes(), now);
}

void check(const loadgen::TurnClient& c) {
  if (c.state() == loadgen::ClientState::Failed && c.failure().stage.empty()) FUZZ_FAIL();
  if (c.peer_ready(kPeer) && c.state() != loadgen::ClientState::Allocated) FUZZ_FAIL();
}

}  // namespace

TURNPIKE_FUZZ_TARGET("loadgen", turn_client) {
  if (size < 1) return 0;
  uint8_t mode = data[0];
  loadgen::ClientConfig cfg;
  cfg.username = "fuzz";
  cfg.password = "fuzz";
  cfg.transport = (mode & 4) ? turn::Transport::Tcp : turn::Transport::Udp;
  cfg.use_channels = !(mode & 8);
  loadgen::TurnClient c(cfg, 1);
  std::vector<turn::stun::TransactionId> ids;
  int64_t now = 1000;
  int stage = mode & 3;
  if (stage >= 1) c.start(now);
  drain(c, ids);
  if (stage >= 2 && !ids.empty()) answer(c, ids.back(), true, now), drain(c, ids);
  if (stage >= 3 && !ids.empty()) answer(c, ids.back(), false, now), c.add_peer(kPeer, now), drain(c, ids);
  if (stage == 3 && (mode & 0x40) && ids.size() >= 3) {
    answer(c, ids[2], false, now, Method::CreatePermission);
    if (ids.size() > 3) answer(c, ids[3], false, now, Method::ChannelBind);
    if (!c.peer_ready(kPeer)) FUZZ_FAIL();
  }

  std::vector<uint8_t> msg(data + 1, data + size);
  if (turn::stun::looks_like_stun(msg) && !ids.empty()) {
    const auto& id = ids[ids.size() - 1 - ((mode >> 4) & 3) % ids.size()];
    std::memcpy(msg.data() + 8, id.data(), id.size());
  }
  auto d = c.on_message(msg, now);
  if (d.ok && (d.payload.data() < msg.data() || d.payload.data() + d.payload.size() > msg.data() + msg.size()))
    FUZZ_FAIL();
  check(c);
  drain(c, ids);

  std::array<uint8_t, 1500> wrapped;
  const uint8_t payload[5] = {1, 2, 3, 4, 5};
  if (size_t n = c.wrap(kPeer, payload, wrapped)) {
    Message m;
    turn::ChannelData cd;
    bool ok = Message::parse({wrapped.data(), n}, m) == turn::stun::ParseError::None ||
              turn::ChannelData::parse({wrapped.data(), n}, cd) == turn::ChannelData::Error::None;
    if (!ok) FUZZ_FAIL();
  }
  for (int i = 0; i < 40; ++i) {  // past every transaction timeout and the first refreshes
    now += 1000;
    c.tick(now);
    drain(c, ids);
    check(c);
  }
  c.close(now);
  for (int i = 0; i < 10; ++i) c.tick(now += 1000), drain(c, ids);
  check(c);
  return 0;
}
