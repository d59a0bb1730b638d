// The error codes of the signalling protocol's `error` message (sfu/PROTOCOL.md), as the label
// `code` of turnpike_sfu_signalling_errors_total: a fixed set, so a client cannot grow the series.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

namespace sfu {

inline constexpr std::array<const char*, 14> kSignalErrorCodes = {
    "malformed", "bad_token",     "expired_token", "forbidden", "wrong_region", "forbidden_region", "bad_sdp",
    "not_joined", "room_full", "ice_failed", "internal", "draining", "resume_failed", "other"};

// Index of `code` in kSignalErrorCodes; a code not in it counts as "other" (the last).
inline size_t signal_error_index(std::string_view code) {
  for (size_t i = 0; i + 1 < kSignalErrorCodes.size(); ++i)
    if (code == kSignalErrorCodes[i]) return i;
  return kSignalErrorCodes.size() - 1;
}

}  // namespace sfu
