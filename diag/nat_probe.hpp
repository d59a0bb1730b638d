// diag::NatProbe: RFC 5780 section 4 NAT behaviour discovery as a sans-I/O state machine.
//
// The caller owns three UDP sockets (SocketRole::Main, Filtering, Hairpin), bound to the local
// addresses given in the config, and opens a TCP connection when asked to (the fallback when UDP
// gets no answer). It loops:
//
//   for (;;) {
//     Action a = probe.next_action(now_ms());
//     if (a.kind == Action::Kind::Done) break;
//     if (a.kind == Action::Kind::Send) { send(a.transmit); continue; }
//     wait for a datagram on any socket until a.until_ms; hand it to probe.on_datagram(...)
//   }
//   probe.report();
//
// Tests run one after another; each retransmits RFC 8489 style (same transaction id, doubling
// RTO) within its budget. Answers are matched by transaction id and socket; anything else is
// counted and ignored.
#pragma once
#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "diag/nat_report.hpp"
#include "turn/address.hpp"
#include "turn/message.hpp"

namespace diag {

struct NatProbeConfig {
  turn::Endpoint server;  // the primary address, UDP
  uint16_t tcp_port = 0;  // the TCP fallback's port on the same address; 0: server.port
  // Local address of each UDP socket (index: SocketRole), to tell "no NAT" (mapped == local).
  std::array<std::optional<turn::Endpoint>, kUdpSockets> local{};
  uint32_t timeout_ms = 3000;   // the budget of each test, retransmissions included
  uint32_t initial_rto_ms = 0;  // 0: timeout_ms / 12, within [10, 500]
  uint32_t max_attempts = 7;    // RFC 8489 6.2.1 Rc
  // Transaction ids; default: 96 random bits from OpenSSL's CSPRNG.
  std::function<turn::stun::TransactionId()> new_transaction_id;
};

struct Transmit {
  SocketRole socket = SocketRole::Main;
  turn::Transport transport = turn::Transport::Udp;  // Tcp: connect to `to` (once), write `bytes`
  turn::Endpoint to;
  std::vector<uint8_t> bytes;
};

struct Action {
  enum class Kind : uint8_t { Send, Wait, Done };
  Kind kind = Kind::Wait;
  Transmit transmit;      // Send
  int64_t until_ms = 0;   // Wait: call next_action() again by then, or when something arrives
};

class NatProbe {
 public:
  explicit NatProbe(NatProbeConfig cfg);

  Action next_action(int64_t now_ms);
  // A datagram (UDP) or one whole STUN message read from the TCP stream (RFC 8489 6.2.2: no
  // further framing) that arrived on `socket` from `from`.
  void on_datagram(SocketRole socket, const turn::Endpoint& from, std::span<const uint8_t> bytes, int64_t now_ms);
  // The TCP connection failed (refused, reset, closed without an answer).
  void on_transport_error(SocketRole socket, int64_t now_ms);
  // Expires the running test if its budget is spent; next_action() calls it too.
  void on_timeout(int64_t now_ms);

  bool done() const { return step_ == Step::Done; }
  const NatReport& report() const { return report_; }

 private:
  enum class Step : uint8_t {
    Binding, MappingAltIp, MappingAltIpPort, FilteringBinding, FilteringChangeIpPort, FilteringChangePort,
    HairpinBinding, Hairpin, TcpBinding, Done,
  };
  struct Probe {
    SocketRole socket;
    turn::Transport transport;
    turn::Endpoint to;
    turn::stun::TransactionId txid;
    std::vector<uint8_t> bytes;
    SocketRole arrives_on;  // Hairpin: where our own request should show up
  };

  void begin(Step step);
  void add_probe(SocketRole socket, turn::Transport transport, const turn::Endpoint& to, ChangeRequest change,
                 SocketRole arrives_on);
  void finish(Outcome outcome, int64_t now_ms);
  void advance(Step finished, const TestRecord& rec);
  void after_binding(const TestRecord& rec);
  void finalize();
  bool handle_response(const turn::stun::Message& m, SocketRole socket, const turn::Endpoint& from);
  bool no_nat(SocketRole socket, const std::optional<turn::Endpoint>& mapped) const;

  NatProbeConfig cfg_;
  NatReport report_;
  Step step_ = Step::Binding;
  std::vector<Probe> probes_;
  TestRecord rec_;
  std::deque<Transmit> queue_;
  bool started_ = false;
  bool malformed_seen_ = false;
  int64_t start_ms_ = 0, next_send_ms_ = 0, deadline_ms_ = 0;
  uint32_t rto_ms_ = 0;
  uint32_t attempts_ = 0;

  // What the tests found, for classification at the end.
  std::optional<turn::Endpoint> mapped_alt_ip_, mapped_alt_ip_port_, filtering_mapped_, hairpin_mapped_;
  std::optional<bool> change_ip_port_reply_, change_port_reply_;
};

}  // namespace diag
