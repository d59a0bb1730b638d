// The troubleshooting events of docs/logs.md (issue 17): one JSON line per auth failure, per
// 403/486/508 refusal, per SFU join, refused join and leave, rate-limited per kind (log_limiter.hpp)
// with the count of lines suppressed; at log.level debug, one line per request answered. Lines are
// built with nlohmann::json and dumped with invalid UTF-8 replaced, so any input gives valid JSON.
// User identities go through log.redact_users (redact.hpp), here and in the per-allocation labels.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "server/log.hpp"
#include "server/log_limiter.hpp"
#include "turn/answer.hpp"

namespace turnpike::events {

struct Options {
  uint32_t per_second = 10;  // lines per second per event kind (0: no limit)
  uint32_t burst = 20;       // lines per kind at once
  bool redact_users = false;
  std::string redact_salt;
};
// At start-up (and on reload); keeps the buckets when the rates are unchanged.
void configure(const Options& o);

// A user identity as logs and metric labels show it: itself, or its hash under log.redact_users.
std::string user(std::string_view identity);
// allocation_record's "user" and "username" under log.redact_users.
void redact_record(nlohmann::json& record);

// One event line: `fields` after ts, level and event; `suppressed` when lines of this kind were
// dropped since the last. Dropped itself when over its kind's rate.
void emit(LogKind kind, log::Level level, std::string_view event, nlohmann::ordered_json fields);

// A TURN request answered (turn::Sink::answered): `auth_failed` for refused credentials (not the
// first round), `allocate_refused` / `request_refused` for 403, 486 and 508, and a `request` line
// at debug.
void turn_answer(const turn::Answer& a);

}  // namespace turnpike::events
