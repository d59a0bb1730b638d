// The command line of `turnpike-loadgen sfu` (docs/loadgen.md, "SFU mode"), parsed into the run's
// configuration with one-line errors (exit 2). Pure: the token key's file or environment variable
// is named here and read by the binary.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "loadgen/sfu_engine.hpp"

namespace loadgen::sfuload {

struct SfuOptions {
  std::string signal_host;          // from --signal ws://HOST:PORT/PATH
  uint16_t signal_port = 0;
  std::string signal_path = "/signal";
  std::string token_secret;         // --token-secret (visible in ps: prefer the file)
  std::string token_secret_file;    // --token-secret-file: the first line
  std::string token_secret_env = "TURNPIKE_SFU_TOKEN_KEY";  // when neither is given
  std::string local = "0.0.0.0";    // --local: the media sockets' address
  std::string report_dir;
  bool progress = true;
  RunConfig run;
};

struct SfuCliResult {
  enum class Kind { Run, Help, Error } kind = Kind::Error;
  SfuOptions options;
  std::string error;
};

// args: what follows "sfu". Never throws.
SfuCliResult parse_sfu_cli(const std::vector<std::string>& args);
std::string sfu_usage();

}  // namespace loadgen::sfuload
