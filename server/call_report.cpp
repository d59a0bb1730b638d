#include "server/call_report.hpp"

#include <cmath>

namespace turnpike {

using nlohmann::json;

const char* to_string(CallPath p) {
  switch (p) {
    case CallPath::Direct: return "direct";
    case CallPath::RelayUdp: return "relay_udp";
    case CallPath::RelayTcp: return "relay_tcp";
    case CallPath::RelayTls: return "relay_tls";
    case CallPath::RelayRemote: return "relay_remote";
  }
  return "direct";
}

CallPath CallReport::path() const {
  if (local == CandidateType::Relay) {
    switch (relay_protocol) {
      case RelayProtocol::Tcp: return CallPath::RelayTcp;
      case RelayProtocol::Tls: return CallPath::RelayTls;
      default: return CallPath::RelayUdp;
    }
  }
  return remote == CandidateType::Relay ? CallPath::RelayRemote : CallPath::Direct;
}

namespace {

std::optional<CandidateType> candidate_type(const json& v) {
  if (!v.is_string()) return std::nullopt;
  const auto& s = v.get_ref<const std::string&>();
  if (s == "host") return CandidateType::Host;
  if (s == "srflx") return CandidateType::Srflx;
  if (s == "prflx") return CandidateType::Prflx;
  if (s == "relay") return CandidateType::Relay;
  return std::nullopt;
}

std::optional<RelayProtocol> relay_protocol(const json& v) {
  if (!v.is_string()) return std::nullopt;
  const auto& s = v.get_ref<const std::string&>();
  if (s == "udp") return RelayProtocol::Udp;
  if (s == "tcp") return RelayProtocol::Tcp;
  if (s == "tls") return RelayProtocol::Tls;
  return std::nullopt;
}

// A string field of at most `max` bytes, or absent; false if present and not such a string.
bool optional_string(const json& body, const char* key, size_t max, std::string& out) {
  if (!body.contains(key) || body[key].is_null()) return true;
  if (!body[key].is_string() || body[key].get_ref<const std::string&>().size() > max) return false;
  out = body[key].get<std::string>();
  return true;
}

}  // namespace

// The report's steps: the two candidate types, the relay protocol a local relay needs, the
// duration, and the credential (both halves or neither).
std::optional<std::string> parse_call_report(const json& body, CallReport& out) {
  CallReport r;
  if (!body.is_object()) return "the body must be a JSON object";
  auto local = body.contains("local_candidate_type") ? candidate_type(body["local_candidate_type"]) : std::nullopt;
  if (!local) return "'local_candidate_type' must be host, srflx, prflx or relay";
  auto remote = body.contains("remote_candidate_type") ? candidate_type(body["remote_candidate_type"]) : std::nullopt;
  if (!remote) return "'remote_candidate_type' must be host, srflx, prflx or relay";
  r.local = *local;
  r.remote = *remote;
  bool has_protocol = body.contains("relay_protocol") && !body["relay_protocol"].is_null();
  if (r.local == CandidateType::Relay) {
    auto p = has_protocol ? relay_protocol(body["relay_protocol"]) : std::nullopt;
    if (!p) return "'relay_protocol' must be udp, tcp or tls when the local candidate is a relay";
    r.relay_protocol = *p;
  } else if (has_protocol && !relay_protocol(body["relay_protocol"])) {
    return "'relay_protocol' must be udp, tcp, tls or null";
  }
  if (!body.contains("duration_seconds") || !body["duration_seconds"].is_number())
    return "'duration_seconds' must be a number of seconds";
  r.duration_s = body["duration_seconds"].get<double>();
  if (!std::isfinite(r.duration_s) || r.duration_s < 0 || r.duration_s > kMaxCallSeconds)
    return "'duration_seconds' must be from 0 to 604800 (seven days)";
  if (!optional_string(body, "username", 512, r.username) || !optional_string(body, "credential", 512, r.credential))
    return "'username' and 'credential' must be strings of at most 512 bytes";
  if (r.username.empty() != r.credential.empty()) return "'username' and 'credential' go together";
  out = std::move(r);
  return std::nullopt;
}

}  // namespace turnpike
