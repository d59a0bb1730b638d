#include "server/reload.hpp"

#include <algorithm>
#include <csignal>
#include <map>
#include <utility>

#include "server/event_log.hpp"
#include "server/log.hpp"
#include "server/notify.hpp"

namespace turnpike {

namespace {

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

// Read in full before anything is applied; freed unless handed over.
struct Reload::Tls {
  std::shared_ptr<boost::asio::ssl::context> tls;
  SSL_CTX* dtls = nullptr;
  Tls() = default;
  Tls(const Tls&) = delete;
  Tls& operator=(const Tls&) = delete;
  ~Tls() {
    if (dtls) SSL_CTX_free(dtls);
  }
};

Reload::Reload(const Config& cfg, std::string config_path, SharedState& shared,
               const std::vector<std::unique_ptr<Shard>>& shards, SfuHost* sfu)
    : config_path_(std::move(config_path)),
      shared_(shared),
      shards_(shards),
      sfu_(sfu),
      current_(std::make_shared<const Config>(cfg)) {
  shared_.metrics.config_reload(true, now().unix_s);  // as Prometheus: the start counts as a success
}

void Reload::start(boost::asio::io_context& io) {
  hup_ = std::make_unique<boost::asio::signal_set>(io, SIGHUP);
  wait();
}

void Reload::wait() {
  hup_->async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    // The service manager's view of a reload (server/notify.hpp): the only notify calls here.
    notify::reloading("reloading " + config_path_);
    reload("sighup");
    notify::ready("serving in region " + shared_.config.region + " (reloaded)");
    wait();
  });
}

ReloadResult Reload::failed(const char* source, const std::string& key, const std::string& error) {
  log::error("reload_failed", {log::str("source", source), log::str("key", key), log::str("error", error),
                               log::str("file", config_path_)});
  shared_.metrics.config_reload(false, now().unix_s);
  return {400, {{"error", error}, {"key", key}}};
}

ReloadResult Reload::refused(const char* source, const std::vector<std::string>& keys) {
  std::string error = "needs a restart: " + joined(keys) + " (nothing of the file was applied)";
  log::error("reload_failed", {log::str("source", source), log::str("key", joined(keys)), log::str("error", error),
                               log::str("file", config_path_)});
  shared_.metrics.config_reload(false, now().unix_s);
  return {409, {{"error", error}, {"restart_required", keys}}};
}

ReloadResult Reload::reload(const char* source) {
  std::lock_guard lock(mu_);
  if (config_path_.empty()) return failed(source, "", "running on the embedded default config: no file to reload");
  std::shared_ptr<const Config> fresh;
  try {
    fresh = std::make_shared<const Config>(load_config_file(config_path_));
  } catch (const ConfigError& e) {
    return failed(source, e.key, e.what());
  } catch (const std::exception& e) {
    return failed(source, "", e.what());
  }
  ConfigDiff d = diff_config(*current_, *fresh);
  if (!d.applicable()) return refused(source, d.restart);
  Tls tls;
  if (!fresh->tls_cert.empty()) {
    try {
      tls.tls = TlsContexts::load(fresh->tls_cert, fresh->tls_key);
      tls.dtls = make_turn_dtls_context(fresh->tls_cert, fresh->tls_key);
    } catch (const std::exception& e) {
      log::error("tls_reload_failed", {log::str("error", e.what())});
      return failed(source, "tls.cert", e.what());
    }
  }
  apply(fresh, d, tls);
  log::info("reload_applied", {log::str("source", source), log::str("changed", joined(d.changed)),
                               log::str("file", config_path_)});
  shared_.metrics.config_reload(true, now().unix_s);
  return {200, {{"result", "applied"}, {"changed", d.changed}, {"tls_reloaded", tls.tls != nullptr}}};
}

// Everything below only hands over what was read and checked above; nothing here can fail.
void Reload::apply(const std::shared_ptr<const Config>& fresh, const ConfigDiff& d, Tls& tls) {
  if (tls.tls) {
    shared_.tls.set(tls.tls);
    shared_.set_dtls(std::exchange(tls.dtls, nullptr));
    log::info("tls_reloaded", {log::str("cert", fresh->tls_cert)});
  }
  apply_turn(*fresh);
  shared_.sites.set_sites(fresh->sites);
  bool residency = std::find_if(d.changed.begin(), d.changed.end(), [](const std::string& k) {
                     return k == "regions" || k == "residency";
                   }) != d.changed.end();
  if (residency) apply_residency(*fresh);
  if (residency || fresh->residency_configured)
    log::info("residency_reloaded", {log::num("regions", static_cast<long long>(fresh->residency.regions.size()))});
  if (sfu_) {
    std::map<std::string, std::string> urls;
    for (const auto& r : fresh->residency.regions) urls[r.name] = r.signal_url;
    sfu_->reload(fresh->sfu.token_keys, std::move(urls), fresh->sfu.signal_tls ? tls.tls : nullptr);
  }
  shared_.live.set(fresh);
  current_ = fresh;
  log::configure(fresh->log_level, shared_.config.log_format);
  const auto& le = fresh->log_events;
  events::configure({le.per_second, le.burst, le.redact_users, le.redact_salt});  // docs/logs.md
  // What is in force now, at the new level (the first debug line after a switch to debug).
  log::debug("reload_in_force", {log::num("users", static_cast<long long>(fresh->auth.users.size())),
                                 log::num("rest_secrets", static_cast<long long>(fresh->auth.rest_secrets.size())),
                                 log::num("peers_allow", static_cast<long long>(fresh->peers_allow.size())),
                                 log::num("peers_deny", static_cast<long long>(fresh->peers_deny.size())),
                                 log::num("sites", static_cast<long long>(fresh->sites.size())),
                                 log::num("token_keys", static_cast<long long>(fresh->sfu.token_keys.size())),
                                 log::str("log_level", fresh->log_level)});
}

// auth, peers and limits: the shared counters at once, each shard's core on its own thread.
void Reload::apply_turn(const Config& fresh) {
  auto auth = std::make_shared<const turn::Authenticator>(fresh.auth);
  auto policy = std::make_shared<const turn::PeerPolicy>(fresh.peers_allow, fresh.peers_deny);
  shared_.quotas->set_limits(fresh.max_allocations, fresh.max_allocations_per_user);
  shared_.connections.set_limits(fresh.max_connections, fresh.max_connections_per_ip,
                                 int64_t{fresh.connection_allocate_timeout_s} * 1000,
                                 int64_t{fresh.connection_idle_timeout_s} * 1000);
  for (const auto& s : shards_) s->reload(auth, policy, fresh.core);
}

void Reload::apply_residency(const Config& fresh) {
  shared_.set_regions(fresh.core.regions);
  for (const auto& s : shards_) s->set_regions(fresh.core.regions);
  // The SFU keeps the verdict TURN gave media through our own relays; shards end the
  // allocations the new policy forbids on their own threads, which ends that media too.
  if (sfu_) sfu_->residency_changed();
}

}  // namespace turnpike
