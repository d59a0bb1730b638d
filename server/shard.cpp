#include "server/shard.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <netinet/in.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>

#include "common/json_text.hpp"
#include "server/allocation_record.hpp"
#include "server/event_log.hpp"
#include "server/io_guard.hpp"
#include "server/log.hpp"
#include "common/sockaddr.hpp"
#include "turn/crypto.hpp"

namespace turnpike {

using turn::Endpoint;
using turn::IpAddress;

namespace {


}  // namespace

turn::Now now() {
  using namespace std::chrono;
  int64_t wall_ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  int64_t mono_us = duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
  return {mono_us / 1000, wall_ms / 1000, wall_ms, mono_us};
}

// ---------------------------------------------------------------------------------------------
struct Shard::Acceptor {
  Acceptor(asio::io_context& io) : acceptor(io) {}
  asio::ip::tcp::acceptor acceptor;
  ListenConfig listen;
  bool closed = false;
};

struct Shard::Socket {
  Socket(asio::io_context& io) : sock(io) {}
  asio::ip::udp::socket sock;
  bool listener = false;
  TurnDtlsListener* dtls = nullptr;  // set on a DTLS listener's socket
  bool closed = false;
  Endpoint local;
  uint64_t handle = 0;
};

Shard::Shard(unsigned index, SharedState& shared)
    : index_(index),
      shared_(shared),
      ticker_(io_),
      next_handle_((uint64_t{index} << 48) + 1),
      poll_(io_),
      tx_([this](uint32_t t) { shared_.metrics.server_drop(ServerDrop::SendFailed, static_cast<turn::Transport>(t)); }),
      rx_(kBatch * kMaxDatagram) {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + strerror(errno));
  poll_.assign(epfd_);
  const Config& c = shared.config;
  turn::CoreConfig cc = c.core;
  core_ = std::make_unique<turn::Core>(cc, shared.auth, shared.policy, shared.quotas, *this, *this,
                                       uint64_t{index} << 48);
  core_->set_flow_registry(shared.flows);
  core_->set_site_resolver([&sites = shared.sites](const turn::IpAddress& a) { return sites.site_of(a); });
  for (size_t i = 0; i < kBatch; ++i) {
    iovs_[i] = {rx_.data() + i * kMaxDatagram, kMaxDatagram};
    msgs_[i].msg_hdr.msg_iov = &iovs_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
    msgs_[i].msg_hdr.msg_name = &addrs_[i];
  }
}

Shard::~Shard() {
  if (thread_.joinable()) {
    stop();
    join();
  }
}

std::shared_ptr<Shard::Socket> Shard::adopt(int fd, bool listener, const Endpoint& local, uint64_t handle) {
  auto s = std::make_shared<Socket>(io_);
  boost::system::error_code ec;
  s->sock.assign(local.address.is_v4() ? asio::ip::udp::v4() : asio::ip::udp::v6(), fd, ec);
  if (ec) {
    ::close(fd);
    return nullptr;
  }
  s->listener = listener;
  s->local = local;
  s->handle = handle;
  return s;
}

void Shard::bind_listeners() {
  for (const auto& l : shared_.config.all_listeners()) {
    if (l.transport == turn::Transport::Tcp || l.transport == turn::Transport::Tls) bind_stream_listener(l);
    else if (l.transport == turn::Transport::Udp || l.transport == turn::Transport::Dtls) bind_datagram_listener(l);
  }
}

// A TCP or TLS listener: an Asio acceptor on a SO_REUSEPORT socket shared by every shard.
void Shard::bind_stream_listener(const ListenConfig& l) {
  auto a = std::make_shared<Acceptor>(io_);
  a->listen = l;
  boost::system::error_code ec;
  asio::ip::tcp::endpoint ep(asio::ip::make_address(l.endpoint.address.to_string()), l.endpoint.port);
  a->acceptor.open(ep.protocol(), ec);
  int one = 1;
  if (!ec) {
    setsockopt(a->acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    a->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (ep.address().is_v6()) setsockopt(a->acceptor.native_handle(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (!ec) a->acceptor.bind(ep, ec);
  if (!ec) a->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on " + std::string(turn::to_string(l.transport)) + " " +
                                   l.endpoint.to_string() + ": " + ec.message());
  acceptors_.push_back(a);
}

// A UDP or DTLS listener: a non-blocking SO_REUSEPORT datagram socket on this shard's epoll set;
// a DTLS one also gets its TurnDtlsListener.
void Shard::bind_datagram_listener(const ListenConfig& l) {
  sockaddr_storage ss;
  socklen_t len = to_sockaddr(l.endpoint, ss);
  int fd = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0) throw std::runtime_error("socket(): " + std::string(strerror(errno)));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  int buf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    int e = errno;
    ::close(fd);
    throw std::runtime_error("cannot listen on udp " + l.endpoint.to_string() + ": " + strerror(e));
  }
  auto s = adopt(fd, true, l.endpoint, 0);
  if (!s) throw std::runtime_error("cannot adopt listener socket");
  if (l.transport == turn::Transport::Dtls) {
    dtls_.push_back(std::make_unique<TurnDtlsListener>(fd, l.endpoint, &SharedState::current_dtls, &shared_, *core_,
                                                       dtls_limits(l.transport)));
    s->dtls = dtls_.back().get();
  }
  listeners_.push_back(s);
}

// TURN over DTLS obeys the same connection limits as TCP and TLS (limits.*).
TurnDtlsListener::Limits Shard::dtls_limits(turn::Transport transport) {
  TurnDtlsListener::Limits lim;
  lim.idle_timeout = [this] { return shared_.connections.idle_timeout_ms(); };
  lim.acquire = [this, transport](const IpAddress& a) {
    auto v = shared_.connections.acquire(a);
    if (v != ConnectionPolicy::Verdict::Admit) shared_.connection_refused(v, Endpoint{a, 0}, transport);
    return v == ConnectionPolicy::Verdict::Admit;
  };
  lim.release = [this](const IpAddress& a) { shared_.connections.release(a); };
  lim.allocate_overdue = [this](int64_t since, int64_t now_ms, bool allocated) {
    return shared_.connections.allocate_overdue(since, now_ms, allocated);
  };
  lim.on_allocate_overdue = [this] { shared_.metrics.connection_unallocated_closed(); };
  return lim;
}

void Shard::start_thread() {
  for (auto& s : listeners_) watch(*s);
  arm_poll();
  for (auto& a : acceptors_) accept(a);
  schedule_tick();
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(io_);
    run_guarded(io_, "shard", [this] { shared_.metrics.internal_error(Metrics::Component::Shard); });
  });
}

void Shard::stop(turn::EndReason why) {
  asio::post(io_, [this, why] {
    core_->shutdown(now(), why);
    for (auto& s : listeners_) {
      unwatch(*s);
      s->closed = true;
      boost::system::error_code ec;
      s->sock.close(ec);
    }
    for (auto& a : acceptors_) {
      a->closed = true;
      boost::system::error_code ec;
      a->acceptor.close(ec);
    }
    for (auto& d : dtls_) d->close_all(now());
    std::vector<std::shared_ptr<StreamConnection>> open;
    for (auto& [_, c] : streams_) open.push_back(c);
    for (auto& c : open) c->close("shutdown");
    ticker_.cancel();
    boost::system::error_code pec;
    poll_.cancel(pec);
    io_.stop();
  });
}

void Shard::join() {
  if (thread_.joinable()) thread_.join();
}

void Shard::accept(const std::shared_ptr<Acceptor>& a) {
  a->acceptor.async_accept([this, a](const boost::system::error_code& ec, asio::ip::tcp::socket sock) {
    if (a->closed) return;
    if (ec && ec != asio::error::operation_aborted) {
      // Out of descriptors or similar: say so, and pause accepting briefly instead of spinning.
      log::warn("accept_failed", {log::str("error", ec.message())});
      auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
      t->async_wait([this, a, t](const boost::system::error_code&) { if (!a->closed) accept(a); });
      return;
    }
    accept(a);  // first: an exception below (run_guarded survives it) must not stop the listener
    if (ec) return;
    admit(*a, std::move(sock));
  });
}

// An accepted connection: refused at once over limits.max_connections(_per_ip), else a session.
void Shard::admit(const Acceptor& a, asio::ip::tcp::socket sock) {
  boost::system::error_code e2;
  auto remote = sock.remote_endpoint(e2);
  if (e2) return sock.close(e2);
  auto bytes = remote.address().is_v4() ? IpAddress::parse(remote.address().to_v4().to_string())
                                        : IpAddress::parse(remote.address().to_v6().to_string());
  Endpoint client{bytes ? bytes->unmapped() : IpAddress{}, remote.port()};
  turn::FiveTuple ft{client, a.listen.endpoint, a.listen.transport};
  auto verdict = shared_.connections.acquire(client.address);
  if (verdict != ConnectionPolicy::Verdict::Admit) {
    shared_.connection_refused(verdict, client, a.listen.transport);
    return sock.close(e2);
  }
  std::shared_ptr<asio::ssl::context> tls;
  if (a.listen.transport == turn::Transport::Tls) tls = shared_.tls.current();
  start_stream_session(*this, std::move(sock), ft, tls);
}

void Shard::stream_opened(const turn::FiveTuple& ft, std::shared_ptr<StreamConnection> c) {
  if (streams_.insert_or_assign(ft, std::move(c)).second) shared_.streams.opened(ft.transport);
}

void Shard::stream_closed(const turn::FiveTuple& ft) {
  auto it = streams_.find(ft);
  if (it == streams_.end()) return;
  core_->connection_closed(ft, now());
  shared_.connections.release(ft.client.address);
  shared_.streams.closed(ft.transport);
  streams_.erase(it);
}

void Shard::schedule_tick() {
  ticker_.expires_after(std::chrono::seconds(1));
  ticker_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    schedule_tick();  // first: the shard keeps ticking if this tick throws (run_guarded logs it)
    auto t = now();
    core_->tick(t);
    for (auto& d : dtls_) d->tick(t);
    if (index_ == 0) shared_.reservations.expire(t.mono_ms);
  });
}

void Shard::watch(Socket& s) {
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: a socket left with datagrams (budget) is reported again
  ev.data.ptr = &s;
  ::epoll_ctl(epfd_, EPOLL_CTL_ADD, s.sock.native_handle(), &ev);
}

void Shard::unwatch(Socket& s) {
  if (s.sock.is_open()) ::epoll_ctl(epfd_, EPOLL_CTL_DEL, s.sock.native_handle(), nullptr);
}

void Shard::arm_poll() {
  poll_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
    if (ec) return;
    // Re-armed also when a handler below throws (run_guarded logs it): UDP must keep flowing.
    struct Rearm {
      Shard* s;
      ~Rearm() {
        s->polling_ = false;
        s->arm_poll();
      }
    } rearm{this};
    poll_ready();
  });
}

// Drains every ready socket, then sends what the core queued for clients in one sendmmsg.
void Shard::poll_ready() {
  std::array<epoll_event, kReadyBatch> events;
  polling_ = true;
  for (int round = 0; round < 4; ++round) {
    int n = ::epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), 0);
    for (int i = 0; i < n; ++i) {
      auto* s = static_cast<Socket*>(events[i].data.ptr);
      if (!s->closed) drain(*s);  // closed earlier in this list: kept alive in graveyard_
    }
    tx_.flush();
    if (n < static_cast<int>(events.size())) break;
  }
  polling_ = false;
  graveyard_.clear();
}

// Reads what is queued on a socket in batches (recvmmsg) and hands each datagram to the core.
void Shard::drain(Socket& s) {
  int fd = s.sock.native_handle();
  size_t handled = 0;
  while (handled < kDrainBudget && !s.closed) {
    for (size_t i = 0; i < kBatch; ++i) {
      msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      msgs_[i].msg_hdr.msg_flags = 0;
    }
    int n = ::recvmmsg(fd, msgs_.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    auto t = now();
    for (int i = 0; i < n && !s.closed; ++i) {
      Endpoint from;
      if (!from_sockaddr(addrs_[i], from) || (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC)) continue;
      std::span<const uint8_t> data(rx_.data() + i * kMaxDatagram, msgs_[i].msg_len);
      if (s.dtls) {
        s.dtls->on_datagram(from, data, t);
      } else if (s.listener) {
        turn::FiveTuple ft{from, s.local, turn::Transport::Udp};
        core_->handle(data, ft, t);
      } else {
        core_->handle_peer(s.handle, from, data, t);
      }
    }
    handled += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < kBatch) return;
  }
}

void Shard::to_client(const turn::FiveTuple& to, std::span<const std::span<const uint8_t>> parts) {
  if (to.transport == turn::Transport::Tcp || to.transport == turn::Transport::Tls) {
    auto it = streams_.find(to);
    if (it != streams_.end()) it->second->send(parts);
    return;
  }
  if (to.transport == turn::Transport::Dtls) {
    for (auto& d : dtls_)
      if (d->local() == to.server) return d->send(to, parts);
    return;
  }
  int fd = -1;
  for (const auto& l : listeners_)
    if (l->local == to.server) { fd = l->sock.native_handle(); break; }
  if (fd < 0) return;
  tx_.queue(fd, to.client, parts, static_cast<uint32_t>(to.transport));
  if (!polling_) tx_.flush();  // outside a ready list (timers): send at once
}

void Shard::to_peer(uint64_t handle, const Endpoint& peer, std::span<const uint8_t> data) {
  auto it = relays_.find(handle);
  if (it == relays_.end()) return;
  sockaddr_storage ss;
  socklen_t len = to_sockaddr(peer, ss);
  if (::sendto(it->second->sock.native_handle(), data.data(), data.size(), MSG_DONTWAIT,
               reinterpret_cast<sockaddr*>(&ss), len) >= 0)
    return;
  bool too_big = errno == EMSGSIZE;  // DONT-FRAGMENT and over the path MTU the kernel knows
  auto transport = core_->peer_send_failed(handle, too_big);
  shared_.metrics.server_drop(too_big ? ServerDrop::TooBig : ServerDrop::SendFailed, transport.value_or(turn::Transport::Udp));
}

std::future<std::vector<turn::Allocation>> Shard::snapshot() {
  auto promise = std::make_shared<std::promise<std::vector<turn::Allocation>>>();
  auto future = promise->get_future();
  asio::post(io_, [this, promise] {
    std::vector<turn::Allocation> out;
    out.reserve(core_->allocation_count());
    core_->for_each_allocation([&](const turn::Allocation& a) { out.push_back(a); });
    promise->set_value(std::move(out));
  });
  return future;
}

void Shard::request_done(turn::stun::Method m, int code, turn::Transport t, bool challenge) {
  shared_.metrics.request_done(m, code, t, challenge);
}

void Shard::flow_gap(const turn::IpAddress& client, turn::GapOutcome outcome, int64_t gap_ms) {
  bool survived = outcome == turn::GapOutcome::Survived;
  double seconds = static_cast<double>(gap_ms) / 1000.0;
  std::string site = shared_.sites.site_of(client);
  shared_.metrics.flow_gap(survived, seconds);
  shared_.idle_timers.gap(site, survived, seconds);
  if (!survived) {
    shared_.metrics.rebinding(site);
    log::info("rebinding", {log::str("client", client.to_string()), log::str("site", site), log::num("silent_ms", gap_ms)});
  }
}

void Shard::session_lost(const turn::IpAddress& client, turn::LossCause cause, int64_t age_ms) {
  double age = static_cast<double>(age_ms) / 1000.0;
  std::string site = shared_.sites.site_of(client);
  shared_.metrics.session_lost(turn::to_string(cause), age);
  shared_.idle_timers.loss(site, turn::to_string(cause), age);
}

void Shard::auth_failed(turn::AuthFailure f) { shared_.metrics.auth_failed(f); }

void Shard::answered(const turn::Answer& a) { events::turn_answer(a); }

void Shard::residency_denied(turn::ResidencyDenial kind, const std::string& region) {
  shared_.metrics.residency_denied(kind, region);
}

void Shard::reload(std::shared_ptr<const turn::Authenticator> auth, std::shared_ptr<const turn::PeerPolicy> policy,
                   const turn::CoreConfig& limits) {
  asio::post(io_, [this, auth = std::move(auth), policy = std::move(policy), limits] {
    core_->set_auth(auth);
    core_->set_peer_policy(policy);
    core_->set_limits(limits);
  });
}

void Shard::set_regions(std::shared_ptr<const turn::RegionPolicy> regions) {
  asio::post(io_, [this, regions] { core_->set_regions(regions, now()); });
}

void Shard::set_drain(std::vector<turn::TurnUri> alternates) {
  asio::post(io_, [this, alternates = std::move(alternates)]() mutable { core_->set_drain(std::move(alternates)); });
}

uint64_t Shard::allocation_count() const {
  uint64_t n = 0;
  for (const auto& per_transport : core_->stats().allocations)
    for (const auto& c : per_transport) n += c.get();
  return n;
}

void Shard::residency_redirect(const std::string& to_region) { shared_.metrics.residency_redirect(to_region); }

void Shard::quality_sample(const turn::Allocation& a, const turn::MediaQuality::Sample& s) {
  shared_.metrics.quality_sample(a, s);
}

void Shard::allocation_created(const turn::Allocation& a) {
  shared_.metrics.allocation_created(a);
  for (size_t i = 0; i < a.relay_count; ++i)
    shared_.relay_directory.add(bound_for(a.relays[i].address), {a.five_tuple.transport, a.client_region, a.drift});
  log::info("allocation_created", {log::str("id", std::to_string(a.id)), log::str("user", events::user(a.user)),
                                   log::str("client", a.five_tuple.client.to_string()),
                                   log::str("transport", turn::to_string(a.five_tuple.transport)),
                                   log::str("relayed", a.relayed_list()),
                                   log::num("lifetime_s", a.lifetime_s),
                                   log::str("region", shared_.config.region)});
}

void Shard::allocation_ended(const turn::Allocation& a, turn::EndReason why, int64_t now_ms) {
  shared_.metrics.allocation_ended(a, why, now_ms);
  for (size_t i = 0; i < a.relay_count; ++i) shared_.relay_directory.remove(bound_for(a.relays[i].address));
  auto t = now();
  t.mono_ms = now_ms;
  auto regions = shared_.regions();
  auto live = shared_.live.get();
  RecordContext ctx{shared_.config.region, live->auth.realm, t, why, regions.get()};
  auto record = allocation_record(a, ctx);
  events::redact_record(record);  // log.redact_users
  log::info("allocation_ended", {log::str("end_reason", turn::to_string(why)),
                                 log::str("region", shared_.config.region),
                                 log::json("allocation", safe_dump(record))});
}

int Shard::bind_relay_fd(const IpAddress& addr, uint16_t port, bool dont_fragment) {
  sockaddr_storage ss;
  socklen_t len = to_sockaddr(Endpoint{addr, port}, ss);
  int fd = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (ss.ss_family == AF_INET6) {
    int one = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    ::close(fd);
    return -1;
  }
  if (dont_fragment) {  // RFC 8656 7.2 DONT-FRAGMENT: set DF on what we send to peers
    int v = IP_PMTUDISC_DO;
    if (ss.ss_family == AF_INET) setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof v);
    else setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, sizeof v);
  }
  return fd;
}

turn::RelayProvider::Error Shard::open(const Request& req, Opened& out) {
  const auto& c = shared_.config;
  std::vector<size_t> candidates;
  for (size_t i = 0; i < c.relay_addresses.size(); ++i)
    if (c.relay_addresses[i].family == req.family) candidates.push_back(i);
  if (candidates.empty()) return Error::NoAddressForFamily;
  size_t index = candidates[next_relay_address_++ % candidates.size()];
  const IpAddress& addr = c.relay_addresses[index];
  // Behind a 1:1 NAT the relayed address clients and peers see is the external one.
  const IpAddress& advertised = c.relay_external_addresses.empty() ? addr : c.relay_external_addresses[index];
  thread_local std::mt19937 rng{std::random_device{}()};
  uint32_t span = uint32_t{c.relay_port_max} - c.relay_port_min + 1;
  // Random ports (RFC 8656 7.2 recommends unpredictable ones), then give up: the range is full.
  for (int attempt = 0; attempt < 128; ++attempt) {
    uint32_t port = c.relay_port_min + rng() % span;
    if (req.even_port) port &= ~1u;
    if (port < c.relay_port_min || (req.reserve_next && port + 1 > c.relay_port_max)) continue;
    int fd = bind_relay_fd(addr, static_cast<uint16_t>(port), req.dont_fragment);
    if (fd < 0) continue;
    if (req.reserve_next) {
      int fd2 = bind_relay_fd(addr, static_cast<uint16_t>(port + 1), false);
      if (fd2 < 0) { ::close(fd); continue; }
      // Held as long as the core counts it against the user's quota (req.hold_until_ms).
      int64_t until = req.hold_until_ms ? req.hold_until_ms : now().mono_ms + Reservations::kHoldMs;
      out.token = shared_.reservations.put(fd2, Endpoint{addr, static_cast<uint16_t>(port + 1)}, until);
    }
    uint64_t handle = next_handle_++;
    auto s = adopt(fd, false, Endpoint{addr, static_cast<uint16_t>(port)}, handle);
    if (!s) return Error::Exhausted;
    relays_[handle] = s;
    watch(*s);
    out.handle = handle;
    out.address = Endpoint{advertised, static_cast<uint16_t>(port)};
    return Error::None;
  }
  return Error::Exhausted;
}

turn::RelayProvider::Error Shard::open_reserved(const turn::stun::ReservationToken& token, bool dont_fragment,
                                                Opened& out) {
  int fd;
  Endpoint ep;
  if (!shared_.reservations.take(token, fd, ep)) return Error::UnknownToken;
  if (dont_fragment) {
    int v = IP_PMTUDISC_DO;
    if (ep.address.is_v4()) setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof v);
  }
  uint64_t handle = next_handle_++;
  auto s = adopt(fd, false, ep, handle);
  if (!s) return Error::Exhausted;
  relays_[handle] = s;
  watch(*s);
  out.handle = handle;
  out.address = advertised_for(ep);
  return Error::None;
}

Endpoint Shard::advertised_for(const Endpoint& local) const {
  const auto& c = shared_.config;
  for (size_t i = 0; i < c.relay_external_addresses.size(); ++i)
    if (c.relay_addresses[i] == local.address) return Endpoint{c.relay_external_addresses[i], local.port};
  return local;
}

Endpoint Shard::bound_for(const Endpoint& advertised) const {
  const auto& c = shared_.config;
  for (size_t i = 0; i < c.relay_external_addresses.size(); ++i)
    if (c.relay_external_addresses[i] == advertised.address) return Endpoint{c.relay_addresses[i], advertised.port};
  return advertised;
}

void Shard::close(uint64_t handle) {
  auto it = relays_.find(handle);
  if (it == relays_.end()) return;
  unwatch(*it->second);
  it->second->closed = true;
  boost::system::error_code ec;
  it->second->sock.close(ec);
  if (polling_) graveyard_.push_back(it->second);  // a later entry of the ready list may name it
  relays_.erase(it);
}

}  // namespace turnpike
