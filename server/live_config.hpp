// The config in force: the start-up config until a reload (SIGHUP, POST /api/v1/reload) applies a
// new one. Readers of live keys (auth.realm in records, auth.rest_secrets for the ICE servers the
// SFU hands out) take a snapshot; restart-only keys are read from SharedState::config.
#pragma once
#include <memory>
#include <mutex>

#include "server/config.hpp"

namespace turnpike {

class LiveConfig {
 public:
  explicit LiveConfig(const Config& c) : now_(std::make_shared<const Config>(c)) {}
  std::shared_ptr<const Config> get() const {
    std::lock_guard lock(mu_);
    return now_;
  }
  void set(std::shared_ptr<const Config> c) {
    std::lock_guard lock(mu_);
    now_ = std::move(c);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Config> now_;
};

}  // namespace turnpike
