// One synthetic SFU participant of `turnpike-loadgen sfu`, sans-I/O: the signalling of
// sfu/PROTOCOL.md version 1 (join with a JWT, offer, answer, track_published), ICE as the controlling
// full agent against the ICE-lite SFU (RFC 8445 7.2: Binding requests with USERNAME,
// MESSAGE-INTEGRITY, FINGERPRINT, PRIORITY, ICE-CONTROLLING, USE-CANDIDATE; the SFU's own checks
// answered), the DTLS-SRTP client (sfu_dtls.hpp), then media: a publisher sends VP8-shaped video
// (keyframe first and on PLI/FIR) and optionally Opus-shaped audio, with sender reports; a
// subscriber counts what arrives per SSRC (RFC 3550 A.1 extended sequence numbers) and sends
// receiver reports. Text and datagrams in with `now`, out through ParticipantSink.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "loadgen/sfu_dtls.hpp"
#include "sfu/srtp.hpp"
#include "turn/address.hpp"

namespace loadgen::sfuload {

class ParticipantSink {
 public:
  virtual ~ParticipantSink() = default;
  virtual void send_signal(uint32_t participant, const std::string& text) = 0;
  virtual void send_media(uint32_t participant, const turn::Endpoint& to, std::span<const uint8_t> datagram) = 0;
};

// What a publisher has sent on one track, readable by the subscribers' accounting.
struct SendCounter {
  uint32_t ssrc = 0;
  bool video = true;
  uint64_t sent = 0;       // RTP packets handed to the sink
  uint16_t next_seq = 0;   // the sequence number of the next one
  uint32_t publisher = 0;  // participant index
};

// One SSRC as a subscriber receives it.
struct ReceiveCounter {
  uint32_t ssrc = 0;
  uint64_t first_index = 0;  // the publisher's packet index of the first packet received
  uint64_t received = 0;     // decrypted packets (libsrtp drops replays)
  uint16_t max_seq = 0;      // RFC 3550 A.1
  uint32_t cycles = 0;
  uint32_t base_seq = 0;
};

struct ParticipantConfig {
  uint32_t index = 0;
  bool publisher = false;
  bool audio = false;                    // a publisher's second track
  std::string token;                     // the join JWT
  uint32_t video_ssrc = 0, audio_ssrc = 0, rtcp_ssrc = 0;
  uint32_t video_pps = 60, video_payload = 1000;  // packets per second, bytes of payload each
  uint32_t fps = 30;
  uint64_t seed = 1;                     // ICE credentials, tie-breaker, transaction ids, mask keys
  int64_t connect_timeout_ms = 30'000;   // from signal_opened() to SRTP keys
  int64_t report_interval_ms = 1'000;    // SR / RR
};

class Participant {
 public:
  enum class State : uint8_t { Idle, Signalling, Ice, Dtls, Connected, Failed, Done };

  // `senders`: every publisher's send counters by SSRC (the subscriber's accounting), owned by the caller.
  Participant(ParticipantConfig cfg, const DtlsClientContext& dtls, ParticipantSink& sink,
              const std::map<uint32_t, const SendCounter*>& senders);
  ~Participant();
  Participant(const Participant&) = delete;
  Participant& operator=(const Participant&) = delete;

  void signal_opened(int64_t now_ms);  // the WebSocket is up: join
  void signal_message(std::string_view text, int64_t now_ms);
  void signal_closed(std::string_view why, int64_t now_ms);
  void media(std::span<uint8_t> datagram, const turn::Endpoint& from, int64_t now_ms);
  void tick(int64_t now_ms);
  void stop_sending() { sending_ = false; }  // publishers: the run's media phase is over
  void leave();                               // sends `leave`; the state becomes Done

  State state() const { return state_; }
  bool connected() const { return state_ == State::Connected; }
  const std::string& failure() const { return failure_; }  // why, when Failed
  const std::string& id() const { return id_; }             // the SFU's participant id once joined
  const ParticipantConfig& config() const { return cfg_; }
  std::span<const SendCounter> sending() const { return {send_.data(), send_count_}; }
  const std::map<uint32_t, ReceiveCounter>& receiving() const { return recv_; }
  // Packets not counted: undecryptable, or of an SSRC no publisher of this run sends.
  uint64_t undecryptable() const { return undecryptable_; }
  uint64_t plis() const { return plis_; }
  size_t subscribed_tracks() const { return remote_tracks_.size(); }
  int64_t connect_ms() const { return connect_ms_; }  // start to SRTP keys; -1 before
  static constexpr size_t kMaxRemoteTracks = 256;     // more track_published are ignored

 private:
  void fail(std::string why);
  void send_json(const std::string& text);
  void on_joined(const nlohmann::json& j);
  void add_remote_track(std::string id, bool video);
  void offer();
  void on_answer(std::string_view sdp, int64_t now_ms);
  void stun(std::span<const uint8_t> d, const turn::Endpoint& from, int64_t now_ms);
  void send_check(int64_t now_ms);
  bool answer_check(std::span<const uint8_t> d, const turn::Endpoint& from);
  void start_dtls(int64_t now_ms);
  void flush_dtls();
  void srtp(std::span<uint8_t> d);
  void rtcp_in(std::span<const uint8_t> d);
  void rtp_in(std::span<const uint8_t> d);
  void send_media_due(int64_t now_ms);
  void send_packet(SendCounter& c, int64_t now_ms);
  void send_reports(int64_t now_ms);
  void protect_and_send(size_t len, bool rtcp);

  ParticipantConfig cfg_;
  const DtlsClientContext& dtls_ctx_;
  ParticipantSink& sink_;
  const std::map<uint32_t, const SendCounter*>& senders_;
  State state_ = State::Idle;
  std::string failure_, id_;
  uint64_t rng_;
  std::string ufrag_, pwd_, remote_ufrag_, remote_pwd_, remote_fingerprint_;
  std::optional<turn::Endpoint> target_;
  std::array<uint8_t, 12> txid_{};
  std::array<uint8_t, 8> tie_{};
  int64_t start_ms_ = 0, next_check_ms_ = 0, ice_ok_ms_ = -1, probe_answered_ms_ = -1, connect_ms_ = -1;
  int64_t media_start_ms_ = 0, next_report_ms_ = 0;
  std::unique_ptr<DtlsClient> dtls_;
  sfu::SrtpSessionPair srtp_;
  bool have_srtp_ = false, sending_ = true;
  // Publishing: up to two tracks (video, audio).
  std::array<SendCounter, 2> send_{};
  size_t send_count_ = 0;
  std::array<uint32_t, 2> timestamp_{};
  bool keyframe_wanted_ = true;
  uint64_t frame_packets_ = 0;  // video packets into the current frame
  // Subscribing: the remote tracks (mid order) and what arrives per SSRC.
  std::vector<std::pair<std::string, bool>> remote_tracks_;  // track id, video
  size_t offered_ = 0;                     // offers sent
  bool offer_in_flight_ = false, offer_dirty_ = false;
  std::map<uint32_t, ReceiveCounter> recv_;
  uint64_t undecryptable_ = 0, plis_ = 0;
  std::array<uint8_t, 1500> buf_{};
};

const char* to_string(Participant::State s);

}  // namespace loadgen::sfuload
