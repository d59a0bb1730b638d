#include "server/allocation_record.hpp"

#include <ctime>
#include <set>

#include "server/quality_record.hpp"

namespace turnpike {

using nlohmann::json;

std::string rfc3339_ms(int64_t unix_ms) {
  time_t secs = static_cast<time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
  return buf;
}

json allocation_record(const turn::Allocation& a, const RecordContext& ctx) {
  const auto& s = a.stats;
  const int64_t now_ms = ctx.now.mono_ms;
  // Monotonic times are converted to wall-clock ones through the allocation's creation instant.
  const int64_t created_unix_ms = a.created_unix_ms;
  auto wall = [&](int64_t mono_ms) { return rfc3339_ms(created_unix_ms + (mono_ms - a.created_ms)); };
  auto last = [&](int64_t mono_ms) -> json {
    if (mono_ms == 0) return nullptr;
    return json{{"at", wall(mono_ms)}, {"seconds_ago", static_cast<double>(now_ms - mono_ms) / 1000.0}};
  };
  json relayed = json::array();
  for (size_t i = 0; i < a.relay_count; ++i) relayed.push_back(a.relays[i].address.to_string());
  json permissions = json::array();
  for (const auto& p : a.permissions)
    if (p.expires_ms > now_ms)
      permissions.push_back({{"peer", p.peer.to_string()}, {"expires_in_s", (p.expires_ms - now_ms) / 1000}});
  json channels = json::array();
  for (const auto& c : a.channels)
    if (c.expires_ms > now_ms)
      channels.push_back({{"number", c.number}, {"peer", c.peer.to_string()}, {"expires_in_s", (c.expires_ms - now_ms) / 1000}});
  const bool ended = ctx.ended.has_value();
  // Proof of residency: where the client belongs, which region served it, where its peers are.
  json residency = nullptr;
  if (ctx.regions && ctx.regions->enabled()) {
    std::set<std::string> peer_regions;
    auto note = [&](const turn::IpAddress& ip) {
      const turn::Region* r = ctx.regions->region_of(ip);
      peer_regions.insert(r ? r->name : "unknown");
    };
    for (const auto& p : a.permissions) note(p.peer);
    for (const auto& c : a.channels) note(c.peer.address);
    residency = {{"client_region", a.client_region.empty() ? json(nullptr) : json(a.client_region)},
                 {"served_region", a.served_region},
                 {"drift", a.drift},
                 {"peer_regions", peer_regions}};
  }
  json tags = json::object();
  for (const auto& [k, v] : a.tags) tags[k] = v;
  return json{
      {"residency", residency},
      {"tags", std::move(tags)},
      {"id", std::to_string(a.id)},
      {"user", a.user},
      {"username", a.username},
      {"realm", ctx.realm},
      {"region", ctx.region},
      {"transport", turn::to_string(a.five_tuple.transport)},
      {"client", a.five_tuple.client.to_string()},
      {"server", a.five_tuple.server.to_string()},
      {"five_tuple",
       {{"client", a.five_tuple.client.to_string()},
        {"server", a.five_tuple.server.to_string()},
        {"transport", turn::to_string(a.five_tuple.transport)}}},
      {"relayed", relayed},
      {"family", turn::relay_family_name(turn::relay_family_index(a))},
      {"created", rfc3339_ms(created_unix_ms)},
      {"age_s", static_cast<double>(now_ms - a.created_ms) / 1000.0},
      {"setup_ms", a.setup_ms},
      {"lifetime_s", a.lifetime_s},
      {"lifetime_left_s", ended ? 0 : std::max<int64_t>(0, (a.expires_ms - now_ms) / 1000)},
      {"end_reason", ended ? json(turn::to_string(*ctx.ended)) : json(nullptr)},
      {"bytes_to_peer", s.bytes_to_peer},
      {"packets_to_peer", s.packets_to_peer},
      {"bytes_to_client", s.bytes_to_client},
      {"packets_to_client", s.packets_to_client},
      {"dropped",
       {{"no_permission", s.dropped_no_permission},
        {"peer_denied", s.dropped_peer_denied},
        {"malformed", s.dropped_malformed},
        {"bandwidth", s.dropped_bandwidth},
        {"too_big", s.dropped_too_big}}},
      {"permissions", permissions},
      {"channel_bindings", channels},
      {"rate_bytes_per_second", {{"to_peer", s.rate_bps_to_peer}, {"to_client", s.rate_bps_to_client}}},
      {"peak_bytes_per_second", {{"to_peer", s.peak_bps_to_peer}, {"to_client", s.peak_bps_to_client}}},
      {"last_activity", {{"to_peer", last(s.last_to_peer_ms)}, {"to_client", last(s.last_to_client_ms)}}},
      {"quality", quality_record(a)},
  };
}

}  // namespace turnpike
