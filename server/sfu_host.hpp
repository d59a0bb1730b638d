// Hosts the SFU engine (sfu/engine.hpp) on its own thread: the one UDP media socket, the HTTP and
// WebSocket port (/signal, /sdk/turnpike.js, /demo/), and the engine's timer. All engine calls
// happen on that thread, so the engine needs no locks; metrics read its atomic counters.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/socket.h>

#include <array>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/datagram_batch.hpp"
#include "server/config.hpp"
#include "server/metrics.hpp"
#include "sfu/engine.hpp"
#include "server/admin.hpp"
#include "server/check_routes.hpp"
#include "sfu/signal_limits.hpp"

namespace turnpike {

class SfuHost final : public sfu::EngineSink {
 public:
  // Binds the media socket and the signalling port; throws std::runtime_error naming them.
  SfuHost(const Config& cfg, sfu::EngineConfig engine_cfg, std::shared_ptr<boost::asio::ssl::context> tls);
  ~SfuHost() override;
  void start();
  void stop();
  const sfu::EngineStats& stats() const { return engine_->stats(); }

  // Histogram observations go here (set before start()); RTT and loss by the participant's site.
  std::function<void(double)> on_join_seconds;
  std::function<void(const std::string& site, double)> on_rtt_seconds, on_loss_ratio, on_estimated_bitrate;
  // Per-site counts (set before start()): the site of a signalling client's address (the browser's
  // own network, even when its media comes through a relay), and a media session of that site
  // starting (from Unknown), reclassified, or ending (to Unknown).
  std::function<std::string(const turn::IpAddress&)> site_of;
  std::function<void(const std::string& site, sfu::Path from, sfu::Path to)> on_site_session;
  std::function<void(const turn::IpAddress&, const char*, const sfu::NatEvidence&)> on_nat_mapping;
  // POST and OPTIONS of /api/v1/call-reports on the signalling port (server/admin_call_reports.cpp),
  // on the host's thread; unset: 404.
  std::function<AdminServer::Response(const std::string& method, const std::string& body, const turn::IpAddress& from)>
      on_call_report;
  // GET /check/config and POST /api/v1/check-reports on the signalling port (server/check_routes.cpp),
  // on the host's thread; unset or nullopt: not served.
  std::function<std::optional<AdminServer::Response>(const CheckRequest&)> on_check;

  // sfu::EngineSink, on the host's thread.
  void send_media(const turn::Endpoint& to, std::span<const uint8_t> datagram) override;
  void send_signal(sfu::ConnectionId c, const std::string& json) override;
  void close_signal(sfu::ConnectionId c, const char* why) override;
  void signal_joined(sfu::ConnectionId c) override;
  void observe_join_seconds(double v) override { if (on_join_seconds) on_join_seconds(v); }
  void observe_rtt_seconds(sfu::ConnectionId c, double v) override { if (on_rtt_seconds) on_rtt_seconds(site(c), v); }
  void observe_loss_ratio(sfu::ConnectionId c, double v) override { if (on_loss_ratio) on_loss_ratio(site(c), v); }
  void observe_estimated_bitrate(sfu::ConnectionId c, double v) override {
    if (on_estimated_bitrate) on_estimated_bitrate(site(c), v);
  }
  void media_session_path(sfu::ConnectionId c, sfu::Path from, sfu::Path to) override;
  void nat_mapping(const turn::IpAddress& client, const char* m, const sfu::NatEvidence& e) override {
    if (on_nat_mapping) on_nat_mapping(client, m, e);
  }
  void residency_denied(const std::string& region) override;
  void residency_redirect(const std::string& to_region) override;
  void residency_ended(const std::string& client_region) override;
  void media_session_region(const std::string& client_region, bool drift, int delta) override;
  // Log lines sfu_join, sfu_join_refused, sfu_leave (sfu_events.cpp, docs/logs.md).
  void participant_joined(const ParticipantEvent& e) override;
  void join_refused(const ParticipantEvent& e) override;
  void participant_left(const ParticipantEvent& e) override;

  // Data residency counters (turnpike_residency_*, turnpike_sfu_region_sessions); set before start().
  void attach_metrics(Metrics* m) { metrics_ = m; }
  // The residency policy was reloaded: the engine re-admits every participant (on the host's thread).
  void residency_changed();
  // A reload (SIGHUP): new join-token keys, regions' signalling URLs and (with sfu.signal_tls) TLS
  // context for later connections; established WebSockets keep their TLS session. On the host's thread.
  void reload(std::vector<std::string> token_keys, std::map<std::string, std::string> region_signal_urls,
              std::shared_ptr<boost::asio::ssl::context> tls);

  // For the HTTP/WebSocket sessions.
  struct Signal {
    virtual ~Signal() = default;
    virtual void send(const std::string& text) = 0;
    virtual void close(const char* why) = 0;
    virtual void joined() = 0;  // lift the pre-join message limit and deadline
    virtual std::string client() const { return {}; }  // the peer's address, for logs
    virtual std::optional<turn::IpAddress> address() const { return std::nullopt; }  // for its site
  };
  // One admitted signalling connection's place under sfu.max_connections(_per_ip), held from accept
  // to close (moved from the HTTP session to the WebSocket one).
  class Ticket {
   public:
    Ticket(SfuHost* host, turn::IpAddress from) : host_(host), from_(from) {}
    Ticket(Ticket&& o) noexcept : host_(std::exchange(o.host_, nullptr)), from_(o.from_) {}
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket() {
      if (host_) host_->limits_.release(from_);
    }

   private:
    SfuHost* host_;
    turn::IpAddress from_;
  };
  const sfu::SignalLimits& limits() const { return limits_; }
  // A connection refused or closed by the limits (metric, and a log line at most every 10 s a reason).
  void signal_rejected(sfu::SignalReject why, const turn::IpAddress& from);
  sfu::ConnectionId signal_opened(std::shared_ptr<Signal> s);
  std::string signal_client(sfu::ConnectionId c) const;
  void signal_message(sfu::ConnectionId c, std::string_view text);
  void signal_closed(sfu::ConnectionId c, bool leaving = false);  // leaving: the client ended it (not 4000-4999, not a timeout)
  boost::asio::io_context& io() { return io_; }

  // The admin API (server/sessions.cpp): asked on the host's thread, answered through the future.
  std::future<std::vector<sfu::RoomInfo>> rooms(size_t max);
  std::future<std::optional<sfu::RoomInfo>> room(const std::string& name);
  std::future<std::optional<sfu::ParticipantInfo>> remove_participant(const std::string& room,
                                                                       const std::string& participant);

 private:
  void accept();
  void arm_media();
  void drain_media();
  void schedule_tick();

  static constexpr size_t kBatch = 32;
  static constexpr size_t kMaxDatagram = 2048;  // media datagrams are under the path MTU

  const Config& cfg_;
  // Before io_: sessions (and their tickets) may outlive the run loop until io_ is destroyed.
  sfu::SignalLimits limits_;
  std::array<int64_t, sfu::kSignalRejects> rejected_logged_ms_{};
  boost::asio::io_context io_;
  boost::asio::ip::udp::socket media_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer ticker_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::unique_ptr<sfu::Engine> engine_;
  std::unordered_map<sfu::ConnectionId, std::shared_ptr<Signal>> signals_;
  // The site of each connection, from its opening until it is closed and its media session ended.
  struct ConnectionSite {
    std::string site;
    bool open = true, session = false;
  };
  std::unordered_map<sfu::ConnectionId, ConnectionSite> sites_;
  std::string site(sfu::ConnectionId c) const;
  sfu::ConnectionId next_connection_ = 1;
  std::thread thread_;
  Metrics* metrics_ = nullptr;
  bool stopped_ = false;
  std::vector<uint8_t> rx_;
  std::array<mmsghdr, kBatch> msgs_{};
  std::array<iovec, kBatch> iovs_{};
  std::array<sockaddr_storage, kBatch> addrs_{};
  // Media the engine sends while a received batch is handled, flushed after it (send_media).
  DatagramBatch tx_{nullptr};
  bool batching_ = false;
};

}  // namespace turnpike
