// The SDP parser's a= lines (RFC 8866 5.13): which attribute is read by which handler, at session
// level and in an m= section, and the transport (RFC 8839 5.4/5.6, RFC 8122 5, RFC 4145 4), grouping
// (RFC 5888, RFC 8843), stream (RFC 8830) and data channel (RFC 8841) attributes. The RTP attributes
// are in sdp_parse_rtp.cpp, a=candidate in sdp_candidate.cpp.
#include "sfu/sdp.hpp"

#include "sfu/sdp_parser.hpp"
#include "sfu/sdp_text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <utility>

namespace sfu::sdp {

using namespace text;

namespace detail {

namespace {

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

// RFC 8839 5.4 ice-ufrag / ice-pwd.
bool valid_ufrag(std::string_view s) { return s.size() >= 4 && s.size() <= 256 && is_ice_chars(s); }
bool valid_pwd(std::string_view s) { return s.size() >= 22 && s.size() <= 256 && is_ice_chars(s); }

// Attributes without a value that set one flag (RFC 8866 5.13 property attributes).
constexpr std::array<std::pair<std::string_view, bool SessionDescription::*>, 2> kSessionFlags{{
    {"ice-lite", &SessionDescription::ice_lite},                      // RFC 8839 5.3
    {"extmap-allow-mixed", &SessionDescription::extmap_allow_mixed},  // RFC 8285 6
}};
constexpr std::array<std::pair<std::string_view, bool MediaSection::*>, 6> kMediaFlags{{
    {"rtcp-mux", &MediaSection::rtcp_mux},                      // RFC 5761 5.1.1
    {"rtcp-mux-only", &MediaSection::rtcp_mux_only},            // RFC 8858
    {"rtcp-rsize", &MediaSection::rtcp_rsize},                  // RFC 5506 5
    {"bundle-only", &MediaSection::bundle_only},                // RFC 8843 6
    {"extmap-allow-mixed", &MediaSection::extmap_allow_mixed},  // RFC 8285 6
    {"end-of-candidates", &MediaSection::end_of_candidates},    // RFC 8840 8.2
}};

template <typename Table>
auto find_by_name(const Table& table, std::string_view name) -> decltype(&table[0]) {
  for (const auto& entry : table)
    if (entry.first == name) return &entry;
  return nullptr;
}

}  // namespace

std::optional<Direction> parse_direction(std::string_view s) {
  if (s == "sendrecv") return Direction::SendRecv;
  if (s == "sendonly") return Direction::SendOnly;
  if (s == "recvonly") return Direction::RecvOnly;
  if (s == "inactive") return Direction::Inactive;
  return std::nullopt;
}

// RFC 8830 2: msid-id and msid-appdata are 1*64 token-char.
bool parse_msid(std::string_view value, Msid& out) {
  std::vector<std::string_view> w;
  if (!split(value, w, 3) || w.empty() || w.size() > 2) return false;
  if (!is_token(w[0], 64) || (w.size() == 2 && !is_token(w[1], 64))) return false;
  out.stream = std::string(w[0]);
  out.track = w.size() == 2 ? std::string(w[1]) : std::string();
  return true;
}

// ---- dispatch

const Parser::AttrRule* Parser::session_rule(std::string_view name) {
  static constexpr std::array<AttrRule, 7> kRules{{
      {"group", true, &Parser::session_group},
      {"ice-ufrag", false, &Parser::session_ice},
      {"ice-pwd", false, &Parser::session_ice},
      {"ice-options", false, &Parser::session_ice_options},
      {"fingerprint", true, &Parser::session_fingerprint},
      {"setup", false, &Parser::session_setup},
      {"msid-semantic", true, &Parser::session_msid_semantic},
  }};
  auto it = std::find_if(kRules.begin(), kRules.end(), [&](const AttrRule& r) { return r.name == name; });
  return it == kRules.end() ? nullptr : &*it;
}

const Parser::AttrRule* Parser::media_rule(std::string_view name) {
  static constexpr std::array<AttrRule, 18> kRules{{
      {"mid", true, &Parser::media_mid},
      {"ice-ufrag", false, &Parser::media_ice},
      {"ice-pwd", false, &Parser::media_ice},
      {"ice-options", false, &Parser::media_ice_options},
      {"fingerprint", true, &Parser::media_fingerprint},
      {"setup", false, &Parser::media_setup},
      {"rtpmap", true, &Parser::rtpmap},
      {"fmtp", true, &Parser::fmtp},
      {"rtcp-fb", true, &Parser::rtcp_fb},
      {"extmap", true, &Parser::extmap},
      {"msid", true, &Parser::media_msid},
      {"ssrc", true, &Parser::ssrc},
      {"ssrc-group", true, &Parser::ssrc_group},
      {"rid", true, &Parser::rid},
      {"simulcast", true, &Parser::simulcast},
      {"candidate", true, &Parser::candidate},
      {"sctp-port", true, &Parser::sctp_port},
      {"max-message-size", true, &Parser::max_message_size},
  }};
  auto it = std::find_if(kRules.begin(), kRules.end(), [&](const AttrRule& r) { return r.name == name; });
  return it == kRules.end() ? nullptr : &*it;
}

bool Parser::attribute(std::string_view value) {
  // RFC 8866 5.13: a=<attribute-name>[:<attribute-value>]
  Attr a{value, {}, false};
  if (auto c = value.find(':'); c != std::string_view::npos) {
    a.name = value.substr(0, c);
    a.arg = value.substr(c + 1);
    a.has_arg = true;
  }
  if (!is_token(a.name, 64)) return bad(Errc::BadLine, "bad attribute name " + quote(a.name));
  return section_ ? media_attribute(a) : session_attribute(a);
}

bool Parser::need_arg(const Attr& a) {
  if (a.has_arg) return true;
  return bad(Errc::BadValue, a.where() + "missing value");
}

bool Parser::session_attribute(const Attr& a) {
  if (auto* flag = find_by_name(kSessionFlags, a.name)) return sd_.*(flag->second) = true;
  const AttrRule* rule = session_rule(a.name);
  // Other session-level attributes (including media-level ones out of place) are ignored.
  if (!rule) return true;
  if (rule->needs_arg && !need_arg(a)) return false;
  return (this->*(rule->handle))(a);
}

bool Parser::media_attribute(const Attr& a) {
  auto& s = *section_;
  if (auto d = parse_direction(a.name)) {
    if (s.has_direction) return bad(Errc::Duplicate, "second direction attribute in the m= section");
    s.has_direction = true;
    s.m.direction = *d;
    return true;
  }
  if (auto* flag = find_by_name(kMediaFlags, a.name)) return s.m.*(flag->second) = true;
  const AttrRule* rule = media_rule(a.name);
  if (!rule) return true;  // RFC 8866 5.13: unknown attributes are ignored
  if (rule->needs_arg && !need_arg(a)) return false;
  return (this->*(rule->handle))(a);
}

// ---- shared by both levels

bool Parser::ice(std::string_view name, std::string_view arg, bool has_arg, bool& has_ufrag, bool& has_pwd,
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

bool Parser::ice_options(std::string_view arg, std::vector<std::string>& out) {
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

bool Parser::fingerprint(std::string_view arg, std::optional<Fingerprint>& slot) {
  auto fp = Fingerprint::parse(arg);
  if (!fp) return bad(Errc::BadValue, "a=fingerprint: expected <hash-func> <XX:XX:...> (RFC 8122 5), got " + quote(arg));
  // RFC 8122 5: several may be given; keep the one with the most preferred hash function.
  if (!slot || hash_rank(fp->algorithm) > hash_rank(slot->algorithm)) slot = std::move(fp);
  return true;
}

bool Parser::setup(std::string_view arg, std::optional<Setup>& slot) {
  auto s = parse_setup(trim(arg));
  if (!s) return bad(Errc::BadValue, "a=setup: expected actpass, active, passive or holdconn, got " + quote(arg));
  slot = s;
  return true;
}

// ---- session level

bool Parser::session_group(const Attr& a) {
  // RFC 5888 5: a=group:<semantics> *(SP <identification-tag>)
  const std::string where = a.where();
  std::vector<std::string_view> w;
  if (!split(a.arg, w, kMaxTokens + 1)) return bad(Errc::TooMany, where + "more than " + std::to_string(kMaxTokens) + " mids");
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

bool Parser::session_ice(const Attr& a) {
  bool hu = session_ufrag_.has_value(), hp = session_pwd_.has_value();
  std::string u, p;
  if (!ice(a.name, a.arg, a.has_arg, hu, hp, u, p)) return false;
  if (a.name == "ice-ufrag") session_ufrag_ = std::move(u);
  else session_pwd_ = std::move(p);
  return true;
}

bool Parser::session_ice_options(const Attr& a) {
  if (session_ice_options_) return bad(Errc::Duplicate, "second session-level a=ice-options");
  session_ice_options_ = true;
  return ice_options(a.arg, sd_.ice_options);
}

bool Parser::session_fingerprint(const Attr& a) { return fingerprint(a.arg, sd_.fingerprint); }

bool Parser::session_setup(const Attr& a) {
  if (sd_.setup) return bad(Errc::Duplicate, "second session-level a=setup");
  return need_arg(a) && setup(a.arg, sd_.setup);
}

bool Parser::session_msid_semantic(const Attr& a) {
  // Chromium: "a=msid-semantic: WMS <stream id>..." (note the space after the colon).
  const std::string where = a.where();
  std::vector<std::string_view> w;
  if (!split(a.arg, w, kMaxTokens + 1)) return bad(Errc::TooMany, where + "more than " + std::to_string(kMaxTokens) + " ids");
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

// ---- m= section level

bool Parser::media_mid(const Attr& a) {
  auto& m = section_->m;
  // RFC 5888 4: identification-tag = token; unique in the description.
  if (!is_token(a.arg, kMaxMidLength)) return bad(Errc::BadValue, a.where() + "bad mid " + quote(a.arg));
  if (!m.mid.empty()) return bad(Errc::Duplicate, "second a=mid in the m= section");
  if (find_section(sd_, a.arg)) return bad(Errc::Duplicate, a.where() + "mid " + quote(a.arg) + " is already used");
  m.mid = std::string(a.arg);
  return true;
}

bool Parser::media_ice(const Attr& a) {
  auto& s = *section_;
  return ice(a.name, a.arg, a.has_arg, s.has_ufrag, s.has_pwd, s.ufrag, s.pwd);
}

bool Parser::media_ice_options(const Attr& a) {
  auto& s = *section_;
  if (s.has_ice_options) return bad(Errc::Duplicate, "second a=ice-options in the m= section");
  s.has_ice_options = true;
  return ice_options(a.arg, s.m.ice_options);
}

bool Parser::media_fingerprint(const Attr& a) { return fingerprint(a.arg, section_->m.fingerprint); }

bool Parser::media_setup(const Attr& a) {
  auto& s = *section_;
  if (s.has_setup) return bad(Errc::Duplicate, "second a=setup in the m= section");
  s.has_setup = true;
  return need_arg(a) && setup(a.arg, s.m.setup);
}

bool Parser::media_msid(const Attr& a) {
  // RFC 8830 2: a=msid:<stream id> [<track id>]
  auto& m = section_->m;
  if (m.msids.size() == kMaxMsids) return bad(Errc::TooMany, "more than " + std::to_string(kMaxMsids) + " a=msid");
  Msid id;
  if (!parse_msid(a.arg, id)) return bad(Errc::BadValue, a.where() + "expected <stream id> [<track id>], got " + quote(a.arg));
  m.msids.push_back(std::move(id));
  return true;
}

bool Parser::sctp_port(const Attr& a) {
  // RFC 8841 5: a=sctp-port:<port>
  auto& m = section_->m;
  auto p = number<uint16_t>(a.arg);
  if (!p) return bad(Errc::BadValue, a.where() + "bad port " + quote(a.arg));
  if (m.sctp_port) return bad(Errc::Duplicate, "second a=sctp-port");
  m.sctp_port = *p;
  return true;
}

bool Parser::max_message_size(const Attr& a) {
  // RFC 8841 6: a=max-message-size:<size>
  auto& m = section_->m;
  auto n = number<uint64_t>(a.arg);
  if (!n) return bad(Errc::BadValue, a.where() + "bad size " + quote(a.arg));
  if (m.max_message_size) return bad(Errc::Duplicate, "second a=max-message-size");
  m.max_message_size = *n;
  return true;
}

}  // namespace detail

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
  if (auto* h = detail::hash_func(fp.algorithm); h && h->size != fp.value.size()) return std::nullopt;
  return fp;
}

}  // namespace sfu::sdp
