// Engine: signalling messages (sfu/PROTOCOL.md), offers and answers, publishing and subscribing.
#include "sfu/engine_impl.hpp"

namespace sfu {

void Engine::Impl::send(Participant& p, const json& msg) { sink.send_signal(p.conn, dump_safe(msg)); }

void Engine::Impl::send_error(ConnectionId c, const char* code, const std::string& message, bool fatal, json extra) {
  json m = {{"type", "error"}, {"code", code}, {"message", message}};
  for (auto& [k, v] : extra.items()) m[k] = v;
  sink.send_signal(c, dump_safe(m));
  stats.signalling_errors[signal_error_index(code)].add();
  if (fatal) sink.close_signal(c, code);
}

json Engine::Impl::participant_json(const Participant& p) const {
  json tracks = json::array();
  for (const auto& [_, t] : p.published)
    tracks.push_back({{"id", t->id}, {"kind", t->video ? "video" : "audio"}, {"muted", t->muted}});
  return {{"id", p.id}, {"identity", p.identity}, {"tracks", tracks},
          {"path", p.path == Path::Unknown ? json(nullptr) : json(to_string(p.path))}};
}

void Engine::Impl::broadcast(Room& room, const json& msg, const Participant* except) {
  std::string text = dump_safe(msg);
  for (auto& [_, p] : room.participants)
    if (p.get() != except) sink.send_signal(p->conn, text);
}

void Engine::Impl::on_message(ConnectionId c, std::string_view text, int64_t now_ms, int64_t unix_s) {
  json msg = json::parse(text, nullptr, false);
  if (msg.is_discarded() || !msg.is_object() || !msg.contains("type") || !msg["type"].is_string())
    return send_error(c, "malformed", "messages are JSON objects with a string 'type'", false);
  const std::string type = msg["type"];
  auto it = by_conn.find(c);
  Participant* p = it == by_conn.end() ? nullptr : it->second;
  if (type == "join") {
    if (p) return send_error(c, "malformed", "already joined", false);
    return join(c, msg, now_ms, unix_s);
  }
  if (type == "ping") return sink.send_signal(c, R"({"type":"pong"})");
  if (type == "resume") {  // version 2 (engine_resume.cpp)
    if (p) return send_error(c, "malformed", "already joined", false);
    return resume(c, msg, now_ms);
  }
  if (!p) return send_error(c, "not_joined", "send 'join' with a token first", false);
  if (type == "offer") return offer(*p, msg, now_ms);
  if (type == "mute") return mute(*p, msg);
  if (type == "candidate") return candidate(*p, msg);
  if (type == "subscribe") return subscribe_message(*p, msg, now_ms);
  if (type == "leave") {
    remove(*p, now_ms, "leave");
    return sink.close_signal(c, "leave");
  }
  send_error(c, "malformed", "unknown message type '" + type + "'", false);
}

void Engine::Impl::join(ConnectionId c, const json& msg, int64_t now_ms, int64_t unix_s) {
  if (!msg.contains("token") || !msg["token"].is_string())
    return send_error(c, "malformed", "'join' needs a 'token' string", false);
  JoinClaims claims;
  auto err = verify_join_token(msg["token"].get<std::string>(), cfg.token_keys, unix_s, claims);
  if (err == TokenError::Expired) return refuse_join(c, claims, "expired_token", "the join token has expired");
  if (err != TokenError::None) return refuse_join(c, JoinClaims{}, "bad_token", std::string("join token: ") + to_string(err));
  if (claims.region != cfg.region) {
    // Residency: no media path here; tell the client where the room's region signals.
    json detail = {{"region", claims.region}};
    auto it = cfg.region_signal_urls.find(claims.region);
    if (it != cfg.region_signal_urls.end() && !it->second.empty()) detail["signal_url"] = it->second;
    return refuse_join(c, claims, "wrong_region",
                       "the room is in region '" + claims.region + "', this node serves '" + cfg.region + "'" +
                           (detail.contains("signal_url") ? "; join at " + it->second : ""),
                       detail);
  }
  if (auto drain = cfg.draining ? cfg.draining() : std::nullopt) {
    // This node is draining: the call goes on elsewhere, or the client is told to try later.
    if (drain->empty()) return send_error(c, "draining", "this node is draining and takes no new joins", true);
    return send_error(c, "draining", "this node is draining; join at " + *drain, true, {{"signal_url", *drain}});
  }
  auto& room = rooms[claims.room];
  if (!room) {
    room = std::make_unique<Room>();
    room->name = claims.room;
    stats.rooms.set(rooms.size());
  }
  if (room->participants.size() >= cfg.max_participants_per_room) {
    if (room->participants.empty()) close_room_if_empty(claims.room);
    return refuse_join(c, claims, "room_full", "the room has its maximum of participants");
  }
  auto p = std::make_unique<Participant>();
  p->id = random_id(6);
  p->identity = claims.identity;
  p->conn = c;
  p->room = room.get();
  p->permissions.publish = claims.publish;
  p->permissions.subscribe = claims.subscribe;
  p->lifecycle.joined_ms = now_ms;
  p->local_ssrc = random_u32();
  const uint64_t rate = cfg.max_retransmit_bytes_per_second;
  p->resend_budget = TokenBucket(rate, std::max<uint64_t>(rate / 4, kMaxPacket));  // a quarter second of burst
  p->resend_share = ResendShare(cfg.max_retransmit_percent, std::max<uint64_t>(rate / 4, 65'536));
  json others = json::array();
  for (const auto& [_, o] : room->participants) others.push_back(participant_json(*o));
  Participant& ref = *p;
  by_conn[c] = p.get();
  room->participants.emplace(p->id, std::move(p));
  stats.participants.add();
  json servers = json::parse(cfg.ice_servers ? cfg.ice_servers(ref.identity) : "[]", nullptr, false);
  json joined = {{"type", "joined"}, {"participant", ref.id}, {"room", room->name}, {"identity", ref.identity},
                {"region", cfg.region}, {"ice_servers", servers.is_discarded() ? json::array() : servers},
                {"participants", others}};
  start_session(ref, msg, joined);
  send(ref, joined);
  broadcast(*room, {{"type", "participant_joined"}, {"participant", participant_json(ref)}}, &ref);
  sink.signal_joined(c);
  sink.participant_joined({c, room->name, ref.identity, ref.id, ref.path, ""});
}

void Engine::Impl::refuse_join(ConnectionId c, const JoinClaims& claims, const char* code, const std::string& message,
                               json extra) {
  sink.join_refused({c, claims.room, claims.identity, "", Path::Unknown, code});
  send_error(c, code, message, true, std::move(extra));
}

void Engine::Impl::candidate(Participant& p, const json& msg) {
  const json* c = msg.contains("candidate") ? &msg["candidate"] : nullptr;
  std::string line;
  if (c && c->is_string()) line = c->get<std::string>();
  else if (c && c->is_object() && c->contains("candidate") && (*c)["candidate"].is_string())
    line = (*c)["candidate"].get<std::string>();
  else return send_error(p.conn, "malformed", "'candidate' needs a candidate line", false);
  // RFCs 8838 4 / 8839 5.1: "candidate:<value>", sometimes written as the SDP line "a=candidate:<value>".
  std::string_view value = line;
  if (value.rfind("a=", 0) == 0) value.remove_prefix(2);
  if (value.rfind("candidate:", 0) == 0) value.remove_prefix(10);
  sdp::Error ignored;
  if (auto parsed = sdp::parse_candidate(value, ignored)) note_candidate(p, *parsed);
}

void Engine::Impl::note_candidate(Participant& p, const sdp::Candidate& c) {
  auto ep = endpoint_of(c.address, c.port);
  if (!ep || (c.transport != "udp" && c.transport != "UDP")) return;
  auto remember = [](auto& v, const auto& x) {
    if (std::find(v.begin(), v.end(), x) != v.end()) return false;
    if (v.size() >= 16) v.erase(v.begin());
    v.push_back(x);
    return true;
  };
  if (c.type == "host") {
    remember(p.nat.host_candidates, *ep);
  } else if (c.type == "srflx") {
    std::optional<turn::Endpoint> base;
    if (c.related_address && c.related_port) base = endpoint_of(*c.related_address, *c.related_port);
    if (base && (base->address.is_unspecified() || base->port == 0)) base.reset();  // hidden (mDNS era)
    bool known = false;
    for (const auto& s : p.nat.srflx_candidates) known = known || (s.address == *ep && s.base == base);
    if (!known) {
      if (p.nat.srflx_candidates.size() >= 16) p.nat.srflx_candidates.erase(p.nat.srflx_candidates.begin());
      p.nat.srflx_candidates.push_back({*ep, base});
    }
  } else if (c.type == "relay") {
    if (remember(p.relay_candidates, *ep) && p.addr && *p.addr == *ep) classify(p);
  }
}

std::optional<turn::Endpoint> Engine::Impl::endpoint_of(std::string_view address, uint16_t port) {
  auto ip = turn::IpAddress::parse(address);
  if (!ip || port == 0) return std::nullopt;
  return turn::Endpoint{ip->unmapped(), port};
}

// RFC 8839 5.4 / RFC 8842: the offer's ICE credentials and DTLS fingerprint, an ICE restart when they
// changed. False: an error was sent.
bool Engine::Impl::accept_remote(Participant& p, const sdp::SessionDescription& offer, int64_t now_ms) {
  auto remote_ice = sdp::ice_credentials(offer);
  auto fp = sdp::fingerprint(offer);
  if (!remote_ice || !fp) {
    send_error(p.conn, "bad_sdp", "the offer has no ICE credentials or fingerprint", false);
    return false;
  }
  std::string fp_text = fp->to_string();  // "sha-256 AB:..."
  std::string fp_value = fp_text.substr(fp_text.find(' ') + 1);
  if (!p.ice) {
    p.ice = std::make_unique<IceLite>();
    by_ufrag[p.ice->local().ufrag] = &p;
    p.dtls = std::make_unique<DtlsSrtpTransport>(*dtls_ctx, now_ms);
    if (!p.dtls->set_remote_fingerprint(fp->algorithm, fp_value)) {
      send_error(p.conn, "bad_sdp", "unsupported fingerprint algorithm '" + fp->algorithm + "'", false);
      return false;
    }
  } else if (p.offer && sdp::ice_restart(*p.offer, offer)) {
    by_ufrag.erase(p.ice->local().ufrag);
    p.ice->restart(IceCredentials::generate());
    by_ufrag[p.ice->local().ufrag] = &p;
  }
  if (!p.ice->set_remote(remote_ice->ufrag, remote_ice->pwd)) {
    send_error(p.conn, "bad_sdp", "invalid ICE credentials in the offer", false);
    return false;
  }
  return true;
}

// Payload types are what the answer negotiates (the offer may list a codec twice, e.g. H264 with
// several profiles): read them back from the answer's sections.
void Engine::Impl::adopt_answer(Participant& p, const sdp::SessionDescription& built) {
  for (auto& [mid, t] : p.published) {
    const sdp::MediaSection* s = sdp::find_section(built, mid);
    if (!s || s->codecs.empty()) continue;
    t->codec_name = s->codecs.front().name;
    t->codec = codec_of(t->codec_name);
    t->payload_type = s->codecs.front().payload_type;
    t->clock_rate = s->codecs.front().clock_rate ? s->codecs.front().clock_rate : t->clock_rate;
  }
  for (auto it = p.receiving.begin(); it != p.receiving.end();) {
    const sdp::MediaSection* s = sdp::find_section(built, it->first);
    auto pt = s && s->direction == sdp::Direction::SendOnly ? sdp::payload_type(*s, it->second->track->codec_name)
                                                           : std::nullopt;
    if (!pt) {
      it = p.receiving.erase(it);  // answered inactive after all: nothing goes there
      continue;
    }
    it->second->payload_type = *pt;
    ++it;
  }
}

// An offer (sfu/PROTOCOL.md) in four steps: validate the message and its SDP, take the transports
// (ICE, DTLS, candidates), apply each media section (publish, subscribe, reject), and answer with
// the payload types the answer negotiated.
void Engine::Impl::offer(Participant& p, const json& msg, int64_t now_ms) {
  OfferSubscriptions wanted;
  auto parsed = validate_offer(p, msg, wanted);
  if (!parsed) return;
  sdp::AnswerOptions opts;
  opts.simulcast = cfg.simulcast;
  opts.transport_cc = true;  // feedback to publishers, the send-side estimate for subscribers
  opts.rtx_send = true;      // retransmissions and probing padding to subscribers on an RTX stream
  if (!offer_transports(p, *parsed, opts, now_ms)) return;
  std::vector<Track*> added = apply_sections(p, *parsed, wanted, opts, now_ms);
  answer_offer(p, std::move(*parsed), opts, added, now_ms);
}

// sfu/PROTOCOL.md "offer": the message carries an SDP offer (and optionally which track each recvonly mid
// receives); the SDP parses and is one this SFU can answer (sdp::check_offer).
std::optional<sdp::SessionDescription> Engine::Impl::validate_offer(Participant& p, const json& msg,
                                                                    OfferSubscriptions& wanted) {
  if (!msg.contains("sdp") || !msg["sdp"].is_string()) {
    send_error(p.conn, "malformed", "'offer' needs an 'sdp' string", false);
    return std::nullopt;
  }
  if (msg.contains("subscriptions")) {
    if (!msg["subscriptions"].is_object()) {
      send_error(p.conn, "malformed", "'subscriptions' must map mids to track ids", false);
      return std::nullopt;
    }
    for (auto& [mid, id] : msg["subscriptions"].items()) {
      if (!id.is_string()) {
        send_error(p.conn, "malformed", "'subscriptions' values are track ids", false);
        return std::nullopt;
      }
      wanted[mid] = id.get<std::string>();
    }
  }
  sdp::Error perr;
  auto parsed = sdp::parse(msg["sdp"].get<std::string>(), perr);
  if (!parsed) {
    send_error(p.conn, "bad_sdp", perr.to_string(), false);
    return std::nullopt;
  }
  if (auto bad = sdp::check_offer(*parsed)) {
    send_error(p.conn, "bad_sdp", bad.to_string(), false);
    return std::nullopt;
  }
  return parsed;
}

// The transports: the offer's ICE credentials and fingerprint (accept_remote), ours for the answer,
// and the offer's candidates noted. False: an error was sent.
bool Engine::Impl::offer_transports(Participant& p, const sdp::SessionDescription& offer, sdp::AnswerOptions& opts,
                                    int64_t now_ms) {
  if (!accept_remote(p, offer, now_ms)) return false;
  opts.ice = {p.ice->local().ufrag, p.ice->local().pwd};
  opts.fingerprint.algorithm = std::string(cert.fingerprint_algorithm());
  if (auto v = parse_fingerprint(cert.fingerprint_value())) opts.fingerprint.value = *v;
  opts.addresses = cfg.candidates;
  opts.session_id = session_id;
  opts.session_version = ++p.answer_version;
  for (const auto& m : offer.media)
    for (const auto& c : m.candidates) note_candidate(p, c);
  return true;
}

// Every section of the offer, then the mids it no longer has: their tracks are unpublished.
// Returns the tracks this offer started publishing.
std::vector<Track*> Engine::Impl::apply_sections(Participant& p, const sdp::SessionDescription& offer,
                                                 const OfferSubscriptions& wanted, sdp::AnswerOptions& opts,
                                                 int64_t now_ms) {
  std::vector<Track*> added;
  std::vector<std::string> removed;
  std::set<std::string> seen_mids;
  for (const auto& m : offer.media) {
    seen_mids.insert(m.mid);
    apply_section(p, m, wanted, opts, added, removed, now_ms);
  }
  // Mids no longer in the offer at all.
  for (auto it = p.published.begin(); it != p.published.end();) {
    if (!seen_mids.count(it->first)) {
      std::string mid = it->first;
      ++it;
      unpublish(p, mid, removed);
    } else {
      ++it;
    }
  }
  return added;
}

// RFC 8829 5.3.1 / RFC 3264 6.1: a section's direction says what the participant sends (it
// publishes) and receives (it subscribes); a rejected or inactive direction ends what it did.
void Engine::Impl::apply_section(Participant& p, const sdp::MediaSection& m, const OfferSubscriptions& wanted,
                                 sdp::AnswerOptions& opts, std::vector<Track*>& added,
                                 std::vector<std::string>& removed, int64_t now_ms) {
  if (m.kind != sdp::MediaKind::Audio && m.kind != sdp::MediaKind::Video) {
    opts.reject.push_back(m.mid);
    return;
  }
  bool sending = m.direction == sdp::Direction::SendOnly || m.direction == sdp::Direction::SendRecv;
  bool receiving = m.direction == sdp::Direction::RecvOnly || m.direction == sdp::Direction::SendRecv;
  if (m.rejected() || !sending) unpublish(p, m.mid, removed);
  if (m.rejected() || !receiving) p.receiving.erase(m.mid);
  if (m.rejected()) return;
  if (sending && !publish_section(p, m, opts, added, removed)) return;
  if (receiving) {
    auto w = wanted.find(m.mid);
    if (w != wanted.end() && p.permissions.subscribe) subscribe(p, m, w->second, opts, now_ms);
    else p.receiving.erase(m.mid);
  }
}

// A section the participant sends on: allowed by its token, its SSRC not another's, a codec we
// forward. False: the section is rejected (and the participant told why where it can act on it).
bool Engine::Impl::publish_section(Participant& p, const sdp::MediaSection& m, sdp::AnswerOptions& opts,
                                   std::vector<Track*>& added, std::vector<std::string>& removed) {
  if (!p.permissions.publish) {
    opts.reject.push_back(m.mid);
    send_error(p.conn, "forbidden", "this token does not allow publishing", false);
    return false;
  }
  if (uint32_t ssrc = primary_ssrc(m); ssrc && ssrc_taken(p, m.mid, ssrc)) {
    opts.reject.push_back(m.mid);
    unpublish(p, m.mid, removed);
    stats.ssrc_conflicts.add();
    send_error(p.conn, "bad_sdp",
               "mid " + m.mid + ": SSRC " + std::to_string(ssrc) + " is already used in this room", false);
    return false;
  }
  bool created = false;
  Track* t = publish(p, m, opts, created);
  if (!t) {
    opts.reject.push_back(m.mid);
    return false;
  }
  if (created) added.push_back(t);
  return true;
}

// The answer, and the payload types it negotiated adopted (adopt_answer); the room learns of the
// tracks this offer added.
void Engine::Impl::answer_offer(Participant& p, sdp::SessionDescription offer, const sdp::AnswerOptions& opts,
                                const std::vector<Track*>& added, int64_t now_ms) {
  sdp::SessionDescription built = sdp::build_answer(offer, opts);
  adopt_answer(p, built);
  ++p.room->generation;
  std::string answer = sdp::to_string(built);
  p.offer = std::move(offer);
  p.lifecycle.answered_ms = p.lifecycle.answered_ms ? p.lifecycle.answered_ms : now_ms;
  send(p, {{"type", "answer"}, {"sdp", answer}});
  for (Track* t : added)
    broadcast(*p.room, {{"type", "track_published"}, {"participant", p.id},
                        {"track", {{"id", t->id}, {"kind", t->video ? "video" : "audio"}}}}, &p);
  count_tracks();
}

Track* Engine::Impl::publish(Participant& p, const sdp::MediaSection& m, sdp::AnswerOptions& opts, bool& created) {
  // A simulcast section names its layers by rid (no a=ssrc); any other needs its SSRC to demultiplex.
  auto rids = simulcast_rids(m, opts.simulcast);
  uint32_t ssrc = rids.empty() ? primary_ssrc(m) : 0;
  if (rids.empty() && ssrc == 0) return nullptr;
  const auto& prefs = m.kind == sdp::MediaKind::Audio ? opts.audio_codecs : opts.video_codecs;
  const sdp::Codec* chosen = nullptr;
  for (const auto& name : prefs) {
    if (auto pt = sdp::payload_type(m, name)) { chosen = m.find_codec(*pt); break; }
  }
  if (!chosen) return nullptr;
  if (auto old = p.published.find(m.mid); old != p.published.end()) {
    const Track& o = *old->second;
    bool same = rids.empty() ? !o.simulcast && o.ssrc == ssrc
                             : o.simulcast && o.layers.size() == rids.size() &&
                                   std::equal(rids.begin(), rids.end(), o.layers.begin(),
                                              [](const std::string& r, const auto& l) { return l->rid == r; });
    std::vector<std::string> removed;  // the same mid with a new source: a new track
    if (!same) unpublish(p, m.mid, removed);
  }
  auto& slot = p.published[m.mid];
  if (!slot) {
    if (p.published.size() > kMaxTracksPerParticipant) {
      p.published.erase(m.mid);
      return nullptr;
    }
    slot = std::make_unique<Track>();
    slot->id = p.id + "-" + m.mid;
    slot->owner = &p;
    slot->mid = m.mid;
    slot->video = m.kind == sdp::MediaKind::Video;
    make_layers(*slot, ssrc, rids);
    created = true;
  }
  Track& t = *slot;
  t.codec_name = chosen->name;
  t.codec = codec_of(chosen->name);
  t.payload_type = chosen->payload_type;
  t.clock_rate = chosen->clock_rate ? chosen->clock_rate : 90000;
  if (created)
    for (auto& l : t.layers) l->stats = RtpReceiveStats(t.clock_rate);
  t.extmap.clear();
  for (const auto& e : m.extmaps) t.extmap[e.uri] = e.id;
  t.mid_ext_id = sdp::extmap_id(m, sdp::ext::kMid).value_or(0);
  t.rid_ext_id = sdp::extmap_id(m, sdp::ext::kRid).value_or(0);
  t.twcc_ext_id = sdp::extmap_id(m, sdp::ext::kTransportCc).value_or(0);
  t.audio_level_ext_id = sdp::extmap_id(m, sdp::ext::kAudioLevel).value_or(0);
  return &t;
}

uint32_t Engine::Impl::primary_ssrc(const sdp::MediaSection& m) {
  for (const auto& s : m.ssrcs) {
    bool rtx = false;
    for (const auto& g : m.ssrc_groups)
      if (g.semantics == "FID" && g.ssrcs.size() == 2 && g.ssrcs[1] == s.ssrc) rtx = true;
    if (!rtx) return s.ssrc;
  }
  return 0;
}

// Forwarded packets keep the publisher's SSRC, and a participant's SSRC table is its own: a track
// announcing an SSRC already published in the room (by anyone else, or on another of its mids)
// would collide at every subscriber, so it is refused.
bool Engine::Impl::ssrc_taken(const Participant& p, const std::string& mid, uint32_t ssrc) const {
  for (const auto& [_, other] : p.room->participants)
    for (const auto& [other_mid, t] : other->published)
      if (t->ssrc == ssrc && (other.get() != &p || other_mid != mid)) return true;
  return false;
}

void Engine::Impl::unpublish(Participant& p, const std::string& mid, std::vector<std::string>& removed) {
  auto it = p.published.find(mid);
  if (it == p.published.end()) return;
  Track* t = it->second.get();
  drop_subscriptions_to(t);
  for (auto& l : t->layers)
    if (auto s = p.ssrcs.find(l->ssrc); l->ssrc && s != p.ssrcs.end() && s->second == l.get()) p.ssrcs.erase(s);
  removed.push_back(t->id);
  broadcast(*p.room, {{"type", "track_unpublished"}, {"participant", p.id}, {"track", t->id}}, &p);
  p.published.erase(it);
}

void Engine::Impl::drop_subscriptions_to(Track* t) {
  ++t->owner->room->generation;
  for (auto& [_, other] : t->owner->room->participants)
    for (auto it = other->receiving.begin(); it != other->receiving.end();)
      it = it->second->track == t ? other->receiving.erase(it) : std::next(it);
}

Track* Engine::Impl::find_track(Room& room, const std::string& id) {
  for (auto& [_, p] : room.participants)
    for (auto& [__, t] : p->published)
      if (t->id == id) return t.get();
  return nullptr;
}

void Engine::Impl::subscribe(Participant& p, const sdp::MediaSection& m, const std::string& track_id, sdp::AnswerOptions& opts,
    int64_t now_ms) {
  Track* t = find_track(*p.room, track_id);
  bool kind_ok = t && (t->video == (m.kind == sdp::MediaKind::Video));
  auto pt = t ? sdp::payload_type(m, t->codec_name) : std::nullopt;
  if (!t || !kind_ok || !pt || t->owner == &p) {
    p.receiving.erase(m.mid);
    return;  // answered inactive: nothing to send there
  }
  // A track already sent on another of this subscriber's mids stays there: browsers refuse an
  // answer that moves an announced SSRC to a new mid (and one SSRC in two sections).
  for (const auto& [mid, other] : p.receiving)
    if (other->track == t && mid != m.mid) {
      p.receiving.erase(m.mid);
      return;
    }
  auto& sub = p.receiving[m.mid];
  bool fresh = !sub || sub->track != t;
  if (fresh) sub = std::make_unique<Subscription>();
  sub->subscriber = &p;
  sub->track = t;
  sub->mid = m.mid;
  sub->mid_value = m.mid;
  sub->payload_type = *pt;
  sub->extensions = ExtensionIdMap{};
  for (const auto& e : m.extmaps) {
    auto pub = t->extmap.find(e.uri);
    if (pub == t->extmap.end()) continue;
    // Only what the answers keep: mid, abs-send-time and transport-cc (whose value we replace
    // with our own sequence number: stamp_sent).
    if (e.uri == sdp::ext::kMid || e.uri == sdp::ext::kAbsSendTime || e.uri == sdp::ext::kTransportCc ||
        e.uri == sdp::ext::kAudioLevel)
      sub->extensions.set(pub->second, e.id);
  }
  sub->twcc_ext_id = sdp::extmap_id(m, sdp::ext::kTransportCc).value_or(0);
  auto rtx_pt = t->rtx_ssrc ? sdp::rtx_payload_type(m, *pt) : std::nullopt;
  if (fresh) sub->rtx = RtxStream{t->rtx_ssrc, 0, static_cast<uint16_t>(random_u32())};
  sub->rtx.payload_type = rtx_pt.value_or(0);
  sub->mid_ext_id = sdp::extmap_id(m, sdp::ext::kMid).value_or(0);
  if (fresh) sub->forwarder.set_target(0);  // the lowest layer first; choose_layers() decides from then on
  sdp::SendTrack st;
  st.ssrc = t->ssrc;
  st.rtx_ssrc = t->rtx_ssrc;
  st.cname = "turnpike-" + t->owner->id;
  st.stream_id = t->owner->id;
  st.track_id = t->id;
  opts.send[m.mid] = st;
  if (fresh) want_keyframe_for(*sub, now_ms);
}

}  // namespace sfu
