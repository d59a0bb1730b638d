// TLS server context for `transport: tls` listeners: OpenSSL 3 through asio::ssl, TLS 1.2 and 1.3,
// ECDHE with AEAD ciphers only on 1.2, ALPN "stun.turn" (RFC 7443). Re-read on SIGHUP.
#pragma once
#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <mutex>
#include <string>

namespace turnpike {

class TlsContexts {
 public:
  // Throws std::runtime_error naming the file on failure (start-up only).
  static std::shared_ptr<boost::asio::ssl::context> load(const std::string& cert, const std::string& key);
  void set(std::shared_ptr<boost::asio::ssl::context> ctx) {
    std::lock_guard lock(mu_);
    current_ = std::move(ctx);
  }
  std::shared_ptr<boost::asio::ssl::context> current() const {
    std::lock_guard lock(mu_);
    return current_;
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> current_;
};

}  // namespace turnpike
