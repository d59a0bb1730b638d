#!/usr/bin/python3
"""Turnpike's monitoring against live traffic (issue 18): every PromQL expression of every Grafana
panel and every Prometheus rule returns data from a real Prometheus that scraped a live Turnpike.

One Turnpike (UDP, TCP and TLS listeners; a REST secret and a static user; the SFU; `sites:`; a
region catalog with data residency; RFC 5780 NAT discovery; an admin token), scraped every second
by /usr/bin/prometheus loaded with deploy/prometheus/turnpike-rules.yaml (evaluated every second).
Traffic, each step bounded:

  residency      with `foreign_clients: serve`: an allocation pinned to us-east (drift) and one with
                 a permission to an eu-central peer; a reload (POST /api/v1/reload) to `redirect`
                 and peer_regions [eu-west] ends the first (policy) and revokes the permission;
                 then a pinned Allocate gets 300 (redirect) and a permission to a us-east peer 403
  idle_timers    from 127.0.0.9 (site idle-lab): two silences survived, two users coming back on
                 a new port after a silence (rebindings), so the site's idle-timer estimate exists
  end_marks      five TCP allocations from 127.0.0.17 (site ends-lab) held from the start and
                 closed together after 61 s: a repeated end mark (marks are at least 60 s)
  uclient        turnutils_uclient over UDP, TCP and TLS (short runs)
  reports        turnpike-diag nat --report (turnpike_nat_clients_total{source="active"}), one
                 lifetime report, one call report and one probe report by the admin API
  loadgen        turnpike-loadgen in the background (REST credentials): 10 audio calls over UDP and
                 2 over TCP (relay quality: plain RTP and RTCP, media over TCP; `quality.interval: 1`
                 closes the analyser's intervals every second)
  sfu_call       two headless Chromium participants on the demo page (direct and relay-only over
                 UDP), kept in the call until the end
  call_report    a relay-only P2P Chromium call whose both ends post call reports (relay_check);
                 its ICE checks and consent freshness crossing the relays time both RTT legs
  relay_quality  /metrics has what the relay-quality panels and rules read: allocations with a
                 media verdict, loss and jitter by direction, RTT of both legs, media over TCP

Then, checks:
  expressions    every expression of promql.expressions() (panels, recording rules, alerts as
                 `bool` comparisons) returns a non-empty result; the empty ones are printed with
                 their origin
  zero_tail      the expressions that end in `or on () vector(0)` (event families) also return
                 data without the tail, except those in CANNOT_PRODUCE (each with why); which have
                 real data is printed
  metric_names   every metric an expression names is in /api/v1/label/__name__/values (or is an
                 event family of CANNOT_PRODUCE), every recording rule an expression uses is defined
  rules_health   /api/v1/rules: every group of the rules file loaded, every rule health "ok"
  target_up      /api/v1/targets: the turnpike target up

Needs /usr/bin/prometheus, coturn's turnutils_uclient, Chromium + chromedriver + python3-selenium,
turnpike-loadgen and turnpike-diag beside --bin. About 70-80 s (the end-mark sessions need 61 s).

Run: python3 test_monitoring.py [--bin PATH] [--prometheus PATH]
"""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.dont_write_bytecode = True   # keep the source tree clean

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import browser, harness, loadgen_lab, metrics, promql, stunclient  # noqa: E402
from integration.browser import Browser  # noqa: E402
from integration.harness import PASSWORD, REST_SECRET, USER, wait_for  # noqa: E402
from integration.promserver import DEFAULT_BIN as PROMETHEUS_BIN, Prometheus  # noqa: E402
from integration.relay_check import run_relay_check  # noqa: E402
from integration.sfu_page import inbound_by_participant, page_state, token  # noqa: E402

REPO = harness.REPO_ROOT
RULES = REPO / 'deploy' / 'prometheus' / 'turnpike-rules.yaml'
ADMIN_TOKEN = 'monitoring-admin-token-0123456789'
REGION = 'eu-west'
SITE = 'clinic-lo'              # 127.0.0.0/29: the uclient, loadgen and browser traffic
IDLE_SITE = 'idle-lab'          # 127.0.0.8/29: the idle-timer evidence (from 127.0.0.9)
ENDS_SITE = 'ends-lab'          # 127.0.0.16/29: the repeated end mark (from 127.0.0.17)
IDLE_ADDR, ENDS_ADDR = '127.0.0.9', '127.0.0.17'
END_MARK_AGE = 61.0             # server/idle_timers.cpp: marks are >= 60 s ("minutes long")
END_MARK_SESSIONS = 5           # ... and need 5 sessions lost at that age

# Event families (promql.EVENT_FAMILIES) no traffic of a short test can produce, and why. Every other
# event family must have real series here (the expression without its zero tail returns data).
CANNOT_PRODUCE = {
    # Empty: this test produces every event family. Add one only with the reason it cannot be made
    # in a short test, e.g.
    #   'turnpike_session_end_mark_seconds': 'five sessions lost at the same age of 60 s or more',
}

PATHS = ('direct', 'relay_udp', 'relay_tcp', 'relay_tls', 'relay_dtls', 'relay_external')
UCLIENT = ['-y', '-c', '-m', 4, '-n', 60, '-l', 120, '-u', USER, '-w', PASSWORD]

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def api_post(srv, path, body=None, timeout=10.0):
    """(status, JSON answer) of a POST to the admin API with the token."""
    data = json.dumps(body).encode() if body is not None else b''
    req = urllib.request.Request(srv.admin_url + path, data=data, method='POST',
                                 headers={'Authorization': f'Bearer {ADMIN_TOKEN}',
                                          'Content-Type': 'application/json'})
    try:
        with _OPENER.open(req, timeout=timeout) as r:
            st, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        st, raw = e.code, e.read()
    try:
        return st, json.loads(raw or b'null')
    except ValueError:
        return st, raw.decode(errors='replace')


def code(r):
    return r.error_code if r.is_error else 200


def config(cert, key):
    cfg = harness.add_listeners(harness.default_config(), tcp=True, tls=(cert, key))
    port = cfg['listen'][0]['port']
    cfg['region'] = REGION
    cfg['admin']['token'] = ADMIN_TOKEN
    cfg['sites'] = {SITE: ['127.0.0.0/29'], IDLE_SITE: ['127.0.0.8/29'], ENDS_SITE: ['127.0.0.16/29']}
    # The catalog: loopback split between this node's region and eu-central (a peer region); us-east
    # is named only (RFC 5737), as a redirect target: nothing is ever sent there.
    cfg['regions'] = {
        REGION: {'networks': ['127.0.0.0/16'], 'turn_urls': [f'turn:127.0.0.1:{port}'],
                 'signal_url': 'ws://127.0.0.1:1/signal'},
        'eu-central': {'networks': ['127.1.0.0/16'], 'turn_urls': ['turn:127.1.0.1:3478'],
                       'signal_url': 'ws://127.1.0.1:1/signal'},
        'us-east': {'networks': ['203.0.113.0/24'], 'turn_urls': ['turn:203.0.113.10:3478'],
                    'signal_url': 'wss://203.0.113.10:8443/signal'},
    }
    cfg['residency'] = {'peer_regions': [REGION, 'eu-central'], 'client_regions': [REGION],
                        'foreign_clients': 'serve', 'unknown_addresses': 'refuse'}
    cfg['nat_discovery'] = {'enabled': True, 'alternate': f'127.0.0.2:{harness.free_port("udp")}'}
    # Relay quality (docs/relay-quality.md): intervals of 1 s, so that the short loadgen and browser
    # calls close many (histograms observed, verdicts given) before Prometheus is asked.
    cfg['quality'] = {'interval': 1}
    cfg['sfu'] = {'signal_listen': f'127.0.0.1:{harness.free_port("tcp")}',
                  'media_listen': f'127.0.0.1:{harness.free_port("udp")}',
                  'token_keys': [harness.TOKEN_KEY]}
    return cfg


class Run:
    """What the steps share."""

    def __init__(self, args, srv, prom, tmp):
        self.args, self.srv, self.prom, self.tmp = args, srv, prom, tmp
        self.bindir = Path(srv.binary).parent
        self.held = []          # TURN clients kept until the end (live allocations)
        self.browsers = {}
        self.threads = []


# ---------------------------------------------------------------- traffic

def residency(run):
    srv = run.srv
    held = stunclient.TurnClient(srv.turn_addr)
    run.held.append(held)
    assert code(held.allocate(USER, PASSWORD)) == 200, 'alice could not allocate'
    got = code(held.create_permission(('127.1.0.1', 40000)))
    assert got == 200, f'permission to an eu-central peer: {got}'
    drift = stunclient.TurnClient(srv.turn_addr)
    run.held.append(drift)
    user, pw = stunclient.rest_credentials(REST_SECRET, 'drifter:us-east', 3600)
    got = code(drift.allocate(user, pw))
    assert got == 200, f'a credential pinned to us-east under foreign_clients: serve got {got}'
    text = metrics.scrape(srv)
    n = metrics.metric(text, 'turnpike_region_drift_sessions', client_region='us-east')
    assert n == 1, f'turnpike_region_drift_sessions{{client_region="us-east"}} {n}'
    time.sleep(1.5)   # Prometheus sees the drift session live (scrape every 1 s)

    new = copy.deepcopy(srv.config)
    new['residency'] = {'peer_regions': [REGION], 'client_regions': [REGION],
                        'foreign_clients': 'redirect', 'unknown_addresses': 'refuse'}
    harness.write_config(new, srv.config_path)
    st, ans = api_post(srv, '/api/v1/reload')
    assert st == 200 and 'residency' in (ans or {}).get('changed', []), f'reload: {st} {ans}'

    pinned = stunclient.TurnClient(srv.turn_addr)
    try:
        user, pw = stunclient.rest_credentials(REST_SECRET, 'traveller:us-east', 3600)
        got = code(pinned.allocate(user, pw))
    finally:
        pinned.close()
    assert got == 300, f'a credential pinned to us-east under redirect got {got}, want 300'
    got = code(held.create_permission(('203.0.113.5', 40000)))
    assert got == 403, f'permission to a us-east peer: {got}, want 403'
    text = metrics.scrape(srv)
    want = {('turnpike_residency_ended_total', 'client_region', 'us-east'): 1,
            ('turnpike_residency_revoked_total', 'client_region', REGION): 1,
            ('turnpike_residency_redirects_total', 'to_region', 'us-east'): 1,
            ('turnpike_residency_denied_total', 'region', 'us-east'): 1}
    got = {k: metrics.metric(text, k[0], **{k[1]: k[2]}) for k in want}
    assert got == want, f'residency counters {got}'
    return 'drift served, then ended by a reload (policy) with a permission revoked; 300 to us-east; 403 for a us-east peer'


def idle_timers(run):
    """Two silences survived and two rebindings (a user back on a new port after a silence) from
    one site: the server's passive estimate of its idle timer lies between them."""
    srv = run.srv
    errors = []

    def survivor():
        with stunclient.TurnClient(srv.turn_addr, local=(IDLE_ADDR, 0)) as c:
            out = [code(c.allocate(USER, PASSWORD))]
            for _ in range(2):
                time.sleep(1.3)
                out.append(code(c.refresh(600)))
            if out != [200] * 3:
                errors.append(f'survivor {out}')

    def roamer(name):
        user, pw = stunclient.rest_credentials(REST_SECRET, name, 3600)
        a = stunclient.TurnClient(srv.turn_addr, local=(IDLE_ADDR, 0))
        b = stunclient.TurnClient(srv.turn_addr, local=(IDLE_ADDR, 0))
        run.held += [a, b]        # the old flow stays silent, as behind a NAT that forgot it
        first = code(a.allocate(user, pw))
        time.sleep(2.6)
        second = code(b.allocate(user, pw))
        if (first, second) != (200, 200):
            errors.append(f'{name}: {first}, {second}')

    threads = [threading.Thread(target=survivor)] + [threading.Thread(target=roamer, args=(f'roamer{i}',))
                                                     for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors

    def estimate():
        text = metrics.scrape(srv)
        return (metrics.metric(text, 'turnpike_rebindings_total', site=IDLE_SITE) == 2 and
                metrics.metric(text, 'turnpike_idle_timer_seconds', site=IDLE_SITE))
    est = wait_for(f'turnpike_idle_timer_seconds{{site="{IDLE_SITE}"}}', estimate, 10)
    return f'2 survived, 2 rebound silences: estimate {est:.2f} s'


def end_marks_start(run):
    """Five TCP allocations from ENDS_ADDR, closed together by end_marks_finish."""
    clients = []
    for _ in range(END_MARK_SESSIONS):
        c = stunclient.StreamTurnClient(run.srv.listen_addr('tcp'), local=(ENDS_ADDR, 0))
        clients.append(c)
        got = code(c.allocate(USER, PASSWORD))
        assert got == 200, f'TCP allocation from {ENDS_ADDR}: {got}'
    run.end_marks = (time.monotonic(), clients)
    return f'{len(clients)} TCP allocations held'


def end_marks_finish(run):
    t0, clients = run.end_marks
    wait = END_MARK_AGE - (time.monotonic() - t0)
    if wait > 0:
        time.sleep(wait)
    for c in clients:
        c.refresh(600)     # their last packet at that age too
    for c in clients:
        c.close()

    def mark():
        return metrics.metric(metrics.scrape(run.srv), 'turnpike_session_end_mark_seconds', site=ENDS_SITE)
    got = wait_for(f'turnpike_session_end_mark_seconds{{site="{ENDS_SITE}"}}', mark, 10)
    return f'{len(clients)} sessions lost at {got:.1f} s (waited {max(wait, 0):.1f} s for their age)'


def uclient_start(run):
    """turnutils_uclient over UDP, TCP and TLS at once, in the background (uclient_finish)."""
    srv = run.srv
    run.uclient = {}

    def one(name, flags, addr):
        run.uclient[name] = harness.run_uclient(flags + UCLIENT, server=addr, timeout=60)
    for name, flags, addr in (('udp', [], srv.turn_addr), ('tcp', ['-t'], srv.listen_addr('tcp')),
                              ('tls', ['-t', '-S'], srv.listen_addr('tls'))):
        t = threading.Thread(target=one, args=(name, flags, addr), daemon=True)
        t.start()
        run.threads.append(t)
    return 'udp, tcp and tls started'


def uclient_finish(run):
    for t in run.threads:
        t.join(timeout=70)
    said = []
    for name in ('udp', 'tcp', 'tls'):
        res = run.uclient.get(name)
        assert res, f'{name}: no uclient result'
        assert res['returncode'] == 0 and not res['timed_out'] and res['received'], \
            f'{name}: exit {res["returncode"]}, received {res["received"]}\n{harness.uclient_tail(res)}'
        said.append(f'{name} {res["received"]}/{res["sent"]} in {res["duration"]:.0f}s')
    return 'received/sent: ' + ', '.join(said)


def reports(run):
    srv = run.srv
    host, port = srv.turn_addr
    diag = run.bindir / 'turnpike-diag'
    r = subprocess.run([str(diag), 'nat', '--server', f'{host}:{port}', '--json', '--timeout-ms', '1500',
                        '--report', f'{srv.admin_url}/api/v1/nat-reports', '--token', ADMIN_TOKEN,
                        '--tag', f'site={SITE}', '--tag', 'room=monitoring'],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f'turnpike-diag nat exited {r.returncode}: {r.stderr[-600:]}'
    verdict = json.loads(r.stdout)
    st, ans = api_post(srv, '/api/v1/lifetime-reports', {'timeout_seconds': 92.5, 'result': 'measured',
                                                          'tags': {'site': SITE}})
    assert st == 202, f'lifetime report: {st} {ans}'
    # One call report before the browsers' (admin token), so that theirs are an increase of a series
    # Prometheus has already seen (a rate over it is then > 0).
    st, ans = api_post(srv, '/api/v1/call-reports', {
        'local_candidate_type': 'relay', 'remote_candidate_type': 'relay', 'relay_protocol': 'udp',
        'duration_seconds': 30, 'tags': {'site': SITE}})
    assert st == 202, f'call report: {st} {ans}'
    # A site probe round (turnpike-diag probe --report's JSON; the probe itself: test_probe.py), with
    # the NAT class its slower probe found: the site path health panels and alerts read these.
    st, ans = api_post(srv, '/api/v1/probe-reports', {
        'round': 1, 'tags': {'site': SITE},
        'transports': [{'transport': 'udp', 'ok': True, 'setup_seconds': 0.01, 'rtt_seconds': 0.02,
                        'jitter_seconds': 0.001, 'loss_ratio': 0, 'sent': 10, 'received': 10},
                       {'transport': 'tcp', 'ok': False, 'setup_seconds': None, 'reason': 'timeout',
                        'stage': 'allocate', 'error_code': 0, 'detail': 'timeout'}],
        'nat': {'mapping': 'endpoint_independent', 'filtering': 'address_dependent', 'class': 'restricted_cone'}})
    assert st == 202, f'probe report: {st} {ans}'
    text = metrics.scrape(srv)
    n = metrics.metric(text, 'turnpike_nat_clients_total', source='active', site=SITE)
    assert n == 1, f'turnpike_nat_clients_total{{source="active",site="{SITE}"}} {n}'
    return f'nat: {verdict.get("mapping")}/{verdict.get("filtering")}; lifetime, call and probe reports accepted'


LOADGEN_CALLS = {'udp': 10, 'tcp': 2}     # TCP: media over TCP (turnpike_media_over_tcp_allocations)


def loadgen_start(run):
    binary = loadgen_lab.loadgen_binary(str(run.srv.binary))
    run.loadgen = {}
    for transport, calls in LOADGEN_CALLS.items():
        host, port = run.srv.turn_addr if transport == 'udp' else run.srv.listen_addr(transport)
        args = ['--server', f'{host}:{port}', '--transport', transport, '--rest-secret', REST_SECRET,
                '--realm', harness.REALM, '--calls', calls, '--ramp', '40/s', '--duration', '8s',
                '--max-duration', '30s', '--profile', 'audio', '--interval', '1s']
        out = os.path.join(run.tmp, f'loadgen-{transport}')
        run.loadgen[transport] = loadgen_lab.start_loadgen(binary, args, out)
    return 'started: ' + '; '.join(' '.join(map(str, lrun.argv)) for _, lrun, _ in run.loadgen.values())


def loadgen_finish(run):
    said = []
    for transport, (proc, lrun, t0) in run.loadgen.items():
        loadgen_lab.finish_loadgen(proc, lrun, t0, timeout=38)
        report = loadgen_lab.need_report(lrun)
        t = report['totals']
        want = LOADGEN_CALLS[transport]
        assert not lrun.timed_out and t['setups_ok'] == want, f'{transport}: {t}\n{lrun.describe()}'
        said.append(f'{transport}: exit {lrun.rc}, {t["setups_ok"]} calls set up, sent {t["sent"]}, '
                    f'received {t["received"]}')
    return '; '.join(said)


def relay_quality(run):
    """What the relay-quality expressions read, on the node itself: a clearer failure than an empty
    expression. Loss and jitter come from loadgen's RTP, RTT from the browsers' ICE checks and
    consent freshness, media over TCP from loadgen's TCP calls."""
    def ready():
        text = metrics.scrape(run.srv)
        got = {'media verdicts': sum(metrics.metric(text, 'turnpike_allocations_by_quality', verdict=v) is not None
                                     for v in ('good', 'degraded', 'bad')),
               'media over TCP series': metrics.metric(text, 'turnpike_media_over_tcp_allocations') is not None}
        for d in ('to_peer', 'to_client'):
            got[f'loss {d}'] = metrics.metric(text, 'turnpike_relay_loss_ratio_count', direction=d) or 0
            got[f'jitter {d}'] = metrics.metric(text, 'turnpike_relay_jitter_seconds_count', direction=d) or 0
        for leg in ('client', 'peer'):
            got[f'rtt {leg}'] = metrics.metric(text, 'turnpike_relay_rtt_seconds_count', leg=leg) or 0
        got['rtp payloads'] = metrics.metric(text, 'turnpike_relay_payloads_total', kind='rtp') or 0
        run.quality_seen = got
        return got if all(got.values()) else None
    try:
        got = wait_for('relay-quality series', ready, 10)
    except Exception:
        raise AssertionError(f'relay-quality series missing or empty: {getattr(run, "quality_seen", None)}')
    return ', '.join(f'{k} {v:g}' if not isinstance(v, bool) else k for k, v in got.items())


def sfu_call(run):
    srv = run.srv
    base = f'http://{srv.config["sfu"]["signal_listen"]}'
    for name, relay in (('direct', ''), ('relay_udp', 'udp')):
        b = Browser(f'mon-{name}', [])
        run.browsers[name] = b
        tok = token(srv, name)['token']
        b.drv.get(f'{base}/demo/?relay={relay}&w=320&h=240&fps=15#token={tok}')
    ids = {}
    for name, b in run.browsers.items():
        st = wait_for(f'{name} joins', lambda b=b: (lambda s: s if s['joined'] or s['error'] else None)(
            page_state(b.drv)), 30)
        assert not st['error'], f'{name} could not join: {st["error"]}'
        ids[name] = st['self']

    seen = {}

    def decoding():
        out, ok = {}, True
        for name, b in run.browsers.items():
            other = ids['relay_udp' if name == 'direct' else 'direct']
            got = inbound_by_participant(page_state(b.drv)).get(other, {'video': 0, 'audio': 0})
            ok = ok and got['video'] >= 30 and got['audio'] >= 50
            out[name] = got
        seen['counts'] = out
        return out if ok else None
    try:
        got = wait_for('both participants decode each other', decoding, 60, 1.0)
    except AssertionError as e:
        raise AssertionError(f'{e}; frames/audio packets each page saw: {seen.get("counts")}') from None
    text = metrics.scrape(srv)
    sessions = {p: v for p in PATHS if (v := metrics.metric(text, 'turnpike_sfu_sessions', path=p))}
    assert sum(sessions.values()) == 2 and sessions.get('relay_udp'), f'turnpike_sfu_sessions {sessions}'
    return f'two participants (one relay-only over UDP) in one room, sessions {sessions}, decoding {got}'


def call_report(run):
    signal = run.srv.config['sfu']['signal_listen']
    report = {'script': f'http://{signal}/sdk/call-report.js', 'url': f'http://{signal}/api/v1/call-reports',
              'tags': {'site': SITE}}
    res = run_relay_check(run.srv, 60, call_report=report)
    paths = [a['answer']['path'] for a in report['answers']]
    return f'{res}; reported {paths}'


# ---------------------------------------------------------------- Prometheus checks

def prometheus_up(run):
    prom = run.prom

    def up():
        r = prom.query('up{job="turnpike"}')
        return r and r[0]['value'][1] == '1'
    wait_for('the turnpike target up in Prometheus', up, 20, 0.3)
    return f'{prom.url} scraping {prom.target} every 1s, rules {RULES.relative_to(REPO)}'


def answers(prom, exprs, timeout):
    """{expr: result} of instant queries, each expression asked again (every second, up to `timeout`
    seconds) until it returns data: a scrape that fails (a loaded machine: the scrape timeout is the
    1 s interval) marks the target's series stale, and instant vectors are empty until the next one
    succeeds; recording rules over recording rules need an evaluation cycle or two. Expressions
    that never answered map to []."""
    got = {}
    pending = list(dict.fromkeys(exprs))
    deadline = time.monotonic() + timeout
    while pending:
        if prom.scalar('up{job="turnpike"}') == 1:
            for e in pending:
                r = prom.query(e)
                if r:
                    got[e] = r
            pending = [e for e in pending if e not in got]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    return {e: got.get(e, []) for e in exprs}


def expressions(run):
    prom = run.prom
    items = promql.expressions(str(REPO))
    prom.wait_scrapes_after(time.time(), n=2, timeout=15)     # two scrapes after the traffic
    res = answers(prom, [it['expr'] for it in items], 30)
    results = [(it, res[it['expr']]) for it in items]
    empty = [it for it, r in results if not r]
    nan = [it['origin'] for it, r in results if r and all(s['value'][1] in ('NaN', '+Inf', '-Inf') for s in r)]
    if nan:
        print(f'  NOTE {len(nan)} expressions answer only NaN/Inf samples (data, but a 0/0):', flush=True)
        for o in nan:
            print(f'    {o}', flush=True)
    if empty:
        for it in empty:
            print(f'  EMPTY {it["origin"]}\n        {it["expr"]}', flush=True)
        raise AssertionError(f'{len(empty)} of {len(items)} expressions returned no data: '
                             + '; '.join(it['origin'] for it in empty))
    kinds = {}
    for it in items:
        kinds[it['kind']] = kinds.get(it['kind'], 0) + 1
    return f'all {len(items)} expressions return data ({", ".join(f"{n} {k}s" for k, n in sorted(kinds.items()))})'


def zero_tail(run):
    prom = run.prom
    tailed = [it for it in promql.expressions(str(REPO)) if it['comment']]
    real, tail_only = [], []
    for it in tailed:
        assert it['expr'].endswith(promql.ZERO_TAIL), f'{it["origin"]}: a comment but no zero tail: {it["expr"]}'
    bare = {it['origin']: it['expr'][:-len(promql.ZERO_TAIL)] for it in tailed}
    res = answers(prom, list(bare.values()), 15)
    for it in tailed:
        (real if res[bare[it['origin']]] else tail_only).append(it)
    print(f'  zero-tail expressions with real data ({len(real)} of {len(tailed)}):', flush=True)
    for it in real:
        print(f'    {it["origin"]}', flush=True)
    if tail_only:
        print('  zero-tail expressions with the tail\'s 0 only:', flush=True)
    bad = []
    for it in tail_only:
        fams = [m for m in promql.metric_names(it['expr']) if m in promql.EVENT_FAMILIES]
        why = [CANNOT_PRODUCE[m] for m in fams if m in CANNOT_PRODUCE]
        print(f'    {it["origin"]} ({", ".join(fams)}): ' + ('; '.join(why) if why else 'NOT ALLOWED'), flush=True)
        # An expression over several event families (the idle-timer alert) has data when any has.
        if not why:
            bad.append(it['origin'])
    assert not bad, f'event families this traffic produces have no series: {bad}'
    return f'{len(real)} of {len(tailed)} zero-tail expressions have real data, ' \
           f'{len(tail_only)} only the tail (allowed: {sorted(CANNOT_PRODUCE) or "none"})'


def metric_names(run):
    prom = run.prom
    names = set(prom.api('/api/v1/label/__name__/values'))
    records = set(promql.recording_rule_names(str(REPO)))
    missing, unknown_rules, used = {}, {}, set()
    for it in promql.expressions(str(REPO)):
        for m in promql.metric_names(it['expr']):
            used.add(m)
            if m not in names and m not in CANNOT_PRODUCE:
                missing.setdefault(m, []).append(it['origin'])
        for r in set(re.findall(r'\bturnpike:[a-z0-9_:]+', it['expr'])):
            if r not in records:
                unknown_rules.setdefault(r, []).append(it['origin'])
    assert not missing, 'metrics that do not exist in Prometheus: ' + '; '.join(
        f'{m} (in {o[0]}{" and more" if len(o) > 1 else ""})' for m, o in sorted(missing.items()))
    assert not unknown_rules, f'recording rules used but not defined: {unknown_rules}'
    no_data = sorted(r for r in records if r not in names)
    assert not no_data, f'recording rules that produced no series: {no_data}'
    return f'{len(used)} metric names, {len(records)} recording rules, all present'


def rules_health(run):
    import yaml
    with open(RULES) as f:
        want = {g['name']: len(g['rules']) for g in yaml.safe_load(f)['groups']}

    def healthy():
        groups = {g['name']: g for g in run.prom.api('/api/v1/rules')['groups']}
        bad = []
        for name, n in want.items():
            g = groups.get(name)
            if not g or len(g['rules']) != n:
                bad.append(f'group {name}: {len(g["rules"]) if g else "not"} loaded of {n}')
                continue
            bad += [f'{r["name"]}: {r.get("health")} {r.get("lastError", "")}'
                    for r in g['rules'] if r.get('health') != 'ok']
        return 'ok' if not bad else None, bad
    deadline = time.monotonic() + 10
    while True:
        ok, bad = healthy()
        if ok or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not bad, f'rules not healthy: {bad}'
    return f'{len(want)} groups, {sum(want.values())} rules, every one health ok'


def target_up(run):
    targets = run.prom.api('/api/v1/targets')['activeTargets']
    mine = [t for t in targets if t['labels'].get('job') == 'turnpike']
    assert len(mine) == 1 and mine[0]['health'] == 'up' and not mine[0].get('lastError'), mine
    return f'{mine[0]["scrapeUrl"]} up, last scrape {mine[0].get("lastScrapeDuration", 0) * 1000:.1f} ms'


# ---------------------------------------------------------------- main

def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    ap.add_argument('--prometheus', default=PROMETHEUS_BIN)
    args = ap.parse_args()
    tr = harness.TestRunner('monitoring')
    t0 = time.monotonic()
    print('== test_monitoring', flush=True)
    if args.server != 'turnpike':
        print('SKIP: the monitoring is Turnpike\'s')
        return 0
    binary = args.bin or os.environ.get('TURNPIKE_BIN') or str(harness.DEFAULT_TURNPIKE_BIN)
    needs = [args.prometheus, harness.DEFAULT_UCLIENT_BIN, str(Path(binary).parent / 'turnpike-diag'),
             loadgen_lab.loadgen_binary(binary)] + browser.missing()
    missing = [p for p in needs if not os.path.exists(p)]
    if missing:
        tr.fail('prerequisites', f'not found: {missing}')
        return tr.finish()
    tmp = tempfile.mkdtemp(prefix='turnpike-it-monitoring-')
    run = None
    try:
        cert, key = harness.make_cert(tmp)
        with harness.Turnpike(config(cert, key), binary=binary, name='turnpike-monitoring') as srv:
            prom = Prometheus(args.prometheus, '%s:%d' % srv.admin_addr, tmp, rule_files=[RULES])
            run = Run(args, srv, prom, tmp)
            try:
                tr.run('end_marks_start', end_marks_start, run)     # first: they must reach END_MARK_AGE
                prom.start()
                if tr.run('prometheus_up', prometheus_up, run) is None:
                    return tr.finish()
                tr.run('residency', residency, run)
                tr.run('reports', reports, run)
                tr.run('loadgen_start', loadgen_start, run)
                tr.run('uclient_start', uclient_start, run)
                tr.run('idle_timers', idle_timers, run)
                tr.run('sfu_call', sfu_call, run)
                tr.run('call_report', call_report, run)
                tr.run('uclient', uclient_finish, run)
                if hasattr(run, 'loadgen'):
                    tr.run('loadgen', loadgen_finish, run)
                if hasattr(run, 'end_marks'):
                    tr.run('end_marks', end_marks_finish, run)
                tr.run('relay_quality', relay_quality, run)
                srv.check_alive()
                print(f'(traffic done at {time.monotonic() - t0:.1f}s)', flush=True)
                tr.run('expressions', expressions, run)
                tr.run('zero_tail', zero_tail, run)
                tr.run('metric_names', metric_names, run)
                tr.run('rules_health', rules_health, run)
                tr.run('target_up', target_up, run)
            finally:
                for b in run.browsers.values():
                    b.close()
                for c in run.held:
                    c.close()
                if tr.failed:
                    print(f'----- prometheus log tail; {prom.log_path}\n{prom.log_tail(20)}', file=sys.stderr)
                prom.stop()
    except harness.ServerError as e:
        tr.fail('server', str(e))
    finally:
        if tr.failed or os.environ.get('TURNPIKE_KEEP_TMP') == '1':
            print(f'(temp dir kept: {tmp})', file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f'(total {time.monotonic() - t0:.1f}s)', flush=True)
    return tr.finish()


if __name__ == '__main__':
    sys.exit(main())
