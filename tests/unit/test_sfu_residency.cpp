// Data residency in the SFU engine (sfu/engine.hpp, EngineConfig::admit): a participant joins with a
// real Chromium offer (tests/fixtures/chromium_sdp/), then connectivity checks built as Chromium
// builds them arrive from addresses of served, foreign and unknown regions. Refused addresses get
// no answer (so no media path), the participant is told where to go once no admitted path has been
// nominated, and a reloaded policy ends a session whose path it now refuses.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sfu/engine.hpp"
#include "sfu/sdp.hpp"
#include "sfu_fixture.hpp"
#include "turn/attributes.hpp"
#include "turn/crypto.hpp"
#include "turn/message.hpp"

using namespace sfu;
using namespace sfu_fixture;
using json = nlohmann::json;
using Verdict = EngineConfig::Admission::Verdict;
namespace stun = turn::stun;
namespace attr = turn::stun::attr;

namespace {

// The catalog as the server's admission sees it: eu-west is served; us-east redirects to its
// signalling URL; 192.0.2.0/24 is a foreign region served as drift; anything else is refused.
struct Policy {
  bool eu_west_served = true;
  EngineConfig::Admission operator()(const turn::Endpoint& from) const {
    EngineConfig::Admission a;
    auto in = [&](const char* cidr) { return turn::Cidr::parse(cidr)->contains(from.address); };
    if (in("198.51.100.0/26")) {
      a.region = "eu-west";
      a.verdict = eu_west_served ? Verdict::Serve : Verdict::Refuse;
    } else if (in("203.0.113.0/24")) {
      a.region = "us-east";
      a.signal_url = "wss://203.0.113.10:8443/signal";
      a.verdict = Verdict::Redirect;
    } else if (in("192.0.2.0/24")) {
      a.region = "ap-south";
      a.verdict = Verdict::Drift;
    } else {
      a.verdict = Verdict::Refuse;
    }
    return a;
  }
};

class SfuResidency : public EngineTest {
 protected:
  Policy policy;
  std::string local_ufrag, local_pwd, remote_ufrag, remote_pwd;

  void configure(EngineConfig& cfg) override {
    cfg.admit = [this](const turn::Endpoint& from) { return policy(from); };
  }

  void SetUp() override {
    EngineTest::SetUp();
    Client nurse = join(1, "nurse", chromium_sdp("a_sendonly_audio_video.sdp"));
    ASSERT_FALSE(nurse.local_ufrag.empty()) << sink.signals.back().second.dump();
    local_ufrag = nurse.local_ufrag;
    local_pwd = nurse.local_pwd;
    remote_ufrag = nurse.remote_ufrag;
    remote_pwd = nurse.remote_pwd;
  }

  // The browser answers the SFU's Binding requests (it proves a nominated address, RFC 8445 7.2.2).
  void answer_probes(const turn::Endpoint& from, size_t since) {
    for (size_t i = since; i < sink.media.size(); ++i) {
      auto [to, d] = sink.media[i];
      stun::Message m;
      if (to != from || stun::Message::parse(d, m) != stun::ParseError::None || m.cls() != stun::Class::Request) continue;
      std::array<uint8_t, 512> buf{};
      stun::Builder b(buf, stun::Method::Binding, stun::Class::Success, m.transaction_id());
      b.add_xor_address(attr::XorMappedAddress, ep("198.51.100.10:40000"));
      b.add_integrity(turn::crypto::bytes(remote_pwd));
      b.add_fingerprint();
      ASSERT_TRUE(b.ok());
      std::vector<uint8_t> bytes(b.bytes().begin(), b.bytes().end());
      engine->media(bytes, from, now);
    }
  }

  // A connectivity check as Chromium sends one (RFC 8445 7.2.2).
  void check(const char* from, bool nominate = false, const std::string& pwd = {}) {
    static uint8_t seq = 0;
    std::array<uint8_t, 512> buf{};
    stun::TransactionId txid{};
    txid[0] = ++seq;
    stun::Builder b(buf, stun::Method::Binding, stun::Class::Request, txid);
    b.add(attr::Username, local_ufrag + ":" + remote_ufrag);
    std::array<uint8_t, 8> tie{1, 2, 3, 4, 5, 6, 7, 8};
    b.add(attr::IceControlling, tie);
    std::array<uint8_t, 4> prio{0x6e, 0x7f, 0x1e, 0xff};
    b.add(attr::Priority, prio);
    if (nominate) b.add(attr::UseCandidate, std::span<const uint8_t>{});
    b.add_integrity(turn::crypto::bytes(pwd.empty() ? local_pwd : pwd));
    b.add_fingerprint();
    ASSERT_TRUE(b.ok());
    std::vector<uint8_t> bytes(b.bytes().begin(), b.bytes().end());
    size_t since = sink.media.size();
    engine->media(bytes, ep(from), now);
    answer_probes(ep(from), since);
  }
};

TEST_F(SfuResidency, ChecksFromAServedRegionAreAnswered) {
  check("198.51.100.20:50000", true);
  EXPECT_EQ(sink.answered(ep("198.51.100.20:50000")), 1u);
  EXPECT_TRUE(sink.denied.empty());
  now += 10'000;
  engine->tick(now);
  EXPECT_TRUE(sink.closed.empty());
  EXPECT_EQ(engine->stats().participants.get(), 1u);
}

TEST_F(SfuResidency, ForeignChecksGetNoAnswerAndTheParticipantIsSentToItsRegion) {
  for (int i = 0; i < 3; ++i) check("203.0.113.20:50000", i == 2);
  check("203.0.113.20:50001");
  EXPECT_EQ(sink.answered(ep("203.0.113.20:50000")), 0u);
  EXPECT_EQ(sink.answered(ep("203.0.113.20:50001")), 0u);
  // Counted once per address, not per retransmitted check.
  EXPECT_EQ(sink.denied, (std::vector<std::string>{"us-east", "us-east"}));
  now += 2'999;
  engine->tick(now);
  EXPECT_TRUE(sink.closed.empty()) << "told before the grace for other candidate pairs ran out";
  now += 1;
  engine->tick(now);
  const json* err = sink.last("error");
  ASSERT_TRUE(err);
  EXPECT_EQ((*err)["code"], "wrong_region");
  EXPECT_EQ((*err)["region"], "us-east");
  EXPECT_EQ((*err)["signal_url"], "wss://203.0.113.10:8443/signal");
  EXPECT_EQ(sink.closed, (std::vector<std::string>{"wrong_region"}));
  EXPECT_EQ(sink.redirects, (std::vector<std::string>{"us-east"}));
  EXPECT_EQ(engine->stats().participants.get(), 0u);
  // Gone: later checks from anywhere open nothing.
  size_t before = sink.media.size();
  check("198.51.100.20:50000", true);
  EXPECT_EQ(sink.media.size(), before);
}

TEST_F(SfuResidency, AnAddressInNoRegionIsRefused) {
  check("203.0.114.5:50000", true);
  EXPECT_EQ(sink.answered(ep("203.0.114.5:50000")), 0u);
  EXPECT_EQ(sink.denied, (std::vector<std::string>{""}));
  now += 3'000;
  engine->tick(now);
  const json* err = sink.last("error");
  ASSERT_TRUE(err);
  EXPECT_EQ((*err)["code"], "forbidden_region");
  EXPECT_FALSE(err->contains("signal_url"));
  EXPECT_TRUE(sink.redirects.empty());
}

TEST_F(SfuResidency, AnAdmittedPathNominatedInTimeKeepsTheParticipant) {
  check("203.0.113.20:50000");  // a foreign candidate (say a VPN interface) checks first
  check("198.51.100.20:50000", true);
  EXPECT_EQ(sink.answered(ep("198.51.100.20:50000")), 1u);
  now += 5'000;
  engine->tick(now);
  EXPECT_TRUE(sink.closed.empty());
  EXPECT_EQ(engine->stats().participants.get(), 1u);
  EXPECT_EQ(sink.answered(ep("203.0.113.20:50000")), 0u);
}

TEST_F(SfuResidency, ForgedChecksFromForeignAddressesCountNothing) {
  check("203.0.113.20:50000", true, "not-the-password-at-all-xx");
  EXPECT_TRUE(sink.denied.empty());
  now += 5'000;
  engine->tick(now);
  EXPECT_TRUE(sink.closed.empty());
}

TEST_F(SfuResidency, DriftIsServed) {
  check("192.0.2.44:50000", true);
  EXPECT_EQ(sink.answered(ep("192.0.2.44:50000")), 1u);
  EXPECT_TRUE(sink.denied.empty());
}

TEST_F(SfuResidency, AReloadThatRefusesTheSelectedPathEndsTheSession) {
  check("198.51.100.20:50000", true);
  ASSERT_EQ(sink.answered(ep("198.51.100.20:50000")), 1u);
  policy.eu_west_served = false;
  engine->residency_changed(now);
  const json* err = sink.last("error");
  ASSERT_TRUE(err);
  EXPECT_EQ((*err)["code"], "forbidden_region");
  EXPECT_EQ(sink.ended, (std::vector<std::string>{"eu-west"}));
  EXPECT_EQ(engine->stats().participants.get(), 0u);
}

TEST_F(SfuResidency, AReloadThatAdmitsARefusedAddressLetsItsChecksIn) {
  policy.eu_west_served = false;
  check("198.51.100.20:50000", true);
  EXPECT_EQ(sink.answered(ep("198.51.100.20:50000")), 0u);
  policy.eu_west_served = true;
  engine->residency_changed(now);
  check("198.51.100.20:50000", true);
  EXPECT_EQ(sink.answered(ep("198.51.100.20:50000")), 1u);
  now += 5'000;
  engine->tick(now);
  EXPECT_TRUE(sink.closed.empty());
}

}  // namespace
