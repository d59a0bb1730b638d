#include "sfu/engine.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <set>

#include "sfu/dtls_srtp.hpp"
#include "sfu/ice_lite.hpp"
#include "sfu/nack_buffer.hpp"
#include "sfu/nat_inference.hpp"
#include "sfu/rtcp.hpp"
#include "sfu/rtp.hpp"
#include "sfu/rtp_stats.hpp"
#include "sfu/sdp.hpp"
#include "sfu/srtp.hpp"
#include "sfu/token.hpp"
#include "turn/crypto.hpp"
#include "turn/message.hpp"

namespace sfu {

using nlohmann::json;

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

namespace {

constexpr size_t kMaxPacket = 1500 + 64;
constexpr int64_t kPliIntervalMs = 500;       // a keyframe request is repeated until one arrives
constexpr int64_t kPliGiveUpMs = 10'000;
constexpr int64_t kReportIntervalMs = 1000;   // RR to publishers, SR to subscribers (RFC 3550 6.2)
constexpr int64_t kForwardedPliMinMs = 300;   // subscribers' PLI/FIR forwarded at most this often
constexpr size_t kMaxTracksPerParticipant = 8;
constexpr size_t kMaxNackPerFeedback = 64;

// RFC 3550 4: the NTP timestamp of a monotonic instant, anchored to the wall clock once.
uint64_t ntp_of(int64_t now_ms, int64_t anchor_mono_ms, int64_t anchor_unix_ms) {
  int64_t unix_ms = anchor_unix_ms + (now_ms - anchor_mono_ms);
  uint64_t secs = static_cast<uint64_t>(unix_ms / 1000) + 2'208'988'800ULL;
  uint64_t frac = (static_cast<uint64_t>(unix_ms % 1000) << 32) / 1000;
  return secs << 32 | frac;
}

std::string random_id(size_t bytes) {
  std::vector<uint8_t> raw(bytes);
  turn::crypto::random_bytes(raw);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (uint8_t b : raw) {
    s += hex[b >> 4];
    s += hex[b & 15];
  }
  return s;
}

uint32_t random_u32() {
  uint32_t v = 0;
  turn::crypto::random_bytes({reinterpret_cast<uint8_t*>(&v), sizeof v});
  return v ? v : 1;
}

MediaCodec codec_of(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), ::tolower);
  if (n == "opus") return MediaCodec::Opus;
  if (n == "vp8") return MediaCodec::Vp8;
  if (n == "h264") return MediaCodec::H264;
  return MediaCodec::Other;
}

}  // namespace

struct Participant;
struct Subscription;

struct Track {
  std::string id;
  Participant* owner = nullptr;
  bool video = false;
  std::string mid;                 // the publisher's mid
  uint32_t ssrc = 0;
  std::string codec_name;
  MediaCodec codec = MediaCodec::Other;
  uint8_t payload_type = 0;        // as the publisher sends it
  uint32_t clock_rate = 90000;
  std::map<std::string, uint8_t> extmap;  // uri -> the publisher's id
  uint8_t mid_ext_id = 0;
  NackBuffer nack{512, kMaxPacket};
  RtpReceiveStats stats{90000};
  int64_t keyframe_wanted_since = 0;  // 0: none wanted
  int64_t last_pli_ms = 0;
  int64_t last_rr_ms = 0;
  // The publisher's last SR: maps its RTP clock to wall time for our own SRs to subscribers.
  bool have_sr = false;
  uint32_t sr_rtp = 0;
  int64_t sr_arrival_ms = 0;
  uint64_t packets = 0;
  // Who receives this track: rebuilt from the room's subscriptions when they change
  // (Room::generation), so the per-packet path walks only its own subscribers.
  std::vector<std::pair<Participant*, Subscription*>> fanout;
  uint64_t fanout_generation = 0;
};

struct Subscription {
  Participant* subscriber = nullptr;
  Track* track = nullptr;
  std::string mid;                 // the subscriber's mid
  uint8_t payload_type = 0;        // the subscriber's payload type for the track's codec
  ExtensionIdMap extensions;
  uint8_t mid_ext_id = 0;
  std::string mid_value;
  uint32_t packets = 0, octets = 0;
  int64_t last_sr_ms = 0;
  int64_t last_forwarded_pli_ms = 0;
};

struct Room;

struct Participant {
  std::string id, identity;
  ConnectionId conn = 0;
  Room* room = nullptr;
  bool can_publish = true, can_subscribe = true;
  int64_t joined_ms = 0;
  bool first_media_seen = false;
  // Media session: created by the first offer.
  std::unique_ptr<IceLite> ice;
  std::unique_ptr<DtlsSrtpTransport> dtls;
  SrtpSessionPair srtp;
  bool srtp_ready = false;
  bool dtls_failed_counted = false, ice_failure_counted = false;
  std::optional<turn::Endpoint> addr;  // the selected (nominated) address
  Path path = Path::Unknown;
  bool session_counted = false;        // counted in EngineStats::sessions[path]
  int64_t answered_ms = 0;
  uint32_t local_ssrc = 0;             // sender SSRC of our RTCP to this participant
  std::optional<sdp::SessionDescription> offer;
  uint64_t answer_version = 0;
  std::map<std::string, std::unique_ptr<Track>> published;        // by the participant's mid
  std::map<std::string, std::unique_ptr<Subscription>> receiving;  // by the participant's mid
  std::vector<turn::Endpoint> addresses;                           // learned from valid checks
  std::vector<turn::Endpoint> relay_candidates;  // the client's own relay candidates (any TURN server)
  std::vector<turn::Endpoint> host_candidates;   // literal (not mDNS) host candidates
  std::vector<ReflexiveCandidate> srflx_candidates;
  int64_t connected_ms = 0;
  bool nat_inferred = false;
  // Data residency: addresses whose checks go unanswered (bounded), the first refusal (what the
  // participant is told if no admitted path is nominated in time), and the region its media session
  // is counted under while connected.
  std::vector<turn::Endpoint> refused;
  std::optional<EngineConfig::Admission> foreign;
  int64_t foreign_since_ms = 0;
  std::optional<EngineConfig::Admission> counted_region;
};

struct Room {
  std::string name;
  std::map<std::string, std::unique_ptr<Participant>> participants;
  uint64_t generation = 1;  // bumped whenever any participant's subscriptions may have changed
};

struct Engine::Impl {
  EngineConfig cfg;
  EngineSink& sink;
  EngineStats stats;
  Certificate cert;
  std::unique_ptr<DtlsSrtpContext> dtls_ctx;
  std::map<std::string, std::unique_ptr<Room>> rooms;
  std::unordered_map<ConnectionId, Participant*> by_conn;
  std::unordered_map<std::string, Participant*> by_ufrag;
  std::unordered_map<turn::Endpoint, Participant*> by_addr;
  std::unordered_map<uint32_t, Track*> by_ssrc;
  std::array<uint8_t, kMaxPacket + 64> out{};
  std::array<uint8_t, IceLite::kResponseBufferSize> stun_out{};
  int64_t anchor_mono_ms = 0, anchor_unix_ms = 0;
  uint64_t session_id = 0;

  Impl(EngineConfig c, EngineSink& s) : cfg(std::move(c)), sink(s), cert(Certificate::generate(cfg.start_unix_s)) {
    dtls_ctx = std::make_unique<DtlsSrtpContext>(cert);
    srtp_library_init();
    session_id = random_u32();
  }

  // ------------------------------------------------------------------------------ signalling
  void send(Participant& p, const json& msg) { sink.send_signal(p.conn, msg.dump()); }
  void send_error(ConnectionId c, const char* code, const std::string& message, bool fatal, json extra = {}) {
    json m = {{"type", "error"}, {"code", code}, {"message", message}};
    for (auto& [k, v] : extra.items()) m[k] = v;
    sink.send_signal(c, m.dump());
    stats.signalling_errors.add();
    if (fatal) sink.close_signal(c, code);
  }

  json participant_json(const Participant& p) const {
    json tracks = json::array();
    for (const auto& [_, t] : p.published) tracks.push_back({{"id", t->id}, {"kind", t->video ? "video" : "audio"}});
    return {{"id", p.id}, {"identity", p.identity}, {"tracks", tracks},
            {"path", p.path == Path::Unknown ? json(nullptr) : json(to_string(p.path))}};
  }

  void broadcast(Room& room, const json& msg, const Participant* except) {
    std::string text = msg.dump();
    for (auto& [_, p] : room.participants)
      if (p.get() != except) sink.send_signal(p->conn, text);
  }

  void on_message(ConnectionId c, std::string_view text, int64_t now_ms, int64_t unix_s) {
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
    if (!p) return send_error(c, "not_joined", "send 'join' with a token first", false);
    if (type == "offer") return offer(*p, msg, now_ms);
    if (type == "candidate") return candidate(*p, msg);
    if (type == "leave") {
      remove(*p, now_ms);
      return sink.close_signal(c, "leave");
    }
    send_error(c, "malformed", "unknown message type '" + type + "'", false);
  }

  void join(ConnectionId c, const json& msg, int64_t now_ms, int64_t unix_s) {
    if (!msg.contains("token") || !msg["token"].is_string())
      return send_error(c, "malformed", "'join' needs a 'token' string", false);
    JoinClaims claims;
    auto err = verify_join_token(msg["token"].get<std::string>(), cfg.token_keys, unix_s, claims);
    if (err == TokenError::Expired) return send_error(c, "expired_token", "the join token has expired", true);
    if (err != TokenError::None) return send_error(c, "bad_token", std::string("join token: ") + to_string(err), true);
    if (claims.region != cfg.region) {
      // Residency: no media path here; tell the client where the room's region signals.
      json detail = {{"region", claims.region}};
      auto it = cfg.region_signal_urls.find(claims.region);
      if (it != cfg.region_signal_urls.end() && !it->second.empty()) detail["signal_url"] = it->second;
      return send_error(c, "wrong_region", "the room is in region '" + claims.region + "', this node serves '" +
                                               cfg.region + "'" + (detail.contains("signal_url") ? "; join at " + it->second : ""),
                        true, detail);
    }
    auto& room = rooms[claims.room];
    if (!room) {
      room = std::make_unique<Room>();
      room->name = claims.room;
      stats.rooms.set(rooms.size());
    }
    if (room->participants.size() >= cfg.max_participants_per_room) {
      if (room->participants.empty()) close_room_if_empty(claims.room);
      return send_error(c, "room_full", "the room has its maximum of participants", true);
    }
    auto p = std::make_unique<Participant>();
    p->id = random_id(6);
    p->identity = claims.identity;
    p->conn = c;
    p->room = room.get();
    p->can_publish = claims.publish;
    p->can_subscribe = claims.subscribe;
    p->joined_ms = now_ms;
    p->local_ssrc = random_u32();
    json others = json::array();
    for (const auto& [_, o] : room->participants) others.push_back(participant_json(*o));
    Participant& ref = *p;
    by_conn[c] = p.get();
    room->participants.emplace(p->id, std::move(p));
    stats.participants.add();
    json servers = json::parse(cfg.ice_servers ? cfg.ice_servers(ref.identity) : "[]", nullptr, false);
    send(ref, {{"type", "joined"}, {"participant", ref.id}, {"room", room->name}, {"identity", ref.identity},
               {"region", cfg.region}, {"ice_servers", servers.is_discarded() ? json::array() : servers},
               {"participants", others}});
    broadcast(*room, {{"type", "participant_joined"}, {"participant", participant_json(ref)}}, &ref);
  }

  // Trickled candidates are not needed for connectivity (ICE-lite), but a relay candidate tells
  // media arriving from that address apart as relayed by a TURN server other than ours.
  void candidate(Participant& p, const json& msg) {
    const json* c = msg.contains("candidate") ? &msg["candidate"] : nullptr;
    std::string line;
    if (c && c->is_string()) line = c->get<std::string>();
    else if (c && c->is_object() && c->contains("candidate") && (*c)["candidate"].is_string())
      line = (*c)["candidate"].get<std::string>();
    else return send_error(p.conn, "malformed", "'candidate' needs a candidate line", false);
    note_candidate(p, line);
  }

  // RFC 8839 5.1: "candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type>
  // [raddr <address> rport <port>] ...": relay candidates tell other TURN servers' relays apart; host
  // and srflx candidates are evidence for the passive NAT inference.
  void note_candidate(Participant& p, std::string_view line) {
    if (line.rfind("a=", 0) == 0) line.remove_prefix(2);
    if (line.rfind("candidate:", 0) == 0) line.remove_prefix(10);
    std::vector<std::string_view> f;
    while (!line.empty() && f.size() < 12) {
      auto sp = line.find(' ');
      f.push_back(line.substr(0, sp));
      line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
    }
    if (f.size() < 8 || f[6] != "typ") return;
    auto ep = endpoint_of(f[4], f[5]);
    if (!ep || (f[2] != "udp" && f[2] != "UDP")) return;
    auto remember = [](auto& v, const auto& x) {
      if (std::find(v.begin(), v.end(), x) != v.end()) return false;
      if (v.size() >= 16) v.erase(v.begin());
      v.push_back(x);
      return true;
    };
    if (f[7] == "host") {
      remember(p.host_candidates, *ep);
    } else if (f[7] == "srflx") {
      std::optional<turn::Endpoint> base;
      if (f.size() >= 12 && f[8] == "raddr" && f[10] == "rport") base = endpoint_of(f[9], f[11]);
      if (base && (base->address.is_unspecified() || base->port == 0)) base.reset();  // hidden (mDNS era)
      bool known = false;
      for (const auto& c : p.srflx_candidates) known = known || (c.address == *ep && c.base == base);
      if (!known) {
        if (p.srflx_candidates.size() >= 16) p.srflx_candidates.erase(p.srflx_candidates.begin());
        p.srflx_candidates.push_back({*ep, base});
      }
    } else if (f[7] == "relay") {
      if (remember(p.relay_candidates, *ep) && p.addr && *p.addr == *ep) classify(p);
    }
  }

  static std::optional<turn::Endpoint> endpoint_of(std::string_view address, std::string_view port_text) {
    auto ip = turn::IpAddress::parse(address);
    int port = 0;
    for (char ch : port_text) port = ch >= '0' && ch <= '9' && port < 65536 ? port * 10 + (ch - '0') : 70000;
    if (!ip || port <= 0 || port > 65535) return std::nullopt;
    return turn::Endpoint{ip->unmapped(), static_cast<uint16_t>(port)};
  }

  // Once per session, a while after media starts: the participant's NAT mapping behaviour.
  void infer_nat(Participant& p, int64_t now_ms) {
    if (p.nat_inferred || !p.connected_ms || now_ms - p.connected_ms < cfg.nat_inference_delay_ms || !p.addr) return;
    p.nat_inferred = true;
    NatEvidence e;
    e.stun_servers = cfg.stun_servers;
    e.hosts = p.host_candidates;
    e.srflx = p.srflx_candidates;
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

  void close_room_if_empty(const std::string& name) {
    auto it = rooms.find(name);
    if (it != rooms.end() && it->second->participants.empty()) rooms.erase(it);
    stats.rooms.set(rooms.size());
  }

  // ------------------------------------------------------------------------------ offers
  void offer(Participant& p, const json& msg, int64_t now_ms) {
    if (!msg.contains("sdp") || !msg["sdp"].is_string())
      return send_error(p.conn, "malformed", "'offer' needs an 'sdp' string", false);
    std::map<std::string, std::string> wanted;  // mid -> track id
    if (msg.contains("subscriptions")) {
      if (!msg["subscriptions"].is_object())
        return send_error(p.conn, "malformed", "'subscriptions' must map mids to track ids", false);
      for (auto& [mid, id] : msg["subscriptions"].items()) {
        if (!id.is_string()) return send_error(p.conn, "malformed", "'subscriptions' values are track ids", false);
        wanted[mid] = id.get<std::string>();
      }
    }
    sdp::Error perr;
    auto parsed = sdp::parse(msg["sdp"].get<std::string>(), perr);
    if (!parsed) return send_error(p.conn, "bad_sdp", perr.to_string(), false);
    if (auto bad = sdp::check_offer(*parsed)) return send_error(p.conn, "bad_sdp", bad.to_string(), false);
    auto remote_ice = sdp::ice_credentials(*parsed);
    auto fp = sdp::fingerprint(*parsed);
    if (!remote_ice || !fp) return send_error(p.conn, "bad_sdp", "the offer has no ICE credentials or fingerprint", false);
    std::string fp_text = fp->to_string();  // "sha-256 AB:..."
    std::string fp_value = fp_text.substr(fp_text.find(' ') + 1);
    if (!p.ice) {
      p.ice = std::make_unique<IceLite>();
      by_ufrag[p.ice->local().ufrag] = &p;
      p.dtls = std::make_unique<DtlsSrtpTransport>(*dtls_ctx, now_ms);
      if (!p.dtls->set_remote_fingerprint(fp->algorithm, fp_value))
        return send_error(p.conn, "bad_sdp", "unsupported fingerprint algorithm '" + fp->algorithm + "'", false);
    } else if (p.offer && sdp::ice_restart(*p.offer, *parsed)) {
      by_ufrag.erase(p.ice->local().ufrag);
      p.ice->restart(IceCredentials::generate());
      by_ufrag[p.ice->local().ufrag] = &p;
    }
    if (!p.ice->set_remote(remote_ice->ufrag, remote_ice->pwd))
      return send_error(p.conn, "bad_sdp", "invalid ICE credentials in the offer", false);

    sdp::AnswerOptions opts;
    opts.ice = {p.ice->local().ufrag, p.ice->local().pwd};
    opts.fingerprint.algorithm = std::string(cert.fingerprint_algorithm());
    if (auto v = parse_fingerprint(cert.fingerprint_value())) opts.fingerprint.value = *v;
    opts.addresses = cfg.candidates;
    opts.session_id = session_id;
    opts.session_version = ++p.answer_version;
    std::vector<Track*> added;
    std::vector<std::string> removed;
    std::set<std::string> seen_mids;
    for (const auto& m : parsed->media)
      for (const auto& c : m.candidates)
        note_candidate(p, "candidate:" + c.foundation + " " + std::to_string(c.component) + " " + c.transport + " " +
                              std::to_string(c.priority) + " " + c.address + " " + std::to_string(c.port) + " typ " +
                              c.type + (c.related_address && c.related_port ? " raddr " + *c.related_address +
                                                                                   " rport " + std::to_string(*c.related_port)
                                                                             : std::string()));
    for (const auto& m : parsed->media) {
      seen_mids.insert(m.mid);
      if (m.kind != sdp::MediaKind::Audio && m.kind != sdp::MediaKind::Video) {
        opts.reject.push_back(m.mid);
        continue;
      }
      bool sending = m.direction == sdp::Direction::SendOnly || m.direction == sdp::Direction::SendRecv;
      if (m.rejected() || !sending) unpublish(p, m.mid, removed);
      if (m.rejected() || (m.direction != sdp::Direction::RecvOnly && m.direction != sdp::Direction::SendRecv)) {
        p.receiving.erase(m.mid);
      }
      if (m.rejected()) continue;
      if (sending) {
        if (!p.can_publish) {
          opts.reject.push_back(m.mid);
          send_error(p.conn, "forbidden", "this token does not allow publishing", false);
          continue;
        }
        bool created = false;
        Track* t = publish(p, m, opts, created);
        if (!t) {
          opts.reject.push_back(m.mid);
          continue;
        }
        if (created) added.push_back(t);
      }
      if (m.direction == sdp::Direction::RecvOnly || m.direction == sdp::Direction::SendRecv) {
        auto w = wanted.find(m.mid);
        if (w != wanted.end() && p.can_subscribe) subscribe(p, m, w->second, opts, now_ms);
        else p.receiving.erase(m.mid);
      }
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
    // Payload types are what the answer negotiates (the offer may list a codec twice, e.g. H264
    // with several profiles): read them back from the answer's sections.
    sdp::SessionDescription built = sdp::build_answer(*parsed, opts);
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
    ++p.room->generation;
    std::string answer = sdp::to_string(built);
    p.offer = std::move(*parsed);
    p.answered_ms = p.answered_ms ? p.answered_ms : now_ms;
    send(p, {{"type", "answer"}, {"sdp", answer}});
    for (Track* t : added)
      broadcast(*p.room, {{"type", "track_published"}, {"participant", p.id},
                          {"track", {{"id", t->id}, {"kind", t->video ? "video" : "audio"}}}}, &p);
    count_tracks();
  }

  // A sendonly section: the participant publishes (or keeps publishing) a track on that mid.
  Track* publish(Participant& p, const sdp::MediaSection& m, sdp::AnswerOptions& opts, bool& created) {
    // The primary SSRC: the first one not the second of a FID (RTX) group.
    uint32_t ssrc = 0;
    for (const auto& s : m.ssrcs) {
      bool rtx = false;
      for (const auto& g : m.ssrc_groups)
        if (g.semantics == "FID" && g.ssrcs.size() == 2 && g.ssrcs[1] == s.ssrc) rtx = true;
      if (!rtx) { ssrc = s.ssrc; break; }
    }
    if (ssrc == 0) return nullptr;  // without a=ssrc we could not demultiplex: Chromium always sends it
    const auto& prefs = m.kind == sdp::MediaKind::Audio ? opts.audio_codecs : opts.video_codecs;
    const sdp::Codec* chosen = nullptr;
    for (const auto& name : prefs) {
      if (auto pt = sdp::payload_type(m, name)) { chosen = m.find_codec(*pt); break; }
    }
    if (!chosen) return nullptr;
    if (auto old = p.published.find(m.mid); old != p.published.end() && old->second->ssrc != ssrc) {
      std::vector<std::string> removed;  // the same mid with a new source: a new track
      unpublish(p, m.mid, removed);
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
      slot->ssrc = ssrc;
      slot->video = m.kind == sdp::MediaKind::Video;
      by_ssrc[ssrc] = slot.get();
      created = true;
    }
    Track& t = *slot;
    t.codec_name = chosen->name;
    t.codec = codec_of(chosen->name);
    t.payload_type = chosen->payload_type;
    t.clock_rate = chosen->clock_rate ? chosen->clock_rate : 90000;
    if (created) t.stats = RtpReceiveStats(t.clock_rate);
    t.extmap.clear();
    for (const auto& e : m.extmaps) t.extmap[e.uri] = e.id;
    t.mid_ext_id = sdp::extmap_id(m, sdp::ext::kMid).value_or(0);
    return &t;
  }

  void unpublish(Participant& p, const std::string& mid, std::vector<std::string>& removed) {
    auto it = p.published.find(mid);
    if (it == p.published.end()) return;
    Track* t = it->second.get();
    drop_subscriptions_to(t);
    by_ssrc.erase(t->ssrc);
    removed.push_back(t->id);
    broadcast(*p.room, {{"type", "track_unpublished"}, {"participant", p.id}, {"track", t->id}}, &p);
    p.published.erase(it);
  }

  void drop_subscriptions_to(Track* t) {
    ++t->owner->room->generation;
    for (auto& [_, other] : t->owner->room->participants)
      for (auto it = other->receiving.begin(); it != other->receiving.end();)
        it = it->second->track == t ? other->receiving.erase(it) : std::next(it);
  }

  Track* find_track(Room& room, const std::string& id) {
    for (auto& [_, p] : room.participants)
      for (auto& [__, t] : p->published)
        if (t->id == id) return t.get();
    return nullptr;
  }

  // A recvonly section for a remote track: the SFU sends the track there.
  void subscribe(Participant& p, const sdp::MediaSection& m, const std::string& track_id, sdp::AnswerOptions& opts,
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
      // Only what the answers keep: mid and abs-send-time (transport-cc is not negotiated).
      if (e.uri == sdp::ext::kMid || e.uri == sdp::ext::kAbsSendTime) sub->extensions.set(pub->second, e.id);
    }
    sub->mid_ext_id = sdp::extmap_id(m, sdp::ext::kMid).value_or(0);
    sdp::SendTrack st;
    st.ssrc = t->ssrc;
    st.cname = "turnpike-" + t->owner->id;
    st.stream_id = t->owner->id;
    st.track_id = t->id;
    opts.send[m.mid] = st;
    if (fresh && t->video) want_keyframe(*t, now_ms);
  }

  void want_keyframe(Track& t, int64_t now_ms) {
    if (t.keyframe_wanted_since <= 0) t.keyframe_wanted_since = now_ms;
    send_pli(t, now_ms);
  }

  void send_pli(Track& t, int64_t now_ms) {
    Participant& pub = *t.owner;
    if (!pub.srtp_ready || !pub.addr) return;
    size_t n = build_pli(out, pub.local_ssrc, t.ssrc);
    send_rtcp(pub, n);
    t.last_pli_ms = now_ms;
    stats.pli.add();
  }

  // ------------------------------------------------------------------------------ media
  void send_rtcp(Participant& p, size_t n) {
    if (n == 0 || !p.srtp_ready || !p.addr) return;
    size_t len = n;
    if (p.srtp.outbound.protect_rtcp(out, len) != SrtpError::None) return;
    sink.send_media(*p.addr, {out.data(), len});
  }

  Participant* participant_for(const turn::Endpoint& from) {
    auto it = by_addr.find(from);
    return it == by_addr.end() ? nullptr : it->second;
  }

  void media(std::span<uint8_t> d, const turn::Endpoint& from, int64_t now_ms) {
    if (d.empty()) return;
    uint8_t b = d[0];
    if (b < 4) return stun(d, from, now_ms);                     // RFC 7983: STUN
    if (b >= 20 && b <= 63) return dtls(d, from, now_ms);        // DTLS
    if (b >= 128 && b <= 191) return srtp(d, from, now_ms);      // RTP / RTCP
  }

  void stun(std::span<uint8_t> d, const turn::Endpoint& from, int64_t now_ms) {
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
    if (r.selected_changed || (p->ice->selected() && (!p->addr || *p->addr != *p->ice->selected()))) {
      p->addr = p->ice->selected();
      classify(*p);
    }
  }

  // ------------------------------------------------------------------------------ residency
  using Verdict = EngineConfig::Admission::Verdict;
  static constexpr size_t kMaxRefused = 16;

  static bool serves(const EngineConfig::Admission& a) { return a.verdict == Verdict::Serve || a.verdict == Verdict::Drift; }

  // May a first (authentic) check from `from` open a media path for `p`? A refusal is remembered,
  // counted once, and the first one kept for what the participant is told (tick()).
  bool admitted(Participant& p, std::span<const uint8_t> check, const turn::Endpoint& from, int64_t now_ms) {
    if (!cfg.admit) return true;
    if (std::find(p.refused.begin(), p.refused.end(), from) != p.refused.end()) return false;
    if (!p.ice->authentic(check)) return true;  // on_stun() answers it with its error; nothing opens
    auto a = cfg.admit(from);
    if (serves(a)) return true;
    if (p.refused.size() >= kMaxRefused) p.refused.erase(p.refused.begin());
    p.refused.push_back(from);
    sink.residency_denied(a.region);
    if (!p.foreign) {
      p.foreign = std::move(a);
      p.foreign_since_ms = now_ms;
    }
    return false;
  }

  // The error a participant whose media comes from outside the served regions gets: where its
  // region signals (foreign_clients: redirect), or that it is refused.
  void tell_foreign(ConnectionId c, const EngineConfig::Admission& a) {
    std::string where = a.region.empty() ? std::string("no known region") : "region '" + a.region + "'";
    if (a.verdict == Verdict::Redirect && !a.signal_url.empty()) {
      sink.residency_redirect(a.region);
      return send_error(c, "wrong_region",
                        "your media comes from " + where + ", which this node (" + cfg.region +
                            ") does not serve; join at " + a.signal_url,
                        true, {{"region", a.region}, {"signal_url", a.signal_url}});
    }
    send_error(c, "forbidden_region",
               "your media comes from " + where + ", which this node (" + cfg.region + ") does not serve", true,
               {{"region", a.region}});
  }

  // The region a connected participant's media session counts under follows its selected address.
  void count_region(Participant& p) {
    std::optional<EngineConfig::Admission> now;
    if (cfg.admit && p.session_counted && p.addr) now = cfg.admit(*p.addr);
    auto same = [](const std::optional<EngineConfig::Admission>& x, const std::optional<EngineConfig::Admission>& y) {
      if (!x || !y) return !x && !y;
      return x->region == y->region && x->verdict == y->verdict && x->via_own_relay == y->via_own_relay;
    };
    if (same(now, p.counted_region)) return;
    if (p.counted_region) uncount_region(p);
    if (now && serves(*now)) {
      sink.media_session_region(now->region, now->verdict == Verdict::Drift && !now->via_own_relay, +1);
      p.counted_region = std::move(now);
    }
  }
  void uncount_region(Participant& p) {
    if (!p.counted_region) return;
    const auto& c = *p.counted_region;
    sink.media_session_region(c.region, c.verdict == Verdict::Drift && !c.via_own_relay, -1);
    p.counted_region.reset();
  }

  // SIGHUP: ask again for every address; a participant whose media path is now refused is told and
  // removed; others lose only their refused addresses (and may be admitted anew).
  void residency_changed(int64_t now_ms) {
    if (!cfg.admit) return;
    std::vector<std::pair<Participant*, EngineConfig::Admission>> ended;
    for (auto& [_, room] : rooms)
      for (auto& [__, pp] : room->participants) {
        Participant& p = *pp;
        p.refused.clear();
        p.foreign.reset();
        std::erase_if(p.addresses, [&](const turn::Endpoint& a) {
          if (serves(cfg.admit(a))) return false;
          by_addr.erase(a);
          return true;
        });
        // The selected address is judged itself: it may have left the bounded address list.
        std::optional<EngineConfig::Admission> selected_refused;
        if (p.addr)
          if (auto adm = cfg.admit(*p.addr); !serves(adm)) selected_refused = std::move(adm);
        if (selected_refused) ended.emplace_back(&p, std::move(*selected_refused));
        else count_region(p);
      }
    for (auto& [p, adm] : ended) {
      sink.residency_ended(adm.region);
      ConnectionId c = p->conn;
      remove(*p, now_ms);
      tell_foreign(c, adm);
    }
  }

  void classify(Participant& p) {
    count_region(p);
    Path path = p.addr && cfg.classify ? cfg.classify(*p.addr) : Path::Direct;
    if (path == Path::Direct && p.addr &&
        std::find(p.relay_candidates.begin(), p.relay_candidates.end(), *p.addr) != p.relay_candidates.end())
      path = Path::RelayExternal;
    if (path == p.path) return;
    if (p.session_counted) {  // the live gauge moves; the total counted the session once already
      stats.sessions[static_cast<size_t>(p.path)].set(stats.sessions[static_cast<size_t>(p.path)].get() - 1);
      stats.sessions[static_cast<size_t>(path)].add();
    }
    p.path = path;
    broadcast(*p.room, {{"type", "path"}, {"participant", p.id}, {"path", to_string(path)}}, nullptr);
  }

  void flush_dtls(Participant& p, const turn::Endpoint& to) {
    for (auto& dg : p.dtls->take_outgoing()) sink.send_media(to, dg);
  }

  void dtls(std::span<uint8_t> d, const turn::Endpoint& from, int64_t now_ms) {
    Participant* p = participant_for(from);
    if (!p || !p->dtls) return;
    auto before = p->dtls->state();
    auto state = p->dtls->on_datagram(d, now_ms);
    flush_dtls(*p, from);
    if (before != DtlsState::Connected && state == DtlsState::Connected) connected(*p, from, now_ms);
    if (state == DtlsState::Failed && !p->dtls_failed_counted) {
      p->dtls_failed_counted = true;
      stats.dtls_failures.add();
    }
  }

  void connected(Participant& p, const turn::Endpoint& from, int64_t now_ms) {
    const auto* km = p.dtls->keying_material();
    if (!km) return;
    auto profile = static_cast<SrtpProfile>(static_cast<uint16_t>(km->profile));
    if (make_srtp_sessions(profile, km->material, true, p.srtp) != SrtpError::None) {
      stats.dtls_failures.add();
      return;
    }
    p.srtp_ready = true;
    if (!p.connected_ms) p.connected_ms = now_ms;
    // DTLS can finish before the browser nominates a pair: the address it came from has passed a
    // connectivity check, so media goes there until a nomination says otherwise.
    if (!p.addr) p.addr = from;
    if (p.path == Path::Unknown) classify(p);
    if (!p.session_counted) {
      p.session_counted = true;
      stats.sessions[static_cast<size_t>(p.path)].add();
      stats.sessions_total[static_cast<size_t>(p.path)].add();
    }
    count_region(p);
    // Subscribers that joined before the media path was up need keyframes now.
    for (auto& [_, sub] : p.receiving)
      if (sub->track->video) want_keyframe(*sub->track, 0);
  }

  void srtp(std::span<uint8_t> d, const turn::Endpoint& from, int64_t now_ms) {
    Participant* p = participant_for(from);
    if (!p || !p->srtp_ready) return;
    size_t len = d.size();
    if (looks_like_rtcp(d)) {
      if (p->srtp.inbound.unprotect_rtcp(d, len) != SrtpError::None) return;
      return rtcp(*p, d.first(len), now_ms);
    }
    if (p->srtp.inbound.unprotect_rtp(d, len) != SrtpError::None) return;
    rtp(*p, d.first(len), now_ms);
  }

  void rtp(Participant& p, std::span<const uint8_t> d, int64_t now_ms) {
    RtpPacket pkt;
    if (RtpPacket::parse(d, pkt) != RtpError::None) return;
    auto it = by_ssrc.find(pkt.ssrc);
    if (it == by_ssrc.end() || it->second->owner != &p) return;
    Track& t = *it->second;
    if (!p.first_media_seen) {
      p.first_media_seen = true;
      sink.observe_join_seconds(static_cast<double>(now_ms - p.joined_ms) / 1000.0);
    }
    if (pkt.payload_type != t.payload_type) return;  // e.g. RTX or RED, which the answer did not accept
    t.stats.on_packet(pkt.sequence, pkt.timestamp, now_ms * 1000);
    t.nack.store(pkt.sequence, d);
    ++t.packets;
    if (t.keyframe_wanted_since > 0 && is_keyframe(t.codec, pkt.payload)) t.keyframe_wanted_since = 0;
    if (t.fanout_generation != p.room->generation) {
      t.fanout.clear();
      for (auto& [_, other] : p.room->participants)
        for (auto& [__, sub] : other->receiving)
          if (sub->track == &t) t.fanout.emplace_back(other.get(), sub.get());
      t.fanout_generation = p.room->generation;
    }
    for (auto& [to, sub] : t.fanout) forward(*to, *sub, pkt);
  }

  void forward(Participant& to, Subscription& sub, const RtpPacket& pkt) {
    if (!to.srtp_ready || !to.addr) return;
    RtpRewrite rw;
    rw.ssrc = pkt.ssrc;
    rw.payload_type = sub.payload_type;
    rw.sequence = pkt.sequence;
    rw.extension_map = &sub.extensions;
    rw.publisher_mid_id = sub.track->mid_ext_id;
    rw.mid_id = sub.mid_ext_id;
    rw.mid = {reinterpret_cast<const uint8_t*>(sub.mid_value.data()), sub.mid_value.size()};
    rw.mid_always = true;
    size_t n = rewrite(pkt, std::span<uint8_t>(out).first(out.size()), rw);
    if (n == 0) return;
    size_t len = n;
    if (to.srtp.outbound.protect_rtp(out, len) != SrtpError::None) return;
    sink.send_media(*to.addr, {out.data(), len});
    ++sub.packets;
    sub.octets += static_cast<uint32_t>(pkt.payload.size());
    if (sub.track->video) {
      stats.forwarded_packets_video.add();
      stats.forwarded_bytes_video.add(n);
    } else {
      stats.forwarded_packets_audio.add();
      stats.forwarded_bytes_audio.add(n);
    }
  }

  Subscription* subscription_for(Participant& p, uint32_t media_ssrc) {
    for (auto& [_, sub] : p.receiving)
      if (sub->track->ssrc == media_ssrc) return sub.get();
    return nullptr;
  }

  void rtcp(Participant& p, std::span<const uint8_t> d, int64_t now_ms) {
    RtcpReader reader(d);
    RtcpPacket pkt;
    while (reader.next(pkt)) {
      switch (kind_of(pkt)) {
        case RtcpKind::SenderReport: {
          SenderReport sr;
          if (SenderReport::parse(pkt, sr) != RtcpError::None) break;
          auto it = by_ssrc.find(sr.ssrc);
          if (it == by_ssrc.end() || it->second->owner != &p) break;
          Track& t = *it->second;
          t.stats.on_sender_report(sr.info.ntp, now_ms * 1000);
          t.have_sr = true;
          t.sr_rtp = sr.info.rtp_timestamp;
          t.sr_arrival_ms = now_ms;
          report_blocks(sr.blocks, now_ms);
          break;
        }
        case RtcpKind::ReceiverReport: {
          ReceiverReport rr;
          if (ReceiverReport::parse(pkt, rr) == RtcpError::None) report_blocks(rr.blocks, now_ms);
          break;
        }
        case RtcpKind::GenericNack: {
          GenericNack nack;
          if (GenericNack::parse(pkt, nack) != RtcpError::None) break;
          Subscription* sub = subscription_for(p, nack.media_ssrc);
          if (!sub) break;
          std::array<uint16_t, kMaxNackPerFeedback> seqs;
          size_t n = nack.expand(seqs);
          for (size_t i = 0; i < n; ++i) {
            auto stored = sub->track->nack.find(seqs[i]);
            if (stored.empty()) continue;
            RtpPacket old;
            if (RtpPacket::parse(stored, old) != RtpError::None) continue;
            forward(p, *sub, old);
            stats.nack.add();
          }
          break;
        }
        case RtcpKind::Pli:
        case RtcpKind::Fir: {
          Pli pli;
          uint32_t media = 0;
          if (kind_of(pkt) == RtcpKind::Pli && Pli::parse(pkt, pli) == RtcpError::None) media = pli.media_ssrc;
          Fir fir;
          if (kind_of(pkt) == RtcpKind::Fir && Fir::parse(pkt, fir) == RtcpError::None && !fir.entries.empty())
            media = fir.entries[0].ssrc;
          Subscription* sub = subscription_for(p, media);
          if (!sub || now_ms - sub->last_forwarded_pli_ms < kForwardedPliMinMs) break;
          sub->last_forwarded_pli_ms = now_ms;
          want_keyframe(*sub->track, now_ms);
          break;
        }
        default: break;
      }
    }
  }

  // Report blocks about what we sent: RTT (our SRs carry our own NTP clock) and loss.
  void report_blocks(const ReportBlockList& blocks, int64_t now_ms) {
    uint64_t ntp = ntp_of(now_ms, anchor_mono_ms, anchor_unix_ms);
    uint32_t mid32 = static_cast<uint32_t>(ntp >> 16);
    for (const auto& b : blocks) {
      if (b.lsr != 0) {
        uint32_t rtt = mid32 - b.lsr - b.dlsr;  // 1/65536 s
        double secs = static_cast<double>(rtt) / 65536.0;
        if (secs >= 0 && secs < 60) sink.observe_rtt_seconds(secs);
      }
      sink.observe_loss_ratio(static_cast<double>(b.fraction_lost) / 256.0);
    }
  }

  // ------------------------------------------------------------------------------ timers
  void tick(int64_t now_ms) {
    std::vector<Participant*> gone, foreign;
    for (auto& [_, room] : rooms) {
      for (auto& [__, pp] : room->participants) {
        Participant& p = *pp;
        if (p.dtls && p.addr) {
          auto state = p.dtls->tick(now_ms);
          flush_dtls(p, *p.addr);
          if (state == DtlsState::Failed && !p.dtls_failed_counted) {
            p.dtls_failed_counted = true;
            stats.dtls_failures.add();
          }
        }
        if (p.ice && p.addr && p.ice->consent_expired(now_ms)) {  // RFC 7675: the participant vanished
          stats.ice_failures.add();
          gone.push_back(&p);
          continue;
        }
        if (p.answered_ms && !p.addr && !p.ice_failure_counted && now_ms - p.answered_ms > cfg.join_timeout_ms) {
          p.ice_failure_counted = true;  // answered, but no connectivity check ever came
          stats.ice_failures.add();
        }
        if (p.foreign && !p.addr && now_ms - p.foreign_since_ms >= cfg.foreign_grace_ms) {
          foreign.push_back(&p);  // residency: only refused addresses checked in: no media path here
          continue;
        }
        reports(p, now_ms);
        infer_nat(p, now_ms);
      }
    }
    for (Participant* p : gone) {
      ConnectionId c = p->conn;
      remove(*p, now_ms);
      send_error(c, "ice_failed", "no connectivity checks for 30 s: media consent expired", true);
    }
    for (Participant* p : foreign) {
      ConnectionId c = p->conn;
      EngineConfig::Admission a = *p->foreign;
      remove(*p, now_ms);
      tell_foreign(c, a);
    }
  }

  void reports(Participant& p, int64_t now_ms) {
    if (!p.srtp_ready || !p.addr) return;
    for (auto& [_, t] : p.published) {
      if (t->keyframe_wanted_since > 0) {
        if (now_ms - t->keyframe_wanted_since > kPliGiveUpMs) t->keyframe_wanted_since = 0;
        else if (now_ms - t->last_pli_ms >= kPliIntervalMs) send_pli(*t, now_ms);
      }
      if (now_ms - t->last_rr_ms >= kReportIntervalMs && t->stats.valid()) {
        t->last_rr_ms = now_ms;
        ReportBlock block = t->stats.report_block(t->ssrc, now_ms * 1000);
        send_rtcp(p, build_rr(out, p.local_ssrc, {&block, 1}));
      }
    }
    for (auto& [_, sub] : p.receiving) {
      Track& t = *sub->track;
      if (!t.have_sr || now_ms - sub->last_sr_ms < kReportIntervalMs || sub->packets == 0) continue;
      sub->last_sr_ms = now_ms;
      SenderInfo info;
      info.ntp = ntp_of(now_ms, anchor_mono_ms, anchor_unix_ms);
      info.rtp_timestamp = t.sr_rtp + static_cast<uint32_t>((now_ms - t.sr_arrival_ms) * t.clock_rate / 1000);
      info.packet_count = sub->packets;
      info.octet_count = sub->octets;
      send_rtcp(p, build_sr(out, t.ssrc, info, {}));
    }
  }

  // ------------------------------------------------------------------------------ leaving
  void remove(Participant& p, int64_t now_ms) {
    (void)now_ms;
    Room& room = *p.room;
    std::vector<std::string> removed;
    while (!p.published.empty()) unpublish(p, p.published.begin()->first, removed);
    for (const auto& a : p.addresses) by_addr.erase(a);
    if (p.ice) by_ufrag.erase(p.ice->local().ufrag);
    if (p.session_counted) {
      auto& g = stats.sessions[static_cast<size_t>(p.path)];
      g.set(g.get() - 1);
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

  void count_tracks() {
    uint64_t audio = 0, video = 0;
    for (auto& [_, room] : rooms)
      for (auto& [__, p] : room->participants)
        for (auto& [___, t] : p->published) (t->video ? video : audio)++;
    stats.tracks_audio.set(audio);
    stats.tracks_video.set(video);
  }
};

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

void Engine::signal_closed(ConnectionId c, int64_t now_ms) {
  auto it = impl_->by_conn.find(c);
  if (it != impl_->by_conn.end()) impl_->remove(*it->second, now_ms);
}

void Engine::media(std::span<uint8_t> data, const turn::Endpoint& from, int64_t now_ms) {
  impl_->media(data, from, now_ms);
}

void Engine::tick(int64_t now_ms) { impl_->tick(now_ms); }
void Engine::residency_changed(int64_t now_ms) { impl_->residency_changed(now_ms); }
const EngineStats& Engine::stats() const { return impl_->stats; }
const Certificate& Engine::certificate() const { return impl_->cert; }

}  // namespace sfu
