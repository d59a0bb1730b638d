// The admin HTTP server (Boost.Beast) on admin.listen: /healthz now; metrics and the API later.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <memory>
#include <thread>

#include "turn/address.hpp"

namespace turnpike {

class AdminServer {
 public:
  // Binds at once; throws std::runtime_error naming the address if it cannot.
  explicit AdminServer(const turn::Endpoint& listen);
  ~AdminServer();
  void start();
  void stop();

 private:
  void accept();
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

}  // namespace turnpike
