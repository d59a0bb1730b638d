// A synthetic SFU participant (sfu_participant.hpp): signalling, ICE and DTLS. The media it sends
// and receives once keyed is sfu_participant_media.cpp.
#include "loadgen/sfu_participant.hpp"

#include <nlohmann/json.hpp>

#include "loadgen/prng.hpp"
#include "loadgen/sfu_offer.hpp"
#include "sfu/sdp.hpp"
#include "turn/crypto.hpp"
#include "turn/message.hpp"

namespace loadgen::sfuload {
namespace {

namespace stun = turn::stun;
using json = nlohmann::json;

constexpr int64_t kCheckIntervalMs = 50;        // connectivity checks until one succeeds
constexpr int64_t kConsentIntervalMs = 2'000;   // then consent freshness (RFC 7675: the SFU times out at 30 s)
constexpr int64_t kProbeWaitMs = 200;           // after our check succeeded, how long DTLS waits for the SFU's probe
constexpr uint32_t kPriority = 0x6e7f1eff;      // a host candidate's, as Chromium computes it (RFC 8445 5.1.2)

std::string random_text(uint64_t& rng, size_t n) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
  std::string s(n, 'a');
  for (auto& c : s) c = kAlphabet[prng::next(rng) % 64];
  return s;
}

std::optional<turn::Endpoint> udp_candidate(const sfu::sdp::SessionDescription& sd) {
  for (const auto& m : sd.media)
    for (const auto& c : m.candidates) {
      auto ip = turn::IpAddress::parse(c.address);
      if ((c.transport == "udp" || c.transport == "UDP") && ip) return turn::Endpoint{*ip, c.port};
    }
  return std::nullopt;
}

}  // namespace

const char* to_string(Participant::State s) {
  switch (s) {
    case Participant::State::Idle: return "idle";
    case Participant::State::Signalling: return "signalling";
    case Participant::State::Ice: return "ice";
    case Participant::State::Dtls: return "dtls";
    case Participant::State::Connected: return "connected";
    case Participant::State::Failed: return "failed";
    case Participant::State::Done: return "done";
  }
  return "?";
}

Participant::Participant(ParticipantConfig cfg, const DtlsClientContext& dtls, ParticipantSink& sink,
                         const std::map<uint32_t, const SendCounter*>& senders)
    : cfg_(std::move(cfg)), dtls_ctx_(dtls), sink_(sink), senders_(senders), rng_(cfg_.seed) {
  ufrag_ = random_text(rng_, 8);
  pwd_ = random_text(rng_, 24);
  for (auto& b : txid_) b = static_cast<uint8_t>(prng::next(rng_));
  for (auto& b : tie_) b = static_cast<uint8_t>(prng::next(rng_));
  if (cfg_.publisher) {
    send_[send_count_++] = SendCounter{cfg_.video_ssrc, true, 0, static_cast<uint16_t>(prng::next(rng_)), cfg_.index};
    if (cfg_.audio)
      send_[send_count_++] = SendCounter{cfg_.audio_ssrc, false, 0, static_cast<uint16_t>(prng::next(rng_)), cfg_.index};
    for (auto& t : timestamp_) t = static_cast<uint32_t>(prng::next(rng_));
  }
}

Participant::~Participant() = default;

void Participant::fail(std::string why) {
  if (state_ == State::Failed || state_ == State::Done) return;
  state_ = State::Failed;
  failure_ = std::move(why);
}

void Participant::send_json(const std::string& text) { sink_.send_signal(cfg_.index, text); }

void Participant::signal_opened(int64_t now_ms) {
  if (state_ != State::Idle) return;
  state_ = State::Signalling;
  start_ms_ = now_ms;
  send_json(json{{"type", "join"}, {"token", cfg_.token}, {"version", 1}}.dump());
}

void Participant::signal_closed(std::string_view why, int64_t) {
  fail("signal_closed: " + std::string(why));
}

void Participant::leave() {
  if (state_ == State::Failed || state_ == State::Done) return;
  if (state_ != State::Idle) send_json(R"({"type":"leave"})");
  state_ = State::Done;
}

void Participant::signal_message(std::string_view text, int64_t now_ms) {
  if (state_ == State::Failed || state_ == State::Done) return;
  json j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) return fail("malformed_signal");
  const std::string type = j["type"];
  if (type == "joined") return on_joined(j);
  if (type == "answer" && j.contains("sdp") && j["sdp"].is_string()) return on_answer(j["sdp"].get<std::string>(), now_ms);
  if (type == "error") return fail("error: " + j.value("code", std::string("?")));
  if (type == "track_published" && !cfg_.publisher && j.contains("track") && j["track"].is_object()) {
    const json& t = j["track"];
    add_remote_track(t.value("id", std::string()), t.value("kind", std::string()) == "video");
    offer();
  }
}

void Participant::on_joined(const json& j) {
  id_ = j.value("participant", std::string());
  if (!cfg_.publisher && j.contains("participants") && j["participants"].is_array()) {
    for (const auto& p : j["participants"]) {
      if (!p.is_object() || !p.contains("tracks") || !p["tracks"].is_array()) continue;
      for (const auto& t : p["tracks"])
        if (t.is_object()) add_remote_track(t.value("id", std::string()), t.value("kind", std::string()) == "video");
    }
  }
  if (cfg_.publisher || !remote_tracks_.empty()) offer();
}

void Participant::add_remote_track(std::string id, bool video) {
  if (id.empty() || remote_tracks_.size() >= kMaxRemoteTracks) return;
  for (const auto& [have, _] : remote_tracks_)
    if (have == id) return;
  remote_tracks_.emplace_back(std::move(id), video);
}

// A full offer: our tracks (publisher) or a recvonly section per remote track (subscriber), with the
// `subscriptions` map naming each one's track. One in flight at a time.
void Participant::offer() {
  if (offer_in_flight_) {
    offer_dirty_ = true;
    return;
  }
  OfferSpec spec{ufrag_, pwd_, std::string(dtls_ctx_.certificate().fingerprint_value()),
                 "lg" + std::to_string(cfg_.index), cfg_.seed & 0x7fffffffffffULL, ++offered_, {}};
  json subs = json::object();
  for (size_t i = 0; i < send_count_; ++i)
    spec.sections.push_back({std::to_string(i), send_[i].video, true, send_[i].ssrc});
  for (size_t i = 0; i < remote_tracks_.size(); ++i) {
    std::string mid = std::to_string(i);
    spec.sections.push_back({mid, remote_tracks_[i].second, false, 0});
    subs[mid] = remote_tracks_[i].first;
  }
  json msg = {{"type", "offer"}, {"sdp", build_offer(spec)}};
  if (!cfg_.publisher) msg["subscriptions"] = subs;
  offer_in_flight_ = true;
  send_json(msg.dump());
}

void Participant::on_answer(std::string_view text, int64_t now_ms) {
  offer_in_flight_ = false;
  sfu::sdp::Error err;
  auto sd = sfu::sdp::parse(text, err);
  if (!sd) return fail("bad_answer: " + err.to_string());
  if (remote_ufrag_.empty()) {  // the first answer: where and how to connect
    auto ice = sfu::sdp::ice_credentials(*sd);
    auto fp = sfu::sdp::fingerprint(*sd);
    target_ = udp_candidate(*sd);
    if (!ice || !fp || !target_) return fail("bad_answer: no ICE credentials, fingerprint or UDP candidate");
    remote_ufrag_ = ice->ufrag;
    remote_pwd_ = ice->pwd;
    remote_fingerprint_ = sfu::format_fingerprint(fp->value);
    state_ = State::Ice;
    next_check_ms_ = now_ms;
  }
  if (offer_dirty_) {
    offer_dirty_ = false;
    offer();
  }
}

// RFC 8445 7.2.2 as the controlling agent, nominating at once (aggressive nomination).
void Participant::send_check(int64_t now_ms) {
  std::array<uint8_t, 256> b{};
  stun::Builder m(b, stun::Method::Binding, stun::Class::Request, txid_);
  m.add(stun::attr::Username, remote_ufrag_ + ":" + ufrag_);
  m.add(stun::attr::IceControlling, tie_);
  m.add_u32(stun::attr::Priority, kPriority);
  m.add_empty(stun::attr::UseCandidate);
  m.add_integrity(turn::crypto::bytes(remote_pwd_));
  m.add_fingerprint();
  if (m.ok() && target_) sink_.send_media(cfg_.index, *target_, m.bytes());
  next_check_ms_ = now_ms + (ice_ok_ms_ < 0 ? kCheckIntervalMs : kConsentIntervalMs);
}

void Participant::stun(std::span<const uint8_t> d, const turn::Endpoint& from, int64_t now_ms) {
  stun::Message m;
  if (stun::Message::parse(d, m) != stun::ParseError::None || m.method() != stun::Method::Binding) return;
  if (m.cls() == stun::Class::Request) {
    if (answer_check(d, from) && probe_answered_ms_ < 0) probe_answered_ms_ = now_ms;
    return;
  }
  if (m.cls() == stun::Class::Success && m.transaction_id() == txid_ &&
      m.verify_integrity(turn::crypto::bytes(remote_pwd_)) && ice_ok_ms_ < 0)
    ice_ok_ms_ = now_ms;
}

// The SFU proving our address (its Binding request, RFC 8445 7.3): answered if it is for us.
bool Participant::answer_check(std::span<const uint8_t> d, const turn::Endpoint& from) {
  stun::Message m;
  if (stun::Message::parse(d, m) != stun::ParseError::None) return false;
  const auto* u = m.find(stun::attr::Username);
  std::string want = ufrag_ + ":" + remote_ufrag_;
  if (!u || std::string_view(reinterpret_cast<const char*>(u->value.data()), u->value.size()) != want) return false;
  if (!m.verify_integrity(turn::crypto::bytes(pwd_))) return false;
  std::array<uint8_t, 256> b{};
  stun::Builder r(b, stun::Method::Binding, stun::Class::Success, m.transaction_id());
  r.add_xor_address(stun::attr::XorMappedAddress, from);
  r.add_integrity(turn::crypto::bytes(pwd_));
  r.add_fingerprint();
  if (r.ok()) sink_.send_media(cfg_.index, from, r.bytes());
  return r.ok();
}

void Participant::start_dtls(int64_t) {
  state_ = State::Dtls;
  dtls_ = std::make_unique<DtlsClient>(dtls_ctx_, remote_fingerprint_);
  dtls_->start();
  flush_dtls();
}

void Participant::flush_dtls() {
  if (!dtls_ || !target_) return;
  for (const auto& d : dtls_->take_outgoing()) sink_.send_media(cfg_.index, *target_, d);
  if (dtls_->state() == DtlsClient::State::Failed) fail(dtls_->error());
}

// RFC 7983 demultiplexing of what arrives from the SFU's media address.
void Participant::media(std::span<uint8_t> d, const turn::Endpoint& from, int64_t now_ms) {
  if (d.empty() || !target_ || from != *target_ || state_ == State::Failed || state_ == State::Done) return;
  uint8_t b = d[0];
  if (b <= 3) return stun(d, from, now_ms);
  if (b >= 20 && b <= 63 && dtls_) {
    dtls_->datagram(d);
    flush_dtls();
    if (state_ == State::Dtls && dtls_->state() == DtlsClient::State::Connected) {
      if (!dtls_->srtp(srtp_)) return fail("srtp_keys");
      have_srtp_ = true;
      state_ = State::Connected;
      connect_ms_ = now_ms - start_ms_;
      media_start_ms_ = now_ms;
      next_report_ms_ = now_ms + cfg_.report_interval_ms;
    }
    return;
  }
  if (b >= 128 && b <= 191 && have_srtp_) srtp(d);
}

void Participant::tick(int64_t now_ms) {
  if (state_ == State::Idle || state_ == State::Failed || state_ == State::Done) return;
  if (state_ != State::Connected && now_ms - start_ms_ > cfg_.connect_timeout_ms)
    return fail(std::string("timeout in ") + to_string(state_));
  if (state_ == State::Ice && ice_ok_ms_ >= 0 && (probe_answered_ms_ >= 0 || now_ms - ice_ok_ms_ >= kProbeWaitMs))
    start_dtls(now_ms);
  if ((state_ == State::Ice || state_ == State::Dtls || state_ == State::Connected) && now_ms >= next_check_ms_)
    send_check(now_ms);
  if (state_ == State::Dtls) {
    dtls_->tick();
    flush_dtls();
  }
  if (state_ != State::Connected) return;
  if (sending_) send_media_due(now_ms);
  if (now_ms >= next_report_ms_) send_reports(now_ms);
}

}  // namespace loadgen::sfuload
