// Replays every committed fuzz input through the fuzz target bodies compiled into this test binary
// (tests/fuzz/target.hpp, cmake/fuzz.cmake's turnpike_fuzz_replay): <dir>/fuzz/corpus/<target>/ (the
// seeds and what scripts/fuzz-long merged) and <dir>/fuzz/crashes/<target>/ (reproducers of fixed
// crashes). An input that breaks one of the target's invariants or throws fails the test; one that
// crashes prints its path before the process dies.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>
#include <vector>

#include "tests/fuzz/target.hpp"

namespace {

namespace fs = std::filesystem;

char g_current[4096];  // the input being replayed, for the crash handler

void on_fatal(int sig) {
  static const char kPrefix[] = "\nfuzz replay: crashed on input ";
  (void)!write(2, kPrefix, sizeof kPrefix - 1);
  (void)!write(2, g_current, std::strlen(g_current));
  (void)!write(2, "\n", 1);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Feeds one input; a failure names the input and the target line whose invariant broke.
void replay(const turnpike::fuzz::Target& t, const fs::path& input) {
  std::ifstream f(input, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::snprintf(g_current, sizeof g_current, "%s", input.c_str());
  try {
    t.body(bytes.data(), bytes.size());
  } catch (const turnpike::fuzz::Broken& b) {
    ADD_FAILURE() << t.name << ": " << input << " breaks the invariant at " << b.file << ":" << b.line;
  } catch (const std::exception& e) {
    ADD_FAILURE() << t.name << ": " << input << " throws " << e.what();
  } catch (...) {
    ADD_FAILURE() << t.name << ": " << input << " throws a non-std exception";
  }
  g_current[0] = 0;
}

}  // namespace

TEST(FuzzReplay, CorpusAndCrashReproducers) {
  for (int sig : {SIGABRT, SIGSEGV, SIGILL, SIGFPE, SIGBUS}) std::signal(sig, on_fatal);
  ASSERT_FALSE(turnpike::fuzz::registry().empty()) << "no fuzz target compiled into this test binary";
  for (const auto& t : turnpike::fuzz::registry()) {
    const fs::path base = fs::path(TURNPIKE_SOURCE_DIR) / t.dir / "fuzz";
    const auto corpus = files_in(base / "corpus" / t.name);
    const auto crashes = files_in(base / "crashes" / t.name);
    EXPECT_FALSE(corpus.empty()) << t.name << ": no seed corpus in " << base / "corpus" / t.name;
    for (const auto& p : corpus) replay(t, p);
    for (const auto& p : crashes) replay(t, p);
    std::printf("[ fuzz     ] %s: %zu corpus inputs, %zu crash reproducers\n", t.name, corpus.size(), crashes.size());
  }
  for (int sig : {SIGABRT, SIGSEGV, SIGILL, SIGFPE, SIGBUS}) std::signal(sig, SIG_DFL);
}
