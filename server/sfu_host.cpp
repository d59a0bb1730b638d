#include "server/sfu_host.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>

#include "server/http_session.hpp"
#include "server/io_guard.hpp"
#include "server/log.hpp"
#include "common/sockaddr.hpp"
#include "server/shard.hpp"

namespace turnpike {

const std::map<std::string, std::vector<unsigned char>>& embedded_files();  // embedded_web.cpp

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr HttpLimits kHttpLimits{16 * 1024, std::chrono::seconds(15)};
constexpr size_t kMaxQueuedSignals = 256;  // a client that does not read is closed

// One signalling WebSocket: reads whole messages into the engine, writes queued ones in order.
template <class Stream>
class WsSession final : public SfuHost::Signal, public std::enable_shared_from_this<WsSession<Stream>> {
 public:
  WsSession(SfuHost& host, Stream&& stream, SfuHost::Ticket ticket, turn::IpAddress from)
      : host_(host), ws_(std::move(stream)), ticket_(std::move(ticket)), from_(from), join_timer_(host.io()) {}

  void start(http::request<http::string_body> req) {
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.read_message_max(host_.limits().message_limit(false));  // sfu.max_join_message_bytes
    // sfu.join_timeout: a connection that has not joined by then is cut (its socket closed at once:
    // a client that does not read would hold a polite close open for the close timeout).
    join_timer_.expires_after(std::chrono::milliseconds(host_.limits().join_timeout_ms()));
    std::weak_ptr<WsSession> weak = this->shared_from_this();
    join_timer_.async_wait([weak](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->joined_ || self->finished_) return;
      self->host_.signal_rejected(sfu::SignalReject::JoinTimeout, self->from_);
      self->closed_ = true;
      beast::error_code ignored;
      beast::get_lowest_layer(self->ws_).socket().close(ignored);
    });
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "turnpike"); }));
    auto self = this->shared_from_this();
    ws_.async_accept(req, [self](beast::error_code ec) {
      if (ec) return;
      self->id_ = self->host_.signal_opened(self);
      self->read();
    });
  }

  void send(const std::string& text) override {
    if (closed_) return;
    if (queue_.size() >= kMaxQueuedSignals) return close("signalling client does not read");
    queue_.push_back(text);
    if (queue_.size() == 1) write();
  }

  std::string client() const override { return from_.to_string(); }
  std::optional<turn::IpAddress> address() const override { return from_; }
  void joined() override {
    joined_ = true;
    join_timer_.cancel();
    ws_.read_message_max(host_.limits().message_limit(true));  // sfu.max_message_bytes
  }

  void close(const char* why) override {
    if (closed_) return;
    closed_ = true;
    auto self = this->shared_from_this();
    // Let queued messages (e.g. a fatal error) go out first, then close.
    auto do_close = [self, why = std::string(why)] {
      self->ws_.async_close(websocket::close_reason(websocket::close_code::policy_error, why),
                            [self](beast::error_code) {});
    };
    if (queue_.empty()) do_close();
    else closing_ = do_close;
  }

 private:
  void read() {
    auto self = this->shared_from_this();
    ws_.async_read(buffer_, [self](beast::error_code ec, size_t) {
      if (ec == websocket::error::message_too_big)
        self->host_.signal_rejected(sfu::SignalReject::MessageTooBig, self->from_);
      if (ec) {
        // The client ended it (a close frame, its TCP end, a reset: a tab closed, the browser
        // exited): it left. A connection that timed out, or that the SDK abandoned as dead (an
        // application close code, 4000-4999), may be resumed (protocol version 2).
        auto code = self->ws_.reason().code;
        bool may_resume = (ec == websocket::error::closed && code >= 4000 && code <= 4999) ||
                          ec == beast::error::timeout || ec == asio::error::timed_out;
        return self->finish(!may_resume);
      }
      if (!self->ws_.got_text()) {
        self->buffer_.consume(self->buffer_.size());
        self->host_.signal_message(self->id_, "\x01binary");  // the engine answers 'malformed'
      } else {
        auto data = self->buffer_.cdata();
        self->host_.signal_message(self->id_,
                                   std::string_view(static_cast<const char*>(data.data()), data.size()));
        self->buffer_.consume(self->buffer_.size());
      }
      self->read();
    });
  }

  void write() {
    auto self = this->shared_from_this();
    ws_.text(true);
    ws_.async_write(asio::buffer(queue_.front()), [self](beast::error_code ec, size_t) {
      if (ec) return self->finish();
      self->queue_.pop_front();
      if (!self->queue_.empty()) return self->write();
      if (self->closing_) {
        auto f = std::move(self->closing_);
        self->closing_ = nullptr;
        f();
      }
    });
  }

  void finish(bool leaving = false) {
    closed_ = true;
    join_timer_.cancel();
    if (id_ && !finished_) {
      finished_ = true;
      host_.signal_closed(id_, leaving);
    }
  }

  SfuHost& host_;
  websocket::stream<Stream> ws_;
  SfuHost::Ticket ticket_;
  turn::IpAddress from_;
  asio::steady_timer join_timer_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  std::function<void()> closing_;
  sfu::ConnectionId id_ = 0;
  bool closed_ = false, finished_ = false, joined_ = false;
};

http::response<http::vector_body<unsigned char>> static_response(const http::request<http::string_body>& req) {
  http::response<http::vector_body<unsigned char>> res;
  res.version(req.version());
  res.keep_alive(req.keep_alive());
  res.set(http::field::server, "turnpike");
  res.set(http::field::cache_control, "no-cache");
  std::string path(req.target().substr(0, req.target().find('?')));
  auto text = [&](http::status s, const std::string& body, const char* type) {
    res.result(s);
    res.set(http::field::content_type, type);
    res.body().assign(body.begin(), body.end());
  };
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    text(http::status::method_not_allowed, R"({"error":"use GET"})", "application/json");
    res.set(http::field::allow, "GET, HEAD");
  } else if (path == "/demo" || path == "/check") {
    text(http::status::moved_permanently, "", "text/plain");
    res.set(http::field::location, path + "/");
  } else {
    // /sdk/turnpike.js carries the call-report snippet first (its Turnpike.watchCall uses it).
    std::vector<const char*> names;
    if (path == "/sdk/turnpike.js") names = {"call-report.js", "turnpike.js"};
    if (path == "/sdk/call-report.js") names = {"call-report.js"};
    if (path == "/demo/") names = {"demo/index.html"};
    if (path == "/check/") names = {"check/index.html"};  // the pre-call check (docs/check.md)
    if (path == "/check/check.js") names = {"check/check.js"};
    const auto& files = embedded_files();
    if (names.empty()) {
      text(http::status::not_found, R"({"error":"not found"})", "application/json");
    } else {
      res.result(http::status::ok);
      res.set(http::field::content_type,
              path.back() == '/' ? "text/html; charset=utf-8" : "text/javascript; charset=utf-8");
      for (const char* name : names) res.body().insert(res.body().end(), files.at(name).begin(), files.at(name).end());
    }
  }
  res.prepare_payload();
  if (req.method() == http::verb::head) res.body().clear();
  return res;
}

// The pre-call check's routes on this port (server/check_routes.hpp), when the path is one of them.
std::optional<AdminServer::Response> check_request(SfuHost& host, const HttpRequest& req, turn::IpAddress from) {
  auto path = req.target().substr(0, req.target().find('?'));
  if (!host.on_check || (path != "/check/config" && path != "/api/v1/check-reports")) return std::nullopt;
  return host.on_check(CheckRequest{std::string(req.method_string()), std::string(req.target()),
                                    std::string(req[http::field::content_type]), req.body(), from});
}

// One HTTP connection (http_session.hpp): static files, or the upgrade to the signalling
// WebSocket, which takes the stream and the connection's ticket over.
template <class Stream>
void serve_http(SfuHost& host, Stream&& stream, SfuHost::Ticket ticket, turn::IpAddress from) {
  auto held = std::make_shared<SfuHost::Ticket>(std::move(ticket));  // released with the session
  auto upgrade = [&host, held, from](Stream& s, HttpRequest& req) {
    std::string path(req.target().substr(0, req.target().find('?')));
    if (!websocket::is_upgrade(req) || path != "/signal") return false;
    beast::get_lowest_layer(s).expires_never();
    std::make_shared<WsSession<Stream>>(host, std::move(s), std::move(*held), from)->start(std::move(req));
    return true;
  };
  auto handler = [&host, from](HttpRequest&& req) {
    if (req.target().substr(0, req.target().find('?')) == "/api/v1/call-reports" && host.on_call_report)
      return http::message_generator(to_http(host.on_call_report(std::string(req.method_string()), req.body(), from), req));
    if (auto r = check_request(host, req, from)) return http::message_generator(to_http(std::move(*r), req));
    return http::message_generator(static_response(req));
  };
  std::make_shared<HttpSession<Stream>>(std::move(stream), kHttpLimits, handler, upgrade)->run();
}

}  // namespace

SfuHost::SfuHost(const Config& cfg, sfu::EngineConfig engine_cfg, std::shared_ptr<asio::ssl::context> tls)
    : cfg_(cfg),
      limits_(sfu::SignalLimitConfig{cfg.sfu.max_connections, cfg.sfu.max_connections_per_ip,
                                     static_cast<uint8_t>(cfg.connection_prefix_v4),
                                     static_cast<uint8_t>(cfg.connection_prefix_v6),
                                     static_cast<int64_t>(cfg.sfu.join_timeout_s) * 1000,
                                     cfg.sfu.max_join_message_bytes, cfg.sfu.max_message_bytes}),
      media_(io_), acceptor_(io_), ticker_(io_), tls_(std::move(tls)), rx_(kBatch * kMaxDatagram) {
  const auto& s = cfg.sfu;
  boost::system::error_code ec;
  asio::ip::udp::endpoint mep(asio::ip::make_address(s.media_listen.address.to_string()), s.media_listen.port);
  media_.open(mep.protocol(), ec);
  if (!ec && mep.address().is_v6()) media_.set_option(asio::ip::v6_only(true), ec);
  if (!ec) media_.bind(mep, ec);
  if (ec) throw std::runtime_error("cannot listen on sfu.media_listen " + s.media_listen.to_string() + ": " + ec.message());
  media_.non_blocking(true, ec);
  int buf = 4 << 20;
  setsockopt(media_.native_handle(), SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  setsockopt(media_.native_handle(), SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  tcp::endpoint sep(asio::ip::make_address(s.signal_listen.address.to_string()), s.signal_listen.port);
  acceptor_.open(sep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(sep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on sfu.signal_listen " + s.signal_listen.to_string() + ": " + ec.message());
  for (size_t i = 0; i < kBatch; ++i) {
    iovs_[i] = {rx_.data() + i * kMaxDatagram, kMaxDatagram};
    msgs_[i].msg_hdr.msg_iov = &iovs_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
    msgs_[i].msg_hdr.msg_name = &addrs_[i];
  }
  engine_ = std::make_unique<sfu::Engine>(std::move(engine_cfg), *this);
}

SfuHost::~SfuHost() { stop(); }

void SfuHost::start() {
  accept();
  arm_media();
  schedule_tick();
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(io_);
    run_guarded(io_, "sfu", [this] { if (metrics_) metrics_->internal_error(Metrics::Component::Sfu); });
  });
}

void SfuHost::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    stopped_ = true;
    boost::system::error_code ec;
    acceptor_.close(ec);
    media_.close(ec);
    ticker_.cancel();
    for (auto& [_, s] : signals_) s->close("shutdown");
    io_.stop();
  });
  thread_.join();
}

void SfuHost::residency_denied(const std::string& region) {
  if (metrics_) metrics_->residency_denied(turn::ResidencyDenial::Client, region);
}
void SfuHost::residency_redirect(const std::string& to_region) {
  if (metrics_) metrics_->residency_redirect(to_region);
}
void SfuHost::residency_ended(const std::string& client_region) {
  if (metrics_) metrics_->residency_ended(client_region);
}
void SfuHost::media_session_region(const std::string& client_region, bool drift, int delta) {
  if (metrics_) metrics_->sfu_region_session(client_region, cfg_.region, drift, delta);
}

void SfuHost::reload(std::vector<std::string> token_keys, std::map<std::string, std::string> region_signal_urls,
                     std::shared_ptr<asio::ssl::context> tls) {
  asio::post(io_, [this, keys = std::move(token_keys), urls = std::move(region_signal_urls), tls = std::move(tls)]() mutable {
    if (stopped_) return;
    engine_->set_join_config(std::move(keys), std::move(urls));
    // Sessions hold the SSL objects they were made with (OpenSSL counts the context's references).
    if (tls_ && tls) tls_ = std::move(tls);
  });
}

void SfuHost::residency_changed() {
  asio::post(io_, [this] {
    if (!stopped_) engine_->residency_changed(now().mono_ms);
  });
}

void SfuHost::accept() {
  acceptor_.async_accept([this](beast::error_code ec, tcp::socket sock) {
    if (stopped_) return;
    if (!ec) {
      boost::system::error_code pec;
      auto peer = sock.remote_endpoint(pec);
      if (pec) return accept();  // already gone
      turn::IpAddress from = turn::IpAddress::parse(peer.address().to_string()).value_or(turn::IpAddress{}).unmapped();
      if (auto why = limits_.admit(from); why != sfu::SignalReject::None) {
        signal_rejected(why, from);
        return accept();  // the socket closes as it goes out of scope
      }
      Ticket ticket(this, from);
      beast::tcp_stream stream(std::move(sock));
      if (tls_) {
        serve_http(*this, beast::ssl_stream<beast::tcp_stream>(std::move(stream), *tls_), std::move(ticket), from);
      } else {
        serve_http(*this, std::move(stream), std::move(ticket), from);
      }
    } else if (ec != asio::error::operation_aborted) {
      log::warn("sfu_accept_failed", {log::str("error", ec.message())});
      auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
      t->async_wait([this, t](const boost::system::error_code&) { accept(); });
      return;
    }
    accept();
  });
}

void SfuHost::arm_media() {
  media_.async_wait(asio::ip::udp::socket::wait_read, [this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    drain_media();
    arm_media();
  });
}

void SfuHost::drain_media() {
  int fd = media_.native_handle();
  for (size_t handled = 0; handled < 256;) {
    for (size_t i = 0; i < kBatch; ++i) {
      msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      msgs_[i].msg_hdr.msg_flags = 0;
    }
    int n = ::recvmmsg(fd, msgs_.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    int64_t now_ms = now().mono_ms;
    // What the batch makes the engine send (the fan-out to every subscriber) goes out in sendmmsg
    // batches: one syscall for up to DatagramBatch::kBatch datagrams.
    batching_ = true;
    for (int i = 0; i < n; ++i) {
      turn::Endpoint from;
      if (!from_sockaddr(addrs_[i], from) || (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC)) continue;
      engine_->media({rx_.data() + i * kMaxDatagram, msgs_[i].msg_len}, from, now_ms);
    }
    batching_ = false;
    tx_.flush();
    handled += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < kBatch) return;
  }
}

void SfuHost::schedule_tick() {
  ticker_.expires_after(std::chrono::milliseconds(50));
  ticker_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    batching_ = true;  // the tick's RTCP reports, feedback and probes: in sendmmsg batches too
    engine_->tick(now().mono_ms);
    batching_ = false;
    tx_.flush();
    schedule_tick();
  });
}

void SfuHost::send_media(const turn::Endpoint& to, std::span<const uint8_t> datagram) {
  tx_.queue(media_.native_handle(), to, datagram);  // copied: the engine reuses its buffer
  if (!batching_) tx_.flush();                       // timers and signalling: at once
}

void SfuHost::send_signal(sfu::ConnectionId c, const std::string& json) {
  auto it = signals_.find(c);
  if (it != signals_.end()) it->second->send(json);
}

void SfuHost::close_signal(sfu::ConnectionId c, const char* why) {
  auto it = signals_.find(c);
  if (it != signals_.end()) it->second->close(why);
}

void SfuHost::signal_joined(sfu::ConnectionId c) {
  auto it = signals_.find(c);
  if (it != signals_.end()) it->second->joined();
}

void SfuHost::signal_rejected(sfu::SignalReject why, const turn::IpAddress& from) {
  if (metrics_) metrics_->sfu_signal_rejected(sfu::to_string(why));
  int64_t t = now().mono_ms;
  auto& last = rejected_logged_ms_[static_cast<size_t>(why)];
  if (last != 0 && t - last < 10'000) return;
  last = t;
  log::warn("sfu_signal_rejected", {log::str("reason", sfu::to_string(why)), log::str("client", from.to_string()),
                                    log::num("open", static_cast<long long>(limits_.open())),
                                    log::num("from_prefix", static_cast<long long>(limits_.open_from(from)))});
}

sfu::ConnectionId SfuHost::signal_opened(std::shared_ptr<Signal> s) {
  auto id = next_connection_++;
  auto address = s->address();
  sites_[id].site = site_of && address ? site_of(*address) : "unknown";
  signals_[id] = std::move(s);
  engine_->signal_opened(id, now().mono_ms);
  return id;
}

void SfuHost::signal_message(sfu::ConnectionId c, std::string_view text) {
  auto t = now();
  engine_->signal_message(c, text, t.mono_ms, t.unix_s);
}

void SfuHost::signal_closed(sfu::ConnectionId c, bool leaving) {
  if (signals_.erase(c) == 0) return;
  engine_->signal_closed(c, now().mono_ms, leaving);
  auto it = sites_.find(c);
  if (it == sites_.end()) return;
  it->second.open = false;
  if (!it->second.session) sites_.erase(it);
}

std::string SfuHost::site(sfu::ConnectionId c) const {
  auto it = sites_.find(c);
  return it == sites_.end() ? "unknown" : it->second.site;
}

void SfuHost::media_session_path(sfu::ConnectionId c, sfu::Path from, sfu::Path to) {
  if (on_site_session) on_site_session(site(c), from, to);
  auto it = sites_.find(c);
  if (it == sites_.end()) return;
  it->second.session = to != sfu::Path::Unknown;
  if (!it->second.open && !it->second.session) sites_.erase(it);
}

}  // namespace turnpike
