// Passive NAT mapping inference from an ICE session's candidates and check sources.
#include <gtest/gtest.h>

#include "sfu/nat_inference.hpp"

using namespace sfu;
using turn::Endpoint;

namespace {

Endpoint ep(const char* s) { return *Endpoint::parse(s); }

// Our STUN on 203.0.113.1:3478 and :3479 (RFC 5780's port alternate), media on 203.0.113.2:5000.
NatEvidence base() {
  NatEvidence e;
  e.stun_servers = {ep("203.0.113.1:3478"), ep("203.0.113.1:3479")};
  e.media = ep("203.0.113.2:5000");
  e.hosts = {ep("198.51.100.2:40000")};
  return e;
}

}  // namespace

TEST(NatInference, MappingKeptTowardsAnotherIpIsEndpointIndependent) {
  auto e = base();
  e.srflx = {{ep("203.0.113.20:40000"), ep("198.51.100.2:40000")}};
  e.check_sources = {ep("203.0.113.20:40000")};
  EXPECT_EQ(infer_mapping(e), NatMapping::EndpointIndependent);
  EXPECT_STREQ(to_string(infer_mapping(e)), "endpoint_independent");
}

TEST(NatInference, TwoMappingsForOurTwoPortsIsAddressAndPortDependent) {
  auto e = base();
  e.srflx = {{ep("203.0.113.21:61001"), ep("198.51.100.2:40000")}, {ep("203.0.113.21:52002"), ep("198.51.100.2:40000")}};
  e.check_sources = {ep("203.0.113.21:33003")};
  EXPECT_EQ(infer_mapping(e), NatMapping::AddressAndPortDependent);
  // Hidden related addresses (0.0.0.0:0 is left out as no base): the same conclusion.
  for (auto& c : e.srflx) c.base.reset();
  EXPECT_EQ(infer_mapping(e), NatMapping::AddressAndPortDependent);
}

TEST(NatInference, SameAcrossPortsButNewTowardsAnotherIpIsAddressDependent) {
  auto e = base();
  e.srflx = {{ep("203.0.113.22:40000"), ep("198.51.100.2:40000")}};
  e.check_sources = {ep("203.0.113.22:41234")};
  EXPECT_EQ(infer_mapping(e), NatMapping::AddressDependent);
  // With only one STUN address, another IP's new mapping can't tell ADM from APDM.
  e.stun_servers = {ep("203.0.113.1:3478")};
  EXPECT_EQ(infer_mapping(e), NatMapping::Unknown);
}

TEST(NatInference, MediaOnTheStunIpTellsOnlyPortDependence) {
  auto e = base();
  e.media = ep("203.0.113.1:5000");
  e.stun_servers = {ep("203.0.113.1:3478")};
  e.srflx = {{ep("203.0.113.20:40000"), std::nullopt}};
  e.check_sources = {ep("203.0.113.20:40000")};
  EXPECT_EQ(infer_mapping(e), NatMapping::Unknown);  // EIM or ADM
  e.check_sources = {ep("203.0.113.20:50000")};
  EXPECT_EQ(infer_mapping(e), NatMapping::AddressAndPortDependent);
}

TEST(NatInference, ChecksFromAHostCandidateAreNoNat) {
  auto e = base();
  e.hosts = {ep("203.0.113.50:40000")};
  e.check_sources = {ep("203.0.113.50:40000")};
  EXPECT_EQ(infer_mapping(e), NatMapping::NoNat);
}

TEST(NatInference, NoEvidenceIsUnknown) {
  auto e = base();
  EXPECT_EQ(infer_mapping(e), NatMapping::Unknown);  // no checks
  e.check_sources = {ep("203.0.113.20:40000")};
  EXPECT_EQ(infer_mapping(e), NatMapping::Unknown);  // no srflx (no STUN, or only a relay)
  e.srflx = {{ep("192.0.2.99:40000"), std::nullopt}};  // another NAT's mapping: not this path
  EXPECT_EQ(infer_mapping(e), NatMapping::Unknown);
}
