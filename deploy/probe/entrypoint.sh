#!/bin/sh
# Container entrypoint of a site probe: `turnpike-diag probe` from environment variables
# (docs/diag.md "probe"). Required: PROBE_SERVER, and PROBE_USER with TURNPIKE_TURN_PASSWORD or
# TURNPIKE_TURN_SECRET. Optional: PROBE_SITE, PROBE_EVERY (60s), PROBE_TRANSPORTS (udp,tcp,tls),
# PROBE_TLS_PORT, PROBE_TCP_PORT, PROBE_METRICS_LISTEN (0.0.0.0:9643), PROBE_REPORT (a
# .../api/v1/probe-reports URL, with TURNPIKE_ADMIN_TOKEN), PROBE_NAT_EVERY, PROBE_LIFETIME_EVERY,
# PROBE_CACERT, PROBE_EXTRA_ARGS (appended as is). Arguments given to the container are appended too.
set -eu
: "${PROBE_SERVER:?PROBE_SERVER (HOST[:PORT] of the TURN server) is required}"
args="--server $PROBE_SERVER --every ${PROBE_EVERY:-60s} --transports ${PROBE_TRANSPORTS:-udp,tcp,tls}"
args="$args --metrics-listen ${PROBE_METRICS_LISTEN:-0.0.0.0:9643}"
[ -n "${PROBE_SITE:-}" ] && args="$args --site $PROBE_SITE"
[ -n "${PROBE_USER:-}" ] && args="$args --user $PROBE_USER"
[ -n "${PROBE_TLS_PORT:-}" ] && args="$args --tls-port $PROBE_TLS_PORT"
[ -n "${PROBE_TCP_PORT:-}" ] && args="$args --tcp-port $PROBE_TCP_PORT"
[ -n "${PROBE_REPORT:-}" ] && args="$args --report $PROBE_REPORT"
[ -n "${PROBE_NAT_EVERY:-}" ] && args="$args --nat-every $PROBE_NAT_EVERY"
[ -n "${PROBE_LIFETIME_EVERY:-}" ] && args="$args --lifetime-every $PROBE_LIFETIME_EVERY"
[ -n "${PROBE_CACERT:-}" ] && args="$args --cacert $PROBE_CACERT"
# Word splitting of $args and $PROBE_EXTRA_ARGS is intended: each holds options without spaces.
# shellcheck disable=SC2086
exec "${TURNPIKE_DIAG:-/usr/bin/turnpike-diag}" probe $args ${PROBE_EXTRA_ARGS:-} "$@"
