// Private to diag::LifetimeProbe (diag/lifetime_probe.hpp): the constants and helpers its files
// share, and the decoded answer. The members are defined by concern in lifetime_probe.cpp (the
// trial state machine: sockets, retransmissions, checks, wake-up times), lifetime_answers.cpp
// (matching datagrams to requests, one handler per kind of answer, text from the wire) and
// lifetime_search.cpp (the plan: the bracket, rounds, splitting, the end of the run).
#pragma once
#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "diag/lifetime_probe.hpp"
#include "turn/attributes.hpp"

namespace diag {
namespace lifetime_impl {

constexpr const char* kSoftware = "turnpike-diag";
constexpr uint32_t kMaxPostponements = 6;     // of one check, when the server rate-limits RESPONSE-PORT
constexpr uint32_t kBindingFailuresToStop = 3;  // trials in a row whose Binding got no answer
constexpr uint32_t kLivenessFailuresToStop = 2;
constexpr int64_t kHeartbeatMs = 30000;  // progress at least this often

inline uint32_t clamp32(int64_t v) { return static_cast<uint32_t>(std::clamp<int64_t>(v, 0, UINT32_MAX)); }

// The silence the NAT saw before the answer to `a` reached it: from X's last answer passing the
// NAT (about when X got it) to Y's request going out, plus the way to the server and back.
inline uint32_t gap_of(int64_t quiet_since_ms, uint32_t rtt_ms, int64_t sent_ms) {
  return clamp32((sent_ms > quiet_since_ms ? sent_ms - quiet_since_ms : 0) + rtt_ms);
}

// The bracket: the longest gap a mapping survived, and the shortest longer one that expired.
// An answer proves survival; an expiry is only the absence of one, so survival wins a conflict.
std::pair<uint32_t, std::optional<uint32_t>> bracket_of(const std::vector<LifetimeTrial>& trials);

constexpr auto conclusive = [](const auto& attempt) { return !attempt.inconclusive; };

}  // namespace lifetime_impl

// An answer to one of our requests, decoded once for the handler of its kind.
struct LifetimeProbe::Answer {
  const turn::stun::Message& msg;
  bool error = false;                            // an error response
  std::optional<turn::stun::ErrorCode> ec;       // error: its ERROR-CODE (nullopt: missing or malformed)
  bool bad = false;                              // success: the address attribute present does not decode
  std::optional<turn::Endpoint> mapped;          // success: XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS
};

}  // namespace diag
