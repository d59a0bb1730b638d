// Allocation state (RFC 8656 2, 6): the relayed transport address, its permissions and channel
// bindings, with expiry times on the caller's monotonic clock (milliseconds).
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "turn/address.hpp"
#include "turn/flow_watch.hpp"
#include "turn/media_quality.hpp"
#include "turn/message.hpp"
#include "turn/peer_tables.hpp"
#include "turn/tags.hpp"

namespace turn {

struct RelayStats {
  uint64_t bytes_to_peer = 0, packets_to_peer = 0;
  uint64_t bytes_to_client = 0, packets_to_client = 0;
  uint64_t dropped_no_permission = 0, dropped_peer_denied = 0, dropped_malformed = 0, dropped_bandwidth = 0;
  uint64_t dropped_too_big = 0;  // over the path MTU with DONT-FRAGMENT (the kernel refused it)
  int64_t last_to_peer_ms = 0, last_to_client_ms = 0;
  // Rates over the last tick (bytes/s) and their peaks; updated by Core::tick.
  uint64_t rate_prev_to_peer = 0, rate_prev_to_client = 0;
  int64_t rate_at_ms = 0;
  uint64_t rate_bps_to_peer = 0, rate_bps_to_client = 0, peak_bps_to_peer = 0, peak_bps_to_client = 0;
};

// Policy: a reloaded residency policy forbids it; DrainTimeout: still live when a drain's grace ran
// out; Admin: ended through the admin API (DELETE /api/v1/allocations/{id}).
enum class EndReason : uint8_t { Deleted, Expired, Shutdown, Policy, DrainTimeout, Admin };
constexpr size_t kEndReasons = 6;
const char* to_string(EndReason r);

struct Allocation {
  uint64_t id = 0;
  FiveTuple five_tuple;
  std::string username;            // as sent in USERNAME; later requests must match (RFC 8656 7.3)
  std::string user;                // identity behind it
  std::vector<uint8_t> key;        // the long-term key the Allocate was signed with
  bool sha256_integrity = false;   // answer with MESSAGE-INTEGRITY-SHA256
  // One relayed transport address per family; two after a dual allocation (RFC 8656 7.2).
  struct Relay {
    uint64_t handle = 0;
    Endpoint address;  // as advertised (the external address when behind a 1:1 NAT)
  };
  std::array<Relay, 2> relays{};
  size_t relay_count = 0;
  // Per-allocation bandwidth (token bucket over both directions); 0 = unlimited.
  uint64_t bandwidth_bps = 0;
  int64_t bucket_bytes = 0, bucket_ms = 0;
  stun::TransactionId allocate_txid{};
  int64_t created_ms = 0, expires_ms = 0;
  int64_t created_unix_ms = 0;     // wall clock at creation, for records
  int64_t setup_ms = 0;            // from the first Allocate on this 5-tuple to success
  int64_t credential_expires_unix = 0;
  uint32_t lifetime_s = 0;         // as granted by the last Allocate/Refresh
  PermissionTable permissions;  // at most CoreConfig::max_permissions_per_allocation
  ChannelTable channels;        // at most CoreConfig::max_channels_per_allocation
  RelayStats stats;
  MediaQuality quality;  // what the relayed payloads say about the call (quality.enabled)
  // Data residency: the client's region (credential-pinned or by address; empty: unknown), the
  // region that served it, and whether it was served although it belongs elsewhere (drift).
  std::string client_region, served_region;
  std::string pinned_region;  // as the credential pinned it (empty: by address)
  bool drift = false;
  Tags tags;  // the credential's (turn/tags.hpp), plus site= from Core's site resolver unless given
  // The idle-timer clock of this 5-tuple (last packet either way), shared with FlowRegistry.
  std::shared_ptr<FlowClock> flow;

  const Relay* relay_for(Family f) const {
    for (size_t i = 0; i < relay_count; ++i)
      if (relays[i].address.address.family == f) return &relays[i];
    return nullptr;
  }
  const Endpoint& relayed() const { return relays[0].address; }
  std::string relayed_list() const {
    std::string s;
    for (size_t i = 0; i < relay_count; ++i) s += (i ? " " : "") + relays[i].address.to_string();
    return s;
  }
  // Takes `bytes` from the bucket; false when over the configured rate (the packet is dropped).
  bool take_bandwidth(size_t bytes, int64_t now_ms) {
    if (bandwidth_bps == 0) return true;
    int64_t cap = static_cast<int64_t>(bandwidth_bps);  // one second of burst
    bucket_bytes = std::min<int64_t>(cap, bucket_bytes + (now_ms - bucket_ms) * cap / 1000);
    bucket_ms = now_ms;
    if (bucket_bytes < static_cast<int64_t>(bytes)) return false;
    bucket_bytes -= static_cast<int64_t>(bytes);
    return true;
  }

  const Permission* find_permission(const IpAddress& a, int64_t now_ms) const {
    const Permission* p = permissions.find(a);
    return p && p->expires_ms > now_ms ? p : nullptr;
  }
  const ChannelBinding* find_channel(uint16_t number) const { return channels.find(number); }
  const ChannelBinding* find_channel(const Endpoint& peer) const { return channels.find(peer); }
};

}  // namespace turn
