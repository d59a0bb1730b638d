#include "diag/http_post.hpp"

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <exception>
#include <stdexcept>

#include "turn/address.hpp"

namespace diag {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {
template <typename Stream>
asio::awaitable<void> exchange(Stream& s, http::request<http::string_body>& req,
                               http::response<http::string_body>& res) {
  co_await http::async_write(s, req, asio::use_awaitable);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(1 << 20);
  co_await http::async_read(s, buf, parser, asio::use_awaitable);
  res = parser.release();
}
}  // namespace

HttpResponse http_post(const Url& url, const std::string& body, const std::string& content_type,
                       const std::optional<std::string>& bearer_token, const std::optional<std::string>& cacert,
                       std::chrono::milliseconds timeout) {
  HttpResponse out;
  std::exception_ptr error;
  bool finished = false;
  const bool literal = turn::IpAddress::parse(url.host).has_value();
  std::string host_header = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  if (url.port != (url.scheme == "https" ? 443 : 80)) host_header += ":" + std::to_string(url.port);

  asio::io_context ioc;
  auto task = [&]() -> asio::awaitable<void> {
    tcp::resolver resolver(ioc);
    auto endpoints = co_await resolver.async_resolve(url.host, std::to_string(url.port), asio::use_awaitable);
    http::request<http::string_body> req{http::verb::post, url.target, 11};
    req.set(http::field::host, host_header);
    req.set(http::field::user_agent, "turnpike-diag");
    req.set(http::field::content_type, content_type);
    req.set(http::field::accept, "application/json");
    if (bearer_token) req.set(http::field::authorization, "Bearer " + *bearer_token);
    req.body() = body;
    req.prepare_payload();
    http::response<http::string_body> res;
    if (url.scheme == "https") {
      ssl::context ctx(ssl::context::tls_client);
      ctx.set_verify_mode(ssl::verify_peer);
      if (cacert) ctx.load_verify_file(*cacert);
      else ctx.set_default_verify_paths();
      beast::ssl_stream<beast::tcp_stream> s(ioc, ctx);
      if (!literal && !SSL_set_tlsext_host_name(s.native_handle(), url.host.c_str()))
        throw std::runtime_error("cannot set TLS SNI");
      s.set_verify_callback(ssl::host_name_verification(url.host));
      beast::get_lowest_layer(s).expires_after(timeout);
      co_await beast::get_lowest_layer(s).async_connect(endpoints, asio::use_awaitable);
      co_await s.async_handshake(ssl::stream_base::client, asio::use_awaitable);
      co_await exchange(s, req, res);
    } else {
      beast::tcp_stream s(ioc);
      s.expires_after(timeout);
      co_await s.async_connect(endpoints, asio::use_awaitable);
      co_await exchange(s, req, res);
      beast::error_code ec;
      s.socket().shutdown(tcp::socket::shutdown_both, ec);
    }
    out.status = static_cast<int>(res.result_int());
    out.reason = std::string(res.reason());
    out.body = std::move(res.body());
  };
  asio::co_spawn(ioc, task(), [&](std::exception_ptr e) {
    error = e;
    finished = true;
  });
  // The streams' own deadlines cover connect and exchange; this one covers resolution too.
  ioc.run_for(timeout + std::chrono::milliseconds(500));
  if (!finished) throw std::runtime_error("timed out after " + std::to_string(timeout.count()) + " ms");
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const boost::system::system_error& e) {
      // what() carries the source location; the code's message is what a person needs.
      std::string what = e.code().message();
      if (e.code().category() == asio::error::get_ssl_category() || e.code() == asio::ssl::error::stream_truncated)
        what = "TLS: " + what;
      throw std::runtime_error(what);
    }
  }
  return out;
}

}  // namespace diag
