// Which of this node's relayed transport addresses carry which TURN client: the SFU's view of our
// own allocations (server/sfu_policy.hpp). Shared by all shards, mutex-guarded.
#pragma once
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "turn/address.hpp"

namespace turnpike {

// This node's relayed transport addresses (as bound, i.e. the source address peers see) and the
// transport each allocation's client uses: how the SFU tells media relayed through our own TURN
// (and over what) from direct media. Written on allocation and expiry, read on ICE nomination.
class RelayDirectory {
 public:
  // One relayed address: over what its client reaches us, and the client's region as residency
  // decided it at Allocate (the SFU counts media relayed through our own TURN under it).
  struct Entry {
    turn::Transport transport = turn::Transport::Udp;
    std::string client_region;
    bool drift = false;
  };
  void add(const turn::Endpoint& bound, Entry e);
  void remove(const turn::Endpoint& bound);
  std::optional<Entry> find(const turn::Endpoint& bound) const;
  bool is_relay_address(const turn::IpAddress& a) const;
  // Relayed addresses listed on relay address `a` (capacity: relay ports in use).
  uint64_t in_use(const turn::IpAddress& a) const;
  void set_relay_addresses(std::vector<turn::IpAddress> a) {
    addresses_ = std::move(a);
    in_use_.assign(addresses_.size(), 0);
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<turn::Endpoint, Entry> map_;
  std::vector<turn::IpAddress> addresses_;  // set before any thread starts
  std::vector<uint64_t> in_use_;            // per addresses_ entry, under mu_
  void count(const turn::IpAddress& a, int delta);
};

}  // namespace turnpike
