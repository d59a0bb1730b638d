// `turnpike-loadgen sfu`'s orchestrator, sans-I/O: rooms of synthetic participants
// (sfu_participant.hpp), P publishers and S subscribers each, against one SFU. Publishers join
// first; once they are connected the subscribers join (paced); once everyone is connected or has
// failed, media runs for `duration`, then publishers stop, in-flight packets drain and everyone
// leaves. The report counts, per subscriber and per publisher track, the packets the publisher sent
// from the first one the subscriber received to its last (expected) against those received. The
// driver owns the sockets and the clock: it implements SfuSink and feeds back what arrives.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loadgen/sfu_participant.hpp"

namespace loadgen::sfuload {

inline constexpr uint32_t kMaxParticipants = 1000;     // rooms x (publishers + subscribers)
inline constexpr int64_t kMaxDurationMs = 600'000;     // the media phase (also keeps sequence numbers from wrapping)

struct RunConfig {
  std::string region;             // the token's region: the SFU's
  std::string token_key;          // HS256 key (one of the SFU's sfu.token_keys)
  std::string room = "loadgen";   // the room, or the rooms' prefix (ROOM-1 ... ROOM-N)
  uint32_t rooms = 1, publishers = 1, subscribers = 4;
  bool audio = false;             // publishers send an audio track too
  uint32_t video_kbps = 500, video_pps = 60;
  uint32_t join_rate = 50;        // participants started per second
  int64_t duration_ms = 10'000;   // media with everyone connected
  int64_t drain_ms = 1'000;       // after publishers stop, before counting
  int64_t connect_timeout_ms = 30'000;
  double max_loss_pct = 0;        // a subscriber losing more fails the run
  int64_t start_unix = 0;         // wall clock at start (tokens, the certificate)
  uint64_t seed = 1;
  nlohmann::json meta;            // copied into the report (command, signal URL, version)

  uint32_t participants() const { return rooms * (publishers + subscribers); }
  uint32_t video_payload() const;  // bytes per video packet, from kbps and pps
};

class SfuSink : public ParticipantSink {
 public:
  virtual void open_signal(uint32_t participant) = 0;   // connect and do the WebSocket handshake
  virtual void close_signal(uint32_t participant) = 0;  // after its last message
  virtual double cpu_seconds() { return 0; }            // the process's user + system CPU so far
};

class SfuEngine {
 public:
  enum class Phase : uint8_t { Publishers, Subscribers, Media, Drain, Finished };
  struct Progress {
    Phase phase = Phase::Publishers;
    uint32_t started = 0, connected = 0, failed = 0;
    uint64_t sent = 0, received = 0;
  };

  // Throws std::runtime_error if OpenSSL cannot make the certificate (start-up only).
  SfuEngine(RunConfig cfg, SfuSink& sink);
  ~SfuEngine();
  SfuEngine(const SfuEngine&) = delete;
  SfuEngine& operator=(const SfuEngine&) = delete;

  void start(int64_t now_ms);
  void signal_opened(uint32_t p, int64_t now_ms);
  void signal_message(uint32_t p, std::string_view text, int64_t now_ms);
  void signal_closed(uint32_t p, std::string_view why, int64_t now_ms);
  void media(uint32_t p, std::span<uint8_t> datagram, const turn::Endpoint& from, int64_t now_ms);
  void tick(int64_t now_ms);
  void stop(int64_t now_ms);  // a signal: straight to the drain

  bool finished() const { return phase_ == Phase::Finished; }
  Progress progress() const;
  size_t size() const { return parts_.size(); }
  const Participant& participant(uint32_t p) const { return *parts_[p]; }
  nlohmann::json report() const;  // report.json (docs/loadgen.md, "sfu")
  static int exit_status(const nlohmann::json& report);  // 0 ok, 1 failures or loss over the bound

 private:
  void start_some(uint32_t from, uint32_t to, int64_t now_ms);
  bool settled(uint32_t from, uint32_t to) const;
  void advance(int64_t now_ms);
  nlohmann::json subscriber_json(const Participant& s, nlohmann::json& totals, std::vector<std::string>& reasons) const;

  RunConfig cfg_;
  SfuSink& sink_;
  std::unique_ptr<DtlsClientContext> dtls_;
  std::vector<std::unique_ptr<Participant>> parts_;
  std::vector<std::string> rooms_;  // per participant
  std::vector<bool> opened_;
  std::map<uint32_t, const SendCounter*> senders_;
  std::vector<uint32_t> order_;  // publishers of every room, then subscribers
  uint32_t n_publishers_ = 0, next_start_ = 0;
  Phase phase_ = Phase::Publishers;
  int64_t start_ms_ = 0, phase_ms_ = 0, media_ms_ = 0, end_ms_ = 0;
  double cpu_start_ = 0, cpu_media_start_ = 0, cpu_media_end_ = 0;
  bool stopped_ = false;
};

}  // namespace loadgen::sfuload
