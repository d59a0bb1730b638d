// libFuzzer target: the SFU's signalling (sfu/PROTOCOL.md) through sfu::Engine's public entry points,
// as server/sfu_host.cpp calls them for each WebSocket text message. Input: records of
//   [connection][step][length: 2 bytes][message]
// connection: low 2 bits pick one of 4 WebSockets (opened on first use), bit 2 closes it before the
// message (it reopens), bit 3 runs tick(); step moves the clock by step x 50 ms. In a message,
// "$TOKEN" becomes a valid join token for room "ward-3" of this region, "$OTHER" one for another
// region and "$EXPIRED" an expired one, so that the fuzzer reaches offers, candidates and leaves;
// "$SESSION" becomes the last session token a version 2 join got (resume, engine_resume.cpp).
// Every message the engine sends back must be a JSON object with a string "type".
#include <nlohmann/json.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "sfu/engine.hpp"
#include "sfu/token.hpp"
#include "tests/fuzz/target.hpp"

namespace {

constexpr int64_t kUnix = 1'800'000'000;

struct Sink : sfu::EngineSink {
  void send_media(const turn::Endpoint&, std::span<const uint8_t>) override {}
  void send_signal(sfu::ConnectionId, const std::string& json) override {
    auto m = nlohmann::json::parse(json, nullptr, false);
    if (m.is_discarded() || !m.is_object() || !m.contains("type") || !m["type"].is_string()) FUZZ_FAIL();
    if (m.contains("session_token") && m["session_token"].is_string()) session = m["session_token"].get<std::string>();
  }
  std::string session;
  void close_signal(sfu::ConnectionId c, const char* why) override {
    if (!why || !*why) FUZZ_FAIL();
    closed.insert(c);
  }
  std::set<sfu::ConnectionId> closed;
};

std::string token(const std::string& region, int64_t exp) {
  sfu::token::Claims c;
  c.room = "ward-3";
  c.identity = "nurse-station";
  c.region = region;
  c.exp = exp;
  return sfu::token::encode(c, "fuzz-key");
}

void substitute(std::string& text, std::string_view placeholder, const std::string& value) {
  for (size_t at = text.find(placeholder); at != std::string::npos; at = text.find(placeholder, at + value.size()))
    text.replace(at, placeholder.size(), value);
}

// One engine for the process: creating one (a P-256 key and certificate, an SSL_CTX) costs more
// than most inputs. Each input gets fresh connection ids and a later clock, and ends with every
// connection closed; then no participant and no room may be left, so no input sees another's state.
sfu::Engine& engine(Sink& sink) {
  static sfu::Engine e = [&sink] {
    sfu::EngineConfig cfg;
    cfg.region = "eu-central";
    cfg.region_signal_urls = {{"us-east", "wss://us-east.example.test/signal"}};
    cfg.token_keys = {"fuzz-key"};
    cfg.candidates = {*turn::Endpoint::parse("198.51.100.1:3479")};
    cfg.ice_servers = [](const std::string&) { return std::string(R"([{"urls":["turn:198.51.100.1:3478"]}])"); };
    cfg.classify = [](const turn::Endpoint&) { return sfu::Path::Direct; };
    cfg.max_participants_per_room = 3;
    cfg.start_unix_s = kUnix;
    return sfu::Engine(cfg, sink);
  }();
  return e;
}

}  // namespace

TURNPIKE_FUZZ_TARGET("sfu", signal) {
  static const std::string kToken = token("eu-central", kUnix + 3600), kOther = token("us-east", kUnix + 3600),
                           kExpired = token("eu-central", kUnix - 3600);
  static Sink sink;
  static sfu::ConnectionId next_conn = 0;
  static int64_t now = 1000;
  sfu::Engine& e = engine(sink);
  sink.closed.clear();
  now += 3'600'000;  // past every timer the previous input left running
  const int64_t start = now;  // the wall clock starts at kUnix for each input: the tokens stay valid
  const sfu::ConnectionId base = next_conn;
  next_conn += 4;

  std::set<sfu::ConnectionId> open;
  size_t off = 0;
  while (off + 4 <= size) {
    const uint8_t conn = data[off], step = data[off + 1];
    size_t len = (size_t{data[off + 2]} << 8 | data[off + 3]) % 8192;
    off += 4;
    len = std::min(len, size - off);
    std::string text(reinterpret_cast<const char*>(data + off), len);
    off += len;
    now += int64_t{step} * 50;
    const sfu::ConnectionId c = base + 1 + (conn & 3);
    if ((conn & 4) && open.erase(c)) e.signal_closed(c, now);
    if (sink.closed.erase(c) && open.erase(c)) e.signal_closed(c, now);  // the host closes what the engine closed
    if (open.insert(c).second) e.signal_opened(c, now);
    substitute(text, "$TOKEN", kToken);
    substitute(text, "$OTHER", kOther);
    substitute(text, "$EXPIRED", kExpired);
    substitute(text, "$SESSION", sink.session);
    e.signal_message(c, text, now, kUnix + (now - start) / 1000);
    if (conn & 8) e.tick(now);
  }
  for (auto c : open) e.signal_closed(c, now);
  e.tick(now + 60'000);
  if (e.stats().participants.get() != 0 || e.stats().rooms.get() != 0) FUZZ_FAIL();  // all closed: nobody left
  return 0;
}
