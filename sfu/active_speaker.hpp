// Active speakers from the client-to-mixer audio level header extension (RFC 6464): the level is
// -dBov (0 loudest, 127 silence) with a voice activity flag. Sans-I/O: levels and `now` in, a
// loudness score out; the engine ranks participants by it (engine_speakers.cpp).
#pragma once
#include <cstdint>
#include <optional>
#include <span>

namespace sfu {

// RFC 6464 3: one byte, V (voice activity) then the 7-bit level in -dBov.
struct AudioLevel {
  bool voice = false;
  uint8_t level = 127;
  static std::optional<AudioLevel> parse(std::span<const uint8_t> value);
};

// One participant's speech: an exponentially weighted loudness (127 - level) of its voice packets,
// decaying to nothing within about a second of silence.
class SpeechActivity {
 public:
  static constexpr int64_t kHoldMs = 1000;       // silence for this long: not speaking
  static constexpr double kSpeakingLoudness = 40; // louder than -87 dBov on average (127 - 40)

  void on_level(const AudioLevel& l, int64_t now_ms);
  // 0 when silent (no voice for kHoldMs), else the smoothed loudness.
  double loudness(int64_t now_ms) const;
  bool speaking(int64_t now_ms) const { return loudness(now_ms) >= kSpeakingLoudness; }

 private:
  double smoothed_ = 0;
  int64_t last_voice_ms_ = -1;
};

}  // namespace sfu
