// One HTTP/1.1 connection served with Boost.Beast, plain or TLS: the session the admin server
// (admin.cpp) and the SFU's signalling port (sfu_host.cpp) share, as Beast's advanced_server_flex
// example shares one between its plain and TLS connections. It reads a request under HttpLimits,
// offers it to the upgrade hook (which may take the stream over, e.g. for a WebSocket), else hands
// it to the handler and writes the answer, then reads the next while the client keeps the
// connection alive. A handshake, read or write error, a timeout, or an answer without keep-alive
// ends it (its sending side shut down).
#pragma once
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/http/message_generator.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace turnpike {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

struct HttpLimits {
  size_t max_request_bytes = 16 * 1024;  // the header, and the body, each
  std::chrono::seconds timeout{10};      // for the TLS handshake, and for each request to arrive
};

// `Stream`: boost::beast::tcp_stream, or boost::beast::ssl_stream<tcp_stream> (then the session
// does the server side of the TLS handshake first).
template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  // Answers one request; what it returns is written whole.
  using Handler = std::function<boost::beast::http::message_generator(HttpRequest&&)>;
  // Offered each request first: true if it took the stream and the request over (the session then
  // ends without answering); false to let the handler answer. Optional.
  using Upgrade = std::function<bool(Stream&, HttpRequest&)>;

  HttpSession(Stream&& stream, HttpLimits limits, Handler handler, Upgrade upgrade = {})
      : stream_(std::move(stream)), limits_(limits), handler_(std::move(handler)), upgrade_(std::move(upgrade)) {}

  // Starts on the stream's executor (a strand, if the socket was accepted on one).
  void run() {
    boost::asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->start(); });
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, boost::beast::tcp_stream>;

  void start() {
    if constexpr (kTls) {
      boost::beast::get_lowest_layer(stream_).expires_after(limits_.timeout);
      stream_.async_handshake(boost::asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](boost::beast::error_code ec) {
                                if (!ec) self->read();
                              });
    } else {
      read();
    }
  }

  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(limits_.max_request_bytes));
    parser_->body_limit(limits_.max_request_bytes);
    boost::beast::get_lowest_layer(stream_).expires_after(limits_.timeout);
    boost::beast::http::async_read(stream_, buffer_, *parser_,
                                   [self = this->shared_from_this()](boost::beast::error_code ec, size_t) {
                                     if (ec) return self->close();
                                     self->answer(self->parser_->release());
                                   });
  }

  void answer(HttpRequest req) {
    if (upgrade_ && upgrade_(stream_, req)) return;
    boost::beast::http::message_generator msg = handler_(std::move(req));
    bool keep_alive = msg.keep_alive();
    boost::beast::async_write(stream_, std::move(msg),
                              [self = this->shared_from_this(), keep_alive](boost::beast::error_code ec, size_t) {
                                if (ec || !keep_alive) return self->close();
                                self->read();
                              });
  }

  void close() {
    boost::beast::error_code ignored;
    boost::beast::get_lowest_layer(stream_).socket().shutdown(boost::asio::socket_base::shutdown_send, ignored);
  }

  Stream stream_;
  HttpLimits limits_;
  Handler handler_;
  Upgrade upgrade_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
};

}  // namespace turnpike
