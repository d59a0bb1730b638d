// libFuzzer target: the TURN URI parser (RFC 7065) behind the residency catalog's turn_urls. What
// parses must print back to a URI that parses to the same value (round trip).
#include <string>

#include "turn/turn_uri.hpp"
#include "tests/fuzz/target.hpp"

TURNPIKE_FUZZ_TARGET("turn", turn_uri) {
  std::string why;
  auto u = turn::TurnUri::parse({reinterpret_cast<const char*>(data), size}, &why);
  if (!u) {
    if (why.empty()) FUZZ_FAIL();  // every refusal says why
    return 0;
  }
  std::string host = u->literal && !u->literal->is_v4() ? "[" + u->host + "]" : u->host;
  std::string text = (u->secure ? "turns:" : "turn:") + host + ":" + std::to_string(u->port);
  if (u->proto == turn::TurnUri::Proto::Udp) text += "?transport=udp";
  if (u->proto == turn::TurnUri::Proto::Tcp) text += "?transport=tcp";
  auto again = turn::TurnUri::parse(text);
  if (!again || again->secure != u->secure || again->proto != u->proto || again->host != u->host ||
      again->port != u->port || again->literal != u->literal)
    FUZZ_FAIL();
  return 0;
}
