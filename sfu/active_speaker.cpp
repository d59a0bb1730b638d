// Active speakers: RFC 6464 audio levels and their smoothing (sfu/active_speaker.hpp).
#include "sfu/active_speaker.hpp"

namespace sfu {

std::optional<AudioLevel> AudioLevel::parse(std::span<const uint8_t> value) {
  if (value.empty()) return std::nullopt;  // RFC 6464 3: one byte (the two-byte form may pad it)
  return AudioLevel{(value[0] & 0x80) != 0, static_cast<uint8_t>(value[0] & 0x7F)};
}

void SpeechActivity::on_level(const AudioLevel& l, int64_t now_ms) {
  if (!l.voice) return;
  double loud = 127.0 - l.level;
  // Decay what was there by the time since the last voice packet (about 20 ms apart), then mix.
  if (last_voice_ms_ >= 0 && now_ms - last_voice_ms_ > kHoldMs) smoothed_ = 0;
  smoothed_ = smoothed_ == 0 ? loud : 0.9 * smoothed_ + 0.1 * loud;
  last_voice_ms_ = now_ms;
}

double SpeechActivity::loudness(int64_t now_ms) const {
  if (last_voice_ms_ < 0 || now_ms - last_voice_ms_ > kHoldMs) return 0;
  return smoothed_;
}

}  // namespace sfu
