#!/usr/bin/python3
"""Writes the Turnpike Grafana dashboards (turnpike-*.json beside this file).

The JSON files are the deliverable and are committed; this script is their source: edit the panels
here and run `python3 deploy/grafana/generate.py`. tests/monitoring/test_rules.py checks that the
committed JSON is what this script writes, that every expression parses, and that every metric it
names is one the server exports or a recording rule of deploy/prometheus/turnpike-rules.yaml.

In the expressions, @I stands for the node filter instance=~"$instance" (the nodes of the chosen
regions: the region comes from turnpike_build_info{region}, which every node exports itself).
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DS = {"type": "prometheus", "uid": "${datasource}"}
NODE = 'instance=~"$instance"'


def var_datasource():
    return {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0, "refresh": 1, "regex": "", "includeAll": False, "multi": False,
            "options": []}


def var_query(name, label, query, include_all=True):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "definition": query, "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 2, "sort": 1, "multi": True, "includeAll": include_all, "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "hide": 0, "regex": "",
            "options": []}


VAR_REGION = var_query("region", "Region", "label_values(turnpike_build_info, region)")
VAR_INSTANCE = var_query("instance", "Node", 'label_values(turnpike_build_info{region=~"$region"}, instance)')
VAR_SITE = var_query("site", "Site", 'label_values({__name__=~"turnpike_calls_total|turnpike_nat_clients_total|'
                     'turnpike_allocations_by_quality",instance=~"$instance"}, site)')


class Board:
    def __init__(self, uid, title, description, variables):
        self.uid, self.title, self.description, self.variables = uid, title, description, variables
        self.panels, self.x, self.y, self.row_h, self.next_id = [], 0, 0, 0, 1

    def _place(self, w, h):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def row(self, title):
        self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self.panels.append({"id": self.next_id, "type": "row", "title": title, "collapsed": False,
                            "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}, "panels": []})
        self.next_id += 1
        self.y += 1

    def panel(self, kind, title, description, targets, unit="short", w=12, h=8, mappings=None, options=None,
              instant=False):
        tgts = []
        for i, (expr, legend) in enumerate(targets):
            t = {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr.replace("@I", NODE),
                 "legendFormat": legend, "range": not instant, "instant": instant}
            if instant:
                t["format"] = "table"
            tgts.append(t)
        defaults = {"unit": unit}
        if mappings:
            defaults["mappings"] = mappings
        p = {"id": self.next_id, "type": kind, "title": title, "description": description, "datasource": DS,
             "gridPos": self._place(w, h), "targets": tgts, "fieldConfig": {"defaults": defaults, "overrides": []},
             "options": options or {}}
        if kind == "table":
            p["transformations"] = [{"id": "merge", "options": {}},
                                    {"id": "organize", "options": {"excludeByName": {"Time": True}}}]
        self.next_id += 1
        self.panels.append(p)

    def ts(self, title, description, targets, unit="short", **kw):
        self.panel("timeseries", title, description, targets, unit,
                   options={"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
                            "tooltip": {"mode": "multi", "sort": "desc"}}, **kw)

    def stat(self, title, description, targets, unit="short", **kw):
        self.panel("stat", title, description, targets, unit,
                   options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                            "colorMode": "value", "graphMode": "area", "textMode": "auto"}, **kw)

    def table(self, title, description, targets, unit="short", **kw):
        self.panel("table", title, description, targets, unit, instant=True,
                   options={"showHeader": True, "footer": {"show": False}}, **kw)

    def json(self):
        return {
            "uid": self.uid, "title": self.title, "description": self.description, "tags": ["turnpike"],
            "schemaVersion": 38, "version": 1, "editable": True, "graphTooltip": 1, "timezone": "",
            "time": {"from": "now-6h", "to": "now"}, "refresh": "1m", "fiscalYearStartMonth": 0,
            "liveNow": False, "weekStart": "",
            "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                      "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                      "name": "Annotations & Alerts", "type": "dashboard"}]},
            "links": [{"title": "Turnpike", "type": "dashboards", "tags": ["turnpike"], "asDropdown": True,
                       "includeVars": True, "keepTime": True}],
            "templating": {"list": self.variables},
            "panels": self.panels,
        }


NONE_YET = [{"type": "value", "options": {"0": {"text": "none yet", "index": 0}}}]


def region_overview():
    b = Board("turnpike-region-overview", "Turnpike / Region overview",
              "Relayed share, allocations, traffic, drops, relay quality, credential failures, capacity, reloads "
              "and drains of the Turnpike nodes of a region.", [var_datasource(), VAR_REGION, VAR_INSTANCE])
    b.row("Relayed share")
    b.stat("SFU sessions relayed now", "Share of live SFU media sessions whose media reaches the SFU through a TURN "
           "relay (path relay_*: this node's TURN over UDP, TCP, TLS or DTLS, or another TURN server).",
           [('sum(turnpike_sfu_sessions{@I,path=~"relay_.*"}) / sum(turnpike_sfu_sessions{@I})', "relayed")],
           "percentunit", w=6)
    b.stat("Calls relayed (reported, 15m)", "Share of the calls browsers reported in the last 15 minutes whose "
           "selected candidate pair used a relay on either side (recording rule turnpike:calls:rate15m).",
           [('(sum(turnpike:calls:rate15m{region=~"$region",path=~"relay_.*"}) or 0 * sum(turnpike:calls:rate15m{region=~"$region"}))'
             ' / sum(turnpike:calls:rate15m{region=~"$region"})', "relayed")], "percentunit", w=6)
    b.ts("SFU sessions by path (share)", "Live SFU media sessions by how their media reaches the SFU: direct, "
         "relay_udp / relay_tcp / relay_tls / relay_dtls (this node's TURN, by the client's transport), "
         "relay_external (another TURN server).",
         [('sum by (path) (turnpike_sfu_sessions{@I}) / ignoring (path) group_left sum(turnpike_sfu_sessions{@I})',
           "{{path}}")], "percentunit")
    b.ts("Calls by path (share, reported, 15m)", "Calls reported by browsers at their end, by the selected pair: "
         "direct, relay_udp / relay_tcp / relay_tls (our relay, by transport), relay_remote (only the other side "
         "relayed).",
         [('sum by (path) (turnpike:calls:rate15m{region=~"$region"}) / ignoring (path) group_left '
           'sum(turnpike:calls:rate15m{region=~"$region"})', "{{path}}")], "percentunit")
    b.ts("SFU sessions started by path", "Media sessions established per second, by the path they started on.",
         [('sum by (path) (rate(turnpike_sfu_sessions_total{@I}[$__rate_interval]))', "{{path}}")], "ops")
    b.row("Allocations")
    b.ts("Live allocations by client transport", "TURN allocations by the client's transport to Turnpike.",
         [('sum by (transport) (turnpike_allocations{@I})', "{{transport}}")])
    b.ts("Allocate answers", "Allocate requests answered per second: success, challenge (the 401/438 first round), "
         "error.", [('sum by (result) (rate(turnpike_allocate_requests_total{@I}[$__rate_interval]))', "{{result}}")],
         "reqps")
    b.ts("Allocate answers other than success, by code", "Challenges (401, 438) are the normal first round; 300 is a "
         "redirect (residency or drain); 508 the allocation limit; 486 the per-user quota.",
         [('sum by (result, code) (rate(turnpike_allocate_requests_total{@I,result!="success"}[$__rate_interval]))',
           "{{result}} {{code}}")], "reqps")
    b.ts("Failed Allocates (node side, 5m)", "Share of answered Allocates that failed for the node's own reasons "
         "(recording rule turnpike:allocate_requests_failed:ratio_rate5m; alert TurnpikeAllocationFailures).",
         [('turnpike:allocate_requests_failed:ratio_rate5m{region=~"$region",@I}', "{{instance}} {{transport}}")],
         "percentunit")
    b.ts("Allocation setup time", "From a 5-tuple's first Allocate to its success, across the 401 round trip.",
         [('histogram_quantile(0.5, sum by (le) (rate(turnpike_allocation_setup_seconds_bucket{@I}[$__rate_interval])))', "p50"),
          ('histogram_quantile(0.95, sum by (le) (rate(turnpike_allocation_setup_seconds_bucket{@I}[$__rate_interval])))', "p95"),
          ('histogram_quantile(0.99, sum by (le) (rate(turnpike_allocation_setup_seconds_bucket{@I}[$__rate_interval])))', "p99"),
          ('histogram_quantile(0.95, sum by (le, transport) (rate(turnpike_allocation_setup_seconds_bucket{@I}[$__rate_interval])))',
           "p95 {{transport}}")], "s")
    b.ts("Allocation lifetime by end reason (median)", "How long allocations lived, by why they ended; cuts at "
         "15/30/45/60 minutes point at idle timers or session caps.",
         [('histogram_quantile(0.5, sum by (le, end_reason) (rate(turnpike_allocation_lifetime_seconds_bucket{@I}[$__rate_interval])))',
           "{{end_reason}}")], "s")
    b.row("Traffic")
    b.ts("Relayed throughput", "Application bytes relayed (payload only), in bits per second.",
         [('8 * sum by (direction, transport) (rate(turnpike_relay_bytes_total{@I}[$__rate_interval]))',
           "{{direction}} {{transport}}")], "bps")
    b.ts("Relayed packets", "Packets relayed per second.",
         [('sum by (direction, transport) (rate(turnpike_relay_packets_total{@I}[$__rate_interval]))',
           "{{direction}} {{transport}}")], "pps")
    b.ts("SFU forwarded throughput", "RTP sent to subscribers (before SRTP), in bits per second.",
         [('8 * sum by (kind) (rate(turnpike_sfu_forwarded_bytes_total{@I}[$__rate_interval]))', "{{kind}}")], "bps")
    b.ts("Dropped packets by reason", "Packets not relayed: no_permission, peer_denied, quota, bandwidth, malformed, "
         "no_allocation, send_failed, too_big (a datagram to a peer over the path MTU).",
         [('sum by (reason) (rate(turnpike_relay_dropped_packets_total{@I}[$__rate_interval]))', "{{reason}}")], "pps")
    b.row("Relay quality (docs/relay-quality.md: read passively from what is relayed)")
    b.ts("Allocations by quality verdict", "Live allocations by their last verdict: good, degraded, bad (loss, jitter "
         "or RTT over the quality.* thresholds, or media over TCP/TLS), no_media (no interval with RTP yet).",
         [('sum by (verdict) (turnpike_allocations_by_quality{@I})', "{{verdict}}")])
    b.ts("Media allocations not good (share)", "Degraded or bad among the live allocations with media (verdict good, "
         "degraded or bad), per node (alert TurnpikeRelayQualityDegraded, per site).",
         [('(sum by (instance) (turnpike_allocations_by_quality{@I,verdict=~"degraded|bad"}) or 0 * sum by (instance) '
           '(turnpike_allocations_by_quality{@I,verdict!="no_media"})) / sum by (instance) '
           '(turnpike_allocations_by_quality{@I,verdict!="no_media"})', "{{instance}}")], "percentunit")
    b.ts("Loss before the relay", "RTP loss of each allocation over each quality.interval, as the relay sees it: "
         "to_peer is what clients sent, to_client what peers sent (p50 and p95 over the intervals).",
         [('histogram_quantile(0.5, sum by (le, direction) (rate(turnpike_relay_loss_ratio_bucket{@I}[$__rate_interval])))', "p50 {{direction}}"),
          ('histogram_quantile(0.95, sum by (le, direction) (rate(turnpike_relay_loss_ratio_bucket{@I}[$__rate_interval])))', "p95 {{direction}}")],
         "percentunit")
    b.ts("Jitter at the relay", "RFC 3550 interarrival jitter of the largest stream of each allocation and "
         "direction, per quality.interval (p50 and p95 over the intervals).",
         [('histogram_quantile(0.5, sum by (le, direction) (rate(turnpike_relay_jitter_seconds_bucket{@I}[$__rate_interval])))', "p50 {{direction}}"),
          ('histogram_quantile(0.95, sum by (le, direction) (rate(turnpike_relay_jitter_seconds_bucket{@I}[$__rate_interval])))', "p95 {{direction}}")],
         "s")
    b.ts("Round-trip time beyond the relay", "From ICE checks and consent freshness crossing the relay: client leg "
         "(relay-client-relay) and peer leg (relay-peer-relay); their sum is the call's RTT (p50 and p95).",
         [('histogram_quantile(0.5, sum by (le, leg) (rate(turnpike_relay_rtt_seconds_bucket{@I}[$__rate_interval])))', "p50 {{leg}}"),
          ('histogram_quantile(0.95, sum by (le, leg) (rate(turnpike_relay_rtt_seconds_bucket{@I}[$__rate_interval])))', "p95 {{leg}}")],
         "s")
    b.ts("Media over TCP/TLS", "Live allocations carrying RTP over a TCP or TLS client connection (head-of-line "
         "blocking: one lost segment stalls the media behind it), per node.",
         [('sum by (instance) (turnpike_media_over_tcp_allocations{@I}) or 0 * sum by (instance) '
           '(turnpike_allocations_by_quality{@I,verdict!="no_media"})', "{{instance}}")])
    b.ts("Relayed payloads by kind", "Relayed datagrams per second by what they carry (RFC 7983): stun (ICE checks, "
         "consent), dtls, rtp, rtcp, other; each way.",
         [('sum by (kind) (rate(turnpike_relay_payloads_total{@I}[$__rate_interval]))', "{{kind}}")], "pps")
    b.row("Credentials and errors")
    b.ts("Credential failures by reason", "Refusals by the long-term credential mechanism; missing is the normal "
         "first round, stale_nonce a client refreshing its nonce.",
         [('sum by (reason) (rate(turnpike_auth_failures_total{@I}[$__rate_interval]))', "{{reason}}")], "reqps")
    b.ts("Requests refused for bad credentials (share, 5m)", "bad_integrity, unknown_user and expired_credential "
         "against all STUN/TURN requests (alert TurnpikeAuthFailuresHigh).",
         [('sum by (instance) (turnpike:auth_failures:rate5m{region=~"$region",@I,reason=~"bad_integrity|unknown_user|expired_credential"})'
           ' / sum by (instance) (turnpike:requests:rate5m{region=~"$region",@I})', "{{instance}}")], "percentunit")
    b.ts("Internal errors", "Exceptions that escaped a handler; any is a bug to report.",
         [('sum by (component) (increase(turnpike_internal_errors_total{@I}[$__rate_interval]))', "{{component}}")])
    b.row("Capacity")
    b.ts("Capacity used", "Allocations against limits.max_allocations, relay ports against the port range, TCP/TLS "
         "connections against limits.max_connections, open file descriptors against the process limit (alerts "
         "at 85 %, 85 %, 80 %, 80 %).",
         [('turnpike:allocations:utilization_ratio{region=~"$region",@I}', "{{instance}} allocations"),
          ('turnpike:relay_ports:utilization_ratio{region=~"$region",@I}', "{{instance}} relay ports"),
          ('turnpike:connections:utilization_ratio{region=~"$region",@I}', "{{instance}} TCP/TLS connections"),
          ('turnpike:process_fds:utilization_ratio{region=~"$region",@I}', "{{instance}} fds")], "percentunit")
    b.ts("TCP/TLS connections and refusals", "Open TURN client connections over TCP and TLS, and connections "
         "refused at the limits (total: limits.max_connections; per_prefix: limits.max_connections_per_ip).",
         [('sum by (instance, transport) (turnpike_connections{@I})', "{{instance}} {{transport}}"),
          ('sum by (instance, reason) (rate(turnpike_connections_refused_total{@I}[$__rate_interval]))',
           "{{instance}} refused {{reason}}/s")])
    b.table("Certificate expiry", "Time left on the served certificates (use turn: TURN over TLS and DTLS; signal: "
            "wss:// signalling). Absent on nodes without tls:.",
            [('min by (instance, use) (turnpike_tls_certificate_expiry_timestamp_seconds{@I}) - time()', "")], "s")
    b.row("Nodes")
    b.table("Nodes", "Which build each node runs, its region, and whether Prometheus reaches it.",
            [('max by (instance, region, version) (turnpike_build_info{region=~"$region",@I})', ""),
             ('max by (instance) (up{job=~".*turnpike.*",@I})', "")])
    b.ts("Reloads", "1 if the last reload applied (or none was tried), 0 after a failed or refused one; and the age "
         "of the configuration in force.",
         [('min by (instance) (turnpike_config_last_reload_successful{@I})', "{{instance}} last reload ok"),
          ('time() - max by (instance) (turnpike_config_last_reload_timestamp_seconds{@I})', "{{instance}} config age s")])
    b.ts("Draining", "1 while a node drains (SIGTERM or POST /api/v1/drain) until it exits.",
         [('max by (instance) (turnpike_draining{@I})', "{{instance}}")])
    b.ts("SFU rooms and participants", "Open rooms and joined participants.",
         [('sum(turnpike_sfu_rooms{@I})', "rooms"), ('sum(turnpike_sfu_participants{@I})', "participants")])
    return b


def sites():
    b = Board("turnpike-sites", "Turnpike / Sites",
              "Per client site (a sites: name, else the client's /24 or /56): NAT classes, idle timers, relayed "
              "share of calls and of SFU sessions, call durations, relay quality, SFU media quality.",
              [var_datasource(), VAR_REGION, VAR_INSTANCE, VAR_SITE])
    b.row("NAT behavior")
    b.table("NAT mapping and filtering (active: turnpike-diag nat)", "Clients classified by turnpike-diag nat "
            "--report in the time range, by site (docs/nat.md).",
            [('sum by (site, mapping, filtering) (increase(turnpike_nat_clients_total{@I,site=~"$site",source="active"}[$__range]))', "")])
    b.table("NAT mapping (passive: SFU sessions)", "Clients the server classified from their SFU sessions in the time "
            "range; passive results never tell filtering.",
            [('sum by (site, mapping) (increase(turnpike_nat_clients_total{@I,site=~"$site",source="passive"}[$__range]))', "")])
    b.ts("Clients classified by mapping", "Per hour, over all sources.",
         [('sum by (mapping, source) (increase(turnpike_nat_clients_total{@I,site=~"$site"}[1h]))', "{{source}} {{mapping}}")])
    b.row("Idle timers (docs/idle-timers.md)")
    b.table("Idle timer found passively", "The site's estimated UDP idle timer from silences its flows survived and "
            "did not. A site appears once survived and rebound gaps agree; until then the panel shows none yet.",
            [('max by (site) (turnpike_idle_timer_seconds{@I,site=~"$site"}) or on () vector(0)', "")], "s",
            mappings=NONE_YET, w=8)
    b.table("Idle timer measured actively", "The latest turnpike-diag lifetime --report result per site; none yet "
            "until a site reports one.",
            [('max by (site) (turnpike_idle_timer_measured_seconds{@I,site=~"$site"}) or on () vector(0)', "")], "s",
            mappings=NONE_YET, w=8)
    b.table("Repeated session end marks", "An age at which many of a site's sessions were lost (a timer or a "
            "session cap firing on a mark); none yet until one repeats.",
            [('max by (site) (turnpike_session_end_mark_seconds{@I,site=~"$site"}) or on () vector(0)', "")], "s",
            mappings=NONE_YET, w=8)
    b.ts("Rebindings by site", "Clients back on a new 5-tuple after a silence: their NAT mapping died. 0 until the "
         "first one.",
         [('sum by (site) (rate(turnpike_rebindings_total{@I,site=~"$site"}[$__rate_interval])) or on () vector(0)', "{{site}}")],
         "ops")
    b.ts("Silent gaps by outcome (all sites)", "Silences of 1 s or more on UDP/DTLS flows, by what followed "
         "(this histogram has no site label).",
         [('histogram_quantile(0.5, sum by (le, outcome) (rate(turnpike_flow_silent_gap_seconds_bucket{@I}[$__rate_interval])))', "p50 {{outcome}}"),
          ('histogram_quantile(0.95, sum by (le, outcome) (rate(turnpike_flow_silent_gap_seconds_bucket{@I}[$__rate_interval])))', "p95 {{outcome}}")],
         "s")
    b.ts("Session age at loss by cause (all sites)", "Age of sessions lost before their client ended them.",
         [('histogram_quantile(0.5, sum by (le, cause) (rate(turnpike_session_age_at_loss_seconds_bucket{@I}[$__rate_interval])))', "p50 {{cause}}")],
         "s")
    b.row("Calls by site (browser call reports)")
    b.ts("Relayed share of calls by site (15m)", "Share of calls whose selected pair used a relay on either side "
         "(recording rule turnpike:calls_relayed:ratio_rate15m; alerts TurnpikeCallsRelayedHigh and Rising).",
         [('turnpike:calls_relayed:ratio_rate15m{region=~"$region",site=~"$site"}', "{{site}}")], "percentunit")
    b.ts("Relayed calls by site and transport (share, 15m)", "relay_udp, relay_tcp, relay_tls: our relay by the "
         "client's transport; relay_remote: only the other side relayed.",
         [('turnpike:calls_by_path:ratio_rate15m{region=~"$region",site=~"$site",path=~"relay_.*"}', "{{site}} {{path}}")],
         "percentunit")
    b.table("Calls reported by site and path", "Calls reported in the time range.",
            [('sum by (site, path) (increase(turnpike_calls_total{@I,site=~"$site"}[$__range]))', "")])
    b.table("Call duration by path", "Median and 90th percentile of reported call durations in the time range, by "
            "path (the histogram has no site label).",
            [('histogram_quantile(0.5, sum by (le, path) (increase(turnpike_call_duration_seconds_bucket{@I}[$__range])))', ""),
             ('histogram_quantile(0.9, sum by (le, path) (increase(turnpike_call_duration_seconds_bucket{@I}[$__range])))', "")], "s")
    b.ts("Call reports rejected", "Call reports refused, by reason; 0 until the first one.",
         [('sum by (reason) (rate(turnpike_call_reports_rejected_total{@I}[$__rate_interval]))', "{{reason}}")],
         "reqps")
    b.row("Relay quality by site (the allocations' site tag, metrics.tag_labels; docs/relay-quality.md)")
    b.ts("Media allocations not good by site", "Degraded or bad among the site's live allocations with media "
         "(recording rule turnpike:relay_quality:not_good_ratio; alert TurnpikeRelayQualityDegraded).",
         [('turnpike:relay_quality:not_good_ratio{region=~"$region",site=~"$site"}', "{{site}}")], "percentunit")
    b.table("Allocations by verdict and site", "Live allocations by their last relay-quality verdict.",
            [('sum by (site, verdict) (turnpike_allocations_by_quality{@I,site=~"$site"})', "")])
    b.ts("Loss before the relay by site (p95, 5m)", "95th percentile of the per-interval RTP loss of the site's "
         "allocations: to_peer is what the site's clients sent (their uplink), to_client what their peers sent "
         "(recording rule turnpike:relay_loss_ratio:p95_rate5m).",
         [('turnpike:relay_loss_ratio:p95_rate5m{region=~"$region",site=~"$site"}', "{{site}} {{direction}}")],
         "percentunit", w=8)
    b.ts("Jitter at the relay by site (p95, 5m)", "95th percentile of the per-interval jitter of the site's "
         "allocations, by direction (recording rule turnpike:relay_jitter_seconds:p95_rate5m).",
         [('turnpike:relay_jitter_seconds:p95_rate5m{region=~"$region",site=~"$site"}', "{{site}} {{direction}}")],
         "s", w=8)
    b.ts("RTT beyond the relay by site (p95, 5m)", "95th percentile of the per-interval round-trip time of the "
         "site's allocations: client leg (relay-site-relay) and peer leg (recording rule "
         "turnpike:relay_rtt_seconds:p95_rate5m).",
         [('turnpike:relay_rtt_seconds:p95_rate5m{region=~"$region",site=~"$site"}', "{{site}} {{leg}}")], "s", w=8)
    b.ts("Media over TCP/TLS by site (share)", "Allocations carrying RTP over a TCP or TLS connection among the "
         "site's allocations with media (recording rule turnpike:media_over_tcp:ratio; alert "
         "TurnpikeMediaOverTcpHigh).",
         [('turnpike:media_over_tcp:ratio{region=~"$region",site=~"$site"}', "{{site}}")], "percentunit")
    b.ts("Media over TCP/TLS by site", "Live allocations carrying RTP over a TCP or TLS connection, by site.",
         [('sum by (site) (turnpike_media_over_tcp_allocations{@I,site=~"$site"}) or 0 * sum by (site) '
           '(turnpike_allocations_by_quality{@I,site=~"$site",verdict!="no_media"})', "{{site}}")])
    b.row("SFU sessions and media quality by site (the site of each browser's signalling address)")
    b.ts("Relayed share of SFU sessions by site", "Live SFU media sessions whose media comes through a relay "
         "(ours by the client's transport, or another TURN), by the browser's site.",
         [('sum by (site) (turnpike_sfu_site_sessions{@I,site=~"$site",path=~"relay_.*"}) / '
           'sum by (site) (turnpike_sfu_site_sessions{@I,site=~"$site"})', "{{site}}")], "percentunit")
    b.table("SFU sessions started by site and path", "Media sessions established in the time range.",
            [('sum by (site, path) (increase(turnpike_sfu_site_sessions_total{@I,site=~"$site"}[$__range]))', "")])
    b.ts("SFU round-trip time by site", "From subscribers' receiver reports against our sender reports.",
         [('histogram_quantile(0.5, sum by (le, site) (rate(turnpike_sfu_rtt_seconds_bucket{@I,site=~"$site"}[$__rate_interval])))', "p50 {{site}}"),
          ('histogram_quantile(0.95, sum by (le, site) (rate(turnpike_sfu_rtt_seconds_bucket{@I,site=~"$site"}[$__rate_interval])))', "p95 {{site}}")], "s")
    b.ts("SFU loss by site", "Fraction lost per receiver report block.",
         [('histogram_quantile(0.5, sum by (le, site) (rate(turnpike_sfu_loss_ratio_bucket{@I,site=~"$site"}[$__rate_interval])))', "p50 {{site}}"),
          ('histogram_quantile(0.95, sum by (le, site) (rate(turnpike_sfu_loss_ratio_bucket{@I,site=~"$site"}[$__rate_interval])))', "p95 {{site}}")],
         "percentunit")
    b.ts("SFU join time", "From a participant's join to its first media packet.",
         [('histogram_quantile(0.5, sum by (le) (rate(turnpike_sfu_join_seconds_bucket{@I}[$__rate_interval])))', "p50"),
          ('histogram_quantile(0.95, sum by (le) (rate(turnpike_sfu_join_seconds_bucket{@I}[$__rate_interval])))', "p95")], "s")
    b.ts("SFU repairs and failures", "Packets resent for NACKs, keyframe requests, and participants lost to ICE or "
         "DTLS failures.",
         [('sum(rate(turnpike_sfu_nack_resent_packets_total{@I}[$__rate_interval]))', "NACK resends/s"),
          ('sum(rate(turnpike_sfu_pli_sent_total{@I}[$__rate_interval]))', "PLIs/s"),
          ('sum(rate(turnpike_sfu_ice_failures_total{@I}[$__rate_interval]))', "ICE failures/s"),
          ('sum(rate(turnpike_sfu_dtls_failures_total{@I}[$__rate_interval]))', "DTLS failures/s")])
    b.row("Site path health (turnpike-diag probe --report, docs/diag.md)")
    b.table("Transports up by site", "1 when the site's last probe round got a relayed round trip over the "
            "transport, 0 when it failed (why: GET /api/v1/probe-reports); sites appear with their first report.",
            [('min by (site, transport) (turnpike_site_probe_up{@I,site=~"$site"})', "")], w=8)
    b.ts("Probe relayed RTT by site", "Median relayed round trip of each round (probe, relay, relay, probe).",
         [('max by (site, transport) (turnpike_site_probe_rtt_seconds{@I,site=~"$site"})', "{{site}} {{transport}}")],
         "s", w=8)
    b.ts("Probe loss and jitter by site", "Echo packets lost in each round, and the mean difference of "
         "consecutive round trips.",
         [('max by (site, transport) (turnpike_site_probe_loss_ratio{@I,site=~"$site"})', "loss {{site}} {{transport}}"),
          ('max by (site, transport) (turnpike_site_probe_jitter_seconds{@I,site=~"$site"})', "jitter {{site}} {{transport}}")],
         w=8)
    b.table("NAT class by site (probe)", "The class the site's probe found last (--nat-every).",
            [('max by (site, class) (turnpike_site_nat_class_info{@I,site=~"$site"})', "")], w=12)
    b.ts("Probe allocation setup time by site", "Allocate sent to allocation success, the 401 round trip "
         "included.",
         [('max by (site, transport) (turnpike_site_probe_setup_seconds{@I,site=~"$site"})', "{{site}} {{transport}}")],
         "s", w=12)
    return b


def residency():
    b = Board("turnpike-residency", "Turnpike / Residency",
              "Data residency (docs/residency.md): sessions by client and served region, refusals, redirects, "
              "drift, and what reloaded policies ended. Nodes without a region catalog export no residency series; "
              "their panels show 0.", [var_datasource(), VAR_REGION, VAR_INSTANCE])
    b.row("Sessions by region")
    b.table("Allocations by client and served region", "Live TURN allocations (turnpike_sessions).",
            [('sum by (client_region, served_region) (turnpike_sessions{@I}) or on () vector(0)', "")])
    b.table("SFU media sessions by client and served region", "Live SFU media sessions by the region their media "
            "comes from.",
            [('sum by (client_region, served_region) (turnpike_sfu_region_sessions{@I}) or on () vector(0)', "")])
    b.ts("Sessions served for another region (drift)", "Live allocations and direct SFU media sessions served "
         "here although their client belongs elsewhere (foreign_clients: serve; alert TurnpikeRegionDrift).",
         [('sum by (client_region) (turnpike_region_drift_sessions{@I}) or on () vector(0)', "{{client_region}}")])
    b.ts("Live sessions by client region", "Allocations and SFU media sessions over time.",
         [('sum by (client_region) (turnpike_sessions{@I}) or on () vector(0)', "TURN {{client_region}}"),
          ('sum by (client_region) (turnpike_sfu_region_sessions{@I}) or on () vector(0)', "SFU {{client_region}}")])
    b.row("Enforcement")
    b.ts("Refusals by kind and region", "Requests refused by residency: peer (CreatePermission/ChannelBind), client "
         "(an Allocate or an SFU media address), credential (a pinned region); by the region they belong to.",
         [('sum by (kind, region) (rate(turnpike_residency_denied_total{@I}[$__rate_interval])) or on () vector(0)',
           "{{kind}} {{region}}")], "reqps")
    b.ts("Redirects to other regions", "Allocates answered 300 Try Alternate and SFU participants sent to their "
         "region's signal_url.",
         [('sum by (to_region) (rate(turnpike_residency_redirects_total{@I}[$__rate_interval])) or on () vector(0)',
           "{{to_region}}")], "reqps")
    b.ts("SFU participants sent away", "Signalling errors wrong_region (redirected) and forbidden_region (refused).",
         [('sum by (code) (rate(turnpike_sfu_signalling_errors_total{@I,code=~"wrong_region|forbidden_region"}[$__rate_interval]))',
           "{{code}}")], "ops")
    b.ts("Peer packets dropped by residency", "Data from or to peers outside the peer regions (peer_denied).",
         [('sum(rate(turnpike_relay_dropped_packets_total{@I,reason="peer_denied"}[$__rate_interval]))', "peer_denied")],
         "pps")
    b.row("Reloaded policies")
    b.ts("Ended and revoked by a reloaded policy", "Allocations and SFU media sessions ended, and permissions and "
         "channels removed, because a reloaded policy forbids them.",
         [('sum by (client_region) (increase(turnpike_residency_ended_total{@I}[$__rate_interval])) or on () vector(0)',
           "ended {{client_region}}"),
          ('sum by (client_region) (increase(turnpike_residency_revoked_total{@I}[$__rate_interval])) or on () vector(0)',
           "revoked {{client_region}}")])
    b.ts("Allocations ended by policy", "Allocation ends with end_reason policy.",
         [('sum(increase(turnpike_allocation_lifetime_seconds_count{@I,end_reason="policy"}[$__rate_interval]))', "policy")])
    b.table("Nodes by region", "How many nodes serve each region.",
            [('count by (region) (turnpike_build_info{region=~"$region"})', "")])
    return b


def main():
    for board in (region_overview(), sites(), residency()):
        path = os.path.join(HERE, board.uid + ".json")
        with open(path, "w") as f:
            json.dump(board.json(), f, indent=2)
            f.write("\n")
        print(path)


if __name__ == "__main__":
    main()
