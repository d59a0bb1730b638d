// Engine: what the admin API asks of the rooms (GET /api/v1/rooms, DELETE of a participant;
// docs/admin-api.md). Called on the engine's thread like everything else; answers are copies.
#include "sfu/engine_impl.hpp"

namespace sfu {

namespace {

ParticipantInfo info_of(const Participant& p, int64_t anchor_mono_ms, int64_t anchor_unix_ms) {
  ParticipantInfo i;
  i.id = p.id;
  i.identity = p.identity;
  i.path = p.path;
  if (p.counted_region) i.region = p.counted_region->region;
  i.joined_unix_ms = anchor_unix_ms + (p.lifecycle.joined_ms - anchor_mono_ms);
  i.connected = p.lifecycle.srtp_ready;
  i.bytes_in = p.bytes_in;
  i.bytes_out = p.bytes_out;
  i.tracks = p.published.size();
  return i;
}

}  // namespace

std::vector<RoomInfo> Engine::rooms(size_t max_rooms) const {
  std::vector<RoomInfo> out;
  for (const auto& [name, room] : impl_->rooms) {  // a std::map: ordered by name
    if (out.size() >= max_rooms) break;
    RoomInfo r;
    r.name = name;
    r.participant_count = room->participants.size();
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<RoomInfo> Engine::room(const std::string& name) const {
  auto it = impl_->rooms.find(name);
  if (it == impl_->rooms.end()) return std::nullopt;
  RoomInfo r;
  r.name = name;
  r.participant_count = it->second->participants.size();
  for (const auto& [_, p] : it->second->participants)  // bounded by max_participants_per_room
    r.participants.push_back(info_of(*p, impl_->anchor_mono_ms, impl_->anchor_unix_ms));
  return r;
}

std::optional<ParticipantInfo> Engine::remove_participant(const std::string& room, const std::string& participant,
                                                          int64_t now_ms) {
  auto it = impl_->rooms.find(room);
  if (it == impl_->rooms.end()) return std::nullopt;
  auto& members = it->second->participants;
  auto p = members.find(participant);
  if (p == members.end()) return std::nullopt;
  ParticipantInfo was = info_of(*p->second, impl_->anchor_mono_ms, impl_->anchor_unix_ms);
  ConnectionId c = p->second->conn;
  impl_->remove(*p->second, now_ms);  // tracks unpublished, the others told participant_left
  // Not a signalling error of the client's: sent as such but not counted in signalling_errors.
  impl_->sink.send_signal(c, dump_safe({{"type", "error"},
                                        {"code", "removed"},
                                        {"message", "removed from the room by the operator"}}));
  impl_->sink.close_signal(c, "removed");
  return was;
}

}  // namespace sfu
