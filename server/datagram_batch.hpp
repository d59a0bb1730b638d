// Outgoing UDP datagrams queued and sent with sendmmsg(2): one syscall for up to kBatch datagrams
// on one socket. The TURN shards (shard.cpp: what the core sends to clients while a ready list is
// drained) and the SFU host (sfu_host.cpp: everything one batch of received media makes the engine
// send) both send this way. Each datagram is copied (gathered from its parts) into a slot of its
// own, so callers may reuse their buffers at once; one larger than a slot is sent alone with
// sendmsg. A failed datagram is reported with the tag it was queued with (for the drop counters)
// and skipped, as a full socket buffer drops on the network.
#pragma once
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "turn/address.hpp"

namespace turnpike {

class DatagramBatch {
 public:
  static constexpr size_t kBatch = 64;    // datagrams per sendmmsg
  static constexpr size_t kSlot = 2048;   // bytes per queued datagram (media is below the MTU)
  using Failed = std::function<void(uint32_t tag)>;

  explicit DatagramBatch(Failed failed) : slots_(kBatch * kSlot), failed_(std::move(failed)) {}
  DatagramBatch(const DatagramBatch&) = delete;
  DatagramBatch& operator=(const DatagramBatch&) = delete;

  // Queues the concatenation of `parts` to `to` on `fd` (flushing first when the batch is full or
  // was for another socket).
  void queue(int fd, const turn::Endpoint& to, std::span<const std::span<const uint8_t>> parts, uint32_t tag = 0);
  void queue(int fd, const turn::Endpoint& to, std::span<const uint8_t> datagram, uint32_t tag = 0) {
    std::array<std::span<const uint8_t>, 1> one{datagram};
    queue(fd, to, one, tag);
  }
  void flush();
  size_t pending() const { return count_; }

 private:
  void send_alone(int fd, const turn::Endpoint& to, std::span<const std::span<const uint8_t>> parts, uint32_t tag);

  std::vector<uint8_t> slots_;
  std::array<mmsghdr, kBatch> msgs_{};
  std::array<iovec, kBatch> iovs_{};
  std::array<sockaddr_storage, kBatch> addrs_{};
  std::array<uint32_t, kBatch> tags_{};
  size_t count_ = 0;
  int fd_ = -1;
  Failed failed_;
};

}  // namespace turnpike
