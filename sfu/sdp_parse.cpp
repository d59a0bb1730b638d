// The SDP parser (RFC 8866 with the WebRTC attributes of RFC 8829/8839/8843): text in, a bounded
// SessionDescription or an Error with the line out.
#include "sfu/sdp.hpp"

#include "sfu/sdp_text.hpp"

#include <array>
#include <charconv>
#include <set>

namespace sfu::sdp {

using namespace text;

namespace {

std::optional<Direction> parse_direction(std::string_view s) {
  if (s == "sendrecv") return Direction::SendRecv;
  if (s == "sendonly") return Direction::SendOnly;
  if (s == "recvonly") return Direction::RecvOnly;
  if (s == "inactive") return Direction::Inactive;
  return std::nullopt;
}

std::optional<Setup> parse_setup(std::string_view s) {
  if (s == "actpass") return Setup::ActPass;
  if (s == "active") return Setup::Active;
  if (s == "passive") return Setup::Passive;
  if (s == "holdconn") return Setup::HoldConn;
  return std::nullopt;
}

// RFC 8122 5 hash functions with their digest sizes; a higher rank is preferred when several
// fingerprints are offered (RFC 8122 5: use the most preferred hash function).
struct HashFunc {
  std::string_view name;
  size_t size;
  int rank;
};
constexpr std::array<HashFunc, 7> kHashes{{{"md2", 16, 0}, {"md5", 16, 0}, {"sha-1", 20, 1}, {"sha-224", 28, 2},
                                           {"sha-256", 32, 3}, {"sha-384", 48, 4}, {"sha-512", 64, 5}}};
const HashFunc* hash_func(std::string_view name) {
  for (const auto& h : kHashes)
    if (h.name == name) return &h;
  return nullptr;
}
int hash_rank(std::string_view name) {
  auto* h = hash_func(name);
  return h ? h->rank : -1;
}

// RFC 3551 6: static payload types a browser may list without a=rtpmap.
struct StaticPt {
  uint8_t pt;
  std::string_view name;
  uint32_t clock;
};
constexpr std::array<StaticPt, 6> kStatic{{{0, "PCMU", 8000}, {3, "GSM", 8000}, {4, "G723", 8000},
                                           {8, "PCMA", 8000}, {9, "G722", 8000}, {13, "CN", 8000}}};

// RFC 8839 5.4 ice-ufrag / ice-pwd.
bool valid_ufrag(std::string_view s) { return s.size() >= 4 && s.size() <= 256 && is_ice_chars(s); }
bool valid_pwd(std::string_view s) { return s.size() >= 22 && s.size() <= 256 && is_ice_chars(s); }

// RFC 8830 2: msid-id and msid-appdata are 1*64 token-char.
bool parse_msid(std::string_view value, Msid& out) {
  std::vector<std::string_view> w;
  if (!split(value, w, 3) || w.empty() || w.size() > 2) return false;
  if (!is_token(w[0], 64) || (w.size() == 2 && !is_token(w[1], 64))) return false;
  out.stream = std::string(w[0]);
  out.track = w.size() == 2 ? std::string(w[1]) : std::string();
  return true;
}

// ---- the parser

struct PtState {
  bool listed = false;
  bool has_rtpmap = false;
  bool has_fmtp = false;
  Codec codec;
};

struct SectionState {
  MediaSection m;
  size_t line = 0;
  bool has_direction = false, has_ufrag = false, has_pwd = false, has_setup = false, has_ice_options = false;
  std::string ufrag, pwd;
  std::array<PtState, 128> pts{};
};

class Parser {
 public:
  explicit Parser(Error& error) : error_(error) {}

  std::optional<SessionDescription> run(std::string_view text) {
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

 private:
  std::nullopt_t fail(Errc code, size_t line, std::string message) {
    error_.code = code;
    error_.line = line;
    error_.message = std::move(message);
    return std::nullopt;
  }
  bool bad(Errc code, std::string message) {
    fail(code, line_no_, std::move(message));
    return false;
  }

  bool handle_line(std::string_view line) {
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

  bool origin(std::string_view value) {
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

  bool timing(std::string_view value) {
    // RFC 8866 5.9: t=<start-time> <stop-time>
    std::vector<std::string_view> w;
    if (!split(value, w, 3) || w.size() != 2 || !number<uint64_t>(w[0]) || !number<uint64_t>(w[1]))
      return bad(Errc::BadValue, "t=: expected <start> <stop>");
    has_timing_ = true;
    return true;
  }

  bool connection(std::string_view value) {
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

  bool media(std::string_view value) {
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
    m.kind = m.media == "audio" ? MediaKind::Audio
             : m.media == "video" ? MediaKind::Video
             : m.media == "application" ? MediaKind::Application : MediaKind::Other;
    std::string_view port = w[1];
    if (auto slash = port.find('/'); slash != std::string_view::npos) {
      auto count = number<uint16_t>(port.substr(slash + 1));
      if (!count || *count == 0) return bad(Errc::BadValue, "m=: bad number of ports " + quote(port));
      m.port_count = *count;
      port = port.substr(0, slash);
    }
    auto p = number<uint16_t>(port);
    if (!p) return bad(Errc::BadValue, "m=: bad port " + quote(port));
    m.port = *p;
    // RFC 8866 9: proto = token *("/" token)
    bool proto_ok = !w[2].empty() && w[2].size() <= 64 && w[2].front() != '/' && w[2].back() != '/' &&
                    w[2].find("//") == std::string_view::npos &&
                    std::all_of(w[2].begin(), w[2].end(), [](char c) { return c == '/' || is_token_char(c); });
    if (!proto_ok) return bad(Errc::BadValue, "m=: bad protocol " + quote(w[2]));
    m.protocol = std::string(w[2]);
    for (size_t i = 3; i < w.size(); ++i) {
      if (!is_token(w[i], 64)) return bad(Errc::BadValue, "m=: bad format " + quote(w[i]));
      m.formats.emplace_back(w[i]);
    }
    if (m.is_rtp()) {
      // RFC 3550 5.1: payload types are 7 bits.
      for (const auto& f : m.formats) {
        auto pt = number<uint8_t>(f, 127);
        if (!pt) return bad(Errc::BadValue, "m=: payload type " + quote(f) + " is not 0-127");
        if (section_->pts[*pt].listed) return bad(Errc::Duplicate, "m=: payload type " + f + " listed twice");
        section_->pts[*pt].listed = true;
        m.payload_types.push_back(*pt);
      }
    }
    return true;
  }

  // Builds the codec list (m= line order) and stores the section.
  bool close_section() {
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

  bool finish() {
    if (line_no_ < 3) return fail(Errc::BadOrder, 0, "missing v=, o= or s= line"), false;
    if (!has_timing_) return fail(Errc::BadOrder, 0, "missing t= line"), false;
    if (section_ && !close_section()) return false;
    if (session_ufrag_.has_value() != session_pwd_.has_value())
      return fail(Errc::BadValue, 0, "session level has only one of a=ice-ufrag and a=ice-pwd"), false;
    if (session_ufrag_) sd_.ice = IceCredentials{*session_ufrag_, *session_pwd_};
    // RFC 5888 5: every identification-tag of a group names an m= section of the description.
    for (size_t g = 0; g < sd_.groups.size(); ++g)
      for (const auto& mid : sd_.groups[g].mids)
        if (!find_section(sd_, mid))
          return fail(Errc::BadValue, group_lines_[g],
                      "a=group:" + sd_.groups[g].semantics + " names mid " + quote(mid) + ", which no m= section has"),
                 false;
    return true;
  }

  bool attribute(std::string_view value) {
    // RFC 8866 5.13: a=<attribute-name>[:<attribute-value>]
    std::string_view name = value, arg;
    bool has_arg = false;
    if (auto c = value.find(':'); c != std::string_view::npos) {
      name = value.substr(0, c);
      arg = value.substr(c + 1);
      has_arg = true;
    }
    if (!is_token(name, 64)) return bad(Errc::BadLine, "bad attribute name " + quote(name));
    std::string where = "a=" + std::string(name) + ": ";
    auto need_arg = [&]() {
      if (has_arg) return true;
      return bad(Errc::BadValue, where + "missing value");
    };
    if (!section_) return session_attribute(name, arg, has_arg, where, need_arg);

    auto& s = *section_;
    auto& m = s.m;
    if (auto d = parse_direction(name)) {
      if (s.has_direction) return bad(Errc::Duplicate, "second direction attribute in the m= section");
      s.has_direction = true;
      m.direction = *d;
      return true;
    }
    if (name == "mid") {
      if (!need_arg()) return false;
      // RFC 5888 4: identification-tag = token; unique in the description.
      if (!is_token(arg, kMaxMidLength)) return bad(Errc::BadValue, where + "bad mid " + quote(arg));
      if (!m.mid.empty()) return bad(Errc::Duplicate, "second a=mid in the m= section");
      if (find_section(sd_, arg)) return bad(Errc::Duplicate, where + "mid " + quote(arg) + " is already used");
      m.mid = std::string(arg);
      return true;
    }
    if (name == "ice-ufrag" || name == "ice-pwd") return ice(name, arg, has_arg, s.has_ufrag, s.has_pwd, s.ufrag, s.pwd);
    if (name == "ice-options") {
      if (s.has_ice_options) return bad(Errc::Duplicate, "second a=ice-options in the m= section");
      s.has_ice_options = true;
      return ice_options(arg, m.ice_options);
    }
    if (name == "fingerprint") return need_arg() && fingerprint(arg, m.fingerprint);
    if (name == "setup") {
      if (s.has_setup) return bad(Errc::Duplicate, "second a=setup in the m= section");
      s.has_setup = true;
      return need_arg() && setup(arg, m.setup);
    }
    if (name == "rtcp-mux") return m.rtcp_mux = true;
    if (name == "rtcp-mux-only") return m.rtcp_mux_only = true;
    if (name == "rtcp-rsize") return m.rtcp_rsize = true;
    if (name == "bundle-only") return m.bundle_only = true;
    if (name == "extmap-allow-mixed") return m.extmap_allow_mixed = true;
    if (name == "end-of-candidates") return m.end_of_candidates = true;
    if (name == "rtpmap") return need_arg() && rtpmap(arg);
    if (name == "fmtp") return need_arg() && fmtp(arg);
    if (name == "rtcp-fb") return need_arg() && rtcp_fb(arg);
    if (name == "extmap") return need_arg() && extmap(arg);
    if (name == "msid") {
      if (!need_arg()) return false;
      if (m.msids.size() == kMaxMsids) return bad(Errc::TooMany, "more than " + std::to_string(kMaxMsids) + " a=msid");
      Msid id;
      if (!parse_msid(arg, id)) return bad(Errc::BadValue, where + "expected <stream id> [<track id>], got " + quote(arg));
      m.msids.push_back(std::move(id));
      return true;
    }
    if (name == "ssrc") return need_arg() && ssrc(arg);
    if (name == "ssrc-group") return need_arg() && ssrc_group(arg);
    if (name == "candidate") return need_arg() && candidate(arg);
    if (name == "sctp-port") {
      if (!need_arg()) return false;
      auto p = number<uint16_t>(arg);
      if (!p) return bad(Errc::BadValue, where + "bad port " + quote(arg));
      if (m.sctp_port) return bad(Errc::Duplicate, "second a=sctp-port");
      m.sctp_port = *p;
      return true;
    }
    if (name == "max-message-size") {
      if (!need_arg()) return false;
      auto n = number<uint64_t>(arg);
      if (!n) return bad(Errc::BadValue, where + "bad size " + quote(arg));
      if (m.max_message_size) return bad(Errc::Duplicate, "second a=max-message-size");
      m.max_message_size = *n;
      return true;
    }
    return true;  // RFC 8866 5.13: unknown attributes are ignored
  }

  template <typename NeedArg>
  bool session_attribute(std::string_view name, std::string_view arg, bool has_arg, const std::string& where,
                         NeedArg need_arg) {
    if (name == "group") {
      if (!need_arg()) return false;
      // RFC 5888 5: a=group:<semantics> *(SP <identification-tag>)
      std::vector<std::string_view> w;
      if (!split(arg, w, kMaxTokens + 1)) return bad(Errc::TooMany, where + "more than " + std::to_string(kMaxTokens) + " mids");
      if (w.empty() || !is_token(w[0], 32)) return bad(Errc::BadValue, where + "missing semantics");
      if (sd_.groups.size() == kMaxGroups) return bad(Errc::TooMany, "more than " + std::to_string(kMaxGroups) + " a=group lines");
      Group g{std::string(w[0]), {}};
      for (size_t i = 1; i < w.size(); ++i) {
        if (!is_token(w[i], kMaxMidLength)) return bad(Errc::BadValue, where + "bad mid " + quote(w[i]));
        if (std::find(g.mids.begin(), g.mids.end(), w[i]) != g.mids.end())
          return bad(Errc::Duplicate, where + "mid " + quote(w[i]) + " listed twice");
        g.mids.emplace_back(w[i]);
      }
      sd_.groups.push_back(std::move(g));
      group_lines_.push_back(line_no_);
      return true;
    }
    if (name == "ice-lite") return sd_.ice_lite = true;
    if (name == "ice-ufrag" || name == "ice-pwd") {
      bool hu = session_ufrag_.has_value(), hp = session_pwd_.has_value();
      std::string u, p;
      if (!ice(name, arg, has_arg, hu, hp, u, p)) return false;
      if (name == "ice-ufrag") session_ufrag_ = std::move(u);
      else session_pwd_ = std::move(p);
      return true;
    }
    if (name == "ice-options") {
      if (session_ice_options_) return bad(Errc::Duplicate, "second session-level a=ice-options");
      session_ice_options_ = true;
      return ice_options(arg, sd_.ice_options);
    }
    if (name == "fingerprint") return need_arg() && fingerprint(arg, sd_.fingerprint);
    if (name == "setup") {
      if (sd_.setup) return bad(Errc::Duplicate, "second session-level a=setup");
      return need_arg() && setup(arg, sd_.setup);
    }
    if (name == "extmap-allow-mixed") return sd_.extmap_allow_mixed = true;
    if (name == "msid-semantic") {
      if (!need_arg()) return false;
      // Chromium: "a=msid-semantic: WMS <stream id>..." (note the space after the colon).
      std::vector<std::string_view> w;
      if (!split(arg, w, kMaxTokens + 1)) return bad(Errc::TooMany, where + "more than " + std::to_string(kMaxTokens) + " ids");
      if (w.empty() || !is_token(w[0], 32)) return bad(Errc::BadValue, where + "missing semantic");
      if (sd_.msid_semantic) return bad(Errc::Duplicate, "second a=msid-semantic");
      MsidSemantic ms{std::string(w[0]), {}};
      for (size_t i = 1; i < w.size(); ++i) {
        if (!is_token(w[i], 64)) return bad(Errc::BadValue, where + "bad id " + quote(w[i]));
        ms.ids.emplace_back(w[i]);
      }
      sd_.msid_semantic = std::move(ms);
      return true;
    }
    return true;  // other session-level attributes (including media-level ones out of place) are ignored
  }

  bool ice(std::string_view name, std::string_view arg, bool has_arg, bool& has_ufrag, bool& has_pwd,
           std::string& ufrag, std::string& pwd) {
    arg = trim(arg);
    if (name == "ice-ufrag") {
      if (has_ufrag) return bad(Errc::Duplicate, "second a=ice-ufrag at the same level");
      if (!has_arg || !valid_ufrag(arg)) return bad(Errc::BadValue, "a=ice-ufrag: must be 4-256 ice-chars (RFC 8839 5.4)");
      has_ufrag = true;
      ufrag = std::string(arg);
    } else {
      if (has_pwd) return bad(Errc::Duplicate, "second a=ice-pwd at the same level");
      if (!has_arg || !valid_pwd(arg)) return bad(Errc::BadValue, "a=ice-pwd: must be 22-256 ice-chars (RFC 8839 5.4)");
      has_pwd = true;
      pwd = std::string(arg);
    }
    return true;
  }

  bool ice_options(std::string_view arg, std::vector<std::string>& out) {
    // RFC 8839 5.6: ice-options = ice-option-tag *(SP ice-option-tag); tag = 1*ice-char
    std::vector<std::string_view> w;
    if (!split(arg, w)) return bad(Errc::TooMany, "a=ice-options: too many options");
    if (w.empty()) return bad(Errc::BadValue, "a=ice-options: missing value");
    for (auto t : w) {
      if (t.size() > 64 || !std::all_of(t.begin(), t.end(), [](char c) { return is_alnum(c) || c == '+' || c == '/' || c == '-' || c == '_' || c == '.'; }))
        return bad(Errc::BadValue, "a=ice-options: bad option " + quote(t));
      out.emplace_back(t);
    }
    return true;
  }

  bool fingerprint(std::string_view arg, std::optional<Fingerprint>& slot) {
    auto fp = Fingerprint::parse(arg);
    if (!fp) return bad(Errc::BadValue, "a=fingerprint: expected <hash-func> <XX:XX:...> (RFC 8122 5), got " + quote(arg));
    // RFC 8122 5: several may be given; keep the one with the most preferred hash function.
    if (!slot || hash_rank(fp->algorithm) > hash_rank(slot->algorithm)) slot = std::move(fp);
    return true;
  }

  bool setup(std::string_view arg, std::optional<Setup>& slot) {
    auto s = parse_setup(trim(arg));
    if (!s) return bad(Errc::BadValue, "a=setup: expected actpass, active, passive or holdconn, got " + quote(arg));
    slot = s;
    return true;
  }

  // "<pt> <rest>" for a=rtpmap, a=fmtp, a=rtcp-fb; pt "*" only where `star` (a=rtcp-fb).
  bool pt_and_rest(std::string_view what, std::string_view arg, int& pt, std::string_view& rest, bool star = false) {
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

  bool rtpmap(std::string_view arg) {
    // RFC 8866 6.6: a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]
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

  bool fmtp(std::string_view arg) {
    // RFC 8866 6.15: a=fmtp:<format> <format specific parameters>
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

  bool rtcp_fb(std::string_view arg) {
    // RFC 4585 4.2: a=rtcp-fb:<pt or *> <type> [<parameters>]
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

  bool extmap(std::string_view arg) {
    // RFC 8285 7: a=extmap:<value>["/"<direction>] <URI> <extensionattributes>
    arg = trim(arg);
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

  bool ssrc(std::string_view arg) {
    // RFC 5576 4.1: a=ssrc:<ssrc-id> <attribute>[:<value>]
    arg = trim(arg);
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

  bool ssrc_group(std::string_view arg) {
    // RFC 5576 4.2: a=ssrc-group:<semantics> *(SP <ssrc-id>)
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

  bool candidate(std::string_view arg) {
    auto& list = section_->m.candidates;
    if (list.size() == kMaxCandidates) return bad(Errc::TooMany, "more than " + std::to_string(kMaxCandidates) + " a=candidate");
    Error e;
    auto c = parse_candidate(arg, e);
    if (!c) return bad(e.code, std::move(e.message));
    list.push_back(std::move(*c));
    return true;
  }

  Error& error_;
  SessionDescription sd_;
  std::optional<SectionState> section_;
  size_t line_no_ = 0;
  bool has_timing_ = false;
  bool session_ice_options_ = false;
  std::optional<std::string> session_ufrag_, session_pwd_;
  std::vector<size_t> group_lines_;
};

}  // namespace

std::optional<Fingerprint> Fingerprint::parse(std::string_view text) {
  std::vector<std::string_view> w;
  if (!split(text, w, 3) || w.size() != 2 || !is_token(w[0], 16)) return std::nullopt;
  Fingerprint fp;
  fp.algorithm = lower(w[0]);
  // RFC 8122 5: fingerprint = 2UHEX *(":" 2UHEX); lower-case hex is accepted too.
  std::string_view hex = w[1];
  if (hex.size() % 3 != 2 || hex.size() > 64 * 3) return std::nullopt;
  for (size_t i = 0; i < hex.size(); i += 3) {
    if (i + 2 < hex.size() && hex[i + 2] != ':') return std::nullopt;
    unsigned v = 0;
    auto r = std::from_chars(hex.data() + i, hex.data() + i + 2, v, 16);
    if (r.ec != std::errc() || r.ptr != hex.data() + i + 2) return std::nullopt;
    fp.value.push_back(static_cast<uint8_t>(v));
  }
  if (auto* h = hash_func(fp.algorithm); h && h->size != fp.value.size()) return std::nullopt;
  return fp;
}

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

std::optional<SessionDescription> parse(std::string_view text, Error& error) { return Parser(error).run(text); }

}  // namespace sfu::sdp
