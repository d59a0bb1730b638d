// The test peer's media socket: ICE checks (turn/'s STUN codec), DTLS, SRTP, crafted RTCP and
// spoofed checks. Datagrams are told apart per RFC 7983 like any WebRTC endpoint does.
#include <arpa/inet.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <iostream>

#include <openssl/rand.h>

#include "peer.hpp"
#include "sfu/rtcp.hpp"
#include "turn/message.hpp"

namespace peer {

namespace asio = boost::asio;
namespace stun = turn::stun;

namespace {

constexpr double kBucketMs = 250;
constexpr double kCheckIntervalMs = 100;     // until the first success response
constexpr double kConsentIntervalMs = 1000;  // RFC 7675 consent checks afterwards
constexpr size_t kNackWindow = 64;           // sequence numbers per NACK packet

turn::Endpoint to_endpoint(const asio::ip::udp::endpoint& e) {
  turn::Endpoint out;
  auto b = e.address().to_v4().to_bytes();
  out.address = turn::IpAddress::v4(b.data());
  out.port = e.port();
  return out;
}

// A connectivity check (RFC 8445 7.1): we are the controlling agent facing ICE-lite.
std::vector<uint8_t> build_check(const std::string& username, const std::string& remote_pwd, bool nominate,
                                 uint32_t priority) {
  std::vector<uint8_t> buf(512);
  stun::TransactionId txid;
  RAND_bytes(txid.data(), static_cast<int>(txid.size()));
  stun::Builder b(buf, static_cast<uint16_t>(stun::Method::Binding), stun::Class::Request, txid);
  b.add(stun::attr::Username, username);
  b.add_u32(stun::attr::Priority, priority);
  uint8_t tiebreaker[8];
  RAND_bytes(tiebreaker, sizeof tiebreaker);
  b.add(stun::attr::IceControlling, std::span<const uint8_t>(tiebreaker, sizeof tiebreaker));
  if (nominate) b.add_empty(stun::attr::UseCandidate);
  b.add_integrity({reinterpret_cast<const uint8_t*>(remote_pwd.data()), remote_pwd.size()});
  b.add_fingerprint();
  if (!b.ok()) return {};
  auto bytes = b.bytes();
  return {bytes.begin(), bytes.end()};
}

bool is_rtcp(const uint8_t* d, size_t len) { return len >= 2 && d[1] >= 192 && d[1] <= 223; }  // RFC 5761 4

}  // namespace

void Peer::receive() {
  udp_.async_receive_from(asio::buffer(rx_), from_, [this](boost::system::error_code ec, size_t n) {
    if (ec == asio::error::operation_aborted || finished_) return;
    if (!ec) on_datagram(rx_.data(), n, from_);
    receive();
  });
}

void Peer::send_udp(const std::vector<uint8_t>& dg) {
  if (!sfu_ || dg.empty()) return;
  boost::system::error_code ec;
  udp_.send_to(asio::buffer(dg), *sfu_, 0, ec);
  if (ec) return;
  c_.bytes_sent += dg.size();
  ++c_.packets_sent;
}

void Peer::on_datagram(uint8_t* data, size_t len, const asio::ip::udp::endpoint& from) {
  c_.bytes_received += len;
  ++c_.packets_received;
  if (len == 0) return;
  uint8_t b = data[0];
  if (b < 4) return on_stun(data, len, from);
  if (b >= 20 && b <= 63) {
    dtls_.on_datagram(data, len);
    flush_dtls();
    return;
  }
  if (b >= 128 && b <= 191) on_srtp(data, len);
}

void Peer::on_stun(const uint8_t* data, size_t len, const asio::ip::udp::endpoint& from) {
  stun::Message msg;
  if (stun::Message::parse({data, len}, msg) != stun::ParseError::None) return;
  if (msg.method() != stun::Method::Binding) return;
  if (msg.cls() == stun::Class::Success) {
    if (!msg.verify_integrity({reinterpret_cast<const uint8_t*>(remote_pwd_.data()), remote_pwd_.size()})) return;
    ++c_.stun_responses;
    if (!ice_ok_) {
      ice_ok_ = true;
      ice_ms_ = elapsed_ms();
      std::cerr << "sfu-peer: ICE connected\n";
    }
    return;
  }
  if (msg.cls() != stun::Class::Request) return;
  // The SFU checks us (return routability): USERNAME "<our ufrag>:<its ufrag>", keyed by our pwd.
  const auto* u = msg.find(stun::attr::Username);
  std::string want = ufrag_ + ":" + remote_ufrag_;
  std::span<const uint8_t> key(reinterpret_cast<const uint8_t*>(pwd_.data()), pwd_.size());
  bool good = u && std::string_view(reinterpret_cast<const char*>(u->value.data()), u->value.size()) == want &&
              msg.verify_integrity(key);
  std::vector<uint8_t> buf(512);
  stun::Builder r(buf, static_cast<uint16_t>(stun::Method::Binding), good ? stun::Class::Success : stun::Class::Error,
                  msg.transaction_id());
  if (good) {
    r.add_xor_address(stun::attr::XorMappedAddress, to_endpoint(from));
    r.add_integrity(key);
    ++c_.stun_requests_answered;
  } else {
    r.add_error(401, "Unauthorized");
    ++c_.stun_requests_refused;
  }
  r.add_fingerprint();
  if (!r.ok()) return;
  auto bytes = r.bytes();
  boost::system::error_code ec;
  udp_.send_to(asio::buffer(bytes.data(), bytes.size()), from, 0, ec);
  if (!ec) {
    c_.bytes_sent += bytes.size();
    ++c_.packets_sent;
  }
}

void Peer::on_srtp(uint8_t* data, size_t len) {
  if (is_rtcp(data, len)) {
    int n = static_cast<int>(len);
    if (dtls_.unprotect(data, n, true)) ++c_.rtcp_received;
    return;
  }
  if (len < 12) return;
  uint16_t seq = static_cast<uint16_t>(data[2] << 8 | data[3]);
  uint32_t ssrc = static_cast<uint32_t>(data[8]) << 24 | data[9] << 16 | data[10] << 8 | data[11];
  auto& seen = seen_[ssrc];
  if (seen.empty()) seen.resize(65536);
  // A sequence number seen before is a retransmission (or a replay): libsrtp would refuse it
  // (RFC 3711 3.3.2), so it is counted here, by its size on the wire.
  if (seen[seq]) {
    ++c_.rtp_duplicates;
    c_.rtp_duplicate_bytes += len;
    return;
  }
  int n = static_cast<int>(len);
  if (!dtls_.unprotect(data, n, false)) {
    ++c_.rtp_unprotect_failures;
    return;
  }
  seen[seq] = true;
  auto hi = highest_.find(ssrc);
  if (hi == highest_.end() || static_cast<int16_t>(seq - hi->second) > 0) highest_[ssrc] = seq;
  ++c_.rtp_received;
  c_.rtp_bytes_received += len;
  ++c_.rtp_by_ssrc[ssrc];
  if (spoof_ms_ >= 0) {
    ++c_.rtp_received_after_spoof;
    c_.rtp_bytes_received_after_spoof += len;
  }
  size_t bucket = static_cast<size_t>(elapsed_ms() / kBucketMs);
  if (timeline_.size() <= bucket) timeline_.resize(bucket + 1, 0);
  ++timeline_[bucket];
}

void Peer::flush_dtls() {
  for (auto& dg : dtls_.take_outgoing()) send_udp(dg);
  if (dtls_.connected() && dtls_ms_ < 0) {
    dtls_ms_ = elapsed_ms();
    fingerprint_ok_ = dtls_.peer_fingerprint() == remote_fingerprint_;
    std::cerr << "sfu-peer: DTLS connected (fingerprint " << (fingerprint_ok_ ? "matches" : "MISMATCH") << ")\n";
  }
}

void Peer::tick() {
  double now = elapsed_ms();
  if (now >= opts_.duration_s * 1000) return finish();
  if (sfu_ && !remote_pwd_.empty()) {
    double interval = ice_ok_ ? kConsentIntervalMs : kCheckIntervalMs;
    if (now - last_check_ms_ >= interval) {
      send_check(!ice_ok_);
      last_check_ms_ = now;
    }
  }
  if (ice_ok_ && !dtls_started_) {
    dtls_started_ = true;
    dtls_.start();
  }
  if (dtls_started_) {
    dtls_.on_timer();
    flush_dtls();
  }
  if (dtls_.connected() && fingerprint_ok_) {
    bool publishing = opts_.mode == Mode::Publish || opts_.mode == Mode::SsrcHijack;
    if (publishing && answered_ && (!offer_refused_ || opts_.mode == Mode::SsrcHijack)) send_rtp();
    if (opts_.mode == Mode::NackFlood && now - dtls_ms_ >= opts_.nack_after_s * 1000) send_nack_flood();
    if (opts_.mode == Mode::SpoofCheck && now - dtls_ms_ >= opts_.spoof_after_s * 1000 &&
        c_.spoofed_sent < static_cast<uint64_t>(opts_.spoof_count) &&
        (spoof_ms_ < 0 || now - spoof_ms_ >= 100 * static_cast<double>(c_.spoofed_sent)))
      send_spoofed_check();
  }
  timer_.expires_after(std::chrono::milliseconds(5));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) tick();
  });
}

void Peer::send_check(bool nominate) {
  auto dg = build_check(remote_ufrag_ + ":" + ufrag_, remote_pwd_, nominate, 0x6E7F1EFF);  // host, RFC 8445 5.1.2
  send_udp(dg);
  ++c_.stun_checks_sent;
}

void Peer::send_rtp() {
  double now = elapsed_ms();
  if (now < next_rtp_ms_) return;
  next_rtp_ms_ = (next_rtp_ms_ == 0 ? now : next_rtp_ms_) + 1000.0 / std::max(1, opts_.rate);
  std::vector<uint8_t> pkt(12 + opts_.payload);
  pkt[0] = 0x80;
  pkt[1] = opts_.video ? 96 : 111;
  pkt[2] = static_cast<uint8_t>(seq_ >> 8);
  pkt[3] = static_cast<uint8_t>(seq_);
  for (int i = 0; i < 4; ++i) {
    pkt[4 + i] = static_cast<uint8_t>(ts_ >> (24 - 8 * i));
    pkt[8 + i] = static_cast<uint8_t>(local_ssrc_ >> (24 - 8 * i));
  }
  for (size_t i = 12; i < pkt.size(); ++i) pkt[i] = static_cast<uint8_t>(i);
  if (opts_.video && opts_.payload >= 11) {
    // VP8 (RFC 7741 4.2, RFC 6386 9.1): a descriptor starting a frame, then a frame tag; once a
    // second a key frame (P bit 0, start code 9D 01 2A, 320x240) so subscribers can start.
    bool key = seq_ % std::max(1, opts_.rate) == 0;
    const uint8_t head[] = {0x10, static_cast<uint8_t>(key ? 0x10 : 0x11), 0, 0, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00};
    std::memcpy(pkt.data() + 12, head, sizeof head);
  }
  ++seq_;
  ts_ += opts_.video ? 90000 / std::max(1, opts_.rate) : 960;
  if (!dtls_.protect_rtp(pkt)) return;
  send_udp(pkt);
  ++c_.rtp_sent;
}

// One SRTCP compound of ~nack_bytes: an empty RR (RFC 3550 6.1) then Generic NACKs (RFC 4585
// 6.2.1), each asking for 64 recent sequence numbers, sliding back through the last 512.
void Peer::send_nack_flood() {
  double now = elapsed_ms();
  if (now < next_nack_ms_ || highest_.empty()) return;
  next_nack_ms_ = (next_nack_ms_ == 0 ? now : next_nack_ms_) + 1000.0 / std::max(1, opts_.nack_per_s);
  auto [media_ssrc, high] = *highest_.begin();
  std::vector<uint8_t> buf(opts_.nack_bytes + 64);
  size_t used = sfu::build_rr(buf, local_ssrc_, {});
  uint64_t seqs = 0;
  for (size_t i = 0; used > 0; ++i) {
    std::array<uint16_t, kNackWindow> list;
    uint16_t last = static_cast<uint16_t>(high - kNackWindow * (i % 8));
    for (size_t k = 0; k < kNackWindow; ++k) list[k] = static_cast<uint16_t>(last - (kNackWindow - 1) + k);
    std::array<uint8_t, 128> one;
    size_t n = sfu::build_nack(one, local_ssrc_, media_ssrc, list);
    if (n == 0 || used + n > opts_.nack_bytes) break;
    std::memcpy(buf.data() + used, one.data(), n);
    used += n;
    seqs += kNackWindow;
  }
  buf.resize(used);
  if (!dtls_.protect_rtcp(buf)) return;
  send_udp(buf);
  ++c_.rtcp_sent;
  ++c_.nack_compounds_sent;
  c_.nack_bytes_sent += buf.size();
  c_.nack_seqs_requested += seqs;
}

// A check with USE-CANDIDATE that claims to come from the victim's address: an IPv4 datagram
// written whole on a raw socket (IP_HDRINCL; needs CAP_NET_RAW). The kernel fills in the IP
// checksum; the UDP checksum is 0 (RFC 768: none).
void Peer::send_spoofed_check() {
  if (spoof_ms_ < 0) spoof_ms_ = elapsed_ms();
  ++c_.spoofed_sent;
  auto colon = opts_.victim.rfind(':');
  boost::system::error_code ec;
  auto victim_ip = asio::ip::make_address_v4(opts_.victim.substr(0, colon), ec);
  if (colon == std::string::npos || ec || !sfu_) {
    errors_.push_back({{"type", "local"}, {"message", "--victim must be IPv4:PORT"}});
    return;
  }
  uint16_t victim_port = static_cast<uint16_t>(std::stoi(opts_.victim.substr(colon + 1)));
  auto stun_msg = build_check(remote_ufrag_ + ":" + ufrag_, remote_pwd_, true, 0x7EFFFFFF);
  std::vector<uint8_t> dg(sizeof(iphdr) + sizeof(udphdr) + stun_msg.size());
  auto* ip = reinterpret_cast<iphdr*>(dg.data());
  ip->version = 4;
  ip->ihl = 5;
  ip->ttl = 64;
  ip->protocol = IPPROTO_UDP;
  ip->tot_len = htons(static_cast<uint16_t>(dg.size()));
  ip->saddr = htonl(victim_ip.to_uint());
  ip->daddr = htonl(sfu_->address().to_v4().to_uint());
  auto* udp = reinterpret_cast<udphdr*>(dg.data() + sizeof(iphdr));
  udp->source = htons(victim_port);
  udp->dest = htons(sfu_->port());
  udp->len = htons(static_cast<uint16_t>(sizeof(udphdr) + stun_msg.size()));
  std::memcpy(dg.data() + sizeof(iphdr) + sizeof(udphdr), stun_msg.data(), stun_msg.size());
  int fd = ::socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  if (fd < 0) {
    errors_.push_back({{"type", "local"}, {"message", std::string("raw socket: ") + std::strerror(errno)}});
    return;
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = ip->daddr;
  if (::sendto(fd, dg.data(), dg.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
    errors_.push_back({{"type", "local"}, {"message", std::string("raw sendto: ") + std::strerror(errno)}});
  ::close(fd);
}

void Peer::finish() {
  if (finished_) return;
  finished_ = true;
  send_signal({{"type", "leave"}});
  closing_ = true;
  if (!writing_) write_next();
  boost::system::error_code ec;
  udp_.close(ec);
  // Let the leave go out, then stop whatever is left.
  timer_.expires_after(std::chrono::milliseconds(300));
  timer_.async_wait([this](boost::system::error_code) { ioc_.stop(); });
}

}  // namespace peer
