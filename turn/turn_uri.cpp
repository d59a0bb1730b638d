#include "turn/turn_uri.hpp"

#include <charconv>

namespace turn {
namespace {

bool fail(std::string* why, const char* reason) {
  if (why) *why = reason;
  return false;
}

// RFC 3986 3.2.2 reg-name, narrowed to what names a host in DNS: letters, digits, '-', '.', '_'.
bool reg_name(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  for (char ch : h)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
          ch == '.' || ch == '_'))
      return false;
  return true;
}

bool parse_host(std::string_view& rest, TurnUri& u, std::string* why) {
  if (!rest.empty() && rest.front() == '[') {  // IP-literal (RFC 3986 3.2.2)
    auto close = rest.find(']');
    if (close == std::string_view::npos) return fail(why, "an IPv6 literal needs its closing ']'");
    auto ip = IpAddress::parse(rest.substr(1, close - 1));
    if (!ip || ip->is_v4()) return fail(why, "the bracketed host is not an IPv6 address");
    u.host = std::string(rest.substr(1, close - 1));
    u.literal = ip;
    rest.remove_prefix(close + 1);
    return true;
  }
  auto end = rest.find_first_of(":?");
  std::string_view h = rest.substr(0, end);
  if (auto ip = IpAddress::parse(h); ip && ip->is_v4()) u.literal = ip;
  else if (!reg_name(h)) return fail(why, "the host is neither an address nor a host name");
  else if (h.find_first_not_of("0123456789.") == std::string_view::npos)
    return fail(why, "the host is not a valid IPv4 address");
  u.host = std::string(h);
  rest.remove_prefix(h.size());
  return true;
}

bool parse_port(std::string_view& rest, TurnUri& u, std::string* why) {
  u.port = u.secure ? 5349 : 3478;
  if (rest.empty() || rest.front() != ':') return true;
  rest.remove_prefix(1);
  std::string_view digits = rest.substr(0, rest.find('?'));
  unsigned v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size() || v == 0 || v > 65535)
    return fail(why, "the port must be a number from 1 to 65535");
  u.port = static_cast<uint16_t>(v);
  rest.remove_prefix(digits.size());
  return true;
}

bool parse_transport(std::string_view rest, TurnUri& u, std::string* why) {
  if (rest.empty()) return true;
  constexpr std::string_view key = "?transport=";
  if (rest.substr(0, key.size()) != key) return fail(why, "the only query a TURN URI has is ?transport=");
  rest.remove_prefix(key.size());
  if (rest == "udp") u.proto = TurnUri::Proto::Udp;
  else if (rest == "tcp") u.proto = TurnUri::Proto::Tcp;
  else return fail(why, "transport must be udp or tcp");
  return true;
}

}  // namespace

std::optional<TurnUri> TurnUri::parse(std::string_view text, std::string* why) {
  TurnUri u;
  std::string_view rest = text;
  if (rest.substr(0, 6) == "turns:") {
    u.secure = true;
    rest.remove_prefix(6);
  } else if (rest.substr(0, 5) == "turn:") {
    rest.remove_prefix(5);
  } else {
    fail(why, "must start with turn: or turns:");
    return std::nullopt;
  }
  if (rest.substr(0, 2) == "//") {  // RFC 7065 has no authority part: "turn://h" is a common slip
    fail(why, "a TURN URI has no '//' (turn:host:port)");
    return std::nullopt;
  }
  if (!parse_host(rest, u, why) || !parse_port(rest, u, why) || !parse_transport(rest, u, why)) return std::nullopt;
  return u;
}

bool TurnUri::carries(Transport t) const {
  switch (t) {
    case Transport::Udp: return !secure && proto != Proto::Tcp;
    case Transport::Tcp: return !secure && proto != Proto::Udp;
    case Transport::Tls: return secure && proto != Proto::Udp;
    case Transport::Dtls: return secure && proto != Proto::Tcp;
  }
  return false;
}

bool TurnUri::names(Transport t) const {
  return carries(t) && proto != Proto::Unspecified;
}

}  // namespace turn
