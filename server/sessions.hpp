// Sessions by API (docs/admin-api.md): what the admin thread asks of the shards and the SFU thread to
// end an allocation, list rooms and remove a participant. Each request is posted to the thread that
// owns the state and answered through a std::future the admin thread waits on for a bounded time.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sfu/engine.hpp"
#include "turn/allocation.hpp"

namespace turnpike {

class Shard;
class SfuHost;

struct SessionsBackend {
  // NotFound: no such allocation, room or participant; Unavailable: the owning thread did not answer
  // in time (or is stopping).
  enum class Outcome : uint8_t { Done, NotFound, Unavailable };
  // Ends allocation `id` on the shard its id names (end_reason admin); `ended` is it as it ended.
  std::function<Outcome(uint64_t id, turn::Allocation& ended)> end_allocation;
  // The SFU's rooms (at most `max`, ordered by name); one room with its participants; removing one
  // participant (`removed` is it just before). Unset when the node runs no SFU.
  std::function<Outcome(size_t max, std::vector<sfu::RoomInfo>& out)> rooms;
  std::function<Outcome(const std::string& room, sfu::RoomInfo& out)> room;
  std::function<Outcome(const std::string& room, const std::string& participant, sfu::ParticipantInfo& removed)>
      remove_participant;
};

// How long the admin thread waits for a shard or the SFU thread (as for GET /api/v1/allocations).
inline constexpr int64_t kSessionsAnswerMs = 2'000;

// The backend over the node's shards and SFU host (null: no SFU). Both outlive the admin server.
SessionsBackend sessions_backend(const std::vector<std::unique_ptr<Shard>>& shards, SfuHost* sfu);

}  // namespace turnpike
