// diag::PathProbe: the phases of one round (allocations, permissions and channels both ways, the
// echoes, the closing Refreshes), over two loadgen::TurnClient state machines.
#include "diag/path_probe.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstring>
#include <deque>

#include "loadgen/turn_client.hpp"

namespace diag {

namespace {
constexpr std::array<uint8_t, 4> kMagic = {'T', 'P', 'P', 'R'};
constexpr size_t kPayload = 64;          // echo packet: magic, sequence, send time, padding
constexpr uint32_t kMaxEchoes = 1000;

enum class Phase : uint8_t { Idle, Allocating, Binding, Echo, Closing, Done };

void put_u32(uint8_t* p, uint32_t v) { for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i)); }
uint32_t get_u32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }
}  // namespace

const char* to_string(PathFailure f) {
  switch (f) {
    case PathFailure::None: return "none";
    case PathFailure::Timeout: return "timeout";
    case PathFailure::Refused: return "refused";
    case PathFailure::Tls: return "tls_handshake";
    case PathFailure::Error: return "error";
    case PathFailure::Closed: return "closed";
    case PathFailure::NoEcho: return "no_echo";
    case PathFailure::Network: return "network";
  }
  return "?";
}

std::optional<double> median(std::vector<double>& v) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::optional<double> mean_abs_delta(std::span<const double> v) {
  if (v.size() < 2) return std::nullopt;
  double sum = 0;
  for (size_t i = 1; i < v.size(); ++i) sum += std::fabs(v[i] - v[i - 1]);
  return sum / static_cast<double>(v.size() - 1);
}

struct PathProbe::Impl {
  PathProbeConfig cfg;
  loadgen::TurnClient client, echo;
  Phase phase = Phase::Idle;
  PathResult result;
  int64_t started_us = 0, next_echo_us = INT64_MAX, echo_end_us = INT64_MAX, close_end_us = INT64_MAX;
  uint32_t next_seq = 0;
  std::vector<bool> seen;
  std::vector<double> rtts;                // arrival order
  std::deque<ProbeTransmit> out;
  std::array<uint8_t, kPayload + 64> wrap_buf{};

  static loadgen::ClientConfig client_config(const PathProbeConfig& c) {
    loadgen::ClientConfig cc;
    cc.transport = c.transport;
    cc.username = c.username;
    cc.password = c.password;
    cc.lifetime_s = 60;  // a round needs seconds: an allocation left behind (the probe killed) goes soon
    cc.use_channels = true;
    cc.rto_ms = 250;
    cc.transaction_timeout_ms = c.timeout_ms;
    cc.software = c.software;
    return cc;
  }

  Impl(PathProbeConfig c, uint64_t seed)
      : cfg(std::move(c)), client(client_config(cfg), seed), echo(client_config(cfg), seed ^ 0x9e3779b97f4a7c15ULL) {
    cfg.echoes = std::min(cfg.echoes, kMaxEchoes);
    result.transport = cfg.transport;
    seen.assign(cfg.echoes, false);
  }

  loadgen::TurnClient& side(ProbeConn c) { return c == ProbeConn::Client ? client : echo; }

  void drain_outputs() {
    std::vector<uint8_t> bytes;
    while (client.pop_output(bytes)) out.push_back({ProbeConn::Client, std::move(bytes)});
    while (echo.pop_output(bytes)) out.push_back({ProbeConn::Echo, std::move(bytes)});
  }

  // The result is final: the round failed at `stage`; both allocations are closed.
  void fail(PathFailure kind, std::string stage, int code, std::string detail, int64_t now_us) {
    if (phase == Phase::Closing || phase == Phase::Done) return;
    result.ok = false;
    result.failure = kind;
    result.stage = std::move(stage);
    result.error_code = code;
    result.detail = std::move(detail);
    begin_close(now_us);
  }

  void fail_from(const loadgen::TurnClient& c, int64_t now_us) {
    const loadgen::ClientFailure& f = c.failure();
    PathFailure kind = f.code ? PathFailure::Error : f.reason == "timeout" ? PathFailure::Timeout : PathFailure::Network;
    fail(kind, f.stage, f.code, f.reason, now_us);
  }

  void begin_close(int64_t now_us) {
    phase = Phase::Closing;
    close_end_us = now_us + cfg.close_wait_ms * 1000;
    client.close(now_us / 1000);
    echo.close(now_us / 1000);
    drain_outputs();
    check_closed();
  }

  void check_closed() {
    auto over = [](const loadgen::TurnClient& c) {
      return c.state() == loadgen::ClientState::Closed || c.state() == loadgen::ClientState::Failed ||
             c.state() == loadgen::ClientState::Idle;
    };
    if (phase == Phase::Closing && over(client) && over(echo)) phase = Phase::Done;
  }

  void advance(int64_t now_us);
  void send_echo(int64_t now_us);
  void on_delivery(ProbeConn conn, const turn::Endpoint& peer, std::span<const uint8_t> payload, int64_t now_us);
  void finish_echo(int64_t now_us);
};

// Allocating -> Binding -> Echo as the clients get there; failures and the setup deadline end it.
void PathProbe::Impl::advance(int64_t now_us) {
  if (phase == Phase::Closing || phase == Phase::Done || phase == Phase::Idle) return;
  if (client.state() == loadgen::ClientState::Failed) return fail_from(client, now_us);
  if (echo.state() == loadgen::ClientState::Failed) return fail_from(echo, now_us);
  if (phase == Phase::Allocating && client.state() == loadgen::ClientState::Allocated && !result.setup_ms)
    result.setup_ms = static_cast<double>(now_us - started_us) / 1000.0;
  if (phase == Phase::Allocating && client.state() == loadgen::ClientState::Allocated &&
      echo.state() == loadgen::ClientState::Allocated) {
    result.relayed = client.relayed();
    result.mapped = client.mapped();
    client.add_peer(echo.relayed(), now_us / 1000);
    echo.add_peer(client.relayed(), now_us / 1000);
    phase = Phase::Binding;
  }
  if (phase == Phase::Binding && client.peer_ready(echo.relayed()) && echo.peer_ready(client.relayed())) {
    phase = Phase::Echo;
    next_echo_us = now_us;
  }
  if ((phase == Phase::Allocating || phase == Phase::Binding) && now_us - started_us >= cfg.timeout_ms * 1000) {
    std::string stage = phase == Phase::Allocating ? "allocate" : "permission";
    return fail(PathFailure::Timeout, stage, 0, "timeout", now_us);
  }
  if (phase == Phase::Echo) {
    while (next_seq < cfg.echoes && now_us >= next_echo_us) send_echo(now_us);
    if (now_us >= echo_end_us || result.received == cfg.echoes) finish_echo(now_us);
  }
}

void PathProbe::Impl::send_echo(int64_t now_us) {
  std::array<uint8_t, kPayload> p{};
  std::memcpy(p.data(), kMagic.data(), kMagic.size());
  put_u32(p.data() + 4, next_seq);
  put_u32(p.data() + 8, static_cast<uint32_t>(static_cast<uint64_t>(now_us) >> 32));
  put_u32(p.data() + 12, static_cast<uint32_t>(now_us));
  size_t n = client.wrap(echo.relayed(), p, wrap_buf);
  if (n) out.push_back({ProbeConn::Client, std::vector<uint8_t>(wrap_buf.begin(), wrap_buf.begin() + static_cast<ptrdiff_t>(n))});
  ++next_seq;
  ++result.sent;
  next_echo_us = next_echo_us + cfg.echo_interval_ms * 1000;
  if (next_seq == cfg.echoes) {
    next_echo_us = INT64_MAX;
    echo_end_us = now_us + cfg.echo_wait_ms * 1000;
  }
}

// The echo side sends every probe packet back; the client side measures what returns.
void PathProbe::Impl::on_delivery(ProbeConn conn, const turn::Endpoint& peer, std::span<const uint8_t> payload,
                                  int64_t now_us) {
  if (payload.size() < 16 || !std::equal(kMagic.begin(), kMagic.end(), payload.begin())) return;
  if (conn == ProbeConn::Echo) {
    if (peer != client.relayed() || phase != Phase::Echo) return;
    size_t n = echo.wrap(client.relayed(), payload, wrap_buf);
    if (n) out.push_back({ProbeConn::Echo, std::vector<uint8_t>(wrap_buf.begin(), wrap_buf.begin() + static_cast<ptrdiff_t>(n))});
    return;
  }
  if (peer != echo.relayed()) return;
  uint32_t seq = get_u32(payload.data() + 4);
  int64_t sent = static_cast<int64_t>(uint64_t{get_u32(payload.data() + 8)} << 32 | get_u32(payload.data() + 12));
  if (seq >= next_seq || seen[seq] || sent > now_us) return;
  seen[seq] = true;
  ++result.received;
  rtts.push_back(static_cast<double>(now_us - sent) / 1000.0);
}

void PathProbe::Impl::finish_echo(int64_t now_us) {
  result.loss = result.sent ? 1.0 - static_cast<double>(result.received) / result.sent : 0.0;
  result.jitter_ms = mean_abs_delta(rtts);
  std::vector<double> sorted = rtts;
  result.rtt_ms = median(sorted);
  if (result.received == 0) {
    fail(PathFailure::NoEcho, "echo", 0, "allocations up, but no echo came back through the relays", now_us);
    return;
  }
  result.ok = true;
  begin_close(now_us);
}

PathProbe::PathProbe(PathProbeConfig cfg, uint64_t seed) : impl_(std::make_unique<Impl>(std::move(cfg), seed)) {}
PathProbe::~PathProbe() = default;
PathProbe::PathProbe(PathProbe&&) noexcept = default;
PathProbe& PathProbe::operator=(PathProbe&&) noexcept = default;

void PathProbe::start(int64_t now_us) {
  auto& s = *impl_;
  if (s.phase != Phase::Idle) return;
  s.phase = Phase::Allocating;
  s.started_us = now_us;
  s.client.start(now_us / 1000);
  s.echo.start(now_us / 1000);
  s.drain_outputs();
}

void PathProbe::on_message(ProbeConn conn, std::span<const uint8_t> bytes, int64_t now_us) {
  auto& s = *impl_;
  if (s.phase == Phase::Idle || s.phase == Phase::Done) return;
  loadgen::Delivery d = s.side(conn).on_message(bytes, now_us / 1000);
  if (d.ok) s.on_delivery(conn, d.peer, d.payload, now_us);
  s.advance(now_us);
  s.drain_outputs();
  s.check_closed();
}

void PathProbe::on_transport_error(ProbeConn, PathFailure kind, std::string detail, int64_t now_us) {
  auto& s = *impl_;
  if (s.phase == Phase::Closing) {  // nothing more can be answered on that connection
    s.phase = Phase::Done;
    return;
  }
  std::string stage = s.phase == Phase::Idle         ? "connect"
                      : s.phase == Phase::Allocating ? "allocate"
                      : s.phase == Phase::Binding    ? "permission"
                                                     : "echo";
  s.fail(kind, stage, 0, std::move(detail), now_us);
}

void PathProbe::tick(int64_t now_us) {
  auto& s = *impl_;
  if (s.phase == Phase::Idle || s.phase == Phase::Done) return;
  s.client.tick(now_us / 1000);
  s.echo.tick(now_us / 1000);
  s.advance(now_us);
  s.drain_outputs();
  s.check_closed();
  if (s.phase == Phase::Closing && now_us >= s.close_end_us) s.phase = Phase::Done;
}

int64_t PathProbe::next_timer_us() const {
  const auto& s = *impl_;
  auto us = [](int64_t ms) { return ms >= INT64_MAX / 1000 ? INT64_MAX : ms * 1000; };
  int64_t t = std::min(us(s.client.next_timer_ms()), us(s.echo.next_timer_ms()));
  switch (s.phase) {
    case Phase::Idle:
    case Phase::Done: return INT64_MAX;
    case Phase::Closing: return std::min(t, s.close_end_us);
    case Phase::Echo: return std::min({t, s.next_echo_us, s.echo_end_us});
    default: return std::min(t, s.started_us + s.cfg.timeout_ms * 1000);
  }
}

bool PathProbe::pop_output(ProbeTransmit& out) {
  auto& q = impl_->out;
  if (q.empty()) return false;
  out = std::move(q.front());
  q.pop_front();
  return true;
}

bool PathProbe::done() const { return impl_->phase == Phase::Done; }
const PathResult& PathProbe::result() const { return impl_->result; }

}  // namespace diag
