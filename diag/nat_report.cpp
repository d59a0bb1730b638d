#include "diag/nat_report.hpp"
#include "diag/text.hpp"

#include <cstdio>

namespace diag {

using turn::Endpoint;

const char* to_string(Behavior b) {
  switch (b) {
    case Behavior::NoNat: return "no_nat";
    case Behavior::EndpointIndependent: return "endpoint_independent";
    case Behavior::AddressDependent: return "address_dependent";
    case Behavior::AddressAndPortDependent: return "address_and_port_dependent";
    case Behavior::Unknown: return "unknown";
  }
  return "unknown";
}

const char* to_string(SocketRole s) {
  switch (s) {
    case SocketRole::Main: return "main";
    case SocketRole::Filtering: return "filtering";
    case SocketRole::Hairpin: return "hairpin";
    case SocketRole::Tcp: return "tcp";
  }
  return "?";
}

const char* to_string(ChangeRequest c) {
  switch (c) {
    case ChangeRequest::None: return "none";
    case ChangeRequest::Port: return "port";
    case ChangeRequest::IpAndPort: return "ip_and_port";
  }
  return "?";
}

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::Ok: return "ok";
    case Outcome::Timeout: return "timeout";
    case Outcome::ErrorResponse: return "error_response";
    case Outcome::UnexpectedSource: return "unexpected_source";
    case Outcome::Malformed: return "malformed";
    case Outcome::Refused: return "refused";
  }
  return "?";
}

Behavior classify_mapping(const std::optional<Endpoint>& local, const std::optional<Endpoint>& test1,
                          const std::optional<Endpoint>& test2, const std::optional<Endpoint>& test3) {
  if (!test1) return Behavior::Unknown;
  if (local && *test1 == *local) return Behavior::NoNat;
  if (!test2) return Behavior::Unknown;
  if (*test2 == *test1) return Behavior::EndpointIndependent;
  if (!test3) return Behavior::Unknown;
  return *test3 == *test2 ? Behavior::AddressDependent : Behavior::AddressAndPortDependent;
}

Behavior classify_filtering(bool no_nat, std::optional<bool> change_ip_port, std::optional<bool> change_port) {
  if (!change_ip_port) return Behavior::Unknown;
  if (*change_ip_port) return no_nat ? Behavior::NoNat : Behavior::EndpointIndependent;
  if (!change_port) return Behavior::Unknown;
  return *change_port ? Behavior::AddressDependent : Behavior::AddressAndPortDependent;
}

std::string rfc3489_name(bool udp_reachable, Behavior mapping, Behavior filtering) {
  if (!udp_reachable) return "UDP Blocked";
  switch (mapping) {
    case Behavior::NoNat:
      if (filtering == Behavior::NoNat || filtering == Behavior::EndpointIndependent) return "Open Internet";
      if (filtering == Behavior::Unknown) return "Unknown";
      return "Symmetric UDP Firewall";
    case Behavior::EndpointIndependent:
      switch (filtering) {
        case Behavior::NoNat:
        case Behavior::EndpointIndependent: return "Full Cone";
        case Behavior::AddressDependent: return "Restricted Cone";
        case Behavior::AddressAndPortDependent: return "Port Restricted Cone";
        case Behavior::Unknown: return "Unknown";
      }
      return "Unknown";
    case Behavior::AddressDependent:
    case Behavior::AddressAndPortDependent: return "Symmetric";
    case Behavior::Unknown: return "Unknown";
  }
  return "Unknown";
}

namespace {
std::string str(const std::optional<Endpoint>& e) { return e ? e->to_string() : "?"; }

const TestRecord* find_test(const NatReport& r, std::string_view name) {
  for (const TestRecord& t : r.tests)
    if (t.name == name) return &t;
  return nullptr;
}

const char* filtering_words(Behavior f) {
  return f == Behavior::AddressDependent ? "address-dependent" : "address-and-port-dependent";
}
}  // namespace

namespace {
// No answer over UDP (RFC 5780 4.2): TCP reachable or not.
Verdict unreachable_verdict(const NatReport& r) {
  Verdict v;
  auto& notes = v.notes;
  const std::string server = r.server.to_string();
  if (r.tcp_reachable.value_or(false)) {
    v.verdict = "UDP blocked: media will use TURN over TCP/TLS (443); expect relayed media";
    notes.push_back("no UDP answer from " + server + "; STUN over TCP to " + r.server_tcp.to_string() +
                    " works: allow outbound UDP to the TURN server (3478 and its relay ports) for better media");
  } else {
    v.verdict = "neither UDP nor TCP reaches the server: no media through " + server +
                " from here; allow outbound UDP 3478 and TCP/TLS 443 to the TURN server";
    notes.push_back("no answer over UDP from " + server + " nor over TCP from " + r.server_tcp.to_string());
  }
  return v;
}

// Mapping "no NAT", by the filtering behaviour (RFC 5780 4.4).
void no_nat_verdict(const NatReport& r, Verdict& v) {
  switch (r.filtering) {
    case Behavior::NoNat:
    case Behavior::EndpointIndependent:
      v.verdict = "open internet: no NAT and no filtering; direct media works, TURN not needed from here";
      break;
    case Behavior::AddressDependent:
    case Behavior::AddressAndPortDependent:
      v.verdict = std::string("no NAT, but a firewall with ") + filtering_words(r.filtering) +
                  " filtering (Symmetric UDP Firewall): direct media works when ICE opens the path from this "
                  "side; TURN needed only with peers behind symmetric NATs";
      break;
    case Behavior::Unknown:
      v.verdict = r.rfc5780 ? "no NAT (the mapped address is the local address); filtering could not be determined"
                            : "no NAT (the mapped address is the local address); the server does not support "
                              "RFC 5780, so filtering was not tested";
      break;
  }
}

// Endpoint-independent mapping, by the filtering behaviour (RFC 5780 4.4).
void endpoint_independent_verdict(const NatReport& r, const std::string& cls, Verdict& v) {
  switch (r.filtering) {
    case Behavior::NoNat:
    case Behavior::EndpointIndependent:
      v.verdict = "endpoint-independent NAT" + cls + ": direct media works with STUN; TURN rarely needed";
      break;
    case Behavior::AddressDependent:
    case Behavior::AddressAndPortDependent:
      v.verdict = std::string("endpoint-independent mapping with ") + filtering_words(r.filtering) +
                  " filtering" + cls + ": direct media works through ICE hole punching with most peers; "
                  "TURN needed only with peers behind symmetric NATs";
      break;
    case Behavior::Unknown:
      v.verdict = "endpoint-independent NAT mapping, filtering unknown: direct media likely works through ICE; "
                  "keep TURN available";
      break;
  }
}

// The verdict from the mapping (RFC 5780 4.3) and filtering behaviours, with the RFC 3489 name.
void behaviour_verdict(const NatReport& r, Verdict& v) {
  auto& notes = v.notes;
  const std::string cls = " (" + r.rfc3489 + ")";
  switch (r.mapping) {
    case Behavior::NoNat: no_nat_verdict(r, v); break;
    case Behavior::EndpointIndependent: endpoint_independent_verdict(r, cls, v); break;
    case Behavior::AddressDependent:
    case Behavior::AddressAndPortDependent:
      v.verdict = "symmetric NAT: expect relayed media; TURN required";
      notes.push_back(std::string("the NAT's mapping is ") +
                      (r.mapping == Behavior::AddressDependent ? "address-dependent" : "address-and-port-dependent") +
                      ": each destination sees another public address, so peers cannot use the STUN address");
      break;
    case Behavior::Unknown:
      if (!r.rfc5780) {
        v.verdict = "behind NAT (mapped " + str(r.mapped) + ", local " + str(r.local) +
                    "); the server does not support RFC 5780 (no usable OTHER-ADDRESS), so the NAT type is unknown; "
                    "keep TURN available";
      } else {
        v.verdict = "behind NAT (mapped " + str(r.mapped) +
                    "); its mapping behaviour could not be determined; keep TURN available";
      }
      break;
  }
}

// What the server supports: MAPPED-ADDRESS only (RFC 3489), OTHER-ADDRESS (RFC 5780 7.4).
void server_notes(const NatReport& r, const TestRecord* binding, std::vector<std::string>& notes) {
  if (binding && binding->outcome == Outcome::Ok && !binding->mapped && binding->mapped_plain)
    notes.push_back("the server answered with MAPPED-ADDRESS only (an RFC 3489 server)");
  if (!r.other_address) {
    notes.push_back("the server sent no OTHER-ADDRESS: it does not support RFC 5780 (which needs a second IP "
                    "address and an alternate port on the server); NAT mapping and filtering tests were not run");
  } else if (!r.rfc5780) {
    notes.push_back("OTHER-ADDRESS " + r.other_address->to_string() +
                    " does not differ from the primary address in both IP and port: RFC 5780 tests not run");
  }
}

// Tests that gave no usable answer, and CHANGE-REQUEST refused or ignored (RFC 5780 4.3, 4.4).
void test_notes(const NatReport& r, std::vector<std::string>& notes) {
  if (const TestRecord* t = find_test(r, "mapping_alt_ip"); t && t->outcome != Outcome::Ok)
    notes.push_back("the server's alternate address " + t->to.to_string() + " gave no usable answer (" +
                    to_string(t->outcome) + "): a firewall may allow only the primary address, or the server "
                    "advertises an unreachable OTHER-ADDRESS");
  if (const TestRecord* t = find_test(r, "mapping_alt_ip_port"); t && t->outcome != Outcome::Ok)
    notes.push_back("the server's alternate address and port " + t->to.to_string() + " gave no usable answer (" +
                    to_string(t->outcome) + ")");
  if (const TestRecord* t = find_test(r, "filtering_binding"); t && t->outcome != Outcome::Ok)
    notes.push_back(std::string("a fresh socket got no usable answer from the primary address (") +
                    to_string(t->outcome) + "): filtering not tested");
  for (const char* name : {"filtering_change_ip_port", "filtering_change_port"}) {
    const TestRecord* t = find_test(r, name);
    if (!t) continue;
    if (t->outcome == Outcome::ErrorResponse)
      notes.push_back("the server refused CHANGE-REQUEST (" + std::to_string(t->error_code.value_or(0)) + " " +
                      t->error_reason + "): filtering not determined");
    if (t->outcome == Outcome::UnexpectedSource)
      notes.push_back("the server answered CHANGE-REQUEST from " + str(t->from) +
                      ", not from the address asked for: it ignores CHANGE-REQUEST; filtering not determined");
  }
}

// An ALG rewriting STUN addresses, and no hairpinning (RFC 5780 4.5).
void alg_and_hairpin_notes(const NatReport& r, std::vector<std::string>& notes) {
  if (r.alg_detected.value_or(false)) {
    std::string which;
    for (const TestRecord& t : r.tests)
      if (t.outcome == Outcome::Ok && t.mapped && t.mapped_plain && *t.mapped != *t.mapped_plain) {
        which = "MAPPED-ADDRESS " + t.mapped_plain->to_string() + " vs XOR-MAPPED-ADDRESS " + t.mapped->to_string();
        break;
      }
    notes.push_back("a NAT ALG rewrites addresses inside STUN packets (" + which +
                    "): it can break ICE; disable the SIP/STUN ALG (\"fixup\") on the firewall");
  }
  if (r.hairpinning && !*r.hairpinning)
    notes.push_back("no hairpinning: two clients behind this NAT cannot reach each other at their public "
                    "addresses; they connect over host candidates on the same network, or through TURN");
}
}  // namespace

Verdict make_verdict(const NatReport& r) {
  if (!r.udp_reachable) return unreachable_verdict(r);
  Verdict v;
  const TestRecord* binding = find_test(r, "binding");
  if (binding && binding->outcome == Outcome::ErrorResponse) {
    v.verdict = "the server answers over UDP but refused the Binding request (" +
                std::to_string(binding->error_code.value_or(0)) + " " + binding->error_reason +
                "): NAT behaviour unknown";
    return v;
  }
  if (binding && binding->outcome == Outcome::Malformed) {
    v.verdict = "the server answers over UDP but its Binding responses are malformed: NAT behaviour unknown";
    return v;
  }

  behaviour_verdict(r, v);
  server_notes(r, binding, v.notes);
  test_notes(r, v.notes);
  alg_and_hairpin_notes(r, v.notes);
  return v;
}

namespace {
nlohmann::ordered_json ep(const std::optional<Endpoint>& e) {
  return e ? nlohmann::ordered_json(e->to_string()) : nlohmann::ordered_json(nullptr);
}
template <typename T>
nlohmann::ordered_json opt(const std::optional<T>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}
}  // namespace

nlohmann::ordered_json to_json(const TestRecord& t) {
  nlohmann::ordered_json j = {
      {"name", t.name},
      {"socket", to_string(t.socket)},
      {"transport", turn::to_string(t.transport)},
      {"local", ep(t.local)},
      {"to", t.to.to_string()},
      {"change_request", to_string(t.change)},
      {"result", to_string(t.outcome)},
      {"attempts", t.attempts},
      {"elapsed_ms", t.elapsed_ms},
      {"from", ep(t.from)},
      {"mapped", ep(t.mapped)},
      {"mapped_address", ep(t.mapped_plain)},
      {"other_address", ep(t.other_address)},
      {"response_origin", ep(t.response_origin)},
  };
  if (t.error_code) j["error"] = {{"code", *t.error_code}, {"reason", t.error_reason}};
  if (!t.detail.empty()) j["detail"] = t.detail;
  return j;
}

nlohmann::ordered_json to_json(const NatReport& r) {
  nlohmann::ordered_json tests = nlohmann::ordered_json::array();
  for (const TestRecord& t : r.tests) tests.push_back(to_json(t));
  return {
      {"server", r.server.to_string()},
      {"mapping", to_string(r.mapping)},
      {"filtering", to_string(r.filtering)},
      {"udp_reachable", r.udp_reachable},
      {"tcp_reachable", opt(r.tcp_reachable)},
      {"hairpinning", opt(r.hairpinning)},
      {"alg_detected", opt(r.alg_detected)},
      {"rfc3489", r.rfc3489},
      {"verdict", r.verdict},
      {"notes", r.notes},
      {"local", ep(r.local)},
      {"mapped", ep(r.mapped)},
      {"mapped_address", ep(r.mapped_plain)},
      {"other_address", ep(r.other_address)},
      {"response_origin", ep(r.response_origin)},
      {"rfc5780", r.rfc5780},
      {"software", r.software.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(r.software)},
      {"server_tcp", r.server_tcp.to_string()},
      {"tcp_mapped", ep(r.tcp_mapped)},
      {"tests", tests},
      {"ignored_datagrams", r.ignored_datagrams},
  };
}

namespace {
std::string yes_no(const std::optional<bool>& b, const char* yes, const char* no, const char* unknown) {
  return b ? (*b ? yes : no) : unknown;
}
}  // namespace

std::string to_text(const NatReport& r) {
  std::string out;
  auto line = [&](const char* label, const std::string& value) { append_field(out, label, value); };
  out += "NAT behaviour discovery (RFC 5780) via " + r.server.to_string() + "\n";
  std::string server = r.server.to_string();
  if (!r.software.empty()) server += " \"" + r.software + "\"";
  if (r.udp_reachable && !r.tests.empty() && r.tests.front().outcome == Outcome::Ok)
    server += r.other_address ? ", alternate " + r.other_address->to_string() + (r.rfc5780 ? "" : " (unusable)")
                              : ", no OTHER-ADDRESS (no RFC 5780 support)";
  line("server", server);
  line("local", str(r.local));
  line("mapped", r.mapped ? r.mapped->to_string() : "-");
  line("UDP", r.udp_reachable ? "reachable" : "no answer");
  const TestRecord* tcp = find_test(r, "tcp_binding");
  line("TCP", !tcp ? std::string("not tested (UDP works)")
                   : std::string(r.tcp_reachable.value_or(false) ? "reachable" : "unreachable") + " (" +
                         r.server_tcp.to_string() + ": " + to_string(tcp->outcome) + ")");
  line("mapping", to_string(r.mapping));
  line("filtering", to_string(r.filtering));
  line("hairpinning", yes_no(r.hairpinning, "yes", "no", "not tested"));
  line("ALG", yes_no(r.alg_detected, "detected", "none detected", "unknown (no MAPPED-ADDRESS to compare)"));
  line("RFC 3489 type", r.rfc3489);
  out += "\nverdict: " + r.verdict + "\n";
  for (const std::string& n : r.notes) out += "  - " + n + "\n";
  out += "\ntests:\n";
  for (const TestRecord& t : r.tests) {
    char buf[160];
    std::string to = t.to.to_string();
    if (t.change != ChangeRequest::None) to += std::string(" change=") + to_string(t.change);
    std::snprintf(buf, sizeof buf, "  %-25s %s %-9s -> %-36s %-17s %u tx, %u ms", t.name.c_str(),
                  turn::to_string(t.transport), to_string(t.socket), to.c_str(), to_string(t.outcome), t.attempts,
                  t.elapsed_ms);
    out += buf;
    if (t.from && t.name != "hairpin") out += ", from " + t.from->to_string();
    if (t.mapped || t.mapped_plain) out += ", mapped " + str(t.mapped ? t.mapped : t.mapped_plain);
    if (t.error_code) out += ", error " + std::to_string(*t.error_code) + " " + t.error_reason;
    out += '\n';
  }
  return out;
}

}  // namespace diag
