#include "server/stream_session.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <vector>

#include "server/log.hpp"
#include "server/shard.hpp"
#include "turn/stream_framing.hpp"

namespace turnpike {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

template <class Stream>
tcp::socket& lowest(Stream& s) {
  if constexpr (std::is_same_v<Stream, tcp::socket>) return s;
  else return s.next_layer();
}

template <class Stream>
class Session final : public StreamConnection {
 public:
  template <class... Args>
  Session(Shard& shard, const turn::FiveTuple& ft, Args&&... args)
      : shard_(shard), ft_(ft), stream_(std::forward<Args>(args)...), timer_(shard.io()) {
    pending_.reserve(16384);
    inflight_.reserve(16384);
  }

  void start() {
    auto self = std::static_pointer_cast<Session>(shared_from_this());
    last_progress_ = unallocated_since_ = shard_.now_ms();
    arm_timer();
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      read();
    } else {
      stream_.async_handshake(asio::ssl::stream_base::server, [self](const boost::system::error_code& ec) {
        if (ec) return self->close("tls handshake failed");
        self->handshaken_ = true;
        self->last_progress_ = self->shard_.now_ms();
        self->read();
      });
    }
  }

  void send(std::span<const std::span<const uint8_t>> parts) override {
    if (closed_) return;
    size_t n = 0;
    for (auto p : parts) n += p.size();
    if (pending_.size() + n > kStreamMaxPending) {
      ++dropped_;
      shard_.metrics().server_drop(ServerDrop::Quota, ft_.transport);
      return;  // a client that does not read loses media, never the server's memory
    }
    for (auto p : parts) pending_.insert(pending_.end(), p.begin(), p.end());
    if (!writing_) write();
  }

  void close(const char* why) override {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    timer_.cancel();
    lowest(stream_).shutdown(tcp::socket::shutdown_both, ec);
    lowest(stream_).close(ec);
    log::info("connection_closed", {log::str("client", ft_.client.to_string()),
                                    log::str("transport", turn::to_string(ft_.transport)), log::str("reason", why),
                                    log::num("dropped_writes", static_cast<long long>(dropped_))});
    shard_.stream_closed(ft_);
  }

 private:
  void read() {
    if (closed_) return;
    auto self = std::static_pointer_cast<Session>(shared_from_this());
    stream_.async_read_some(asio::buffer(buf_.data() + have_, buf_.size() - have_),
                            [self](const boost::system::error_code& ec, size_t n) {
                              if (ec || self->closed_) {
                                bool eof = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
                                return self->close(eof ? "eof" : ec.message().c_str());
                              }
                              self->have_ += n;
                              if (self->consume()) self->read();
                            });
  }

  // Hands every complete frame to the core; false if the stream is malformed (and closed).
  bool consume() {
    size_t off = 0;
    auto now = turnpike::now();
    while (!closed_) {
      size_t need = turn::stream_frame_length({buf_.data() + off, have_ - off});
      if (need == SIZE_MAX) { close("not STUN or ChannelData"); return false; }
      if (need > buf_.size()) { close("frame larger than the buffer"); return false; }
      if (need == 0 || have_ - off < need) break;
      shard_.core().handle({buf_.data() + off, need}, ft_, now);
      off += need;
      last_progress_ = now.mono_ms;
    }
    if (closed_) return false;
    std::memmove(buf_.data(), buf_.data() + off, have_ - off);
    have_ -= off;
    return true;
  }

  void write() {
    if (closed_ || pending_.empty()) return;
    std::swap(pending_, inflight_);
    pending_.clear();
    writing_ = true;
    auto self = std::static_pointer_cast<Session>(shared_from_this());
    asio::async_write(stream_, asio::buffer(inflight_), [self](const boost::system::error_code& ec, size_t) {
      self->writing_ = false;
      self->inflight_.clear();
      if (ec) return self->close("write error");
      self->write();
    });
  }

  // Closes a connection that stalls: a TLS handshake that does not finish, a frame that does not
  // complete, a connection that has no allocation and says nothing, or one that has had no
  // allocation for limits.connection_allocate_timeout whatever it says (ConnectionPolicy).
  void arm_timer() {
    auto self = std::static_pointer_cast<Session>(shared_from_this());
    timer_.expires_after(std::chrono::seconds(1));
    timer_.async_wait([self](const boost::system::error_code& ec) {
      if (ec || self->closed_) return;
      int64_t now_ms = self->shard_.now_ms();
      int64_t idle = now_ms - self->last_progress_;
      bool has_allocation = self->shard_.core().find(self->ft_) != nullptr;
      if (has_allocation) self->unallocated_since_ = now_ms;
      if (self->shard_.connections().allocate_overdue(self->unallocated_since_, now_ms, has_allocation)) {
        self->shard_.metrics().connection_unallocated_closed();
        return self->close("no allocation within limits.connection_allocate_timeout");
      }
      if constexpr (!std::is_same_v<Stream, tcp::socket>) {
        if (!self->handshaken_ && idle > std::chrono::milliseconds(kTlsHandshakeTimeout).count())
          return self->close("tls handshake timeout");
      }
      int64_t limit = self->shard_.connections().idle_timeout_ms();
      bool allocated = has_allocation;
      bool mid_frame = self->have_ > 0 || self->mid_record();
      if (idle > limit && (mid_frame || !allocated))
        return self->close(mid_frame ? "stalled mid-frame" : "idle without allocation");
      self->arm_timer();
    });
  }

  // TLS: part of a record sits in OpenSSL's buffers, not in ours (a client that stalls mid-record).
  bool mid_record() {
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      return false;
    } else {
      SSL* ssl = stream_.native_handle();
      return handshaken_ && (SSL_has_pending(ssl) == 1 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0);
    }
  }

  Shard& shard_;
  turn::FiveTuple ft_;
  Stream stream_;
  asio::steady_timer timer_;
  std::array<uint8_t, kStreamReadBuffer> buf_;
  size_t have_ = 0;
  std::vector<uint8_t> pending_, inflight_;
  bool writing_ = false, closed_ = false, handshaken_ = false;
  int64_t last_progress_ = 0;
  int64_t unallocated_since_ = 0;  // when the connection opened or last had an allocation
  uint64_t dropped_ = 0;
};

}  // namespace

void start_stream_session(Shard& shard, tcp::socket socket, const turn::FiveTuple& ft,
                          std::shared_ptr<asio::ssl::context> tls) {
  boost::system::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  std::shared_ptr<StreamConnection> s;
  if (tls) {
    auto session = std::make_shared<Session<asio::ssl::stream<tcp::socket>>>(shard, ft, std::move(socket), *tls);
    shard.stream_opened(ft, session);
    session->start();
  } else {
    auto session = std::make_shared<Session<tcp::socket>>(shard, ft, std::move(socket));
    shard.stream_opened(ft, session);
    session->start();
  }
}

}  // namespace turnpike
