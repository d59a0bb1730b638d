// The description model's names and lookups: enum names, codec parameters, the BUNDLE transport
// section and what it carries. Parsing is in sdp_parse*.cpp and sdp_candidate.cpp, writing in
// sdp_write.cpp, the SFU's answer and codec policy in sdp_answer.cpp.
#include "sfu/sdp.hpp"

#include "sfu/sdp_text.hpp"

namespace sfu::sdp {

using namespace text;

const char* to_string(Errc e) {
  switch (e) {
    case Errc::None: return "none";
    case Errc::TooLarge: return "too large";
    case Errc::TooMany: return "too many";
    case Errc::BadLine: return "bad line";
    case Errc::BadOrder: return "bad order";
    case Errc::BadValue: return "bad value";
    case Errc::Duplicate: return "duplicate";
    case Errc::Unsupported: return "unsupported";
  }
  return "?";
}

std::string Error::to_string() const {
  if (line == 0) return message;
  return "line " + std::to_string(line) + ": " + message;
}

const char* to_string(MediaKind k) {
  switch (k) {
    case MediaKind::Audio: return "audio";
    case MediaKind::Video: return "video";
    case MediaKind::Application: return "application";
    case MediaKind::Other: return "other";
  }
  return "?";
}

const char* to_string(Direction d) {
  switch (d) {
    case Direction::SendRecv: return "sendrecv";
    case Direction::SendOnly: return "sendonly";
    case Direction::RecvOnly: return "recvonly";
    case Direction::Inactive: return "inactive";
  }
  return "?";
}

const char* to_string(Setup s) {
  switch (s) {
    case Setup::ActPass: return "actpass";
    case Setup::Active: return "active";
    case Setup::Passive: return "passive";
    case Setup::HoldConn: return "holdconn";
  }
  return "?";
}

std::optional<std::string_view> Codec::parameter(std::string_view name) const {
  // RFC 8866 6.15 leaves the format to the codec; the codecs we read use "k=v;k=v".
  std::string_view s = fmtp;
  while (!s.empty()) {
    size_t semi = s.find(';');
    std::string_view kv = trim(s.substr(0, semi));
    s = semi == std::string_view::npos ? std::string_view{} : s.substr(semi + 1);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    if (iequals(trim(kv.substr(0, eq)), name)) return trim(kv.substr(eq + 1));
  }
  return std::nullopt;
}

bool MediaSection::is_rtp() const { return protocol.find("RTP/") != std::string::npos; }

const Codec* MediaSection::find_codec(uint8_t pt) const {
  for (const auto& c : codecs)
    if (c.payload_type == pt) return &c;
  return nullptr;
}

const MediaSection* find_section(const SessionDescription& sd, std::string_view mid) {
  if (mid.empty()) return nullptr;
  for (const auto& m : sd.media)
    if (m.mid == mid) return &m;
  return nullptr;
}

const Group* bundle_group(const SessionDescription& sd) {
  for (const auto& g : sd.groups)
    if (g.semantics == "BUNDLE") return &g;
  return nullptr;
}

const MediaSection* bundle_tag(const SessionDescription& sd) {
  const Group* g = bundle_group(sd);
  if (!g || g->mids.empty()) return nullptr;
  return find_section(sd, g->mids.front());
}

std::optional<uint8_t> payload_type(const MediaSection& section, std::string_view name) {
  for (const auto& c : section.codecs)
    if (iequals(c.name, name)) return c.payload_type;
  return std::nullopt;
}

std::optional<uint8_t> rtx_payload_type(const MediaSection& section, uint8_t pt) {
  for (const auto& c : section.codecs) {
    if (!iequals(c.name, "rtx")) continue;
    if (auto apt = c.parameter("apt"); apt && number<uint8_t>(*apt, 127) == pt) return c.payload_type;
  }
  return std::nullopt;
}

std::optional<uint8_t> extmap_id(const MediaSection& section, std::string_view uri) {
  for (const auto& e : section.extmaps)
    if (e.uri == uri) return e.id;
  return std::nullopt;
}

namespace {
// The section whose transport is the remote one: the BUNDLE tag, else the first section.
const MediaSection* transport_section(const SessionDescription& sd) {
  if (auto* t = bundle_tag(sd)) return t;
  return sd.media.empty() ? nullptr : &sd.media.front();
}
}  // namespace

std::optional<IceCredentials> ice_credentials(const SessionDescription& sd) {
  if (auto* m = transport_section(sd); m && m->ice) return m->ice;
  return sd.ice;
}

std::optional<Fingerprint> fingerprint(const SessionDescription& sd) {
  if (auto* m = transport_section(sd); m && m->fingerprint) return m->fingerprint;
  return sd.fingerprint;
}

std::optional<Setup> setup(const SessionDescription& sd) {
  if (auto* m = transport_section(sd); m && m->setup) return m->setup;
  return sd.setup;
}

bool ice_restart(const SessionDescription& previous, const SessionDescription& current) {
  return ice_credentials(previous) != ice_credentials(current);
}

}  // namespace sfu::sdp
