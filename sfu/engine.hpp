// The SFU engine, sans-I/O: rooms, participants and tracks; signalling messages (sfu/PROTOCOL.md) in
// and out; media datagrams from the one media port demultiplexed per RFC 7983 (STUN for ICE-lite,
// DTLS for keys, SRTP/SRTCP for media) and forwarded per subscriber. The server owns the sockets
// and the clock and calls in from one thread; everything leaves through EngineSink.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sfu/certificate.hpp"
#include "sfu/nat_inference.hpp"
#include "sfu/signal_error.hpp"
#include "turn/address.hpp"

namespace sfu {

using ConnectionId = uint64_t;

// How a participant's media reaches the SFU (metrics label `path`).
enum class Path : uint8_t { Unknown, Direct, RelayUdp, RelayTcp, RelayTls, RelayDtls, RelayExternal };
constexpr size_t kPaths = 7;
const char* to_string(Path p);

struct EngineConfig {
  std::string region;
  // Other regions' signalling URLs (the residency catalog's signal_url): where a join for a room
  // of another region is sent.
  std::map<std::string, std::string> region_signal_urls;
  std::vector<std::string> token_keys;
  std::vector<turn::Endpoint> candidates;  // our host candidates: the media socket as clients reach it
  uint32_t max_participants_per_room = 50;
  // The ICE servers a joining participant gets (this node's TURN URLs with REST credentials), as JSON.
  std::function<std::string(const std::string& identity)> ice_servers;
  // Whether `from` is one of this node's TURN relayed addresses, and over what the client reaches
  // that allocation: RelayUdp..RelayDtls; Direct when it is not ours.
  std::function<Path(const turn::Endpoint& from)> classify;
  // This node's STUN addresses as given to clients: their srflx candidates are mappings towards
  // these, compared with the mapping towards the media port (passive NAT inference, nat_inference.hpp).
  std::vector<turn::Endpoint> stun_servers;
  int64_t nat_inference_delay_ms = 5'000;  // after the first media: candidates have trickled in
  // Data residency (docs/residency.md): whether media from `from` may reach this SFU. Asked once for
  // each new source address of a participant's connectivity checks (and again after
  // residency_changed()); a refused address gets no answer, so no media path forms over it. Unset:
  // every address is served.
  struct Admission {
    enum class Verdict : uint8_t { Serve, Drift, Redirect, Refuse } verdict = Verdict::Serve;
    std::string region;      // the client's region by that address; empty: in no region
    std::string signal_url;  // Redirect: where that region's SFU signals
    // The address is one of this node's TURN allocations: TURN admitted and counts the client.
    bool via_own_relay = false;
  };
  std::function<Admission(const turn::Endpoint& from)> admit;
  // Drain (server/drain.hpp): nullopt while serving; while draining, the signalling URL new joins are
  // sent to (error "draining" with signal_url; empty: refused). Existing participants go on. Unset: serving.
  std::function<std::optional<std::string>()> draining;
  // A participant whose checks so far all came from refused addresses is told (wrong_region with the
  // region's signal_url, or forbidden_region) and removed this long after the first refusal, unless
  // an admitted address has been nominated by then: browsers check every candidate pair at once.
  int64_t foreign_grace_ms = 3'000;
  int64_t consent_timeout_ms = 30'000;     // RFC 7675: no valid check for this long: gone
  int64_t join_timeout_ms = 30'000;        // joined but never connected media
  bool simulcast = true;                   // receive simulcast layers (RFC 8853) and forward one per subscriber
  int64_t start_unix_s = 0;                // wall clock at start: the DTLS certificate's validity
  // What a subscriber's NACKs (RFC 4585 6.2.1) may cost (retransmit_limit.hpp): resent bytes per
  // second and burst per subscriber (sfu.max_retransmit_bytes_per_second; the burst is a quarter
  // second's worth), one resend of a packet to a subscription per interval, and how many sequence
  // numbers one RTCP compound may ask for.
  uint64_t max_retransmit_bytes_per_second = 640'000;
  // Resent bytes may not exceed this share (percent) of the live media forwarded to the subscriber,
  // plus a start-up allowance of max(64 KB, a quarter of the rate) (sfu.max_retransmit_percent).
  uint32_t max_retransmit_percent = 50;
  int64_t nack_repeat_interval_ms = 100;
  size_t max_nack_seqs_per_compound = 128;
  // Protocol version 2 (engine_resume.cpp): a participant whose WebSocket closes is kept this long
  // (sfu.resume_grace), its media flowing, for a new WebSocket to `resume` it with its session
  // token; 0: removed at once as in version 1. At most max_resumable are kept at a time (the
  // oldest detached one is removed first); they stay in their rooms' participant counts.
  int64_t resume_grace_ms = 15'000;
  size_t max_resumable = 1'000;
};

class EngineSink {
 public:
  virtual ~EngineSink() = default;
  virtual void send_media(const turn::Endpoint& to, std::span<const uint8_t> datagram) = 0;
  virtual void send_signal(ConnectionId c, const std::string& json) = 0;
  virtual void close_signal(ConnectionId c, const char* why) = 0;
  // The connection completed its join (the host lifts its pre-join limits).
  virtual void signal_joined(ConnectionId) {}
  // Observations for histograms: seconds from join to first media, RTT from RTCP, loss ratio.
  virtual void observe_join_seconds(double) {}
  // RTT and loss are those of the participant on connection `c` (what its RTCP reports say).
  virtual void observe_rtt_seconds(ConnectionId c, double) {}
  virtual void observe_loss_ratio(ConnectionId c, double) {}
  // A subscriber's estimated bandwidth (REMB or transport-cc), sampled every few seconds.
  virtual void observe_estimated_bitrate(ConnectionId c, double bps) {}
  // The media session of the participant on connection `c` counted under a path: starting
  // (from Unknown), reclassified (from one path to another) or ending (to Unknown); what
  // EngineStats::sessions counts, per connection, so the host can count it by the client's site.
  virtual void media_session_path(ConnectionId c, Path from, Path to) {}
  // A participant's NAT mapping behaviour, inferred once per session (NatMapping's label values).
  // `evidence`: what the verdict rests on, so an operator can see why one was `unknown`.
  virtual void nat_mapping(const turn::IpAddress& client, const char* mapping, const NatEvidence& evidence) {}
  // Data residency: media from an address of `region` refused (once per participant and address);
  // a participant sent to `to_region`'s signalling URL; one ended because a reloaded policy forbids
  // its media path; a media session (connected) of `client_region` starting (+1) or ending (-1),
  // `drift` when served although its region is not ours (not counted when via our own TURN relay,
  // whose allocation counts it).
  virtual void residency_denied(const std::string& region) {}
  virtual void residency_redirect(const std::string& to_region) {}
  virtual void residency_ended(const std::string& client_region) {}
  virtual void media_session_region(const std::string& client_region, bool drift, int delta) {}
  // For logs (issue 17, docs/logs.md): a participant joined; a join refused (`code`, sfu/PROTOCOL.md);
  // a participant gone (`code` says why: leave, closed, ice_failed, residency). Empty room and
  // identity when the token could not be read.
  struct ParticipantEvent {
    ConnectionId conn;
    std::string_view room, identity, participant;
    Path path;
    std::string_view code;
  };
  virtual void participant_joined(const ParticipantEvent&) {}
  virtual void join_refused(const ParticipantEvent&) {}
  virtual void participant_left(const ParticipantEvent&) {}
};

// Counters and gauges for turnpike_sfu_* metrics: written by the engine's thread, read by any.
struct EngineStats {
  struct Counter {
    std::atomic<uint64_t> v{0};
    void add(uint64_t n = 1) { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    void set(uint64_t n) { v.store(n, std::memory_order_relaxed); }
    uint64_t get() const { return v.load(std::memory_order_relaxed); }
  };
  Counter rooms, participants, tracks_audio, tracks_video;
  std::array<Counter, kPaths> sessions, sessions_total;
  Counter forwarded_packets_audio, forwarded_packets_video, forwarded_bytes_audio, forwarded_bytes_video;
  // nack: packets resent from the retransmission buffer; pli: PLIs sent to publishers.
  Counter ice_failures, dtls_failures, nack, pli;
  // `error` messages sent, by code (kSignalErrorCodes of signal_error.hpp).
  std::array<Counter, kSignalErrorCodes.size()> signalling_errors;
  // NACKed packets not resent (turnpike_sfu_nack_limited_total{reason}): resent to that subscription
  // within nack_repeat_interval_ms, over the subscriber's byte budget, beyond the per-compound cap.
  Counter nack_limited_repeat, nack_limited_budget, nack_limited_cap;
  // Offers refused a track because its SSRC is another participant's in the room.
  Counter ssrc_conflicts;
  // Simulcast layer switches of subscriptions (turnpike_sfu_layer_switches_total).
  Counter layer_switches;
  // Padding sent to probe subscribers' paths (RTX streams, engine_congestion.cpp), bytes.
  Counter probe_padding_bytes;
  // Our own Binding requests proving a nominated address reaches the browser (RFC 8445 7.2.2), and
  // how many were answered (the address was proven).
  Counter ice_probes, ice_probes_answered;
};

// What the admin API shows of a room (GET /api/v1/rooms, docs/admin-api.md): copies, taken on the
// engine's thread (engine_admin.cpp).
struct ParticipantInfo {
  std::string id, identity;
  Path path = Path::Unknown;
  std::string region;            // the residency region its media session counts under; empty: none
  int64_t joined_unix_ms = 0;    // wall clock of the join
  bool connected = false;        // DTLS done, SRTP keyed
  uint64_t bytes_in = 0, bytes_out = 0;  // SRTP/SRTCP on the media port, from it and to it
  size_t tracks = 0;             // tracks it publishes
};
struct RoomInfo {
  std::string name;
  size_t participant_count = 0;
  std::vector<ParticipantInfo> participants;  // filled by Engine::room() only
};

class Engine {
 public:
  Engine(EngineConfig cfg, EngineSink& sink);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void signal_opened(ConnectionId c, int64_t now_ms);
  void signal_message(ConnectionId c, std::string_view text, int64_t now_ms, int64_t unix_s);
  // `leaving`: the client ended the WebSocket (closed it, or its TCP connection; not with a 4xxx code):
  // removed at once, no resume; otherwise (a drop, or an application code) version 2 sessions wait.
  void signal_closed(ConnectionId c, int64_t now_ms, bool leaving = false);
  // One datagram from the media port; `data` may be modified (decrypted in place).
  void media(std::span<uint8_t> data, const turn::Endpoint& from, int64_t now_ms);
  void tick(int64_t now_ms);
  // The residency policy behind EngineConfig::admit changed (SIGHUP): every participant's addresses
  // are asked again; one whose media path is now refused is told and removed.
  void residency_changed(int64_t now_ms);
  // Reloaded join-token keys and regions' signalling URLs (SIGHUP): later joins use them; joined
  // participants stay.
  void set_join_config(std::vector<std::string> token_keys, std::map<std::string, std::string> region_signal_urls);

  // The admin API (engine_admin.cpp): rooms with participant counts, ordered by name, at most
  // `max_rooms`; one room's participants; and removing one participant (its transports close, the
  // others are told as when it leaves, it gets the fatal error `removed`) with what it was just
  // before. nullopt: no such room, or no such participant in it.
  std::vector<RoomInfo> rooms(size_t max_rooms) const;
  std::optional<RoomInfo> room(const std::string& name) const;
  std::optional<ParticipantInfo> remove_participant(const std::string& room, const std::string& participant,
                                                    int64_t now_ms);

  const EngineStats& stats() const;
  const Certificate& certificate() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sfu
