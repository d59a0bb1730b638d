// Allocation state (RFC 8656 2, 6): the relayed transport address, its permissions and channel
// bindings, with expiry times on the caller's monotonic clock (milliseconds).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "turn/address.hpp"
#include "turn/message.hpp"

namespace turn {

// RFC 8656 9: a permission is per peer IP address, not port.
struct Permission {
  IpAddress peer;
  int64_t expires_ms = 0;
};

// RFC 8656 12: a channel number bound to a peer transport address.
struct ChannelBinding {
  uint16_t number = 0;
  Endpoint peer;
  int64_t expires_ms = 0;  // usable until then; kept 5 more minutes so it cannot be rebound elsewhere
};

struct RelayStats {
  uint64_t bytes_to_peer = 0, packets_to_peer = 0;
  uint64_t bytes_to_client = 0, packets_to_client = 0;
  uint64_t dropped_no_permission = 0, dropped_peer_denied = 0, dropped_malformed = 0;
  int64_t last_to_peer_ms = 0, last_to_client_ms = 0;
};

enum class EndReason : uint8_t { Deleted, Expired, Shutdown };
const char* to_string(EndReason r);

struct Allocation {
  uint64_t id = 0;
  FiveTuple five_tuple;
  std::string username;            // as sent in USERNAME; later requests must match (RFC 8656 7.3)
  std::string user;                // identity behind it
  std::vector<uint8_t> key;        // the long-term key the Allocate was signed with
  bool sha256_integrity = false;   // answer with MESSAGE-INTEGRITY-SHA256
  uint64_t relay_handle = 0;
  Endpoint relayed;
  stun::TransactionId allocate_txid{};
  int64_t created_ms = 0, created_unix = 0, expires_ms = 0;
  int64_t credential_expires_unix = 0;
  uint32_t lifetime_s = 0;         // as granted by the last Allocate/Refresh
  std::vector<Permission> permissions;
  std::vector<ChannelBinding> channels;
  RelayStats stats;

  const Permission* find_permission(const IpAddress& a, int64_t now_ms) const {
    for (const auto& p : permissions)
      if (p.peer == a && p.expires_ms > now_ms) return &p;
    return nullptr;
  }
  const ChannelBinding* find_channel(uint16_t number) const {
    for (const auto& c : channels)
      if (c.number == number) return &c;
    return nullptr;
  }
  const ChannelBinding* find_channel(const Endpoint& peer) const {
    for (const auto& c : channels)
      if (c.peer == peer) return &c;
    return nullptr;
  }
};

}  // namespace turn
