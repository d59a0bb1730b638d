// Sessions by API (server/admin_sessions.cpp): the routes' parsing, methods, token, ids and JSON,
// through AdminServer::route with a backend of plain functions; tests/integration/test_sessions_api.py
// drives the same over HTTP against the real binary, its shards and its SFU.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "server/admin.hpp"
#include "server/admin_sessions.hpp"
#include "server/allocation_record.hpp"

namespace turnpike {
namespace {

using nlohmann::json;
using Outcome = SessionsBackend::Outcome;

struct Sessions : ::testing::Test {
  static constexpr const char* kAuth = "Bearer 0123456789abcdef";
  Outcome answer = Outcome::Done;  // what the owning thread "answers"
  std::vector<uint64_t> ended;
  std::vector<std::string> asked_rooms;
  std::vector<std::pair<std::string, std::string>> removed;
  size_t asked_max = 0;
  size_t room_count = 2;

  sfu::ParticipantInfo participant(const std::string& id, const std::string& identity, sfu::Path path) {
    sfu::ParticipantInfo p;
    p.id = id;
    p.identity = identity;
    p.path = path;
    p.region = path == sfu::Path::Unknown ? "" : "eu-west-1";
    p.joined_unix_ms = 1'790'000'000'123;
    p.connected = path != sfu::Path::Unknown;
    p.bytes_in = 1000;
    p.bytes_out = 2000;
    return p;
  }

  AdminBackend backend() {
    AdminBackend b;
    b.region = "eu-west-1";
    b.token = "0123456789abcdef";
    b.record = [](const turn::Allocation& a) {
      return allocation_record(a, RecordContext{"eu-west-1", "turnpike.test", {11'000, 1'790'000'010}, std::nullopt});
    };
    b.sessions.end_allocation = [this](uint64_t id, turn::Allocation& a) {
      ended.push_back(id);
      if (answer != Outcome::Done) return answer;
      if (id != 42) return Outcome::NotFound;
      a.id = id;
      a.user = "alice";
      a.five_tuple.client = *turn::Endpoint::parse("192.0.2.10:5000");
      a.five_tuple.server = *turn::Endpoint::parse("203.0.113.1:3478");
      return Outcome::Done;
    };
    b.sessions.rooms = [this](size_t max, std::vector<sfu::RoomInfo>& out) {
      asked_max = max;
      for (size_t i = 0; i < room_count && i < max; ++i) {
        sfu::RoomInfo r;
        r.name = "ward-" + std::to_string(i);
        r.participant_count = i + 1;
        out.push_back(r);
      }
      return answer;
    };
    b.sessions.room = [this](const std::string& name, sfu::RoomInfo& out) {
      asked_rooms.push_back(name);
      if (answer != Outcome::Done) return answer;
      if (name != "ward 9/x") return Outcome::NotFound;
      out.name = name;
      out.participants = {participant("a1", "nurse", sfu::Path::RelayUdp), participant("b2", "doctor", sfu::Path::Unknown)};
      out.participant_count = 2;
      return Outcome::Done;
    };
    b.sessions.remove_participant = [this](const std::string& room, const std::string& pid, sfu::ParticipantInfo& out) {
      removed.emplace_back(room, pid);
      if (answer != Outcome::Done) return answer;
      if (pid != "a1") return Outcome::NotFound;
      out = participant("a1", "nurse", sfu::Path::Direct);
      return Outcome::Done;
    };
    return b;
  }
  AdminServer::Response call(const std::string& method, const std::string& target, const std::string& auth = kAuth) {
    return AdminServer::route(backend(), method, target, auth);
  }
};

TEST_F(Sessions, DeleteEndsAnAllocationAndAnswersItsRecordWithEndReasonAdmin) {
  auto r = call("DELETE", "/api/v1/allocations/42");
  ASSERT_EQ(r.status, 200u) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["id"], "42");
  EXPECT_EQ(j["user"], "alice");
  EXPECT_EQ(j["end_reason"], "admin");
  EXPECT_EQ(ended, std::vector<uint64_t>{42});
}

TEST_F(Sessions, DeleteOfAnUnknownOrMalformedAllocationId) {
  EXPECT_EQ(call("DELETE", "/api/v1/allocations/43").status, 404u);
  for (const char* bad : {"/api/v1/allocations/x1", "/api/v1/allocations/-1", "/api/v1/allocations/1.5",
                          "/api/v1/allocations/", "/api/v1/allocations/99999999999999999999999"})
    EXPECT_EQ(call("DELETE", bad).status, 400u) << bad;
  EXPECT_EQ(ended, std::vector<uint64_t>{43}) << "a malformed id reaches no shard";
  answer = Outcome::Unavailable;
  EXPECT_EQ(call("DELETE", "/api/v1/allocations/42").status, 503u);
}

TEST_F(Sessions, TokenMethodsAndQueries) {
  auto r = call("DELETE", "/api/v1/allocations/42", "");
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(call("GET", "/api/v1/rooms", "Bearer wrong-token-000000").status, 401u);
  EXPECT_EQ(call("DELETE", "/api/v1/rooms/ward-9/participants/a1", "").status, 401u);
  EXPECT_TRUE(ended.empty() && removed.empty()) << "nothing happens without the token";
  auto post = call("POST", "/api/v1/allocations/42");
  EXPECT_EQ(post.status, 405u);
  ASSERT_EQ(post.headers.size(), 1u);
  EXPECT_EQ(post.headers[0].second, "GET, HEAD, DELETE");
  EXPECT_EQ(call("DELETE", "/api/v1/rooms").status, 405u);
  EXPECT_EQ(call("PUT", "/api/v1/rooms/ward-9").status, 405u);
  auto get = call("GET", "/api/v1/rooms/ward-9/participants/a1");
  EXPECT_EQ(get.status, 405u);
  EXPECT_EQ(get.headers[0].second, "DELETE");
  EXPECT_EQ(call("GET", "/api/v1/rooms?x=1").status, 400u);
  EXPECT_EQ(call("DELETE", "/api/v1/allocations/42?now=1").status, 400u);
  EXPECT_FALSE(is_sessions_request("GET", "/api/v1/allocations/42")) << "GET is still the live record's route";
  EXPECT_FALSE(is_sessions_request("HEAD", "/api/v1/allocations/42"));
  EXPECT_FALSE(is_sessions_request("DELETE", "/api/v1/allocations"));
  EXPECT_TRUE(is_sessions_request("DELETE", "/api/v1/allocations/42"));
}

TEST_F(Sessions, RoomPathsParse) {
  EXPECT_EQ(call("GET", "/api/v1/rooms/").status, 404u);
  EXPECT_EQ(call("GET", "/api/v1/rooms//participants/a1").status, 404u);
  EXPECT_EQ(call("DELETE", "/api/v1/rooms/ward-9/participant/a1").status, 404u);
  EXPECT_EQ(call("DELETE", "/api/v1/rooms/ward-9/participants/a1/x").status, 404u);
  EXPECT_EQ(call("GET", "/api/v1/roomsx").status, 404u);
  EXPECT_EQ(call("GET", "/api/v1/rooms/ward%2").status, 400u);
  EXPECT_EQ(call("GET", "/api/v1/rooms/ward%zz").status, 400u);
  EXPECT_EQ(call("GET", "/api/v1/rooms/" + std::string(257, 'r')).status, 400u);
  EXPECT_EQ(call("GET", "/api/v1/rooms/ward%209%2Fx").status, 200u) << "escapes decode: 'ward 9/x'";
  EXPECT_EQ(asked_rooms, std::vector<std::string>{"ward 9/x"});
}

TEST_F(Sessions, ListsRoomsBoundedAndOneRoomsParticipants) {
  auto list = json::parse(call("GET", "/api/v1/rooms").body);
  EXPECT_EQ(list["count"], 2);
  EXPECT_EQ(list["truncated"], false);
  EXPECT_EQ(list["rooms"][1], (json{{"id", "ward-1"}, {"participants", 2}}));
  room_count = 5000;
  list = json::parse(call("GET", "/api/v1/rooms").body);
  EXPECT_EQ(list["count"], 1000);
  EXPECT_EQ(list["truncated"], true);
  EXPECT_EQ(asked_max, 1001u);

  auto r = call("GET", "/api/v1/rooms/ward%209%2Fx");
  ASSERT_EQ(r.status, 200u);
  auto room = json::parse(r.body);
  EXPECT_EQ(room["id"], "ward 9/x");
  ASSERT_EQ(room["participants"].size(), 2u);
  const json& nurse = room["participants"][0];
  EXPECT_EQ(nurse["id"], "a1");
  EXPECT_EQ(nurse["identity"], "nurse");
  EXPECT_EQ(nurse["path"], "relay_udp");
  EXPECT_EQ(nurse["region"], "eu-west-1");
  EXPECT_EQ(nurse["joined_at"], "2026-09-21T14:13:20.123Z");
  EXPECT_EQ(nurse["bytes_in"], 1000);
  EXPECT_EQ(nurse["bytes_out"], 2000);
  EXPECT_TRUE(room["participants"][1]["path"].is_null()) << "not connected yet";
  EXPECT_TRUE(room["participants"][1]["region"].is_null());
  EXPECT_EQ(call("GET", "/api/v1/rooms/ward-10").status, 404u);
  EXPECT_EQ(call("HEAD", "/api/v1/rooms").status, 200u);
}

TEST_F(Sessions, DeleteRemovesAParticipant) {
  auto r = call("DELETE", "/api/v1/rooms/ward-9/participants/a1");
  ASSERT_EQ(r.status, 200u) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["room"], "ward-9");
  EXPECT_EQ(j["removed"]["id"], "a1");
  EXPECT_EQ(j["removed"]["identity"], "nurse");
  EXPECT_EQ(call("DELETE", "/api/v1/rooms/ward-9/participants/zz").status, 404u);
  EXPECT_EQ(removed.size(), 2u);
  answer = Outcome::Unavailable;
  EXPECT_EQ(call("DELETE", "/api/v1/rooms/ward-9/participants/a1").status, 503u);
  EXPECT_EQ(call("GET", "/api/v1/rooms").status, 503u);
}

TEST_F(Sessions, WithoutAnSfuTheRoomsAre404) {
  auto b = backend();
  b.sessions.rooms = nullptr;
  auto r = AdminServer::route(b, "GET", "/api/v1/rooms", kAuth);
  EXPECT_EQ(r.status, 404u);
  EXPECT_NE(r.body.find("no SFU"), std::string::npos);
}

}  // namespace
}  // namespace turnpike
