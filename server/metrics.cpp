#include "server/metrics.hpp"

#include "server/event_log.hpp"
#include "server/idle_timers.hpp"
#include "server/metric_family.hpp"
#include "server/metrics_deprecated.hpp"
#include "sfu/signal_limits.hpp"

#include <algorithm>
#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <dirent.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

namespace turnpike {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr int kCodeValues[Metrics::kCodes - 1] = {200, 300, 400, 401, 403, 420, 437, 438, 440,
                                                  441, 442, 443, 446, 447, 486, 500, 508};
// The methods turnpike_requests_total counts by name, in index order; any other counts as "other".
constexpr turn::stun::Method kCountedMethods[Metrics::kMethods - 1] = {
    turn::stun::Method::Binding, turn::stun::Method::Allocate, turn::stun::Method::Refresh,
    turn::stun::Method::CreatePermission, turn::stun::Method::ChannelBind};

// Label values come from the enums' to_string: index i is the enum value i.
const char* method_label(size_t i) {
  return i < Metrics::kMethods - 1 ? turn::stun::to_string(kCountedMethods[i]) : "other";
}
const char* transport_label(size_t t) { return turn::to_string(static_cast<turn::Transport>(t)); }

size_t code_index(int code) {
  for (size_t i = 0; i < Metrics::kCodes - 1; ++i)
    if (kCodeValues[i] == code) return i;
  return Metrics::kCodes - 1;
}

std::string code_label(size_t i) { return i < Metrics::kCodes - 1 ? std::to_string(kCodeValues[i]) : "other"; }

const char* result_label(size_t code, bool challenge) {
  if (challenge) return "challenge";
  return code == 0 ? "success" : "error";
}

size_t method_index(turn::stun::Method m) {
  for (size_t i = 0; i < Metrics::kMethods - 1; ++i)
    if (kCountedMethods[i] == m) return i;
  return Metrics::kMethods - 1;
}

using metric::add;
using metric::family;

// Buckets for allocation setup (request to success, spans the 401 round trip): 1 ms to 10 s.
const prometheus::Histogram::BucketBoundaries kSetupBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                               0.25,  0.5,    1,     2.5,  5,     10};
// Buckets for allocation lifetimes: 1 s to 8 h (long consults, and the idle-timer marks 15-60 min).
const prometheus::Histogram::BucketBoundaries kLifetimeBuckets = {1,    5,    10,   30,   60,    120,   300,  600,
                                                                  900,  1800, 2700, 3600, 7200, 14400, 28800};

}  // namespace

const char* to_string(ServerDrop d) {
  switch (d) {
    case ServerDrop::Quota: return "quota";
    case ServerDrop::SendFailed: return "send_failed";
    case ServerDrop::TooBig: return "too_big";
  }
  return "?";
}

const char* to_string(Metrics::Component c) {
  switch (c) {
    case Metrics::Component::Shard: return "shard";
    case Metrics::Component::Admin: return "admin";
    case Metrics::Component::Sfu: return "sfu";
    case Metrics::Component::Main: return "main";
  }
  return "?";
}

const char* to_string(Metrics::Refused r) { return r == Metrics::Refused::PerPrefix ? "per_prefix" : "total"; }

const char* to_string(Metrics::SiteTable t) { return t == Metrics::SiteTable::Labels ? "labels" : "idle_timers"; }

Metrics::Metrics(const std::string& version, const std::string& region)
    : registry_(std::make_shared<prometheus::Registry>()) {
  prometheus::BuildGauge()
      .Name("turnpike_build_info")
      .Help("Build and placement of this node: always 1")
      .Register(*registry_)
      .Add({{"version", version}, {"region", region}})
      .Set(1);
  register_allocation_families();
  register_region_families();
  register_idle_families();
  register_sfu_families();
  register_call_families();
}

// Allocation setup and lifetime histograms, by transport and end reason.
void Metrics::register_allocation_families() {
  setup_family_ = &prometheus::BuildHistogram()
                       .Name("turnpike_allocation_setup_seconds")
                       .Help("From a 5-tuple's first Allocate request to its success response (spans the 401 round trip)")
                       .Register(*registry_);
  lifetime_family_ = &prometheus::BuildHistogram()
                          .Name("turnpike_allocation_lifetime_seconds")
                          .Help("How long allocations lived, observed when they end")
                          .Register(*registry_);
  for (size_t t = 0; t < 4; ++t) setup_seconds_[t] = &setup_family_->Add({{"transport", transport_label(t)}}, kSetupBuckets);
  for (size_t r = 0; r < turn::kEndReasons; ++r)
    lifetime_seconds_[r] = &lifetime_family_->Add({{"end_reason", turn::to_string(static_cast<turn::EndReason>(r))}},
                                                    kLifetimeBuckets);
}

// NAT classifications, and data residency: sessions by region, drift, refusals, redirects, ends.
void Metrics::register_region_families() {
  nat_clients_ = &prometheus::BuildCounter()
                     .Name("turnpike_nat_clients_total")
                     .Help("Clients whose NAT behaviour was classified (RFC 4787/5780 terms), by site; source active "
                           "(turnpike-diag reports) or passive (inferred from live traffic)")
                     .Register(*registry_);
  sessions_ = &prometheus::BuildGauge()
                  .Name("turnpike_sessions")
                  .Help("Live allocations by the client's region and the region that serves them (data residency)")
                  .Register(*registry_);
  drift_ = &prometheus::BuildGauge()
                .Name("turnpike_region_drift_sessions")
                .Help("Live allocations and direct SFU media sessions served here although their client belongs to "
                      "another region (foreign_clients: serve)")
                .Register(*registry_);
  sfu_region_sessions_ = &prometheus::BuildGauge()
                             .Name("turnpike_sfu_region_sessions")
                             .Help("Live SFU media sessions by the region their media comes from and the region that "
                                   "serves them (data residency)")
                             .Register(*registry_);
  denied_ = &prometheus::BuildCounter()
                 .Name("turnpike_residency_denied_total")
                 .Help("Requests refused by data residency: kind peer, client or credential; region the one it belongs to")
                 .Register(*registry_);
  redirects_ = &prometheus::BuildCounter()
                    .Name("turnpike_residency_redirects_total")
                    .Help("Clients sent to their own region: Allocate answered 300 ALTERNATE-SERVER, SFU participants told its signal_url")
                    .Register(*registry_);
  residency_ended_ = &prometheus::BuildCounter()
                         .Name("turnpike_residency_ended_total")
                         .Help("Allocations and SFU media sessions ended because a reloaded residency policy forbids them (SIGHUP)")
                         .Register(*registry_);
  residency_revoked_ = &prometheus::BuildCounter()
                           .Name("turnpike_residency_revoked_total")
                           .Help("Permissions and channels removed because a reloaded policy no longer allows their peer")
                           .Register(*registry_);
}

// Idle-timer evidence (docs/idle-timers.md): rebindings, silent gaps, ages at loss.
void Metrics::register_idle_families() {
  rebindings_ = &prometheus::BuildCounter()
                    .Name("turnpike_rebindings_total")
                    .Help("Clients back on a new 5-tuple with the same credentials after a silence: their NAT mapping died")
                    .Register(*registry_);
  gap_family_ = &prometheus::BuildHistogram()
                     .Name("turnpike_flow_silent_gap_seconds")
                     .Help("Silences on UDP flows (both directions) of a second or more, by what followed: the client carried "
                           "on (survived) or came back on a new 5-tuple (rebound)")
                     .Register(*registry_);
  {
    const prometheus::Histogram::BucketBoundaries b = {1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600};
    gap_seconds_[0] = &gap_family_->Add({{"outcome", "survived"}}, b);
    gap_seconds_[1] = &gap_family_->Add({{"outcome", "rebound"}}, b);
  }
  loss_family_ = &prometheus::BuildHistogram()
                      .Name("turnpike_session_age_at_loss_seconds")
                      .Help("Age of sessions lost before their client ended them, by cause")
                      .Register(*registry_);
  for (size_t i = 0; i < turn::kLossCauses; ++i)
    loss_age_[i] = &loss_family_->Add({{"cause", turn::to_string(static_cast<turn::LossCause>(i))}}, kLifetimeBuckets);
}

// The SFU's histograms and signalling refusals.
void Metrics::register_sfu_families() {
  sfu_join_ = &prometheus::BuildHistogram()
                   .Name("turnpike_sfu_join_seconds")
                   .Help("SFU: from a participant's join to its first media packet")
                   .Register(*registry_)
                   .Add({}, prometheus::Histogram::BucketBoundaries{0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30});
  register_sfu_site_families();
  register_quality_families();
  sfu_signal_rejected_ = &prometheus::BuildCounter()
                             .Name("turnpike_sfu_signal_rejected_total")
                             .Help("SFU: signalling connections refused or closed by a limit (sfu.max_connections, "
                                   "sfu.max_connections_per_ip, sfu.join_timeout, message size)")
                             .Register(*registry_);
  for (size_t r = 1; r < sfu::kSignalRejects; ++r)
    sfu_signal_rejected_->Add({{"reason", sfu::to_string(static_cast<sfu::SignalReject>(r))}});
}

void Metrics::request_done(turn::stun::Method m, int code, turn::Transport t, bool challenge) {
  size_t ci = code_index(code);
  size_t ch = challenge ? 1 : 0;
  requests_[method_index(m)][ci][ch].fetch_add(1, std::memory_order_relaxed);
  if (m == turn::stun::Method::Allocate)
    allocates_[static_cast<size_t>(t) & 3][ci][ch].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::auth_failed(turn::AuthFailure f) {
  auth_failures_[static_cast<size_t>(f) % auth_failures_.size()].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::allocation_created(const turn::Allocation& a) {
  quality_created(a);
  setup_seconds_[static_cast<size_t>(a.five_tuple.transport) & 3]->Observe(static_cast<double>(a.setup_ms) / 1000.0);
  if (!a.served_region.empty()) {
    std::string client = a.client_region.empty() ? "unknown" : a.client_region;
    sessions_->Add({{"client_region", client}, {"served_region", a.served_region}}).Increment();
    if (a.drift) drift_->Add({{"client_region", client}}).Increment();
  }
}

void Metrics::allocation_ended(const turn::Allocation& a, turn::EndReason why, int64_t now_ms) {
  quality_ended(a);
  lifetime_seconds_[static_cast<size_t>(why) % turn::kEndReasons]->Observe(static_cast<double>(now_ms - a.created_ms) / 1000.0);
  if (!a.served_region.empty()) {
    std::string client = a.client_region.empty() ? "unknown" : a.client_region;
    sessions_->Add({{"client_region", client}, {"served_region", a.served_region}}).Decrement();
    if (a.drift) drift_->Add({{"client_region", client}}).Decrement();
  }
}

void Metrics::server_drop(ServerDrop d, turn::Transport t) {
  server_drops_[static_cast<size_t>(d)][static_cast<size_t>(t) & 3].fetch_add(1, std::memory_order_relaxed);
}

namespace {

// A counter or gauge of turn::CoreStats summed over every shard's core.
template <class Read>
double sum(const std::vector<const turn::CoreStats*>& cores, Read read) {
  uint64_t n = 0;
  for (const auto* c : cores) n += read(*c);
  return static_cast<double>(n);
}

// Live allocations, permissions and channel bindings.
std::vector<MetricFamily> live_families(const std::vector<const turn::CoreStats*>& cores) {
  using S = turn::CoreStats;
  auto allocations = family("turnpike_allocations", "Live allocations by client transport and relayed address family",
                            MetricType::Gauge);
  for (size_t t = 0; t < S::kTransports; ++t)
    for (size_t f = 0; f < S::kFamilies; ++f)
      add(allocations, {{"transport", transport_label(t)}, {"family", turn::relay_family_name(f)}},
          sum(cores, [&](const S& c) { return c.allocations[t][f].get(); }));
  auto permissions = family("turnpike_permissions", "Live permissions (RFC 8656 9) over all allocations", MetricType::Gauge);
  auto channels = family("turnpike_channel_bindings", "Live channel bindings (RFC 8656 12) over all allocations",
                         MetricType::Gauge);
  add(permissions, {}, sum(cores, [](const S& c) { return c.permissions.get(); }));
  add(channels, {}, sum(cores, [](const S& c) { return c.channel_bindings.get(); }));
  return {allocations, permissions, channels};
}

// RFC 5780 answers, and issue 14's limits: the per-source budget of unauthenticated answers and
// the per-allocation tables.
std::vector<MetricFamily> limit_families(const std::vector<const turn::CoreStats*>& cores) {
  using S = turn::CoreStats;
  auto nat_answers = family("turnpike_nat_discovery_responses_total",
                            "RFC 5780 Binding responses (with OTHER-ADDRESS and RESPONSE-ORIGIN)", MetricType::Counter);
  auto nat_limited = family("turnpike_nat_discovery_limited_total",
                            "RFC 5780 requests over the per-source limit (answered plainly, or dropped if redirected)",
                            MetricType::Counter);
  add(nat_answers, {}, sum(cores, [](const S& c) { return c.nat_discovery_responses.get(); }));
  add(nat_limited, {}, sum(cores, [](const S& c) { return c.nat_discovery_limited.get(); }));
  auto unauth_limited = family("turnpike_unauthenticated_limited_total",
                               "Answers to unauthenticated UDP requests dropped: larger than the request, over the "
                               "source's excess-byte budget (limits.unauthenticated_excess_*)",
                               MetricType::Counter);
  auto unauth_sources = family("turnpike_unauthenticated_sources",
                               "Sources (IPv4 address, IPv6 /64) the unauthenticated budget tracks", MetricType::Gauge);
  auto unauth_full = family("turnpike_unauthenticated_sources_full_total",
                            "Unauthenticated answers dropped because the budget's source table was full",
                            MetricType::Counter);
  auto table_limit = family("turnpike_allocation_table_limit_total",
                            "CreatePermission/ChannelBind refused with 508 at limits.max_permissions_per_allocation "
                            "or limits.max_channels_per_allocation",
                            MetricType::Counter);
  add(unauth_limited, {}, sum(cores, [](const S& c) { return c.unauth_limited.get(); }));
  add(unauth_sources, {}, sum(cores, [](const S& c) { return c.unauth_sources.get(); }));
  add(unauth_full, {}, sum(cores, [](const S& c) { return c.unauth_sources_full.get(); }));
  add(table_limit, {{"table", "permissions"}}, sum(cores, [](const S& c) { return c.permission_limit.get(); }));
  add(table_limit, {{"table", "channels"}}, sum(cores, [](const S& c) { return c.channel_limit.get(); }));
  return {nat_answers, nat_limited, unauth_limited, unauth_sources, unauth_full, table_limit};
}

}  // namespace

// Bytes and packets relayed, and packets dropped (the cores' reasons, plus the server's own).
std::vector<MetricFamily> Metrics::relay_families(const std::vector<const turn::CoreStats*>& cores) const {
  using S = turn::CoreStats;
  auto bytes = family("turnpike_relay_bytes_total", "Application bytes relayed (payload, without TURN framing)",
                      MetricType::Counter);
  auto packets = family("turnpike_relay_packets_total", "Packets relayed", MetricType::Counter);
  for (size_t t = 0; t < S::kTransports; ++t) {
    const char* transport = transport_label(t);
    add(bytes, {{"direction", "to_peer"}, {"transport", transport}}, sum(cores, [&](const S& c) { return c.bytes_to_peer[t].get(); }));
    add(bytes, {{"direction", "to_client"}, {"transport", transport}},
        sum(cores, [&](const S& c) { return c.bytes_to_client[t].get(); }));
    add(packets, {{"direction", "to_peer"}, {"transport", transport}},
        sum(cores, [&](const S& c) { return c.packets_to_peer[t].get(); }));
    add(packets, {{"direction", "to_client"}, {"transport", transport}},
        sum(cores, [&](const S& c) { return c.packets_to_client[t].get(); }));
  }
  auto server_dropped = [this](ServerDrop d) {
    uint64_t n = 0;
    for (size_t t = 0; t < 4; ++t) n += server_drops_[static_cast<size_t>(d)][t].load(std::memory_order_relaxed);
    return n;
  };
  auto dropped = family("turnpike_relay_dropped_packets_total", "Packets not relayed, by reason", MetricType::Counter);
  for (size_t r = 0; r < S::kDropReasons; ++r) {
    double n = sum(cores, [&](const S& c) { return c.dropped[r].get(); });
    if (r == static_cast<size_t>(turn::DropReason::Quota)) n += static_cast<double>(server_dropped(ServerDrop::Quota));
    add(dropped, {{"reason", turn::to_string(static_cast<turn::DropReason>(r))}}, n);
  }
  for (ServerDrop d : {ServerDrop::SendFailed, ServerDrop::TooBig})
    add(dropped, {{"reason", to_string(d)}}, static_cast<double>(server_dropped(d)));
  return {bytes, packets, dropped};
}

std::vector<MetricFamily> Metrics::core_families(const std::vector<const turn::CoreStats*>& cores) const {
  std::vector<MetricFamily> out = live_families(cores);
  for (auto& f : relay_families(cores)) out.push_back(std::move(f));
  for (auto& f : limit_families(cores)) out.push_back(std::move(f));
  return out;
}

std::vector<MetricFamily> Metrics::counter_families() const {
  auto requests = family("turnpike_requests_total",
                         "STUN/TURN requests answered, by method and response code (200: success); result is "
                         "success, challenge (the 401/438 first round of the credential mechanism) or error",
                         MetricType::Counter);
  for (size_t m = 0; m < kMethods; ++m)
    for (size_t c = 0; c < kCodes; ++c)
      for (size_t ch = 0; ch < 2; ++ch) {
        uint64_t n = requests_[m][c][ch].load(std::memory_order_relaxed);
        // Success and the common answers always appear, so rate() has a series from the start.
        if (n == 0 && !(ch == 0 && c == 0)) continue;
        add(requests, {{"method", method_label(m)}, {"code", code_label(c)}, {"result", result_label(c, ch)}},
            static_cast<double>(n));
      }
  auto allocs = family("turnpike_allocate_requests_total", "Allocate requests answered, by client transport and result",
                       MetricType::Counter);
  for (size_t t = 0; t < 4; ++t)
    for (size_t c = 0; c < kCodes; ++c)
      for (size_t ch = 0; ch < 2; ++ch) {
        uint64_t n = allocates_[t][c][ch].load(std::memory_order_relaxed);
        if (n == 0 && !(ch == 0 && c == 0)) continue;
        add(allocs, {{"transport", transport_label(t)}, {"result", result_label(c, ch)}, {"code", code_label(c)}},
            static_cast<double>(n));
      }
  auto auth = family("turnpike_auth_failures_total",
                     "Requests refused by the long-term credential mechanism, by reason (missing: no credentials "
                     "yet, the normal first round)",
                     MetricType::Counter);
  for (size_t r = 0; r < auth_failures_.size(); ++r)
    add(auth, {{"reason", turn::to_string(static_cast<turn::AuthFailure>(r))}}, static_cast<double>(auth_failures_[r].load(std::memory_order_relaxed)));
  return {requests, allocs, auth};
}

std::vector<MetricFamily> Metrics::sfu_families() const {
  if (!sfu_) return {};
  const auto& s = *sfu_;
  auto gauge = [](const char* name, const char* help, double v) {
    auto f = family(name, help, MetricType::Gauge);
    add(f, {}, v);
    return f;
  };
  std::vector<MetricFamily> out;
  out.push_back(gauge("turnpike_sfu_rooms", "SFU: open rooms", static_cast<double>(s.rooms.get())));
  out.push_back(gauge("turnpike_sfu_participants", "SFU: joined participants", static_cast<double>(s.participants.get())));
  auto tracks = family("turnpike_sfu_tracks", "SFU: published tracks", MetricType::Gauge);
  add(tracks, {{"kind", "audio"}}, static_cast<double>(s.tracks_audio.get()));
  add(tracks, {{"kind", "video"}}, static_cast<double>(s.tracks_video.get()));
  out.push_back(std::move(tracks));
  auto sessions = family("turnpike_sfu_sessions",
                         "SFU: participants with media flowing, by how it reaches the SFU (direct, or relayed "
                         "through this node's TURN by the client's transport to it, or through another TURN)",
                         MetricType::Gauge);
  auto sessions_total = family("turnpike_sfu_sessions_total", "SFU: media sessions established, by path",
                               MetricType::Counter);
  for (size_t p = 1; p < sfu::kPaths; ++p) {
    const char* name = sfu::to_string(static_cast<sfu::Path>(p));
    add(sessions, {{"path", name}}, static_cast<double>(s.sessions[p].get()));
    add(sessions_total, {{"path", name}}, static_cast<double>(s.sessions_total[p].get()));
  }
  out.push_back(std::move(sessions));
  out.push_back(std::move(sessions_total));
  auto packets = family("turnpike_sfu_forwarded_packets_total", "SFU: RTP packets sent to subscribers",
                        MetricType::Counter);
  add(packets, {{"kind", "audio"}}, static_cast<double>(s.forwarded_packets_audio.get()));
  add(packets, {{"kind", "video"}}, static_cast<double>(s.forwarded_packets_video.get()));
  out.push_back(std::move(packets));
  auto bytes = family("turnpike_sfu_forwarded_bytes_total", "SFU: RTP bytes sent to subscribers (before SRTP)",
                      MetricType::Counter);
  add(bytes, {{"kind", "audio"}}, static_cast<double>(s.forwarded_bytes_audio.get()));
  add(bytes, {{"kind", "video"}}, static_cast<double>(s.forwarded_bytes_video.get()));
  out.push_back(std::move(bytes));
  auto counter = [](const char* name, const char* help, uint64_t v) {
    auto f = family(name, help, MetricType::Counter);
    add(f, {}, static_cast<double>(v));
    return f;
  };
  out.push_back(counter("turnpike_sfu_ice_failures_total", "SFU: participants whose ICE never connected or lost consent",
                        s.ice_failures.get()));
  out.push_back(counter("turnpike_sfu_dtls_failures_total", "SFU: DTLS handshakes that failed", s.dtls_failures.get()));
  out.push_back(counter("turnpike_sfu_nack_resent_packets_total",
                        "SFU: packets resent from the retransmission buffer in answer to NACKs", s.nack.get()));
  out.push_back(counter("turnpike_sfu_pli_sent_total", "SFU: picture loss indications sent to publishers", s.pli.get()));
  auto errors = family("turnpike_sfu_signalling_errors_total",
                       "SFU: error messages sent to signalling clients, by the error code they carried",
                       MetricType::Counter);
  for (size_t i = 0; i < sfu::kSignalErrorCodes.size(); ++i)
    add(errors, {{"code", sfu::kSignalErrorCodes[i]}}, static_cast<double>(s.signalling_errors[i].get()));
  out.push_back(std::move(errors));
  auto limited = family("turnpike_sfu_nack_limited_total",
                        "SFU: NACKed packets not resent: resent to that subscriber within "
                        "the repeat interval, over its sfu.max_retransmit_bytes_per_second, or beyond "
                        "the sequence numbers one RTCP compound may ask for",
                        MetricType::Counter);
  add(limited, {{"reason", "repeat"}}, static_cast<double>(s.nack_limited_repeat.get()));
  add(limited, {{"reason", "budget"}}, static_cast<double>(s.nack_limited_budget.get()));
  add(limited, {{"reason", "cap"}}, static_cast<double>(s.nack_limited_cap.get()));
  out.push_back(std::move(limited));
  out.push_back(counter("turnpike_sfu_layer_switches_total",
                        "SFU: simulcast layer switches of subscriptions (each on a keyframe of the new layer)",
                        s.layer_switches.get()));
  out.push_back(counter("turnpike_sfu_probe_padding_bytes_total",
                        "SFU: padding sent on RTX streams to probe subscribers' paths for a higher layer",
                        s.probe_padding_bytes.get()));
  out.push_back(counter("turnpike_sfu_ssrc_conflicts_total",
                        "SFU: published tracks refused because their SSRC is already used in the room", s.ssrc_conflicts.get()));
  out.push_back(counter("turnpike_sfu_ice_probes_total",
                        "SFU: Binding requests sent to prove a nominated address reaches the browser (RFC 8445 7.2.2)",
                        s.ice_probes.get()));
  out.push_back(counter("turnpike_sfu_ice_probes_answered_total",
                        "SFU: nominated addresses proven by a valid answer to our Binding request", s.ice_probes_answered.get()));
  return out;
}

std::string Metrics::render(const std::vector<const turn::CoreStats*>& cores,
                            const std::vector<turn::Allocation>* per_allocation, size_t omitted, int64_t now_ms) const {
  auto all = registry_->Collect();
  auto append = [&all](std::vector<MetricFamily>&& more) {
    for (auto& f : more) all.push_back(std::move(f));
  };
  append(core_families(cores));
  append(idle_families());
  append(counter_families());
  append(sfu_families());
  append(guard_families());
  if (capacity_) append(capacity_());
  append(quality_core_families(cores));
  if (per_allocation) {
    append(allocation_families(*per_allocation, omitted, now_ms));
    append(allocation_quality_families(*per_allocation));
  }
  append(process_families());
  append_deprecated_aliases(all);
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, all);
  return out.str();
}

void Metrics::nat_client(const std::string& mapping, const std::string& filtering, const char* source,
                         const std::string& site) {
  nat_clients_->Add({{"mapping", mapping}, {"filtering", filtering}, {"source", source}, {"site", site}}).Increment();
}

void Metrics::sfu_signal_rejected(const char* reason) { sfu_signal_rejected_->Add({{"reason", reason}}).Increment(); }

void Metrics::flow_gap(bool survived, double seconds) { gap_seconds_[survived ? 0 : 1]->Observe(seconds); }

void Metrics::session_lost(const char* cause, double age_s) {
  for (size_t i = 0; i < turn::kLossCauses; ++i)
    if (std::string_view(cause) == turn::to_string(static_cast<turn::LossCause>(i))) return loss_age_[i]->Observe(age_s);
}

void Metrics::set_regions(std::shared_ptr<const turn::RegionPolicy> r) {
  std::lock_guard lock(regions_mu_);
  regions_ = std::move(r);
}

std::string Metrics::region_label(const std::string& name) const {
  std::lock_guard lock(regions_mu_);
  if (!name.empty() && regions_ && regions_->find(name)) return name;
  return "unknown";
}

void Metrics::residency_denied(turn::ResidencyDenial kind, const std::string& region) {
  denied_->Add({{"kind", turn::to_string(kind)}, {"region", region_label(region)}}).Increment();
}

void Metrics::residency_redirect(const std::string& to_region) {
  redirects_->Add({{"to_region", region_label(to_region)}}).Increment();
}

void Metrics::residency_ended(const std::string& client_region) {
  residency_ended_->Add({{"client_region", region_label(client_region)}}).Increment();
}

void Metrics::residency_revoked(const std::string& client_region, size_t n) {
  residency_revoked_->Add({{"client_region", region_label(client_region)}}).Increment(static_cast<double>(n));
}

void Metrics::sfu_region_session(const std::string& client_region, const std::string& served_region, bool drift,
                                 int delta) {
  const std::string client = region_label(client_region);
  sfu_region_sessions_->Add({{"client_region", client}, {"served_region", served_region}}).Increment(delta);
  if (drift) drift_->Add({{"client_region", client}}).Increment(delta);
}

void Metrics::rebinding(const std::string& site) { rebindings_->Add({{"site", site}}).Increment(); }

std::vector<MetricFamily> Metrics::idle_families() const {
  auto failures = family("turnpike_refresh_failures_total", "Refresh requests refused, by reason", MetricType::Counter);
  for (size_t i = 0; i < turn::kRefreshFailures; ++i)
    add(failures, {{"reason", turn::to_string(static_cast<turn::RefreshFailure>(i))}},
        static_cast<double>(refresh_failures_[i].load(std::memory_order_relaxed)));
  auto timer = family("turnpike_idle_timer_seconds",
                      "Estimated NAT/firewall idle timer per client site, from silences flows survived and did not "
                      "(present once both kinds of evidence agree)", MetricType::Gauge);
  auto measured = family("turnpike_idle_timer_measured_seconds",
                         "UDP mapping timeout per site as measured by turnpike-diag lifetime (the latest report)",
                         MetricType::Gauge);
  auto marks = family("turnpike_session_end_mark_seconds",
                      "An age at which many of a site's sessions were lost (a timer or cap firing on a mark)",
                      MetricType::Gauge);
  if (idle_) {
    for (const auto& v : idle_->sites()) {
      if (v.estimate) add(timer, {{"site", v.site}}, v.estimate->seconds);
      if (v.has_measurement && v.measured_seconds) add(measured, {{"site", v.site}}, *v.measured_seconds);
      if (v.end_mark) add(marks, {{"site", v.site}}, v.end_mark->seconds);
    }
  }
  return {failures, timer, measured, marks};
}

std::vector<MetricFamily> Metrics::guard_families() const {
  auto errors = family("turnpike_internal_errors_total",
                       "Exceptions that escaped a handler on an I/O thread, which logged them and kept serving",
                       MetricType::Counter);
  for (size_t i = 0; i < internal_errors_.size(); ++i)
    add(errors, {{"component", to_string(static_cast<Component>(i))}}, static_cast<double>(internal_errors_[i].load(std::memory_order_relaxed)));
  auto refused = family("turnpike_connections_refused_total",
                        "TCP/TLS/DTLS connections closed at once: per_prefix (limits.max_connections_per_ip from one "
                        "/connection_prefix_v4 or /connection_prefix_v6 network) or total (limits.max_connections)",
                        MetricType::Counter);
  for (size_t i = 0; i < refused_.size(); ++i)
    add(refused, {{"reason", to_string(static_cast<Refused>(i))}}, static_cast<double>(refused_[i].load(std::memory_order_relaxed)));
  auto unallocated = family("turnpike_connections_unallocated_closed_total",
                            "TCP/TLS connections closed for having no allocation limits.connection_allocate_timeout "
                            "after they opened or their allocation ended",
                            MetricType::Counter);
  add(unallocated, {}, static_cast<double>(unallocated_closed_.load(std::memory_order_relaxed)));
  auto overflow = family("turnpike_site_overflow_total",
                         "Site labels beyond limits.max_sites counted as \"other\" (labels), or evidence for a site "
                         "dropped because the idle-timer table was full (idle_timers)",
                         MetricType::Counter);
  for (size_t i = 0; i < site_overflow_.size(); ++i)
    add(overflow, {{"table", to_string(static_cast<SiteTable>(i))}}, static_cast<double>(site_overflow_[i].load(std::memory_order_relaxed)));
  return {errors, refused, unallocated, overflow};
}

}  // namespace turnpike
