// report.json of `turnpike-loadgen sfu` (sfu_engine.hpp; the format is in docs/loadgen.md): who
// joined, connected and failed (and why), what each publisher sent, what each subscriber should
// have received of each publisher track and did, the totals, and the loadgen's own CPU.
#include <algorithm>

#include "loadgen/sfu_engine.hpp"

namespace loadgen::sfuload {
namespace {

using json = nlohmann::json;
constexpr size_t kMaxListedFailures = 100;

double pct(uint64_t part, uint64_t whole) { return whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0; }

json quantiles(std::vector<int64_t> v) {
  if (v.empty()) return nullptr;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))]; };
  return {{"p50", at(0.5)}, {"p95", at(0.95)}, {"max", v.back()}};
}

}  // namespace

// One subscriber: per publisher track of its room, expected (the publisher's packets from the first
// received to its last), received, lost. A live track of a connected publisher that never arrived
// is a reason to fail the run.
json SfuEngine::subscriber_json(const Participant& s, json& totals, std::vector<std::string>& reasons) const {
  json tracks = json::array();
  uint64_t expected = 0, received = 0;
  const std::string& room = rooms_[s.config().index];
  for (const auto& p : parts_) {
    if (!p->config().publisher || rooms_[p->config().index] != room) continue;
    for (const auto& c : p->sending()) {
      auto r = s.receiving().find(c.ssrc);
      if (r == s.receiving().end()) {
        if (s.connect_ms() >= 0 && c.sent > 0)
          reasons.push_back("subscriber " + std::to_string(s.config().index) + " received nothing of SSRC " + std::to_string(c.ssrc));
        tracks.push_back({{"ssrc", c.ssrc}, {"publisher", c.publisher}, {"kind", c.video ? "video" : "audio"}, {"received", 0}});
        continue;
      }
      const uint64_t e = c.sent - r->second.first_index, got = r->second.received;
      expected += e;
      received += got;
      tracks.push_back({{"ssrc", c.ssrc}, {"publisher", c.publisher}, {"kind", c.video ? "video" : "audio"},
                        {"expected", e}, {"received", got}, {"lost", e > got ? e - got : 0}});
    }
  }
  const uint64_t lost = expected > received ? expected - received : 0;
  totals["expected"] = totals.value("expected", uint64_t{0}) + expected;
  totals["received"] = totals.value("received", uint64_t{0}) + received;
  totals["lost"] = totals.value("lost", uint64_t{0}) + lost;
  totals["undecryptable"] = totals.value("undecryptable", uint64_t{0}) + s.undecryptable();
  if (pct(lost, expected) > cfg_.max_loss_pct)
    reasons.push_back("subscriber " + std::to_string(s.config().index) + " lost " + std::to_string(lost) + " of " +
                      std::to_string(expected) + " packets");
  return {{"index", s.config().index}, {"room", room}, {"id", s.id()}, {"connect_ms", s.connect_ms()},
          {"expected", expected}, {"received", received}, {"lost", lost}, {"loss_pct", pct(lost, expected)},
          {"undecryptable", s.undecryptable()}, {"tracks", tracks}};
}

json SfuEngine::report() const {
  json pubs = json::array(), subs = json::array(), failures = json::array(), by_reason = json::object();
  json totals = {{"sent", 0}, {"expected", 0}, {"received", 0}, {"lost", 0}, {"undecryptable", 0}};
  std::vector<std::string> reasons;
  std::vector<int64_t> connect;
  uint32_t joined = 0, connected = 0, failed = 0;
  for (const auto& p : parts_) {
    const ParticipantConfig& c = p->config();
    joined += !p->id().empty();
    connected += p->connect_ms() >= 0;
    if (p->connect_ms() >= 0) connect.push_back(p->connect_ms());
    if (p->state() == Participant::State::Failed) {
      ++failed;
      by_reason[p->failure()] = by_reason.value(p->failure(), 0) + 1;
      if (failures.size() < kMaxListedFailures)
        failures.push_back({{"index", c.index}, {"role", c.publisher ? "publisher" : "subscriber"}, {"reason", p->failure()}});
    }
    if (c.publisher) {
      json tracks = json::array();
      for (const auto& s : p->sending()) {
        tracks.push_back({{"ssrc", s.ssrc}, {"kind", s.video ? "video" : "audio"}, {"sent", s.sent}});
        totals["sent"] = totals["sent"].get<uint64_t>() + s.sent;
      }
      pubs.push_back({{"index", c.index}, {"room", rooms_[c.index]}, {"id", p->id()}, {"connect_ms", p->connect_ms()},
                      {"plis", p->plis()}, {"tracks", tracks}});
    } else {
      subs.push_back(subscriber_json(*p, totals, reasons));
    }
  }
  if (failed > 0) reasons.insert(reasons.begin(), std::to_string(failed) + " participants failed");
  if (stopped_) reasons.insert(reasons.begin(), "stopped before every participant had connected");
  totals["loss_pct"] = pct(totals["lost"].get<uint64_t>(), totals["expected"].get<uint64_t>());
  const double media_s = static_cast<double>(end_ms_ - media_ms_) / 1000.0;
  json r = {{"mode", "sfu"}, {"meta", cfg_.meta},
            {"config", {{"rooms", cfg_.rooms}, {"publishers", cfg_.publishers}, {"subscribers_per_room", cfg_.subscribers},
                        {"audio", cfg_.audio}, {"video_kbps", cfg_.video_kbps}, {"video_pps", cfg_.video_pps},
                        {"video_payload", cfg_.video_payload()}, {"duration_ms", cfg_.duration_ms},
                        {"max_loss_pct", cfg_.max_loss_pct}, {"room", cfg_.room}, {"region", cfg_.region}}},
            {"participants", {{"total", parts_.size()}, {"joined", joined}, {"connected", connected}, {"failed", failed}}},
            {"connect_ms", quantiles(connect)}, {"failures", failures}, {"failures_by_reason", by_reason},
            {"publishers", pubs}, {"subscribers", subs}, {"totals", totals},
            {"media_seconds", media_s},
            {"loadgen_cpu", {{"seconds", cpu_media_end_ - cpu_media_start_},
                             {"cores", media_s > 0 ? (cpu_media_end_ - cpu_media_start_) / media_s : 0.0}}},
            {"reasons", reasons}, {"result", reasons.empty() ? "ok" : "fail"}};
  return r;
}

int SfuEngine::exit_status(const json& report) { return report.value("result", std::string()) == "ok" ? 0 : 1; }

}  // namespace loadgen::sfuload
