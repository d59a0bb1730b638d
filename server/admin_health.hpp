// The admin server's probes and test hook (docs/admin-api.md): GET /healthz, GET /readyz and the
// test-only POST /api/v1/test/block. Pure, like AdminServer::route, which calls them.
#pragma once
#include <string>

#include "server/admin.hpp"

namespace turnpike {

constexpr const char* kTestBlockPath = "/api/v1/test/block";

AdminServer::Response healthz(const AdminBackend& b);
AdminServer::Response readyz(const AdminBackend& b);
// POST /api/v1/test/block, the token already checked: {"component": "shard-0", "seconds": 5}.
AdminServer::Response test_block(const AdminBackend& b, const std::string& body);

}  // namespace turnpike
