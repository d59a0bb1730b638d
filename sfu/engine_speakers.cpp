// Engine: active speakers. Publishers' audio packets carry their level (RFC 6464, negotiated on
// every audio section); every 500 ms each room's speakers, loudest first, are sent to everyone in
// it as `active_speakers` when the list changed (sfu/PROTOCOL.md).
#include "sfu/engine_impl.hpp"

namespace sfu {

namespace {
constexpr int64_t kSpeakersIntervalMs = 500;
constexpr size_t kMaxSpeakers = 3;
}  // namespace

void Engine::Impl::note_audio_level(Participant& p, const Track& t, const RtpPacket& pkt, int64_t now_ms) {
  if (t.video || !t.audio_level_ext_id) return;
  const RtpExtension* e = pkt.extension(t.audio_level_ext_id);
  if (!e) return;
  if (auto level = AudioLevel::parse(e->value)) p.speech.on_level(*level, now_ms);
}

void Engine::Impl::speakers(Room& room, int64_t now_ms) {
  if (now_ms - room.speakers_ms < kSpeakersIntervalMs) return;
  room.speakers_ms = now_ms;
  std::vector<std::pair<double, const Participant*>> loud;
  for (const auto& [_, p] : room.participants)
    if (p->speech.speaking(now_ms)) loud.emplace_back(p->speech.loudness(now_ms), p.get());
  std::sort(loud.begin(), loud.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  if (loud.size() > kMaxSpeakers) loud.resize(kMaxSpeakers);
  std::vector<std::string> ids;
  json list = json::array();
  for (const auto& [level, p] : loud) {
    ids.push_back(p->id);
    list.push_back({{"participant", p->id}, {"level", std::round(level) / 127.0}});
  }
  if (ids == room.speakers) return;
  room.speakers = std::move(ids);
  broadcast(room, {{"type", "active_speakers"}, {"speakers", list}}, nullptr);
}

}  // namespace sfu
