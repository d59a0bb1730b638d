// libFuzzer target: the WebSocket client codec (ws_client.hpp) fed a server's bytes in pieces. The
// first input byte picks the piece size. Messages stay within kMaxMessage; after an error nothing
// more is accepted; whatever it answers (pong, close) is well-formed masked frames.
#include "loadgen/ws_client.hpp"
#include "tests/fuzz/target.hpp"

TURNPIKE_FUZZ_TARGET("loadgen", ws_client) {
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 64;
  loadgen::ws::Client c(size);
  for (size_t i = 1; i < size; i += piece) {
    const size_t n = piece < size - i ? piece : size - i;
    auto e = c.feed({data + i, n});
    for (const auto& m : c.take_messages())
      if (m.size() > loadgen::ws::kMaxMessage) FUZZ_FAIL();
    std::string out = c.take_output();
    if (!out.empty() && ((static_cast<uint8_t>(out[1]) & 0x80) == 0)) FUZZ_FAIL();  // unmasked answer
    if (e != loadgen::ws::Error::None && !c.closed()) FUZZ_FAIL();
  }
  std::string out;
  c.text("{\"type\":\"ping\"}", out);
  if (out.size() != 2 + 4 + 15) FUZZ_FAIL();
  return 0;
}
