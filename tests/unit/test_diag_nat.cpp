// diag::NatProbe (RFC 5780 NAT behaviour discovery) driven against a simulated network: a fake
// RFC 5780 STUN server with two addresses and a fake NAT of every mapping and filtering class,
// with a fake clock. Also the pure classification functions, the JSON, and CLI parsing.
#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "diag/cli.hpp"
#include "diag/nat_probe.hpp"
#include "diag/nat_report.hpp"
#include "turn/attributes.hpp"
#include "turn/message.hpp"

using namespace diag;
using turn::Endpoint;
using turn::IpAddress;
namespace stun = turn::stun;

namespace {

Endpoint ep(const char* s) { return *Endpoint::parse(s); }

const Endpoint kPrimary = ep("198.51.100.1:3478");
const Endpoint kOther = ep("198.51.100.2:3479");
const IpAddress kPublicIp = *IpAddress::parse("203.0.113.7");
const Endpoint kLocal[3] = {ep("192.168.1.10:5000"), ep("192.168.1.10:5001"), ep("192.168.1.10:5002")};

// A NAT (or, with present = false, a host with a public address behind a stateful firewall).
struct FakeNat {
  bool present = true;
  Behavior mapping = Behavior::EndpointIndependent;
  Behavior filtering = Behavior::EndpointIndependent;  // NoNat: no filtering at all
  bool hairpin = true;
  uint16_t next_port = 40000;
  std::map<std::string, uint16_t> mappings;     // internal endpoint + destination key -> public port
  std::map<uint16_t, Endpoint> internal_of;     // public port -> internal endpoint
  std::map<std::string, std::set<std::string>> contacted;  // public endpoint -> destinations it sent to

  Endpoint outbound(const Endpoint& internal, const Endpoint& dest) {
    Endpoint pub = internal;
    if (present) {
      std::string key = internal.to_string();
      if (mapping == Behavior::AddressDependent) key += "/" + dest.address.to_string();
      if (mapping == Behavior::AddressAndPortDependent) key += "/" + dest.to_string();
      auto it = mappings.find(key);
      uint16_t port = it != mappings.end() ? it->second : (mappings[key] = next_port++);
      internal_of[port] = internal;
      pub = Endpoint{kPublicIp, port};
    }
    contacted[pub.to_string()].insert(dest.to_string());
    contacted[pub.to_string()].insert(dest.address.to_string());
    return pub;
  }
  // The internal endpoint a packet from `from` to public `to` reaches, or nullopt (filtered).
  std::optional<Endpoint> inbound(const Endpoint& from, const Endpoint& to) {
    Endpoint internal = to;
    if (present) {
      if (to.address != kPublicIp || !internal_of.count(to.port)) return std::nullopt;
      internal = internal_of[to.port];
    }
    const auto& c = contacted[to.to_string()];
    switch (filtering) {
      case Behavior::NoNat:
      case Behavior::EndpointIndependent:
      case Behavior::Unknown: return internal;
      case Behavior::AddressDependent:
        if (c.count(from.address.to_string())) return internal;
        return std::nullopt;
      case Behavior::AddressAndPortDependent:
        if (c.count(from.to_string())) return internal;
        return std::nullopt;
    }
    return std::nullopt;
  }
};

// An RFC 5780 STUN server on kPrimary and kOther (and the two mixed combinations).
struct FakeServer {
  bool rfc5780 = true;         // OTHER-ADDRESS, and CHANGE-REQUEST honoured
  std::optional<Endpoint> other_address = kOther;
  bool send_xor = true, send_plain = true;
  bool ignore_change = false;  // answers CHANGE-REQUEST from where it was asked
  bool reject_change = false;  // 420 to CHANGE-REQUEST
  std::optional<int> error_to_binding;
  std::optional<Endpoint> alg_plain;  // MAPPED-ADDRESS as an ALG rewrote it
  bool malformed = false;             // success responses without any mapped address

  static bool serves(const Endpoint& e) {
    return (e.address == kPrimary.address || e.address == kOther.address) && (e.port == kPrimary.port || e.port == kOther.port);
  }
  // The answer's source and bytes, or nothing.
  std::optional<std::pair<Endpoint, std::vector<uint8_t>>> answer(const Endpoint& from, const Endpoint& to,
                                                                   std::span<const uint8_t> req) {
    stun::Message m;
    if (stun::Message::parse(req, m) != stun::ParseError::None || m.cls() != stun::Class::Request) return std::nullopt;
    Endpoint src = to;
    uint32_t change = 0;
    if (const auto* a = m.find(stun::attr::ChangeRequest); a && a->value.size() == 4) change = a->value[3];
    uint8_t buf[512];
    if (change && reject_change) {
      stun::Builder b(buf, stun::Method::Binding, stun::Class::Error, m.transaction_id());
      b.add_error(420, "Unknown Attribute");
      return std::make_pair(src, std::vector<uint8_t>(b.bytes().begin(), b.bytes().end()));
    }
    if (error_to_binding) {
      stun::Builder b(buf, stun::Method::Binding, stun::Class::Error, m.transaction_id());
      b.add_error(*error_to_binding, "Bad Request");
      return std::make_pair(src, std::vector<uint8_t>(b.bytes().begin(), b.bytes().end()));
    }
    if (rfc5780 && !ignore_change) {
      if (change & 0x4) src.address = src.address == kPrimary.address ? kOther.address : kPrimary.address;
      if (change & 0x2) src.port = src.port == kPrimary.port ? kOther.port : kPrimary.port;
    }
    stun::Builder b(buf, stun::Method::Binding, stun::Class::Success, m.transaction_id());
    if (!malformed) {
      if (send_xor) b.add_xor_address(stun::attr::XorMappedAddress, from);
      if (send_plain) b.add_address(stun::attr::MappedAddress, alg_plain.value_or(from));
    }
    if (rfc5780 && other_address) b.add_address(stun::attr::OtherAddress, *other_address);
    b.add_address(stun::attr::ResponseOrigin, src);
    b.add(stun::attr::Software, "fake");
    b.add_fingerprint();
    return std::make_pair(src, std::vector<uint8_t>(b.bytes().begin(), b.bytes().end()));
  }
};

struct Delivery {
  SocketRole socket;
  Endpoint from;
  std::vector<uint8_t> bytes;
};

struct World {
  FakeNat nat;
  FakeServer server;
  bool udp_blocked = false;
  enum class Tcp { Answers, Refused, Silent } tcp = Tcp::Answers;
  std::function<bool(const Transmit&)> drop;  // true: lose this packet (outbound)
  std::function<void(World&, const Transmit&)> inject;  // extra deliveries before the real answer
  std::vector<Transmit> sent;
  std::vector<int64_t> sent_at;
  std::deque<Delivery> inbox;
  bool tcp_error = false;

  Endpoint local_of(SocketRole s) const { return kLocal[static_cast<size_t>(s)]; }

  void route(const Transmit& t, int64_t now_ms) {
    sent.push_back(t);
    sent_at.push_back(now_ms);
    if (inject) inject(*this, t);
    if (t.transport == turn::Transport::Tcp) {
      if (tcp == Tcp::Refused) { tcp_error = true; return; }
      if (tcp == Tcp::Silent) return;
      Endpoint pub = nat.present ? Endpoint{kPublicIp, 50000} : kLocal[0];
      if (auto a = server.answer(pub, t.to, t.bytes)) inbox.push_back({SocketRole::Tcp, a->first, a->second});
      return;
    }
    if (udp_blocked || (drop && drop(t))) return;
    Endpoint internal = local_of(t.socket);
    Endpoint pub = nat.outbound(internal, t.to);
    if (FakeServer::serves(t.to)) {
      auto a = server.answer(pub, t.to, t.bytes);
      if (!a) return;
      if (auto in = nat.inbound(a->first, pub)) {
        for (unsigned i = 0; i < kUdpSockets; ++i)
          if (kLocal[i] == *in) inbox.push_back({static_cast<SocketRole>(i), a->first, a->second});
      }
      return;
    }
    // To one of our own addresses: hairpinning through the NAT, or direct without one.
    if (nat.present && !nat.hairpin) return;
    if (auto in = nat.present ? nat.inbound(pub, t.to) : std::optional<Endpoint>(t.to)) {
      for (unsigned i = 0; i < kUdpSockets; ++i)
        if (kLocal[i] == *in) inbox.push_back({static_cast<SocketRole>(i), pub, t.bytes});
    }
  }
};

NatProbeConfig config(uint32_t timeout_ms = 3000) {
  NatProbeConfig c;
  c.server = kPrimary;
  for (unsigned i = 0; i < kUdpSockets; ++i) c.local[i] = kLocal[i];
  c.timeout_ms = timeout_ms;
  return c;
}

// Runs the probe to the end against `w`, with a fake clock; deliveries take no time.
NatReport run(World& w, NatProbeConfig cfg = config(), int64_t* elapsed_ms = nullptr) {
  NatProbe probe(std::move(cfg));
  int64_t start = 1'000'000, now_ms = start;
  for (int guard = 0; guard < 100000; ++guard) {
    Action a = probe.next_action(now_ms);
    if (a.kind == Action::Kind::Done) break;
    if (a.kind == Action::Kind::Send) {
      w.route(a.transmit, now_ms);
      continue;
    }
    if (w.tcp_error) {
      w.tcp_error = false;
      probe.on_transport_error(SocketRole::Tcp, now_ms);
      continue;
    }
    if (!w.inbox.empty()) {
      Delivery d = std::move(w.inbox.front());
      w.inbox.pop_front();
      probe.on_datagram(d.socket, d.from, d.bytes, now_ms);
      continue;
    }
    EXPECT_GE(a.until_ms, now_ms);
    now_ms = std::max(now_ms, a.until_ms);
  }
  EXPECT_TRUE(probe.done());
  if (elapsed_ms) *elapsed_ms = now_ms - start;
  return probe.report();
}

const TestRecord* test_named(const NatReport& r, const std::string& name) {
  for (const auto& t : r.tests)
    if (t.name == name) return &t;
  return nullptr;
}

World nat(Behavior mapping, Behavior filtering, bool hairpin = true) {
  World w;
  w.nat.mapping = mapping;
  w.nat.filtering = filtering;
  w.nat.hairpin = hairpin;
  return w;
}

World no_nat(Behavior filtering) {
  World w;
  w.nat.present = false;
  w.nat.filtering = filtering;
  return w;
}

}  // namespace

// --- Pure classification ---

TEST(DiagClassify, Mapping) {
  auto L = std::optional<Endpoint>(kLocal[0]);
  auto A = std::optional<Endpoint>(ep("203.0.113.7:40000"));
  auto B = std::optional<Endpoint>(ep("203.0.113.7:40001"));
  auto C = std::optional<Endpoint>(ep("203.0.113.7:40002"));
  std::optional<Endpoint> none;
  EXPECT_EQ(classify_mapping(L, none, none, none), Behavior::Unknown);
  EXPECT_EQ(classify_mapping(L, L, none, none), Behavior::NoNat);
  EXPECT_EQ(classify_mapping(L, L, A, B), Behavior::NoNat);
  EXPECT_EQ(classify_mapping(L, A, none, none), Behavior::Unknown);
  EXPECT_EQ(classify_mapping(L, A, A, none), Behavior::EndpointIndependent);
  EXPECT_EQ(classify_mapping(L, A, B, none), Behavior::Unknown);
  EXPECT_EQ(classify_mapping(L, A, B, B), Behavior::AddressDependent);
  EXPECT_EQ(classify_mapping(L, A, B, C), Behavior::AddressAndPortDependent);
  EXPECT_EQ(classify_mapping(none, A, A, none), Behavior::EndpointIndependent);
}

TEST(DiagClassify, Filtering) {
  EXPECT_EQ(classify_filtering(true, true, std::nullopt), Behavior::NoNat);
  EXPECT_EQ(classify_filtering(false, true, std::nullopt), Behavior::EndpointIndependent);
  EXPECT_EQ(classify_filtering(false, false, true), Behavior::AddressDependent);
  EXPECT_EQ(classify_filtering(false, false, false), Behavior::AddressAndPortDependent);
  EXPECT_EQ(classify_filtering(true, false, false), Behavior::AddressAndPortDependent);
  EXPECT_EQ(classify_filtering(false, false, std::nullopt), Behavior::Unknown);
  EXPECT_EQ(classify_filtering(false, std::nullopt, std::nullopt), Behavior::Unknown);
}

TEST(DiagClassify, Rfc3489Names) {
  using B = Behavior;
  EXPECT_EQ(rfc3489_name(false, B::Unknown, B::Unknown), "UDP Blocked");
  EXPECT_EQ(rfc3489_name(true, B::NoNat, B::NoNat), "Open Internet");
  EXPECT_EQ(rfc3489_name(true, B::NoNat, B::AddressDependent), "Symmetric UDP Firewall");
  EXPECT_EQ(rfc3489_name(true, B::NoNat, B::AddressAndPortDependent), "Symmetric UDP Firewall");
  EXPECT_EQ(rfc3489_name(true, B::NoNat, B::Unknown), "Unknown");
  EXPECT_EQ(rfc3489_name(true, B::EndpointIndependent, B::EndpointIndependent), "Full Cone");
  EXPECT_EQ(rfc3489_name(true, B::EndpointIndependent, B::AddressDependent), "Restricted Cone");
  EXPECT_EQ(rfc3489_name(true, B::EndpointIndependent, B::AddressAndPortDependent), "Port Restricted Cone");
  EXPECT_EQ(rfc3489_name(true, B::EndpointIndependent, B::Unknown), "Unknown");
  EXPECT_EQ(rfc3489_name(true, B::AddressDependent, B::AddressAndPortDependent), "Symmetric");
  EXPECT_EQ(rfc3489_name(true, B::AddressAndPortDependent, B::EndpointIndependent), "Symmetric");
  EXPECT_EQ(rfc3489_name(true, B::AddressAndPortDependent, B::Unknown), "Symmetric");
  EXPECT_EQ(rfc3489_name(true, B::Unknown, B::Unknown), "Unknown");
}

TEST(DiagClassify, BehaviorNames) {
  EXPECT_STREQ(to_string(Behavior::NoNat), "no_nat");
  EXPECT_STREQ(to_string(Behavior::EndpointIndependent), "endpoint_independent");
  EXPECT_STREQ(to_string(Behavior::AddressDependent), "address_dependent");
  EXPECT_STREQ(to_string(Behavior::AddressAndPortDependent), "address_and_port_dependent");
  EXPECT_STREQ(to_string(Behavior::Unknown), "unknown");
}

// --- Every NAT class, end to end ---

struct NatCase {
  const char* label;
  bool present;
  Behavior nat_mapping, nat_filtering;
  Behavior want_mapping, want_filtering;
  const char* rfc3489;
  bool hairpin = true;  // the fake NAT hairpins; a symmetric NAT's filter still drops it
};

class DiagNatClasses : public ::testing::TestWithParam<NatCase> {};

TEST_P(DiagNatClasses, Classifies) {
  const NatCase& c = GetParam();
  World w = c.present ? nat(c.nat_mapping, c.nat_filtering) : no_nat(c.nat_filtering);
  NatReport r = run(w);
  EXPECT_TRUE(r.udp_reachable);
  EXPECT_FALSE(r.tcp_reachable.has_value());
  EXPECT_TRUE(r.rfc5780);
  EXPECT_EQ(r.mapping, c.want_mapping) << to_string(r.mapping);
  EXPECT_EQ(r.filtering, c.want_filtering) << to_string(r.filtering);
  EXPECT_EQ(r.rfc3489, c.rfc3489);
  EXPECT_EQ(r.alg_detected, std::optional<bool>(false));
  EXPECT_EQ(r.hairpinning, std::optional<bool>(c.hairpin));
  EXPECT_EQ(r.other_address, kOther);
  EXPECT_EQ(r.local, kLocal[0]);
  EXPECT_EQ(r.software, "fake");
  EXPECT_EQ(r.ignored_datagrams, 0u);
  ASSERT_TRUE(r.mapped);
  if (c.present) EXPECT_EQ(r.mapped->address, kPublicIp);
  else EXPECT_EQ(*r.mapped, kLocal[0]);
  EXPECT_FALSE(r.verdict.empty());
  // The filtering tests ran on the fresh socket, the mapping tests on the main one.
  for (const auto& t : r.tests) {
    if (t.name.starts_with("mapping_") || t.name == "binding") {
      EXPECT_EQ(t.socket, SocketRole::Main);
    }
    if (t.name.starts_with("filtering_")) {
      EXPECT_EQ(t.socket, SocketRole::Filtering);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    All, DiagNatClasses,
    ::testing::Values(
        NatCase{"open_internet", false, Behavior::NoNat, Behavior::NoNat, Behavior::NoNat, Behavior::NoNat,
                "Open Internet"},
        NatCase{"firewall_ad", false, Behavior::NoNat, Behavior::AddressDependent, Behavior::NoNat,
                Behavior::AddressDependent, "Symmetric UDP Firewall"},
        NatCase{"firewall_apd", false, Behavior::NoNat, Behavior::AddressAndPortDependent, Behavior::NoNat,
                Behavior::AddressAndPortDependent, "Symmetric UDP Firewall"},
        NatCase{"full_cone", true, Behavior::EndpointIndependent, Behavior::EndpointIndependent,
                Behavior::EndpointIndependent, Behavior::EndpointIndependent, "Full Cone"},
        NatCase{"restricted_cone", true, Behavior::EndpointIndependent, Behavior::AddressDependent,
                Behavior::EndpointIndependent, Behavior::AddressDependent, "Restricted Cone"},
        NatCase{"port_restricted_cone", true, Behavior::EndpointIndependent, Behavior::AddressAndPortDependent,
                Behavior::EndpointIndependent, Behavior::AddressAndPortDependent, "Port Restricted Cone"},
        NatCase{"symmetric_ad_mapping", true, Behavior::AddressDependent, Behavior::AddressDependent,
                Behavior::AddressDependent, Behavior::AddressDependent, "Symmetric", false},
        NatCase{"symmetric", true, Behavior::AddressAndPortDependent, Behavior::AddressAndPortDependent,
                Behavior::AddressAndPortDependent, Behavior::AddressAndPortDependent, "Symmetric", false},
        NatCase{"symmetric_open_filter", true, Behavior::AddressAndPortDependent, Behavior::EndpointIndependent,
                Behavior::AddressAndPortDependent, Behavior::EndpointIndependent, "Symmetric"}),
    [](const auto& info) { return std::string(info.param.label); });

TEST(DiagNat, OpenInternetVerdictAndTests) {
  World w = no_nat(Behavior::NoNat);
  NatReport r = run(w);
  EXPECT_EQ(r.verdict, "open internet: no NAT and no filtering; direct media works, TURN not needed from here");
  EXPECT_TRUE(r.notes.empty());
  // Test I, Test II (the alternate address is checked even without NAT; the same mapping makes Test
  // III needless), filtering I and II, the hairpin pair.
  std::vector<std::string> names;
  for (const auto& t : r.tests) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"binding", "mapping_alt_ip", "filtering_binding",
                                             "filtering_change_ip_port", "hairpin_binding", "hairpin"}));
  const TestRecord* f = test_named(r, "filtering_change_ip_port");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->change, ChangeRequest::IpAndPort);
  EXPECT_EQ(f->from, kOther);
  EXPECT_EQ(f->to, kPrimary);
  EXPECT_EQ(test_named(r, "mapping_alt_ip")->to, ep("198.51.100.2:3478"));
}

TEST(DiagNat, SymmetricVerdict) {
  World w = nat(Behavior::AddressAndPortDependent, Behavior::AddressAndPortDependent);
  NatReport r = run(w);
  EXPECT_EQ(r.verdict, "symmetric NAT: expect relayed media; TURN required");
  // Three different mappings for three destinations.
  auto m1 = test_named(r, "binding")->mapped, m2 = test_named(r, "mapping_alt_ip")->mapped,
       m3 = test_named(r, "mapping_alt_ip_port")->mapped;
  ASSERT_TRUE(m1 && m2 && m3);
  EXPECT_NE(*m1, *m2);
  EXPECT_NE(*m2, *m3);
}

TEST(DiagNat, EndpointIndependentMappingSkipsTestThree) {
  World w = nat(Behavior::EndpointIndependent, Behavior::EndpointIndependent);
  NatReport r = run(w);
  EXPECT_TRUE(test_named(r, "mapping_alt_ip"));
  EXPECT_FALSE(test_named(r, "mapping_alt_ip_port"));
  EXPECT_FALSE(test_named(r, "filtering_change_port"));  // change IP+port already came through
}

TEST(DiagNat, PortRestrictedRunsAllFilteringTestsAndWaitsOutTheBudget) {
  World w = nat(Behavior::EndpointIndependent, Behavior::AddressAndPortDependent);
  NatReport r = run(w);
  const TestRecord* t2 = test_named(r, "filtering_change_ip_port");
  const TestRecord* t3 = test_named(r, "filtering_change_port");
  ASSERT_TRUE(t2 && t3);
  EXPECT_EQ(t2->outcome, Outcome::Timeout);
  EXPECT_EQ(t3->outcome, Outcome::Timeout);
  EXPECT_EQ(t2->elapsed_ms, 3000u);
  // RFC 8489 retransmissions within 3 s: 0, 250, 750, 1750 ms.
  EXPECT_EQ(t2->attempts, 4u);
}

TEST(DiagNat, NoHairpinning) {
  World w = nat(Behavior::EndpointIndependent, Behavior::AddressAndPortDependent, /*hairpin=*/false);
  NatReport r = run(w);
  EXPECT_EQ(r.hairpinning, std::optional<bool>(false));
  EXPECT_EQ(test_named(r, "hairpin")->outcome, Outcome::Timeout);
  bool noted = false;
  for (const auto& n : r.notes) noted |= n.find("no hairpinning") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(DiagNat, HairpinRequestsGoBothWays) {
  World w = nat(Behavior::EndpointIndependent, Behavior::AddressAndPortDependent);
  NatReport r = run(w);
  ASSERT_TRUE(r.hairpinning.value_or(false));
  // Each mapping sent to the other's public address, so the port-restricted filter let one in.
  std::set<std::pair<int, std::string>> hairpin_sends;
  for (const auto& t : w.sent)
    if (t.to.address == kPublicIp) hairpin_sends.insert({static_cast<int>(t.socket), t.to.to_string()});
  EXPECT_EQ(hairpin_sends.size(), 2u);
  EXPECT_TRUE(hairpin_sends.count({static_cast<int>(SocketRole::Hairpin), r.mapped->to_string()}));
}

// --- Servers without RFC 5780, and misbehaving ones ---

TEST(DiagNat, ServerWithoutOtherAddressBehindNat) {
  World w = nat(Behavior::EndpointIndependent, Behavior::EndpointIndependent);
  w.server.rfc5780 = false;
  NatReport r = run(w);
  EXPECT_TRUE(r.udp_reachable);
  EXPECT_FALSE(r.rfc5780);
  EXPECT_FALSE(r.other_address);
  EXPECT_EQ(r.mapping, Behavior::Unknown);
  EXPECT_EQ(r.filtering, Behavior::Unknown);
  EXPECT_EQ(r.rfc3489, "Unknown");
  EXPECT_NE(r.verdict.find("does not support RFC 5780"), std::string::npos) << r.verdict;
  EXPECT_FALSE(test_named(r, "mapping_alt_ip"));
  EXPECT_FALSE(test_named(r, "filtering_binding"));
  EXPECT_EQ(r.hairpinning, std::optional<bool>(true));  // needs only the mapped address
  // Nothing was ever sent to the alternate address.
  for (const auto& t : w.sent) EXPECT_NE(t.to.address, kOther.address);
}

TEST(DiagNat, ServerWithoutOtherAddressNoNat) {
  World w = no_nat(Behavior::NoNat);
  w.server.rfc5780 = false;
  NatReport r = run(w);
  EXPECT_EQ(r.mapping, Behavior::NoNat);
  EXPECT_EQ(r.filtering, Behavior::Unknown);
  EXPECT_NE(r.verdict.find("no NAT"), std::string::npos) << r.verdict;
  EXPECT_NE(r.verdict.find("RFC 5780"), std::string::npos) << r.verdict;
}

TEST(DiagNat, OtherAddressOnTheSameIpIsNotUsable) {
  World w = nat(Behavior::EndpointIndependent, Behavior::EndpointIndependent);
  w.server.other_address = ep("198.51.100.1:3479");
  NatReport r = run(w);
  EXPECT_FALSE(r.rfc5780);
  EXPECT_EQ(r.other_address, ep("198.51.100.1:3479"));
  EXPECT_EQ(r.mapping, Behavior::Unknown);
  EXPECT_FALSE(test_named(r, "mapping_alt_ip"));
}

TEST(DiagNat, ServerIgnoringChangeRequest) {
  World w = nat(Behavior::EndpointIndependent, Behavior::AddressAndPortDependent);
  w.server.ignore_change = true;  // answers from the primary address: proves nothing
  NatReport r = run(w);
  EXPECT_EQ(r.mapping, Behavior::EndpointIndependent);
  EXPECT_EQ(r.filtering, Behavior::Unknown);
  EXPECT_EQ(test_named(r, "filtering_change_ip_port")->outcome, Outcome::UnexpectedSource);
  EXPECT_FALSE(test_named(r, "filtering_change_port"));
  bool noted = false;
  for (const auto& n : r.notes) noted |= n.find("ignores CHANGE-REQUEST") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(DiagNat, ServerRejectingChangeRequest) {
  World w = nat(Behavior::EndpointIndependent, Behavior::EndpointIndependent);
  w.server.reject_change = true;
  NatReport r = run(w);
  const TestRecord* t = test_named(r, "filtering_change_ip_port");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->outcome, Outcome::ErrorResponse);
  EXPECT_EQ(t->error_code, 420);
  EXPECT_EQ(r.filtering, Behavior::Unknown);
  EXPECT_EQ(r.rfc3489, "Unknown");
}

TEST(DiagNat, AlternateAddressUnreachable) {
  World w = nat(Behavior::EndpointIndependent, Behavior::EndpointIndependent);
  w.drop = [](const Transmit& t) { return t.to.address == kOther.address; };
  NatReport r = run(w);
  EXPECT_EQ(test_named(r, "mapping_alt_ip")->outcome, Outcome::Timeout);
  EXPECT_EQ(r.mapping, Behavior::Unknown);
  // The filtering tests still ran (the answers come from the alternate address, which is not blocked inbound).
  EXPECT_EQ(r.filtering, Behavior::EndpointIndependent);
  bool noted = false;
  for (const auto& n : r.notes) noted |= n.find("alternate address") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(DiagNat, ErrorResponseToBinding) {
  World w = nat(Behavior::EndpointIndependent, Behavior::EndpointIndependent);
  w.server.error_to_binding = 400;
  NatReport r = run(w);
  EXPECT_TRUE(r.udp_reachable);
  EXPECT_FALSE(r.tcp_reachable);
  EXPECT_EQ(r.mapping, Behavior::Unknown);
  EXPECT_EQ(r.tests.size(), 1u);
  EXPECT_EQ(r.tests[0].error_code, 400);
  EXPECT_NE(r.verdict.find("refused the Binding request (400"), std::string::npos) << r.verdict;
}

TEST(DiagNat, OldServerWithMappedAddressOnly) {
  World w = nat(Behavior::EndpointIndependent, Behavior::EndpointIndependent);
  w.server.send_xor = false;
  NatReport r = run(w);
  ASSERT_TRUE(r.mapped);
  EXPECT_EQ(r.mapped->address, kPublicIp);
  EXPECT_EQ(r.mapping, Behavior::EndpointIndependent);
  EXPECT_FALSE(r.alg_detected);  // nothing to compare
}

TEST(DiagNat, AlgDetected) {
  World w = nat(Behavior::EndpointIndependent, Behavior::EndpointIndependent);
  w.server.alg_plain = ep("192.168.1.10:5000");  // the ALG "fixed" MAPPED-ADDRESS back to the private address
  NatReport r = run(w);
  EXPECT_EQ(r.alg_detected, std::optional<bool>(true));
  EXPECT_EQ(r.mapped->address, kPublicIp);  // XOR-MAPPED-ADDRESS wins
  bool noted = false;
  for (const auto& n : r.notes) noted |= n.find("ALG") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(DiagNat, NoMappedAddressAttributeMeansNoAlgVerdict) {
  World w = nat(Behavior::EndpointIndependent, Behavior::EndpointIndependent);
  w.server.send_plain = false;
  NatReport r = run(w);
  EXPECT_FALSE(r.alg_detected.has_value());
  EXPECT_EQ(r.rfc3489, "Full Cone");
}

// --- Reachability ---

TEST(DiagNat, UdpBlockedTcpWorks) {
  World w = nat(Behavior::EndpointIndependent, Behavior::EndpointIndependent);
  w.udp_blocked = true;
  auto cfg = config();
  cfg.tcp_port = 443;
  NatReport r = run(w, cfg);
  EXPECT_FALSE(r.udp_reachable);
  EXPECT_EQ(r.tcp_reachable, std::optional<bool>(true));
  EXPECT_EQ(r.mapping, Behavior::Unknown);
  EXPECT_EQ(r.filtering, Behavior::Unknown);
  EXPECT_FALSE(r.hairpinning.has_value());
  EXPECT_EQ(r.rfc3489, "UDP Blocked");
  EXPECT_EQ(r.verdict, "UDP blocked: media will use TURN over TCP/TLS (443); expect relayed media");
  EXPECT_EQ(r.server_tcp, ep("198.51.100.1:443"));
  ASSERT_EQ(r.tests.size(), 2u);
  EXPECT_EQ(r.tests[0].outcome, Outcome::Timeout);
  EXPECT_EQ(r.tests[1].transport, turn::Transport::Tcp);
  EXPECT_EQ(r.tests[1].to, ep("198.51.100.1:443"));
  EXPECT_EQ(r.tests[1].attempts, 1u);  // no retransmission on a stream
  EXPECT_TRUE(r.tcp_mapped);
}

TEST(DiagNat, UdpAndTcpBlocked) {
  for (auto mode : {World::Tcp::Refused, World::Tcp::Silent}) {
    World w = nat(Behavior::EndpointIndependent, Behavior::EndpointIndependent);
    w.udp_blocked = true;
    w.tcp = mode;
    NatReport r = run(w);
    EXPECT_FALSE(r.udp_reachable);
    EXPECT_EQ(r.tcp_reachable, std::optional<bool>(false));
    EXPECT_EQ(r.tests[1].outcome, mode == World::Tcp::Refused ? Outcome::Refused : Outcome::Timeout);
    EXPECT_NE(r.verdict.find("neither UDP nor TCP"), std::string::npos);
  }
}

TEST(DiagNat, UdpBlockedTakesOneBudgetThenTcp) {
  World w;
  w.udp_blocked = true;
  w.tcp = World::Tcp::Silent;
  int64_t elapsed_ms = 0;
  run(w, config(2000), &elapsed_ms);
  EXPECT_EQ(elapsed_ms, 4000);
}

// --- Loss, retransmission, stray and malformed answers ---

TEST(DiagNat, RetransmitsWithTheSameTransactionIdAndDoublingRto) {
  World w = no_nat(Behavior::NoNat);
  int dropped = 0;
  w.drop = [&](const Transmit&) { return dropped++ < 3; };  // the first three copies of Test I are lost
  NatReport r = run(w);
  EXPECT_TRUE(r.udp_reachable);
  EXPECT_EQ(test_named(r, "binding")->attempts, 4u);
  EXPECT_EQ(test_named(r, "binding")->elapsed_ms, 1750u);
  ASSERT_GE(w.sent.size(), 4u);
  for (int i = 1; i < 4; ++i) EXPECT_EQ(w.sent[i].bytes, w.sent[0].bytes);
  EXPECT_EQ(w.sent_at[1] - w.sent_at[0], 250u);
  EXPECT_EQ(w.sent_at[2] - w.sent_at[1], 500u);
  EXPECT_EQ(w.sent_at[3] - w.sent_at[2], 1000u);
}

TEST(DiagNat, EveryTestHasItsOwnTransactionId) {
  World w = nat(Behavior::AddressAndPortDependent, Behavior::AddressAndPortDependent);
  run(w);
  std::map<std::string, std::set<std::string>> ids_by_dest;
  std::set<std::vector<uint8_t>> ids;
  std::set<std::vector<uint8_t>> distinct_messages;
  for (const auto& t : w.sent) {
    stun::Message m;
    ASSERT_EQ(stun::Message::parse(t.bytes, m), stun::ParseError::None);
    EXPECT_EQ(m.method(), stun::Method::Binding);
    EXPECT_EQ(m.cls(), stun::Class::Request);
    EXPECT_TRUE(m.has_fingerprint());
    ids.insert(std::vector<uint8_t>(m.transaction_id().begin(), m.transaction_id().end()));
    distinct_messages.insert(t.bytes);
  }
  EXPECT_EQ(ids.size(), distinct_messages.size());
  EXPECT_GE(ids.size(), 8u);
}

TEST(DiagNat, ChangeRequestAttributeValues) {
  World w = nat(Behavior::EndpointIndependent, Behavior::AddressAndPortDependent);
  run(w);
  std::vector<uint32_t> changes;
  for (const auto& t : w.sent) {
    stun::Message m;
    ASSERT_EQ(stun::Message::parse(t.bytes, m), stun::ParseError::None);
    if (const auto* a = m.find(stun::attr::ChangeRequest)) {
      ASSERT_EQ(a->value.size(), 4u);
      changes.push_back(uint32_t(a->value[0]) << 24 | a->value[1] << 16 | a->value[2] << 8 | a->value[3]);
      EXPECT_EQ(t.socket, SocketRole::Filtering);
      EXPECT_EQ(t.to, kPrimary);
    }
  }
  ASSERT_FALSE(changes.empty());
  EXPECT_EQ(changes.front(), 0x6u);
  EXPECT_EQ(changes.back(), 0x2u);
}

TEST(DiagNat, WrongTransactionIdsAndSocketsAreIgnored) {
  World w = nat(Behavior::EndpointIndependent, Behavior::EndpointIndependent);
  int injected = 0;
  w.inject = [&](World& world, const Transmit& t) {
    if (t.transport != turn::Transport::Udp || t.to != kPrimary) return;
    stun::Message req;
    ASSERT_EQ(stun::Message::parse(t.bytes, req), stun::ParseError::None);
    // A success with another transaction id, on the right socket.
    stun::TransactionId other = req.transaction_id();
    other[0] ^= 0xFF;
    uint8_t buf[256];
    stun::Builder b(buf, stun::Method::Binding, stun::Class::Success, other);
    b.add_xor_address(stun::attr::XorMappedAddress, ep("10.9.9.9:9"));
    world.inbox.push_back({t.socket, kPrimary, std::vector<uint8_t>(b.bytes().begin(), b.bytes().end())});
    // The right transaction id, but on another socket.
    stun::Builder b2(buf, stun::Method::Binding, stun::Class::Success, req.transaction_id());
    b2.add_xor_address(stun::attr::XorMappedAddress, ep("10.9.9.9:9"));
    SocketRole wrong = t.socket == SocketRole::Main ? SocketRole::Filtering : SocketRole::Main;
    world.inbox.push_back({wrong, kPrimary, std::vector<uint8_t>(b2.bytes().begin(), b2.bytes().end())});
    // A request (not a response) with the right id.
    stun::Builder b3(buf, stun::Method::Binding, stun::Class::Request, req.transaction_id());
    world.inbox.push_back({t.socket, kPrimary, std::vector<uint8_t>(b3.bytes().begin(), b3.bytes().end())});
    injected += 3;
  };
  NatReport r = run(w);
  EXPECT_GT(injected, 0);
  EXPECT_EQ(r.ignored_datagrams, static_cast<uint32_t>(injected));
  EXPECT_EQ(r.mapped->address, kPublicIp);
  for (const auto& t : r.tests)
    if (t.mapped) {
      EXPECT_NE(t.mapped->address, *IpAddress::parse("10.9.9.9"));
    }
  EXPECT_EQ(r.rfc3489, "Full Cone");
}

TEST(DiagNat, MalformedAnswersAreIgnored) {
  World w = no_nat(Behavior::NoNat);
  w.inject = [](World& world, const Transmit& t) {
    if (t.transport != turn::Transport::Udp || t.to != kPrimary) return;
    stun::Message req;
    ASSERT_EQ(stun::Message::parse(t.bytes, req), stun::ParseError::None);
    world.inbox.push_back({t.socket, kPrimary, {1, 2, 3}});  // not STUN
    std::vector<uint8_t> truncated(t.bytes.begin(), t.bytes.begin() + 24);
    world.inbox.push_back({t.socket, kPrimary, truncated});
    uint8_t buf[256];
    stun::Builder b(buf, stun::Method::Binding, stun::Class::Success, req.transaction_id());
    b.add_xor_address(stun::attr::XorMappedAddress, ep("10.9.9.9:9"));
    b.add_fingerprint();
    std::vector<uint8_t> bad_fp(b.bytes().begin(), b.bytes().end());
    bad_fp.back() ^= 1;
    world.inbox.push_back({t.socket, kPrimary, bad_fp});
    // A bad XOR-MAPPED-ADDRESS (family 7).
    stun::Builder b2(buf, stun::Method::Binding, stun::Class::Success, req.transaction_id());
    uint8_t v[8] = {0, 7, 0, 1, 1, 2, 3, 4};
    b2.add(stun::attr::XorMappedAddress, std::span<const uint8_t>(v, 8));
    world.inbox.push_back({t.socket, kPrimary, std::vector<uint8_t>(b2.bytes().begin(), b2.bytes().end())});
  };
  NatReport r = run(w);
  EXPECT_EQ(r.mapping, Behavior::NoNat);
  EXPECT_EQ(r.filtering, Behavior::NoNat);
  EXPECT_EQ(*r.mapped, kLocal[0]);
  EXPECT_GE(r.ignored_datagrams, 4u);
}

TEST(DiagNat, OnlyMalformedAnswersMeanReachableButUnknown) {
  World w = nat(Behavior::EndpointIndependent, Behavior::EndpointIndependent);
  w.server.malformed = true;  // success responses without any mapped address
  NatReport r = run(w);
  EXPECT_TRUE(r.udp_reachable);
  EXPECT_FALSE(r.tcp_reachable);
  EXPECT_EQ(r.tests.size(), 1u);
  EXPECT_EQ(r.tests[0].outcome, Outcome::Malformed);
  EXPECT_EQ(r.mapping, Behavior::Unknown);
  EXPECT_NE(r.verdict.find("malformed"), std::string::npos);
}

TEST(DiagNat, WaitsNeverGoBackwardsAndNothingIsSentAfterDone) {
  NatProbe probe(config(100));
  int64_t now_ms = 5;
  int sends = 0;
  for (int i = 0; i < 1000 && !probe.done(); ++i) {
    Action a = probe.next_action(now_ms);
    if (a.kind == Action::Kind::Send) { ++sends; continue; }
    if (a.kind == Action::Kind::Done) break;
    ASSERT_GT(a.until_ms, now_ms);
    now_ms = a.until_ms;
  }
  EXPECT_TRUE(probe.done());  // nothing ever answers: UDP times out, then TCP
  EXPECT_GT(sends, 1);
  EXPECT_EQ(probe.next_action(now_ms + 1000).kind, Action::Kind::Done);
  probe.on_datagram(SocketRole::Main, kPrimary, std::vector<uint8_t>{1, 2}, now_ms);
  EXPECT_EQ(probe.report().tcp_reachable, std::optional<bool>(false));
}

// --- JSON and text ---

TEST(DiagJson, ContractFields) {
  World w = nat(Behavior::EndpointIndependent, Behavior::AddressAndPortDependent);
  NatReport r = run(w);
  auto j = nlohmann::json::parse(to_json(r).dump());
  EXPECT_EQ(j["mapping"], "endpoint_independent");
  EXPECT_EQ(j["filtering"], "address_and_port_dependent");
  EXPECT_EQ(j["udp_reachable"], true);
  EXPECT_TRUE(j["tcp_reachable"].is_null());
  EXPECT_EQ(j["hairpinning"], true);
  EXPECT_EQ(j["alg_detected"], false);
  EXPECT_EQ(j["rfc3489"], "Port Restricted Cone");
  EXPECT_EQ(j["server"], "198.51.100.1:3478");
  EXPECT_EQ(j["local"], "192.168.1.10:5000");
  EXPECT_EQ(j["other_address"], "198.51.100.2:3479");
  EXPECT_EQ(j["rfc5780"], true);
  EXPECT_TRUE(j["verdict"].is_string());
  EXPECT_TRUE(j["notes"].is_array());
  ASSERT_TRUE(j["tests"].is_array());
  auto t = j["tests"][0];
  EXPECT_EQ(t["name"], "binding");
  EXPECT_EQ(t["result"], "ok");
  EXPECT_EQ(t["transport"], "udp");
  EXPECT_EQ(t["socket"], "main");
  EXPECT_EQ(t["change_request"], "none");
  EXPECT_TRUE(t["mapped"].is_string());
  bool saw_port_change = false;
  for (const auto& x : j["tests"]) saw_port_change |= x["change_request"] == "port" && x["result"] == "timeout";
  EXPECT_TRUE(saw_port_change);
}

TEST(DiagJson, UdpBlocked) {
  World w;
  w.udp_blocked = true;
  NatReport r = run(w);
  auto j = nlohmann::json::parse(to_json(r).dump());
  EXPECT_EQ(j["mapping"], "unknown");
  EXPECT_EQ(j["filtering"], "unknown");
  EXPECT_EQ(j["udp_reachable"], false);
  EXPECT_EQ(j["tcp_reachable"], true);
  EXPECT_TRUE(j["hairpinning"].is_null());
  EXPECT_TRUE(j["mapped"].is_null());
  EXPECT_EQ(j["rfc3489"], "UDP Blocked");
}

TEST(DiagText, MentionsTheEssentials) {
  World w = nat(Behavior::AddressAndPortDependent, Behavior::AddressAndPortDependent);
  std::string s = to_text(run(w));
  for (const char* want : {"mapping", "address_and_port_dependent", "Symmetric", "TURN required", "binding",
                           "filtering_change_port", "203.0.113.7"})
    EXPECT_NE(s.find(want), std::string::npos) << want << "\n" << s;
}

// --- Command line ---

TEST(DiagCli, HostPort) {
  auto hp = parse_host_port("turn.example.com", 3478);
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "turn.example.com");
  EXPECT_EQ(hp->port, 3478);
  hp = parse_host_port("turn.example.com:5349", 3478);
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->port, 5349);
  hp = parse_host_port("[2001:db8::1]:3479", 3478);
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "2001:db8::1");
  EXPECT_EQ(hp->port, 3479);
  hp = parse_host_port("2001:db8::1", 3478);
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "2001:db8::1");
  EXPECT_EQ(hp->port, 3478);
  EXPECT_FALSE(parse_host_port("", 3478));
  EXPECT_FALSE(parse_host_port("host:", 3478));
  EXPECT_FALSE(parse_host_port("host:0", 3478));
  EXPECT_FALSE(parse_host_port("host:65536", 3478));
  EXPECT_FALSE(parse_host_port("host:12x", 3478));
  EXPECT_FALSE(parse_host_port("[::1", 3478));
  EXPECT_FALSE(parse_host_port("[nothost]:1", 3478));
  EXPECT_FALSE(parse_host_port("a/b", 3478));
}

TEST(DiagCli, Url) {
  auto u = parse_url("http://127.0.0.1:9641/api/v1/nat-reports");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "http");
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 9641);
  EXPECT_EQ(u->target, "/api/v1/nat-reports");
  u = parse_url("https://turnpike.example.com");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/");
  u = parse_url("http://[::1]/x?y=1#frag");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->target, "/x?y=1");
  EXPECT_FALSE(parse_url("ftp://x/"));
  EXPECT_FALSE(parse_url("http://"));
  EXPECT_FALSE(parse_url("http://user:pw@host/"));
  EXPECT_FALSE(parse_url("127.0.0.1:9641/api"));
}

TEST(DiagCli, NatArgs) {
  std::string err;
  auto o = parse_nat_args({"--server", "turn.example.com:3479", "--json", "--timeout-ms=1500", "--tcp-port", "443",
                           "--local", "192.168.1.10", "--report", "http://127.0.0.1:9641/api/v1/nat-reports",
                           "--tag", "site=lyon", "--tag", "room=3b", "--token", "s3cret"},
                          err);
  ASSERT_TRUE(o) << err;
  EXPECT_EQ(o->server.host, "turn.example.com");
  EXPECT_EQ(o->server.port, 3479);
  EXPECT_TRUE(o->json);
  EXPECT_EQ(o->timeout_ms, 1500u);
  EXPECT_EQ(o->tcp_port, 443);
  EXPECT_EQ(o->local_address, IpAddress::parse("192.168.1.10"));
  EXPECT_EQ(o->local_port, 0);
  ASSERT_TRUE(o->report);
  EXPECT_EQ(o->report->target, "/api/v1/nat-reports");
  ASSERT_EQ(o->tags.size(), 2u);
  EXPECT_EQ(o->tags[0], (std::pair<std::string, std::string>{"site", "lyon"}));
  EXPECT_EQ(o->tags[1], (std::pair<std::string, std::string>{"room", "3b"}));
  EXPECT_EQ(o->token, "s3cret");

  o = parse_nat_args({"--server", "1.2.3.4"}, err);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->server.port, 3478);
  EXPECT_EQ(o->timeout_ms, 3000u);
  EXPECT_FALSE(o->json);

  o = parse_nat_args({"--help"}, err);
  ASSERT_TRUE(o);
  EXPECT_TRUE(o->help);
}

TEST(DiagCli, AtMostSixteenTags) {
  std::vector<std::string> args = {"--server", "h"};
  for (int i = 0; i < 16; ++i) {
    args.push_back("--tag");
    args.push_back("k" + std::to_string(i) + "=v.1/a:b_c-d");
  }
  std::string err;
  EXPECT_TRUE(parse_nat_args(args, err)) << err;
  args.push_back("--tag");
  args.push_back("one=more");
  EXPECT_FALSE(parse_nat_args(args, err));
  EXPECT_NE(err.find("16"), std::string::npos);
}

TEST(DiagCli, NatUsageErrors) {
  const std::vector<std::vector<std::string>> bad = {
      {},                                          // no --server
      {"--json"},                                  // no --server
      {"--server"},                                // no value
      {"--server", "host:99999"},
      {"--server", "h", "--timeout-ms", "0"},
      {"--server", "h", "--timeout-ms", "abc"},
      {"--server", "h", "--tcp-port", "70000"},
      {"--server", "h", "--local", "not-an-ip"},
      {"--server", "h", "--report", "ftp://x"},
      {"--server", "h", "--tag", "novalue"},
      {"--server", "h", "--tag", "=v"},
      {"--server", "h", "--tag", "a=1", "--tag", "a=2"},
      {"--server", "h", "--tag", "room=3 b"},
      {"--server", "h", "--tag", "site="},
      {"--server", "h", "--tag", "s\xc3\xa9=x"},
      {"--server", "h", "--json=yes"},
      {"--server", "h", "--frobnicate"},
      {"--server", "h", "extra"},
  };
  for (const auto& args : bad) {
    std::string err;
    EXPECT_FALSE(parse_nat_args(args, err)) << ::testing::PrintToString(args);
    EXPECT_FALSE(err.empty()) << ::testing::PrintToString(args);
  }
}
