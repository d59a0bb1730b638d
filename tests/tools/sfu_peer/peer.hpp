// One SFU participant for tests (tests/tools/README.md): joins a room over the signalling WebSocket
// (sfu/PROTOCOL.md, Boost.Beast), offers one audio or video section, nominates the SFU's candidate
// with ICE checks (and answers the SFU's own checks), runs the DTLS-SRTP client, then publishes,
// receives, or attacks as its mode says. Single-threaded on one io_context, bounded by --duration.
#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include "dtls_client.hpp"
#include "turn/address.hpp"

namespace peer {

enum class Mode { Publish, Subscribe, NackFlood, SpoofCheck, SsrcHijack };

struct Options {
  std::string signal;  // host:port of sfu.signal_listen
  std::string token;
  Mode mode = Mode::Publish;
  double duration_s = 10;
  bool video = true;
  uint32_t ssrc = 0;          // ours when publishing (0: random); ssrc-hijack: the victim's
  int rate = 50;              // RTP packets per second when publishing
  size_t payload = 1000;      // RTP payload bytes
  std::string from_identity;  // subscribe to the first track of this identity ("": anyone's)
  std::string bind = "127.0.0.1";
  // nack-flood: compounds per second, bytes per compound (before SRTCP), start after this much media.
  int nack_per_s = 10;
  size_t nack_bytes = 2000;
  double nack_after_s = 1.0;
  // spoof-check: checks with USE-CANDIDATE sent from `victim` (raw socket), this long after DTLS.
  std::string victim;
  double spoof_after_s = 2.0;
  int spoof_count = 3;
};

struct Counters {
  uint64_t bytes_sent = 0, bytes_received = 0, packets_sent = 0, packets_received = 0;
  uint64_t rtp_sent = 0, rtp_received = 0, rtp_bytes_received = 0, rtp_duplicates = 0, rtp_duplicate_bytes = 0;
  uint64_t rtp_unprotect_failures = 0, rtcp_received = 0, rtcp_sent = 0;
  uint64_t nack_compounds_sent = 0, nack_bytes_sent = 0, nack_seqs_requested = 0;
  uint64_t stun_checks_sent = 0, stun_responses = 0, stun_requests_answered = 0, stun_requests_refused = 0;
  uint64_t spoofed_sent = 0, rtp_received_after_spoof = 0, rtp_bytes_received_after_spoof = 0;
  std::map<uint32_t, uint64_t> rtp_by_ssrc;
};

class Peer {
 public:
  Peer(boost::asio::io_context& ioc, Options opts);
  bool start(std::string& error);  // connects and joins; then run the io_context
  nlohmann::json report() const;

 private:
  using Clock = std::chrono::steady_clock;
  double elapsed_ms() const;
  // signalling (peer.cpp)
  void read_signal();
  void send_signal(const nlohmann::json& msg);
  void write_next();
  void on_signal(const nlohmann::json& msg);
  void consider_tracks(const nlohmann::json& participant_id, const nlohmann::json& identity, const nlohmann::json& tracks);
  void send_offer();
  void on_answer(const std::string& sdp);
  // media (media.cpp)
  void receive();
  void on_datagram(uint8_t* data, size_t len, const boost::asio::ip::udp::endpoint& from);
  void on_stun(const uint8_t* data, size_t len, const boost::asio::ip::udp::endpoint& from);
  void on_srtp(uint8_t* data, size_t len);
  void tick();
  void send_udp(const std::vector<uint8_t>& dg);
  void send_check(bool nominate);
  void send_rtp();
  void send_nack_flood();
  void send_spoofed_check();
  void flush_dtls();
  void finish();

  boost::asio::io_context& ioc_;
  Options opts_;
  Clock::time_point t0_;
  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws_;
  boost::beast::flat_buffer rbuf_;
  std::deque<std::string> outbox_;
  bool writing_ = false, closing_ = false, finished_ = false;
  boost::asio::ip::udp::socket udp_;
  boost::asio::ip::udp::endpoint from_;
  std::vector<uint8_t> rx_ = std::vector<uint8_t>(65536);
  boost::asio::steady_timer timer_;
  DtlsClient dtls_;

  // Session state.
  std::string participant_, ufrag_, pwd_;
  uint32_t local_ssrc_ = 0;  // our RTCP sender SSRC (and media SSRC when publishing)
  std::string track_;        // the track we subscribe to
  bool offered_ = false, answered_ = false, offer_refused_ = false, subscription_inactive_ = false;
  bool ice_ok_ = false, dtls_started_ = false, fingerprint_ok_ = false, signal_closed_ = false;
  std::string remote_ufrag_, remote_pwd_, remote_fingerprint_;
  std::optional<boost::asio::ip::udp::endpoint> sfu_;
  std::vector<nlohmann::json> errors_;
  double answered_ms_ = -1, ice_ms_ = -1, dtls_ms_ = -1, spoof_ms_ = -1, last_check_ms_ = -1e9;
  double next_rtp_ms_ = 0, next_nack_ms_ = 0;
  uint16_t seq_ = 0;
  uint32_t ts_ = 0;
  std::map<uint32_t, std::vector<bool>> seen_;  // received sequence numbers per SSRC
  std::map<uint32_t, uint16_t> highest_;
  std::vector<uint64_t> timeline_;              // RTP packets received per kBucketMs
  Counters c_;
};

}  // namespace peer
