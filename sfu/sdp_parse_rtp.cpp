// The SDP parser's RTP attributes of an m= section: a=rtpmap (RFC 8866 6.6), a=fmtp (RFC 8866 6.15),
// a=rtcp-fb (RFC 4585 4.2), a=extmap (RFC 8285 7), a=ssrc and a=ssrc-group (RFC 5576 4).
#include "sfu/sdp.hpp"

#include "sfu/sdp_parser.hpp"
#include "sfu/sdp_text.hpp"

#include <algorithm>

namespace sfu::sdp {

using namespace text;

namespace detail {

// "<pt> <rest>" for a=rtpmap, a=fmtp, a=rtcp-fb; pt "*" only where `star` (a=rtcp-fb).
bool Parser::pt_and_rest(std::string_view what, std::string_view arg, int& pt, std::string_view& rest, bool star) {
  arg = trim(arg);
  size_t sp = arg.find_first_of(" \t");
  std::string_view p = arg.substr(0, sp);
  rest = sp == std::string_view::npos ? std::string_view{} : trim(arg.substr(sp));
  if (star && p == "*") {
    pt = -1;
    return true;
  }
  auto n = number<uint8_t>(p, 127);
  if (!n) return bad(Errc::BadValue, std::string(what) + "payload type " + quote(p) + " is not 0-127");
  pt = *n;
  return true;
}

bool Parser::rtpmap(const Attr& a) {
  // RFC 8866 6.6: a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]
  std::string_view arg = a.arg;
  int pt;
  std::string_view rest;
  if (!pt_and_rest("a=rtpmap: ", arg, pt, rest)) return false;
  auto& st = section_->pts[static_cast<size_t>(pt)];
  std::string_view parts[3];
  size_t n = 0;
  for (std::string_view r = rest;;) {
    size_t slash = r.find('/');
    if (n == 3) { n = 4; break; }
    parts[n++] = r.substr(0, slash);
    if (slash == std::string_view::npos) break;
    r = r.substr(slash + 1);
  }
  if (n < 2 || n > 3 || !is_token(parts[0], 64))
    return bad(Errc::BadValue, "a=rtpmap: expected <pt> <name>/<clock rate>[/<channels>], got " + quote(arg));
  auto clock = number<uint32_t>(parts[1]);
  if (!clock || *clock == 0) return bad(Errc::BadValue, "a=rtpmap: bad clock rate " + quote(parts[1]));
  std::optional<uint8_t> channels = uint8_t{0};
  if (n == 3) {
    channels = number<uint8_t>(parts[2]);
    if (!channels || *channels == 0) return bad(Errc::BadValue, "a=rtpmap: bad channel count " + quote(parts[2]));
  }
  if (!st.listed) return true;  // not on the m= line: ignored
  if (st.has_rtpmap) return bad(Errc::Duplicate, "second a=rtpmap for payload type " + std::to_string(pt));
  st.has_rtpmap = true;
  st.codec.name = std::string(parts[0]);
  st.codec.clock_rate = *clock;
  st.codec.channels = *channels;
  return true;
}

bool Parser::fmtp(const Attr& a) {
  // RFC 8866 6.15: a=fmtp:<format> <format specific parameters>
  std::string_view arg = a.arg;
  int pt;
  std::string_view rest;
  if (!pt_and_rest("a=fmtp: ", arg, pt, rest)) return false;
  auto& st = section_->pts[static_cast<size_t>(pt)];
  if (!st.listed) return true;
  if (st.has_fmtp) return bad(Errc::Duplicate, "second a=fmtp for payload type " + std::to_string(pt));
  st.has_fmtp = true;
  st.codec.fmtp = std::string(rest);
  return true;
}

bool Parser::rtcp_fb(const Attr& a) {
  // RFC 4585 4.2: a=rtcp-fb:<pt or *> <type> [<parameters>]
  std::string_view arg = a.arg;
  int pt;
  std::string_view rest;
  if (!pt_and_rest("a=rtcp-fb: ", arg, pt, rest, true)) return false;
  std::vector<std::string_view> w;
  if (!split(rest, w, 8) || w.empty())
    return bad(Errc::BadValue, "a=rtcp-fb: expected <pt> <type> [<parameters>], got " + quote(arg));
  std::string fb;
  for (auto t : w) {
    if (!is_token(t, 64)) return bad(Errc::BadValue, "a=rtcp-fb: bad value " + quote(t));
    if (!fb.empty()) fb += ' ';
    fb += t;
  }
  std::vector<std::string>* list = nullptr;
  if (pt < 0) list = &section_->m.rtcp_fb_all;
  else if (section_->pts[static_cast<size_t>(pt)].listed) list = &section_->pts[static_cast<size_t>(pt)].codec.rtcp_fb;
  else return true;
  if (list->size() == kMaxRtcpFb) return bad(Errc::TooMany, "more than " + std::to_string(kMaxRtcpFb) + " a=rtcp-fb for one payload type");
  list->push_back(std::move(fb));
  return true;
}

bool Parser::extmap(const Attr& a) {
  // RFC 8285 7: a=extmap:<value>["/"<direction>] <URI> <extensionattributes>
  std::string_view arg = trim(a.arg);
  size_t sp = arg.find_first_of(" \t");
  std::string_view idpart = arg.substr(0, sp);
  std::string_view rest = sp == std::string_view::npos ? std::string_view{} : trim(arg.substr(sp));
  size_t sp2 = rest.find_first_of(" \t");
  std::string_view uri = rest.substr(0, sp2);
  std::string_view attrs = sp2 == std::string_view::npos ? std::string_view{} : trim(rest.substr(sp2));
  Extmap e;
  std::string_view id = idpart;
  if (auto slash = idpart.find('/'); slash != std::string_view::npos) {
    id = idpart.substr(0, slash);
    e.direction = parse_direction(idpart.substr(slash + 1));
    if (!e.direction) return bad(Errc::BadValue, "a=extmap: bad direction " + quote(idpart.substr(slash + 1)));
  }
  auto n = number<uint8_t>(id, 255);
  if (!n || *n == 0) return bad(Errc::BadValue, "a=extmap: id " + quote(id) + " is not 1-255");
  if (!is_visible(uri) || uri.size() > 256) return bad(Errc::BadValue, "a=extmap: bad URI " + quote(uri));
  auto& list = section_->m.extmaps;
  if (std::any_of(list.begin(), list.end(), [&](const Extmap& x) { return x.id == *n; }))
    return bad(Errc::Duplicate, "a=extmap: id " + std::to_string(*n) + " used twice");
  if (list.size() == kMaxExtmaps) return bad(Errc::TooMany, "more than " + std::to_string(kMaxExtmaps) + " a=extmap");
  e.id = *n;
  e.uri = std::string(uri);
  e.attributes = std::string(attrs);
  list.push_back(std::move(e));
  return true;
}

bool Parser::ssrc(const Attr& a) {
  // RFC 5576 4.1: a=ssrc:<ssrc-id> <attribute>[:<value>]
  std::string_view arg = trim(a.arg);
  size_t sp = arg.find_first_of(" \t");
  auto id = number<uint32_t>(arg.substr(0, sp));
  if (!id) return bad(Errc::BadValue, "a=ssrc: bad SSRC " + quote(arg.substr(0, sp)));
  if (sp == std::string_view::npos) return bad(Errc::BadValue, "a=ssrc: missing attribute");
  std::string_view attr = trim(arg.substr(sp));
  std::string_view aname = attr, aval;
  if (auto c = attr.find(':'); c != std::string_view::npos) {
    aname = attr.substr(0, c);
    aval = attr.substr(c + 1);
  }
  if (!is_token(aname, 64)) return bad(Errc::BadValue, "a=ssrc: bad attribute " + quote(aname));
  if (aname != "cname" && aname != "msid") return true;  // label, mslabel, ...: ignored
  auto& list = section_->m.ssrcs;
  auto it = std::find_if(list.begin(), list.end(), [&](const Ssrc& s) { return s.ssrc == *id; });
  if (it == list.end()) {
    if (list.size() == kMaxSsrcs) return bad(Errc::TooMany, "more than " + std::to_string(kMaxSsrcs) + " SSRCs");
    list.push_back(Ssrc{*id, {}, {}});
    it = list.end() - 1;
  }
  if (aname == "cname") {
    // RFC 7022: cname; kept as written (Chromium: 16 base64 characters).
    aval = trim(aval);
    if (!is_visible(aval) || aval.size() > 255) return bad(Errc::BadValue, "a=ssrc: bad cname " + quote(aval));
    if (!it->cname.empty()) return bad(Errc::Duplicate, "a=ssrc: second cname for SSRC " + std::to_string(*id));
    it->cname = std::string(aval);
  } else {
    Msid m;
    if (!parse_msid(aval, m)) return bad(Errc::BadValue, "a=ssrc: expected msid:<stream id> [<track id>]");
    if (it->msid) return bad(Errc::Duplicate, "a=ssrc: second msid for SSRC " + std::to_string(*id));
    it->msid = std::move(m);
  }
  return true;
}

bool Parser::ssrc_group(const Attr& a) {
  // RFC 5576 4.2: a=ssrc-group:<semantics> *(SP <ssrc-id>)
  std::string_view arg = a.arg;
  std::vector<std::string_view> w;
  if (!split(arg, w, kMaxGroupSsrcs + 1))
    return bad(Errc::TooMany, "a=ssrc-group: more than " + std::to_string(kMaxGroupSsrcs) + " SSRCs");
  if (w.size() < 2 || !is_token(w[0], 32)) return bad(Errc::BadValue, "a=ssrc-group: expected <semantics> <ssrc>...");
  SsrcGroup g{std::string(w[0]), {}};
  for (size_t i = 1; i < w.size(); ++i) {
    auto id = number<uint32_t>(w[i]);
    if (!id) return bad(Errc::BadValue, "a=ssrc-group: bad SSRC " + quote(w[i]));
    g.ssrcs.push_back(*id);
  }
  auto& list = section_->m.ssrc_groups;
  if (list.size() == kMaxSsrcGroups) return bad(Errc::TooMany, "more than " + std::to_string(kMaxSsrcGroups) + " a=ssrc-group");
  list.push_back(std::move(g));
  return true;
}

}  // namespace detail

}  // namespace sfu::sdp
