// Live reload (SIGHUP, POST /api/v1/reload; docs/configuration.md "Live reload"): re-reads the
// config file and applies everything that can change live, all or nothing. The whole file is loaded
// and validated, and the TLS files are read, before anything is applied: a bad file (400), or one
// that changes a restart-only key (409, the keys named), changes nothing. On success (200) shards
// take the new authentication, peer policy, limits and residency on their own threads, the SFU its
// token keys and signalling TLS on its thread, and new TLS/DTLS connections the new certificate;
// established connections and allocations stay. Every attempt is logged (reload_applied or
// reload_failed) and sets turnpike_config_last_reload_successful.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <nlohmann/json.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/config.hpp"
#include "server/config_diff.hpp"
#include "server/sfu_host.hpp"
#include "server/shard.hpp"

namespace turnpike {

struct ReloadResult {
  unsigned status = 200;  // 200 applied; 400 the file is bad; 409 a restart-only key changed
  nlohmann::json body;
};

class Reload {
 public:
  // `config_path` empty (the embedded default): nothing to re-read, every reload answers 400.
  // `sfu` may be null.
  Reload(const Config& cfg, std::string config_path, SharedState& shared,
         const std::vector<std::unique_ptr<Shard>>& shards, SfuHost* sfu);
  // Arms the SIGHUP wait on `io` (until it stops). The constructor sets the reload gauges.
  void start(boost::asio::io_context& io);
  void stop() { hup_.reset(); }  // before that io_context goes
  // One reload; from any thread (one at a time). `source`: "sighup" or "api", for the log.
  ReloadResult reload(const char* source);

 private:
  struct Tls;  // the contexts read from the new file's tls.cert and tls.key
  void wait();
  ReloadResult failed(const char* source, const std::string& key, const std::string& error);
  ReloadResult refused(const char* source, const std::vector<std::string>& keys);
  void apply(const std::shared_ptr<const Config>& fresh, const ConfigDiff& d, Tls& tls);
  void apply_turn(const Config& fresh);
  void apply_residency(const Config& fresh);

  std::unique_ptr<boost::asio::signal_set> hup_;
  std::string config_path_;
  SharedState& shared_;
  const std::vector<std::unique_ptr<Shard>>& shards_;
  SfuHost* sfu_;
  std::mutex mu_;
  std::shared_ptr<const Config> current_;  // the config in force
};

}  // namespace turnpike
