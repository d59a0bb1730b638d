// Prometheus metrics (names are a contract: docs/metrics.md). Three sources, serialised together in
// the text format by prometheus-cpp:
//  - a prometheus-cpp Registry for what changes per allocation or per request (histograms,
//    build info), observed from the shards' threads;
//  - the cores' relay counters and live gauges (turn::CoreStats: relaxed atomics written by one
//    shard thread each), summed across shards at scrape time: the data path never touches a lock;
//  - process metrics read from /proc at scrape time, under the usual process_ names.
#pragma once
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/call_report.hpp"
#include "sfu/engine.hpp"
#include "turn/allocation.hpp"
#include "turn/core.hpp"
#include "turn/region_policy.hpp"

namespace turnpike {

// Packet drops the server (not the core) decides: a stream connection's send queue over its
// quota, or a socket that refused a datagram.
// TooBig: a datagram to a peer over the path MTU on a socket with DONT-FRAGMENT (RFC 8656 7.2): the
// kernel refused it (EMSGSIZE), at once or after an ICMP too-big taught it the path's MTU.
enum class ServerDrop : uint8_t { Quota, SendFailed, TooBig };
const char* to_string(ServerDrop d);  // quota, send_failed, too_big (turnpike_relay_dropped_packets_total{reason})

class Metrics {
 public:
  Metrics(const std::string& version, const std::string& region);

  // Observations, callable from any thread.
  void request_done(turn::stun::Method m, int code, turn::Transport t, bool challenge);
  void auth_failed(turn::AuthFailure f);
  void allocation_created(const turn::Allocation& a);
  void allocation_ended(const turn::Allocation& a, turn::EndReason why, int64_t now_ms);
  void server_drop(ServerDrop d, turn::Transport t);

  // The SFU (turnpike_sfu_*): its engine's counters, read at scrape time, and its histograms.
  void attach_sfu(const sfu::EngineStats* stats) { sfu_ = stats; }
  void sfu_join_seconds(double v) { sfu_join_->Observe(v); }
  // By the participant's site (its signalling address: SiteMap, bounded by limits.max_sites).
  void sfu_rtt_seconds(const std::string& site, double v);
  void sfu_loss_ratio(const std::string& site, double v);
  void sfu_estimated_bitrate(const std::string& site, double bps);
  // turnpike_sfu_site_sessions{path, site} (live) and _total (started), server/metrics_calls.cpp.
  void sfu_site_session(const std::string& site, sfu::Path from, sfu::Path to);
  // A signalling connection refused or closed by a limit (sfu::to_string(SignalReject)).
  void sfu_signal_rejected(const char* reason);

  // A client's NAT behaviour classified (turnpike_nat_clients_total): mapping and filtering in RFC
  // 4787/5780 terms (or no_nat, unknown), `source` "active" (a turnpike-diag report) or "passive".
  void nat_client(const std::string& mapping, const std::string& filtering, const char* source, const std::string& site);

  // A call report counted (server/metrics_calls.cpp: turnpike_calls_total{path, site} and
  // turnpike_call_duration_seconds{path}; `site` already bounded), or refused ("invalid",
  // "unauthorized", "unavailable": turnpike_call_reports_rejected_total{reason}).
  void call_reported(CallPath path, const std::string& site, double duration_s);
  void call_report_rejected(const char* reason);

  // Idle-timer evidence (docs/idle-timers.md): histograms and counters here; the per-site
  // estimates are read from `idle` at scrape time.
  void flow_gap(bool survived, double seconds);
  void session_lost(const char* cause, double age_s);
  void rebinding(const std::string& site);
  void refresh_failed(turn::RefreshFailure f) { refresh_failures_[static_cast<size_t>(f)].fetch_add(1, std::memory_order_relaxed); }
  void attach_idle_timers(const class IdleTimers* idle) { idle_ = idle; }

  // Data residency (docs/residency.md).
  void residency_denied(turn::ResidencyDenial kind, const std::string& region);
  void residency_redirect(const std::string& to_region);
  void residency_ended(const std::string& client_region);
  void residency_revoked(const std::string& client_region, size_t n);
  // An SFU media session starting (+1) or ending (-1), by the region its media comes from;
  // `drift` also moves turnpike_region_drift_sessions.
  void sfu_region_session(const std::string& client_region, const std::string& served_region, bool drift, int delta);

  // Issue 14's bounds (docs/metrics.md): an exception an I/O thread survived
  // (turnpike_internal_errors_total{component}), a TCP/TLS/DTLS connection refused by limits.*
  // (turnpike_connections_refused_total{reason}) or closed for having no allocation in time
  // (turnpike_connections_unallocated_closed_total), a report's site label cut to "other" or a site
  // table full (turnpike_site_overflow_total{table}).
  enum class Component : uint8_t { Shard, Admin, Sfu, Main };
  void internal_error(Component c) { internal_errors_[static_cast<size_t>(c)].fetch_add(1, std::memory_order_relaxed); }
  enum class Refused : uint8_t { PerPrefix, Total };
  void connection_refused(Refused r) { refused_[static_cast<size_t>(r)].fetch_add(1, std::memory_order_relaxed); }
  void connection_unallocated_closed() { unallocated_closed_.fetch_add(1, std::memory_order_relaxed); }
  enum class SiteTable : uint8_t { Labels, IdleTimers };
  void site_overflow(SiteTable t) { site_overflow_[static_cast<size_t>(t)].fetch_add(1, std::memory_order_relaxed); }
  // The region catalog in force: region labels take only its names, anything else is "unknown"
  // (a pinned REST username names whatever region its client likes).
  void set_regions(std::shared_ptr<const turn::RegionPolicy> r);
  std::string region_label(const std::string& name) const;

  // Relay quality (server/metrics_quality.cpp, docs/relay-quality.md): an allocation's interval
  // observed in the histograms and its verdict moved in turnpike_allocations_by_quality. Labels:
  // the allocation's tags named by metrics.tag_labels, through `labeler` (bounded values).
  using Labels = std::map<std::string, std::string>;
  void set_tag_labeler(std::function<Labels(const turn::Allocation&)> labeler) { tag_labeler_ = std::move(labeler); }
  void quality_sample(const turn::Allocation& a, const turn::MediaQuality::Sample& s);

  // The capacity families (server/metrics_capacity.cpp), gathered at scrape time; set before serving.
  void attach_capacity(std::function<std::vector<prometheus::MetricFamily>()> f) { capacity_ = std::move(f); }

  // Renders everything in the Prometheus text exposition format.
  // `cores`: every shard's CoreStats. `per_allocation`: snapshots of live allocations to export as
  // per-allocation series (already capped and ordered by the caller); `omitted`: how many were cut.
  std::string render(const std::vector<const turn::CoreStats*>& cores,
                     const std::vector<turn::Allocation>* per_allocation, size_t omitted, int64_t now_ms) const;

  // Config reloads (server/metrics_reload.cpp): turnpike_config_last_reload_successful (0 after a
  // failed or refused reload) and turnpike_config_last_reload_timestamp_seconds (the last success,
  // or the start). Called once at start, then by each reload.
  void config_reload(bool success, int64_t unix_s);

  static constexpr size_t kMethods = 6;   // binding, allocate, refresh, create_permission, channel_bind, other
  static constexpr size_t kCodes = 18;    // see kCodeValues in metrics.cpp; the last is "other"

 private:
  void register_allocation_families();
  void register_region_families();
  void register_idle_families();
  void register_sfu_families();
  void register_call_families();
  void register_sfu_site_families();
  void register_quality_families();
  Labels tag_labels(const turn::Allocation& a) const { return tag_labeler_ ? tag_labeler_(a) : Labels{}; }
  void quality_created(const turn::Allocation& a);
  void quality_ended(const turn::Allocation& a);
  static std::vector<prometheus::MetricFamily> quality_core_families(const std::vector<const turn::CoreStats*>& cores);
  static std::vector<prometheus::MetricFamily> allocation_quality_families(const std::vector<turn::Allocation>& allocs);
  std::vector<prometheus::MetricFamily> core_families(const std::vector<const turn::CoreStats*>& cores) const;
  std::vector<prometheus::MetricFamily> relay_families(const std::vector<const turn::CoreStats*>& cores) const;
  std::vector<prometheus::MetricFamily> counter_families() const;
  std::vector<prometheus::MetricFamily> sfu_families() const;
  std::vector<prometheus::MetricFamily> guard_families() const;
  static std::vector<prometheus::MetricFamily> process_families();
  static std::vector<prometheus::MetricFamily> allocation_families(const std::vector<turn::Allocation>& allocs,
                                                                    size_t omitted, int64_t now_ms);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge* reload_ok_ = nullptr;
  prometheus::Gauge* reload_ts_ = nullptr;
  prometheus::Family<prometheus::Histogram>* setup_family_;
  prometheus::Family<prometheus::Histogram>* lifetime_family_;
  std::array<prometheus::Histogram*, 4> setup_seconds_{};      // by transport
  std::array<prometheus::Histogram*, turn::kEndReasons> lifetime_seconds_{};  // by end reason
  // Per-request counters: shared by all shards, touched once per request (not per packet).
  // [..][code][1] counts 401/438 challenges (the mechanism's normal first round), [..][code][0] the rest.
  using ByCode = std::array<std::array<std::atomic<uint64_t>, 2>, kCodes>;
  std::array<ByCode, kMethods> requests_{};
  std::array<ByCode, 4> allocates_{};  // by client transport
  std::array<std::atomic<uint64_t>, 5> auth_failures_{};
  std::array<std::array<std::atomic<uint64_t>, 4>, 3> server_drops_{};    // by ServerDrop, transport
  prometheus::Family<prometheus::Counter>* nat_clients_ = nullptr;
  prometheus::Family<prometheus::Counter>* calls_ = nullptr;
  std::array<prometheus::Histogram*, kCallPaths> call_seconds_{};
  std::array<prometheus::Counter*, 3> call_rejected_{};
  prometheus::Family<prometheus::Counter>* rebindings_ = nullptr;
  prometheus::Family<prometheus::Gauge>* sessions_ = nullptr;
  prometheus::Family<prometheus::Gauge>* drift_ = nullptr;
  prometheus::Family<prometheus::Gauge>* sfu_region_sessions_ = nullptr;
  prometheus::Family<prometheus::Counter>* denied_ = nullptr;
  prometheus::Family<prometheus::Counter>* redirects_ = nullptr;
  prometheus::Family<prometheus::Counter>* residency_ended_ = nullptr;
  prometheus::Family<prometheus::Counter>* residency_revoked_ = nullptr;
  prometheus::Family<prometheus::Histogram>* gap_family_ = nullptr;
  prometheus::Family<prometheus::Histogram>* loss_family_ = nullptr;
  std::array<prometheus::Histogram*, 2> gap_seconds_{};  // survived, rebound
  std::array<prometheus::Histogram*, turn::kLossCauses> loss_age_{};
  std::array<std::atomic<uint64_t>, turn::kRefreshFailures> refresh_failures_{};
  const class IdleTimers* idle_ = nullptr;
  std::array<std::atomic<uint64_t>, 4> internal_errors_{};
  std::array<std::atomic<uint64_t>, 2> refused_{};
  std::atomic<uint64_t> unallocated_closed_{0};
  std::array<std::atomic<uint64_t>, 2> site_overflow_{};
  mutable std::mutex regions_mu_;
  std::shared_ptr<const turn::RegionPolicy> regions_;
  std::vector<prometheus::MetricFamily> idle_families() const;
  const sfu::EngineStats* sfu_ = nullptr;
  prometheus::Histogram* sfu_join_ = nullptr;
  prometheus::Family<prometheus::Histogram>* sfu_rtt_ = nullptr;
  prometheus::Family<prometheus::Histogram>* sfu_loss_ = nullptr;
  prometheus::Family<prometheus::Histogram>* sfu_estimated_bitrate_ = nullptr;
  prometheus::Family<prometheus::Gauge>* sfu_site_sessions_ = nullptr;
  prometheus::Family<prometheus::Counter>* sfu_site_sessions_total_ = nullptr;
  prometheus::Family<prometheus::Counter>* sfu_signal_rejected_ = nullptr;
  std::function<std::vector<prometheus::MetricFamily>()> capacity_;
  std::function<Labels(const turn::Allocation&)> tag_labeler_;
  prometheus::Family<prometheus::Histogram>* relay_rtt_ = nullptr;
  prometheus::Family<prometheus::Histogram>* relay_loss_ = nullptr;
  prometheus::Family<prometheus::Histogram>* relay_jitter_ = nullptr;
  prometheus::Family<prometheus::Gauge>* by_quality_ = nullptr;
  prometheus::Family<prometheus::Gauge>* media_over_tcp_ = nullptr;
};

// The label values of Metrics' enums: component shard, admin, sfu, main; reason per_prefix, total;
// table labels, idle_timers.
const char* to_string(Metrics::Component c);
const char* to_string(Metrics::Refused r);
const char* to_string(Metrics::SiteTable t);

// The per-allocation metrics cut (metrics.per_allocation_limit): keeps the `limit` busiest
// allocations of `v` (most bytes relayed; ties by id), busiest first, and returns how many it dropped.
size_t keep_busiest(std::vector<turn::Allocation>& v, size_t limit);

}  // namespace turnpike
