// Engine: simulcast (RFC 8853). A published section's layers (by rid), their SSRCs learned from the
// rtp-stream-id extension (RFC 8852), each layer's bitrate, each subscription's layer from the
// subscriber's bandwidth and preferences (`subscribe`), and dynacast: layers nobody watches are
// paused at the publisher (`layers`, sfu/PROTOCOL.md) and resumed when someone wants them.
#include "sfu/engine_impl.hpp"

namespace sfu {

namespace {

// Before a layer has been measured: what libwebrtc sends for q, h and f of a 720p camera.
constexpr std::array<uint64_t, 3> kNominalBps{150'000, 500'000, 1'500'000};
constexpr int64_t kResumeWaitMs = 3'000;      // a resumed layer's first packet, at the latest
constexpr int64_t kResumeBackoffMs = 30'000;  // then it is not offered while paused for this long
constexpr uint64_t kAudioReserveBps = 64'000;  // per audio subscription, off the top of the budget

int layer_index(const json& v, const Track& t) {
  if (v.is_number_integer()) return std::clamp(v.get<int>(), 0, static_cast<int>(t.layers.size()) - 1);
  if (v.is_string()) {
    for (const auto& l : t.layers)
      if (l->rid == v.get<std::string>()) return l->index;
    static const std::array<std::string_view, 3> kNames{"low", "medium", "high"};
    for (size_t i = 0; i < kNames.size(); ++i)
      if (v.get<std::string>() == kNames[i]) return std::min(static_cast<int>(i), static_cast<int>(t.layers.size()) - 1);
  }
  return -1;
}

}  // namespace

std::vector<std::string> Engine::Impl::simulcast_rids(const sdp::MediaSection& m, bool enabled) {
  std::vector<std::string> rids;
  if (!enabled || !m.simulcast) return rids;
  // What build_answer() accepts: the first kMaxSimulcastLayers send streams with an a=rid send line.
  for (const auto& st : m.simulcast->send) {
    if (rids.size() == sdp::kMaxSimulcastLayers) break;
    const std::string& id = st.rids.front();
    if (std::any_of(m.rids.begin(), m.rids.end(), [&](const sdp::Rid& r) { return r.id == id && r.send; }))
      rids.push_back(id);
  }
  return rids;
}

void Engine::Impl::make_layers(Track& t, uint32_t ssrc, const std::vector<std::string>& rids) {
  t.simulcast = !rids.empty();
  t.ssrc = t.simulcast ? random_u32() : ssrc;  // subscribers see one SSRC whatever the layer
  if (t.video) t.rtx_ssrc = random_u32();
  size_t n = t.simulcast ? rids.size() : 1;
  for (size_t i = 0; i < n; ++i) {
    auto l = std::make_unique<Layer>();
    l->track = &t;
    l->index = static_cast<int>(i);
    if (t.simulcast) l->rid = rids[i];
    else l->ssrc = ssrc;
    if (l->ssrc) t.owner->ssrcs[l->ssrc] = l.get();
    t.layers.push_back(std::move(l));
  }
}

// The packet's layer: by its SSRC, or (a simulcast layer's first packet) by its mid and rid
// extensions, which teach the layer its SSRC. Bounded: one SSRC per layer.
Layer* Engine::Impl::layer_for(Participant& p, const RtpPacket& pkt) {
  if (auto it = p.ssrcs.find(pkt.ssrc); it != p.ssrcs.end()) return it->second;
  for (auto& [mid, t] : p.published) {
    if (!t->simulcast || !t->rid_ext_id || !t->mid_ext_id) continue;
    const RtpExtension* m = pkt.extension(t->mid_ext_id);
    const RtpExtension* r = pkt.extension(t->rid_ext_id);
    if (!m || !r || std::string_view(reinterpret_cast<const char*>(m->value.data()), m->value.size()) != mid) continue;
    std::string_view rid(reinterpret_cast<const char*>(r->value.data()), r->value.size());
    for (auto& l : t->layers) {
      if (l->rid != rid) continue;
      if (l->ssrc) p.ssrcs.erase(l->ssrc);  // the publisher restarted the layer on a new SSRC
      l->ssrc = pkt.ssrc;
      p.ssrcs[pkt.ssrc] = l.get();
      return l.get();
    }
  }
  return nullptr;
}

void Engine::Impl::measure_layers(Track& t, int64_t now_ms) {
  for (auto& l : t.layers) {
    if (l->rate_ms == 0) {
      l->rate_ms = now_ms;
      l->rate_bytes = l->bytes;
      continue;
    }
    int64_t dt = now_ms - l->rate_ms;
    if (dt < kLayerIntervalMs) continue;
    if (l->resumed_ms && l->last_packet_ms >= l->resumed_ms) l->resumed_ms = 0;
    if (l->resumed_ms && now_ms - l->resumed_ms >= kResumeWaitMs) {
      l->resume_failed_ms = now_ms;  // resumed, but nothing came: not offered again for a while
      l->resumed_ms = 0;
    }
    uint64_t bps = (l->bytes - l->rate_bytes) * 8 * 1000 / static_cast<uint64_t>(dt);
    // Smoothed over about a second; a paused layer keeps its last rate for the next choice.
    if (now_ms - l->last_packet_ms < kLayerIdleMs) l->bitrate_bps = l->bitrate_bps ? (l->bitrate_bps + bps) / 2 : bps;
    l->rate_ms = now_ms;
    l->rate_bytes = l->bytes;
  }
}

uint64_t Engine::Impl::budget_bps(const Participant& subscriber) const {
  // Nothing known yet: a middle layer's worth; probing finds out whether more fits.
  uint64_t budget = subscriber.bandwidth.estimate_bps ? subscriber.bandwidth.estimate_bps : kStartBudgetBps;
  for (const auto& [_, sub] : subscriber.receiving)
    if (!sub->track->video) budget -= std::min(budget, kAudioReserveBps);
  return budget;
}

namespace {

// A paused layer that can be resumed: one the publisher has sent, and sent again when last resumed.
bool resumable(const Layer& l, int64_t now_ms) {
  return l.paused && l.packets > 0 && (l.resume_failed_ms == 0 || now_ms - l.resume_failed_ms >= kResumeBackoffMs);
}

// A track's layers as choose_layer() sees them: active if packets arrive (or we paused it and it
// can be resumed, or it is being resumed), at their measured rate (nominal before one is measured). When every layer is
// paused and none of them qualifies, the lowest paused one is offered, so a track is never stuck.
std::array<LayerOffer, sdp::kMaxSimulcastLayers> offers_of(const Track& t, int64_t now_ms) {
  std::array<LayerOffer, sdp::kMaxSimulcastLayers> offers{};
  bool any = false;
  for (const auto& l : t.layers) {
    auto i = static_cast<size_t>(l->index);
    offers[i].active = resumable(*l, now_ms) || l->resumed_ms || now_ms - l->last_packet_ms < kLayerIdleMs;
    offers[i].bitrate_bps = l->bitrate_bps ? l->bitrate_bps : kNominalBps[std::min<size_t>(i, 2)];
    any = any || offers[i].active;
  }
  for (const auto& l : t.layers) {
    if (any || !l->paused) continue;
    offers[static_cast<size_t>(l->index)].active = true;
    break;
  }
  return offers;
}

}  // namespace

// Each video subscription of the subscriber gets an equal share of its budget and the highest
// layer that fits (choose_layer); a change asks the publisher for that layer's keyframe. What the
// subscriptions held back by the budget would need is what probe() pads toward.
void Engine::Impl::choose_layers(Participant& subscriber, int64_t now_ms) {
  size_t videos = 0;
  for (const auto& [_, sub] : subscriber.receiving) videos += sub->track->video && !sub->paused;
  uint64_t budget = budget_bps(subscriber);
  uint64_t share = videos == 0 ? budget : budget / videos;
  uint64_t probe_for = 0;
  bool held_back = false;
  for (auto& [_, sub] : subscriber.receiving) {
    Track& t = *sub->track;
    if (!t.video) {
      probe_for += kAudioReserveBps;
      continue;
    }
    auto offers = offers_of(t, now_ms);
    std::span<const LayerOffer> layers{offers.data(), t.layers.size()};
    int target = sub->paused ? LayerForwarder::kNone : choose_layer(layers, share, sub->max_layer, sub->forwarder.current());
    int unlimited = sub->paused ? LayerForwarder::kNone : choose_layer(layers, UINT64_MAX, sub->max_layer, target);
    held_back |= target >= 0 && unlimited > target;
    // The next layer up with choose_layer's headroom (and some), or what it gets.
    if (target >= 0) probe_for += unlimited > target ? offers[static_cast<size_t>(target) + 1].bitrate_bps * 125 / 100
                                                     : offers[static_cast<size_t>(target)].bitrate_bps;
    if ((target == LayerForwarder::kNone && !sub->paused) || target == sub->forwarder.target()) continue;
    sub->forwarder.set_target(target);  // (kNone with nothing arriving: it keeps what it has)
    if (sub->forwarder.wants_keyframe()) want_keyframe(t.layer(target), now_ms);
  }
  subscriber.probe.target_bps = held_back ? probe_for : 0;
}

// Dynacast: a layer no subscription targets or receives for kDynacastPauseMs is paused at the
// publisher; a wanted paused layer is resumed at once. The publisher gets the active rids.
void Engine::Impl::dynacast(Track& t, int64_t now_ms) {
  if (!t.simulcast) return;
  std::array<bool, sdp::kMaxSimulcastLayers> wanted{};
  refresh_fanout(t);  // paused layers send no packet that would refresh it for new subscribers
  for (auto& [to, sub] : t.fanout) {
    if (sub->forwarder.target() >= 0) wanted[static_cast<size_t>(sub->forwarder.target())] = true;
    if (sub->forwarder.current() >= 0) wanted[static_cast<size_t>(sub->forwarder.current())] = true;
  }
  bool changed = false;
  for (auto& l : t.layers) {
    bool want = wanted[static_cast<size_t>(l->index)];
    if (want) l->unwanted_since_ms = 0;
    else if (l->unwanted_since_ms == 0) l->unwanted_since_ms = now_ms;
    bool pause = !want && now_ms - l->unwanted_since_ms >= kDynacastPauseMs;
    if (pause != l->paused) {
      l->paused = pause;
      l->resumed_ms = pause ? 0 : now_ms;
      changed = true;
    }
  }
  if (!changed) return;
  json active = json::array();
  for (auto& l : t.layers)
    if (!l->paused) active.push_back(l->rid);
  send(*t.owner, {{"type", "layers"}, {"track", t.id}, {"mid", t.mid}, {"active", active}});
}

void Engine::Impl::subscribe_message(Participant& p, const json& msg, int64_t now_ms) {
  // sfu/PROTOCOL.md "subscribe": {track, max_layer?, paused?} for a track the participant receives.
  const auto* track = msg.contains("track") && msg["track"].is_string() ? &msg["track"] : nullptr;
  Subscription* sub = nullptr;
  for (auto& [_, s] : p.receiving)
    if (track && s->track->id == track->get<std::string>()) sub = s.get();
  if (!sub) return send_error(p.conn, "malformed", "subscribe: not a track this participant receives", false);
  if (msg.contains("max_layer")) {
    int i = layer_index(msg["max_layer"], *sub->track);
    if (i < 0) return send_error(p.conn, "malformed", "subscribe: max_layer is a rid, low/medium/high or an index", false);
    sub->max_layer = i;
  }
  if (msg.contains("paused")) {
    if (!msg["paused"].is_boolean()) return send_error(p.conn, "malformed", "subscribe: paused is a boolean", false);
    sub->paused = msg["paused"].get<bool>();
  }
  choose_layers(p, now_ms);
}

void Engine::Impl::simulcast_tick(Participant& p, int64_t now_ms) {
  if (now_ms - p.bandwidth.chosen_ms < kLayerIntervalMs) return;
  p.bandwidth.chosen_ms = now_ms;
  auto& pr = p.probe;
  if (pr.rate_ms && now_ms > pr.rate_ms) pr.out_rate_bps = (p.bytes_out - pr.rate_bytes) * 8 * 1000 / static_cast<uint64_t>(now_ms - pr.rate_ms);
  pr.rate_ms = now_ms;
  pr.rate_bytes = p.bytes_out;
  for (auto& [_, t] : p.published) measure_layers(*t, now_ms);
  choose_layers(p, now_ms);
  for (auto& [_, t] : p.published) dynacast(*t, now_ms);
  auto& bw = p.bandwidth;
  if (bw.estimate_bps && now_ms - bw.updated_ms < 5'000 && now_ms - bw.observed_ms >= 2'000) {
    bw.observed_ms = now_ms;
    sink.observe_estimated_bitrate(p.conn, static_cast<double>(bw.estimate_bps));
  }
}

}  // namespace sfu
