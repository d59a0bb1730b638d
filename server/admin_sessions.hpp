// Sessions by API (docs/admin-api.md), routed for AdminServer::route:
//   DELETE /api/v1/allocations/{id}                      ends an allocation (end_reason admin)
//   GET    /api/v1/rooms                                 the SFU's rooms with participant counts
//   GET    /api/v1/rooms/{id}                            one room's participants
//   DELETE /api/v1/rooms/{id}/participants/{pid}         removes a participant
#pragma once
#include <string>
#include <string_view>

#include "server/admin.hpp"

namespace turnpike {

// Whether this request is the sessions API's: any /api/v1/rooms path, and every method but GET and
// HEAD on /api/v1/allocations/{id}.
bool is_sessions_request(std::string_view method, std::string_view path);

// Answers it; `authorized`: the bearer token was checked (and is right, or none is configured).
AdminServer::Response route_sessions(const AdminBackend& b, const std::string& method, const std::string& path,
                                     std::string_view query, bool authorized);

}  // namespace turnpike
