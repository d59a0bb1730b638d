#include "diag/nat_probe.hpp"

#include <algorithm>

#include "turn/attributes.hpp"
#include "turn/crypto.hpp"

namespace diag {

using turn::Endpoint;
using turn::Transport;
namespace stun = turn::stun;

namespace {
constexpr const char* kSoftware = "turnpike-diag";

stun::TransactionId random_txid() {
  stun::TransactionId id;
  turn::crypto::random_bytes(id);
  return id;
}

// An address attribute: absent (nullopt, ok) or present and decodable; `bad` set when present but not.
std::optional<Endpoint> plain_address(const stun::Message& m, uint16_t type, bool& bad) {
  const stun::RawAttribute* a = m.find(type);
  if (!a) return std::nullopt;
  auto v = stun::PlainAddress::decode(a->value);
  if (!v) { bad = true; return std::nullopt; }
  return v->endpoint;
}
}  // namespace

NatProbe::NatProbe(NatProbeConfig cfg) : cfg_(std::move(cfg)) {
  if (!cfg_.new_transaction_id) cfg_.new_transaction_id = random_txid;
  if (cfg_.tcp_port == 0) cfg_.tcp_port = cfg_.server.port;
  if (cfg_.initial_rto_ms == 0) cfg_.initial_rto_ms = std::clamp<uint32_t>(cfg_.timeout_ms / 12, 10, 500);
  if (cfg_.max_attempts == 0) cfg_.max_attempts = 1;
  report_.server = cfg_.server;
  report_.server_tcp = Endpoint{cfg_.server.address, cfg_.tcp_port};
  report_.local = cfg_.local[static_cast<size_t>(SocketRole::Main)];
  begin(Step::Binding);
}

bool NatProbe::no_nat(SocketRole socket, const std::optional<Endpoint>& mapped) const {
  const auto& local = cfg_.local[static_cast<size_t>(socket)];
  return mapped && local && *mapped == *local;
}

void NatProbe::add_probe(SocketRole socket, Transport transport, const Endpoint& to, ChangeRequest change,
                         SocketRole arrives_on) {
  Probe p{socket, transport, to, cfg_.new_transaction_id(), {}, arrives_on};
  uint8_t buf[128];
  stun::Builder b(buf, stun::Method::Binding, stun::Class::Request, p.txid);
  if (change != ChangeRequest::None) b.add_u32(stun::attr::ChangeRequest, static_cast<uint32_t>(change));
  b.add(stun::attr::Software, kSoftware);
  b.add_fingerprint();
  p.bytes.assign(b.bytes().begin(), b.bytes().end());
  probes_.push_back(std::move(p));
}

void NatProbe::begin(Step step) {
  step_ = step;
  probes_.clear();
  queue_.clear();
  started_ = false;
  malformed_seen_ = false;
  attempts_ = 0;
  rec_ = TestRecord{};
  if (step == Step::Done) { finalize(); return; }

  const Endpoint primary = cfg_.server;
  const Endpoint other = report_.other_address.value_or(primary);
  auto udp = [&](const char* name, SocketRole s, const Endpoint& to, ChangeRequest change = ChangeRequest::None) {
    rec_.name = name;
    rec_.socket = s;
    rec_.to = to;
    rec_.change = change;
    rec_.local = cfg_.local[static_cast<size_t>(s)];
    add_probe(s, Transport::Udp, to, change, s);
  };
  switch (step) {
    case Step::Binding: udp("binding", SocketRole::Main, primary); break;
    case Step::MappingAltIp: udp("mapping_alt_ip", SocketRole::Main, Endpoint{other.address, primary.port}); break;
    case Step::MappingAltIpPort: udp("mapping_alt_ip_port", SocketRole::Main, other); break;
    case Step::FilteringBinding: udp("filtering_binding", SocketRole::Filtering, primary); break;
    case Step::FilteringChangeIpPort:
      udp("filtering_change_ip_port", SocketRole::Filtering, primary, ChangeRequest::IpAndPort);
      break;
    case Step::FilteringChangePort: udp("filtering_change_port", SocketRole::Filtering, primary, ChangeRequest::Port); break;
    case Step::HairpinBinding: udp("hairpin_binding", SocketRole::Hairpin, primary); break;
    case Step::Hairpin:
      // RFC 5780 4.5: a request to our own mapped address from another socket. It is sent both
      // ways when both mappings are known, so that each mapping has already sent to the other's
      // public address and a filtering NAT lets the hairpinned packet in.
      rec_.name = "hairpin";
      rec_.socket = SocketRole::Hairpin;
      rec_.to = *report_.mapped;
      rec_.local = cfg_.local[static_cast<size_t>(SocketRole::Hairpin)];
      add_probe(SocketRole::Hairpin, Transport::Udp, *report_.mapped, ChangeRequest::None, SocketRole::Main);
      if (hairpin_mapped_)
        add_probe(SocketRole::Main, Transport::Udp, *hairpin_mapped_, ChangeRequest::None, SocketRole::Hairpin);
      break;
    case Step::TcpBinding:
      rec_.name = "tcp_binding";
      rec_.socket = SocketRole::Tcp;
      rec_.transport = Transport::Tcp;
      rec_.to = report_.server_tcp;
      add_probe(SocketRole::Tcp, Transport::Tcp, report_.server_tcp, ChangeRequest::None, SocketRole::Tcp);
      break;
    case Step::Done: break;
  }
}

Action NatProbe::next_action(int64_t now_ms) {
  on_timeout(now_ms);
  if (done()) return Action{Action::Kind::Done, {}, 0};
  if (!started_) {
    started_ = true;
    start_ms_ = next_send_ms_ = now_ms;
    deadline_ms_ = now_ms + cfg_.timeout_ms;
    rto_ms_ = cfg_.initial_rto_ms;
  }
  // A reliable transport is not retransmitted on (RFC 8489 6.2.2).
  uint32_t max = probes_.front().transport == Transport::Udp ? cfg_.max_attempts : 1;
  if (queue_.empty() && now_ms >= next_send_ms_ && attempts_ < max) {
    for (const Probe& p : probes_) queue_.push_back(Transmit{p.socket, p.transport, p.to, p.bytes});
    ++attempts_;
    next_send_ms_ = now_ms + rto_ms_;
    rto_ms_ *= 2;
  }
  if (!queue_.empty()) {
    Action a{Action::Kind::Send, std::move(queue_.front()), 0};
    queue_.pop_front();
    return a;
  }
  int64_t until = deadline_ms_;
  if (attempts_ < max) until = std::min(until, next_send_ms_);
  return Action{Action::Kind::Wait, {}, until};
}

void NatProbe::on_timeout(int64_t now_ms) {
  if (!done() && started_ && now_ms >= deadline_ms_)
    finish(malformed_seen_ ? Outcome::Malformed : Outcome::Timeout, now_ms);
}

void NatProbe::on_transport_error(SocketRole socket, int64_t now_ms) {
  if (done() || !started_ || probes_.front().socket != socket || probes_.front().transport == Transport::Udp) return;
  finish(Outcome::Refused, now_ms);
}

void NatProbe::on_datagram(SocketRole socket, const Endpoint& from, std::span<const uint8_t> bytes, int64_t now_ms) {
  if (done()) return;
  stun::Message m;
  if (!started_ || stun::Message::parse(bytes, m) != stun::ParseError::None ||
      m.method() != stun::Method::Binding) {
    ++report_.ignored_datagrams;
    return;
  }
  auto ours = std::find_if(probes_.begin(), probes_.end(), [&](const Probe& p) {
    return p.txid == m.transaction_id() && (step_ == Step::Hairpin ? p.arrives_on == socket : p.socket == socket);
  });
  if (ours == probes_.end()) {
    ++report_.ignored_datagrams;
    return;
  }
  if (step_ == Step::Hairpin) {
    if (m.cls() != stun::Class::Request) { ++report_.ignored_datagrams; return; }
    rec_.from = from;
    rec_.detail = ours == probes_.begin()
                      ? "the request from the hairpin socket to the main socket's mapped address came back to it"
                      : "the request from the main socket to the hairpin socket's mapped address came back to it";
    finish(Outcome::Ok, now_ms);
    return;
  }
  if (m.cls() != stun::Class::Success && m.cls() != stun::Class::Error) { ++report_.ignored_datagrams; return; }
  if (!handle_response(m, socket, from)) {
    malformed_seen_ = true;
    ++report_.ignored_datagrams;
    return;
  }
  if (m.cls() == stun::Class::Error) { finish(Outcome::ErrorResponse, now_ms); return; }
  // RFC 5780 4.4: an answer to CHANGE-REQUEST must come from the address asked for; one from
  // the primary address means the server ignored the request, which proves nothing.
  Outcome o = Outcome::Ok;
  if (rec_.change == ChangeRequest::IpAndPort && (from.address == cfg_.server.address || from.port == cfg_.server.port))
    o = Outcome::UnexpectedSource;
  if (rec_.change == ChangeRequest::Port && (from.port == cfg_.server.port || from.address != cfg_.server.address))
    o = Outcome::UnexpectedSource;
  finish(o, now_ms);
}

// Takes the attributes of an answer into rec_; false if it is malformed (then it is ignored).
bool NatProbe::handle_response(const stun::Message& m, SocketRole socket, const Endpoint& from) {
  if (m.cls() == stun::Class::Error) {
    const stun::RawAttribute* a = m.find(stun::attr::ErrorCode);
    auto ec = a ? stun::ErrorCode::decode(a->value) : std::nullopt;
    if (!ec) return false;
    rec_.from = from;
    rec_.error_code = ec->code;
    rec_.error_reason = ec->reason;
    return true;
  }
  bool bad = false;
  std::optional<Endpoint> xor_mapped;
  if (const stun::RawAttribute* a = m.find(stun::attr::XorMappedAddress)) {
    auto v = stun::XorAddress::decode(a->value, m.transaction_id());
    if (!v) return false;
    xor_mapped = v->endpoint;
  }
  auto mapped = plain_address(m, stun::attr::MappedAddress, bad);
  auto other = plain_address(m, stun::attr::OtherAddress, bad);
  auto origin = plain_address(m, stun::attr::ResponseOrigin, bad);
  if (bad || (!xor_mapped && !mapped)) return false;
  rec_.from = from;
  rec_.mapped = xor_mapped;
  rec_.mapped_plain = mapped;
  rec_.other_address = other;
  rec_.response_origin = origin;
  if (step_ == Step::Binding) {
    if (const stun::RawAttribute* s = m.find(stun::attr::Software)) {
      if (auto t = stun::Text::decode(s->value, stun::kMaxSoftware)) report_.software = t->value;
    }
  }
  return true;
}

void NatProbe::finish(Outcome outcome, int64_t now_ms) {
  rec_.outcome = outcome;
  rec_.attempts = attempts_;
  rec_.elapsed_ms = static_cast<uint32_t>(now_ms >= start_ms_ ? now_ms - start_ms_ : 0);
  if (outcome == Outcome::Ok && step_ == Step::FilteringChangeIpPort)
    rec_.detail = "the answer came from the alternate address: unsolicited traffic passes the filter";
  if (outcome == Outcome::Ok && step_ == Step::FilteringChangePort)
    rec_.detail = "the answer came from the alternate port: traffic from a contacted address passes the filter";
  if (outcome == Outcome::Timeout && step_ == Step::FilteringChangeIpPort)
    rec_.detail = "no answer from the alternate address and port: the filter dropped it";
  if (outcome == Outcome::Timeout && step_ == Step::FilteringChangePort)
    rec_.detail = "no answer from the alternate port: the filter dropped it";
  TestRecord rec = std::move(rec_);
  report_.tests.push_back(rec);
  advance(step_, rec);
}

namespace {
std::optional<Endpoint> best_mapped(const TestRecord& r) { return r.mapped ? r.mapped : r.mapped_plain; }
}  // namespace

// RFC 5780 4.3: Test I decides the rest. No answer: the TCP fallback; an error or only malformed
// answers: stop; otherwise the mapping tests when OTHER-ADDRESS is usable, else straight to hairpinning.
void NatProbe::after_binding(const TestRecord& rec) {
  if (rec.outcome == Outcome::Timeout) return begin(Step::TcpBinding);
  report_.udp_reachable = true;  // an answer, even an error or a malformed one, came back
  if (rec.outcome != Outcome::Ok) return begin(Step::Done);
  report_.mapped = best_mapped(rec);
  report_.mapped_plain = rec.mapped_plain;
  report_.other_address = rec.other_address;
  report_.response_origin = rec.response_origin;
  // RFC 5780 4.3/4.4 need another IP and another port of the same family.
  const auto& o = rec.other_address;
  report_.rfc5780 = o && o->address.family == cfg_.server.address.family && o->address != cfg_.server.address &&
                    o->port != cfg_.server.port;
  // Without NAT the mapping tests still run: they check that the alternate address answers.
  begin(report_.rfc5780 ? Step::MappingAltIp : Step::HairpinBinding);
}

// The test after `finished`, by its outcome (RFC 5780 4.3 mapping, 4.4 filtering, 4.5 hairpinning).
void NatProbe::advance(Step finished, const TestRecord& rec) {
  const bool ok = rec.outcome == Outcome::Ok;
  switch (finished) {
    case Step::Binding: return after_binding(rec);
    case Step::MappingAltIp:
      if (ok) mapped_alt_ip_ = best_mapped(rec);
      if (ok && *mapped_alt_ip_ != *report_.mapped) begin(Step::MappingAltIpPort);
      else begin(Step::FilteringBinding);
      return;
    case Step::MappingAltIpPort:
      if (ok) mapped_alt_ip_port_ = best_mapped(rec);
      begin(Step::FilteringBinding);
      return;
    case Step::FilteringBinding:
      if (!ok) { begin(Step::HairpinBinding); return; }
      filtering_mapped_ = best_mapped(rec);
      begin(Step::FilteringChangeIpPort);
      return;
    case Step::FilteringChangeIpPort:
      if (ok) change_ip_port_reply_ = true;
      else if (rec.outcome == Outcome::Timeout) change_ip_port_reply_ = false;
      begin(rec.outcome == Outcome::Timeout ? Step::FilteringChangePort : Step::HairpinBinding);
      return;
    case Step::FilteringChangePort:
      if (ok) change_port_reply_ = true;
      else if (rec.outcome == Outcome::Timeout) change_port_reply_ = false;
      begin(Step::HairpinBinding);
      return;
    case Step::HairpinBinding:
      if (ok) hairpin_mapped_ = best_mapped(rec);
      begin(Step::Hairpin);
      return;
    case Step::Hairpin:
      report_.hairpinning = ok;
      begin(Step::Done);
      return;
    case Step::TcpBinding:
      report_.tcp_reachable = rec.outcome != Outcome::Timeout && rec.outcome != Outcome::Refused;
      if (ok) report_.tcp_mapped = best_mapped(rec);
      begin(Step::Done);
      return;
    case Step::Done: return;
  }
}

void NatProbe::finalize() {
  NatReport& r = report_;
  if (r.udp_reachable) {
    const auto& local = cfg_.local[static_cast<size_t>(SocketRole::Main)];
    r.mapping = classify_mapping(local, r.mapped, r.rfc5780 ? mapped_alt_ip_ : std::nullopt,
                                 r.rfc5780 ? mapped_alt_ip_port_ : std::nullopt);
    // Without a usable OTHER-ADDRESS only "no NAT" can be told.
    if (!r.rfc5780 && r.mapping != Behavior::NoNat) r.mapping = Behavior::Unknown;
    r.filtering = r.rfc5780 && filtering_mapped_
                      ? classify_filtering(no_nat(SocketRole::Filtering, filtering_mapped_), change_ip_port_reply_,
                                           change_port_reply_)
                      : Behavior::Unknown;
  }
  for (const TestRecord& t : r.tests) {
    if (t.outcome != Outcome::Ok || !t.mapped || !t.mapped_plain) continue;
    r.alg_detected = r.alg_detected.value_or(false) || *t.mapped != *t.mapped_plain;
  }
  r.rfc3489 = rfc3489_name(r.udp_reachable, r.mapping, r.filtering);
  Verdict v = make_verdict(r);
  r.verdict = std::move(v.verdict);
  r.notes = std::move(v.notes);
}

}  // namespace diag
