// A one-shot HTTP/1.1 POST over Boost.Beast (http://, or https:// with OpenSSL), for sending
// a diagnostic result to Turnpike's admin API. Part of the turnpike-diag binary, not the
// sans-I/O library.
#pragma once
#include <chrono>
#include <optional>
#include <string>

#include "diag/cli.hpp"

namespace diag {

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::string body;
};

// Throws std::exception with a readable message when no response arrives (resolution,
// connection, TLS verification, timeout). Any HTTP status is returned, not thrown.
HttpResponse http_post(const Url& url, const std::string& body, const std::string& content_type,
                       const std::optional<std::string>& bearer_token, const std::optional<std::string>& cacert,
                       std::chrono::milliseconds timeout);

}  // namespace diag
