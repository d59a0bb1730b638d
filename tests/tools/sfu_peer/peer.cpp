// Signalling and SDP for the test peer: join, offer, answer (sfu/PROTOCOL.md).
#include "peer.hpp"

#include <iostream>

#include <openssl/rand.h>

#include "sfu/sdp.hpp"

namespace peer {

namespace asio = boost::asio;
namespace websocket = boost::beast::websocket;
using json = nlohmann::json;

namespace {

// RFC 8839 5.4 ice-chars.
std::string random_ice_string(size_t n) {
  static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<unsigned char> r(n);
  RAND_bytes(r.data(), static_cast<int>(n));
  std::string s;
  for (auto b : r) s += chars[b % 64];
  return s;
}

uint32_t random_ssrc() {
  uint32_t v = 0;
  while (v == 0) RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v);
  return v;
}

bool publishes(Mode m) { return m == Mode::Publish || m == Mode::SsrcHijack; }

}  // namespace

Peer::Peer(asio::io_context& ioc, Options opts)
    : ioc_(ioc), opts_(std::move(opts)), t0_(Clock::now()), ws_(ioc), udp_(ioc), timer_(ioc) {
  ufrag_ = random_ice_string(8);
  pwd_ = random_ice_string(24);
  local_ssrc_ = publishes(opts_.mode) && opts_.ssrc ? opts_.ssrc : random_ssrc();
}

double Peer::elapsed_ms() const {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0_).count();
}

bool Peer::start(std::string& error) {
  if (!dtls_.ok()) {
    error = "DTLS client: " + dtls_.error();
    return false;
  }
  auto colon = opts_.signal.rfind(':');
  if (colon == std::string::npos) {
    error = "--signal must be HOST:PORT";
    return false;
  }
  std::string host = opts_.signal.substr(0, colon), port = opts_.signal.substr(colon + 1);
  boost::system::error_code ec;
  asio::ip::tcp::resolver resolver(ioc_);
  auto eps = resolver.resolve(host, port, ec);
  if (!ec) asio::connect(ws_.next_layer(), eps, ec);
  if (!ec) ws_.handshake(opts_.signal, "/signal", ec);
  if (ec) {
    error = "signalling: " + ec.message();
    return false;
  }
  udp_.open(asio::ip::udp::v4());
  udp_.bind({asio::ip::make_address(opts_.bind, ec), 0}, ec);
  if (ec) {
    error = "UDP bind " + opts_.bind + ": " + ec.message();
    return false;
  }
  send_signal({{"type", "join"}, {"token", opts_.token}, {"version", 1}});
  read_signal();
  receive();
  tick();
  return true;
}

// ------------------------------------------------------------------------------ WebSocket
void Peer::read_signal() {
  ws_.async_read(rbuf_, [this](boost::system::error_code ec, size_t) {
    if (ec) {
      signal_closed_ = true;
      return;
    }
    std::string text = boost::beast::buffers_to_string(rbuf_.data());
    rbuf_.consume(rbuf_.size());
    json msg = json::parse(text, nullptr, false);
    if (!msg.is_discarded() && msg.is_object()) on_signal(msg);
    read_signal();
  });
}

void Peer::send_signal(const json& msg) {
  if (signal_closed_) return;
  outbox_.push_back(msg.dump());
  if (!writing_) write_next();
}

void Peer::write_next() {
  if (outbox_.empty() || signal_closed_) {
    writing_ = false;
    if (closing_ && !signal_closed_) {
      signal_closed_ = true;
      ws_.async_close(websocket::close_code::normal, [](boost::system::error_code) {});
    }
    return;
  }
  writing_ = true;
  ws_.text(true);
  ws_.async_write(asio::buffer(outbox_.front()), [this](boost::system::error_code ec, size_t) {
    outbox_.pop_front();
    if (ec) {
      signal_closed_ = true;
      writing_ = false;
      return;
    }
    write_next();
  });
}

void Peer::on_signal(const json& msg) {
  std::string type = msg.value("type", "");
  if (type == "joined") {
    participant_ = msg.value("participant", "");
    std::cerr << "sfu-peer: joined as " << participant_ << "\n";
    if (publishes(opts_.mode)) return send_offer();
    if (msg.contains("participants") && msg["participants"].is_array())
      for (const auto& p : msg["participants"])
        if (p.is_object()) consider_tracks(p.value("id", json()), p.value("identity", json()), p.value("tracks", json()));
  } else if (type == "participant_joined" && msg.contains("participant") && msg["participant"].is_object()) {
    const auto& p = msg["participant"];
    consider_tracks(p.value("id", json()), p.value("identity", json()), p.value("tracks", json()));
  } else if (type == "track_published") {
    consider_tracks(msg.value("participant", json()), json(), json::array({msg.value("track", json())}));
  } else if (type == "answer" && msg.contains("sdp") && msg["sdp"].is_string()) {
    on_answer(msg["sdp"].get<std::string>());
  } else if (type == "error") {
    errors_.push_back(msg);
    std::cerr << "sfu-peer: error " << msg.dump() << "\n";
    if (offered_ && !answered_) offer_refused_ = true;
  }
}

// Subscribing modes take the first track of the wanted kind (and identity, if given).
void Peer::consider_tracks(const json& participant_id, const json& identity, const json& tracks) {
  if (publishes(opts_.mode) || offered_ || !tracks.is_array()) return;
  if (!opts_.from_identity.empty() && identity.is_string() && identity.get<std::string>() != opts_.from_identity)
    return;
  if (!opts_.from_identity.empty() && !identity.is_string()) return;  // track_published names no identity
  for (const auto& t : tracks) {
    if (!t.is_object() || !t.contains("id") || !t["id"].is_string()) continue;
    if (t.value("kind", "") != (opts_.video ? "video" : "audio")) continue;
    track_ = t["id"].get<std::string>();
    std::cerr << "sfu-peer: subscribing to " << track_ << "\n";
    return send_offer();
  }
}

void Peer::send_offer() {
  namespace sdp = sfu::sdp;
  sdp::SessionDescription sd;
  sd.origin.session_id = random_ssrc();
  sd.origin.session_version = 2;
  sd.groups.push_back({"BUNDLE", {"0"}});
  sdp::MediaSection m;
  m.kind = opts_.video ? sdp::MediaKind::Video : sdp::MediaKind::Audio;
  m.media = opts_.video ? "video" : "audio";
  m.port = 9;
  m.protocol = "UDP/TLS/RTP/SAVPF";
  uint8_t pt = opts_.video ? 96 : 111;
  m.formats = {std::to_string(pt)};
  m.payload_types = {pt};
  m.connection = sdp::Connection{"IP4", "0.0.0.0"};
  m.mid = "0";
  m.direction = publishes(opts_.mode) ? sdp::Direction::SendOnly : sdp::Direction::RecvOnly;
  m.ice = sdp::IceCredentials{ufrag_, pwd_};
  m.fingerprint = sdp::Fingerprint::parse("sha-256 " + dtls_.fingerprint());
  m.setup = sdp::Setup::Active;
  m.rtcp_mux = true;
  m.rtcp_rsize = true;
  sdp::Codec codec;
  codec.payload_type = pt;
  codec.name = opts_.video ? "VP8" : "opus";
  codec.clock_rate = opts_.video ? 90000 : 48000;
  codec.channels = opts_.video ? 0 : 2;
  codec.fmtp = opts_.video ? "" : "minptime=10;useinbandfec=1";
  codec.rtcp_fb = opts_.video ? std::vector<std::string>{"nack", "nack pli", "ccm fir"} : std::vector<std::string>{};
  m.codecs.push_back(codec);
  m.extmaps.push_back({1, std::nullopt, std::string(sdp::ext::kMid), ""});
  if (publishes(opts_.mode)) {
    sdp::Msid msid{"sfu-peer", "sfu-peer-track"};
    m.msids.push_back(msid);
    m.ssrcs.push_back({local_ssrc_, "sfu-peer", msid});
  }
  sd.media.push_back(std::move(m));
  json offer = {{"type", "offer"}, {"sdp", sdp::to_string(sd)}};
  if (!track_.empty()) offer["subscriptions"] = {{"0", track_}};
  offered_ = true;
  send_signal(offer);
}

void Peer::on_answer(const std::string& text) {
  namespace sdp = sfu::sdp;
  sdp::Error err;
  auto sd = sdp::parse(text, err);
  if (!sd) {
    errors_.push_back({{"type", "local"}, {"message", "unparseable answer: " + err.to_string()}});
    return;
  }
  answered_ = true;
  answered_ms_ = elapsed_ms();
  const sdp::MediaSection* m = sdp::find_section(*sd, "0");
  if (!m || m->rejected()) offer_refused_ = true;
  else if (m->direction == sdp::Direction::Inactive) (publishes(opts_.mode) ? offer_refused_ : subscription_inactive_) = true;
  auto ice = sdp::ice_credentials(*sd);
  auto fp = sdp::fingerprint(*sd);
  const sdp::MediaSection* tag = sdp::bundle_tag(*sd);
  if (!tag && !sd->media.empty()) tag = &sd->media.front();
  if (ice && fp) {
    remote_ufrag_ = ice->ufrag;
    remote_pwd_ = ice->pwd;
    std::string f = fp->to_string();
    remote_fingerprint_ = f.substr(f.find(' ') + 1);
  }
  for (const auto& c : tag ? tag->candidates : std::vector<sdp::Candidate>{}) {
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(c.address, ec);
    if (!ec && addr.is_v4() && !sfu_) sfu_ = asio::ip::udp::endpoint(addr, c.port);
  }
  if (!sfu_) errors_.push_back({{"type", "local"}, {"message", "the answer has no IPv4 candidate"}});
}

json Peer::report() const {
  json j;
  j["participant"] = participant_;
  j["ssrc"] = local_ssrc_;
  j["track"] = track_;
  j["offered"] = offered_;
  j["answered"] = answered_;
  j["offer_refused"] = offer_refused_;
  j["subscription_inactive"] = subscription_inactive_;
  j["ice_ok"] = ice_ok_;
  j["dtls_ok"] = dtls_.connected();
  j["dtls_error"] = dtls_.error();
  j["fingerprint_ok"] = fingerprint_ok_;
  j["answered_ms"] = answered_ms_;
  j["ice_ms"] = ice_ms_;
  j["dtls_ms"] = dtls_ms_;
  j["spoof_ms"] = spoof_ms_;
  j["errors"] = errors_;
  const Counters& c = c_;
  j["bytes_sent"] = c.bytes_sent;
  j["bytes_received"] = c.bytes_received;
  j["packets_sent"] = c.packets_sent;
  j["packets_received"] = c.packets_received;
  j["rtp_sent"] = c.rtp_sent;
  j["rtp_received"] = c.rtp_received;
  j["rtp_bytes_received"] = c.rtp_bytes_received;
  j["rtp_duplicates"] = c.rtp_duplicates;
  j["rtp_duplicate_bytes"] = c.rtp_duplicate_bytes;
  j["rtp_unprotect_failures"] = c.rtp_unprotect_failures;
  j["rtcp_received"] = c.rtcp_received;
  j["rtcp_sent"] = c.rtcp_sent;
  j["nack_compounds_sent"] = c.nack_compounds_sent;
  j["nack_bytes_sent"] = c.nack_bytes_sent;
  j["nack_seqs_requested"] = c.nack_seqs_requested;
  j["stun_checks_sent"] = c.stun_checks_sent;
  j["stun_responses"] = c.stun_responses;
  j["stun_requests_answered"] = c.stun_requests_answered;
  j["stun_requests_refused"] = c.stun_requests_refused;
  j["spoofed_sent"] = c.spoofed_sent;
  j["rtp_received_after_spoof"] = c.rtp_received_after_spoof;
  j["rtp_bytes_received_after_spoof"] = c.rtp_bytes_received_after_spoof;
  json by = json::object();
  for (auto& [ssrc, n] : c.rtp_by_ssrc) by[std::to_string(ssrc)] = n;
  j["rtp_by_ssrc"] = by;
  j["timeline_bucket_ms"] = 250;
  j["timeline"] = timeline_;
  return j;
}

}  // namespace peer
