// The engine (engine.hpp): calls opened by the plan, their two allocations and flows, failures,
// and the end of the run. Media is in engine_media.cpp, measurements in engine_stats.cpp.
#include <algorithm>
#include <stdexcept>

#include "loadgen/engine_impl.hpp"
#include "turn/auth.hpp"

namespace loadgen {
namespace {

constexpr std::string_view kSoftware =
    "turnpike-loadgen, a TURN load generator (this text also pads its first Allocate so that a 401 "
    "is no larger than the request)";

// A timeout with nothing at all from the server on any flow for this long: the server stopped
// answering (rather than one call's path or a saturated link).
constexpr int64_t kServerSilentUs = 3000000;

}  // namespace

Engine::Impl::Impl(EngineConfig c, FlowSink& s) : cfg(std::move(c)), sink(s), plan(cfg.plan) {
  uint32_t max_target = 0;
  for (uint32_t t : cfg.plan.steps) max_target = std::max(max_target, t);
  if (max_target > kEngineMaxCalls)
    throw std::invalid_argument("the plan asks for " + std::to_string(max_target) + " calls; at most " +
                                std::to_string(kEngineMaxCalls));
  client_cfg.transport = cfg.transport;
  client_cfg.relay_family = cfg.relay_v6 ? turn::Family::V6 : turn::Family::V4;
  client_cfg.lifetime_s = cfg.lifetime_s;
  client_cfg.use_channels = cfg.use_channels;
  // RFC 8489 14.14 SOFTWARE, under 128 characters. Its length matters: a server that budgets
  // the bytes by which answers to unauthenticated requests exceed them (anti-amplification, per
  // source address) would otherwise throttle the 401s of thousands of Allocates from one address,
  // and the loadgen would measure that budget instead of the server's allocation capacity.
  client_cfg.software = std::string(kSoftware);
  payload.resize(std::max<size_t>(cfg.max_packet, 256));
  wire.resize(payload.size() + 64);
  out.reserve(2048);
  if (cfg.interval_ms <= 0) cfg.interval_ms = 1000;
}

Call* Engine::Impl::find(uint64_t flow) {
  uint32_t id = static_cast<uint32_t>(flow >> 1);
  size_t local = id / plan.config().shard_n;
  if (local >= calls.size() || !calls[local] || calls[local]->id != id) return nullptr;
  return calls[local].get();
}

// Long-term credentials as given, or TURN REST ones derived for this call (valid for a day).
ClientConfig Engine::Impl::side_config(uint32_t id, int64_t now_us) const {
  ClientConfig c = client_cfg;
  if (cfg.rest_secret.empty()) {
    c.username = cfg.user;
    c.password = cfg.password;
  } else {
    int64_t expiry = cfg.start_unix + rel_ms(now_us) / 1000 + 86400;
    c.username = std::to_string(expiry) + ":loadgen" + std::to_string(id);
    c.password = turn::rest_password(cfg.rest_secret, c.username);
  }
  return c;
}

// Opens calls while fewer are live than the plan's target; when a step's target is lower than the
// previous one, closes the newest live calls. Failed calls are not replaced. At most
// cfg.max_pending calls set up at once: the others wait for the next tick (so that --ramp 0 does
// not burst thousands of Allocates into the socket buffers at one instant).
void Engine::Impl::open_calls(int64_t now_us) {
  uint32_t target = plan.owned_target_at(rel_ms(now_us));
  const auto& pc = plan.config();
  uint32_t max_pending = std::max<uint32_t>(cfg.max_pending, 1);
  while (opened - plan_closed < target && opened < kEngineMaxCalls && setting_up < max_pending) {
    uint64_t id = static_cast<uint64_t>(opened) * pc.shard_n + (pc.shard_k - 1);
    if (id > UINT32_MAX) break;   // only a plan that steps up and down very often gets here
    open_call(static_cast<uint32_t>(id), now_us);
    ++opened;
  }
  for (size_t i = calls.size(); i > 0 && opened - plan_closed > target; --i) {
    Call& c = *calls[i - 1];
    if (c.closed_by_plan) continue;
    c.closed_by_plan = true;
    ++plan_closed;
    begin_close(c, now_us);
  }
}

void Engine::Impl::open_call(uint32_t id, int64_t now_us) {
  ClientConfig cc = side_config(id, now_us);
  uint32_t local = static_cast<uint32_t>(calls.size());
  auto c = std::make_unique<Call>(id, local, cc, cc, cfg.seed);
  c->started_us = now_us;
  c->rec.call = id;
  c->rec.step = cur_step;
  c->rec.kind = call_kind(cfg.profile, id);
  c->rec.started_s = static_cast<double>(now_us - t0_us) / 1e6;
  calls.push_back(std::move(c));
  ++setting_up;
  Call& call = *calls.back();
  sink.open_flow(flow_of(call, 0), 2 * local);
  sink.open_flow(flow_of(call, 1), 2 * local + 1);
}

void Engine::Impl::pump(Call& c, int side) {
  while (c.side[side].pop_output(out)) sink.send(flow_of(c, side), out);
  schedule_client(c, side);
}

// Keeps one live heap entry per client at its next timer; later ones are skipped as stale.
void Engine::Impl::schedule_client(Call& c, int side) {
  int64_t at = c.side[side].next_timer_ms();
  if (at == INT64_MAX || at >= c.timer_at_ms[side]) return;
  c.timer_at_ms[side] = at;
  timers.push(Timer{at * 1000, c.local, 0, static_cast<uint8_t>(side), 0});
}

// After anything happened to a call's clients: pairs them once both are allocated, starts the
// media once both peers are ready, fails the call when a client failed.
void Engine::Impl::advance(Call& c, int64_t now_us) {
  if (c.state == CallState::Done) return;
  if (c.state == CallState::Closing) {
    for (int s = 0; s < 2; ++s) {
      if (c.side[s].state() == ClientState::Allocated) {
        c.side[s].close(now_us / 1000);
        pump(c, s);
      }
    }
    auto settled = [](ClientState st) { return st != ClientState::Closing && st != ClientState::Allocated &&
                                               st != ClientState::Allocating; };
    bool opened_any = c.flow_open[0] || c.flow_open[1];
    if (!opened_any || (settled(c.side[0].state()) && settled(c.side[1].state()))) finalize(c);
    return;
  }
  for (int s = 0; s < 2; ++s) {
    if (c.side[s].state() == ClientState::Failed) {
      const ClientFailure& f = c.side[s].failure();
      fail_call(c, f.stage, f.code, f.reason, now_us);
      return;
    }
  }
  if (c.state != CallState::Setup) return;
  if (!c.peers_added && c.side[0].state() == ClientState::Allocated && c.side[1].state() == ClientState::Allocated) {
    c.peers_added = true;
    for (int s = 0; s < 2; ++s) c.rec.relayed[s] = c.side[s].relayed().to_string();
    c.side[0].add_peer(c.side[1].relayed(), now_us / 1000);
    c.side[1].add_peer(c.side[0].relayed(), now_us / 1000);
    pump(c, 0);
    pump(c, 1);
  }
  if (c.peers_added && c.side[0].peer_ready(c.side[1].relayed()) && c.side[1].peer_ready(c.side[0].relayed()))
    start_media(c, now_us);
}

// Another call than `except` waits for something from the server: media, or answers in setup.
bool Engine::Impl::others_waiting(const Call& except) const {
  for (const auto& p : calls) {
    const Call& c = *p;
    if (&c == &except) continue;
    if (c.state == CallState::Opening || c.state == CallState::Setup) return true;
    if (c.state == CallState::Media && !c.dir[0].ssrcs.empty()) return true;
  }
  return false;
}

// A timeout counts against the server when nothing at all came from it on any flow for
// kServerSilentUs while other calls waited for it too (media, or answers in setup); otherwise as
// what was measured (`kind`: setup, media, a request): one call's path, a saturated link.
void Engine::Impl::count_timeout(const Call& c, TimeoutCount* kind, int64_t now_us) {
  double t_s = c.rec.failed_s;
  int64_t heard = last_server_rx_us >= 0 ? last_server_rx_us : t0_us;
  if (now_us - heard >= kServerSilentUs && (server_silent.n > 0 || others_waiting(c))) {
    if (server_silent.n == 0) silent_since_s = last_server_rx_us >= 0 ? static_cast<double>(heard - t0_us) / 1e6 : -1;
    kind = &server_silent;
  }
  if (kind->n++ == 0) kind->first_s = t_s;
}

void Engine::Impl::fail_call(Call& c, const std::string& stage, int code, const std::string& reason, int64_t now_us,
                             TimeoutCount* timeout_kind) {
  if (c.state == CallState::Closing || c.state == CallState::Done) return;
  c.rec.failed = true;
  c.rec.failure_stage = stage;
  c.rec.failure_code = code;
  c.rec.failure_reason = reason;
  c.rec.failed_s = static_cast<double>(now_us - t0_us) / 1e6;
  ++iv_failures;
  ++total_failures;
  if (code == 0 && reason.find("timeout") != std::string::npos)
    count_timeout(c, timeout_kind ? timeout_kind : &request_timeouts, now_us);
  begin_close(c, now_us);
  // Nothing works at all (bad credentials, no server): stop rather than fail every call of the plan.
  if (total_setups == 0 && total_failures >= 10 && !ending && !drain_until_us) {
    errors.push_back("the first " + std::to_string(total_failures) + " calls all failed (" + stage + " " +
                     (code ? std::to_string(code) + " " : std::string()) + reason + "); the run stopped early");
    begin_drain(now_us);
  }
}

void Engine::Impl::begin_close(Call& c, int64_t now_us) {
  if (c.state == CallState::Closing || c.state == CallState::Done) return;
  if (c.state == CallState::Media) c.media_end_us = now_us;
  if (c.state == CallState::Opening || c.state == CallState::Setup) --setting_up;
  c.state = CallState::Closing;
  c.close_deadline_us = now_us + cfg.close_wait_ms * 1000;
  timers.push(Timer{c.close_deadline_us, c.local, 2, 0, 0});
  advance(c, now_us);
}

void Engine::Impl::finalize(Call& c) {
  if (c.state == CallState::Done) return;
  c.state = CallState::Done;
  sink.close_flow(flow_of(c, 0));
  sink.close_flow(flow_of(c, 1));
  // The media state is no longer needed; the counters stay for the report.
  for (auto& d : c.dir) d.sources.clear();
}

void Engine::Impl::run_timers(int64_t now_us) {
  while (!timers.empty() && timers.top().at_us <= now_us) {
    Timer t = timers.top();
    timers.pop();
    if (t.local >= calls.size()) continue;
    Call& c = *calls[t.local];
    if (t.kind == 0) {
      if (c.timer_at_ms[t.which] * 1000 != t.at_us) continue;  // stale
      c.timer_at_ms[t.which] = INT64_MAX;
      if (c.state == CallState::Done || !c.flow_open[t.which]) continue;
      c.side[t.which].tick(now_us / 1000);
      pump(c, t.which);
      advance(c, now_us);
    } else if (t.kind == 1) {
      if (c.state == CallState::Media) send_media(c, t.which, t.stream, now_us);
    } else if (t.kind == 3) {
      if (c.state == CallState::Media) send_rtcp(c, t.which, now_us);
    } else if (c.state == CallState::Closing && now_us >= c.close_deadline_us) {
      finalize(c);
    }
  }
}

// Once per interval: calls stuck in setup, and calls whose media stopped arriving (the server
// or the path went away) fail, with the time it was noticed.
void Engine::Impl::sweep(int64_t now_us) {
  for (auto& p : calls) {
    Call& c = *p;
    if ((c.state == CallState::Opening || c.state == CallState::Setup) &&
        now_us - c.started_us > cfg.setup_timeout_ms * 1000) {
      fail_call(c, "setup", 0, "timeout", now_us, &setup_timeouts);
    } else if (c.state == CallState::Media) {
      for (const auto& d : c.dir) {
        if (!d.ssrcs.empty() && now_us - d.last_rx_us > cfg.media_timeout_ms * 1000) {
          fail_call(c, "media", 0, "timeout", now_us, &media_timeouts);
          break;
        }
      }
    }
  }
}

// In the last step with every call of the plan opened, none left up (all failed): nothing more
// to measure, so the run ends rather than waiting out the plan.
void Engine::Impl::end_if_all_failed(int64_t now_us) {
  if (drain_until_us || calls.empty() || cur_step + 1 < plan.steps().size()) return;
  uint32_t target = plan.owned_target_at(rel_ms(now_us));
  if (opened - plan_closed < target) return;
  for (const auto& c : calls)
    if (c->state == CallState::Opening || c->state == CallState::Setup || c->state == CallState::Media) return;
  errors.push_back("every call had failed by " + std::to_string(rel_ms(now_us) / 1000) + " s; the run ended early");
  begin_drain(now_us);
}

// The plan's end (or a signal): sources stop, and what is in flight gets a moment to arrive
// (until every direction received what it sent, at most cfg.drain_ms) before the counters are
// read, so that on a clean path sent == received. What is still missing then counts as lost.
void Engine::Impl::begin_drain(int64_t now_us) {
  if (ending || drain_until_us) return;
  drain_until_us = now_us + std::max<int64_t>(cfg.drain_ms, 0) * 1000;
}

// Every direction of every call carrying media received as many packets as it sent.
bool Engine::Impl::drained() const {
  if (run_rx < run_tx) return false;   // arrivals include duplicates: only a cheap first check
  for (const auto& p : calls) {
    if (p->state != CallState::Media) continue;
    for (const auto& d : p->dir) {
      uint64_t received = 0;
      for (const auto& r : d.receivers) received += r.counters().received;
      if (received < d.sent_total) return false;
    }
  }
  return true;
}

// After the drain: the last step and sample are recorded, every call closes.
void Engine::Impl::end_run(int64_t now_us) {
  if (ending) return;
  ending = true;
  // Not set up in this long is a failure even though the plan ended first (a hung handshake).
  for (auto& p : calls) {
    Call& c = *p;
    if ((c.state == CallState::Opening || c.state == CallState::Setup) && now_us - c.started_us >= kStuckSetupUs)
      fail_call(c, "setup", 0, "timeout", now_us, &end_setup_timeouts);
  }
  sample(now_us);
  step_boundary(cur_step, now_us, true);
  for (auto& p : calls) {
    Call& c = *p;
    if (c.state == CallState::Closing || c.state == CallState::Done) continue;
    begin_close(c, now_us);
  }
  hard_end_us = now_us + cfg.close_wait_ms * 1000 + 100000;
}

Engine::Engine(EngineConfig cfg, FlowSink& sink) : impl_(std::make_unique<Impl>(std::move(cfg), sink)) {}
Engine::~Engine() = default;

void Engine::on_flow_opened(uint64_t flow, int64_t now_us) {
  auto& m = *impl_;
  Call* c = m.find(flow);
  if (!c) return;
  int side = static_cast<int>(flow & 1);
  c->flow_open[side] = true;
  if (c->state != CallState::Opening && c->state != CallState::Setup) return;
  c->state = CallState::Setup;
  c->side[side].start(now_us / 1000);
  m.pump(*c, side);
  m.advance(*c, now_us);
}

void Engine::on_flow_failed(uint64_t flow, const std::string& reason, int64_t now_us) {
  auto& m = *impl_;
  Call* c = m.find(flow);
  if (!c) return;
  c->flow_open[flow & 1] = false;
  if (c->state == CallState::Closing) {
    m.advance(*c, now_us);
    return;
  }
  m.fail_call(*c, "transport", 0, reason, now_us);
}

void Engine::on_receive(uint64_t flow, std::span<const uint8_t> bytes, int64_t now_us) {
  auto& m = *impl_;
  Call* c = m.find(flow);
  if (!c || c->state == CallState::Done) return;
  int side = static_cast<int>(flow & 1);
  m.last_server_rx_us = now_us;
  Delivery d = c->side[side].on_message(bytes, now_us / 1000);
  if (d.ok) {
    if (c->state == CallState::Media) m.receive_media(*c, side, d.payload, now_us);
    return;  // application data does not move the state machine
  }
  m.pump(*c, side);
  m.advance(*c, now_us);
}

void Engine::tick(int64_t now_us) {
  auto& m = *impl_;
  m.last_now_us = now_us;
  if (!m.started) {
    m.started = true;
    m.t0_us = now_us;
    m.end_us = now_us + m.plan.end_ms() * 1000;
    m.next_sample_ms = m.cfg.interval_ms;
  }
  if (!m.ending && m.drain_until_us == 0) {
    uint32_t step = m.plan.step_at(m.rel_ms(now_us));
    while (m.cur_step < step) m.step_boundary(m.cur_step++, now_us);
    if (now_us >= m.end_us) m.begin_drain(now_us);
    else m.open_calls(now_us);
  } else if (!m.ending && (now_us >= m.drain_until_us || m.drained())) {
    m.end_run(now_us);
  }
  m.run_timers(now_us);
  if (!m.ending && m.rel_ms(now_us) >= m.next_sample_ms) {
    m.sweep(now_us);
    m.end_if_all_failed(now_us);
    m.sample(now_us);
    while (m.next_sample_ms <= m.rel_ms(now_us)) m.next_sample_ms += m.cfg.interval_ms;
  }
  if (m.ending && !m.finished) {
    bool all_done = std::all_of(m.calls.begin(), m.calls.end(), [](const auto& c) { return c->state == CallState::Done; });
    if (all_done || now_us >= m.hard_end_us) {
      for (auto& c : m.calls) m.finalize(*c);
      m.finished = true;
    }
  }
}

int64_t Engine::next_wakeup_us() const {
  const auto& m = *impl_;
  if (!m.started) return 0;
  if (m.finished) return INT64_MAX;
  int64_t at = m.timers.empty() ? INT64_MAX : m.timers.top().at_us;
  if (m.ending) return std::min(at, m.hard_end_us);
  if (m.drain_until_us) return std::min(at, m.drain_until_us);
  at = std::min(at, m.end_us);
  at = std::min(at, m.t0_us + m.next_sample_ms * 1000);
  // The plan is checked every 5 ms (ramps open at most one call per 1/ramp s).
  at = std::min(at, m.last_now_us + 5000);
  return at;
}

void Engine::stop(int64_t now_us) {
  auto& m = *impl_;
  if (!m.started) tick(now_us);
  m.begin_drain(now_us);
}

bool Engine::done() const { return impl_->finished; }

Report Engine::finish() { return impl_->build_report(); }

Engine::Progress Engine::progress() const { return impl_->last_progress; }

}  // namespace loadgen
