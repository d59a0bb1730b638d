// One fuzz target body, two drivers. A target is written once, as
//
//   TURNPIKE_FUZZ_TARGET("sfu", rtp) { ...body over (data, size)...; return 0; }
//
// in <dir>/fuzz/fuzz_<name>.cpp. Built as a libFuzzer binary (cmake/fuzz.cmake defines
// TURNPIKE_FUZZ_MAIN) the body is LLVMFuzzerTestOneInput; compiled into a unit test binary it
// registers itself, and tests/unit/fuzz_replay.cpp feeds it every file of <dir>/fuzz/corpus/fuzz_<name>/
// and <dir>/fuzz/crashes/fuzz_<name>/: the replay runs exactly what the fuzzer runs.
// FUZZ_FAIL() marks a broken invariant: a crash under libFuzzer, a test failure naming the line otherwise.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#ifdef TURNPIKE_FUZZ_MAIN
#include <cstdio>
#endif

namespace turnpike::fuzz {

using Body = int (*)(const uint8_t* data, size_t size);

struct Target {
  const char* dir;   // the folder that owns it: turn, sfu, diag, server
  const char* name;  // fuzz_<name>: the binary, corpus/fuzz_<name>/, crashes/fuzz_<name>/
  Body body;
};

// Thrown (outside libFuzzer) by FUZZ_FAIL(): which line of the target found its invariant broken.
struct Broken {
  const char* file;
  int line;
};

inline std::vector<Target>& registry() {
  static std::vector<Target> targets;
  return targets;
}

struct Registration {
  explicit Registration(Target t) { registry().push_back(t); }
};

[[noreturn]] inline void fail(const char* file, int line) {
#ifdef TURNPIKE_FUZZ_MAIN
  std::fprintf(stderr, "fuzz invariant broken at %s:%d\n", file, line);
  __builtin_trap();
#else
  throw Broken{file, line};
#endif
}

}  // namespace turnpike::fuzz

#define FUZZ_FAIL() ::turnpike::fuzz::fail(__FILE__, __LINE__)

#ifdef TURNPIKE_FUZZ_MAIN
#define TURNPIKE_FUZZ_HOOK_(dir, name)                                                   \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {             \
    return turnpike_fuzz_body(data, size);                                               \
  }
#else
#define TURNPIKE_FUZZ_HOOK_(dir, name)                                                   \
  static const ::turnpike::fuzz::Registration turnpike_fuzz_registration{                \
      ::turnpike::fuzz::Target{dir, "fuzz_" #name, &turnpike_fuzz_body}};
#endif

#define TURNPIKE_FUZZ_TARGET(dir, name)                                   \
  static int turnpike_fuzz_body(const uint8_t* data, size_t size);        \
  TURNPIKE_FUZZ_HOOK_(dir, name)                                          \
  static int turnpike_fuzz_body(const uint8_t* data, size_t size)
