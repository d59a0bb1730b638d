// Private to sfu/sdp_parse*.cpp and sfu/sdp_candidate.cpp: the SDP parser's state and its steps. One
// class, its member functions split by concern: the session and m= grammar (RFC 8866 5) in
// sdp_parse.cpp, the a= attributes (RFC 8866 5.13/6, RFC 8839 5, RFC 8843, RFC 8122, RFC 5888) in
// sdp_parse_attr.cpp, the RTP attributes (rtpmap, fmtp, rtcp-fb, extmap, ssrc) in sdp_parse_rtp.cpp
// and a=candidate (RFC 8839 5.1) in sdp_candidate.cpp.
#pragma once

#include "sfu/sdp.hpp"

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sfu::sdp::detail {

// What the parser knows of one payload type of the current m= section.
struct PtState {
  bool listed = false;
  bool has_rtpmap = false;
  bool has_fmtp = false;
  Codec codec;
};

// The m= section being parsed, with what its attributes may say only once.
struct SectionState {
  MediaSection m;
  size_t line = 0;
  bool has_direction = false, has_ufrag = false, has_pwd = false, has_setup = false, has_ice_options = false;
  std::string ufrag, pwd;
  std::array<PtState, 128> pts{};
};

// RFC 8866 5.13: a=<attribute-name>[:<attribute-value>]
struct Attr {
  std::string_view name, arg;
  bool has_arg = false;
  std::string where() const { return "a=" + std::string(name) + ": "; }
};

// sdp_parse_attr.cpp: the fields that attributes of several files share.
std::optional<Direction> parse_direction(std::string_view s);  // RFC 8866 6.7
bool parse_msid(std::string_view value, Msid& out);             // RFC 8830 2

class Parser {
 public:
  explicit Parser(Error& error) : error_(error) {}

  std::optional<SessionDescription> run(std::string_view text);

 private:
  // An attribute handler, and the table entry that names it (needs_arg: "a=<name>" without a value
  // is refused before the handler runs).
  using Handler = bool (Parser::*)(const Attr&);
  struct AttrRule {
    std::string_view name;
    bool needs_arg;
    Handler handle;
  };

  std::nullopt_t fail(Errc code, size_t line, std::string message);
  bool bad(Errc code, std::string message);

  // sdp_parse.cpp: the lines (RFC 8866 5).
  bool handle_line(std::string_view line);
  bool origin(std::string_view value);
  bool timing(std::string_view value);
  bool connection(std::string_view value);
  bool media(std::string_view value);
  bool media_port(std::string_view port);
  bool media_formats(const std::vector<std::string_view>& w);
  bool close_section();
  bool finish();
  bool check_groups();

  // sdp_parse_attr.cpp: dispatch and the transport, grouping and data channel attributes.
  static const AttrRule* session_rule(std::string_view name);
  static const AttrRule* media_rule(std::string_view name);
  bool attribute(std::string_view value);
  bool session_attribute(const Attr& a);
  bool media_attribute(const Attr& a);
  bool need_arg(const Attr& a);
  bool ice(std::string_view name, std::string_view arg, bool has_arg, bool& has_ufrag, bool& has_pwd,
           std::string& ufrag, std::string& pwd);
  bool ice_options(std::string_view arg, std::vector<std::string>& out);
  bool fingerprint(std::string_view arg, std::optional<Fingerprint>& slot);
  bool setup(std::string_view arg, std::optional<Setup>& slot);
  bool session_group(const Attr& a);
  bool session_ice(const Attr& a);
  bool session_ice_options(const Attr& a);
  bool session_fingerprint(const Attr& a);
  bool session_setup(const Attr& a);
  bool session_msid_semantic(const Attr& a);
  bool media_mid(const Attr& a);
  bool media_ice(const Attr& a);
  bool media_ice_options(const Attr& a);
  bool media_fingerprint(const Attr& a);
  bool media_setup(const Attr& a);
  bool media_msid(const Attr& a);
  bool sctp_port(const Attr& a);
  bool max_message_size(const Attr& a);

  // sdp_parse_rtp.cpp: the RTP attributes of an m= section.
  bool pt_and_rest(std::string_view what, std::string_view arg, int& pt, std::string_view& rest, bool star = false);
  bool rtpmap(const Attr& a);
  bool fmtp(const Attr& a);
  bool rtcp_fb(const Attr& a);
  bool extmap(const Attr& a);
  bool ssrc(const Attr& a);
  bool ssrc_group(const Attr& a);

  // sdp_parse_simulcast.cpp: a=rid (RFC 8851) and a=simulcast (RFC 8853).
  bool rid(const Attr& a);
  bool simulcast(const Attr& a);
  bool simulcast_streams(std::string_view list, std::vector<SimulcastStream>& out);

  // sdp_candidate.cpp
  bool candidate(const Attr& a);

  Error& error_;
  SessionDescription sd_;
  std::optional<SectionState> section_;
  size_t line_no_ = 0;
  bool has_timing_ = false;
  bool session_ice_options_ = false;
  std::optional<std::string> session_ufrag_, session_pwd_;
  std::vector<size_t> group_lines_;
};

}  // namespace sfu::sdp::detail
