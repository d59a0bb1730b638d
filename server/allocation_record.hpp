// The record of one allocation, as the admin API serves it live and as the JSON line logged when it
// ends: one shape for both, documented in docs/admin-api.md.
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "turn/allocation.hpp"
#include "turn/region_policy.hpp"
#include "turn/core.hpp"

namespace turnpike {

struct RecordContext {
  std::string region;
  std::string realm;
  turn::Now now;                             // when the record is taken
  std::optional<turn::EndReason> ended;      // set for the end-of-allocation record
  const turn::RegionPolicy* regions = nullptr;  // data residency on: the regions of the peers too
};

nlohmann::json allocation_record(const turn::Allocation& a, const RecordContext& ctx);

// RFC 3339 UTC with milliseconds, from unix milliseconds.
std::string rfc3339_ms(int64_t unix_ms);

}  // namespace turnpike
