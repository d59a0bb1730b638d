// turnpike-test-sfu-peer: a WebRTC-like participant for the SFU's integration and abuse tests
// (tests/tools/README.md). Prints one JSON object of what it saw and did on stdout; progress on stderr.
#include <cstdlib>
#include <iostream>
#include <string>

#include "peer.hpp"

namespace {

const char* kUsage =
    "usage: turnpike-test-sfu-peer --signal HOST:PORT --token JWT [--mode MODE] [options]\n"
    "  --mode publish|subscribe|nack-flood|spoof-check|ssrc-hijack   (default publish)\n"
    "  --duration S        total run time, seconds (default 10)\n"
    "  --kind video|audio  the section offered (default video)\n"
    "  --ssrc N            our media SSRC when publishing; ssrc-hijack: another participant's\n"
    "  --rate N            RTP packets per second when publishing (default 50)\n"
    "  --payload N         RTP payload bytes (default 1000)\n"
    "  --from IDENTITY     subscribe to this identity's first track (default: anyone's)\n"
    "  --bind ADDR         local IPv4 address of the media socket (default 127.0.0.1)\n"
    "  --nack-rate N       nack-flood: compounds per second (default 10)\n"
    "  --nack-bytes N      nack-flood: bytes per compound before SRTCP (default 2000)\n"
    "  --nack-after S      nack-flood: seconds of media before the flood (default 1)\n"
    "  --victim IP:PORT    spoof-check: the address the spoofed checks claim to come from\n"
    "  --spoof-after S     spoof-check: seconds after DTLS (default 2)\n"
    "  --spoof-count N     spoof-check: spoofed checks, 100 ms apart (default 3)\n";

bool parse_mode(const std::string& s, peer::Mode& m) {
  using peer::Mode;
  if (s == "publish") m = Mode::Publish;
  else if (s == "subscribe") m = Mode::Subscribe;
  else if (s == "nack-flood") m = Mode::NackFlood;
  else if (s == "spoof-check") m = Mode::SpoofCheck;
  else if (s == "ssrc-hijack") m = Mode::SsrcHijack;
  else return false;
  return true;
}

bool parse_args(int argc, char** argv, peer::Options& o, std::string& error) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") return false;
    if (i + 1 >= argc) {
      error = "missing value for " + a;
      return false;
    }
    std::string v = argv[++i];
    try {
      if (a == "--signal") o.signal = v;
      else if (a == "--token") o.token = v;
      else if (a == "--mode") {
        if (!parse_mode(v, o.mode)) error = "unknown mode " + v;
      } else if (a == "--duration") o.duration_s = std::stod(v);
      else if (a == "--kind") o.video = v != "audio";
      else if (a == "--ssrc") o.ssrc = static_cast<uint32_t>(std::stoul(v));
      else if (a == "--rate") o.rate = std::stoi(v);
      else if (a == "--payload") o.payload = std::stoul(v);
      else if (a == "--from") o.from_identity = v;
      else if (a == "--bind") o.bind = v;
      else if (a == "--nack-rate") o.nack_per_s = std::stoi(v);
      else if (a == "--nack-bytes") o.nack_bytes = std::stoul(v);
      else if (a == "--nack-after") o.nack_after_s = std::stod(v);
      else if (a == "--victim") o.victim = v;
      else if (a == "--spoof-after") o.spoof_after_s = std::stod(v);
      else if (a == "--spoof-count") o.spoof_count = std::stoi(v);
      else error = "unknown option " + a;
    } catch (const std::exception&) {
      error = "bad value for " + a + ": " + v;
    }
    if (!error.empty()) return false;
  }
  if (o.signal.empty() || o.token.empty()) error = "--signal and --token are required";
  else if (o.mode == peer::Mode::SsrcHijack && o.ssrc == 0) error = "ssrc-hijack needs --ssrc";
  else if (o.mode == peer::Mode::SpoofCheck && o.victim.empty()) error = "spoof-check needs --victim";
  else if (o.duration_s <= 0 || o.duration_s > 600) error = "--duration must be in (0, 600]";
  else if (o.payload > 1200) error = "--payload must be at most 1200";
  else if (o.nack_bytes < 64 || o.nack_bytes > 8192) error = "--nack-bytes must be in [64, 8192]";
  return error.empty();
}

}  // namespace

int main(int argc, char** argv) {
  peer::Options opts;
  std::string error;
  if (!parse_args(argc, argv, opts, error)) {
    if (!error.empty()) std::cerr << "turnpike-test-sfu-peer: " << error << "\n";
    std::cerr << kUsage;
    return 2;
  }
  boost::asio::io_context ioc;
  peer::Peer p(ioc, opts);
  if (!p.start(error)) {
    std::cerr << "turnpike-test-sfu-peer: " << error << "\n";
    nlohmann::json j = {{"error", error}};
    std::cout << j.dump() << std::endl;
    return 1;
  }
  // Bounded: the peer stops itself at --duration; this is the backstop.
  ioc.run_for(std::chrono::milliseconds(static_cast<int64_t>(opts.duration_s * 1000) + 3000));
  std::cout << p.report().dump() << std::endl;
  return 0;
}
