// The TURN/STUN protocol core (RFC 8489, RFC 8656), sans-I/O: bytes and a FiveTuple in, bytes out
// through a Sink; relayed transport addresses come from a RelayProvider; time comes from the caller.
// One Core per I/O shard: a client's 5-tuple always reaches the same shard, so a Core is single-threaded.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "turn/answer.hpp"
#include "turn/address.hpp"
#include "turn/allocation.hpp"
#include "turn/attributes.hpp"
#include "turn/flow_watch.hpp"
#include "turn/auth.hpp"
#include "turn/message.hpp"
#include "turn/peer_policy.hpp"
#include "turn/region_policy.hpp"
#include "turn/source_limiter.hpp"

namespace turn {

struct Now {
  int64_t mono_ms = 0;   // monotonic: lifetimes and expiry
  int64_t unix_s = 0;    // wall clock: TURN REST credential and nonce expiry
  int64_t unix_ms = 0;   // the same wall clock in milliseconds, for records (0: use unix_s)
  int64_t mono_us = 0;   // the monotonic clock in microseconds, for relay quality (0: use mono_ms)
  int64_t us() const { return mono_us ? mono_us : mono_ms * 1000; }
};

// NAT behavior discovery (RFC 5780 6): this server's primary and alternate transport addresses.
// The four combinations of their IPs and ports are all UDP listeners; a Binding request received on
// any of them may ask for its response from another (CHANGE-REQUEST) or to another port
// (RESPONSE-PORT). Such answers are larger than the request or leave from elsewhere, so each source
// IP gets at most `burst` of them at once and `per_second` after; beyond that Binding gets the plain
// RFC 8489 answer and CHANGE-REQUEST / RESPONSE-PORT requests are dropped.
struct NatDiscoveryConfig {
  Endpoint primary, alternate;
  uint32_t per_second = 10, burst = 40;
};

struct CoreConfig {
  uint32_t default_lifetime_s = 600;      // RFC 8656 7.2
  uint32_t max_lifetime_s = 3600;
  uint32_t permission_lifetime_s = 300;   // RFC 8656 9
  uint32_t channel_lifetime_s = 600;      // RFC 8656 12
  uint32_t channel_cooldown_s = 300;      // RFC 8656 12: not rebindable elsewhere for 5 minutes
  std::string software;                   // SOFTWARE in 401 and Allocate responses; empty = none
  uint64_t bandwidth_bps = 0;             // per allocation, both directions; 0 = unlimited
  std::optional<NatDiscoveryConfig> nat_discovery;  // RFC 5780; off unless configured
  std::shared_ptr<const RegionPolicy> regions;      // data residency; null or empty catalog: off
  // Bounds on what one client may make the core hold or send (limits.*; docs/configuration.md).
  uint32_t max_permissions_per_allocation = 500;   // beyond: 508 (RFC 8656 9)
  uint32_t max_channels_per_allocation = 500;      // beyond: 508 (RFC 8656 12)
  // Amplification budget for unauthenticated UDP answers: the bytes by which answers to requests
  // that carried no valid MESSAGE-INTEGRITY may exceed those requests, per source IP (token bucket).
  uint32_t unauth_excess_bytes_per_second = 4096;
  uint32_t unauth_excess_burst_bytes = 32768;
  // How long the port reserved by EVEN-PORT's R bit waits for its RESERVATION-TOKEN (RFC 8656 7.2
  // suggests about 30 s). The RelayProvider closes it then; it counts against quotas until then.
  uint32_t reservation_hold_s = 30;
  QualityConfig quality;  // the relay-quality analyser (turn/media_quality.hpp), quality.* keys
};

// Counts shared by all shards, for quotas (486, 508). Touched only on allocate and delete.
// A port held for an EVEN-PORT reservation (RFC 8656 7.2, R bit) is a socket like an allocation's:
// it counts as one of its user's allocations until it is claimed by RESERVATION-TOKEN (the count
// passes to that allocation) or its hold ends (issue 14 item 6).
class Quotas {
 public:
  using Token = std::array<uint8_t, 8>;
  Quotas(uint64_t max_total, uint64_t max_per_user) : max_total_(max_total), max_per_user_(max_per_user) {}
  enum class Result : uint8_t { Ok, UserQuota, Capacity };
  Result acquire(const std::string& user);
  // Reloaded limits (SIGHUP): later acquires see them; counts above a lowered limit stay until released.
  void set_limits(uint64_t max_total, uint64_t max_per_user);
  void release(const std::string& user);
  uint64_t total() const { return total_.load(); }

  // A reservation `token` of `user`, held until `until_ms` (the caller's monotonic clock), for a
  // count the caller acquired before reserving.
  void hold(const std::string& user, const Token& token, int64_t until_ms);
  // Allocate with RESERVATION-TOKEN: the holder's count passes to `user` if it is the holder,
  // else `user` acquires as usual. `other_holder`: the token is held by another user, whose hold
  // ends once the reserved port is really taken (unhold()).
  Result claim(const std::string& user, const Token& token, bool& other_holder);
  void unhold(const Token& token);         // the reservation ended (or was never made)
  void expire_holds(int64_t now_ms);       // holds past their time end
  size_t holds() const;

 private:
  Result acquire_locked(const std::string& user);
  void release_locked(const std::string& user);
  uint64_t max_total_, max_per_user_;
  std::atomic<uint64_t> total_{0};
  mutable std::mutex mu_;
  std::unordered_map<std::string, uint64_t> per_user_;
  struct Hold { std::string user; int64_t until_ms; };
  std::map<Token, Hold> holds_;
};

class RelayProvider {
 public:
  struct Opened {
    uint64_t handle = 0;
    Endpoint address;  // as advertised in XOR-RELAYED-ADDRESS
    std::optional<stun::ReservationToken> token;
  };
  enum class Error : uint8_t { None, NoAddressForFamily, Exhausted, UnknownToken };
  struct Request {
    Family family = Family::V4;
    bool even_port = false, reserve_next = false, dont_fragment = false;
    int64_t hold_until_ms = 0;  // reserve_next: when the reserved port is released if unclaimed
  };
  virtual ~RelayProvider() = default;
  virtual Error open(const Request& req, Opened& out) = 0;
  virtual Error open_reserved(const stun::ReservationToken& token, bool dont_fragment, Opened& out) = 0;
  virtual void close(uint64_t handle) = 0;
};

enum class DropReason : uint8_t { NoPermission, PeerDenied, Quota, Bandwidth, Malformed, NoAllocation };
const char* to_string(DropReason r);

enum class AuthFailure : uint8_t { BadIntegrity, UnknownUser, ExpiredCredential, StaleNonce, Missing };
const char* to_string(AuthFailure r);
// Data residency: what a refused request was refused for, by the peer's region, the client's (by
// its address) or the region its credential pins (turnpike_residency_denied_total{kind}).
enum class ResidencyDenial : uint8_t { Peer, Client, Credential };
const char* to_string(ResidencyDenial d);  // peer, client, credential

// Aggregate relay counters of one Core. Written only by the Core's thread (relaxed load+store, no
// locked instruction); read by any thread for metrics.
struct CoreStats {
  static constexpr size_t kTransports = 4, kDropReasons = 6;
  struct Counter {
    std::atomic<uint64_t> v{0};
    void add(uint64_t n) { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    void sub(uint64_t n) { v.store(v.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
    void set(uint64_t n) { v.store(n, std::memory_order_relaxed); }
    uint64_t get() const { return v.load(std::memory_order_relaxed); }
  };
  Counter bytes_to_peer[kTransports], packets_to_peer[kTransports];
  Counter bytes_to_client[kTransports], packets_to_client[kTransports];
  Counter dropped[kDropReasons];
  // Gauges: live allocations by client transport and relayed family (0 IPv4, 1 IPv6, 2 dual),
  // updated as allocations come and go; live permissions and channel bindings, recounted each tick.
  static constexpr size_t kFamilies = 3;
  Counter allocations[kTransports][kFamilies];
  Counter permissions, channel_bindings;
  // RFC 5780: Binding responses with OTHER-ADDRESS, and requests held to the plain answer (or
  // dropped) by the per-source limit.
  Counter nat_discovery_responses, nat_discovery_limited;
  // Answers to UDP requests without valid MESSAGE-INTEGRITY that were larger than the request,
  // dropped because their source (IPv4 address, IPv6 /64) had spent its excess-byte budget; the
  // sources tracked, and new ones refused because that table was full.
  Counter unauth_limited, unauth_sources, unauth_sources_full;
  // CreatePermission / ChannelBind refused with 508 at the per-allocation limits.
  Counter permission_limit, channel_limit;
  // Relayed payloads by what they carry (RFC 7983: rtp::Kind), while quality.enabled.
  Counter payloads[rtp::kKinds];
};

// The family label of an allocation's relayed addresses: 0 IPv4, 1 IPv6, 2 dual (RFC 8656 7.2).
size_t relay_family_index(const Allocation& a);
const char* relay_family_name(size_t index);

// Idle-timer evidence (UDP flows only: NAT mapping timers).
enum class GapOutcome : uint8_t { Survived, Rebound };
const char* to_string(GapOutcome g);  // survived, rebound
// Why a session was lost before its client ended it.
enum class LossCause : uint8_t { Expired, Rebinding, ExpiredCredential, ConnectionClosed };
constexpr size_t kLossCauses = 4;
const char* to_string(LossCause c);  // expired, rebinding, expired_credential, connection_closed
enum class RefreshFailure : uint8_t { ExpiredCredential, BadCredential, AllocationMismatch };
constexpr size_t kRefreshFailures = 3;
const char* to_string(RefreshFailure f);  // expired_credential, bad_credential, allocation_mismatch

class Sink {
 public:
  virtual ~Sink() = default;
  // Bytes for the client on `to`; the parts form one datagram (or one run of stream bytes).
  virtual void to_client(const FiveTuple& to, std::span<const std::span<const uint8_t>> parts) = 0;
  virtual void to_peer(uint64_t relay_handle, const Endpoint& peer, std::span<const uint8_t> data) = 0;
  // Observability hooks; default no-ops.
  virtual void allocation_created(const Allocation&) {}
  virtual void allocation_ended(const Allocation&, EndReason, int64_t now_ms) {}
  // A request answered with `code` (200 for success). `challenge`: a 401/438 that is the normal
  // first round of the long-term credential mechanism, not a failure.
  virtual void request_done(stun::Method, int code, Transport, bool challenge = false) {}
  virtual void auth_failed(AuthFailure) {}
  // Every answer to a request (or one withheld by the budget), with who asked and why it was
  // refused (answer.hpp): for logs, not counted twice with request_done.
  virtual void answered(const Answer&) {}
  virtual void dropped(DropReason, size_t bytes) {}
  // A client of `client` IP was silent `gap_ms` on a UDP flow, then carried on on the same 5-tuple
  // (survived), or came back on a new one with the same credentials (rebound: the mapping died).
  virtual void flow_gap(const IpAddress& client, GapOutcome, int64_t gap_ms) {}
  // A session lost (not ended by its client), and its age when it was lost.
  virtual void session_lost(const IpAddress& client, LossCause, int64_t age_ms) {}
  virtual void refresh_failed(RefreshFailure) {}
  // Data residency: a request refused (`region` the one it belongs to, empty for an address in no
  // region), or a client sent to its region's node.
  virtual void residency_denied(ResidencyDenial kind, const std::string& region) {}
  virtual void residency_redirect(const std::string& to_region) {}
  // A reloaded policy ended an allocation of a client of `client_region`, or took `n` of its
  // permissions and channels to peers it no longer allows.
  virtual void residency_ended(const std::string& client_region) {}
  virtual void residency_revoked(const std::string& client_region, size_t n) {}
  // Relay quality (turn/media_quality.hpp): an allocation's interval closed with these figures;
  // `a.quality` already holds its new verdict (the sample's `previous` is the one before).
  virtual void quality_sample(const Allocation& a, const MediaQuality::Sample& s) {}
};

class Core {
 public:
  Core(CoreConfig cfg, std::shared_ptr<const Authenticator> auth, std::shared_ptr<const PeerPolicy> policy,
       std::shared_ptr<Quotas> quotas, RelayProvider& relays, Sink& sink, uint64_t id_base = 0);
  ~Core();
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  // A datagram (or one complete STUN message / ChannelData frame from a stream) from a client.
  void handle(std::span<const uint8_t> bytes, const FiveTuple& from, Now now);
  // A datagram that arrived on a relayed transport address from `peer`.
  void handle_peer(uint64_t relay_handle, const Endpoint& peer, std::span<const uint8_t> bytes, Now now);
  // Expires allocations, permissions and channel bindings. Call about once a second.
  void tick(Now now);
  // A reloaded residency policy (SIGHUP): forbidden allocations end, forbidden peers lose access.
  void set_regions(std::shared_ptr<const RegionPolicy> regions, Now now);
  // Reloaded settings (SIGHUP, turn/core_reload.cpp), on the core's thread. Every later request is
  // authenticated with `auth`: a user removed (or a password changed) gets 401 (441) on its next
  // Refresh, CreatePermission or ChannelBind, so its allocations end within their lifetime.
  // `policy` decides later permissions and sends to peers. set_limits takes the limits.* fields
  // of `c` (lifetimes, bandwidth, permissions and channels per allocation, unauthenticated excess).
  void set_auth(std::shared_ptr<const Authenticator> auth) { auth_ = std::move(auth); }
  void set_peer_policy(std::shared_ptr<const PeerPolicy> policy) { policy_ = std::move(policy); }
  void set_limits(const CoreConfig& c);
  // Shares rebinding detection with the other shards' cores (default: this core's own registry).
  void set_flow_registry(std::shared_ptr<FlowRegistry> r) { flows_ = std::move(r); }
  // The site of a client address, for the `site` tag of allocations whose credential gave none
  // (the server's sites.* map: a pure function, called on the core's thread). Unset: no site tag.
  void set_site_resolver(std::function<std::string(const IpAddress&)> f) { site_of_ = std::move(f); }
  static constexpr int64_t kMinGapMs = 1000;  // shorter silences are not idle-timer evidence
  static constexpr int64_t kReservationSlackMs = 2000;  // a reservation's count outlives its port by this
  // Ends every allocation (shutdown, or drain_timeout when a drain's grace ran out), releasing relays.
  void shutdown(Now now, EndReason why = EndReason::Shutdown);
  // Drain: from now on a new Allocate gets 300 to the first of `alternates` that fits the client's
  // transport and family (alternate_among), or 403; existing allocations go on. nullopt: serve again.
  void set_drain(std::optional<std::vector<TurnUri>> alternates) { drain_ = std::move(alternates); }
  bool draining() const { return drain_.has_value(); }
  // The client's transport connection closed (TCP/TLS): its allocation ends (RFC 8656 7).
  void connection_closed(const FiveTuple& ft, Now now);
  // The admin API ends an allocation (EndReason::Admin): a copy of it as it ended; nullopt if none
  // has that id. Later requests on its 5-tuple fail as for an expired one (437).
  std::optional<Allocation> end_allocation(uint64_t id, Now now);

  // The caller could not send a datagram relayed to a peer from `relay_handle` (`too_big`: over
  // the path MTU with DONT-FRAGMENT): counted on its allocation; that allocation's client transport.
  std::optional<Transport> peer_send_failed(uint64_t relay_handle, bool too_big);

  size_t allocation_count() const { return by_tuple_.size(); }
  void for_each_allocation(const std::function<void(const Allocation&)>& fn) const;
  const Allocation* find(const FiveTuple& ft) const;
  const Allocation* find_id(uint64_t id) const;
  const CoreStats& stats() const { return stats_; }

  struct Context;  // one request in flight; defined in core.cpp

 private:
  void handle_stun(std::span<const uint8_t> bytes, const FiveTuple& from, Now now);
  void handle_channel_data(std::span<const uint8_t> bytes, const FiveTuple& from, Now now);
  void handle_send_indication(const stun::Message& msg, const FiveTuple& from, Now now);
  void handle_binding(Context& c);
  struct BindingOptions;  // core_context.hpp
  bool binding_options(Context& c, BindingOptions& o);
  void send_binding(Context& c, const BindingOptions& o);
  bool discovery_applies(const Context& c) const;
  bool discovery_endpoint(const Endpoint& local) const;
  void handle_allocate(Context& c);
  Allocation& install_allocation(Context& c, uint32_t lifetime_s, const RelayProvider::Opened& first,
                                 const RelayProvider::Opened* second);
  void handle_refresh(Context& c);
  void handle_create_permission(Context& c);
  void handle_channel_bind(Context& c);
  bool authenticate(Context& c);
  void reject_credential(Context& c, bool expired);
  bool verify_integrity(Context& c, bool sha256);
  bool check_unknown_attributes(Context& c);
  void send_error(Context& c, int code, const char* reason);
  void send_challenge(Context& c, int code, const char* reason, bool expected);
  bool finish_and_send(Context& c, stun::Builder& b);
  void report_answer(const Context& c, bool sent);  // false: not sent (over budget, or overflow)
  bool unauth_budget_allows(const Context& c, size_t answer_bytes);
  void remove(Allocation* a, EndReason why, Now now);
  void relay_to_peer(Allocation& a, const Endpoint& peer, std::span<const uint8_t> data, Now now);
  bool peer_allowed(Context& c, const Endpoint& peer);
  bool residency_allows_client(Context& c, std::string& client_region, bool& drift);
  bool drain_allows_client(Context& c);
  void send_try_alternate(Context& c, const Endpoint& to);
  void install_permission(Allocation& a, const IpAddress& peer, Now now);
  bool room_for(Allocation& a, size_t permissions, size_t channels, Context& c);

  CoreConfig cfg_;
  std::shared_ptr<const Authenticator> auth_;
  std::shared_ptr<const PeerPolicy> policy_;
  std::shared_ptr<Quotas> quotas_;
  RelayProvider& relays_;
  Sink& sink_;
  uint64_t next_id_;
  std::unordered_map<FiveTuple, std::unique_ptr<Allocation>> by_tuple_;
  std::unordered_map<uint64_t, Allocation*> by_relay_;
  std::vector<Credential> scratch_creds_;
  SourceLimiter discovery_limiter_;
  SourceLimiter unauth_limiter_;  // excess bytes of unauthenticated UDP answers, per source
  CoreStats stats_;
  // When each 5-tuple first asked for an allocation, so setup time spans the 401 round trip.
  std::unordered_map<FiveTuple, int64_t> first_allocate_ms_;
  static constexpr size_t kMaxPendingSetups = 65536;
  void drop(DropReason r, size_t bytes);
  void client_activity(Allocation& a, Now now);
  void check_rebound(const std::string& user, const FiveTuple& from, Now now);
  void lose(Allocation& a, LossCause why, int64_t age_ms);
  std::shared_ptr<FlowRegistry> flows_ = std::make_shared<FlowRegistry>();
  std::optional<std::vector<TurnUri>> drain_;  // set while draining (set_drain)
  std::function<std::string(const IpAddress&)> site_of_;  // set_site_resolver
  void count_allocation(const Allocation& a, int delta);
  void observe(Allocation& a, MediaQuality::Dir dir, std::span<const uint8_t> data, Now now);
  void sample_quality(Allocation& a, Now now, bool last = false);
};

}  // namespace turn
