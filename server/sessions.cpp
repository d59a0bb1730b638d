// Sessions by API: the shard and SFU-thread halves (server/sessions.hpp).
#include "server/sessions.hpp"

#include <boost/asio/post.hpp>

#include <chrono>
#include <future>
#include <optional>

#include "server/sfu_host.hpp"
#include "server/shard.hpp"

namespace turnpike {

namespace {

// The future's value if it comes within the deadline; nullopt if not, or if its thread stopped first.
template <typename T>
std::optional<T> await(std::future<T> f) {
  if (f.wait_for(std::chrono::milliseconds(kSessionsAnswerMs)) != std::future_status::ready) return std::nullopt;
  try {
    return f.get();
  } catch (const std::future_error&) {
    return std::nullopt;  // broken promise: the thread stopped before answering
  }
}

// Runs `fn` on `io`'s thread; its result through a future.
template <typename T, typename Fn>
std::future<T> ask(boost::asio::io_context& io, Fn fn) {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  boost::asio::post(io, [promise, fn = std::move(fn)]() mutable { promise->set_value(fn()); });
  return future;
}

}  // namespace

std::future<std::optional<turn::Allocation>> Shard::end_allocation(uint64_t id) {
  return ask<std::optional<turn::Allocation>>(io_, [this, id] { return core_->end_allocation(id, now()); });
}

std::future<std::vector<sfu::RoomInfo>> SfuHost::rooms(size_t max) {
  return ask<std::vector<sfu::RoomInfo>>(io_, [this, max] { return engine_->rooms(max); });
}

std::future<std::optional<sfu::RoomInfo>> SfuHost::room(const std::string& name) {
  return ask<std::optional<sfu::RoomInfo>>(io_, [this, name] { return engine_->room(name); });
}

std::future<std::optional<sfu::ParticipantInfo>> SfuHost::remove_participant(const std::string& room,
                                                                               const std::string& participant) {
  return ask<std::optional<sfu::ParticipantInfo>>(io_, [this, room, participant] {
    return stopped_ ? std::nullopt : engine_->remove_participant(room, participant, now().mono_ms);
  });
}

namespace {

using Outcome = SessionsBackend::Outcome;

// Shard::Shard gives core i the ids (i << 48) + n: the id names the shard that owns it.
constexpr unsigned kShardIdShift = 48;

template <typename T>
Outcome outcome(const std::optional<std::optional<T>>& answer, T& out) {
  if (!answer) return Outcome::Unavailable;
  if (!*answer) return Outcome::NotFound;
  out = **answer;
  return Outcome::Done;
}

void wire_sfu(SessionsBackend& b, SfuHost* sfu) {
  b.rooms = [sfu](size_t max, std::vector<sfu::RoomInfo>& out) {
    auto answer = await(sfu->rooms(max));
    if (!answer) return Outcome::Unavailable;
    out = std::move(*answer);
    return Outcome::Done;
  };
  b.room = [sfu](const std::string& name, sfu::RoomInfo& out) { return outcome(await(sfu->room(name)), out); };
  b.remove_participant = [sfu](const std::string& room, const std::string& participant, sfu::ParticipantInfo& out) {
    return outcome(await(sfu->remove_participant(room, participant)), out);
  };
}

}  // namespace

SessionsBackend sessions_backend(const std::vector<std::unique_ptr<Shard>>& shards, SfuHost* sfu) {
  SessionsBackend b;
  b.end_allocation = [&shards](uint64_t id, turn::Allocation& ended) {
    uint64_t shard = id >> kShardIdShift;
    if (shard >= shards.size()) return Outcome::NotFound;
    return outcome(await(shards[shard]->end_allocation(id)), ended);
  };
  if (sfu) wire_sfu(b, sfu);
  return b;
}

}  // namespace turnpike
