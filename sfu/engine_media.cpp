// Engine: the media port (RFC 7983 demux): ICE-lite checks, DTLS, SRTP/SRTCP forwarding, NACK and PLI.
#include "sfu/engine_impl.hpp"

namespace sfu {

void Engine::Impl::want_keyframe(Layer& l, int64_t now_ms) {
  if (l.keyframe_wanted_since <= 0) l.keyframe_wanted_since = now_ms;
  send_pli(l, now_ms);
}

void Engine::Impl::want_keyframe_for(Subscription& sub, int64_t now_ms) {
  Track& t = *sub.track;
  if (!t.video) return;
  int i = sub.forwarder.target() != LayerForwarder::kNone ? sub.forwarder.target() : sub.forwarder.current();
  if (i == LayerForwarder::kNone) i = 0;
  want_keyframe(t.layer(i), now_ms);
}

void Engine::Impl::send_pli(Layer& l, int64_t now_ms) {
  Participant& pub = *l.track->owner;
  if (!pub.lifecycle.srtp_ready || !pub.addr || l.ssrc == 0) return;
  size_t n = build_pli(out, pub.local_ssrc, l.ssrc);
  send_rtcp(pub, n);
  l.last_pli_ms = now_ms;
  stats.pli.add();
}

void Engine::Impl::send_rtcp(Participant& p, size_t n) {
  if (n == 0 || !p.lifecycle.srtp_ready || !p.addr) return;
  size_t len = n;
  if (p.srtp.outbound.protect_rtcp(out, len) != SrtpError::None) return;
  p.bytes_out += len;
  sink.send_media(*p.addr, {out.data(), len});
}

Participant* Engine::Impl::participant_for(const turn::Endpoint& from) {
  auto it = by_addr.find(from);
  return it == by_addr.end() ? nullptr : it->second;
}

void Engine::Impl::media(std::span<uint8_t> d, const turn::Endpoint& from, int64_t now_ms) {
  if (d.empty()) return;
  uint8_t b = d[0];
  if (b < 4) return stun(d, from, now_ms);                     // RFC 7983: STUN
  if (b >= 20 && b <= 63) return dtls(d, from, now_ms);        // DTLS
  if (b >= 128 && b <= 191) return srtp(d, from, now_ms);      // RTP / RTCP
}

void Engine::Impl::stun(std::span<uint8_t> d, const turn::Endpoint& from, int64_t now_ms) {
  Participant* p = participant_for(from);
  if (!p) {
    // A first check from this address: USERNAME is "<our ufrag>:<theirs>".
    turn::stun::Message msg;
    if (turn::stun::Message::parse(d, msg) != turn::stun::ParseError::None) return;
    const auto* u = msg.find(turn::stun::attr::Username);
    if (!u) return;
    std::string_view name(reinterpret_cast<const char*>(u->value.data()), u->value.size());
    auto it = by_ufrag.find(std::string(name.substr(0, name.find(':'))));
    if (it == by_ufrag.end()) return;
    p = it->second;
  }
  if (!p->ice) return;
  // RFC 5389 6: class bits C1 (0x0100) and C0 (0x0010) of the message type; responses answer our probes.
  if (d.size() >= 2 && (d[0] & 0x01) != 0) {
    if (!by_addr.count(from)) return;  // probes go only to addresses that sent us a valid check
    auto pr = p->ice->on_response(d, from, now_ms);
    if (pr.proven) stats.ice_probes_answered.add();
    if (pr.selected_changed) follow_selected(*p);
    return;
  }
  if (!by_addr.count(from) && !admitted(*p, d, from, now_ms)) return;
  auto r = p->ice->on_stun(d, from, now_ms, stun_out);
  if (!r.response.empty()) sink.send_media(from, r.response);
  if (!r.ok()) return;
  if (!by_addr.count(from)) {
    by_addr[from] = p;
    p->addresses.push_back(from);
    if (p->addresses.size() > 16) {
      by_addr.erase(p->addresses.front());
      p->addresses.erase(p->addresses.begin());
    }
  }
  if (r.probe) send_probe(*p, from, true, now_ms);
  follow_selected(*p);
}

void Engine::Impl::send_probe(Participant& p, const turn::Endpoint& to, bool nominate, int64_t now_ms) {
  auto req = p.ice->probe(to, nominate, now_ms, probe_out);
  if (req.empty()) return;
  stats.ice_probes.add();
  sink.send_media(to, req);
}

void Engine::Impl::follow_selected(Participant& p) {
  const auto& selected = p.ice->selected();
  if (!selected || (p.addr && *p.addr == *selected)) return;
  bool first = !p.addr;
  p.addr = selected;
  classify(p);
  // DTLS finished before the path was proven: subscriptions get their keyframes now.
  if (first && p.lifecycle.srtp_ready)
    for (auto& [_, sub] : p.receiving) want_keyframe_for(*sub, 0);
}

void Engine::Impl::flush_dtls(Participant& p, const turn::Endpoint& to) {
  for (auto& dg : p.dtls->take_outgoing()) sink.send_media(to, dg);
}

void Engine::Impl::dtls(std::span<uint8_t> d, const turn::Endpoint& from, int64_t now_ms) {
  Participant* p = participant_for(from);
  if (!p || !p->dtls) return;
  auto before = p->dtls->state();
  auto state = p->dtls->on_datagram(d, now_ms);
  flush_dtls(*p, from);
  if (before != DtlsState::Connected && state == DtlsState::Connected) connected(*p, from, now_ms);
  if (state == DtlsState::Failed && !p->counted.dtls_failure) {
    p->counted.dtls_failure = true;
    stats.dtls_failures.add();
  }
}

void Engine::Impl::connected(Participant& p, const turn::Endpoint& from, int64_t now_ms) {
  const auto* km = p.dtls->keying_material();
  if (!km) return;
  auto profile = static_cast<SrtpProfile>(static_cast<uint16_t>(km->profile));
  if (make_srtp_sessions(profile, km->material, true, p.srtp) != SrtpError::None) {
    stats.dtls_failures.add();
    return;
  }
  p.lifecycle.srtp_ready = true;
  if (!p.lifecycle.connected_ms) p.lifecycle.connected_ms = now_ms;
  // DTLS can finish before the browser's nomination is proven. Finishing it from an address proves
  // nothing (the last flight can be sent with any source), so media goes there only once the
  // address has answered our probe; until then (or a proven nomination) nothing is sent.
  if (!p.addr && p.ice && p.ice->proven(from)) p.addr = from;
  else if (!p.addr && p.ice) send_probe(p, from, true, now_ms);
  if (p.path == Path::Unknown) classify(p);
  if (!p.counted.session) {
    p.counted.session = true;
    stats.sessions[static_cast<size_t>(p.path)].add();
    stats.sessions_total[static_cast<size_t>(p.path)].add();
    sink.media_session_path(p.conn, Path::Unknown, p.path);
  }
  count_region(p);
  // Subscribers that joined before the media path was up need keyframes now.
  for (auto& [_, sub] : p.receiving) want_keyframe_for(*sub, 0);
}

void Engine::Impl::srtp(std::span<uint8_t> d, const turn::Endpoint& from, int64_t now_ms) {
  Participant* p = participant_for(from);
  if (!p || !p->lifecycle.srtp_ready) return;
  p->bytes_in += d.size();
  size_t len = d.size();
  if (looks_like_rtcp(d)) {
    if (p->srtp.inbound.unprotect_rtcp(d, len) != SrtpError::None) return;
    return rtcp(*p, d.first(len), now_ms);
  }
  if (p->srtp.inbound.unprotect_rtp(d, len) != SrtpError::None) return;
  rtp(*p, d.first(len), now_ms);
}

// Track::fanout again from the room's subscriptions if they changed since it was made.
void Engine::Impl::refresh_fanout(Track& t) {
  const Room& room = *t.owner->room;
  if (t.fanout_generation == room.generation) return;
  t.fanout.clear();
  for (const auto& [_, other] : room.participants)
    for (const auto& [__, sub] : other->receiving)
      if (sub->track == &t) t.fanout.emplace_back(other.get(), sub.get());
  t.fanout_generation = room.generation;
}

void Engine::Impl::rtp(Participant& p, std::span<const uint8_t> d, int64_t now_ms) {
  RtpPacket pkt;
  if (RtpPacket::parse(d, pkt) != RtpError::None) return;
  Layer* l = layer_for(p, pkt);  // the sender's own tracks only (found by its address first)
  if (!l) return;
  Track& t = *l->track;
  if (!p.lifecycle.first_media_seen) {
    p.lifecycle.first_media_seen = true;
    sink.observe_join_seconds(static_cast<double>(now_ms - p.lifecycle.joined_ms) / 1000.0);
  }
  if (pkt.payload_type != t.payload_type) return;  // e.g. RTX or RED, which the answer did not accept
  record_arrival(p, t, pkt, now_ms);
  note_audio_level(p, t, pkt, now_ms);
  l->stats.on_packet(pkt.sequence, pkt.timestamp, now_ms * 1000);
  l->nack.store(pkt.sequence, d);
  ++l->packets;
  l->bytes += d.size();
  l->last_packet_ms = now_ms;
  ++t.packets;
  if (l->keyframe_wanted_since > 0 && is_keyframe(t.codec, pkt.payload)) l->keyframe_wanted_since = 0;
  refresh_fanout(t);
  for (auto& [to, sub] : t.fanout)
    if (forward(*to, *sub, pkt, *l, now_ms)) to->resend_share.earn(pkt.raw.size());
}

bool Engine::Impl::forward(Participant& to, Subscription& sub, const RtpPacket& pkt, const Layer& l, int64_t now_ms,
                           bool as_rtx) {
  if (!to.lifecycle.srtp_ready || !to.addr) return false;
  const Track& t = *sub.track;
  Vp8Descriptor vp8;
  bool has_vp8 = t.simulcast && t.codec == MediaCodec::Vp8 && Vp8Descriptor::parse(pkt.payload, vp8);
  LayerPacket lp{l.index, pkt.sequence, pkt.timestamp, t.video ? is_keyframe(t.codec, pkt.payload) : true,
                 has_vp8 ? &vp8 : nullptr, t.clock_rate};
  LayerOutput o;
  if (!sub.forwarder.on_packet(lp, now_ms, o)) return false;
  RtpRewrite rw;
  rw.ssrc = t.ssrc;
  rw.payload_type = sub.payload_type;
  rw.sequence = o.sequence;
  rw.timestamp_offset = o.timestamp - pkt.timestamp;
  rw.extension_map = &sub.extensions;
  rw.publisher_mid_id = t.mid_ext_id;
  rw.mid_id = sub.mid_ext_id;
  rw.mid = {reinterpret_cast<const uint8_t*>(sub.mid_value.data()), sub.mid_value.size()};
  rw.mid_always = true;
  size_t n = rewrite(pkt, std::span<uint8_t>(out).first(out.size()), rw);
  if (n == 0) return false;
  if (has_vp8) {
    size_t at = n - pkt.padding_size - pkt.payload.size();
    vp8.write(std::span<uint8_t>(out).subspan(at, pkt.payload.size()), o.picture_id, o.tl0picidx);
  }
  if (as_rtx && (n = to_rtx(out, n, sub.rtx, kSrtpRtpTrailerRoom)) == 0) return false;
  stamp_sent(to, sub, n, now_ms);
  size_t len = n;
  if (to.srtp.outbound.protect_rtp(out, len) != SrtpError::None) return false;
  to.bytes_out += len;
  sink.send_media(*to.addr, {out.data(), len});
  count_forwarded(sub, pkt.payload.size(), n);
  return true;
}

void Engine::Impl::count_forwarded(Subscription& sub, size_t payload, size_t n) {
  ++sub.packets;
  sub.octets += static_cast<uint32_t>(payload);
  if (sub.forwarder.switches() != sub.switches_counted) {
    stats.layer_switches.add(sub.forwarder.switches() - sub.switches_counted);
    sub.switches_counted = sub.forwarder.switches();
  }
  if (sub.track->video) {
    stats.forwarded_packets_video.add();
    stats.forwarded_bytes_video.add(n);
  } else {
    stats.forwarded_packets_audio.add();
    stats.forwarded_bytes_audio.add(n);
  }
}

Subscription* Engine::Impl::subscription_for(Participant& p, uint32_t media_ssrc) {
  for (auto& [_, sub] : p.receiving)
    if (sub->track->ssrc == media_ssrc) return sub.get();
  return nullptr;
}

void Engine::Impl::rtcp(Participant& p, std::span<const uint8_t> d, int64_t now_ms) {
  RtcpReader reader(d);
  RtcpPacket pkt;
  size_t nack_left = cfg.max_nack_seqs_per_compound;
  while (reader.next(pkt)) {
    switch (kind_of(pkt)) {
      case RtcpKind::SenderReport: sender_report(p, pkt, now_ms); break;
      case RtcpKind::ReceiverReport: {
        ReceiverReport rr;
        if (ReceiverReport::parse(pkt, rr) == RtcpError::None) report_blocks(p, rr.blocks, now_ms);
        break;
      }
      case RtcpKind::GenericNack: {
        GenericNack nack;
        if (GenericNack::parse(pkt, nack) != RtcpError::None) break;
        Subscription* sub = subscription_for(p, nack.media_ssrc);
        if (!sub) break;
        std::array<uint16_t, kMaxNackPerFeedback> seqs;
        size_t n = nack.expand(seqs);
        resend(p, *sub, std::span<const uint16_t>(seqs).first(n), nack_left, now_ms);
        break;
      }
      case RtcpKind::Remb: {
        // draft-alvestrand-rmcat-remb: what the subscriber's receiver estimates its path carries.
        Remb remb;
        if (Remb::parse(pkt, remb) == RtcpError::None) on_remb(p, remb.bitrate_bps, now_ms);
        break;
      }
      case RtcpKind::TransportCc: on_transport_cc(p, pkt, now_ms); break;
      case RtcpKind::Pli:
      case RtcpKind::Fir: keyframe_request(p, pkt, now_ms); break;
      default: break;
    }
  }
}

void Engine::Impl::sender_report(Participant& p, const RtcpPacket& pkt, int64_t now_ms) {
  SenderReport sr;
  if (SenderReport::parse(pkt, sr) != RtcpError::None) return;
  auto it = p.ssrcs.find(sr.ssrc);
  if (it == p.ssrcs.end()) return;
  Layer& l = *it->second;
  l.stats.on_sender_report(sr.info.ntp, now_ms * 1000);
  l.sr.have = true;
  l.sr.rtp = sr.info.rtp_timestamp;
  l.sr.arrival_ms = now_ms;
  report_blocks(p, sr.blocks, now_ms);
}

// A subscriber's PLI or FIR: our PLI to the publisher for the layer it gets, at most every
// kForwardedPliMinMs per subscription.
void Engine::Impl::keyframe_request(Participant& p, const RtcpPacket& pkt, int64_t now_ms) {
  uint32_t media = 0;
  Pli pli;
  if (kind_of(pkt) == RtcpKind::Pli && Pli::parse(pkt, pli) == RtcpError::None) media = pli.media_ssrc;
  Fir fir;
  if (kind_of(pkt) == RtcpKind::Fir && Fir::parse(pkt, fir) == RtcpError::None && !fir.entries.empty())
    media = fir.entries[0].ssrc;
  Subscription* sub = subscription_for(p, media);
  if (!sub || now_ms - sub->last_forwarded_pli_ms < kForwardedPliMinMs) return;
  sub->last_forwarded_pli_ms = now_ms;
  want_keyframe_for(*sub, now_ms);
}

void Engine::Impl::resend(Participant& p, Subscription& sub, std::span<const uint16_t> seqs, size_t& left,
                          int64_t now_ms) {
  if (!sub.resent) sub.resent = std::make_unique<RecentResends>();
  for (uint16_t seq : seqs) {
    if (left == 0) {
      stats.nack_limited_cap.add();
      continue;
    }
    --left;
    auto source = sub.forwarder.source_sequence(seq);  // the current layer's, since the last switch
    if (!source) continue;
    const Layer& l = sub.track->layer(sub.forwarder.current());
    auto stored = l.nack.find(*source);
    if (stored.empty()) continue;
    if (sub.resent->recent(seq, now_ms, cfg.nack_repeat_interval_ms)) {
      stats.nack_limited_repeat.add();
      continue;
    }
    if (p.resend_share.available() < stored.size() || !p.resend_budget.take(stored.size(), now_ms)) {
      stats.nack_limited_budget.add();
      continue;
    }
    p.resend_share.take(stored.size());
    sub.resent->note(seq, now_ms);
    RtpPacket old;
    if (RtpPacket::parse(stored, old) != RtpError::None) continue;
    forward(p, sub, old, l, now_ms, sub.rtx.payload_type != 0);  // RFC 4588 where negotiated
    stats.nack.add();
  }
}

void Engine::Impl::report_blocks(const Participant& p, const ReportBlockList& blocks, int64_t now_ms) {
  uint64_t ntp = ntp_of(now_ms, anchor_mono_ms, anchor_unix_ms);
  uint32_t mid32 = static_cast<uint32_t>(ntp >> 16);
  for (const auto& b : blocks) {
    if (b.lsr != 0) {
      uint32_t rtt = mid32 - b.lsr - b.dlsr;  // 1/65536 s
      double secs = static_cast<double>(rtt) / 65536.0;
      if (secs >= 0 && secs < 60) sink.observe_rtt_seconds(p.conn, secs);
      if (secs >= 0 && secs < 60 && p.bwe) p.bwe->set_rtt_us(static_cast<int64_t>(secs * 1e6));
    }
    sink.observe_loss_ratio(p.conn, static_cast<double>(b.fraction_lost) / 256.0);
  }
}

}  // namespace sfu
