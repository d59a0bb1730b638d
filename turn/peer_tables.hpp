// An allocation's permissions (RFC 8656 9) and channel bindings (RFC 8656 12): dense arrays with
// hash indexes, so that the lookup on every relayed packet costs the same whatever their number
// (issue 14 item 5: a linear scan over thousands of permissions stalled the shard). Their size is
// bounded by the core (limits.max_permissions_per_allocation, limits.max_channels_per_allocation).
#pragma once
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "turn/address.hpp"

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

class PermissionTable {
 public:
  Permission* find(const IpAddress& peer) {
    auto it = index_.find(peer);
    return it == index_.end() ? nullptr : &items_[it->second];
  }
  const Permission* find(const IpAddress& peer) const { return const_cast<PermissionTable*>(this)->find(peer); }
  // Adds a permission for a peer that has none (callers check with find() first).
  void insert(const Permission& p) {
    index_.emplace(p.peer, items_.size());
    items_.push_back(p);
  }
  // Removes every permission `pred` holds for; returns how many.
  template <typename Pred>
  size_t erase_if(Pred pred) {
    size_t removed = 0;
    for (size_t i = 0; i < items_.size();) {
      if (!pred(items_[i])) { ++i; continue; }
      index_.erase(items_[i].peer);
      if (i + 1 != items_.size()) {
        items_[i] = items_.back();
        index_[items_[i].peer] = i;
      }
      items_.pop_back();
      ++removed;
    }
    return removed;
  }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<Permission> items_;
  std::unordered_map<IpAddress, size_t> index_;
};

class ChannelTable {
 public:
  ChannelBinding* find(uint16_t number) {
    auto it = by_number_.find(number);
    return it == by_number_.end() ? nullptr : &items_[it->second];
  }
  ChannelBinding* find(const Endpoint& peer) {
    auto it = by_peer_.find(peer);
    return it == by_peer_.end() ? nullptr : &items_[it->second];
  }
  const ChannelBinding* find(uint16_t number) const { return const_cast<ChannelTable*>(this)->find(number); }
  const ChannelBinding* find(const Endpoint& peer) const { return const_cast<ChannelTable*>(this)->find(peer); }
  // Adds a binding whose number and peer are both unbound (callers check with find() first).
  void insert(const ChannelBinding& b) {
    by_number_.emplace(b.number, items_.size());
    by_peer_.emplace(b.peer, items_.size());
    items_.push_back(b);
  }
  template <typename Pred>
  size_t erase_if(Pred pred) {
    size_t removed = 0;
    for (size_t i = 0; i < items_.size();) {
      if (!pred(items_[i])) { ++i; continue; }
      by_number_.erase(items_[i].number);
      by_peer_.erase(items_[i].peer);
      if (i + 1 != items_.size()) {
        items_[i] = items_.back();
        by_number_[items_[i].number] = i;
        by_peer_[items_[i].peer] = i;
      }
      items_.pop_back();
      ++removed;
    }
    return removed;
  }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<ChannelBinding> items_;
  std::unordered_map<uint16_t, size_t> by_number_;
  std::unordered_map<Endpoint, size_t> by_peer_;
};

}  // namespace turn
