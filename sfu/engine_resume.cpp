// Engine: protocol version 2 (sfu/PROTOCOL.md "Version 2"): session tokens, participants kept for a
// while after their WebSocket closes and resumed by a new one, and track mute state.
#include "sfu/engine_impl.hpp"

namespace sfu {

namespace {

constexpr size_t kSessionTokenBytes = 24;  // 192 random bits, hex: unguessable within any grace

// Constant-time comparison: the token is looked up by hash first, then compared in full.
bool same_token(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

json track_json(const Track& t) {
  return {{"id", t.id}, {"kind", t.video ? "video" : "audio"}, {"muted", t.muted}};
}

}  // namespace

void Engine::Impl::start_session(Participant& p, const json& join_msg, json& joined) {
  const json* v = join_msg.contains("version") ? &join_msg["version"] : nullptr;
  if (!v || !v->is_number_integer() || v->get<int64_t>() < 2) return;  // version 1: as before
  p.resume.version = 2;
  joined["version"] = 2;
  // What this SFU does beyond the base protocol: the SDK sends a camera's simulcast layers only
  // when the list has "simulcast" (sfu.simulcast).
  joined["features"] = json::array();
  if (cfg.simulcast) joined["features"].push_back("simulcast");
  if (cfg.resume_grace_ms <= 0) return;
  p.resume.token = random_id(kSessionTokenBytes);
  by_token[p.resume.token] = &p;
  joined["session_token"] = p.resume.token;
  joined["resume_grace"] = static_cast<double>(cfg.resume_grace_ms) / 1000.0;
}

bool Engine::Impl::detach(Participant& p, int64_t now_ms) {
  if (p.resume.token.empty() || cfg.resume_grace_ms <= 0) return false;
  size_t detached = 0;
  Participant* oldest = nullptr;
  for (auto& [_, q] : by_token) {
    if (!q->resume.detached_ms) continue;
    ++detached;
    if (!oldest || q->resume.detached_ms < oldest->resume.detached_ms) oldest = q;
  }
  if (detached >= cfg.max_resumable) {
    if (!oldest) return false;
    remove(*oldest, now_ms, "resume_limit");  // bounded: the longest waiting gives way
  }
  by_conn.erase(p.conn);
  p.resume.detached_ms = now_ms;  // p.conn stays: what is sent to it goes nowhere until a resume
  return true;
}

void Engine::Impl::forget_session(Participant& p) {
  if (p.resume.token.empty()) return;
  by_token.erase(p.resume.token);
  p.resume.token.clear();
}

void Engine::Impl::resume(ConnectionId c, const json& msg, int64_t now_ms) {
  const json* tok = msg.contains("session_token") ? &msg["session_token"] : nullptr;
  if (!tok || !tok->is_string()) return send_error(c, "malformed", "'resume' needs a 'session_token' string", false);
  const std::string& token = tok->get_ref<const std::string&>();
  auto it = by_token.find(token);
  if (it == by_token.end() || !same_token(it->second->resume.token, token))
    return send_error(c, "resume_failed", "no session to resume with this token (expired or unknown): join again",
                      true);
  Participant& p = *it->second;
  const ConnectionId old = p.conn;
  if (!p.resume.detached_ms) {  // the old WebSocket is not known to be gone yet (a silent drop)
    by_conn.erase(old);
    sink.close_signal(old, "resumed");
  }
  if (p.counted.session) {  // the host counts sessions by connection: move it to the new one
    sink.media_session_path(old, p.path, Path::Unknown);
    sink.media_session_path(c, Path::Unknown, p.path);
  }
  p.conn = c;
  p.resume.detached_ms = 0;
  by_conn[c] = &p;
  json others = json::array();
  for (const auto& [_, o] : p.room->participants)
    if (o.get() != &p) others.push_back(participant_json(*o));
  json own = json::array();
  for (const auto& [_, t] : p.published) own.push_back(track_json(*t));
  json servers = json::parse(cfg.ice_servers ? cfg.ice_servers(p.identity) : "[]", nullptr, false);
  send(p, {{"type", "resumed"}, {"participant", p.id}, {"room", p.room->name}, {"identity", p.identity},
           {"region", cfg.region}, {"version", 2}, {"session_token", p.resume.token},
           {"ice_servers", servers.is_discarded() ? json::array() : servers}, {"participants", others},
           {"tracks", own}, {"path", p.path == Path::Unknown ? json(nullptr) : json(to_string(p.path))}});
  sink.signal_joined(c);
  (void)now_ms;
}

void Engine::Impl::mute(Participant& p, const json& msg) {
  const json* muted = msg.contains("muted") ? &msg["muted"] : nullptr;
  if (!muted || !muted->is_boolean()) return send_error(p.conn, "malformed", "'mute' needs a boolean 'muted'", false);
  Track* t = nullptr;
  if (msg.contains("track") && msg["track"].is_string()) {
    for (auto& [_, pt] : p.published)
      if (pt->id == msg["track"].get_ref<const std::string&>()) t = pt.get();
  } else if (msg.contains("mid") && msg["mid"].is_string()) {
    auto it = p.published.find(msg["mid"].get<std::string>());
    if (it != p.published.end()) t = it->second.get();
  }
  if (!t) return send_error(p.conn, "malformed", "'mute' names none of this participant's tracks", false);
  const bool now_muted = muted->get<bool>();
  if (t->muted == now_muted) return;
  t->muted = now_muted;
  broadcast(*p.room, {{"type", now_muted ? "track_muted" : "track_unmuted"}, {"participant", p.id}, {"track", t->id}},
            &p);
}

void Engine::Impl::expire_detached(int64_t now_ms) {
  std::vector<Participant*> expired;
  for (auto& [_, p] : by_token)
    if (p->resume.detached_ms && now_ms - p->resume.detached_ms >= cfg.resume_grace_ms) expired.push_back(p);
  for (Participant* p : expired) remove(*p, now_ms, "resume_timeout");
}

}  // namespace sfu
