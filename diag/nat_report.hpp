// The result of `turnpike-diag nat` (RFC 5780 NAT behaviour discovery) as a plain value, the pure
// functions that classify it, and its JSON and text renderings. No sockets, no clock.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "turn/address.hpp"

namespace diag {

// RFC 4787 / RFC 5780 behaviour of a NAT's mapping or filtering, plus "no NAT" and "unknown".
enum class Behavior : uint8_t { NoNat, EndpointIndependent, AddressDependent, AddressAndPortDependent, Unknown };
// "no_nat", "endpoint_independent", "address_dependent", "address_and_port_dependent", "unknown".
const char* to_string(Behavior b);

// The local sockets a probe uses (RFC 5780 4: mapping tests on one, filtering on a fresh one, a
// third for hairpinning) and the TCP connection of the fallback.
enum class SocketRole : uint8_t { Main = 0, Filtering = 1, Hairpin = 2, Tcp = 3 };
constexpr unsigned kUdpSockets = 3;
const char* to_string(SocketRole s);  // "main", "filtering", "hairpin", "tcp"

// CHANGE-REQUEST flags (RFC 5780 7.2).
enum class ChangeRequest : uint8_t { None = 0, Port = 0x2, IpAndPort = 0x6 };
const char* to_string(ChangeRequest c);  // "none", "port", "ip_and_port"

enum class Outcome : uint8_t {
  Ok,               // a valid answer (for the hairpin test: our own request came back to us)
  Timeout,          // nothing within the test's budget, retransmissions included
  ErrorResponse,    // a Binding error response (e.g. 420: CHANGE-REQUEST not understood)
  UnexpectedSource,  // a CHANGE-REQUEST answered from an address the request did not ask for
  Malformed,        // only malformed answers with our transaction id (missing or bad addresses)
  Refused,          // TCP: the connection was refused or failed
};
const char* to_string(Outcome o);  // "ok", "timeout", "error_response", "unexpected_source", "malformed", "refused"

// One test as run: what was sent where, and what came back.
struct TestRecord {
  std::string name;  // binding, mapping_alt_ip, mapping_alt_ip_port, filtering_binding, ...
  SocketRole socket = SocketRole::Main;
  turn::Transport transport = turn::Transport::Udp;
  std::optional<turn::Endpoint> local;
  turn::Endpoint to;
  ChangeRequest change = ChangeRequest::None;
  Outcome outcome = Outcome::Timeout;
  uint32_t attempts = 0;    // transmissions, retransmissions included
  uint32_t elapsed_ms = 0;  // from the first transmission to the answer (or to giving up)
  std::optional<turn::Endpoint> from;              // source of the answer
  std::optional<turn::Endpoint> mapped;            // XOR-MAPPED-ADDRESS
  std::optional<turn::Endpoint> mapped_plain;      // MAPPED-ADDRESS
  std::optional<turn::Endpoint> other_address;     // OTHER-ADDRESS
  std::optional<turn::Endpoint> response_origin;   // RESPONSE-ORIGIN
  std::optional<int> error_code;
  std::string error_reason;
  std::string detail;  // a human-readable note on this test, or empty
};

struct NatReport {
  turn::Endpoint server;      // the primary address (UDP)
  turn::Endpoint server_tcp;  // where the TCP fallback goes
  std::optional<turn::Endpoint> local;            // the main socket
  std::optional<turn::Endpoint> mapped;           // server-reflexive address of the main socket
  std::optional<turn::Endpoint> mapped_plain;     // MAPPED-ADDRESS in the first answer
  std::optional<turn::Endpoint> other_address;    // OTHER-ADDRESS in the first answer
  std::optional<turn::Endpoint> response_origin;  // RESPONSE-ORIGIN in the first answer
  std::string software;                           // SOFTWARE in the first answer
  bool rfc5780 = false;  // OTHER-ADDRESS usable: another IP and another port, same family
  bool udp_reachable = false;
  std::optional<bool> tcp_reachable;  // null: not tested (UDP worked)
  std::optional<turn::Endpoint> tcp_mapped;
  Behavior mapping = Behavior::Unknown;
  Behavior filtering = Behavior::Unknown;
  std::optional<bool> hairpinning;   // null: not tested
  std::optional<bool> alg_detected;  // null: no answer carried both MAPPED- and XOR-MAPPED-ADDRESS
  std::string rfc3489;               // classic RFC 3489 name
  std::string verdict;               // what to expect, in one sentence
  std::vector<std::string> notes;    // further findings a person should know
  std::vector<TestRecord> tests;
  uint32_t ignored_datagrams = 0;    // not STUN, malformed, or not ours
};

// --- Classification: pure functions of what the tests saw ---

// RFC 5780 4.3. test1..3: XOR-MAPPED-ADDRESS of tests I, II (alternate IP, primary port) and III
// (alternate IP and port), all from `local`; nullopt where the test was not run or got no answer.
Behavior classify_mapping(const std::optional<turn::Endpoint>& local, const std::optional<turn::Endpoint>& test1,
                          const std::optional<turn::Endpoint>& test2, const std::optional<turn::Endpoint>& test3);

// RFC 5780 4.4, on a fresh socket. no_nat: that socket's mapped address is its local address.
// change_ip_port / change_port: whether the answer to the CHANGE-REQUEST arrived (nullopt: not
// run, or inconclusive such as an error response or an unchanged source).
Behavior classify_filtering(bool no_nat, std::optional<bool> change_ip_port, std::optional<bool> change_port);

// The classic RFC 3489 name: Open Internet, Full Cone, Restricted Cone, Port Restricted Cone,
// Symmetric, Symmetric UDP Firewall, UDP Blocked, or Unknown.
std::string rfc3489_name(bool udp_reachable, Behavior mapping, Behavior filtering);

struct Verdict {
  std::string verdict;
  std::vector<std::string> notes;
};
// What a person should expect for media from this site, from the rest of the report.
Verdict make_verdict(const NatReport& r);

// --- Renderings ---

// Key order as documented (ordered_json), so the text reads well; parse it as any JSON.
nlohmann::ordered_json to_json(const NatReport& r);
nlohmann::ordered_json to_json(const TestRecord& t);
std::string to_text(const NatReport& r);

}  // namespace diag
