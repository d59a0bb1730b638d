#include "server/admin_health.hpp"

#include <nlohmann/json.hpp>

#include "common/json_text.hpp"

namespace turnpike {

namespace {

using nlohmann::json;

constexpr double kMaxBlockSeconds = 60;

}  // namespace

AdminServer::Response healthz(const AdminBackend& b) {
  if (!b.health) return json_response(200, {{"status", "ok"}});
  HealthVerdict v = b.health();
  json components = json::object();
  for (const auto& [name, silent] : v.silent_ms) components[name] = {{"silent_ms", silent}};
  json body = {{"status", v.ok ? "ok" : "unhealthy"}, {"components", std::move(components)}};
  if (!v.ok) body["late"] = v.late;
  return json_response(v.ok ? 200 : 503, body);
}

AdminServer::Response readyz(const AdminBackend& b) {
  if (!b.readiness) {
    std::string state = b.state();
    return json_response(state == "ready" ? 200 : 503, {{"status", state}});
  }
  ReadinessVerdict v = b.readiness();
  if (v.ready) return json_response(200, {{"status", "ready"}});
  return json_response(503, {{"status", v.reason}, {"ready", false}, {"reason", v.reason}});
}

AdminServer::Response test_block(const AdminBackend& b, const std::string& body) {
  json r = json::parse(body, nullptr, false);
  if (r.is_discarded() || !r.is_object()) return json_response(400, {{"error", "the body must be a JSON object"}});
  if (!r.contains("component") || !r["component"].is_string())
    return json_response(400, {{"error", "'component' must be a string (shard-0, shard-1, ..., sfu)"}});
  if (!r.contains("seconds") || !r["seconds"].is_number())
    return json_response(400, {{"error", "'seconds' must be a number"}});
  double seconds = r["seconds"].get<double>();
  if (!(seconds > 0 && seconds <= kMaxBlockSeconds))
    return json_response(400, {{"error", "'seconds' must be above 0 and at most 60"}});
  std::string component = r["component"].get<std::string>();
  auto ms = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  if (!b.test_block(component, ms)) return json_response(404, {{"error", "no component '" + component + "'"}});
  return json_response(202, {{"blocked", component}, {"seconds", seconds}});
}

}  // namespace turnpike
