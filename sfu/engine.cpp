// Engine: lifetimes, paths and timers (engine_impl.hpp has the state; residency is in engine_residency.cpp).
#include "sfu/engine_impl.hpp"

namespace sfu {

const char* to_string(Path p) {
  switch (p) {
    case Path::Unknown: return "unknown";
    case Path::Direct: return "direct";
    case Path::RelayUdp: return "relay_udp";
    case Path::RelayTcp: return "relay_tcp";
    case Path::RelayTls: return "relay_tls";
    case Path::RelayDtls: return "relay_dtls";
    case Path::RelayExternal: return "relay_external";
  }
  return "unknown";
}

void Engine::Impl::infer_nat(Participant& p, int64_t now_ms) {
  const int64_t connected_ms = p.lifecycle.connected_ms;
  if (p.nat.done || !connected_ms || now_ms - connected_ms < cfg.nat_inference_delay_ms || !p.addr) return;
  p.nat.done = true;
  NatEvidence e;
  e.stun_servers = cfg.stun_servers;
  e.hosts = p.nat.host_candidates;
  e.srflx = p.nat.srflx_candidates;
  for (const auto& c : cfg.candidates)
    if (c.address.family == p.addr->address.family) { e.media = c; break; }
  for (const auto& a : p.addresses) {
    bool relayed = (cfg.classify && cfg.classify(a) != Path::Direct) ||
                   std::find(p.relay_candidates.begin(), p.relay_candidates.end(), a) != p.relay_candidates.end();
    if (!relayed) e.check_sources.push_back(a);
  }
  if (e.check_sources.empty()) return;  // relayed only: the NAT between client and TURN is not seen here
  sink.nat_mapping(e.check_sources.front().address, to_string(infer_mapping(e)), e);
}

void Engine::Impl::close_room_if_empty(const std::string& name) {
  auto it = rooms.find(name);
  if (it != rooms.end() && it->second->participants.empty()) rooms.erase(it);
  stats.rooms.set(rooms.size());
}

void Engine::Impl::classify(Participant& p) {
  count_region(p);
  Path path = p.addr && cfg.classify ? cfg.classify(*p.addr) : Path::Direct;
  if (path == Path::Direct && p.addr &&
      std::find(p.relay_candidates.begin(), p.relay_candidates.end(), *p.addr) != p.relay_candidates.end())
    path = Path::RelayExternal;
  if (path == p.path) return;
  if (p.counted.session) {  // the live gauge moves; the total counted the session once already
    stats.sessions[static_cast<size_t>(p.path)].set(stats.sessions[static_cast<size_t>(p.path)].get() - 1);
    stats.sessions[static_cast<size_t>(path)].add();
    sink.media_session_path(p.conn, p.path, path);
  }
  p.path = path;
  broadcast(*p.room, {{"type", "path"}, {"participant", p.id}, {"path", to_string(path)}}, nullptr);
}

// Handshake retransmissions: our ICE probes (RFC 8489 6.2.1) and DTLS flights (RFC 6347 4.2.4);
// a failed DTLS handshake is counted once.
void Engine::Impl::retransmit(Participant& p, int64_t now_ms) {
  if (p.ice)
    if (auto to = p.ice->due_probe(now_ms)) send_probe(p, *to, false, now_ms);
  if (!p.dtls || !p.addr) return;
  auto state = p.dtls->tick(now_ms);
  flush_dtls(p, *p.addr);
  if (state == DtlsState::Failed && !p.counted.dtls_failure) {
    p.counted.dtls_failure = true;
    stats.dtls_failures.add();
  }
}

void Engine::Impl::tick(int64_t now_ms) {
  expire_detached(now_ms);
  std::vector<Participant*> gone, foreign;
  for (auto& [_, room] : rooms) {
    speakers(*room, now_ms);
    for (auto& [__, pp] : room->participants) {
      Participant& p = *pp;
      retransmit(p, now_ms);
      if (p.ice && p.addr && p.ice->consent_expired(now_ms)) {  // RFC 7675: the participant vanished
        stats.ice_failures.add();
        gone.push_back(&p);
        continue;
      }
      const int64_t answered_ms = p.lifecycle.answered_ms;
      if (answered_ms && !p.addr && !p.counted.ice_failure && now_ms - answered_ms > cfg.join_timeout_ms) {
        p.counted.ice_failure = true;  // answered, but no connectivity check ever came
        stats.ice_failures.add();
      }
      if (p.foreign && !p.addr && now_ms - p.foreign_since_ms >= cfg.foreign_grace_ms) {
        foreign.push_back(&p);  // residency: only refused addresses checked in: no media path here
        continue;
      }
      reports(p, now_ms);
      transport_feedback(p, now_ms);
      probe(p, now_ms);
      simulcast_tick(p, now_ms);
      infer_nat(p, now_ms);
    }
  }
  for (Participant* p : gone) {
    ConnectionId c = p->conn;
    remove(*p, now_ms, "ice_failed");
    send_error(c, "ice_failed", "no connectivity checks for 30 s: media consent expired", true);
  }
  for (Participant* p : foreign) {
    ConnectionId c = p->conn;
    EngineConfig::Admission a = *p->foreign;
    remove(*p, now_ms, "residency");
    tell_foreign(c, a);
  }
}

void Engine::Impl::reports(Participant& p, int64_t now_ms) {
  if (!p.lifecycle.srtp_ready || !p.addr) return;
  for (auto& [_, t] : p.published)
    for (auto& l : t->layers) {
      if (l->keyframe_wanted_since > 0) {
        if (now_ms - l->keyframe_wanted_since > kPliGiveUpMs) l->keyframe_wanted_since = 0;
        else if (now_ms - l->last_pli_ms >= kPliIntervalMs) send_pli(*l, now_ms);
      }
      if (now_ms - l->last_rr_ms >= kReportIntervalMs && l->stats.valid()) {
        l->last_rr_ms = now_ms;
        ReportBlock block = l->stats.report_block(l->ssrc, now_ms * 1000);
        send_rtcp(p, build_rr(out, p.local_ssrc, {&block, 1}));
      }
    }
  for (auto& [_, sub] : p.receiving) {
    Track& t = *sub->track;
    int current = sub->forwarder.current();
    if (current == LayerForwarder::kNone || now_ms - sub->last_sr_ms < kReportIntervalMs || sub->packets == 0) continue;
    const Layer& l = t.layer(current);
    if (!l.sr.have) continue;
    sub->last_sr_ms = now_ms;
    SenderInfo info;
    info.ntp = ntp_of(now_ms, anchor_mono_ms, anchor_unix_ms);
    // The publisher's RTP clock now, in the subscriber's timeline (the forwarder's offset).
    uint32_t rtp_now = l.sr.rtp + static_cast<uint32_t>((now_ms - l.sr.arrival_ms) * t.clock_rate / 1000);
    info.rtp_timestamp = rtp_now + sub->forwarder.timestamp_offset();
    info.packet_count = sub->packets;
    info.octet_count = sub->octets;
    send_rtcp(p, build_sr(out, t.ssrc, info, {}));
  }
}

void Engine::Impl::remove(Participant& p, int64_t now_ms, const char* why) {
  (void)now_ms;
  Room& room = *p.room;
  sink.participant_left({p.conn, room.name, p.identity, p.id, p.path, why});
  std::vector<std::string> removed;
  while (!p.published.empty()) unpublish(p, p.published.begin()->first, removed);
  for (const auto& a : p.addresses) by_addr.erase(a);
  if (p.ice) by_ufrag.erase(p.ice->local().ufrag);
  forget_session(p);
  if (p.counted.session) {
    auto& g = stats.sessions[static_cast<size_t>(p.path)];
    g.set(g.get() - 1);
    sink.media_session_path(p.conn, p.path, Path::Unknown);
  }
  uncount_region(p);
  by_conn.erase(p.conn);
  std::string id = p.id, name = room.name;
  room.participants.erase(id);  // destroys p
  ++room.generation;
  stats.participants.set(stats.participants.get() - 1);
  broadcast(room, {{"type", "participant_left"}, {"participant", id}}, nullptr);
  close_room_if_empty(name);
  count_tracks();
}

void Engine::Impl::count_tracks() {
  uint64_t audio = 0, video = 0;
  for (auto& [_, room] : rooms)
    for (auto& [__, p] : room->participants)
      for (auto& [___, t] : p->published) (t->video ? video : audio)++;
  stats.tracks_audio.set(audio);
  stats.tracks_video.set(video);
}

Engine::Engine(EngineConfig cfg, EngineSink& sink) : impl_(std::make_unique<Impl>(std::move(cfg), sink)) {}
Engine::~Engine() = default;

void Engine::signal_opened(ConnectionId, int64_t) {}

void Engine::signal_message(ConnectionId c, std::string_view text, int64_t now_ms, int64_t unix_s) {
  if (impl_->anchor_unix_ms == 0) {
    impl_->anchor_mono_ms = now_ms;
    impl_->anchor_unix_ms = unix_s * 1000;
  }
  impl_->on_message(c, text, now_ms, unix_s);
}

void Engine::signal_closed(ConnectionId c, int64_t now_ms, bool leaving) {
  auto it = impl_->by_conn.find(c);
  if (it != impl_->by_conn.end() && (leaving || !impl_->detach(*it->second, now_ms))) impl_->remove(*it->second, now_ms);
}

void Engine::media(std::span<uint8_t> data, const turn::Endpoint& from, int64_t now_ms) {
  impl_->media(data, from, now_ms);
}

void Engine::tick(int64_t now_ms) { impl_->tick(now_ms); }
void Engine::residency_changed(int64_t now_ms) { impl_->residency_changed(now_ms); }
void Engine::set_join_config(std::vector<std::string> token_keys, std::map<std::string, std::string> region_signal_urls) {
  impl_->cfg.token_keys = std::move(token_keys);
  impl_->cfg.region_signal_urls = std::move(region_signal_urls);
}
const EngineStats& Engine::stats() const { return impl_->stats; }
const Certificate& Engine::certificate() const { return impl_->cert; }

}  // namespace sfu

