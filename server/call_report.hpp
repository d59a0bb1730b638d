// Call reports (POST /api/v1/call-reports, docs/admin-api.md): at a call's end, a browser (the SDK,
// or the dependency-free sfu/web/call-report.js any WebRTC app can include) says which candidate
// pair its RTCPeerConnection selected. The server cannot see the calls that never needed TURN, so
// these are how relayed percent is known for apps that use Turnpike only as TURN between browsers:
// turnpike_calls_total{path, site}.
//
// parse_call_report checks a body whole (it changes nothing); CallReports counts a valid one,
// after checking who may report: the admin token, or a TURN credential this server accepts (what
// the browser's page already holds for its iceServers), so a page needs no admin secret.
#pragma once
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace turnpike {

// RTCIceCandidateType (W3C webrtc-pc 4.8.1.3) of the selected pair's two ends.
enum class CandidateType : uint8_t { Host, Srflx, Prflx, Relay };
// RTCIceServerTransportProtocol: how the browser reached its TURN server, for a local relay.
enum class RelayProtocol : uint8_t { None, Udp, Tcp, Tls };

// How a call's media went: direct (no relay at either end), through the reporter's TURN server by
// its transport to it, or through the remote end's relay only. Labels of turnpike_calls_total{path}.
enum class CallPath : uint8_t { Direct, RelayUdp, RelayTcp, RelayTls, RelayRemote };
constexpr size_t kCallPaths = 5;
const char* to_string(CallPath p);

struct CallReport {
  CandidateType local = CandidateType::Host;
  CandidateType remote = CandidateType::Host;
  RelayProtocol relay_protocol = RelayProtocol::None;
  double duration_s = 0;
  std::string username, credential;  // a TURN credential, or both empty (then the admin token must do)
  CallPath path() const;
};

// The longest call a report may describe: seven days.
constexpr double kMaxCallSeconds = 7 * 86400.0;

// Checks the report's fields (not its tags: server/admin.cpp's report_site does those, as for the
// NAT reports). nullopt and `out` filled, or the message of a 400.
std::optional<std::string> parse_call_report(const nlohmann::json& body, CallReport& out);

}  // namespace turnpike
