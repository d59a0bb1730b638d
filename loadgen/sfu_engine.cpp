// `turnpike-loadgen sfu`'s orchestrator (sfu_engine.hpp): participants made, started in phases,
// fed and ticked. The report is sfu_report.cpp.
#include "loadgen/sfu_engine.hpp"

#include <algorithm>
#include <set>

#include "loadgen/prng.hpp"
#include "sfu/token.hpp"

namespace loadgen::sfuload {

uint32_t RunConfig::video_payload() const {
  const uint64_t bytes = uint64_t{video_kbps} * 1000 / 8 / std::max<uint32_t>(1, video_pps);
  return static_cast<uint32_t>(std::clamp<uint64_t>(bytes, 32, 1100));
}

namespace {

uint32_t unique_ssrc(uint64_t& rng, std::set<uint32_t>& used) {
  while (true) {
    auto s = static_cast<uint32_t>(prng::next(rng));
    if (s != 0 && used.insert(s).second) return s;
  }
}

}  // namespace

SfuEngine::SfuEngine(RunConfig cfg, SfuSink& sink) : cfg_(std::move(cfg)), sink_(sink) {
  dtls_ = std::make_unique<DtlsClientContext>(sfu::Certificate::generate(cfg_.start_unix));
  uint64_t rng = cfg_.seed;
  std::set<uint32_t> used;
  const int64_t exp = cfg_.start_unix + (cfg_.duration_ms + 2 * cfg_.connect_timeout_ms) / 1000 + 3600;
  for (uint32_t r = 0; r < cfg_.rooms; ++r) {
    const std::string room = cfg_.rooms == 1 ? cfg_.room : cfg_.room + "-" + std::to_string(r + 1);
    for (uint32_t i = 0; i < cfg_.publishers + cfg_.subscribers; ++i) {
      ParticipantConfig pc;
      pc.index = static_cast<uint32_t>(parts_.size());
      pc.publisher = i < cfg_.publishers;
      pc.audio = pc.publisher && cfg_.audio;
      sfu::token::Claims claims;
      claims.room = room;
      claims.identity = (pc.publisher ? "pub-" : "sub-") + std::to_string(pc.index);
      claims.region = cfg_.region;
      claims.exp = exp;
      claims.publish = pc.publisher;
      pc.token = sfu::token::encode(claims, cfg_.token_key);
      pc.video_ssrc = unique_ssrc(rng, used);
      pc.audio_ssrc = unique_ssrc(rng, used);
      pc.rtcp_ssrc = unique_ssrc(rng, used);
      pc.video_pps = cfg_.video_pps;
      pc.video_payload = cfg_.video_payload();
      pc.seed = prng::next(rng);
      pc.connect_timeout_ms = cfg_.connect_timeout_ms;
      parts_.push_back(std::make_unique<Participant>(pc, *dtls_, sink_, senders_));
      rooms_.push_back(room);
    }
  }
  opened_.assign(parts_.size(), false);
  for (const auto& p : parts_) {
    for (const auto& c : p->sending()) senders_[c.ssrc] = &c;
    if (p->config().publisher) order_.push_back(p->config().index);
  }
  n_publishers_ = static_cast<uint32_t>(order_.size());
  for (const auto& p : parts_)
    if (!p->config().publisher) order_.push_back(p->config().index);
}

SfuEngine::~SfuEngine() = default;

void SfuEngine::start(int64_t now_ms) {
  start_ms_ = phase_ms_ = now_ms;
  cpu_start_ = sink_.cpu_seconds();
}

// Opens the signalling of order_[from, to) that the join rate allows by now.
void SfuEngine::start_some(uint32_t from, uint32_t to, int64_t now_ms) {
  const auto allowed = static_cast<uint64_t>(now_ms - phase_ms_) * cfg_.join_rate / 1000 + 1;
  while (next_start_ < to && next_start_ - from < allowed) {
    uint32_t p = order_[next_start_++];
    opened_[p] = true;
    sink_.open_signal(p);
  }
}

bool SfuEngine::settled(uint32_t from, uint32_t to) const {
  if (next_start_ < to) return false;
  for (uint32_t i = from; i < to; ++i) {
    auto s = parts_[order_[i]]->state();
    if (s != Participant::State::Connected && s != Participant::State::Failed) return false;
  }
  return true;
}

void SfuEngine::advance(int64_t now_ms) {
  const auto total = static_cast<uint32_t>(order_.size());
  switch (phase_) {
    case Phase::Publishers:
      start_some(0, n_publishers_, now_ms);
      if (!settled(0, n_publishers_)) return;
      phase_ = Phase::Subscribers;
      phase_ms_ = now_ms;
      return;
    case Phase::Subscribers:
      start_some(n_publishers_, total, now_ms);
      if (!settled(n_publishers_, total)) return;
      phase_ = Phase::Media;
      phase_ms_ = media_ms_ = now_ms;
      cpu_media_start_ = sink_.cpu_seconds();
      return;
    case Phase::Media:
      if (now_ms - media_ms_ < cfg_.duration_ms) return;
      stop(now_ms);
      return;
    case Phase::Drain:
      if (now_ms - phase_ms_ < cfg_.drain_ms) return;
      for (uint32_t p = 0; p < parts_.size(); ++p) {
        parts_[p]->leave();
        if (opened_[p]) sink_.close_signal(p);
      }
      phase_ = Phase::Finished;
      return;
    case Phase::Finished:
      return;
  }
}

void SfuEngine::stop(int64_t now_ms) {
  if (phase_ == Phase::Drain || phase_ == Phase::Finished) return;
  stopped_ = phase_ != Phase::Media;
  if (phase_ != Phase::Media) media_ms_ = now_ms;
  end_ms_ = now_ms;
  cpu_media_end_ = sink_.cpu_seconds();
  for (auto& p : parts_) p->stop_sending();
  phase_ = Phase::Drain;
  phase_ms_ = now_ms;
}

void SfuEngine::signal_opened(uint32_t p, int64_t now_ms) {
  if (p < parts_.size()) parts_[p]->signal_opened(now_ms);
}

void SfuEngine::signal_message(uint32_t p, std::string_view text, int64_t now_ms) {
  if (p < parts_.size()) parts_[p]->signal_message(text, now_ms);
}

void SfuEngine::signal_closed(uint32_t p, std::string_view why, int64_t now_ms) {
  if (p < parts_.size() && phase_ != Phase::Finished) parts_[p]->signal_closed(why, now_ms);
}

void SfuEngine::media(uint32_t p, std::span<uint8_t> d, const turn::Endpoint& from, int64_t now_ms) {
  if (p < parts_.size()) parts_[p]->media(d, from, now_ms);
}

void SfuEngine::tick(int64_t now_ms) {
  if (phase_ == Phase::Finished) return;
  for (auto& p : parts_) p->tick(now_ms);
  advance(now_ms);
}

SfuEngine::Progress SfuEngine::progress() const {
  Progress pr;
  pr.phase = phase_;
  pr.started = next_start_;
  for (const auto& p : parts_) {
    pr.connected += p->connected();
    pr.failed += p->state() == Participant::State::Failed;
    for (const auto& c : p->sending()) pr.sent += c.sent;
    for (const auto& [_, r] : p->receiving()) pr.received += r.received;
  }
  return pr;
}

}  // namespace loadgen::sfuload
