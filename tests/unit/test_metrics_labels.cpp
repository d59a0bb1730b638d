// server/metrics.cpp: label values come from the enums' to_string (issue 16, item 4) and are a
// contract (docs/metrics.md): every value each label took before, byte for byte.
#include <gtest/gtest.h>

#include <string>

#include "server/metrics.hpp"
#include "sfu/engine.hpp"
#include "sfu/signal_error.hpp"
#include "turn/core.hpp"

namespace turnpike {
namespace {

std::string rendered(Metrics& m) {
  turn::CoreStats core;
  return m.render({&core}, nullptr, 0, 0);
}

void expect_series(const std::string& text, const std::string& series) {
  EXPECT_NE(text.find(series), std::string::npos) << series << "\n" << text;
}

TEST(MetricsLabels, TransportsEndReasonsAndAuthFailures) {
  Metrics m("9.9.9", "eu-west-1");
  std::string text = rendered(m);
  for (const char* t : {"udp", "tcp", "tls", "dtls"}) {
    expect_series(text, std::string("turnpike_allocation_setup_seconds_count{transport=\"") + t + "\"} 0");
    expect_series(text, std::string("turnpike_relay_bytes_total{direction=\"to_peer\",transport=\"") + t + "\"} 0");
    expect_series(text, std::string("turnpike_allocate_requests_total{transport=\"") + t +
                            "\",result=\"success\",code=\"200\"} 0");
  }
  for (const char* r : {"deleted", "expired", "shutdown", "policy", "drain_timeout", "admin"})
    expect_series(text, std::string("turnpike_allocation_lifetime_seconds_count{end_reason=\"") + r + "\"} 0");
  for (const char* r : {"bad_integrity", "unknown_user", "expired_credential", "stale_nonce", "missing"})
    expect_series(text, std::string("turnpike_auth_failures_total{reason=\"") + r + "\"} 0");
  expect_series(text, "turnpike_relay_dropped_packets_total{reason=\"quota\"} 0");
  expect_series(text, "turnpike_relay_dropped_packets_total{reason=\"send_failed\"} 0");
  expect_series(text, "turnpike_relay_dropped_packets_total{reason=\"too_big\"} 0");
}

TEST(MetricsLabels, MethodsAndOther) {
  Metrics m("9.9.9", "eu-west-1");
  m.request_done(turn::stun::Method::Send, 400, turn::Transport::Udp, false);
  std::string text = rendered(m);
  for (const char* method : {"binding", "allocate", "refresh", "create_permission", "channel_bind", "other"})
    expect_series(text, std::string("turnpike_requests_total{method=\"") + method +
                            "\",code=\"200\",result=\"success\"} 0");
  expect_series(text, "turnpike_requests_total{method=\"other\",code=\"400\",result=\"error\"} 1");
}

TEST(MetricsLabels, GuardComponentsRefusalsAndSiteTables) {
  Metrics m("9.9.9", "eu-west-1");
  m.internal_error(Metrics::Component::Main);
  m.connection_refused(Metrics::Refused::PerPrefix);
  m.site_overflow(Metrics::SiteTable::IdleTimers);
  std::string text = rendered(m);
  for (const char* c : {"shard", "admin", "sfu"})
    expect_series(text, std::string("turnpike_internal_errors_total{component=\"") + c + "\"} 0");
  expect_series(text, "turnpike_internal_errors_total{component=\"main\"} 1");
  expect_series(text, "turnpike_connections_refused_total{reason=\"per_prefix\"} 1");
  expect_series(text, "turnpike_connections_refused_total{reason=\"total\"} 0");
  expect_series(text, "turnpike_site_overflow_total{table=\"labels\"} 0");
  expect_series(text, "turnpike_site_overflow_total{table=\"idle_timers\"} 1");
}

TEST(MetricsLabels, ResidencyDenialKinds) {
  Metrics m("9.9.9", "eu-west-1");
  m.residency_denied(turn::ResidencyDenial::Peer, "");
  m.residency_denied(turn::ResidencyDenial::Client, "");
  m.residency_denied(turn::ResidencyDenial::Credential, "");
  std::string text = rendered(m);
  for (const char* k : {"peer", "client", "credential"})
    expect_series(text, std::string("turnpike_residency_denied_total{kind=\"") + k + "\",region=\"unknown\"} 1");
}

// Issue 17: renamed counters keep their old name one release, as deprecated copies of the same series.
TEST(MetricsLabels, RenamedCountersKeepTheirOldNameDeprecated) {
  Metrics m("9.9.9", "eu-west-1");
  sfu::EngineStats stats;
  stats.nack.add(3);
  stats.signalling_errors[sfu::signal_error_index("room_full")].add();
  m.attach_sfu(&stats);
  m.request_done(turn::stun::Method::Allocate, 486, turn::Transport::Tcp, false);
  std::string text = rendered(m);
  expect_series(text, "turnpike_allocate_requests_total{transport=\"tcp\",result=\"error\",code=\"486\"} 1");
  expect_series(text, "turnpike_allocations_total{transport=\"tcp\",result=\"error\",code=\"486\"} 1");
  expect_series(text, "# HELP turnpike_allocations_total Deprecated, use turnpike_allocate_requests_total");
  expect_series(text, "# TYPE turnpike_allocations_total counter");
  expect_series(text, "\nturnpike_sfu_nack_resent_packets_total 3\n");
  expect_series(text, "\nturnpike_sfu_pli_sent_total 0\n");
  expect_series(text, "turnpike_sfu_signalling_errors_total{code=\"room_full\"} 1\n");
  expect_series(text, "turnpike_sfu_signalling_errors_total{code=\"malformed\"} 0\n");
  expect_series(text, "# HELP turnpike_sfu_nack_total Deprecated, use turnpike_sfu_nack_resent_packets_total");
  expect_series(text, "# HELP turnpike_sfu_pli_total Deprecated, use turnpike_sfu_pli_sent_total");
  expect_series(text, "\nturnpike_sfu_nack_total 3\n");
  expect_series(text, "\nturnpike_sfu_pli_total 0\n");
}

// Every error code of sfu/PROTOCOL.md is a `code` label value from the start; an unknown code is "other".
TEST(MetricsLabels, SignallingErrorsByCode) {
  for (const char* c : {"malformed", "bad_token", "expired_token", "forbidden", "wrong_region", "forbidden_region",
                        "bad_sdp", "not_joined", "room_full", "ice_failed", "internal", "other"})
    EXPECT_STREQ(sfu::kSignalErrorCodes[sfu::signal_error_index(c)], c);
  EXPECT_STREQ(sfu::kSignalErrorCodes[sfu::signal_error_index("no_such_code")], "other");
}

}  // namespace
}  // namespace turnpike

namespace turnpike {
namespace {

// The SFU by site (server/metrics_sfu_sites.cpp): a session's start, reclassification and end move
// the live gauge of its path and site; only the start counts in the total; RTT and loss by site.
TEST(SfuSiteMetrics, SessionsFollowTheirPathAndRttAndLossCarryTheSite) {
  Metrics m("test", "eu");
  m.sfu_site_session("ward-4", sfu::Path::Unknown, sfu::Path::Direct);
  m.sfu_site_session("ward-4", sfu::Path::Unknown, sfu::Path::Direct);
  m.sfu_site_session("ward-4", sfu::Path::Direct, sfu::Path::RelayTls);  // reclassified
  m.sfu_site_session("branch", sfu::Path::Unknown, sfu::Path::RelayUdp);
  m.sfu_site_session("branch", sfu::Path::RelayUdp, sfu::Path::Unknown);  // ended
  m.sfu_rtt_seconds("ward-4", 0.02);
  m.sfu_loss_ratio("branch", 0.01);
  std::string t = m.render({}, nullptr, 0, 0);
  EXPECT_NE(t.find(R"(turnpike_sfu_site_sessions{path="direct",site="ward-4"} 1)"), std::string::npos) << t;
  EXPECT_NE(t.find(R"(turnpike_sfu_site_sessions{path="relay_tls",site="ward-4"} 1)"), std::string::npos);
  EXPECT_NE(t.find(R"(turnpike_sfu_site_sessions{path="relay_udp",site="branch"} 0)"), std::string::npos);
  EXPECT_NE(t.find(R"(turnpike_sfu_site_sessions_total{path="direct",site="ward-4"} 2)"), std::string::npos);
  EXPECT_EQ(t.find(R"(turnpike_sfu_site_sessions_total{path="relay_tls")"), std::string::npos);
  EXPECT_NE(t.find(R"(turnpike_sfu_rtt_seconds_count{site="ward-4"} 1)"), std::string::npos);
  EXPECT_NE(t.find(R"(turnpike_sfu_loss_ratio_count{site="branch"} 1)"), std::string::npos);
}

}  // namespace
}  // namespace turnpike
