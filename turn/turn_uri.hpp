// A TURN server URI (RFC 7065 3.1): "turn:" or "turns:", a host, an optional port and an optional
// "?transport=udp|tcp". Parsed in full from text into an owned value; the residency catalog uses
// the ones with a literal address as ALTERNATE-SERVER targets (RFC 8656 6.2, RFC 8489 10).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "turn/address.hpp"

namespace turn {

struct TurnUri {
  bool secure = false;                  // turns: TLS, or DTLS with ?transport=udp
  enum class Proto : uint8_t { Unspecified, Udp, Tcp } proto = Proto::Unspecified;
  std::string host;                     // as written; an IPv6 literal without its brackets
  uint16_t port = 0;                    // as written, else TURN's default: 3478, or 5349 for turns:
  std::optional<IpAddress> literal;     // the host, when it is an IPv4 or bracketed IPv6 literal

  // nullopt and a reason in *why for anything RFC 7065 does not allow, a port outside 1..65535,
  // or a transport other than udp or tcp (the only ones TURN clients speak).
  static std::optional<TurnUri> parse(std::string_view text, std::string* why = nullptr);

  // Whether a client that reached us over `t` can reach this server over the same transport
  // (RFC 8489 10: a redirected client keeps its transport). A URI without ?transport= is taken
  // to serve both of its scheme's transports, as TURN servers listen on one port for UDP and TCP
  // (3478) and for DTLS and TLS (5349).
  bool carries(Transport t) const;
  // carries(t), and says so explicitly with ?transport=.
  bool names(Transport t) const;
  std::optional<Endpoint> endpoint() const {
    if (!literal) return std::nullopt;
    return Endpoint{*literal, port};
  }
};

}  // namespace turn
