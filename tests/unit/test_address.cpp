#include <gtest/gtest.h>

#include "turn/address.hpp"
#include "turn/peer_policy.hpp"
#include "turn/turn_uri.hpp"

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

// Issue 14 item 10: IPv6 forms that reach an IPv4 address are judged by the IPv4 policy.
TEST(PeerPolicy, Ipv6FormsOfDeniedIpv4AddressesAreDenied) {
  PeerPolicy p;
  for (const char* a : {"64:ff9b::a9fe:a9fe",        // NAT64 well-known prefix: 169.254.169.254
                        "64:ff9b::7f00:1",           // NAT64: 127.0.0.1
                        "64:ff9b:1:a9fe:a9:fe00::",  // NAT64 local-use /48 (u-octet skipped): 169.254.169.254
                        "64:ff9b:1:a00:0:100::",     // the same layout: 10.0.0.1
                        "::a9fe:a9fe", "::7f00:1",   // IPv4-compatible
                        "::ffff:0:a9fe:a9fe",        // SIIT IPv4-translated
                        "2002:a9fe:a9fe::1", "2002:a00:1::", // 6to4
                        "2001:0:c633:6401::f5ff:fffe",  // Teredo, client 10.0.0.1 (inverted)
                        "2001:0:7f00:1::39cc:9bfd",     // Teredo, server 127.0.0.1
                        "100::1", "100::ffff:1"})        // discard-only
    EXPECT_FALSE(p.allowed(*IpAddress::parse(a))) << a;
  for (const char* a : {"64:ff9b::c633:6407", "64:ff9b:1:c633:64:700::", "::ffff:0:c633:6407", "2002:c633:6407::1",
                        "2001:0:c633:6401::39cc:9bfd", "2001:db8::1"})
    EXPECT_TRUE(p.allowed(*IpAddress::parse(a))) << a;
  auto e = PeerPolicy::embedded_v4(*IpAddress::parse("2001:0:c633:6401::39cc:9bfd"));
  ASSERT_EQ(e.count, 2u);
  EXPECT_EQ(e.v4[0].to_string(), "198.51.100.1");
  EXPECT_EQ(e.v4[1].to_string(), "198.51.100.2");
  EXPECT_EQ(PeerPolicy::embedded_v4(*IpAddress::parse("64:ff9b:1:a9fe:a9:fe00::")).v4[0].to_string(), "169.254.169.254");
}

TEST(PeerPolicy, AnEmbeddedIpv4IsAllowedOnlyAsTheIpv4PolicyAllowsItAndNoDenyNamesTheIpv6) {
  PeerPolicy allow_loopback({*Cidr::parse("127.0.0.0/8")}, {});
  EXPECT_TRUE(allow_loopback.allowed(*IpAddress::parse("64:ff9b::7f00:1")));
  // :: and ::1 are not IPv4-compatible addresses: ::1 is IPv6 loopback, allowed only by name.
  EXPECT_FALSE(allow_loopback.allowed(*IpAddress::parse("::1")));
  EXPECT_TRUE(PeerPolicy::embedded_v4(*IpAddress::parse("::1")).count == 0);
  PeerPolicy allow_v6_loopback({*Cidr::parse("::1/128")}, {});
  EXPECT_TRUE(allow_v6_loopback.allowed(*IpAddress::parse("::1")));
  EXPECT_FALSE(allow_v6_loopback.allowed(*IpAddress::parse("::")));
  PeerPolicy deny_nat64({*Cidr::parse("127.0.0.0/8")}, {*Cidr::parse("64:ff9b::/96")});
  EXPECT_FALSE(deny_nat64.allowed(*IpAddress::parse("64:ff9b::7f00:1")));
  EXPECT_TRUE(deny_nat64.allowed(*IpAddress::parse("127.0.0.1")));
  // Allowing the IPv6 prefix does not open what the IPv4 policy denies.
  PeerPolicy allow_prefix({*Cidr::parse("64:ff9b::/96"), *Cidr::parse("2002::/16")}, {});
  EXPECT_FALSE(allow_prefix.allowed(*IpAddress::parse("64:ff9b::a9fe:a9fe")));
  EXPECT_FALSE(allow_prefix.allowed(*IpAddress::parse("2002:a00:1::")));
  // A deny of an IPv4 range covers its IPv6 forms.
  PeerPolicy deny_doc({}, {*Cidr::parse("198.51.100.0/24")});
  EXPECT_FALSE(deny_doc.allowed(*IpAddress::parse("64:ff9b::c633:6407")));
  EXPECT_FALSE(deny_doc.allowed(*IpAddress::parse("2001:0:c633:6401::39cc:9bfd")));
}

// RFC 7065 3.1: turnURI = scheme ":" host [ ":" port ] [ "?transport=" transport ].
TEST(TurnUri, ParsesSchemeHostPortAndTransport) {
  auto u = TurnUri::parse("turn:203.0.113.10:3479?transport=tcp");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->secure);
  EXPECT_EQ(u->proto, TurnUri::Proto::Tcp);
  EXPECT_EQ(u->endpoint()->to_string(), "203.0.113.10:3479");
  u = TurnUri::parse("turns:[2001:db8::7]");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->secure);
  EXPECT_EQ(u->host, "2001:db8::7");
  EXPECT_EQ(u->endpoint()->to_string(), "[2001:db8::7]:5349");  // TURN's TLS/DTLS default port
  u = TurnUri::parse("turn:turn.eu-west.test");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, 3478);
  EXPECT_FALSE(u->endpoint());  // a name is no ALTERNATE-SERVER
  std::string why;
  for (const char* bad : {"", "turn:", "stun:203.0.113.1", "turn://203.0.113.1", "turn:203.0.113.1:", "turn:203.0.113.1:0",
                          "turn:203.0.113.1:65536", "turn:203.0.113.1:34x", "turn:203.0.113.1?transport=sctp",
                          "turn:203.0.113.1?foo=bar", "turn:[203.0.113.1]", "turn:[2001:db8::1", "turn:2001:db8::1",
                          "turn:203.0.113.256", "turn:h@st", "turns:[2001:db8::1]x"}) {
    why.clear();
    EXPECT_FALSE(TurnUri::parse(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(TurnUri, CarriesTheTransportsOfItsScheme) {
  auto plain = *TurnUri::parse("turn:192.0.2.1"), udp = *TurnUri::parse("turn:192.0.2.1?transport=udp");
  auto tls = *TurnUri::parse("turns:192.0.2.1?transport=tcp"), dtls = *TurnUri::parse("turns:192.0.2.1?transport=udp");
  EXPECT_TRUE(plain.carries(Transport::Udp) && plain.carries(Transport::Tcp));
  EXPECT_FALSE(plain.carries(Transport::Tls) || plain.carries(Transport::Dtls));
  EXPECT_FALSE(plain.names(Transport::Udp));
  EXPECT_TRUE(udp.names(Transport::Udp));
  EXPECT_FALSE(udp.carries(Transport::Tcp));
  EXPECT_TRUE(tls.names(Transport::Tls));
  EXPECT_FALSE(tls.carries(Transport::Dtls) || tls.carries(Transport::Tcp));
  EXPECT_TRUE(dtls.names(Transport::Dtls));
  EXPECT_FALSE(dtls.carries(Transport::Tls));
}
