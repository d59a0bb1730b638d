// Core::set_limits: the limits.* part of a reloaded config (SIGHUP), applied on the core's thread.
#include "turn/core.hpp"

namespace turn {

void Core::set_limits(const CoreConfig& c) {
  cfg_.default_lifetime_s = c.default_lifetime_s;
  cfg_.max_lifetime_s = c.max_lifetime_s;
  cfg_.bandwidth_bps = c.bandwidth_bps;
  cfg_.max_permissions_per_allocation = c.max_permissions_per_allocation;
  cfg_.max_channels_per_allocation = c.max_channels_per_allocation;
  cfg_.unauth_excess_bytes_per_second = c.unauth_excess_bytes_per_second;
  cfg_.unauth_excess_burst_bytes = c.unauth_excess_burst_bytes;
  cfg_.quality = c.quality;  // quality.*: later packets and intervals use it
  unauth_limiter_.set_rate(c.unauth_excess_bytes_per_second, c.unauth_excess_burst_bytes);
}

}  // namespace turn
