// Outgoing UDP datagrams sent in batches with sendmmsg(2) (server/datagram_batch.hpp).
#include "server/datagram_batch.hpp"

#include <cstring>

#include "common/sockaddr.hpp"

namespace turnpike {

void DatagramBatch::queue(int fd, const turn::Endpoint& to, std::span<const std::span<const uint8_t>> parts,
                          uint32_t tag) {
  size_t total = 0;
  for (auto p : parts) total += p.size();
  if (total > kSlot) {  // larger than any media datagram: on its own, in order
    flush();
    send_alone(fd, to, parts, tag);
    return;
  }
  if (count_ == kBatch || (count_ > 0 && fd != fd_)) flush();
  size_t i = count_++;
  fd_ = fd;
  uint8_t* slot = slots_.data() + i * kSlot;
  size_t off = 0;
  for (auto p : parts) {
    if (!p.empty()) std::memcpy(slot + off, p.data(), p.size());
    off += p.size();
  }
  iovs_[i] = {slot, total};
  auto& mh = msgs_[i].msg_hdr;
  mh = msghdr{};
  mh.msg_name = &addrs_[i];
  mh.msg_namelen = to_sockaddr(to, addrs_[i]);
  mh.msg_iov = &iovs_[i];
  mh.msg_iovlen = 1;
  tags_[i] = tag;
}

void DatagramBatch::send_alone(int fd, const turn::Endpoint& to, std::span<const std::span<const uint8_t>> parts,
                               uint32_t tag) {
  sockaddr_storage ss;
  socklen_t len = to_sockaddr(to, ss);
  std::array<iovec, 4> iov;
  size_t n = std::min(parts.size(), iov.size());
  for (size_t i = 0; i < n; ++i) iov[i] = {const_cast<uint8_t*>(parts[i].data()), parts[i].size()};
  msghdr mh{};
  mh.msg_name = &ss;
  mh.msg_namelen = len;
  mh.msg_iov = iov.data();
  mh.msg_iovlen = n;
  if (::sendmsg(fd, &mh, MSG_DONTWAIT) < 0 && failed_) failed_(tag);
}

void DatagramBatch::flush() {
  size_t sent = 0;
  while (sent < count_) {
    int n = ::sendmmsg(fd_, msgs_.data() + sent, static_cast<unsigned>(count_ - sent), MSG_DONTWAIT);
    if (n <= 0) {
      // UDP: a full buffer drops, as the network would; the first failed datagram is counted and skipped.
      if (failed_) failed_(tags_[sent]);
      ++sent;
      continue;
    }
    sent += static_cast<size_t>(n);
  }
  count_ = 0;
}

}  // namespace turnpike
