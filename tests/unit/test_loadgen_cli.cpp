// turnpike-loadgen's command line: every option, the required ones, exclusions and bounds.
#include <gtest/gtest.h>

#include "loadgen/cli.hpp"

using loadgen::CliResult;
using loadgen::parse_cli;

namespace {

CliResult parse(std::vector<std::string> extra, bool base = true) {
  std::vector<std::string> a;
  if (base) a = {"--server", "turn.example.test", "--user", "u", "--password", "p", "--calls", "10", "--duration", "30s"};
  a.insert(a.end(), extra.begin(), extra.end());
  return parse_cli(a);
}

}  // namespace

TEST(LoadgenCli, Minimal) {
  auto r = parse({});
  ASSERT_EQ(r.kind, CliResult::Kind::Run) << r.error;
  EXPECT_EQ(r.run.server_host, "turn.example.test");
  EXPECT_EQ(r.run.server_port, 3478);
  EXPECT_EQ(r.run.transport, turn::Transport::Udp);
  EXPECT_EQ(r.run.plan.steps, std::vector<uint32_t>{10});
  EXPECT_EQ(r.run.plan.duration_ms, 30000);
  EXPECT_DOUBLE_EQ(r.run.plan.ramp_per_s, 20);
  EXPECT_EQ(r.run.profile, loadgen::Profile::Audio);
  EXPECT_EQ(r.run.threads, 1u);
  EXPECT_EQ(r.run.interval_ms, 1000);
}

TEST(LoadgenCli, EveryOption) {
  auto r = parse_cli({"--server", "[2001:db8::1]:9000", "--transport=tls", "--rest-secret", "s", "--realm", "r",
                      "--steps", "50,100,200", "--step-duration", "5m", "--duration", "1h", "--max-duration", "2h",
                      "--ramp", "5/s", "--profile", "mixed", "--report", "out", "--send", "--shard", "2/3", "--local",
                      "192.0.2.1,192.0.2.2", "--threads", "4", "--interval", "500ms", "--ca", "ca.pem", "--mtu", "1000",
                      "--relay-family", "ipv6", "--lifetime", "300", "--seed", "7", "--quiet"});
  ASSERT_EQ(r.kind, CliResult::Kind::Run) << r.error;
  const auto& o = r.run;
  EXPECT_EQ(o.server_host, "2001:db8::1");
  EXPECT_EQ(o.server_port, 9000);
  EXPECT_EQ(o.transport, turn::Transport::Tls);
  EXPECT_EQ(o.rest_secret, "s");
  EXPECT_EQ(o.plan.steps, (std::vector<uint32_t>{50, 100, 200}));
  EXPECT_EQ(o.plan.step_duration_ms, 300000);
  EXPECT_EQ(o.plan.duration_ms, 3600000);
  EXPECT_EQ(o.plan.max_duration_ms, 7200000);
  EXPECT_DOUBLE_EQ(o.plan.ramp_per_s, 5);
  EXPECT_EQ(o.profile, loadgen::Profile::Mixed);
  EXPECT_EQ(o.report_dir, "out");
  EXPECT_TRUE(o.use_send);
  EXPECT_EQ(o.plan.shard_k, 2u);
  EXPECT_EQ(o.plan.shard_n, 3u);
  EXPECT_EQ(o.locals.size(), 2u);
  EXPECT_EQ(o.threads, 4u);
  EXPECT_EQ(o.interval_ms, 500);
  EXPECT_EQ(o.ca_file, "ca.pem");
  EXPECT_EQ(o.max_packet, 1000u);
  EXPECT_TRUE(o.relay_v6);
  EXPECT_EQ(o.lifetime_s, 300u);
  EXPECT_EQ(o.seed, 7u);
  EXPECT_FALSE(o.progress);
}

TEST(LoadgenCli, TlsAndDtlsDefaultTo5349) {
  EXPECT_EQ(parse({"--transport", "dtls"}).run.server_port, 5349);
  EXPECT_EQ(parse({"--transport", "tcp"}).run.server_port, 3478);
}

TEST(LoadgenCli, Durations) {
  using loadgen::parse_duration_ms;
  EXPECT_EQ(parse_duration_ms("500ms"), 500);
  EXPECT_EQ(parse_duration_ms("30s"), 30000);
  EXPECT_EQ(parse_duration_ms("5m"), 300000);
  EXPECT_EQ(parse_duration_ms("1h"), 3600000);
  EXPECT_EQ(parse_duration_ms("1.5s"), 1500);
  EXPECT_EQ(parse_duration_ms("12"), 12000);
  for (const char* bad : {"", "s", "-1s", "1d", "abc", "1e9h", "nan", "inf"})
    EXPECT_FALSE(parse_duration_ms(bad)) << bad;
}

TEST(LoadgenCli, Servers) {
  std::string h;
  uint16_t p = 0;
  EXPECT_TRUE(loadgen::parse_server("198.51.100.7", h, p));
  EXPECT_EQ(p, 0);
  EXPECT_TRUE(loadgen::parse_server("turn.example.test:3479", h, p));
  EXPECT_EQ(h, "turn.example.test");
  EXPECT_EQ(p, 3479);
  EXPECT_TRUE(loadgen::parse_server("::1", h, p));
  EXPECT_EQ(h, "::1");
  EXPECT_TRUE(loadgen::parse_server("[::1]", h, p));
  for (const char* bad : {"", ":", "host:", "host:0", "host:65536", "[::1", "[]:1", "[::1]x", "a b", "h:1x"})
    EXPECT_FALSE(loadgen::parse_server(bad, h, p)) << bad;
}

TEST(LoadgenCli, ErrorsSayWhatIsWrong) {
  struct Case {
    std::vector<std::string> args;
    bool base;
    const char* error;
  };
  const Case cases[] = {
      {{}, false, "no options"},
      {{"--calls", "1", "--duration", "1s", "--user", "u", "--password", "p"}, false, "--server is required"},
      {{"--server", "h", "--calls", "1", "--duration", "1s"}, false, "credentials are required"},
      {{"--rest-secret", "s"}, true, "mutually exclusive"},
      {{"--server", "h", "--user", "u", "--calls", "1", "--duration", "1s"}, false, "go together"},
      {{"--server", "h", "--user", "u", "--password", "p", "--duration", "1s"}, false, "--calls N"},
      {{"--server", "h", "--user", "u", "--password", "p", "--calls", "1"}, false, "--duration is required"},
      {{"--steps", "1,2"}, true, "mutually exclusive"},
      {{"--calls", "100001"}, true, "--calls: expected 1..100000"},
      {{"--calls", "0"}, true, "--calls"},
      {{"--transport", "quic"}, true, "--transport"},
      {{"--profile", "4k"}, true, "--profile"},
      {{"--shard", "3/2"}, true, "--shard"},
      {{"--threads", "0"}, true, "--threads"},
      {{"--interval", "10ms"}, true, "--interval"},
      {{"--ramp", "-1/s"}, true, "--ramp"},
      {{"--local", "not-an-ip"}, true, "--local"},
      {{"--ca", "x.pem"}, true, "--ca applies"},
      {{"--bogus"}, true, "unknown option --bogus"},
      {{"--duration"}, true, "needs a value"},
  };
  for (const auto& c : cases) {
    auto r = parse(c.args, c.base);
    EXPECT_EQ(r.kind, CliResult::Kind::Error) << c.error;
    EXPECT_NE(r.error.find(c.error), std::string::npos) << r.error << " (expected: " << c.error << ")";
  }
  auto steps = parse_cli({"--server", "h", "--user", "u", "--password", "p", "--steps", "5,10", "--duration", "1s"});
  EXPECT_NE(steps.error.find("--step-duration"), std::string::npos) << steps.error;
}

TEST(LoadgenCli, HelpVersionMerge) {
  EXPECT_EQ(parse_cli({"--help"}).kind, CliResult::Kind::Help);
  EXPECT_EQ(parse_cli({"--version"}).kind, CliResult::Kind::Version);
  auto m = parse_cli({"merge", "--report", "out", "a", "b/report.json"});
  ASSERT_EQ(m.kind, CliResult::Kind::Merge) << m.error;
  EXPECT_EQ(m.merge.out_dir, "out");
  EXPECT_EQ(m.merge.inputs, (std::vector<std::string>{"a", "b/report.json"}));
  EXPECT_EQ(parse_cli({"merge", "a"}).kind, CliResult::Kind::Error);
  EXPECT_EQ(parse_cli({"merge", "--report", "out"}).kind, CliResult::Kind::Error);
  EXPECT_FALSE(loadgen::usage().empty());
}
