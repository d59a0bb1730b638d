// The SDP parser (RFC 8866 with the WebRTC attributes of RFC 8829/8839/8843): text in, a bounded
// SessionDescription or an Error with the line out. This file: the lines, the session and the m=
// grammar (RFC 8866 5); the attributes are in sdp_parse_attr.cpp, sdp_parse_rtp.cpp and
// sdp_candidate.cpp (the parser's state: sdp_parser.hpp).
#include "sfu/sdp.hpp"

#include "sfu/sdp_parser.hpp"
#include "sfu/sdp_text.hpp"

#include <algorithm>
#include <array>

namespace sfu::sdp {

using namespace text;

namespace detail {

namespace {

// RFC 3551 6: static payload types a browser may list without a=rtpmap.
struct StaticPt {
  uint8_t pt;
  std::string_view name;
  uint32_t clock;
};
constexpr std::array<StaticPt, 6> kStatic{{{0, "PCMU", 8000}, {3, "GSM", 8000}, {4, "G723", 8000},
                                           {8, "PCMA", 8000}, {9, "G722", 8000}, {13, "CN", 8000}}};

MediaKind media_kind(std::string_view media) {
  return media == "audio" ? MediaKind::Audio
         : media == "video" ? MediaKind::Video
         : media == "application" ? MediaKind::Application : MediaKind::Other;
}

// RFC 8866 9: proto = token *("/" token)
bool valid_proto(std::string_view p) {
  return !p.empty() && p.size() <= 64 && p.front() != '/' && p.back() != '/' && p.find("//") == std::string_view::npos &&
         std::all_of(p.begin(), p.end(), [](char c) { return c == '/' || is_token_char(c); });
}

}  // namespace

std::optional<SessionDescription> Parser::run(std::string_view text) {
  error_ = Error{};
  if (text.size() > kMaxSize)
    return fail(Errc::TooLarge, 0, "the description is " + std::to_string(text.size()) + " bytes (at most " +
                                       std::to_string(kMaxSize) + ")");
  if (text.empty()) return fail(Errc::BadOrder, 0, "empty description");
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!handle_line(line)) return std::nullopt;
  }
  if (!finish()) return std::nullopt;
  return std::move(sd_);
}

std::nullopt_t Parser::fail(Errc code, size_t line, std::string message) {
  error_.code = code;
  error_.line = line;
  error_.message = std::move(message);
  return std::nullopt;
}

bool Parser::bad(Errc code, std::string message) {
  fail(code, line_no_, std::move(message));
  return false;
}

bool Parser::handle_line(std::string_view line) {
  if (line.size() > kMaxLineLength)
    return bad(Errc::TooLarge, "the line is " + std::to_string(line.size()) + " bytes (at most " +
                                   std::to_string(kMaxLineLength) + ")");
  if (line.empty()) return bad(Errc::BadLine, "empty line");
  if (line.find('\0') != std::string_view::npos || line.find('\r') != std::string_view::npos)
    return bad(Errc::BadLine, "NUL or CR inside the line");
  // RFC 8866 5: <type>=<value>, type one lower-case letter.
  if (line.size() < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z')
    return bad(Errc::BadLine, "not <type>=<value>: " + quote(line));
  char type = line[0];
  std::string_view value = line.substr(2);
  // RFC 8866 5: v=, o=, s= come first and in that order.
  if (line_no_ == 1) {
    if (type != 'v') return bad(Errc::BadOrder, "the first line must be v=0");
    if (value != "0") return bad(Errc::BadValue, "v=: unsupported version " + quote(value));
    return true;
  }
  if (line_no_ == 2) {
    if (type != 'o') return bad(Errc::BadOrder, "the second line must be o=");
    return origin(value);
  }
  if (line_no_ == 3) {
    if (type != 's') return bad(Errc::BadOrder, "the third line must be s=");
    sd_.session_name = std::string(value);
    return true;
  }
  switch (type) {
    case 'v': case 'o': case 's':
      return bad(Errc::BadOrder, std::string(1, type) + "= may appear only once, at the start");
    case 't': case 'r': case 'z': case 'u': case 'e': case 'p':
      if (section_) return bad(Errc::BadOrder, std::string(1, type) + "= is not allowed in an m= section");
      if (type == 't') return timing(value);
      return true;  // r=, z=, u=, e=, p=: ignored
    case 'i': case 'k':
      return true;  // ignored
    case 'b':
      // RFC 8866 5.8: b=<bwtype>:<bandwidth>; ignored after validation.
      if (auto c = value.find(':'); c == std::string_view::npos || !is_token(value.substr(0, c)) ||
                                    !number<uint64_t>(value.substr(c + 1)))
        return bad(Errc::BadValue, "b=: expected <bwtype>:<bandwidth>, got " + quote(value));
      return true;
    case 'c': return connection(value);
    case 'm': return media(value);
    case 'a': return attribute(value);
    default:
      // RFC 8866 5: a description with a type letter the parser does not understand is rejected.
      return bad(Errc::BadLine, std::string("unknown line type ") + type + "=");
  }
}

bool Parser::origin(std::string_view value) {
  // RFC 8866 5.2: o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>
  std::vector<std::string_view> w;
  if (!split(value, w, 7) || w.size() != 6) return bad(Errc::BadValue, "o=: expected 6 fields");
  auto id = number<uint64_t>(w[1]);
  auto version = number<uint64_t>(w[2]);
  if (!is_visible(w[0]) || w[0].size() > 255) return bad(Errc::BadValue, "o=: bad username");
  if (!id) return bad(Errc::BadValue, "o=: session id " + quote(w[1]) + " is not a 64-bit number");
  if (!version) return bad(Errc::BadValue, "o=: session version " + quote(w[2]) + " is not a 64-bit number");
  if (w[3] != "IN") return bad(Errc::BadValue, "o=: network type must be IN");
  if (!is_token(w[4], 16) || !is_address(w[5])) return bad(Errc::BadValue, "o=: bad address");
  sd_.origin = Origin{std::string(w[0]), *id, *version, std::string(w[4]), std::string(w[5])};
  return true;
}

bool Parser::timing(std::string_view value) {
  // RFC 8866 5.9: t=<start-time> <stop-time>
  std::vector<std::string_view> w;
  if (!split(value, w, 3) || w.size() != 2 || !number<uint64_t>(w[0]) || !number<uint64_t>(w[1]))
    return bad(Errc::BadValue, "t=: expected <start> <stop>");
  has_timing_ = true;
  return true;
}

bool Parser::connection(std::string_view value) {
  // RFC 8866 5.7: c=<nettype> <addrtype> <connection-address>
  std::vector<std::string_view> w;
  if (!split(value, w, 4) || w.size() != 3 || w[0] != "IN" || !is_token(w[1], 16) || !is_address(w[2]))
    return bad(Errc::BadValue, "c=: expected IN <addrtype> <address>, got " + quote(value));
  if (section_) {
    if (section_->m.connection) return bad(Errc::Duplicate, "second c= line in the m= section");
    section_->m.connection = Connection{std::string(w[1]), std::string(w[2])};
  }
  return true;
}

bool Parser::media(std::string_view value) {
  if (!has_timing_) return bad(Errc::BadOrder, "m= before any t= line");
  if (section_ && !close_section()) return false;
  if (sd_.media.size() == kMaxSections)
    return bad(Errc::TooMany, "more than " + std::to_string(kMaxSections) + " m= sections");
  // RFC 8866 5.14: m=<media> <port>[/<number of ports>] <proto> <fmt> ...
  std::vector<std::string_view> w;
  if (!split(value, w, kMaxCodecs + 3))
    return bad(Errc::TooMany, "more than " + std::to_string(kMaxCodecs) + " formats on the m= line");
  if (w.size() < 4) return bad(Errc::BadValue, "m=: expected <media> <port> <proto> <fmt>...");
  section_.emplace();
  section_->line = line_no_;
  auto& m = section_->m;
  if (!is_token(w[0], 32)) return bad(Errc::BadValue, "m=: bad media type " + quote(w[0]));
  m.media = std::string(w[0]);
  m.kind = media_kind(m.media);
  if (!media_port(w[1])) return false;
  if (!valid_proto(w[2])) return bad(Errc::BadValue, "m=: bad protocol " + quote(w[2]));
  m.protocol = std::string(w[2]);
  return media_formats(w);
}

// RFC 8866 5.14: <port>[/<number of ports>]
bool Parser::media_port(std::string_view port) {
  auto& m = section_->m;
  if (auto slash = port.find('/'); slash != std::string_view::npos) {
    auto count = number<uint16_t>(port.substr(slash + 1));
    if (!count || *count == 0) return bad(Errc::BadValue, "m=: bad number of ports " + quote(port));
    m.port_count = *count;
    port = port.substr(0, slash);
  }
  auto p = number<uint16_t>(port);
  if (!p) return bad(Errc::BadValue, "m=: bad port " + quote(port));
  m.port = *p;
  return true;
}

// The <fmt> list of the m= line (w[3] on); for RTP, the payload types.
bool Parser::media_formats(const std::vector<std::string_view>& w) {
  auto& m = section_->m;
  for (size_t i = 3; i < w.size(); ++i) {
    if (!is_token(w[i], 64)) return bad(Errc::BadValue, "m=: bad format " + quote(w[i]));
    m.formats.emplace_back(w[i]);
  }
  if (!m.is_rtp()) return true;
  // RFC 3550 5.1: payload types are 7 bits.
  for (const auto& f : m.formats) {
    auto pt = number<uint8_t>(f, 127);
    if (!pt) return bad(Errc::BadValue, "m=: payload type " + quote(f) + " is not 0-127");
    if (section_->pts[*pt].listed) return bad(Errc::Duplicate, "m=: payload type " + f + " listed twice");
    section_->pts[*pt].listed = true;
    m.payload_types.push_back(*pt);
  }
  return true;
}

// Builds the codec list (m= line order) and stores the section.
bool Parser::close_section() {
  auto& s = *section_;
  auto& m = s.m;
  for (uint8_t pt : m.payload_types) {
    auto& st = s.pts[pt];
    if (!st.has_rtpmap) {
      auto it = std::find_if(kStatic.begin(), kStatic.end(), [&](const StaticPt& x) { return x.pt == pt; });
      if (it == kStatic.end()) continue;
      st.codec.name = std::string(it->name);
      st.codec.clock_rate = it->clock;
    }
    st.codec.payload_type = pt;
    m.codecs.push_back(std::move(st.codec));
  }
  if (s.has_ufrag != s.has_pwd) {
    fail(Errc::BadValue, s.line, "m= section has " + std::string(s.has_ufrag ? "a=ice-ufrag but no a=ice-pwd" : "a=ice-pwd but no a=ice-ufrag"));
    return false;
  }
  if (s.has_ufrag) m.ice = IceCredentials{s.ufrag, s.pwd};
  sd_.media.push_back(std::move(m));
  section_.reset();
  return true;
}

bool Parser::finish() {
  if (line_no_ < 3) return fail(Errc::BadOrder, 0, "missing v=, o= or s= line"), false;
  if (!has_timing_) return fail(Errc::BadOrder, 0, "missing t= line"), false;
  if (section_ && !close_section()) return false;
  if (session_ufrag_.has_value() != session_pwd_.has_value())
    return fail(Errc::BadValue, 0, "session level has only one of a=ice-ufrag and a=ice-pwd"), false;
  if (session_ufrag_) sd_.ice = IceCredentials{*session_ufrag_, *session_pwd_};
  return check_groups();
}

// RFC 5888 5: every identification-tag of a group names an m= section of the description.
bool Parser::check_groups() {
  for (size_t g = 0; g < sd_.groups.size(); ++g)
    for (const auto& mid : sd_.groups[g].mids)
      if (!find_section(sd_, mid))
        return fail(Errc::BadValue, group_lines_[g],
                    "a=group:" + sd_.groups[g].semantics + " names mid " + quote(mid) + ", which no m= section has"),
               false;
  return true;
}

}  // namespace detail

std::optional<SessionDescription> parse(std::string_view text, Error& error) { return detail::Parser(error).run(text); }

}  // namespace sfu::sdp
