// SplitMix64 (Steele, Lea, Flood 2014): the loadgen's one deterministic generator and 64-bit mixer,
// the same on every platform, for transaction ids, media shapes, SSRCs and start phases.
#pragma once
#include <cstdint>

namespace loadgen::prng {

constexpr uint64_t kGamma = 0x9e3779b97f4a7c15ULL;

// The finaliser: a bijective 64-bit mix.
constexpr uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The next value of the sequence whose state is `state`.
constexpr uint64_t next(uint64_t& state) { return mix(state += kGamma); }

}  // namespace loadgen::prng
