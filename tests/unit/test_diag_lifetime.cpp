// diag::LifetimeProbe (RFC 5780 4.6 mapping lifetime) driven against a simulated network: a fake
// NAT whose mappings expire like Linux conntrack entries (a timer re-armed by every packet), a fake
// RFC 5780 server honouring RESPONSE-PORT (or not), one-way delays, a fake clock. Also the verdicts,
// the JSON and the CLI parsing of `turnpike-diag lifetime`.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "diag/cli.hpp"
#include "diag/lifetime_probe.hpp"
#include "turn/attributes.hpp"
#include "turn/message.hpp"

using namespace diag;
using turn::Endpoint;
using turn::IpAddress;
namespace stun = turn::stun;

namespace {

Endpoint ep(const char* s) { return *Endpoint::parse(s); }

const Endpoint kServer = ep("198.51.100.1:3478");
const Endpoint kOther = ep("198.51.100.2:3479");
const IpAddress kLocalIp = *IpAddress::parse("192.168.1.10");
const IpAddress kPublicIp = *IpAddress::parse("203.0.113.7");
const IpAddress kPublicIp2 = *IpAddress::parse("203.0.113.8");

// A NAT (or, with present = false, a host with a public address, maybe behind a stateful firewall)
// whose mappings are Linux conntrack entries: each packet re-arms the entry's timer with the
// timeout of its state (`stream_ms` once the flow has a reply and is more than 2 s old).
struct FakeNat {
  bool present = true;
  bool firewall = true;      // without a NAT: a stateful firewall with the timers below
  bool symmetric = false;    // address-and-port-dependent mapping
  bool paired = true;        // one public IP for every socket of the host
  int64_t timeout_ms = 30000;
  std::optional<int64_t> stream_ms;
  uint16_t next_port = 40000;
  struct Mapping {
    Endpoint internal, dest, pub;
    int64_t created = 0, expires = 0;
    bool replied = false;
  };
  std::vector<Mapping> maps;

  bool alive(const Mapping& m, int64_t now_ms) const { return now_ms < m.expires; }
  void arm(Mapping& m, int64_t now_ms) {
    bool stream = stream_ms && m.replied && now_ms > m.created + 2000;
    m.expires = now_ms + (stream ? *stream_ms : timeout_ms);
  }
  IpAddress ip_for(const Endpoint& internal) const {
    return paired || internal.port % 2 == 0 ? kPublicIp : kPublicIp2;
  }
  Endpoint outbound(const Endpoint& internal, const Endpoint& dest, int64_t now_ms) {
    if (!present && !firewall) return internal;
    for (Mapping& m : maps) {
      if (m.internal != internal || !alive(m, now_ms)) continue;
      if (m.dest == dest) {
        arm(m, now_ms);
        return m.pub;
      }
    }
    // A new conntrack entry; an endpoint-independent NAT keeps the port of a live one.
    Mapping m{internal, dest, internal, now_ms, 0, false};
    if (present) {
      m.pub = Endpoint{ip_for(internal), 0};
      if (!symmetric)
        for (const Mapping& o : maps)
          if (o.internal == internal && alive(o, now_ms)) m.pub = o.pub;
      if (m.pub.port == 0) m.pub.port = next_port++;
    }
    arm(m, now_ms);
    maps.push_back(m);
    return m.pub;
  }
  // The internal endpoint a packet from `from` to `to` reaches, or nullopt (no live entry: dropped).
  std::optional<Endpoint> inbound(const Endpoint& from, const Endpoint& to, int64_t now_ms) {
    if (!present && !firewall) return to;
    for (Mapping& m : maps) {
      if (m.pub != to || m.dest != from || !alive(m, now_ms)) continue;
      m.replied = true;
      arm(m, now_ms);
      return m.internal;
    }
    return std::nullopt;
  }
};

// An RFC 5780 server on kServer: Binding answers with XOR-MAPPED-ADDRESS, MAPPED-ADDRESS and
// OTHER-ADDRESS; RESPONSE-PORT honoured (or ignored, or refused with 420).
struct FakeServer {
  enum class ResponsePort { Honour, Ignore, Reject } response_port = ResponsePort::Honour;
  std::string reject_reason = "Unknown Attribute";
  bool silent = false;
  bool malformed = false;  // successes without any mapped address
  // Turnpike's per-source limit: `burst` RFC 5780 answers, then `per_second`; over it a
  // RESPONSE-PORT request gets "400 Rate limited" where it came from.
  std::optional<double> burst;
  double per_second = 10;
  double tokens = -1;
  int64_t last_ms = 0;
  uint32_t response_port_requests = 0;

  struct Out {
    Endpoint to;
    std::vector<uint8_t> bytes;
  };
  bool allow(int64_t now_ms) {
    if (!burst) return true;
    if (tokens < 0) tokens = *burst;
    tokens = std::min(*burst, tokens + (now_ms - last_ms) * per_second / 1000.0);
    last_ms = now_ms;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  }
  std::vector<Out> answer(const Endpoint& from, std::span<const uint8_t> req, int64_t now_ms) {
    stun::Message m;
    if (silent || stun::Message::parse(req, m) != stun::ParseError::None || m.cls() != stun::Class::Request)
      return {};
    uint8_t buf[512];
    auto bytes = [](const stun::Builder& b) { return std::vector<uint8_t>(b.bytes().begin(), b.bytes().end()); };
    std::optional<uint16_t> port;
    if (const auto* a = m.find(stun::attr::ResponsePort)) {
      ++response_port_requests;
      if (response_port == ResponsePort::Reject) {
        stun::Builder b(buf, stun::Method::Binding, stun::Class::Error, m.transaction_id());
        b.add_error(420, reject_reason);
        b.add_fingerprint();
        return {{from, bytes(b)}};
      }
      if (response_port == ResponsePort::Honour) port = stun::ResponsePort::decode(a->value)->port;
    }
    if (!allow(now_ms) && port) {
      stun::Builder b(buf, stun::Method::Binding, stun::Class::Error, m.transaction_id());
      b.add_error(400, "Rate limited");
      b.add_fingerprint();
      return {{from, bytes(b)}};
    }
    stun::Builder b(buf, stun::Method::Binding, stun::Class::Success, m.transaction_id());
    if (!malformed) {
      b.add_xor_address(stun::attr::XorMappedAddress, from);
      b.add_address(stun::attr::MappedAddress, from);
    }
    b.add_address(stun::attr::ResponseOrigin, kServer);
    b.add_address(stun::attr::OtherAddress, kOther);
    b.add(stun::attr::Software, "fake");
    if (m.has_fingerprint()) b.add_fingerprint();
    Endpoint to = from;
    if (port) to.port = *port;
    return {{to, bytes(b)}};
  }
};

bool has_response_port(std::span<const uint8_t> bytes) {
  stun::Message m;
  return stun::Message::parse(bytes, m) == stun::ParseError::None && m.has(stun::attr::ResponsePort);
}

struct World {
  FakeNat nat;
  FakeServer server;
  int64_t one_way_ms = 10;  // NAT <-> server, each way; the host sits next to its NAT
  std::map<LifetimeSocket, Endpoint> open;
  std::set<LifetimeSocket> ever_opened;
  size_t max_open = 0;
  uint16_t next_local = 5000;
  bool fail_open = false;
  uint32_t sends_after_done = 0;
  uint32_t sent = 0, sent_response_port = 0;
  // true: lose this outbound packet (socket, bytes, index among all sends)
  std::function<bool(LifetimeSocket, std::span<const uint8_t>, uint32_t)> drop;
  // Called on every loop turn, e.g. to inject datagrams: (world, probe, now_ms).
  std::function<void(World&, LifetimeProbe&, int64_t)> hook;

  struct Event {
    bool at_server;  // else: arriving at the NAT from the server's side
    Endpoint from, to;
    std::vector<uint8_t> bytes;
  };
  std::multimap<int64_t, Event> events;

  Endpoint public_of(LifetimeSocket s, int64_t now_ms) {
    // The current public endpoint of a socket towards the server (without refreshing anything).
    for (const auto& m : nat.maps)
      if (m.internal == open.at(s) && m.dest == kServer && nat.alive(m, now_ms)) return m.pub;
    return open.at(s);
  }

  void send(LifetimeSocket s, const Endpoint& to, std::vector<uint8_t> bytes, int64_t now_ms) {
    auto it = open.find(s);
    ASSERT_NE(it, open.end()) << "send on a socket that is not open: " << s;
    uint32_t index = sent++;
    if (has_response_port(bytes)) ++sent_response_port;
    if (drop && drop(s, bytes, index)) return;
    Endpoint pub = nat.outbound(it->second, to, now_ms);
    events.emplace(now_ms + one_way_ms, Event{true, pub, to, std::move(bytes)});
  }

  // Delivers what arrives by `until` to the probe; false if nothing was due.
  bool deliver(LifetimeProbe& probe, int64_t& now_ms, int64_t until) {
    if (events.empty() || events.begin()->first > until) return false;
    auto node = events.extract(events.begin());
    now_ms = std::max(now_ms, node.key());
    Event& e = node.mapped();
    if (e.at_server) {
      if (e.to != kServer) return true;
      for (auto& out : server.answer(e.from, e.bytes, now_ms))
        events.emplace(now_ms + one_way_ms, Event{false, kServer, out.to, std::move(out.bytes)});
      return true;
    }
    auto internal = nat.inbound(e.from, e.to, now_ms);
    if (!internal) return true;
    for (const auto& [id, local] : open)
      if (local == *internal) {
        probe.on_datagram(id, e.from, e.bytes, now_ms);
        break;
      }
    return true;
  }

  // A datagram from `from` straight to a socket (junk, wrong transaction ids, ...).
  void inject(LifetimeProbe& probe, LifetimeSocket s, const Endpoint& from, std::vector<uint8_t> bytes, int64_t now_ms) {
    if (open.count(s)) probe.on_datagram(s, from, bytes, now_ms);
  }
};

LifetimeConfig config(uint32_t min_s = 1, uint32_t max_s = 600) {
  LifetimeConfig c;
  c.server = kServer;
  c.min_ms = min_s * 1000;
  c.max_ms = max_s * 1000;
  return c;
}

struct ProbeRun {
  LifetimeReport report;
  uint64_t elapsed_ms = 0;
  std::vector<std::string> progress;
};

ProbeRun run(World& w, LifetimeConfig cfg) {
  ProbeRun out;
  cfg.progress = [&out](const std::string& s) { out.progress.push_back(s); };
  LifetimeProbe probe(std::move(cfg));
  const int64_t start = 1'000'000;
  int64_t now_ms = start;
  for (int guard = 0; guard < 2'000'000; ++guard) {
    if (w.hook) w.hook(w, probe, now_ms);
    LifetimeAction a = probe.next_action(now_ms);
    if (a.kind == LifetimeAction::Kind::Done) break;
    switch (a.kind) {
      case LifetimeAction::Kind::Open: {
        EXPECT_FALSE(w.open.count(a.socket)) << "socket id reused: " << a.socket;
        EXPECT_FALSE(w.ever_opened.count(a.socket)) << "socket id reused: " << a.socket;
        if (w.fail_open && a.socket != kCheckerSocket) {
          probe.on_opened(a.socket, std::nullopt, now_ms);
          break;
        }
        Endpoint local{w.nat.present ? kLocalIp : kPublicIp, w.next_local++};
        w.open[a.socket] = local;
        w.ever_opened.insert(a.socket);
        w.max_open = std::max(w.max_open, w.open.size());
        probe.on_opened(a.socket, local, now_ms);
        break;
      }
      case LifetimeAction::Kind::Close: w.open.erase(a.socket); break;
      case LifetimeAction::Kind::Send:
        EXPECT_EQ(a.to, kServer);
        w.send(a.socket, a.to, std::move(a.bytes), now_ms);
        break;
      case LifetimeAction::Kind::Wait:
        EXPECT_GE(a.until_ms, now_ms) << "a wait in the past";
        if (!w.deliver(probe, now_ms, a.until_ms)) now_ms = std::max(now_ms, a.until_ms);
        break;
      case LifetimeAction::Kind::Done: break;
    }
  }
  EXPECT_TRUE(probe.done());
  EXPECT_TRUE(w.open.empty()) << w.open.size() << " sockets left open";
  // Nothing more once done.
  LifetimeAction after = probe.next_action(now_ms + 1000);
  EXPECT_EQ(after.kind, LifetimeAction::Kind::Done);
  out.report = probe.report();
  out.elapsed_ms = static_cast<uint64_t>(now_ms - start);
  return out;
}

bool progress_has(const ProbeRun& r, const std::string& text) {
  for (const auto& p : r.progress)
    if (p.find(text) != std::string::npos) return true;
  return false;
}

// slack_ms: how much later than the truth an expiry may be seen (lost first requests of a check).
void expect_measured(const ProbeRun& r, uint64_t truth_ms, uint32_t precision_ms = 500, uint32_t slack_ms = 0) {
  const LifetimeReport& rep = r.report;
  ASSERT_EQ(rep.result, LifetimeResult::Measured) << rep.error;
  ASSERT_TRUE(rep.timeout_ms);
  ASSERT_TRUE(rep.upper_ms);
  EXPECT_LT(rep.lower_ms, truth_ms);  // survival is proof
  EXPECT_GE(*rep.upper_ms + slack_ms, truth_ms);
  EXPECT_LE(*rep.upper_ms - rep.lower_ms, precision_ms);
  EXPECT_LE(std::llabs(int64_t(*rep.timeout_ms) - int64_t(truth_ms)), int64_t(precision_ms / 2 + slack_ms))
      << "timeout " << *rep.timeout_ms << " ms, truth " << truth_ms << " ms";
  // Consistent trials: everything up to lower survived, upper expired.
  for (const LifetimeTrial& t : rep.trials) {
    if (t.survived) {
      EXPECT_LE(t.gap_ms, rep.lower_ms);
    }
    if (t.gap_ms == *rep.upper_ms) {
      EXPECT_FALSE(t.survived);
    }
  }
}

}  // namespace

// --- Finding the timeout ---

class DiagLifetimeTimeouts : public ::testing::TestWithParam<uint32_t> {};

TEST_P(DiagLifetimeTimeouts, FoundWithinPrecision) {
  const uint32_t truth = GetParam();
  World w;
  w.nat.timeout_ms = truth;
  ProbeRun r = run(w, config());
  if (getenv("LIFETIME_DEBUG")) {
    printf("T=%u: %llu ms, %zu trials, %u cancelled, %u requests, timeout %u\n", truth,
           (unsigned long long)r.elapsed_ms, r.report.trials.size(), r.report.cancelled_trials, r.report.requests,
           r.report.timeout_ms.value_or(0));
    for (const auto& p : r.progress) printf("  %s\n", p.c_str());
  }
  expect_measured(r, truth);
  const LifetimeReport& rep = r.report;
  EXPECT_FALSE(rep.no_nat);
  EXPECT_EQ(rep.mapped->address, kPublicIp);
  EXPECT_EQ(rep.checker_mapped->address, kPublicIp);
  EXPECT_EQ(rep.software, "fake");
  EXPECT_EQ(rep.rtt_ms, std::optional<uint32_t>(20));
  EXPECT_EQ(rep.ignored_datagrams, 0u);
  EXPECT_EQ(rep.failed_trials, 0u);
  EXPECT_LE(w.max_open, 11u);  // ten trial sockets and the checker
  // Parallel rounds: a first round up to the timeout (a power of two above it), then about one
  // timeout per refining round; never a sequential search.
  EXPECT_LT(r.elapsed_ms, 5 * uint64_t{truth} + 15000) << "took " << r.elapsed_ms << " ms";
  EXPECT_TRUE(progress_has(r, "expired; searching")) << ::testing::PrintToString(r.progress);
  // Long waits say what they wait for, at least every 30 s.
  if (truth > 60000) {
    EXPECT_TRUE(progress_has(r, "waiting: the next check (gap ")) << ::testing::PrintToString(r.progress);
  }
  EXPECT_FALSE(rep.verdict.empty());
  EXPECT_LE(rep.requests, 200u);
}

INSTANTIATE_TEST_SUITE_P(Timeouts, DiagLifetimeTimeouts,
                         ::testing::Values(1700u, 5000u, 12300u, 30000u, 64000u, 119000u, 300000u, 599000u),
                         [](const auto& info) { return std::to_string(info.param) + "ms"; });

TEST(DiagLifetime, SymmetricNat) {
  World w;
  w.nat.symmetric = true;
  w.nat.timeout_ms = 20000;
  ProbeRun r = run(w, config(1, 60));
  expect_measured(r, 20000);
}

TEST(DiagLifetime, BelowMin) {
  World w;
  w.nat.timeout_ms = 700;
  ProbeRun r = run(w, config(2, 60));
  expect_measured(r, 700);
  bool noted = false;
  for (const auto& n : r.report.notes) noted |= n.find("--min") != std::string::npos;
  EXPECT_TRUE(noted) << ::testing::PrintToString(r.report.notes);
}

TEST(DiagLifetime, FinerPrecisionAndFewerSockets) {
  World w;
  w.nat.timeout_ms = 7777;
  LifetimeConfig cfg = config(1, 60);
  cfg.precision_ms = 50;
  cfg.parallel = 3;
  cfg.split = 3;
  ProbeRun r = run(w, cfg);
  expect_measured(r, 7777, 50);
  EXPECT_LE(w.max_open, 4u);
}

TEST(DiagLifetime, OneSocketIsABinarySearch) {
  World w;
  w.nat.timeout_ms = 9000;
  LifetimeConfig cfg = config(1, 30);
  cfg.parallel = 1;
  ProbeRun r = run(w, cfg);
  expect_measured(r, 9000);
  EXPECT_LE(w.max_open, 2u);
}

TEST(DiagLifetime, LongerThanMax) {
  World w;
  w.nat.timeout_ms = 1000000;
  ProbeRun r = run(w, config(1, 60));
  const LifetimeReport& rep = r.report;
  EXPECT_EQ(rep.result, LifetimeResult::LongerThanMax);
  EXPECT_FALSE(rep.timeout_ms);
  EXPECT_FALSE(rep.upper_ms);
  EXPECT_EQ(rep.lower_ms, 60000u);
  EXPECT_LT(r.elapsed_ms, 70000u);
  EXPECT_EQ(rep.verdict,
            "UDP mappings survive at least ~60 s of silence (longer than max): WebRTC calls are fine (ICE consent "
            "checks every 5 s keep the mapping); whether quieter UDP keeps it, a larger --max tells");
  auto j = to_json(rep);
  EXPECT_TRUE(j["timeout_seconds"].is_null());
  EXPECT_EQ(j["result"], "longer_than_max");
}

TEST(DiagLifetime, FirstRoundRunsAtOnce) {
  World w;
  w.nat.timeout_ms = 100000;
  ProbeRun r = run(w, config(1, 60));
  // 1, 2, 4, 8, 16, 32, 60 s, each with its own socket, plus the checker.
  EXPECT_GE(w.max_open, 8u);
  std::vector<uint32_t> gaps;
  for (const auto& t : r.report.trials) gaps.push_back(t.gap_ms / 1000);
  EXPECT_EQ(gaps, (std::vector<uint32_t>{1, 2, 4, 8, 16, 32, 60}));
  std::set<std::string> mapped;
  for (const auto& t : r.report.trials) mapped.insert(t.mapped->to_string());
  EXPECT_EQ(mapped.size(), r.report.trials.size()) << "each trial has its own mapping";
}

TEST(DiagLifetime, GapsAccountForTheRoundTrip) {
  // With 200 ms each way, the silence the NAT sees is longer than the time between X's answer and
  // Y's request by the round trip: the probe sends Y's request a round trip early.
  World w;
  w.one_way_ms = 200;
  w.nat.timeout_ms = 10000;
  ProbeRun r = run(w, config(1, 30));
  expect_measured(r, 10000);
  EXPECT_EQ(r.report.rtt_ms, std::optional<uint32_t>(400));
}

TEST(DiagLifetime, EstablishedFlowsGetTheStreamTimeout) {
  World w;
  w.nat.timeout_ms = 5000;
  w.nat.stream_ms = 20000;
  ProbeRun plain = run(w, config(1, 60));
  expect_measured(plain, 5000);
  World w2;
  w2.nat.timeout_ms = 5000;
  w2.nat.stream_ms = 20000;
  LifetimeConfig cfg = config(1, 60);
  cfg.established = true;
  ProbeRun est = run(w2, cfg);
  expect_measured(est, 20000);
  EXPECT_TRUE(est.report.established);
  EXPECT_NE(est.report.verdict.find("established flows"), std::string::npos);
}

// --- Without NAT ---

TEST(DiagLifetime, NoNatNoFirewallIsLongerThanMax) {
  World w;
  w.nat.present = false;
  w.nat.firewall = false;
  ProbeRun r = run(w, config(1, 20));
  EXPECT_TRUE(r.report.no_nat);
  EXPECT_EQ(r.report.result, LifetimeResult::LongerThanMax);
  EXPECT_NE(r.report.verdict.find("nothing expires here"), std::string::npos) << r.report.verdict;
  EXPECT_TRUE(progress_has(r, "no NAT in front"));
}

TEST(DiagLifetime, NoNatStatefulFirewallIsMeasured) {
  World w;
  w.nat.present = false;
  w.nat.timeout_ms = 15000;
  ProbeRun r = run(w, config(1, 60));
  expect_measured(r, 15000);
  EXPECT_TRUE(r.report.no_nat);
  EXPECT_EQ(*r.report.mapped, *r.report.local);
  EXPECT_NE(r.report.verdict.find("stateful firewall"), std::string::npos) << r.report.verdict;
}

// --- Servers that cannot be used ---

TEST(DiagLifetime, ServerRejectsResponsePort) {
  World w;
  w.server.response_port = FakeServer::ResponsePort::Reject;
  ProbeRun r = run(w, config());
  EXPECT_EQ(r.report.result, LifetimeResult::Unsupported);
  EXPECT_EQ(r.report.error_code, std::optional<int>(420));
  EXPECT_NE(r.report.error.find("does not support RESPONSE-PORT"), std::string::npos) << r.report.error;
  EXPECT_TRUE(r.report.trials.empty());
  EXPECT_LT(r.elapsed_ms, 1000u);
  EXPECT_NE(r.report.verdict.find("no result"), std::string::npos);
}

TEST(DiagLifetime, ReasonPhrasesAreCleanedForJson) {
  World w;
  w.server.response_port = FakeServer::ResponsePort::Reject;
  w.server.reject_reason = "Unknown \xff\x01 Attribute \xc3\xa9 \xe2\x82";
  ProbeRun r = run(w, config());
  EXPECT_EQ(r.report.result, LifetimeResult::Unsupported);
  EXPECT_EQ(r.report.error_reason, "Unknown ?? Attribute \xc3\xa9 ??");
  EXPECT_NO_THROW(to_json(r.report).dump());
}

TEST(DiagLifetime, ServerIgnoresResponsePort) {
  World w;
  w.server.response_port = FakeServer::ResponsePort::Ignore;
  ProbeRun r = run(w, config());
  EXPECT_EQ(r.report.result, LifetimeResult::Unsupported);
  EXPECT_NE(r.report.error.find("ignores RESPONSE-PORT"), std::string::npos) << r.report.error;
  EXPECT_LT(r.elapsed_ms, 1000u);
}

TEST(DiagLifetime, SilentServerIsUnreachable) {
  World w;
  w.server.silent = true;
  ProbeRun r = run(w, config());
  EXPECT_EQ(r.report.result, LifetimeResult::Unreachable);
  EXPECT_NE(r.report.error.find("no answer"), std::string::npos);
  EXPECT_LE(r.elapsed_ms, 3100u);
}

TEST(DiagLifetime, MalformedBindingAnswers) {
  World w;
  w.server.malformed = true;
  ProbeRun r = run(w, config());
  EXPECT_EQ(r.report.result, LifetimeResult::Error);
  EXPECT_NE(r.report.error.find("malformed"), std::string::npos) << r.report.error;
  EXPECT_GT(r.report.ignored_datagrams, 0u);
}

TEST(DiagLifetime, AnswersThatNeverArrive) {
  // Everything from Y with RESPONSE-PORT is lost: even the check right after the Binding fails.
  World w;
  w.drop = [](LifetimeSocket s, std::span<const uint8_t> b, uint32_t) {
    return s == kCheckerSocket && has_response_port(b);
  };
  ProbeRun r = run(w, config());
  EXPECT_EQ(r.report.result, LifetimeResult::NotDelivered);
  EXPECT_NE(r.report.error.find("right after"), std::string::npos) << r.report.error;
}

TEST(DiagLifetime, NoPairedPooling) {
  World w;
  w.nat.paired = false;
  ProbeRun r = run(w, config());
  EXPECT_EQ(r.report.result, LifetimeResult::NotDelivered);
  EXPECT_NE(r.report.error.find("paired pooling"), std::string::npos) << r.report.error;
}

TEST(DiagLifetime, SocketsThatCannotBeOpened) {
  World w;
  w.fail_open = true;
  ProbeRun r = run(w, config());
  EXPECT_EQ(r.report.result, LifetimeResult::Error);
  EXPECT_NE(r.report.error.find("socket"), std::string::npos);
}

TEST(DiagLifetime, ServerStopsAnsweringMidway) {
  World w;
  w.nat.timeout_ms = 30000;
  w.hook = [](World& w, LifetimeProbe&, int64_t now_ms) {
    if (now_ms > 1'000'000 + 5000) w.server.silent = true;
  };
  ProbeRun r = run(w, config());
  EXPECT_EQ(r.report.result, LifetimeResult::Unreachable) << r.report.error;
  EXPECT_NE(r.report.error.find("stopped answering"), std::string::npos) << r.report.error;
  EXPECT_LT(r.elapsed_ms, 60000u);
}

// --- Loss, rate limits, noise ---

TEST(DiagLifetime, LostCheckRequestsAreNotExpiries) {
  // The first RESPONSE-PORT request of every check is lost (and every fifth other request): the
  // check retransmits, so mappings that are alive are still found alive. An expiry is dated by the
  // first request, so one seen just after the truth may be off by a retransmission interval.
  World w;
  w.nat.timeout_ms = 12000;
  std::map<uint16_t, int> per_port;
  w.drop = [&per_port](LifetimeSocket s, std::span<const uint8_t> b, uint32_t index) {
    stun::Message m;
    if (s == kCheckerSocket && stun::Message::parse(b, m) == stun::ParseError::None)
      if (const auto* a = m.find(stun::attr::ResponsePort))
        return per_port[stun::ResponsePort::decode(a->value)->port]++ == 0;
    return index % 5 == 0;
  };
  ProbeRun r = run(w, config(1, 60));
  expect_measured(r, 12000, 500, 100);
  EXPECT_GT(w.sent_response_port, 2 * r.report.trials.size());
}

TEST(DiagLifetime, RateLimitedChecksAreRepeated) {
  World w;
  w.nat.timeout_ms = 9000;
  w.server.burst = 4;
  w.server.per_second = 0.5;
  ProbeRun r = run(w, config(1, 60));
  expect_measured(r, 9000);
  EXPECT_GT(r.report.rate_limited, 0u);
  if (getenv("LIFETIME_DEBUG"))
    for (const auto& p : r.progress) printf("  %s\n", p.c_str());
}

TEST(DiagLifetime, JunkAndWrongTransactionIdsAreIgnored) {
  World w;
  w.nat.timeout_ms = 6000;
  uint32_t injected = 0;
  w.hook = [&injected](World& w, LifetimeProbe& probe, int64_t now_ms) {
    if (injected >= 200 || now_ms % 7 != 0) return;
    for (const auto& [id, local] : std::map<LifetimeSocket, Endpoint>(w.open)) {
      ++injected;
      // Not from the server: a NAT would not pass these through the mapping (they do not re-arm it).
      const Endpoint stranger = ep("192.0.2.99:1234");
      w.inject(probe, id, stranger, {0x00, 0x01, 0x02}, now_ms);  // not STUN
      stun::TransactionId txid{};
      txid[0] = static_cast<uint8_t>(injected);
      uint8_t buf[128];
      stun::Builder ok(buf, stun::Method::Binding, stun::Class::Success, txid);  // nobody's transaction
      ok.add_xor_address(stun::attr::XorMappedAddress, ep("203.0.113.7:1"));
      w.inject(probe, id, stranger, std::vector<uint8_t>(ok.bytes().begin(), ok.bytes().end()), now_ms);
      stun::Builder err(buf, stun::Method::Binding, stun::Class::Error, txid);
      err.add_error(420, "Unknown Attribute");
      w.inject(probe, id, stranger, std::vector<uint8_t>(err.bytes().begin(), err.bytes().end()), now_ms);
      stun::Builder req(buf, stun::Method::Binding, stun::Class::Request, txid);
      w.inject(probe, id, stranger, std::vector<uint8_t>(req.bytes().begin(), req.bytes().end()), now_ms);
    }
  };
  ProbeRun r = run(w, config(1, 60));
  expect_measured(r, 6000);
  EXPECT_GE(r.report.ignored_datagrams, injected);
}

TEST(DiagLifetime, AnswersOnTheWrongSocketAreIgnored) {
  // Every answer to a plain Binding is also delivered to another socket (the trial sockets' to the
  // checker, the checker's to the newest trial socket), from an address that is not the server's:
  // none of the copies counts.
  World w;
  w.nat.timeout_ms = 4000;
  std::vector<std::pair<LifetimeSocket, std::vector<uint8_t>>> copies;
  LifetimeSocket newest = 0;
  w.drop = [&](LifetimeSocket s, std::span<const uint8_t> bytes, uint32_t) {
    if (has_response_port(bytes)) return false;
    FakeServer copy;
    for (auto& a : copy.answer(ep("203.0.113.7:1"), bytes, 0))
      copies.emplace_back(s == kCheckerSocket ? newest : kCheckerSocket, std::move(a.bytes));
    return false;
  };
  w.hook = [&](World& w, LifetimeProbe& probe, int64_t now_ms) {
    for (const auto& [id, local] : w.open) newest = std::max(newest, id);
    auto pending = std::move(copies);
    copies.clear();
    for (auto& [s, b] : pending) w.inject(probe, s, kOther, b, now_ms);
  };
  ProbeRun r = run(w, config(1, 30));
  expect_measured(r, 4000);
  EXPECT_GT(r.report.ignored_datagrams, 5u);
}

TEST(DiagLifetime, StrayPacketsFromTheServerRestartTheSilence) {
  // Something from the server's address reaches a silent trial socket through its mapping (a late
  // duplicate, say): the NAT re-armed its timer, so the probe measures the silence from there.
  World w;
  w.nat.timeout_ms = 10000;
  std::set<LifetimeSocket> poked;
  w.hook = [&poked](World& w, LifetimeProbe& probe, int64_t now_ms) {
    for (const auto& [id, local] : std::map<LifetimeSocket, Endpoint>(w.open)) {
      if (id == kCheckerSocket || poked.count(id)) continue;
      // 1.5 s after the socket's mapping was made, a stray datagram through the NAT.
      for (const auto& m : w.nat.maps)
        if (m.internal == local && now_ms >= m.created + 1500 && w.nat.alive(m, now_ms)) {
          poked.insert(id);
          if (w.nat.inbound(kServer, m.pub, now_ms)) w.inject(probe, id, kServer, {0xde, 0xad}, now_ms);
          break;
        }
    }
  };
  ProbeRun r = run(w, config(1, 60));
  expect_measured(r, 10000);
  EXPECT_FALSE(poked.empty());
}

// --- Bounds and interruption ---

TEST(DiagLifetime, InterruptGivesWhatIsKnown) {
  World w;
  w.nat.timeout_ms = 100000;
  bool done = false;
  w.hook = [&done](World&, LifetimeProbe& probe, int64_t now_ms) {
    if (!done && now_ms >= 1'000'000 + 150000) {
      done = true;
      probe.interrupt(now_ms);
    }
  };
  ProbeRun r = run(w, config(1, 600));
  // By then 64 s survived, 128 s expired, and the split of 64..128 started at 64 s has answered
  // for its shortest gaps.
  EXPECT_EQ(r.report.result, LifetimeResult::Measured) << r.report.error;
  EXPECT_GE(r.report.lower_ms, 64000u);
  EXPECT_LT(r.report.lower_ms, 100000u);
  ASSERT_TRUE(r.report.upper_ms);
  EXPECT_GE(*r.report.upper_ms, 100000u);
  EXPECT_LE(*r.report.upper_ms, 128000u);
  bool interrupted = false, precision = false;
  for (const auto& n : r.report.notes) {
    interrupted |= n.find("interrupted") != std::string::npos;
    precision |= n.find("precision") != std::string::npos;
  }
  EXPECT_TRUE(interrupted && precision) << ::testing::PrintToString(r.report.notes);
}

TEST(DiagLifetime, InterruptBeforeAnythingIsDecided) {
  World w;
  w.hook = [](World&, LifetimeProbe& probe, int64_t now_ms) {
    if (now_ms >= 1'000'000 + 500) probe.interrupt(now_ms);
  };
  ProbeRun r = run(w, config(1, 600));
  EXPECT_EQ(r.report.result, LifetimeResult::Error);
  EXPECT_FALSE(r.report.timeout_ms);
}

TEST(DiagLifetime, TrialBoundEndsTheRun) {
  World w;
  w.nat.timeout_ms = 20000;
  LifetimeConfig cfg = config(1, 60);
  cfg.max_trials = 8;
  ProbeRun r = run(w, cfg);
  // Seven gaps in the first round and one more: bracketed, but not to the precision.
  EXPECT_EQ(r.report.result, LifetimeResult::Measured);
  EXPECT_LE(r.report.trials.size() + r.report.cancelled_trials, 8u);
  bool noted = false;
  for (const auto& n : r.report.notes) noted |= n.find("precision") != std::string::npos;
  EXPECT_TRUE(noted) << ::testing::PrintToString(r.report.notes);
}

TEST(DiagLifetime, RequestsCarryResponsePortAndFingerprint) {
  World w;
  w.nat.timeout_ms = 3000;
  std::vector<std::pair<LifetimeSocket, std::vector<uint8_t>>> seen;
  w.drop = [&seen](LifetimeSocket s, std::span<const uint8_t> b, uint32_t) {
    seen.emplace_back(s, std::vector<uint8_t>(b.begin(), b.end()));
    return false;
  };
  ProbeRun r = run(w, config(1, 8));
  std::set<stun::TransactionId> ids;
  for (const auto& [s, b] : seen) {
    stun::Message m;
    ASSERT_EQ(stun::Message::parse(b, m), stun::ParseError::None);
    EXPECT_EQ(m.method(), stun::Method::Binding);
    EXPECT_EQ(m.cls(), stun::Class::Request);
    EXPECT_TRUE(m.has_fingerprint());
    EXPECT_TRUE(m.has(stun::attr::Software));
    EXPECT_TRUE(ids.insert(m.transaction_id()).second) << "every transmission has its own transaction id";
    if (const auto* a = m.find(stun::attr::ResponsePort)) {
      EXPECT_EQ(s, kCheckerSocket);
      ASSERT_EQ(a->value.size(), 4u);
      EXPECT_EQ(a->value[2], 0);
      EXPECT_EQ(a->value[3], 0);
      EXPECT_GE(stun::ResponsePort::decode(a->value)->port, 40000);
    } else {
      EXPECT_FALSE(m.has(stun::attr::ChangeRequest));
    }
  }
}

// --- Verdicts and JSON ---

TEST(DiagLifetimeVerdict, Buckets) {
  auto verdict = [](uint32_t ms, bool established = false) {
    LifetimeReport r;
    r.result = LifetimeResult::Measured;
    r.timeout_ms = ms;
    r.min_ms = 1000;
    r.max_ms = 600000;
    r.established = established;
    make_lifetime_verdict(r);
    return r;
  };
  auto r = verdict(4000);
  EXPECT_NE(r.verdict.find("shorter than ICE consent"), std::string::npos) << r.verdict;
  r = verdict(30000);
  EXPECT_EQ(r.verdict.rfind("UDP mappings expire after ~30 s of silence: media keepalives must come more often", 0), 0u)
      << r.verdict;
  EXPECT_NE(r.verdict.find("ICE consent checks every 5 s"), std::string::npos);
  ASSERT_EQ(r.notes.size(), 2u);
  EXPECT_NE(r.notes[0].find("RFC 4787"), std::string::npos);
  EXPECT_NE(r.notes[1].find("--established"), std::string::npos);
  r = verdict(120000, true);
  EXPECT_NE(r.verdict.find("UDP mappings of established flows expire after ~120 s (2 minutes)"), std::string::npos)
      << r.verdict;
  EXPECT_NE(r.verdict.find("idle TURN allocation"), std::string::npos);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("stream"), std::string::npos);
  r = verdict(900000);
  EXPECT_NE(r.verdict.find("(15 minutes)"), std::string::npos) << r.verdict;
  EXPECT_NE(r.verdict.find("all keep their mapping"), std::string::npos);
  EXPECT_TRUE(r.notes.empty());
}

TEST(DiagLifetimeVerdict, NoResult) {
  LifetimeReport r;
  r.result = LifetimeResult::Unsupported;
  r.error = "the server does not support RESPONSE-PORT";
  make_lifetime_verdict(r);
  EXPECT_EQ(r.verdict, "no result: the server does not support RESPONSE-PORT");
}

TEST(DiagLifetimeJson, ContractFields) {
  World w;
  w.nat.timeout_ms = 5000;
  ProbeRun r = run(w, config(1, 60));
  auto j = to_json(r.report);
  ASSERT_TRUE(j["timeout_seconds"].is_number());
  EXPECT_NEAR(j["timeout_seconds"].get<double>(), 5.0, 0.25);
  EXPECT_EQ(j["result"], "measured");
  EXPECT_EQ(j["server"], kServer.to_string());
  EXPECT_TRUE(j["lower_bound_seconds"].is_number());
  EXPECT_TRUE(j["upper_bound_seconds"].is_number());
  EXPECT_LE(j["upper_bound_seconds"].get<double>() - j["lower_bound_seconds"].get<double>(), 0.5);
  EXPECT_EQ(j["min_seconds"], 1.0);
  EXPECT_EQ(j["max_seconds"], 60.0);
  EXPECT_EQ(j["precision_seconds"], 0.5);
  EXPECT_EQ(j["established"], false);
  EXPECT_TRUE(j["elapsed_seconds"].is_number());
  EXPECT_TRUE(j["verdict"].is_string());
  EXPECT_TRUE(j["notes"].is_array());
  EXPECT_TRUE(j["mapped"].is_string());
  EXPECT_TRUE(j["error"].is_null());
  ASSERT_TRUE(j["trials"].is_array());
  ASSERT_FALSE(j["trials"].empty());
  for (const auto& t : j["trials"]) {
    EXPECT_TRUE(t["gap_seconds"].is_number());
    EXPECT_TRUE(t["survived"].is_boolean());
  }
  // The text mentions the essentials.
  std::string text = to_text(r.report);
  EXPECT_NE(text.find("timeout"), std::string::npos);
  EXPECT_NE(text.find("verdict: "), std::string::npos);
  EXPECT_NE(text.find("survived"), std::string::npos);
}

TEST(DiagLifetimeJson, ErrorFields) {
  World w;
  w.server.response_port = FakeServer::ResponsePort::Reject;
  ProbeRun r = run(w, config());
  auto j = to_json(r.report);
  EXPECT_TRUE(j["timeout_seconds"].is_null());
  EXPECT_EQ(j["result"], "unsupported");
  EXPECT_EQ(j["error_code"]["code"], 420);
  EXPECT_TRUE(j["error"].is_string());
}

TEST(DiagLifetimeText, SecondsText) {
  EXPECT_EQ(seconds_text(0), "0");
  EXPECT_EQ(seconds_text(8000), "8");
  EXPECT_EQ(seconds_text(4500), "4.5");
  EXPECT_EQ(seconds_text(12125), "12.125");
  EXPECT_EQ(seconds_text(50), "0.05");
}

// --- CLI ---

TEST(DiagCli, Durations) {
  EXPECT_EQ(parse_duration_ms("30"), std::optional<uint32_t>(30000));
  EXPECT_EQ(parse_duration_ms("0.5"), std::optional<uint32_t>(500));
  EXPECT_EQ(parse_duration_ms("1.25s"), std::optional<uint32_t>(1250));
  EXPECT_EQ(parse_duration_ms("2m"), std::optional<uint32_t>(120000));
  EXPECT_EQ(parse_duration_ms("1.5m"), std::optional<uint32_t>(90000));
  EXPECT_EQ(parse_duration_ms("500ms"), std::optional<uint32_t>(500));
  EXPECT_EQ(parse_duration_ms("6h"), std::optional<uint32_t>(21600000));
  EXPECT_EQ(parse_duration_ms("0.0004"), std::optional<uint32_t>(0));
  for (const char* bad : {"", "-1", "1e3", "abc", "1.", ".5", "1..2", "inf", "nan", "5 s", "5d", "99999999", "2000h"})
    EXPECT_FALSE(parse_duration_ms(bad)) << bad;
}

TEST(DiagCli, LifetimeArgs) {
  std::string err;
  auto o = parse_lifetime_args({"--server", "203.0.113.1:3478", "--json", "--min", "2", "--max=90", "--precision",
                                "0.25", "--parallel", "6", "--established", "--quiet", "--local", "192.168.1.10",
                                "--timeout-ms", "1500", "--report", "http://127.0.0.1:9641/api/v1/lifetime-reports",
                                "--tag", "site=lyon", "--token", "s3cret", "--cacert", "/etc/ca.pem"},
                               err);
  ASSERT_TRUE(o) << err;
  EXPECT_EQ(o->server.host, "203.0.113.1");
  EXPECT_EQ(o->server.port, 3478);
  EXPECT_TRUE(o->json);
  EXPECT_EQ(o->min_ms, 2000u);
  EXPECT_EQ(o->max_ms, 90000u);
  EXPECT_EQ(o->precision_ms, 250u);
  EXPECT_EQ(o->parallel, 6u);
  EXPECT_TRUE(o->established);
  EXPECT_TRUE(o->quiet);
  EXPECT_EQ(o->local_address, IpAddress::parse("192.168.1.10"));
  EXPECT_EQ(o->timeout_ms, 1500u);
  ASSERT_TRUE(o->report);
  EXPECT_EQ(o->report->target, "/api/v1/lifetime-reports");
  ASSERT_EQ(o->tags.size(), 1u);
  EXPECT_EQ(o->tags[0], (std::pair<std::string, std::string>{"site", "lyon"}));
  EXPECT_EQ(o->token, "s3cret");
  EXPECT_EQ(o->cacert, "/etc/ca.pem");

  o = parse_lifetime_args({"--server", "turn.example.com"}, err);
  ASSERT_TRUE(o) << err;
  EXPECT_EQ(o->server.port, 3478);
  EXPECT_EQ(o->min_ms, 1000u);
  EXPECT_EQ(o->max_ms, 600000u);
  EXPECT_EQ(o->precision_ms, 500u);
  EXPECT_EQ(o->parallel, 10u);
  EXPECT_FALSE(o->established);
  EXPECT_FALSE(o->json);

  o = parse_lifetime_args({"--help"}, err);
  ASSERT_TRUE(o);
  EXPECT_TRUE(o->help);
  EXPECT_NE(std::string(kLifetimeUsage).find("--precision"), std::string::npos);
}

TEST(DiagCli, LifetimeUsageErrors) {
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"--json"},
      {"--server", "h", "--min", "0"},
      {"--server", "h", "--min", "abc"},
      {"--server", "h", "--max", "7200"},
      {"--server", "h", "--min", "10", "--max", "10"},
      {"--server", "h", "--min", "20", "--max", "10"},
      {"--server", "h", "--precision", "0"},
      {"--server", "h", "--precision", "61"},
      {"--server", "h", "--parallel", "0"},
      {"--server", "h", "--parallel", "65"},
      {"--server", "h", "--established=yes"},
      {"--server", "h", "--local", "192.168.1.10:5000"},
      {"--server", "h", "--tcp-port", "443"},  // a nat option
      {"--server", "h", "--report", "ftp://x"},
      {"--server", "h", "--tag", "a=1", "--tag", "a=2"},
      {"--server", "h", "extra"},
  };
  for (const auto& args : bad) {
    std::string err;
    EXPECT_FALSE(parse_lifetime_args(args, err)) << ::testing::PrintToString(args);
    EXPECT_FALSE(err.empty()) << ::testing::PrintToString(args);
  }
}
