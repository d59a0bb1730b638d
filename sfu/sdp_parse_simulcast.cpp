// The SDP parser's simulcast attributes of an m= section: a=rid (RFC 8851 4) and a=simulcast
// (RFC 8853 5.1), as Chromium offers them for a simulcast sender ("a=rid:q send",
// "a=simulcast:send q;h;f").
#include "sfu/sdp.hpp"

#include "sfu/sdp_parser.hpp"
#include "sfu/sdp_text.hpp"

#include <algorithm>

namespace sfu::sdp {

using namespace text;

namespace detail {

namespace {

// RFC 8851 10: rid-id = 1*(alpha-numeric / "-" / "_"), at most kMaxRidLength here.
bool valid_rid(std::string_view s) {
  return !s.empty() && s.size() <= kMaxRidLength &&
         std::all_of(s.begin(), s.end(), [](char c) { return is_alnum(c) || c == '-' || c == '_'; });
}

}  // namespace

bool Parser::rid(const Attr& a) {
  // RFC 8851 10: a=rid:<rid-id> SP ("send" / "recv") [SP <restrictions>]
  auto& m = section_->m;
  const std::string where = a.where();
  std::string_view arg = trim(a.arg);
  size_t sp = arg.find_first_of(" \t");
  std::string_view id = arg.substr(0, sp);
  std::string_view rest = sp == std::string_view::npos ? std::string_view{} : trim(arg.substr(sp));
  size_t sp2 = rest.find_first_of(" \t");
  std::string_view dir = rest.substr(0, sp2);
  std::string_view params = sp2 == std::string_view::npos ? std::string_view{} : trim(rest.substr(sp2));
  if (!valid_rid(id)) return bad(Errc::BadValue, where + "bad rid-id " + quote(id));
  if (dir != "send" && dir != "recv") return bad(Errc::BadValue, where + "expected send or recv, got " + quote(dir));
  if (!params.empty() && !is_visible(params)) return bad(Errc::BadValue, where + "bad restrictions " + quote(params));
  if (m.rids.size() == kMaxRids) return bad(Errc::TooMany, "more than " + std::to_string(kMaxRids) + " a=rid");
  if (std::any_of(m.rids.begin(), m.rids.end(), [&](const Rid& r) { return r.id == id; }))
    return bad(Errc::Duplicate, where + "rid " + quote(id) + " is already used");
  m.rids.push_back(Rid{std::string(id), dir == "send", std::string(params)});
  return true;
}

// RFC 8853 5.1: sc-str-list = sc-alt-list *(";" sc-alt-list); sc-alt-list = sc-id *("," sc-id);
// sc-id = [sc-id-paused] rid-id (the paused mark "~" read on the first alternative).
bool Parser::simulcast_streams(std::string_view list, std::vector<SimulcastStream>& out) {
  while (!list.empty()) {
    size_t semi = list.find(';');
    std::string_view stream = list.substr(0, semi);
    list = semi == std::string_view::npos ? std::string_view{} : list.substr(semi + 1);
    if (stream.empty()) return bad(Errc::BadValue, "a=simulcast: empty stream");
    if (out.size() == kMaxRids) return bad(Errc::TooMany, "a=simulcast: more than " + std::to_string(kMaxRids) + " streams");
    SimulcastStream s;
    while (!stream.empty()) {
      size_t comma = stream.find(',');
      std::string_view alt = stream.substr(0, comma);
      stream = comma == std::string_view::npos ? std::string_view{} : stream.substr(comma + 1);
      bool paused = !alt.empty() && alt.front() == '~';
      if (paused) alt.remove_prefix(1);
      if (!valid_rid(alt)) return bad(Errc::BadValue, "a=simulcast: bad rid-id " + quote(alt));
      if (s.rids.size() == kMaxRids) return bad(Errc::TooMany, "a=simulcast: too many alternatives");
      if (s.rids.empty()) s.paused = paused;
      s.rids.emplace_back(alt);
    }
    out.push_back(std::move(s));
  }
  return true;
}

bool Parser::simulcast(const Attr& a) {
  // RFC 8853 5.1: a=simulcast:<sc-value>; sc-value = (sc-send [SP sc-recv]) / (sc-recv [SP sc-send])
  auto& m = section_->m;
  const std::string where = a.where();
  if (m.simulcast) return bad(Errc::Duplicate, "second a=simulcast in the m= section");
  std::vector<std::string_view> w;
  if (!split(a.arg, w, 4) || w.empty() || w.size() % 2 != 0)
    return bad(Errc::BadValue, where + "expected send|recv <streams> [send|recv <streams>]");
  Simulcast sc;
  bool seen_send = false, seen_recv = false;
  for (size_t i = 0; i < w.size(); i += 2) {
    bool send = w[i] == "send";
    if ((!send && w[i] != "recv") || (send ? seen_send : seen_recv))
      return bad(Errc::BadValue, where + "expected send or recv once each, got " + quote(w[i]));
    (send ? seen_send : seen_recv) = true;
    if (!simulcast_streams(w[i + 1], send ? sc.send : sc.recv)) return false;
  }
  m.simulcast = std::move(sc);
  return true;
}

}  // namespace detail
}  // namespace sfu::sdp
