// Engine: data residency (EngineConfig::admit): refused addresses get no answer, a participant with
// only refused addresses is sent to its region, a reloaded policy ends sessions it now refuses, and
// media sessions are counted per region.
#include "sfu/engine_impl.hpp"

namespace sfu {

bool Engine::Impl::serves(const EngineConfig::Admission& a) { return a.verdict == Verdict::Serve || a.verdict == Verdict::Drift; }

bool Engine::Impl::admitted(Participant& p, std::span<const uint8_t> check, const turn::Endpoint& from, int64_t now_ms) {
  if (!cfg.admit) return true;
  if (std::find(p.refused.begin(), p.refused.end(), from) != p.refused.end()) return false;
  if (!p.ice->authentic(check)) return true;  // on_stun() answers it with its error; nothing opens
  auto a = cfg.admit(from);
  if (serves(a)) return true;
  if (p.refused.size() >= kMaxRefused) p.refused.erase(p.refused.begin());
  p.refused.push_back(from);
  sink.residency_denied(a.region);
  if (!p.foreign) {
    p.foreign = std::move(a);
    p.foreign_since_ms = now_ms;
  }
  return false;
}

void Engine::Impl::tell_foreign(ConnectionId c, const EngineConfig::Admission& a) {
  std::string where = a.region.empty() ? std::string("no known region") : "region '" + a.region + "'";
  if (a.verdict == Verdict::Redirect && !a.signal_url.empty()) {
    sink.residency_redirect(a.region);
    return send_error(c, "wrong_region",
                      "your media comes from " + where + ", which this node (" + cfg.region +
                          ") does not serve; join at " + a.signal_url,
                      true, {{"region", a.region}, {"signal_url", a.signal_url}});
  }
  send_error(c, "forbidden_region",
             "your media comes from " + where + ", which this node (" + cfg.region + ") does not serve", true,
             {{"region", a.region}});
}

void Engine::Impl::count_region(Participant& p) {
  std::optional<EngineConfig::Admission> now;
  if (cfg.admit && p.counted.session && p.addr) now = cfg.admit(*p.addr);
  auto same = [](const std::optional<EngineConfig::Admission>& x, const std::optional<EngineConfig::Admission>& y) {
    if (!x || !y) return !x && !y;
    return x->region == y->region && x->verdict == y->verdict && x->via_own_relay == y->via_own_relay;
  };
  if (same(now, p.counted_region)) return;
  if (p.counted_region) uncount_region(p);
  if (now && serves(*now)) {
    sink.media_session_region(now->region, now->verdict == Verdict::Drift && !now->via_own_relay, +1);
    p.counted_region = std::move(now);
  }
}

void Engine::Impl::uncount_region(Participant& p) {
  if (!p.counted_region) return;
  const auto& c = *p.counted_region;
  sink.media_session_region(c.region, c.verdict == Verdict::Drift && !c.via_own_relay, -1);
  p.counted_region.reset();
}

void Engine::Impl::residency_changed(int64_t now_ms) {
  if (!cfg.admit) return;
  std::vector<std::pair<Participant*, EngineConfig::Admission>> ended;
  for (auto& [_, room] : rooms)
    for (auto& [__, pp] : room->participants) {
      Participant& p = *pp;
      p.refused.clear();
      p.foreign.reset();
      std::erase_if(p.addresses, [&](const turn::Endpoint& a) {
        if (serves(cfg.admit(a))) return false;
        by_addr.erase(a);
        return true;
      });
      // The selected address is judged itself: it may have left the bounded address list.
      std::optional<EngineConfig::Admission> selected_refused;
      if (p.addr)
        if (auto adm = cfg.admit(*p.addr); !serves(adm)) selected_refused = std::move(adm);
      if (selected_refused) ended.emplace_back(&p, std::move(*selected_refused));
      else count_region(p);
    }
  for (auto& [p, adm] : ended) {
    sink.residency_ended(adm.region);
    ConnectionId c = p->conn;
    remove(*p, now_ms, "residency");
    tell_foreign(c, adm);
  }
}

}  // namespace sfu
