// The "quality" part of an allocation's record (docs/admin-api.md, docs/relay-quality.md): what the
// relay-quality analyser (turn/media_quality.hpp) measured, per direction and stream, with the verdict.
#pragma once
#include <nlohmann/json.hpp>

#include "turn/allocation.hpp"

namespace turnpike {

nlohmann::json quality_record(const turn::Allocation& a);

// The reasons of a verdict as their names: loss, jitter, rtt, tcp.
nlohmann::json quality_reasons(uint8_t reasons);

}  // namespace turnpike
