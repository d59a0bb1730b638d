// The SFU engine's private state (sfu/engine.hpp): rooms, participants, tracks, subscriptions and
// Engine::Impl, whose members are defined by concern in engine.cpp (lifetimes, paths, timers),
// engine_residency.cpp (admission, region counts, policy reloads), engine_signal.cpp (signalling
// messages, offers and answers, publish/subscribe) and engine_media.cpp (the media port: ICE-lite,
// DTLS, SRTP/SRTCP forwarding, NACK/PLI).
#pragma once
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "sfu/active_speaker.hpp"
#include "sfu/dtls_srtp.hpp"
#include "sfu/engine.hpp"
#include "sfu/ice_lite.hpp"
#include "sfu/nack_buffer.hpp"
#include "sfu/nat_inference.hpp"
#include "sfu/retransmit_limit.hpp"
#include "sfu/rtcp.hpp"
#include "sfu/rtp.hpp"
#include "sfu/rtp_stats.hpp"
#include "sfu/rtx.hpp"
#include "sfu/sdp.hpp"
#include "sfu/simulcast.hpp"
#include "sfu/srtp.hpp"
#include "sfu/token.hpp"
#include "sfu/twcc.hpp"
#include "sfu/bwe.hpp"
#include "turn/crypto.hpp"
#include "turn/message.hpp"

namespace sfu {

using nlohmann::json;

namespace engine_detail {

constexpr size_t kMaxPacket = 1500 + 64;
constexpr int64_t kPliIntervalMs = 500;       // a keyframe request is repeated until one arrives
constexpr int64_t kPliGiveUpMs = 10'000;
constexpr int64_t kReportIntervalMs = 1000;   // RR to publishers, SR to subscribers (RFC 3550 6.2)
constexpr int64_t kForwardedPliMinMs = 300;   // subscribers' PLI/FIR forwarded at most this often
constexpr size_t kMaxTracksPerParticipant = 8;
constexpr size_t kMaxNackPerFeedback = 64;
constexpr int64_t kTickMs = 50;               // how often the host calls tick() (server/sfu_host.cpp)
constexpr int64_t kLayerIntervalMs = 500;     // layer bitrates measured and layers chosen this often
constexpr int64_t kLayerIdleMs = 1500;        // a layer with no packet for this long is not sent
constexpr int64_t kDynacastPauseMs = 5'000;   // a layer nobody wants for this long is paused
constexpr uint64_t kStartBudgetBps = 600'000; // a subscriber's bandwidth before any estimate

// Signalling JSON carries what clients sent (ids, SDP error excerpts): invalid UTF-8 is replaced,
// never thrown about.
inline std::string dump_safe(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// RFC 3550 4: the NTP timestamp of a monotonic instant, anchored to the wall clock once.
inline uint64_t ntp_of(int64_t now_ms, int64_t anchor_mono_ms, int64_t anchor_unix_ms) {
  int64_t unix_ms = anchor_unix_ms + (now_ms - anchor_mono_ms);
  uint64_t secs = static_cast<uint64_t>(unix_ms / 1000) + 2'208'988'800ULL;
  uint64_t frac = (static_cast<uint64_t>(unix_ms % 1000) << 32) / 1000;
  return secs << 32 | frac;
}

inline std::string random_id(size_t bytes) {
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

inline uint32_t random_u32() {
  uint32_t v = 0;
  turn::crypto::random_bytes({reinterpret_cast<uint8_t*>(&v), sizeof v});
  return v ? v : 1;
}

inline MediaCodec codec_of(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), ::tolower);
  if (n == "opus") return MediaCodec::Opus;
  if (n == "vp8") return MediaCodec::Vp8;
  if (n == "h264") return MediaCodec::H264;
  return MediaCodec::Other;
}

}  // namespace engine_detail
using namespace engine_detail;


struct Participant;
struct Subscription;

struct Track;

// One stream of a track as it arrives on one SSRC: a plain track's only one, or one simulcast
// layer (RFC 8853), whose SSRC is learned from the rtp-stream-id extension (RFC 8852) since
// simulcasting browsers announce none. Layers are ordered lowest first (libwebrtc's sendEncodings
// order: q, h, f).
struct Layer {
  Track* track = nullptr;
  int index = 0;
  std::string rid;                 // empty: not simulcast
  uint32_t ssrc = 0;               // the publisher's; 0 until learned
  NackBuffer nack{512, kMaxPacket};
  RtpReceiveStats stats{90000};
  int64_t keyframe_wanted_since = 0;  // 0: none wanted
  int64_t last_pli_ms = 0;
  int64_t last_rr_ms = 0;
  // RFC 3550 6.4.1: the publisher's last SR, which maps its RTP clock to time for our own SRs to
  // subscribers (none are sent before the first one arrives).
  struct LastSr {
    bool have = false;
    uint32_t rtp = 0;         // its RTP timestamp
    int64_t arrival_ms = 0;   // when it arrived (monotonic)
  } sr;
  uint64_t packets = 0, bytes = 0;
  int64_t last_packet_ms = 0;
  // The layer's bitrate, measured by tick() (engine_simulcast.cpp).
  uint64_t bitrate_bps = 0, rate_bytes = 0;
  int64_t rate_ms = 0;
  // Dynacast: the publisher was told to stop sending this layer (nobody watches it), and since when
  // nobody has wanted it.
  bool paused = false;
  int64_t unwanted_since_ms = 0;
  // A paused layer counts as one that can be resumed, unless the publisher did not send it again
  // the last time it was (Chromium sends fewer layers at low resolutions or under CPU load).
  int64_t resumed_ms = 0;            // when it was last resumed, until a packet arrives
  int64_t resume_failed_ms = 0;      // when such a resume came to nothing
};

struct Track {
  std::string id;
  Participant* owner = nullptr;
  bool video = false;
  std::string mid;                 // the publisher's mid
  uint32_t ssrc = 0;               // what subscribers see: the publisher's, or ours for simulcast
  uint32_t rtx_ssrc = 0;           // our RTX stream to subscribers (RFC 4588), video only
  bool simulcast = false;
  std::vector<std::unique_ptr<Layer>> layers;  // at least one
  std::string codec_name;
  MediaCodec codec = MediaCodec::Other;
  uint8_t payload_type = 0;        // as the publisher sends it
  uint32_t clock_rate = 90000;
  std::map<std::string, uint8_t> extmap;  // uri -> the publisher's id
  uint8_t mid_ext_id = 0;
  uint8_t rid_ext_id = 0;          // RFC 8852 rtp-stream-id, simulcast only
  uint8_t twcc_ext_id = 0;         // transport-wide sequence numbers (our feedback to the publisher)
  uint8_t audio_level_ext_id = 0;  // RFC 6464, audio only
  uint64_t packets = 0;
  bool muted = false;  // the publisher said so (`mute`, version 2): told to the room, shown in its track list
  // Who receives this track: rebuilt from the room's subscriptions when they change
  // (Room::generation), so the per-packet path walks only its own subscribers.
  std::vector<std::pair<Participant*, Subscription*>> fanout;
  uint64_t fanout_generation = 0;
  Layer& layer(int i) { return *layers[static_cast<size_t>(i)]; }
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
  std::unique_ptr<RecentResends> resent;  // made by the first NACK
  // Which layer is forwarded (one continuous stream whatever the layer), what the subscriber
  // allows (`subscribe` message: max_layer, paused), and what its bandwidth allows (tick()).
  LayerForwarder forwarder;
  int max_layer = 2;
  bool paused = false;
  uint8_t twcc_ext_id = 0;         // the subscriber's transport-cc id: our sequence numbers go there
  RtxStream rtx;                   // payload_type 0: the subscriber took no RTX
  uint64_t switches_counted = 0;
};

struct Room;

// What the participant's join token allows (sfu/token.hpp: the "publish" and "subscribe" claims),
// fixed at join. A section it may not use is rejected in the answer.
struct Permissions {
  bool publish = true;
  bool subscribe = true;
};

// How far the participant's session has come. The instants are monotonic (0: not yet); they time
// the join (join_seconds), the join timeout (from the first answer) and the NAT inference (from
// the connection).
struct Lifecycle {
  int64_t joined_ms = 0;          // the join was accepted
  int64_t answered_ms = 0;        // the first answer was sent
  int64_t connected_ms = 0;       // DTLS completed and SRTP was keyed (the first time)
  bool srtp_ready = false;        // SRTP keys derived: media may be sent to and taken from it
  bool first_media_seen = false;  // its first RTP packet arrived (join_seconds observed)
};

// Metric guards: what is counted at most once per participant, however often the condition is
// seen again (each tick, each retransmitted handshake).
struct CountedOnce {
  bool session = false;       // in EngineStats::sessions[path] (the live gauge) and the session total
  bool dtls_failure = false;  // EngineStats::dtls_failures
  bool ice_failure = false;   // EngineStats::ice_failures: answered, but no check within join_timeout_ms
};

// Evidence for the passive NAT mapping inference (nat_inference.hpp), learned from its candidates
// (bounded) and used once per session, a while after media starts (EngineConfig::nat_inference_delay_ms).
struct NatInference {
  std::vector<turn::Endpoint> host_candidates;  // literal (not mDNS) host candidates
  std::vector<ReflexiveCandidate> srflx_candidates;
  bool done = false;  // inferred (and reported) for this session
};

// Protocol version 2 (engine_resume.cpp): the session token a new WebSocket resumes the participant
// with, and since when it has had no WebSocket (0: attached).
struct Resumable {
  int version = 1;
  std::string token;  // empty in version 1
  int64_t detached_ms = 0;
};

struct Participant {
  std::string id, identity;
  ConnectionId conn = 0;
  Resumable resume;
  Room* room = nullptr;
  Permissions permissions;
  Lifecycle lifecycle;
  CountedOnce counted;
  // Media session: created by the first offer.
  std::unique_ptr<IceLite> ice;
  std::unique_ptr<DtlsSrtpTransport> dtls;
  SrtpSessionPair srtp;
  std::optional<turn::Endpoint> addr;  // the selected (nominated) address
  Path path = Path::Unknown;
  uint32_t local_ssrc = 0;             // sender SSRC of our RTCP to this participant
  std::optional<sdp::SessionDescription> offer;
  uint64_t answer_version = 0;
  std::map<std::string, std::unique_ptr<Track>> published;        // by the participant's mid
  std::unordered_map<uint32_t, Layer*> ssrcs;                      // its own published layers' SSRCs
  TokenBucket resend_budget{0, 0};                                 // NACK resends to it (set at join)
  ResendShare resend_share{0, 0};                                  // ... and a share of its media (set at join)
  std::map<std::string, std::unique_ptr<Subscription>> receiving;  // by the participant's mid
  std::vector<turn::Endpoint> addresses;                           // learned from valid checks
  std::vector<turn::Endpoint> relay_candidates;  // the client's own relay candidates (any TURN server)
  NatInference nat;
  // Data residency: addresses whose checks go unanswered (bounded), the first refusal (what the
  // participant is told if no admitted path is nominated in time), and the region its media session
  // is counted under while connected.
  std::vector<turn::Endpoint> refused;
  std::optional<EngineConfig::Admission> foreign;
  int64_t foreign_since_ms = 0;
  std::optional<EngineConfig::Admission> counted_region;
  uint64_t bytes_in = 0, bytes_out = 0;  // SRTP/SRTCP datagrams from it and to it (the admin API)
  // What the path to it carries (its REMB, or our estimate from its transport-cc feedback) and
  // when layers were last chosen for it (engine_simulcast.cpp).
  struct Bandwidth {
    uint64_t estimate_bps = 0;  // 0: not known yet
    int64_t updated_ms = 0;
    int64_t chosen_ms = 0;
    int64_t observed_ms = 0;  // last sampled into the metric
  } bandwidth;
  // Transport-wide congestion control (engine_congestion.cpp): as a publisher, the arrivals our
  // feedback reports; as a subscriber, the sequence numbers we stamp and the send-side estimate its
  // feedback drives. Made by the first packet that needs them.
  SpeechActivity speech;  // from its audio levels (engine_speakers.cpp)
  std::unique_ptr<TwccRecorder> twcc_in;
  std::unique_ptr<SendSideBwe> bwe;
  uint16_t transport_seq = 0;
  // Probing (engine_congestion.cpp): the rate a subscriber held below its layers needs, padding
  // sent toward it on an RTX stream until its estimate gets there, and a pause after overuse.
  struct Probe {
    uint64_t target_bps = 0;     // 0: nothing to probe for
    int64_t backoff_until_ms = 0;
    uint64_t out_rate_bps = 0;   // what we sent it over the last layer interval
    int64_t through_since_ms = 0;  // the acknowledged rate has been at the target since
    uint64_t rate_bytes = 0;
    int64_t rate_ms = 0;
  } probe;
};

struct Room {
  std::string name;
  std::map<std::string, std::unique_ptr<Participant>> participants;
  uint64_t generation = 1;  // bumped whenever any participant's subscriptions may have changed
  std::vector<std::string> speakers;  // the last active_speakers sent, loudest first
  int64_t speakers_ms = 0;
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
  std::unordered_map<std::string, Participant*> by_token;  // version 2 session tokens (engine_resume.cpp)
  std::array<uint8_t, kMaxPacket + 64> out{};
  std::array<uint8_t, IceLite::kResponseBufferSize> stun_out{};
  std::array<uint8_t, IceLite::kResponseBufferSize> probe_out{};
  int64_t anchor_mono_ms = 0, anchor_unix_ms = 0;
  uint64_t session_id = 0;
  Impl(EngineConfig c, EngineSink& s) : cfg(std::move(c)), sink(s), cert(Certificate::generate(cfg.start_unix_s)) {
    dtls_ctx = std::make_unique<DtlsSrtpContext>(cert);
    srtp_library_init();
    session_id = random_u32();
  }

  // ------------------------------------------------------------------------------ signalling
  void send(Participant& p, const json& msg);
  void send_error(ConnectionId c, const char* code, const std::string& message, bool fatal, json extra = {});
  // A join refused: reported to the sink (logs), then the fatal error.
  void refuse_join(ConnectionId c, const JoinClaims& claims, const char* code, const std::string& message,
                   json extra = {});
  json participant_json(const Participant& p) const;
  void broadcast(Room& room, const json& msg, const Participant* except);
  void on_message(ConnectionId c, std::string_view text, int64_t now_ms, int64_t unix_s);
  void join(ConnectionId c, const json& msg, int64_t now_ms, int64_t unix_s);

  // Trickled candidates are not needed for connectivity (ICE-lite), but a relay candidate tells
  // media arriving from that address apart as relayed by a TURN server other than ours.
  void candidate(Participant& p, const json& msg);

  // One candidate as sdp::parse_candidate read it (trickled or on the offer's a=candidate lines):
  // relay candidates tell other TURN servers' relays apart; host and srflx candidates are evidence
  // for the passive NAT inference.
  void note_candidate(Participant& p, const sdp::Candidate& c);
  static std::optional<turn::Endpoint> endpoint_of(std::string_view address, uint16_t port);

  // Once per session, a while after media starts: the participant's NAT mapping behaviour.
  void infer_nat(Participant& p, int64_t now_ms);
  void close_room_if_empty(const std::string& name);

  // ------------------------------------------------------------------------------ version 2 (engine_resume.cpp)
  // The join's `version`: 2 gets a session token (added to `joined`).
  void start_session(Participant& p, const json& join_msg, json& joined);
  // The WebSocket closed: true if p is kept for a resume (detached), false if it is to be removed.
  bool detach(Participant& p, int64_t now_ms);
  // `resume` on a connection that has not joined: the session token's participant moves to it.
  void resume(ConnectionId c, const json& msg, int64_t now_ms);
  // `mute`: a published track muted or unmuted, told to the room.
  void mute(Participant& p, const json& msg);
  // Detached participants whose grace ran out are removed (resume_timeout).
  void expire_detached(int64_t now_ms);
  void forget_session(Participant& p);

  // ------------------------------------------------------------------------------ offers
  bool accept_remote(Participant& p, const sdp::SessionDescription& offer, int64_t now_ms);
  void adopt_answer(Participant& p, const sdp::SessionDescription& built);
  // offer(): validate -> transports -> apply sections -> payload types (the answer).
  using OfferSubscriptions = std::map<std::string, std::string>;  // mid -> track id
  void offer(Participant& p, const json& msg, int64_t now_ms);
  std::optional<sdp::SessionDescription> validate_offer(Participant& p, const json& msg, OfferSubscriptions& wanted);
  bool offer_transports(Participant& p, const sdp::SessionDescription& offer, sdp::AnswerOptions& opts,
                        int64_t now_ms);
  std::vector<Track*> apply_sections(Participant& p, const sdp::SessionDescription& offer,
                                     const OfferSubscriptions& wanted, sdp::AnswerOptions& opts, int64_t now_ms);
  void apply_section(Participant& p, const sdp::MediaSection& m, const OfferSubscriptions& wanted,
                     sdp::AnswerOptions& opts, std::vector<Track*>& added, std::vector<std::string>& removed,
                     int64_t now_ms);
  bool publish_section(Participant& p, const sdp::MediaSection& m, sdp::AnswerOptions& opts,
                       std::vector<Track*>& added, std::vector<std::string>& removed);
  void answer_offer(Participant& p, sdp::SessionDescription offer, const sdp::AnswerOptions& opts,
                    const std::vector<Track*>& added, int64_t now_ms);

  // A sendonly section: the participant publishes (or keeps publishing) a track on that mid.
  Track* publish(Participant& p, const sdp::MediaSection& m, sdp::AnswerOptions& opts, bool& created);
  // The section's primary SSRC: the first that is not the second of a FID (RTX) group; 0 if none.
  static uint32_t primary_ssrc(const sdp::MediaSection& m);
  // Whether another participant in p's room, or another of p's own mids, publishes `ssrc`.
  bool ssrc_taken(const Participant& p, const std::string& mid, uint32_t ssrc) const;
  void unpublish(Participant& p, const std::string& mid, std::vector<std::string>& removed);
  void drop_subscriptions_to(Track* t);
  Track* find_track(Room& room, const std::string& id);

  // A recvonly section for a remote track: the SFU sends the track there.
  void subscribe(Participant& p, const sdp::MediaSection& m, const std::string& track_id, sdp::AnswerOptions& opts,
                 int64_t now_ms);
  // A keyframe on this layer: asked for now and every kPliIntervalMs until one arrives.
  void want_keyframe(Layer& l, int64_t now_ms);
  void send_pli(Layer& l, int64_t now_ms);
  // What a new or restarted subscription needs: the keyframe of the layer it will get.
  void want_keyframe_for(Subscription& sub, int64_t now_ms);

  // ------------------------------------------------------------------------------ media
  void send_rtcp(Participant& p, size_t n);
  Participant* participant_for(const turn::Endpoint& from);
  void media(std::span<uint8_t> d, const turn::Endpoint& from, int64_t now_ms);
  void stun(std::span<uint8_t> d, const turn::Endpoint& from, int64_t now_ms);
  // RFC 8445 7.2.2: prove that `to` reaches p's browser before media goes there (ice_lite.hpp).
  void send_probe(Participant& p, const turn::Endpoint& to, bool nominate, int64_t now_ms);
  // Media follows the address IceLite selected.
  void follow_selected(Participant& p);

  // ------------------------------------------------------------------------------ residency
  using Verdict = EngineConfig::Admission::Verdict;
  static constexpr size_t kMaxRefused = 16;
  static bool serves(const EngineConfig::Admission& a);

  // May a first (authentic) check from `from` open a media path for `p`? A refusal is remembered,
  // counted once, and the first one kept for what the participant is told (tick()).
  bool admitted(Participant& p, std::span<const uint8_t> check, const turn::Endpoint& from, int64_t now_ms);

  // The error a participant whose media comes from outside the served regions gets: where its
  // region signals (foreign_clients: redirect), or that it is refused.
  void tell_foreign(ConnectionId c, const EngineConfig::Admission& a);

  // The region a connected participant's media session counts under follows its selected address.
  void count_region(Participant& p);
  void uncount_region(Participant& p);

  // SIGHUP: ask again for every address; a participant whose media path is now refused is told and
  // removed; others lose only their refused addresses (and may be admitted anew).
  void residency_changed(int64_t now_ms);
  void classify(Participant& p);
  void flush_dtls(Participant& p, const turn::Endpoint& to);
  void dtls(std::span<uint8_t> d, const turn::Endpoint& from, int64_t now_ms);
  void connected(Participant& p, const turn::Endpoint& from, int64_t now_ms);
  void srtp(std::span<uint8_t> d, const turn::Endpoint& from, int64_t now_ms);
  void rtp(Participant& p, std::span<const uint8_t> d, int64_t now_ms);
  // Sends one packet of layer `l` to the subscription if its forwarder takes it; false: not sent.
  bool forward(Participant& to, Subscription& sub, const RtpPacket& pkt, const Layer& l, int64_t now_ms,
               bool as_rtx = false);
  void count_forwarded(Subscription& sub, size_t payload, size_t n);
  Subscription* subscription_for(Participant& p, uint32_t media_ssrc);
  void rtcp(Participant& p, std::span<const uint8_t> d, int64_t now_ms);
  void sender_report(Participant& p, const RtcpPacket& pkt, int64_t now_ms);
  void keyframe_request(Participant& p, const RtcpPacket& pkt, int64_t now_ms);
  // Answers one NACK's sequence numbers within the bounds of retransmit_limit.hpp; `left` is what
  // the compound may still ask for.
  void resend(Participant& p, Subscription& sub, std::span<const uint16_t> seqs, size_t& left, int64_t now_ms);

  // Report blocks about what we sent: RTT (our SRs carry our own NTP clock) and loss.
  void report_blocks(const Participant& p, const ReportBlockList& blocks, int64_t now_ms);

  // ------------------------------------------------------------------------------ simulcast
  // engine_simulcast.cpp: layers of a published section, SSRCs learned from the rid extension,
  // layer bitrates, each subscription's layer (its bandwidth and preferences), dynacast.
  static std::vector<std::string> simulcast_rids(const sdp::MediaSection& m, bool enabled);
  void make_layers(Track& t, uint32_t ssrc, const std::vector<std::string>& rids);
  Layer* layer_for(Participant& p, const RtpPacket& pkt);
  void measure_layers(Track& t, int64_t now_ms);
  void refresh_fanout(Track& t);
  void choose_layers(Participant& subscriber, int64_t now_ms);
  void dynacast(Track& t, int64_t now_ms);
  void subscribe_message(Participant& p, const json& msg, int64_t now_ms);
  void simulcast_tick(Participant& p, int64_t now_ms);
  uint64_t budget_bps(const Participant& subscriber) const;

  // ------------------------------------------------------------------------------ congestion control
  // engine_congestion.cpp: transport-wide feedback to publishers, sequence numbers and the
  // send-side estimate for subscribers, REMB as the fallback.
  void record_arrival(Participant& p, const Track& t, const RtpPacket& pkt, int64_t now_ms);
  void transport_feedback(Participant& p, int64_t now_ms);
  // Stamps the next transport-wide sequence number on a packet rewritten for `to` (plaintext, n
  // bytes in out) and notes it as sent.
  void stamp_sent(Participant& to, const Subscription& sub, size_t n, int64_t now_ms);
  void on_transport_cc(Participant& p, const RtcpPacket& pkt, int64_t now_ms);
  void on_remb(Participant& p, uint64_t bps, int64_t now_ms);
  SendSideBwe& bwe_of(Participant& p);
  // Padding toward a subscriber whose layers its estimate holds back (Participant::Probe).
  void probe(Participant& p, int64_t now_ms);

  // ------------------------------------------------------------------------------ active speakers
  void note_audio_level(Participant& p, const Track& t, const RtpPacket& pkt, int64_t now_ms);
  void speakers(Room& room, int64_t now_ms);

  // ------------------------------------------------------------------------------ timers
  void tick(int64_t now_ms);
  void retransmit(Participant& p, int64_t now_ms);
  void reports(Participant& p, int64_t now_ms);

  // ------------------------------------------------------------------------------ leaving
  // `why` for the log (EngineSink::participant_left): leave, closed, ice_failed, residency.
  void remove(Participant& p, int64_t now_ms, const char* why = "closed");
  void count_tracks();
};

}  // namespace sfu
