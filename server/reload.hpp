// SIGHUP: re-reads the TLS certificate and key, and the residency catalog and policy from the config
// file (docs/residency.md); established connections and allocations stay, and a bad file changes
// nothing. Waits again after every signal until the io_context stops.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <memory>
#include <string>
#include <vector>

#include "server/config.hpp"
#include "server/sfu_host.hpp"
#include "server/shard.hpp"

namespace turnpike {

class Reload {
 public:
  // `config_path` empty (the embedded default): only the TLS files are re-read. `sfu` may be null.
  Reload(boost::asio::io_context& io, const Config& cfg, std::string config_path, SharedState& shared,
         const std::vector<std::unique_ptr<Shard>>& shards, SfuHost* sfu);
  void start();   // arms the SIGHUP wait
  void reload();  // what one SIGHUP does

 private:
  void wait();
  void reload_tls();
  void reload_residency();

  boost::asio::signal_set hup_;
  const Config& cfg_;
  std::string config_path_;
  SharedState& shared_;
  const std::vector<std::unique_ptr<Shard>>& shards_;
  SfuHost* sfu_;
};

}  // namespace turnpike
