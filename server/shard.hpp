// One I/O shard: an io_context on its own thread, its own SO_REUSEPORT sockets for every UDP
// listener, the relay sockets of the allocations it owns, and one turn::Core. The kernel hashes a
// client's 5-tuple to one listener socket, so all of an allocation's traffic stays on one thread:
// no locks on the data path.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "server/datagram_batch.hpp"
#include "server/config.hpp"
#include "server/connection_policy.hpp"
#include "server/turn_dtls.hpp"
#include "server/metrics.hpp"
#include "server/shared_state.hpp"
#include "server/sites.hpp"
#include "server/idle_timers.hpp"
#include "server/stream_session.hpp"
#include "server/tls.hpp"
#include "turn/core.hpp"

namespace turnpike {

namespace asio = boost::asio;

turn::Now now();

class Shard final : public turn::Sink, public turn::RelayProvider {
 public:
  Shard(unsigned index, SharedState& shared);
  ~Shard() override;
  // Binds this shard's listener sockets; throws std::runtime_error naming the address on failure.
  void bind_listeners();
  void start_thread();
  // Ends all allocations (logged with reason `why`: shutdown, or drain_timeout) and stops the
  // thread; call from any thread.
  void stop(turn::EndReason why = turn::EndReason::Shutdown);
  // Drain (server/drain.hpp): new Allocates go to `alternates` (300) or get 403; from any thread.
  void set_drain(std::vector<turn::TurnUri> alternates);
  // Live allocations on this shard (its core's gauges); from any thread.
  uint64_t allocation_count() const;
  void join();

  // For stream sessions (on this shard's thread).
  asio::io_context& io() { return io_; }
  turn::Core& core() { return *core_; }
  const Config& config() const { return shared_.config; }
  int64_t now_ms() const { return now().mono_ms; }
  void stream_opened(const turn::FiveTuple& ft, std::shared_ptr<StreamConnection> c);
  void stream_closed(const turn::FiveTuple& ft);

  // turn::Sink
  void to_client(const turn::FiveTuple& to, std::span<const std::span<const uint8_t>> parts) override;
  void to_peer(uint64_t relay_handle, const turn::Endpoint& peer, std::span<const uint8_t> data) override;
  void allocation_created(const turn::Allocation& a) override;
  void quality_sample(const turn::Allocation& a, const turn::MediaQuality::Sample& s) override;
  void allocation_ended(const turn::Allocation& a, turn::EndReason why, int64_t now_ms) override;
  void request_done(turn::stun::Method m, int code, turn::Transport t, bool challenge) override;
  void auth_failed(turn::AuthFailure f) override;
  void answered(const turn::Answer& a) override;
  void flow_gap(const turn::IpAddress& client, turn::GapOutcome outcome, int64_t gap_ms) override;
  void session_lost(const turn::IpAddress& client, turn::LossCause cause, int64_t age_ms) override;
  void refresh_failed(turn::RefreshFailure f) override { shared_.metrics.refresh_failed(f); }
  void residency_denied(turn::ResidencyDenial kind, const std::string& region) override;
  void residency_redirect(const std::string& to_region) override;
  void residency_ended(const std::string& client_region) override { shared_.metrics.residency_ended(client_region); }
  void residency_revoked(const std::string& client_region, size_t n) override {
    shared_.metrics.residency_revoked(client_region, n);
  }
  // Reloaded authentication, peer policy and limits (CoreConfig's limits.* fields), applied on this
  // shard's thread: the next datagram it handles sees them.
  void reload(std::shared_ptr<const turn::Authenticator> auth, std::shared_ptr<const turn::PeerPolicy> policy,
              const turn::CoreConfig& limits);
  // A reloaded residency policy, applied on this shard's thread.
  void set_regions(std::shared_ptr<const turn::RegionPolicy> regions);

  // Copies of this shard's live allocations, taken on its thread.
  std::future<std::vector<turn::Allocation>> snapshot();
  // Ends allocation `id` on this shard's thread (end_reason admin, the admin API): a copy of it as
  // it ended, or nullopt if this shard has none with that id (server/sessions.cpp).
  std::future<std::optional<turn::Allocation>> end_allocation(uint64_t id);
  const turn::CoreStats& stats() const { return core_->stats(); }
  Metrics& metrics() { return shared_.metrics; }
  const ConnectionPolicy& connections() const { return shared_.connections; }

  // turn::RelayProvider
  Error open(const Request& req, Opened& out) override;
  Error open_reserved(const turn::stun::ReservationToken& token, bool dont_fragment, Opened& out) override;
  void close(uint64_t handle) override;

 private:
  struct Socket;
  struct Acceptor;
  void accept(const std::shared_ptr<Acceptor>& a);
  void admit(const Acceptor& a, asio::ip::tcp::socket sock);
  void watch(Socket& s);
  void unwatch(Socket& s);
  void arm_poll();
  void poll_ready();
  void drain(Socket& s);
  void schedule_tick();
  std::shared_ptr<Socket> adopt(int fd, bool listener, const turn::Endpoint& local, uint64_t handle);
  void bind_stream_listener(const ListenConfig& l);
  void bind_datagram_listener(const ListenConfig& l);
  TurnDtlsListener::Limits dtls_limits(turn::Transport transport);
  turn::Endpoint advertised_for(const turn::Endpoint& local) const;
  turn::Endpoint bound_for(const turn::Endpoint& advertised) const;
  int bind_relay_fd(const turn::IpAddress& addr, uint16_t port, bool dont_fragment);

  static constexpr size_t kBatch = 32;             // datagrams per recvmmsg
  static constexpr size_t kReadyBatch = 64;        // ready sockets per epoll_wait
  static constexpr size_t kMaxDatagram = 65536;    // largest UDP payload we accept
  static constexpr size_t kDrainBudget = 256;      // datagrams per readiness before yielding

  unsigned index_;
  SharedState& shared_;
  asio::io_context io_;
  asio::steady_timer ticker_;
  std::unique_ptr<turn::Core> core_;
  std::vector<std::shared_ptr<Socket>> listeners_;
  std::unordered_map<uint64_t, std::shared_ptr<Socket>> relays_;
  std::vector<std::shared_ptr<Acceptor>> acceptors_;
  std::vector<std::unique_ptr<TurnDtlsListener>> dtls_;
  std::unordered_map<turn::FiveTuple, std::shared_ptr<StreamConnection>> streams_;
  uint64_t next_handle_;
  size_t next_relay_address_ = 0;
  std::thread thread_;
  // The shard's own epoll set: every UDP socket is registered once, and the set's descriptor is the
  // one thing the io_context waits on, so readiness costs no epoll_ctl per datagram.
  int epfd_ = -1;
  asio::posix::stream_descriptor poll_;
  std::vector<std::shared_ptr<Socket>> graveyard_;  // closed while a ready list may still name them
  bool polling_ = false;
  // Datagrams to clients, queued while a ready list is processed and sent with one sendmmsg (the
  // tag is the client's transport, for the drop counter).
  DatagramBatch tx_;
  // Receive batch, allocated once.
  std::vector<uint8_t> rx_;
  std::array<mmsghdr, kBatch> msgs_{};
  std::array<iovec, kBatch> iovs_{};
  std::array<sockaddr_storage, kBatch> addrs_{};
};

}  // namespace turnpike
