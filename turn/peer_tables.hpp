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

// A dense vector of T with hash indexes kept by the derived table (CRTP: `index(item, i)` and
// `unindex(item)`); removal swaps the last item in, so lookups stay O(1) and iteration dense.
template <typename T, typename Derived>
class DenseTable {
 public:
  // Removes every item `pred` holds for; returns how many.
  template <typename Pred>
  size_t erase_if(Pred pred) {
    size_t removed = 0;
    for (size_t i = 0; i < items_.size();) {
      if (!pred(items_[i])) { ++i; continue; }
      self().unindex(items_[i]);
      if (i + 1 != items_.size()) {
        items_[i] = items_.back();
        self().index(items_[i], i);
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

 protected:
  // Adds an item none of whose keys is indexed yet (callers check with find() first).
  void add(const T& item) {
    self().index(item, items_.size());
    items_.push_back(item);
  }
  template <typename Map, typename Key>
  T* lookup(Map& map, const Key& key) {
    auto it = map.find(key);
    return it == map.end() ? nullptr : &items_[it->second];
  }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
  std::vector<T> items_;
};

class PermissionTable : public DenseTable<Permission, PermissionTable> {
 public:
  Permission* find(const IpAddress& peer) { return lookup(index_, peer); }
  const Permission* find(const IpAddress& peer) const { return const_cast<PermissionTable*>(this)->find(peer); }
  void insert(const Permission& p) { add(p); }

 private:
  friend class DenseTable<Permission, PermissionTable>;
  void index(const Permission& p, size_t i) { index_[p.peer] = i; }
  void unindex(const Permission& p) { index_.erase(p.peer); }
  std::unordered_map<IpAddress, size_t> index_;
};

class ChannelTable : public DenseTable<ChannelBinding, ChannelTable> {
 public:
  ChannelBinding* find(uint16_t number) { return lookup(by_number_, number); }
  ChannelBinding* find(const Endpoint& peer) { return lookup(by_peer_, peer); }
  const ChannelBinding* find(uint16_t number) const { return const_cast<ChannelTable*>(this)->find(number); }
  const ChannelBinding* find(const Endpoint& peer) const { return const_cast<ChannelTable*>(this)->find(peer); }
  void insert(const ChannelBinding& b) { add(b); }

 private:
  friend class DenseTable<ChannelBinding, ChannelTable>;
  void index(const ChannelBinding& b, size_t i) {
    by_number_[b.number] = i;
    by_peer_[b.peer] = i;
  }
  void unindex(const ChannelBinding& b) {
    by_number_.erase(b.number);
    by_peer_.erase(b.peer);
  }
  std::unordered_map<uint16_t, size_t> by_number_;
  std::unordered_map<Endpoint, size_t> by_peer_;
};

}  // namespace turn
