#include "server/admin.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>

#include "server/log.hpp"

namespace turnpike {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr std::chrono::seconds kReadTimeout{10};
constexpr size_t kMaxRequestBytes = 16 * 1024;

// One HTTP/1.1 connection, as in Beast's async server example: a strand, shared_from_this.
class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket s) : stream_(std::move(s)) {}
  void run() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

 private:
  void read() {
    req_ = {};
    parser_.emplace();
    parser_->header_limit(kMaxRequestBytes);
    parser_->body_limit(kMaxRequestBytes);
    stream_.expires_after(kReadTimeout);
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->close();
      self->req_ = self->parser_->release();
      self->respond();
    });
  }

  void respond() {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(req_.version());
    res->keep_alive(req_.keep_alive());
    res->set(http::field::server, "turnpike");
    res->set(http::field::content_type, "application/json");
    std::string target(req_.target());
    auto path = target.substr(0, target.find('?'));
    if (path == "/healthz") {
      if (req_.method() != http::verb::get && req_.method() != http::verb::head) {
        res->result(http::status::method_not_allowed);
        res->set(http::field::allow, "GET, HEAD");
        res->body() = R"({"error":"method not allowed"})";
      } else {
        res->result(http::status::ok);
        res->body() = R"({"status":"ok"})";
      }
    } else {
      res->result(http::status::not_found);
      res->body() = R"({"error":"not found"})";
    }
    res->prepare_payload();
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
      if (ec || !res->keep_alive()) return self->close();
      self->read();
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> req_;
};

}  // namespace

AdminServer::AdminServer(const turn::Endpoint& listen) : acceptor_(io_) {
  beast::error_code ec;
  tcp::endpoint ep(asio::ip::make_address(listen.address.to_string()), listen.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on admin " + listen.to_string() + ": " + ec.message());
}

AdminServer::~AdminServer() { stop(); }

void AdminServer::start() {
  accept();
  thread_ = std::thread([this] { io_.run(); });
}

void AdminServer::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    beast::error_code ec;
    acceptor_.close(ec);
    io_.stop();
  });
  thread_.join();
}

void AdminServer::accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) std::make_shared<Session>(std::move(s))->run();
    accept();
  });
}

}  // namespace turnpike
