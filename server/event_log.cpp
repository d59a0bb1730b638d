#include "server/event_log.hpp"

#include "common/json_text.hpp"
#include "server/redact.hpp"

#include <unistd.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <span>

namespace turnpike::events {

namespace {

struct State {
  Options options;
  UserRedactor redactor;
  std::shared_ptr<LogRateLimiter> limiter = std::make_shared<LogRateLimiter>(10, 20);
};

std::mutex g_mu;
std::shared_ptr<const State> g_state = std::make_shared<State>();

std::shared_ptr<const State> state() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_state;
}

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string hex(std::span<const uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

void write_line(log::Level level, std::string_view event, const nlohmann::ordered_json& fields) {
  std::string line;
  if (log::json_format()) {
    nlohmann::ordered_json j = {{"ts", log::timestamp()}, {"level", log::level_name(level)}, {"event", event}};
    for (const auto& [k, v] : fields.items()) j[k] = v;
    line = safe_dump(j) + "\n";
  } else {
    line = log::timestamp() + " " + log::level_name(level) + " " + std::string(event);
    for (const auto& [k, v] : fields.items())
      line += " " + k + "=" + (v.is_string() ? json_string_body(v.get_ref<const std::string&>()) : safe_dump(v));
    line += "\n";
  }
  ::write(STDERR_FILENO, line.data(), line.size());
}

const char* method_name(const turn::Answer& a) {
  const char* m = turn::stun::to_string(a.method);
  return m ? m : "other";
}

// RFC 8656 6.2 / 7.2, RFC 8489: the refusals an operator is asked about: 403 (policy, residency,
// peer denied), 486 (the user's quota), 508 (out of capacity).
bool logged_refusal(int code) { return code == 403 || code == 486 || code == 508; }

}  // namespace

void configure(const Options& o) {
  auto next = std::make_shared<State>();
  next->options = o;
  next->redactor = UserRedactor(o.redact_users, o.redact_salt);
  std::lock_guard<std::mutex> lock(g_mu);
  bool same_rate = g_state->options.per_second == o.per_second && g_state->options.burst == o.burst;
  next->limiter = same_rate ? g_state->limiter : std::make_shared<LogRateLimiter>(o.per_second, o.burst);
  g_state = std::move(next);
}

std::string user(std::string_view identity) { return state()->redactor(identity); }

void redact_record(nlohmann::json& record) {
  auto s = state();
  if (!s->redactor.on()) return;
  for (const char* key : {"user", "username"})
    if (record.contains(key) && record[key].is_string()) record[key] = s->redactor(record[key].get<std::string>());
}

void emit(LogKind kind, log::Level level, std::string_view event, nlohmann::ordered_json fields) {
  if (!log::enabled(level)) return;
  auto verdict = state()->limiter->admit(kind, steady_ms());
  if (!verdict.emit) return;
  if (verdict.suppressed > 0) fields["suppressed"] = verdict.suppressed;
  write_line(level, event, fields);
}

void turn_answer(const turn::Answer& a) {
  const bool debug = log::enabled(log::Level::Debug);
  const bool auth_failed = a.auth != turn::AuthRefusal::None && a.auth != turn::AuthRefusal::Missing;
  if (!debug && !auth_failed && !logged_refusal(a.code)) return;  // the common case: nothing to log
  const std::string who = user(a.username);
  if (debug) {
    write_line(log::Level::Debug, "request",
               {{"method", method_name(a)}, {"class", a.code == 200 ? "success" : "error"},
                {"transaction_id", hex(a.transaction_id)}, {"client", a.from.client.to_string()},
                {"transport", turn::to_string(a.from.transport)}, {"user", who}, {"code", a.code},
                {"sent", a.sent}});
  }
  if (auth_failed) {
    emit(LogKind::AuthFailed, log::Level::Warn, "auth_failed",
         {{"user", who}, {"client", a.from.client.to_string()}, {"transport", turn::to_string(a.from.transport)},
          {"reason", turn::to_string(a.auth)}, {"method", method_name(a)}, {"code", a.code}});
  }
  if (logged_refusal(a.code)) {
    emit(LogKind::Refused, log::Level::Warn, a.method == turn::stun::Method::Allocate ? "allocate_refused" : "request_refused",
         {{"user", who}, {"client", a.from.client.to_string()}, {"transport", turn::to_string(a.from.transport)},
          {"method", method_name(a)}, {"code", a.code}, {"reason", a.reason}});
  }
}

}  // namespace turnpike::events
