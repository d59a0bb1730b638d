// Sessions by API (server/admin_sessions.hpp, docs/admin-api.md): the routes, their checks and their
// JSON. The work itself runs on the thread that owns the state (server/sessions.cpp).
#include "server/admin_sessions.hpp"

#include <charconv>
#include <optional>
#include <vector>

#include "common/json_text.hpp"
#include "server/allocation_record.hpp"
#include "server/percent_decode.hpp"

namespace turnpike {

namespace {

using nlohmann::json;
using Outcome = SessionsBackend::Outcome;

constexpr std::string_view kAllocationsPrefix = "/api/v1/allocations/";
constexpr std::string_view kRooms = "/api/v1/rooms";
constexpr size_t kMaxRooms = 1000;       // rooms listed by one GET /api/v1/rooms
constexpr size_t kMaxIdBytes = 256;      // a room or participant id in a path, decoded


// What a sessions path names: the shape only (ids still percent-encoded).
struct Target {
  enum class Kind : uint8_t { Allocation, Rooms, Room, Participant } kind = Kind::Rooms;
  std::string_view first, second;  // allocation id or room id; participant id
  const char* allow = "GET, HEAD";
};

std::optional<Target> target_of(std::string_view path) {
  if (path.substr(0, kAllocationsPrefix.size()) == kAllocationsPrefix)
    return Target{Target::Kind::Allocation, path.substr(kAllocationsPrefix.size()), {}, "GET, HEAD, DELETE"};
  if (path == kRooms) return Target{};
  if (path.substr(0, kRooms.size() + 1) != std::string(kRooms) + "/") return std::nullopt;
  std::vector<std::string_view> parts;
  for (std::string_view rest = path.substr(kRooms.size() + 1);;) {
    auto slash = rest.find('/');
    parts.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  for (auto p : parts)
    if (p.empty()) return std::nullopt;
  if (parts.size() == 1) return Target{Target::Kind::Room, parts[0], {}, "GET, HEAD"};
  if (parts.size() == 3 && parts[1] == "participants") return Target{Target::Kind::Participant, parts[0], parts[2], "DELETE"};
  return std::nullopt;
}

// A path segment's %XX escapes (RFC 3986 2.1; '+' is itself); false on a broken escape or a
// segment longer than kMaxIdBytes.
bool decode_segment(std::string_view in, std::string& out) {
  return percent_decode(in, out, PlusSign::Literal) && out.size() <= kMaxIdBytes;
}

json participant_json(const sfu::ParticipantInfo& p) {
  return {{"id", p.id},
          {"identity", p.identity},
          {"path", p.path == sfu::Path::Unknown ? json(nullptr) : json(sfu::to_string(p.path))},
          {"region", p.region.empty() ? json(nullptr) : json(p.region)},
          {"joined_at", rfc3339_ms(p.joined_unix_ms)},
          {"connected", p.connected},
          {"bytes_in", p.bytes_in},
          {"bytes_out", p.bytes_out},
          {"tracks", p.tracks}};
}

AdminServer::Response unavailable(Outcome o, const std::string& what) {
  return o == Outcome::Unavailable ? json_error(503, "the SFU thread did not answer in time") : json_error(404, what);
}

AdminServer::Response end_allocation(const AdminBackend& b, std::string_view id_text) {
  uint64_t id = 0;
  auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (ec != std::errc() || end != id_text.data() + id_text.size() || id_text.empty())
    return json_error(400, "allocation id must be a decimal number");
  if (!b.sessions.end_allocation) return json_error(503, "allocations cannot be ended on this server");
  turn::Allocation ended;
  switch (b.sessions.end_allocation(id, ended)) {
    case Outcome::NotFound: return json_error(404, "no allocation " + std::string(id_text));
    case Outcome::Unavailable: return json_error(503, "a shard did not answer in time");
    case Outcome::Done: break;
  }
  json record = b.record(ended);
  record["end_reason"] = turn::to_string(turn::EndReason::Admin);
  return json_response(200, record);
}

AdminServer::Response list_rooms(const AdminBackend& b) {
  std::vector<sfu::RoomInfo> rooms;
  if (auto o = b.sessions.rooms(kMaxRooms + 1, rooms); o != Outcome::Done) return unavailable(o, "no SFU");
  bool truncated = rooms.size() > kMaxRooms;
  if (truncated) rooms.resize(kMaxRooms);
  json list = json::array();
  for (const auto& r : rooms) list.push_back({{"id", r.name}, {"participants", r.participant_count}});
  return json_response(200, {{"region", b.region}, {"count", list.size()}, {"truncated", truncated},
                             {"rooms", std::move(list)}});
}

AdminServer::Response one_room(const AdminBackend& b, const std::string& name) {
  sfu::RoomInfo room;
  if (auto o = b.sessions.room(name, room); o != Outcome::Done) return unavailable(o, "no room " + name);
  json list = json::array();
  for (const auto& p : room.participants) list.push_back(participant_json(p));
  return json_response(200, {{"id", room.name}, {"region", b.region}, {"count", list.size()},
                             {"participants", std::move(list)}});
}

AdminServer::Response remove_participant(const AdminBackend& b, const std::string& room, const std::string& pid) {
  sfu::ParticipantInfo removed;
  if (auto o = b.sessions.remove_participant(room, pid, removed); o != Outcome::Done)
    return unavailable(o, "no participant " + pid + " in room " + room);
  return json_response(200, {{"room", room}, {"removed", participant_json(removed)}});
}

AdminServer::Response method_not_allowed(const std::string& method, const char* allow) {
  auto r = json_error(405, "method " + method + " not allowed; use " + allow);
  r.headers.push_back({"Allow", allow});
  return r;
}

bool method_allowed(const Target& t, const std::string& method) {
  if (t.kind == Target::Kind::Participant || t.kind == Target::Kind::Allocation) return method == "DELETE";
  return method == "GET" || method == "HEAD";
}

// The rooms endpoints, after the method, token and query checks.
AdminServer::Response route_rooms(const AdminBackend& b, const Target& t) {
  if (!b.sessions.rooms) return json_error(404, "this node runs no SFU (sfu.enabled is false)");
  if (t.kind == Target::Kind::Rooms) return list_rooms(b);
  std::string room, pid;
  if (!decode_segment(t.first, room) || !decode_segment(t.second, pid))
    return json_error(400, "room and participant ids are at most 256 bytes, with well-formed %XX escapes");
  if (t.kind == Target::Kind::Room) return one_room(b, room);
  return remove_participant(b, room, pid);
}

}  // namespace

bool is_sessions_request(std::string_view method, std::string_view path) {
  if (path == kRooms || path.substr(0, kRooms.size() + 1) == std::string(kRooms) + "/") return true;
  return path.substr(0, kAllocationsPrefix.size()) == kAllocationsPrefix && method != "GET" && method != "HEAD";
}

AdminServer::Response route_sessions(const AdminBackend& b, const std::string& method, const std::string& path,
                                     std::string_view query, bool authorized) {
  auto t = target_of(path);
  if (!t) return json_error(404, "no such endpoint: " + path);
  if (!method_allowed(*t, method)) return method_not_allowed(method, t->allow);
  if (!authorized) {
    auto r = json_error(401, "a valid 'Authorization: Bearer <admin.token>' header is required");
    r.headers.push_back({"WWW-Authenticate", "Bearer realm=\"turnpike\""});
    return r;
  }
  if (!query.empty()) return json_error(400, "this endpoint takes no query parameters");
  if (t->kind == Target::Kind::Allocation) return end_allocation(b, t->first);
  return route_rooms(b, *t);
}

}  // namespace turnpike
