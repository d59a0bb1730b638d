// The "quality" part of an allocation's record (server/quality_record.hpp).
#include "server/quality_record.hpp"

#include <cmath>

namespace turnpike {

namespace {

using nlohmann::json;

json ms_or_null(double ms) { return ms < 0 ? json(nullptr) : json(std::round(ms * 1000.0) / 1000.0); }

double ratio(uint64_t lost, uint64_t expected) {
  return expected ? static_cast<double>(lost) / static_cast<double>(expected) : 0.0;
}

json stream_json(const turn::StreamQuality& s) {
  json reported = nullptr;
  if (s.reported) {
    double jitter = s.clock_rate ? static_cast<double>(s.reported_jitter) * 1000.0 / s.clock_rate : -1;
    reported = {{"fraction_lost", s.reported_fraction / 256.0},
                {"cumulative_lost", s.reported_cumulative},
                {"jitter_ms", ms_or_null(jitter)}};
  }
  return {{"ssrc", s.ssrc},
          {"payload_type", s.payload_type},
          {"kind", s.kind()},
          {"clock_rate", s.clock_rate ? json(s.clock_rate) : json(nullptr)},
          {"packets", s.packets},
          {"bytes", s.bytes},
          {"expected", s.expected()},
          {"lost", s.lost()},
          {"loss_ratio", ratio(s.lost(), s.expected())},
          {"reordered", s.reordered},
          {"duplicates", s.duplicates},
          {"jitter_ms", ms_or_null(s.jitter_ms())},
          {"reported", reported}};
}

json direction_json(const turn::DirectionQuality& d) {
  json kinds = json::object();
  for (size_t k = 0; k < turn::rtp::kKinds; ++k) kinds[turn::rtp::to_string(static_cast<turn::rtp::Kind>(k))] = d.kinds[k];
  json streams = json::array();
  for (const auto& s : d.streams) streams.push_back(stream_json(s));
  return {{"packets", d.packets},
          {"bytes", d.bytes},
          {"kinds", kinds},
          {"expected", d.expected()},
          {"lost", d.lost()},
          {"loss_ratio", ratio(d.lost(), d.expected())},
          {"reordered", d.reordered()},
          {"duplicates", d.duplicates()},
          {"jitter_ms", ms_or_null(d.jitter_ms())},
          {"streams", streams},
          {"streams_untracked", d.streams_untracked},
          {"rtcp",
           {{"packets", d.kinds[static_cast<size_t>(turn::rtp::Kind::Rtcp)]},
            {"encrypted", d.rtcp_encrypted},
            {"report_blocks", d.report_blocks}}}};
}

json leg_json(const turn::LegRtt& l) {
  if (!l.samples) return nullptr;
  return {{"last", l.last_us / 1000.0},
          {"min", l.min_us / 1000.0},
          {"mean", static_cast<double>(l.sum_us) / static_cast<double>(l.samples) / 1000.0},
          {"samples", l.samples}};
}

}  // namespace

json quality_reasons(uint8_t reasons) {
  json out = json::array();
  static const std::pair<uint8_t, const char*> kNames[] = {
      {turn::kReasonLoss, "loss"}, {turn::kReasonJitter, "jitter"}, {turn::kReasonRtt, "rtt"}, {turn::kReasonTcp, "tcp"}};
  for (const auto& [bit, name] : kNames)
    if (reasons & bit) out.push_back(name);
  return out;
}

json quality_record(const turn::Allocation& a) {
  const turn::MediaQuality& q = a.quality;
  const auto& c = q.client_leg();
  const auto& p = q.peer_leg();
  json total = nullptr;
  if (c.samples || p.samples) total = ((c.samples ? c.last_us : 0) + (p.samples ? p.last_us : 0)) / 1000.0;
  json last = nullptr;
  if (const auto* s = q.last_sample()) {
    double loss = 0, jitter = -1;
    for (size_t i = 0; i < 2; ++i) {
      if (s->have_loss[i]) loss = std::max(loss, s->loss[i]);
      jitter = std::max(jitter, s->jitter_ms[i]);
    }
    last = {{"seconds", s->seconds}, {"loss_ratio", loss}, {"jitter_ms", ms_or_null(jitter)}};
  }
  bool over_tcp = a.five_tuple.transport == turn::Transport::Tcp || a.five_tuple.transport == turn::Transport::Tls;
  return {{"verdict", turn::to_string(q.verdict())},
          {"reasons", quality_reasons(q.reasons())},
          {"worst_verdict", turn::to_string(q.worst())},
          {"intervals",
           {{"good", q.intervals(turn::Verdict::Good)},
            {"degraded", q.intervals(turn::Verdict::Degraded)},
            {"bad", q.intervals(turn::Verdict::Bad)}}},
          {"media_over_tcp", q.media_over_tcp() || (over_tcp && q.has_media())},
          {"rtt_ms", {{"client", leg_json(c)}, {"peer", leg_json(p)}, {"total", total}}},
          {"last_interval", last},
          {"to_peer", direction_json(q.direction(turn::MediaQuality::ToPeer))},
          {"to_client", direction_json(q.direction(turn::MediaQuality::ToClient))}};
}

}  // namespace turnpike
