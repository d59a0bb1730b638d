// TURN over TCP and TLS (RFC 8656 3.1, RFC 8489 6.2.2): one session per connection, framing STUN
// messages and ChannelData (padded to 4 bytes on streams) out of the byte stream and handing each
// to the shard's turn::Core. A session lives on its shard's single thread, so it needs no strand.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <span>

#include "turn/address.hpp"

namespace turnpike {

class Shard;

class StreamConnection : public std::enable_shared_from_this<StreamConnection> {
 public:
  virtual ~StreamConnection() = default;
  // Queues bytes for the client; drops them (and counts) when the client does not keep up.
  virtual void send(std::span<const std::span<const uint8_t>> parts) = 0;
  virtual void close(const char* why) = 0;
};

constexpr size_t kStreamReadBuffer = 65536 + 64;     // the largest STUN message or ChannelData frame
constexpr size_t kStreamMaxPending = 1 << 20;        // unsent bytes per connection before dropping
constexpr std::chrono::seconds kTlsHandshakeTimeout{10};

// Starts a session on an accepted socket (TLS when ctx is set).
void start_stream_session(Shard& shard, boost::asio::ip::tcp::socket socket, const turn::FiveTuple& ft,
                          std::shared_ptr<boost::asio::ssl::context> tls);

}  // namespace turnpike
