#include <gtest/gtest.h>

#include "turn/address.hpp"
#include "turn/peer_policy.hpp"

using namespace turn;

TEST(Address, ParsesAndPrints) {
  EXPECT_EQ(IpAddress::parse("192.0.2.1")->to_string(), "192.0.2.1");
  EXPECT_EQ(IpAddress::parse("2001:db8::1")->to_string(), "2001:db8::1");
  EXPECT_FALSE(IpAddress::parse("192.0.2.256"));
  EXPECT_FALSE(IpAddress::parse(""));
  EXPECT_FALSE(IpAddress::parse("example.org"));
  EXPECT_EQ(Endpoint::parse("[::1]:3478")->to_string(), "[::1]:3478");
  EXPECT_EQ(Endpoint::parse("127.0.0.1:9641")->port, 9641);
  EXPECT_FALSE(Endpoint::parse("127.0.0.1:70000"));
  EXPECT_FALSE(Endpoint::parse("127.0.0.1"));
  EXPECT_FALSE(Endpoint::parse("::1:5"));
}

TEST(Cidr, ContainsAndOverlaps) {
  auto c = *Cidr::parse("198.51.100.64/26");
  EXPECT_TRUE(c.contains(*IpAddress::parse("198.51.100.74")));
  EXPECT_FALSE(c.contains(*IpAddress::parse("198.51.100.10")));
  EXPECT_TRUE(c.overlaps(*Cidr::parse("198.51.100.0/24")));
  EXPECT_FALSE(c.overlaps(*Cidr::parse("198.51.100.0/26")));
  EXPECT_EQ(Cidr::parse("10.1.2.3/8")->to_string(), "10.0.0.0/8");
  EXPECT_FALSE(Cidr::parse("10.0.0.0/33"));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/"));
  EXPECT_TRUE(Cidr::parse("fe80::/10")->contains(*IpAddress::parse("fe80::1")));
}

TEST(PeerPolicy, DeniesInternalRangesByDefault) {
  PeerPolicy p;
  for (const char* a : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
                        "224.0.0.1", "0.0.0.0", "255.255.255.255", "::1", "::", "fe80::1", "fd00::1", "ff02::1",
                        "::ffff:127.0.0.1", "::ffff:169.254.169.254"})
    EXPECT_FALSE(p.allowed(*IpAddress::parse(a))) << a;
  for (const char* a : {"192.0.2.1", "198.51.100.7", "203.0.113.9", "2001:db8::1"})
    EXPECT_TRUE(p.allowed(*IpAddress::parse(a))) << a;
}

TEST(PeerPolicy, AllowIsAnExceptionAndDenyWins) {
  PeerPolicy p({*Cidr::parse("127.0.0.0/8")}, {*Cidr::parse("203.0.113.0/24")});
  EXPECT_TRUE(p.allowed(*IpAddress::parse("127.0.0.1")));
  EXPECT_FALSE(p.allowed(*IpAddress::parse("10.0.0.1")));
  EXPECT_FALSE(p.allowed(*IpAddress::parse("203.0.113.5")));
  EXPECT_TRUE(p.allowed(*IpAddress::parse("198.51.100.1")));
}
