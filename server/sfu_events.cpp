// SfuHost's log lines for participants (issue 17, docs/logs.md): sfu_join, sfu_join_refused and
// sfu_leave, through event_log.hpp's rate limits and log.redact_users.
#include "server/event_log.hpp"
#include "server/sfu_host.hpp"

namespace turnpike {

namespace {

nlohmann::ordered_json participant_fields(const sfu::EngineSink::ParticipantEvent& e, const std::string& client) {
  nlohmann::ordered_json j = {{"room", e.room}, {"identity", events::user(e.identity)}};
  if (!e.participant.empty()) j["participant"] = e.participant;
  if (!client.empty()) j["client"] = client;
  return j;
}

}  // namespace

std::string SfuHost::signal_client(sfu::ConnectionId c) const {
  auto it = signals_.find(c);
  return it == signals_.end() ? std::string() : it->second->client();
}

void SfuHost::participant_joined(const ParticipantEvent& e) {
  events::emit(LogKind::SfuJoin, log::Level::Info, "sfu_join", participant_fields(e, signal_client(e.conn)));
}

void SfuHost::join_refused(const ParticipantEvent& e) {
  auto j = participant_fields(e, signal_client(e.conn));
  j["code"] = e.code;
  events::emit(LogKind::SfuJoinRefused, log::Level::Warn, "sfu_join_refused", std::move(j));
}

void SfuHost::participant_left(const ParticipantEvent& e) {
  auto j = participant_fields(e, signal_client(e.conn));
  j["path"] = e.path == sfu::Path::Unknown ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(sfu::to_string(e.path));
  j["code"] = e.code;
  events::emit(LogKind::SfuLeave, log::Level::Info, "sfu_leave", std::move(j));
}

}  // namespace turnpike
