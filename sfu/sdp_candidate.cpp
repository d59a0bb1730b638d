// a=candidate (RFC 8839 5.1): one ICE candidate, read once here for the SDP parser and for the
// engine's trickled candidates alike.
#include "sfu/sdp.hpp"

#include "sfu/sdp_parser.hpp"
#include "sfu/sdp_text.hpp"

namespace sfu::sdp {

using namespace text;

std::optional<Candidate> parse_candidate(std::string_view value, Error& error) {
  // RFC 8839 5.1: <foundation> <component-id> <transport> <priority> <address> <port> typ <cand-type>
  //               [raddr <address>] [rport <port>] *(<extension-att-name> <extension-att-value>)
  error = Error{};
  auto bad = [&](Errc code, std::string message) -> std::optional<Candidate> {
    error = Error{code, 0, std::move(message)};
    return std::nullopt;
  };
  std::vector<std::string_view> w;
  if (!split(value, w, 40)) return bad(Errc::TooMany, "a=candidate: too many fields");
  if (w.size() < 8 || (w.size() - 8) % 2 != 0 || w[6] != "typ")
    return bad(Errc::BadValue, "a=candidate: expected <foundation> <component> <transport> <priority> <address> <port> typ <type> [<name> <value>]...");
  Candidate c;
  if (w[0].size() > 32 || !is_ice_chars(w[0]) || w[0].empty()) return bad(Errc::BadValue, "a=candidate: bad foundation " + quote(w[0]));
  auto comp = number<uint16_t>(w[1], 256);
  if (!comp || *comp == 0) return bad(Errc::BadValue, "a=candidate: bad component " + quote(w[1]));
  if (!is_token(w[2], 16)) return bad(Errc::BadValue, "a=candidate: bad transport " + quote(w[2]));
  auto prio = number<uint32_t>(w[3]);
  if (!prio) return bad(Errc::BadValue, "a=candidate: bad priority " + quote(w[3]));
  if (!is_address(w[4])) return bad(Errc::BadValue, "a=candidate: bad address " + quote(w[4]));
  auto port = number<uint16_t>(w[5]);
  if (!port) return bad(Errc::BadValue, "a=candidate: bad port " + quote(w[5]));
  if (!is_token(w[7], 16)) return bad(Errc::BadValue, "a=candidate: bad type " + quote(w[7]));
  c.foundation = std::string(w[0]);
  c.component = *comp;
  c.transport = std::string(w[2]);
  c.priority = *prio;
  c.address = std::string(w[4]);
  c.port = *port;
  c.type = std::string(w[7]);
  for (size_t i = 8; i < w.size(); i += 2) {
    std::string_view k = w[i], v = w[i + 1];
    if (k == "raddr") {
      if (c.related_address || !is_address(v)) return bad(Errc::BadValue, "a=candidate: bad raddr " + quote(v));
      c.related_address = std::string(v);
    } else if (k == "rport") {
      auto rp = number<uint16_t>(v);
      if (c.related_port || !rp) return bad(Errc::BadValue, "a=candidate: bad rport " + quote(v));
      c.related_port = *rp;
    } else {
      if (!is_token(k, 64) || !is_visible(v) || v.size() > 256)
        return bad(Errc::BadValue, "a=candidate: bad extension " + quote(k));
      c.extensions.emplace_back(k, v);
    }
  }
  return c;
}

namespace detail {

bool Parser::candidate(const Attr& a) {
  auto& list = section_->m.candidates;
  if (list.size() == kMaxCandidates) return bad(Errc::TooMany, "more than " + std::to_string(kMaxCandidates) + " a=candidate");
  Error e;
  auto c = parse_candidate(a.arg, e);
  if (!c) return bad(e.code, std::move(e.message));
  list.push_back(std::move(*c));
  return true;
}

}  // namespace detail

}  // namespace sfu::sdp
