#include "server/reload.hpp"

#include <csignal>

#include "server/log.hpp"
#include "server/notify.hpp"

namespace turnpike {

Reload::Reload(boost::asio::io_context& io, const Config& cfg, std::string config_path, SharedState& shared,
               const std::vector<std::unique_ptr<Shard>>& shards, SfuHost* sfu)
    : hup_(io, SIGHUP), cfg_(cfg), config_path_(std::move(config_path)), shared_(shared), shards_(shards), sfu_(sfu) {}

void Reload::start() { wait(); }

void Reload::wait() {
  hup_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    // The service manager's view of a reload (server/notify.hpp): the only notify calls here.
    notify::reloading("reloading " + config_path_);
    reload();
    notify::ready("serving in region " + cfg_.region + " (reloaded)");
    wait();
  });
}

void Reload::reload() {
  reload_tls();
  reload_residency();
}

void Reload::reload_tls() {
  if (cfg_.tls_cert.empty()) return;
  try {
    shared_.tls.set(TlsContexts::load(cfg_.tls_cert, cfg_.tls_key));
    shared_.set_dtls(make_turn_dtls_context(cfg_.tls_cert, cfg_.tls_key));
    log::info("tls_reloaded", {log::str("cert", cfg_.tls_cert)});
  } catch (const std::exception& e) {
    log::error("tls_reload_failed", {log::str("error", e.what())});
  }
}

void Reload::reload_residency() {
  if (config_path_.empty()) return;
  try {
    auto fresh = load_config_file(config_path_);
    if (fresh.region != cfg_.region) throw ConfigError("region", "cannot change without a restart");
    shared_.set_regions(fresh.core.regions);
    for (const auto& s : shards_) s->set_regions(fresh.core.regions);
    // The SFU keeps the verdict TURN gave media through our own relays; shards end the
    // allocations the new policy forbids on their own threads, which ends that media too.
    if (sfu_) sfu_->residency_changed();
    log::info("residency_reloaded", {log::num("regions", fresh.residency.regions.size())});
  } catch (const std::exception& e) {
    log::error("residency_reload_failed", {log::str("error", e.what())});
  }
}

}  // namespace turnpike
