// SDP (RFC 8866) offers as browsers emit them under JSEP (RFC 8829), and the SFU's answers.
// Sans-I/O: parse() turns text into an owned SessionDescription (bounds-checked, every value
// validated; on bad input an Error naming the line and why, never a partial description);
// build_answer() computes the SFU's answer as a SessionDescription and to_string() serializes any
// description. The SFU is ICE-lite (RFC 8445 2.5) on one UDP port, the DTLS server (a=setup:passive,
// RFC 5763 5) and bundles everything it accepts (RFC 8843) with RTP/RTCP multiplexed (RFC 5761).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "turn/address.hpp"

namespace sfu::sdp {

// Bounds on what parse() accepts (beyond them: Errc::TooLarge / Errc::TooMany).
constexpr size_t kMaxSize = 64 * 1024;     // whole description, bytes
constexpr size_t kMaxLineLength = 4096;    // one line, bytes
constexpr size_t kMaxSections = 100;       // m= sections
constexpr size_t kMaxCodecs = 256;         // payload types on one m= line
constexpr size_t kMaxRtcpFb = 32;          // a=rtcp-fb lines per payload type (and for "*")
constexpr size_t kMaxExtmaps = 64;         // a=extmap per m= section
constexpr size_t kMaxSsrcs = 64;           // distinct SSRCs per m= section
constexpr size_t kMaxSsrcGroups = 32;      // a=ssrc-group per m= section
constexpr size_t kMaxGroupSsrcs = 16;      // SSRCs in one a=ssrc-group
constexpr size_t kMaxCandidates = 64;      // a=candidate per m= section
constexpr size_t kMaxGroups = 16;          // a=group lines
constexpr size_t kMaxMsids = 16;           // a=msid lines per m= section
constexpr size_t kMaxTokens = 128;         // ids in a=group, a=msid-semantic, a=ice-options, a=msid lines
constexpr size_t kMaxMidLength = 64;
constexpr size_t kMaxRids = 8;             // a=rid lines per m= section, and streams in a=simulcast
constexpr size_t kMaxRidLength = 16;       // RFC 8851 10: rid-id (libwebrtc's bound)
constexpr size_t kMaxSimulcastLayers = 3;  // simulcast streams build_answer() accepts per section

enum class Errc : uint8_t {
  None,
  TooLarge,     // the description or a line is over its size bound
  TooMany,      // over a count bound (sections, codecs, candidates, ...)
  BadLine,      // not "<letter>=<value>", an unknown line type, a NUL/CR inside a line, an empty line
  BadOrder,     // v=, o=, s= not first, a line where it is not allowed, t= missing
  BadValue,     // a value that does not match its grammar or is out of range
  Duplicate,    // a mid, payload type, extmap id, or single-valued attribute given twice
  Unsupported,  // check_offer(): valid SDP that the SFU cannot answer
};
const char* to_string(Errc e);

struct Error {
  Errc code = Errc::None;
  size_t line = 0;  // 1-based; 0 when the problem is not one line (size, a missing line, check_offer)
  std::string message;
  explicit operator bool() const { return code != Errc::None; }
  std::string to_string() const;  // "line 12: a=rtpmap: payload type 300 is out of range (0-127)"
};

enum class MediaKind : uint8_t { Audio, Video, Application, Other };
enum class Direction : uint8_t { SendRecv, SendOnly, RecvOnly, Inactive };  // RFC 8866 6.7
enum class Setup : uint8_t { ActPass, Active, Passive, HoldConn };          // RFC 4145 4
const char* to_string(MediaKind k);
const char* to_string(Direction d);
const char* to_string(Setup s);

// RFC 8839 5.4: ice-ufrag 4-256 and ice-pwd 22-256 ice-chars.
struct IceCredentials {
  std::string ufrag;
  std::string pwd;
  bool operator==(const IceCredentials&) const = default;
};

// RFC 8122 5: a=fingerprint:<hash-func> <XX:XX:...>; algorithm lower-cased, value as bytes.
struct Fingerprint {
  std::string algorithm;
  std::vector<uint8_t> value;
  // "sha-256 AB:CD:..." (what follows "a=fingerprint:"); nullopt if malformed.
  static std::optional<Fingerprint> parse(std::string_view text);
  std::string to_string() const;  // "sha-256 AB:CD:..."
  bool operator==(const Fingerprint&) const = default;
};

// RFC 8839 5.1. `address` is kept as text: it may be an mDNS name (RFC 8839 / draft-ietf-mmusic-mdns).
struct Candidate {
  std::string foundation;
  uint16_t component = 1;
  std::string transport;  // as written: "udp", "UDP", "tcp"
  uint32_t priority = 0;
  std::string address;
  uint16_t port = 0;
  std::string type;  // host, srflx, prflx, relay
  std::optional<std::string> related_address;
  std::optional<uint16_t> related_port;
  std::vector<std::pair<std::string, std::string>> extensions;  // tcptype, generation, network-id, ...
  bool operator==(const Candidate&) const = default;
};

// a=rtpmap (RFC 8866 6.6) with its a=fmtp (6.15) and a=rtcp-fb (RFC 4585 4.2) lines.
struct Codec {
  uint8_t payload_type = 0;
  std::string name;          // as written: "opus", "VP8", "H264", "rtx"
  uint32_t clock_rate = 0;
  uint8_t channels = 0;      // 0: not given
  std::string fmtp;          // the parameters as written, e.g. "minptime=10;useinbandfec=1"
  std::vector<std::string> rtcp_fb;  // "nack", "nack pli", "ccm fir", "goog-remb", "transport-cc"
  // The value of one fmtp parameter ("apt", "profile-level-id"), names compared case-insensitively.
  std::optional<std::string_view> parameter(std::string_view name) const;
  bool operator==(const Codec&) const = default;
};

// RFC 8285 5: a=extmap:<id>[/<direction>] <uri> [<attributes>].
struct Extmap {
  uint8_t id = 0;  // 1-255
  std::optional<Direction> direction;
  std::string uri;
  std::string attributes;
  bool operator==(const Extmap&) const = default;
};

// RFC 8830 2: a=msid:<stream id> [<track id>] ("-" is the no-stream id browsers use).
struct Msid {
  std::string stream;
  std::string track;
  bool operator==(const Msid&) const = default;
};

// RFC 5576 4.1: a=ssrc lines, merged per SSRC; only cname and msid are kept.
struct Ssrc {
  uint32_t ssrc = 0;
  std::string cname;
  std::optional<Msid> msid;
  bool operator==(const Ssrc&) const = default;
};

// RFC 5576 4.2: a=ssrc-group:<semantics> <ssrc>... (FID: media SSRC then RTX SSRC, RFC 4588 8.1).
struct SsrcGroup {
  std::string semantics;
  std::vector<uint32_t> ssrcs;
  bool operator==(const SsrcGroup&) const = default;
};

// RFC 5888 5: a=group:<semantics> <mid>...
struct Group {
  std::string semantics;
  std::vector<std::string> mids;
  bool operator==(const Group&) const = default;
};

// RFC 8851 4: a=rid:<rid-id> send|recv [<restrictions>] (pt=, max-width=, ... kept as written).
struct Rid {
  std::string id;
  bool send = true;  // "send" (false: "recv")
  std::string params;
  bool operator==(const Rid&) const = default;
};

// RFC 8853 5.1: one stream of a=simulcast, a rid with its alternatives (',') and paused ('~') marks.
struct SimulcastStream {
  std::vector<std::string> rids;  // the first is preferred; libwebrtc sends one
  bool paused = false;            // '~' on the first alternative
  bool operator==(const SimulcastStream&) const = default;
};

// RFC 8853 5.1: a=simulcast:[send <streams>] [recv <streams>] (streams separated by ';').
struct Simulcast {
  std::vector<SimulcastStream> send, recv;
  bool operator==(const Simulcast&) const = default;
};

// The c= line (RFC 8866 5.7); only IN is accepted.
struct Connection {
  std::string address_type;  // IP4 or IP6
  std::string address;
  bool operator==(const Connection&) const = default;
};

struct MediaSection {
  MediaKind kind = MediaKind::Other;
  std::string media;        // as on the m= line: audio, video, application, ...
  uint16_t port = 0;        // 0: rejected or stopped (RFC 8866 5.14, RFC 3264 8.2) unless bundle_only
  uint16_t port_count = 1;  // "<port>/<n>"
  std::string protocol;     // UDP/TLS/RTP/SAVPF, UDP/DTLS/SCTP, ...
  std::vector<std::string> formats;     // as on the m= line
  std::vector<uint8_t> payload_types;   // the formats, for RTP protocols (each 0-127)
  std::optional<Connection> connection;

  std::string mid;  // RFC 5888 4; empty if absent
  Direction direction = Direction::SendRecv;
  std::optional<IceCredentials> ice;
  std::vector<std::string> ice_options;
  std::optional<Fingerprint> fingerprint;
  std::optional<Setup> setup;
  bool rtcp_mux = false;       // RFC 5761 5.1.1
  bool rtcp_mux_only = false;  // RFC 8858
  bool rtcp_rsize = false;     // RFC 5506 5
  bool bundle_only = false;    // RFC 8843 6
  bool extmap_allow_mixed = false;  // RFC 8285 6, media level

  std::vector<Codec> codecs;  // in m= line order; payload types with neither a=rtpmap nor a static mapping are absent
  std::vector<std::string> rtcp_fb_all;  // a=rtcp-fb:* lines
  std::vector<Extmap> extmaps;
  std::vector<Msid> msids;
  std::vector<Ssrc> ssrcs;
  std::vector<SsrcGroup> ssrc_groups;
  std::vector<Rid> rids;                  // RFC 8851
  std::optional<Simulcast> simulcast;     // RFC 8853
  std::vector<Candidate> candidates;
  bool end_of_candidates = false;  // RFC 8840 8.2
  std::optional<uint16_t> sctp_port;        // RFC 8841 5
  std::optional<uint64_t> max_message_size; // RFC 8841 6

  bool rejected() const { return port == 0 && !bundle_only; }
  bool is_rtp() const;  // the protocol is an RTP profile
  const Codec* find_codec(uint8_t payload_type) const;
  bool operator==(const MediaSection&) const = default;
};

struct Origin {  // RFC 8866 5.2
  std::string username = "-";
  uint64_t session_id = 0;
  uint64_t session_version = 0;
  std::string address_type = "IP4";
  std::string address = "0.0.0.0";
  bool operator==(const Origin&) const = default;
};

struct MsidSemantic {  // a=msid-semantic: WMS <stream ids> (draft-ietf-mmusic-msid-05; still sent by Chromium)
  std::string semantic;
  std::vector<std::string> ids;
  bool operator==(const MsidSemantic&) const = default;
};

struct SessionDescription {
  Origin origin;
  std::string session_name = "-";
  bool ice_lite = false;  // RFC 8839 5.3
  std::optional<IceCredentials> ice;
  std::vector<std::string> ice_options;
  std::optional<Fingerprint> fingerprint;
  std::optional<Setup> setup;
  std::vector<Group> groups;
  bool extmap_allow_mixed = false;  // RFC 8285 6
  std::optional<MsidSemantic> msid_semantic;
  std::vector<MediaSection> media;
  bool operator==(const SessionDescription&) const = default;
};

// Parses `text` (CRLF or LF line ends). On failure returns nullopt and sets `error`.
std::optional<SessionDescription> parse(std::string_view text, Error& error);

// RFC 8839 5.1: one candidate, the value after "a=candidate:" (as a=candidate lines and trickled
// candidates carry it). On failure returns nullopt and sets `error` (line 0).
std::optional<Candidate> parse_candidate(std::string_view value, Error& error);

// Serializes any description (what parse() reads back to an equal value).
std::string to_string(const SessionDescription& sd);

// ---- lookups the engine needs

const MediaSection* find_section(const SessionDescription& sd, std::string_view mid);
// The first a=group:BUNDLE, or null.
const Group* bundle_group(const SessionDescription& sd);
// The BUNDLE-tag section (RFC 8843 7.2: the first mid of the BUNDLE group), or null.
const MediaSection* bundle_tag(const SessionDescription& sd);
// The payload type of the first codec named `name` (case-insensitive) in the section: on an answer
// from build_answer(), the negotiated one.
std::optional<uint8_t> payload_type(const MediaSection& section, std::string_view name);
// The RTX payload type whose apt= is `payload_type` (RFC 4588 8.6), if any.
std::optional<uint8_t> rtx_payload_type(const MediaSection& section, uint8_t payload_type);
// The id of the header extension `uri` in the section (RFC 8285), if negotiated.
std::optional<uint8_t> extmap_id(const MediaSection& section, std::string_view uri);
// The remote transport's ICE credentials and DTLS fingerprint: those of the BUNDLE-tag section (or
// the first section when there is no BUNDLE group), else the session-level ones.
std::optional<IceCredentials> ice_credentials(const SessionDescription& sd);
std::optional<Fingerprint> fingerprint(const SessionDescription& sd);
std::optional<Setup> setup(const SessionDescription& sd);
// RFC 8839 4.4.1.1.1 / RFC 8445 9: an ICE restart is an offer whose ufrag or pwd changed.
bool ice_restart(const SessionDescription& previous, const SessionDescription& current);

// Well-known header extension URIs.
namespace ext {
inline constexpr std::string_view kMid = "urn:ietf:params:rtp-hdrext:sdes:mid";  // RFC 8843 15.2
inline constexpr std::string_view kAbsSendTime = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";
inline constexpr std::string_view kTransportCc =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
inline constexpr std::string_view kAudioLevel = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";  // RFC 6464
inline constexpr std::string_view kRid = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";             // RFC 8852 3.1
inline constexpr std::string_view kRepairedRid = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id";  // RFC 8852 3.2
}  // namespace ext

// ---- the SFU's answer

// A track the SFU forwards to the browser in one section (the browser's recvonly transceiver).
// The SSRCs are the publisher's (the SFU does not rewrite them).
struct SendTrack {
  uint32_t ssrc = 0;
  uint32_t rtx_ssrc = 0;  // 0: none; announced (a=ssrc-group:FID) only when AnswerOptions::rtx
  std::string cname;      // RFC 7022; non-empty, no spaces
  std::string stream_id;  // a=msid stream id (msid-id: 1-64 token chars)
  std::string track_id;   // a=msid track id
};

struct AnswerOptions {
  IceCredentials ice;         // ours (RFC 8839 5.4); new ones after an ICE restart
  Fingerprint fingerprint;    // of our DTLS certificate, normally sha-256
  // Our media addresses (the one UDP port, IPv4 and/or IPv6): one host candidate each (RFC 8445
  // 5.1.1.1), the first also on the m= and c= lines. Must not be empty.
  std::vector<turn::Endpoint> addresses;
  uint64_t session_id = 1;       // o= line, fixed for the session (RFC 8866 5.2)
  uint64_t session_version = 1;  // o= line, incremented for every new answer (RFC 3264 8)
  // Codecs we take, by preference (case-insensitive names). Audio: opus/48000/2. Video: VP8, and
  // H264 with packetization-mode=1 and a constrained-baseline profile (42e01f preferred).
  std::vector<std::string> audio_codecs = {"opus"};
  std::vector<std::string> video_codecs = {"VP8", "H264"};
  bool transport_cc = false;  // keep the transport-wide-cc extension and rtcp-fb transport-cc
  bool rtx = false;           // keep RTX (RFC 4588) for the chosen codecs
  bool rtx_send = false;      // ... only in sections the SFU sends in (the offer receives)
  // Receive simulcast (RFC 8853): a sending section's a=simulcast send streams (at most
  // kMaxSimulcastLayers, each with its a=rid send line) are answered a=rid recv / a=simulcast:recv,
  // with the rtp-stream-id and repaired-rtp-stream-id extensions (RFC 8852) kept.
  bool simulcast = false;
  bool red = false;           // keep RED (RFC 2198): video red/90000, audio red/48000/2 over opus
  bool ulpfec = false;        // keep ULPFEC (RFC 5109); with red only
  bool extmap_allow_mixed = true;  // echo a=extmap-allow-mixed when offered (two-byte header extensions)
  std::vector<std::string> reject;     // mids to reject (port 0)
  std::map<std::string, SendTrack> send;  // by mid: what the SFU sends in that section
};

// Why the SFU cannot answer `offer` at all (Errc::Unsupported, naming what is missing), or no error:
// a BUNDLE group, ICE credentials, a DTLS fingerprint and a=setup:actpass or active on the BUNDLE
// transport, and a BUNDLE-tag section (the first mid of the group) that is not port 0, is
// UDP/TLS/RTP/SAVPF with rtcp-mux and offers a codec of opts (RFC 8843 7.3.3: that section cannot be
// rejected on its own; Chromium makes m=application the tag only when its first negotiation had
// nothing but a data channel).
// Other sections the SFU cannot take are rejected one by one by build_answer() instead.
Error check_offer(const SessionDescription& offer, const AnswerOptions& opts);
Error check_offer(const SessionDescription& offer);  // with default AnswerOptions

// The answer (RFC 8829 5.3.1, RFC 3264 6). Each offered section is answered in order, with its mid:
// rejected (port 0, a=inactive) when the offer's port is 0, its mid is in opts.reject (except the
// offerer's BUNDLE-tag section, which is then accepted but inactive, see check_offer()), it is not
// RTP over UDP/TLS/RTP/SAVPF, has no mid, is outside the BUNDLE group, has no rtcp-mux, or shares
// no codec with opts; otherwise accepted with our ICE credentials, fingerprint, a=setup:passive,
// rtcp-mux (rtcp-rsize if offered), the direction mirrored (offer sendonly -> recvonly; recvonly ->
// sendonly when opts.send has the mid, else inactive), the chosen codecs with the offer's payload
// types and only the rtcp-fb nack, nack pli, ccm fir, goog-remb (+ transport-cc), the header
// extensions sdes:mid and abs-send-time (+ transport-wide-cc) with the offer's ids, and for sections
// the SFU sends in, a=msid and a=ssrc cname/msid (+ a=ssrc-group:FID); a track whose SSRC an earlier
// section already announces is not sent again (inactive). Note that Chromium also refuses an answer
// that announces an SSRC in another mid than its previous answer did. Session level: a=ice-lite,
// a=group:BUNDLE of the accepted mids (offer order), candidates and a=end-of-candidates in the
// BUNDLE-tag section. Expects check_offer(offer, opts) to pass; if it does not, the result is a
// well-formed answer that rejects every section (RFC 8843 7.3.3).
SessionDescription build_answer(const SessionDescription& offer, const AnswerOptions& opts);
std::string make_answer(const SessionDescription& offer, const AnswerOptions& opts);

}  // namespace sfu::sdp
