#!/usr/bin/python3
"""Prometheus metrics and the admin API, against the real binary.

Three servers, one after the other (region eu-west-1, an admin token):

  A  metrics.per_allocation: false
       promtool_live_scrape             `promtool check metrics` on a /metrics scrape taken while
                                        turnutils_uclient -y is relaying; turnpike_allocate_requests_total
                                        and its deprecated copy turnpike_allocations_total agree
  B  metrics.per_allocation: true, scraped every second by a real Prometheus server
       promtool_live_scrape_per_allocation   the same with the per-allocation series
       api_live_counts_during_uclient   /api/v1/allocations polled during the uclient run: counts
                                        only grow, bytes == packets * -l, region, live records
       uclient_run                      the run itself: no loss, received == sent
       prometheus_relay_packets         PromQL sum(turnpike_relay_packets_total{direction=...})
                                        (and bytes) through Prometheus's HTTP API == uclient's
                                        sent/received (within 1%; exact values printed)
       prometheus_build_info_region     turnpike_build_info{region="eu-west-1"} == 1
       prometheus_scrape_health         every scrape up; Prometheus refused no sample
       ended_records_match_uclient      the allocation_ended log records, summed, == uclient's
                                        sent/received messages and bytes, exactly
       api_stunclient_byte_counts       two allocations (ChannelData one way, Send indications the
                                        other): /api/v1/allocations/{id} and ?user= show exactly
                                        the bytes and packets relayed; so do the per-allocation series
       api_auth, api_bad_requests, api_region_filter, api_not_found_and_methods, api_probes
       shutdown_records_b               SIGTERM: exit 0; the allocations still live end with
                                        end_reason shutdown and the region; one end record per
                                        allocation created
  C  metrics.per_allocation: true, per_allocation_limit at its default (500)
       per_allocation_cap               1000 allocations, 5 of them busy: exactly 500 ids exported,
                                        turnpike_allocation_series_omitted == 500, the 5 busy ones
                                        exported with their byte counts, turnpike_allocations == 1000;
                                        the scrape is timed (and passes promtool)
       shutdown_records_c               SIGTERM: 1000 allocation_ended records, end_reason shutdown,
                                        region, the ids the API listed
       record_wall_clock_times          created + age_s and last_activity.at + seconds_ago agree
                                        with the log line's timestamp

Turnpike only (coturn has no such API). Needs /usr/bin/prometheus and /usr/bin/promtool (Debian
package prometheus) and coturn's turnutils_uclient.

Run: python3 test_metrics.py [--bin PATH] [--prometheus PATH] [--promtool PATH]
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime

sys.dont_write_bytecode = True   # keep the source tree clean

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import harness, metrics  # noqa: E402
from integration import stunclient  # noqa: E402
from integration.harness import PASSWORD, USER  # noqa: E402
from integration.promserver import Prometheus  # noqa: E402

REGION = 'eu-west-1'
OTHER_REGION = 'us-east-1'
TOKEN = 'metrics-test-token-0123456789'
CAROL, CAROL_PASSWORD = 'carol', 'looking-glass'   # the stunclient allocations of check 3a
# A TURN REST user (chosen by whoever holds the secret) that needs escaping in a label value.
ODD_USER = 'o"dd\\us\ner }'

# turnutils_uclient runs (-c: no RTCP allocations; channels, the default)
UC_SIZE = 120
UC_PROM = ['-y', '-c', '-m', 20, '-n', 200, '-l', UC_SIZE, '-u', USER, '-w', PASSWORD]
UC_SCRAPE = ['-y', '-c', '-m', 10, '-n', 100, '-l', UC_SIZE, '-u', USER, '-w', PASSWORD]
UC_TIMEOUT = 90.0

CAP_ALLOCATIONS = 1000
CAP_LIMIT = 500          # metrics.per_allocation_limit's default; the test leaves it unset
CAP_BUSY = 5
SCRAPE_TIME_LIMIT = 10.0

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# ---------------------------------------------------------------- HTTP

def http(url, method='GET', token=None, authorization=None, timeout=5.0):
    """(status, headers, body bytes) of one request; HTTP errors are answers, not exceptions."""
    req = urllib.request.Request(url, method=method, data=b'' if method in ('POST', 'PUT') else None)
    if token is not None:
        req.add_header('Authorization', f'Bearer {token}')
    if authorization is not None:
        req.add_header('Authorization', authorization)
    try:
        with _OPENER.open(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def api(srv, path, token=TOKEN):
    """GET an API path with the bearer token; the JSON body (asserts 200)."""
    st, _, body = http(srv.admin_url + path, token=token, timeout=10.0)
    assert st == 200, f'GET {path}: HTTP {st} {body[:300]!r}'
    return json.loads(body)


def promtool_check(body, promtool):
    """Runs `promtool check metrics` on a scrape; raises with its complaints."""
    p = subprocess.run([promtool, 'check', 'metrics'], input=body, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    text = p.stdout.decode('utf-8', 'replace').strip()
    assert p.returncode == 0 and not text, \
        f'promtool check metrics: exit {p.returncode}: {text[:2000]}'


# ---------------------------------------------------------------- child processes

class BackgroundUclient:
    """turnutils_uclient in its own process group, output to a file, so the test can scrape
    and poll while it relays."""

    def __init__(self, args, server, workdir, name='uclient'):
        binary = os.environ.get('TURNUTILS_UCLIENT') or harness.DEFAULT_UCLIENT_BIN
        host, port = server.turn_addr
        self.cmd = [binary] + [str(a) for a in args] + ['-p', str(port), host]
        self.out_path = os.path.join(workdir, f'{name}.out')
        self._out = open(self.out_path, 'wb')
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdout=self._out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        harness._register(self.proc)
        self.end_wall = None     # time.time() when it was seen to exit

    def running(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        """Waits (bounded) and returns run_uclient's result dict."""
        timed_out = False
        try:
            self.proc.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            timed_out = True
        self.end_wall = self.end_wall or time.time()
        self.kill()
        with open(self.out_path, 'rb') as f:
            text = f.read().decode('utf-8', 'replace')
        res = harness.parse_uclient_output(text)
        res.update(returncode=self.proc.returncode, timed_out=timed_out,
                   duration=round(time.monotonic() - self.t0, 2), cmd=self.cmd, output=text)
        return res

    def kill(self):
        harness.reap(self.proc)
        if not self._out.closed:
            self._out.close()


# ---------------------------------------------------------------- servers and helpers

def config(**kw):
    base = dict(region=REGION, admin={'token': TOKEN})
    return harness.default_config(harness.deep_merge(base, kw))


class Phase:
    """One server for a group of checks. The server is stopped by stop() (a check of its own) or,
    on the way out, killed; its temp dir is kept when a check of the phase failed."""

    def __init__(self, tr, name, cfg, binary):
        self.tr = tr
        self.name = name
        self.srv = harness.Turnpike(cfg, binary=binary, name=f'turnpike[{name}]')
        self.failed_before = tr.failed

    def __enter__(self):
        self.srv.start()
        return self

    def stop(self):
        """SIGTERM; asserts exit 0 within the harness's limit. Returns the seconds it took."""
        t0 = time.monotonic()
        self.srv.stop()
        return time.monotonic() - t0

    def __exit__(self, exc_type, exc, tb):
        srv = self.srv
        if srv.proc is not None:
            srv._force_stop()      # SIGKILL if still running (stop() was not reached)
        if exc_type is None and self.tr.failed == self.failed_before:
            srv.cleanup()
        elif srv.tmpdir:
            print(f'({srv.name} temp dir kept: {srv.tmpdir})', file=sys.stderr, flush=True)
        return False


def ended_records(srv):
    """[(log line dict, allocation record dict)] of the allocation_ended lines."""
    out = []
    for ev in srv.log_events('allocation_ended'):
        rec = ev.get('allocation')
        if isinstance(rec, str):
            rec = json.loads(rec)
        out.append((ev, rec))
    return out


def addr_text(addr):
    host, port = addr[0], addr[1]
    return f'[{host}]:{port}' if ':' in host else f'{host}:{port}'


def by_client(records):
    return {r['client']: r for r in records}


COUNTERS = ('bytes_to_peer', 'packets_to_peer', 'bytes_to_client', 'packets_to_client')


def fmt_num(v):
    return 'none' if v is None else f'{v:.0f}'


def counts(rec):
    return tuple(rec[k] for k in COUNTERS)


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        new = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft == resource.RLIM_INFINITY or soft >= need


def check_uclient(res, expect_msgs):
    tail = '\n' + harness.uclient_tail(res)
    cmd = ' '.join(res['cmd'])
    assert not res['timed_out'], f'uclient timed out after {res["duration"]}s: {cmd}{tail}'
    assert res['complete'], f'no uclient summary (exit {res["returncode"]}): {cmd}{tail}'
    problems = []
    if res['returncode'] != 0:
        problems.append(f'exit code {res["returncode"]}')
    if res['errors']:
        problems.append(f'client errors: {res["errors"][:3]}')
    if res['sent'] != expect_msgs:
        problems.append(f'sent {res["sent"]} != {expect_msgs}')
    if res['received'] != res['sent'] or res['lost'] != 0:
        problems.append(f'received {res["received"]} of {res["sent"]}, lost {res["lost"]}')
    if res['send_bytes'] != res['sent'] * UC_SIZE or res['recv_bytes'] != res['received'] * UC_SIZE:
        problems.append(f'bytes {res["send_bytes"]}/{res["recv_bytes"]} are not messages * {UC_SIZE}')
    assert not problems, '; '.join(problems) + f' [{cmd}]{tail}'


def wait_mid_run(srv, uc, timeout=30.0):
    """Scrapes /metrics until relaying has started; returns (body, samples). Asserts that
    uclient was still running when the scrape was answered."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert uc.running(), 'uclient ended before relaying was seen in /metrics'
        body, _ = metrics.scrape_timed(srv)
        still = uc.running()
        samples = metrics.parse(body)
        pkts = metrics.msum(samples, 'turnpike_relay_packets_total', direction='to_peer')
        if pkts > 0:
            assert still, 'uclient had finished by the time of the scrape (not mid-run)'
            return body, samples
        time.sleep(0.1)
    raise AssertionError(f'no relayed packet in /metrics within {timeout}s of starting uclient')


# ---------------------------------------------------------------- phase A

def phase_a(tr, args, workdir):
    try:
        with Phase(tr, 'A', config(metrics={'per_allocation': False}), args.bin) as ph:
            srv = ph.srv

            def promtool_live_scrape():
                uc = BackgroundUclient(UC_SCRAPE, srv, workdir, 'uclient-a')
                try:
                    body, samples = wait_mid_run(srv, uc)
                    allocs = metrics.msum(samples, 'turnpike_allocations')
                    pkts = metrics.msum(samples, 'turnpike_relay_packets_total', direction='to_peer')
                    assert allocs > 0, 'turnpike_allocations is 0 mid-run'
                    per = [n for n, _, _ in samples if n.startswith('turnpike_allocation_relay')]
                    assert not per, f'per-allocation series without metrics.per_allocation: {per[:3]}'
                    # Issue 17: the renamed counter, and its old name kept one release as deprecated.
                    served = metrics.msum(samples, 'turnpike_allocate_requests_total', result='success')
                    old = metrics.msum(samples, 'turnpike_allocations_total', result='success')
                    assert served > 0 and old == served, f'allocate requests {served}, deprecated copy {old}'
                    assert b'# HELP turnpike_allocations_total Deprecated, use turnpike_allocate_requests_total' in body
                    promtool_check(body, args.promtool)
                    res = uc.wait(UC_TIMEOUT)
                finally:
                    uc.kill()
                check_uclient(res, 10 * 100)
                return (f'scrape mid-run: {len(body)} bytes, {len(samples)} samples, '
                        f'{int(allocs)} allocations, {int(pkts)} packets to_peer so far')
            tr.run('promtool_live_scrape', promtool_live_scrape)
            tr.run('server_a_stops', ph.stop)
    except harness.ServerError as e:
        tr.fail('server[A]', str(e))


# ---------------------------------------------------------------- phase B

class PhaseB:
    """What phase B's steps share: the phase's server, Prometheus, the uclient run and its result
    (res, uc_ok), `st` (results one step leaves for a later one) and the summary lines."""

    def __init__(self, args, workdir, summary, ph):
        self.args, self.workdir, self.summary, self.ph, self.srv = args, workdir, summary, ph, ph.srv
        self.st = {}
        self.prom = self.uc = self.res = None
        self.uc_ok = False


def prometheus_up(b):
    """Prometheus starts and sees the target up within 20 s."""
    prom = b.prom
    prom.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if prom.scalar('up{job="turnpike"}') == 1.0:
            return f'{prom.url} scraping {prom.target} every 1s'
        time.sleep(0.2)
    raise AssertionError(f'target never up: {prom.query("up")}\n{prom.log_tail()}')


def promtool_live_scrape_per_allocation(b):
    """A scrape mid-run has per-allocation series (the odd user label round-tripped) and passes promtool."""
    srv, uc, args = b.srv, b.uc, b.args
    body, samples = wait_mid_run(srv, uc)
    ids = {l['id'] for n, l, _ in samples if n == 'turnpike_allocation_relay_packets_total'}
    busy = metrics.msum(samples, 'turnpike_allocation_relay_packets_total', direction='to_peer')
    assert ids, 'no per-allocation series mid-run'
    assert busy > 0, 'per-allocation packet counters all 0 mid-run'
    users = {l.get('user') for n, l, _ in samples if n == 'turnpike_allocation_age_seconds'}
    assert ODD_USER in users, f'user label {ODD_USER!r} not round-tripped: {users}'
    d = api(srv, '/api/v1/allocations?user=' + urllib.parse.quote(ODD_USER))
    assert d['count'] == 1 and d['allocations'][0]['user'] == ODD_USER, \
        f'?user={ODD_USER!r}: {d["count"]} {[r["user"] for r in d["allocations"]]}'
    promtool_check(body, args.promtool)
    return f'{len(body)} bytes, {len(ids)} allocations exported, {int(busy)} packets so far'


def api_live_counts_during_uclient(b):
    """The API polled while uclient relays: counts consistent, never going down, growing; b.st gets res, polls and last_live."""
    srv, st, uc = b.srv, b.st, b.uc
    polls = []
    deadline = time.monotonic() + UC_TIMEOUT
    while uc.running() and time.monotonic() < deadline:
        d = api(srv, f'/api/v1/allocations?user={USER}')
        polls.append({r['id']: r for r in d['allocations']})
        time.sleep(0.3)
    st['res'] = uc.wait(max(1.0, deadline - time.monotonic()))
    st['polls'] = polls
    problems = []
    prev = {}
    growing = 0
    last_total = 0
    for i, snap in enumerate(polls):
        for aid, r in snap.items():
            c = counts(r)
            if r['bytes_to_peer'] != r['packets_to_peer'] * UC_SIZE or \
                    r['bytes_to_client'] != r['packets_to_client'] * UC_SIZE:
                problems.append(f'poll {i} id {aid}: bytes != packets * {UC_SIZE}: {c}')
            if r['region'] != REGION or r['end_reason'] is not None or r['user'] != USER:
                problems.append(f'poll {i} id {aid}: region {r["region"]!r} end_reason '
                                f'{r["end_reason"]!r} user {r["user"]!r}')
            if aid in prev and any(x < y for x, y in zip(c, prev[aid])):
                problems.append(f'poll {i} id {aid}: went down {prev[aid]} -> {c}')
            prev[aid] = c
        total = sum(r['packets_to_peer'] for r in snap.values())
        if total > last_total:
            growing += 1
        last_total = max(last_total, total)
    st['last_live'] = prev
    assert not problems, f'{len(problems)} problems: {problems[:5]}'
    assert growing >= 3, f'only {growing} of {len(polls)} polls saw the counts grow'
    return f'{len(polls)} polls, {growing} saw traffic grow, up to {len(prev)} allocations'


def uclient_run(b):
    """uclient's own result."""
    res = b.res
    check_uclient(res, 20 * 200)
    return f'sent={res["sent"]} received={res["received"]} in {res["duration"]}s'


def prometheus_relay_packets(b):
    """Prometheus's sums of the relay counters agree with uclient within 1%, and it saw them change mid-run."""
    prom, st, uc, res, uc_ok, summary = b.prom, b.st, b.uc, b.res, b.uc_ok, b.summary
    assert st.get('prom'), 'Prometheus did not come up'
    assert uc_ok, 'the uclient run failed'
    stamps = prom.wait_scrapes_after(uc.end_wall, 2)
    got = {}
    for what in ('packets', 'bytes'):
        for d in ('to_peer', 'to_client'):
            got[what, d] = prom.scalar(f'sum(turnpike_relay_{what}_total{{direction="{d}"}})')
    expect = {('packets', 'to_peer'): res['sent'], ('packets', 'to_client'): res['received'],
              ('bytes', 'to_peer'): res['send_bytes'], ('bytes', 'to_client'): res['recv_bytes']}
    changes = prom.scalar('changes(turnpike_relay_packets_total'
                          '{direction="to_peer",transport="udp"}[10m])')
    text = ', '.join(f'{w} {d}: prometheus {fmt_num(got[w, d])} uclient {expect[w, d]}'
                     for w, d in expect)
    summary.append(f'prometheus: {text}; counter changes seen {fmt_num(changes)}; '
                   f'{len(stamps)} scrapes after the run')
    bad = [f'{w} {d}: {got[w, d]} vs {expect[w, d]}' for w, d in expect
           if got[w, d] is None or abs(got[w, d] - expect[w, d]) > 0.01 * expect[w, d]]
    assert not bad, f'off by more than 1%: {bad}'
    assert changes is not None and changes >= 2, \
        f'Prometheus saw the to_peer counter change {changes} times (not scraped mid-run?)'
    return text


def prometheus_build_info_region(b):
    """turnpike_build_info has the region and a version, value 1."""
    prom, st = b.prom, b.st
    assert st.get('prom'), 'Prometheus did not come up'
    r = prom.query('turnpike_build_info')
    assert len(r) == 1, f'turnpike_build_info: {r}'
    labels, value = r[0]['metric'], float(r[0]['value'][1])
    assert labels.get('region') == REGION, f'region label {labels.get("region")!r} != {REGION!r}'
    assert labels.get('version'), f'no version label: {labels}'
    assert value == 1.0, f'turnpike_build_info = {value}'
    n = prom.scalar(f'count(turnpike_build_info{{region="{REGION}"}})')
    assert n == 1.0, f'count by region = {n}'
    return f'{labels}'


def prometheus_scrape_health(b):
    """Every scrape up; Prometheus refused no sample."""
    prom, st = b.prom, b.st
    assert st.get('prom'), 'Prometheus did not come up'
    up_min = prom.scalar('min_over_time(up{job="turnpike"}[10m])')
    n = prom.scalar('count_over_time(up{job="turnpike"}[10m])')
    assert up_min == 1.0, f'a scrape failed: min_over_time(up) = {up_min}'
    # Prometheus's own counters of samples it refused from the target.
    st_, _, body = http(prom.url + '/metrics', timeout=10.0)
    assert st_ == 200, f'prometheus /metrics: HTTP {st_}'
    own = metrics.parse(body)
    names = ('prometheus_target_scrapes_sample_duplicate_timestamp_total',
             'prometheus_target_scrapes_sample_out_of_order_total',
             'prometheus_target_scrapes_sample_out_of_bounds_total',
             'prometheus_target_scrapes_exceeded_sample_limit_total')
    present = {n_ for n_, _, _ in own}
    assert all(x in present for x in names), \
        f'missing from Prometheus\'s metrics: {[x for x in names if x not in present]}'
    bad = {x: metrics.msum(own, x) for x in names if metrics.msum(own, x)}
    assert not bad, f'Prometheus refused samples: {bad}'
    return f'{fmt_num(n)} scrapes, all up; no duplicate, out-of-order or out-of-bounds sample'


def ended_records_match_uclient(b):
    """The allocation_ended records of uclient's user sum to what uclient sent and received."""
    srv, st, res, uc_ok, summary = b.srv, b.st, b.res, b.uc_ok, b.summary
    assert uc_ok, 'the uclient run failed'
    # Refresh(0) is answered before uclient exits, and the record is logged as the
    # allocation is deleted; give the log writer a moment anyway.
    deadline = time.monotonic() + 5
    while True:
        recs = [(e, r) for e, r in ended_records(srv) if r['user'] == USER]
        sums = [sum(r[k] for _, r in recs) for k in COUNTERS]
        if sums[1] >= res['sent'] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    expect = [res['send_bytes'], res['sent'], res['recv_bytes'], res['received']]
    assert sums == expect, (f'allocation_ended sums {dict(zip(COUNTERS, sums))} != uclient '
                            f'{dict(zip(COUNTERS, expect))}')
    problems = []
    for e, r in recs:
        if e.get('end_reason') != 'deleted' or r.get('end_reason') != 'deleted':
            problems.append(f'id {r["id"]}: end_reason {e.get("end_reason")!r}/{r.get("end_reason")!r}')
        if e.get('region') != REGION or r.get('region') != REGION:
            problems.append(f'id {r["id"]}: region {e.get("region")!r}/{r.get("region")!r}')
        if r['bytes_to_peer'] != r['packets_to_peer'] * UC_SIZE:
            problems.append(f'id {r["id"]}: bytes != packets * {UC_SIZE}')
    ended = {r['id']: counts(r) for _, r in recs}
    for aid, c in st.get('last_live', {}).items():
        if any(c):
            if aid not in ended:
                problems.append(f'id {aid} relayed {c} but has no allocation_ended record')
            elif any(x > y for x, y in zip(c, ended[aid])):
                problems.append(f'id {aid}: live {c} > ended {ended[aid]}')
    # uclient -y opens more allocations than it uses (30 for -m 20, as with coturn) and
    # deletes only the used ones: what is left must not have relayed anything.
    left = api(srv, f'/api/v1/allocations?user={USER}')['allocations']
    st['uclient_left'] = [r['id'] for r in left]
    busy_left = [(r['id'], counts(r)) for r in left if any(counts(r))]
    if busy_left:
        problems.append(f'allocations left after the run relayed: {busy_left[:3]}')
    assert not problems, f'{len(problems)} problems: {problems[:5]}'
    summary.append(f'allocation_ended (user {USER}): {len(recs)} records, '
                   f'{dict(zip(COUNTERS, sums))}; {len(left)} unused allocations left live')
    return (f'{len(recs)} deleted allocations sum to {dict(zip(COUNTERS, sums))}; '
            f'{len(left)} unused left')


def shutdown_records_b(b):
    """After SIGTERM: one end record per created allocation; the live ones ended with shutdown."""
    srv, st, ph = b.srv, b.st, b.ph
    live = {r['id'] for r in api(srv, '/api/v1/allocations')['allocations']}
    ph.stop()
    created = {str(e['id']) for e in srv.log_events('allocation_created')}
    recs = ended_records(srv)
    ended_ids = [r['id'] for _, r in recs]
    problems = []
    if len(ended_ids) != len(set(ended_ids)):
        problems.append(f'{len(ended_ids) - len(set(ended_ids))} duplicate end records')
    if set(ended_ids) != created:
        problems.append(f'created without end record: {sorted(created - set(ended_ids))[:5]}; '
                        f'ended without created: {sorted(set(ended_ids) - created)[:5]}')
    shut = {r['id']: (e, r) for e, r in recs if r['id'] in live}
    if set(shut) != live:
        problems.append(f'live at SIGTERM without end record: {sorted(live - set(shut))[:5]}')
    for aid, (e, r) in shut.items():
        if e.get('end_reason') != 'shutdown' or r.get('end_reason') != 'shutdown':
            problems.append(f'id {aid}: end_reason {e.get("end_reason")!r}/{r.get("end_reason")!r}')
        if e.get('region') != REGION or r.get('region') != REGION:
            problems.append(f'id {aid}: region {e.get("region")!r}/{r.get("region")!r}')
    carol = [r for _, r in recs if r['user'] == CAROL]
    exp = st.get('carol_expect', {})
    for r in carol:
        if r['client'] in exp and counts(r) != exp[r['client']]:
            problems.append(f'carol {r["id"]}: end record {counts(r)} != {exp[r["client"]]}')
    assert not problems, f'{len(problems)} problems: {problems[:5]}'
    return (f'{len(created)} created, {len(recs)} end records; {len(live)} live at SIGTERM '
            f'ended with shutdown')


def uclient_mid_run(tr, b):
    """Phase B's uclient run (UC_PROM) and the checks made while it relays; b.res is its result."""
    b.uc = uc = BackgroundUclient(UC_PROM, b.srv, b.workdir, 'uclient-b')
    try:
        tr.run('promtool_live_scrape_per_allocation', promtool_live_scrape_per_allocation, b)
        tr.run('api_live_counts_during_uclient', api_live_counts_during_uclient, b)
    finally:
        if 'res' not in b.st:
            b.st['res'] = uc.wait(UC_TIMEOUT)
        uc.kill()
    res = b.res = b.st['res']
    b.summary.append(f'uclient {" ".join(map(str, UC_PROM))}: sent={res["sent"]} '
                     f'recv={res["received"]} send_bytes={res["send_bytes"]} '
                     f'recv_bytes={res["recv_bytes"]} lost={res["lost"]} wall={res["duration"]}s')


# The steps after the uclient run, in order.
STEPS_B_AFTER_UCLIENT = [
    ('prometheus_relay_packets', prometheus_relay_packets),
    ('prometheus_build_info_region', prometheus_build_info_region),
    ('prometheus_scrape_health', prometheus_scrape_health),
    ('ended_records_match_uclient', ended_records_match_uclient),
    ('api_stunclient_byte_counts', lambda b: api_stunclient_byte_counts(b.srv, b.st)),
    ('api_auth', lambda b: api_auth(b.srv)),
    ('api_bad_requests', lambda b: api_bad_requests(b.srv)),
    ('api_region_filter', lambda b: api_region_filter(b.srv)),
    ('api_not_found_and_methods', lambda b: api_not_found_and_methods(b.srv)),
    ('api_probes', lambda b: api_probes(b.srv)),
    ('shutdown_records_b', shutdown_records_b),
]


def phase_b(tr, args, workdir, summary):
    cfg = config(metrics={'per_allocation': True},
                 auth={'users': {USER: PASSWORD, CAROL: CAROL_PASSWORD}})
    prom = None
    odd = None
    try:
        with Phase(tr, 'B', cfg, args.bin) as ph:
            b = PhaseB(args, workdir, summary, ph)
            host, port = b.srv.admin_addr
            prom = b.prom = Prometheus(args.prometheus, f'{host}:{port}', workdir)
            b.st['prom'] = tr.run('prometheus_up', prometheus_up, b) is not None

            odd = stunclient.TurnClient(b.srv.turn_addr)
            r = odd.allocate(*stunclient.rest_credentials(harness.REST_SECRET, ODD_USER))
            if not r.is_success:
                tr.fail('odd_user_allocation', f'REST Allocate as {ODD_USER!r}: {r}')

            uclient_mid_run(tr, b)
            b.uc_ok = tr.run('uclient_run', uclient_run, b) is not None
            for name, step in STEPS_B_AFTER_UCLIENT:
                tr.run(name, step, b)
    except harness.ServerError as e:
        tr.fail('server[B]', str(e))
    finally:
        if prom is not None:
            prom.stop()
        if odd is not None:
            odd.close()


def api_stunclient_byte_counts(srv, st):
    """Two allocations relaying to each other: A to B with ChannelData, B to A with Send
    indications. The API (by id and by ?user=) and the per-allocation series show exactly what
    was relayed."""
    n_ab, size_ab = 40, 160      # A -> B, ChannelData
    n_ba, size_ba = 25, 333      # B -> A, Send indications
    channel = 0x4000
    with stunclient.TurnClient(srv.turn_addr) as a, stunclient.TurnClient(srv.turn_addr) as b:
        ra = a.allocate(CAROL, CAROL_PASSWORD)
        rb = b.allocate(CAROL, CAROL_PASSWORD)
        assert ra.is_success and rb.is_success, f'Allocate: {ra} / {rb}'
        relay_a = ra.xor_address(stunclient.XOR_RELAYED_ADDRESS)
        relay_b = rb.xor_address(stunclient.XOR_RELAYED_ADDRESS)
        r = a.channel_bind(channel, relay_b)
        assert r.is_success, f'ChannelBind: {r}'
        r = b.create_permission(relay_a)
        assert r.is_success, f'CreatePermission: {r}'
        # One at a time, each waited for: loopback UDP, but no drop can blur the exact counts.
        for i in range(n_ab):
            payload = bytes([(i + j) & 0xFF for j in range(size_ab)])
            a.send_channel_data(channel, payload)
            got = b.recv_relayed(timeout=2.0)
            assert got == ('data', relay_a, payload), f'A->B message {i}: got {got!r:.200}'
        for i in range(n_ba):
            payload = bytes([(7 * i + j) & 0xFF for j in range(size_ba)])
            b.send_indication(relay_a, payload)
            got = a.recv_relayed(timeout=2.0)
            assert got == ('channel', channel, payload), f'B->A message {i}: got {got!r:.200}'
        exp = {
            addr_text(a.local_addr): (n_ab * size_ab, n_ab, n_ba * size_ba, n_ba),
            addr_text(b.local_addr): (n_ba * size_ba, n_ba, n_ab * size_ab, n_ab),
        }
        st['carol_expect'] = exp
        listed = api(srv, f'/api/v1/allocations?user={CAROL}')
        assert listed['count'] == 2 and len(listed['allocations']) == 2, \
            f'?user={CAROL}: count {listed["count"]}, {len(listed["allocations"])} records'
        recs = by_client(listed['allocations'])
        assert set(recs) == set(exp), f'clients {sorted(recs)} != {sorted(exp)}'
        problems = []
        body, _ = metrics.scrape_timed(srv)
        samples = metrics.parse(body)
        for client, want in exp.items():
            aid = recs[client]['id']
            one = api(srv, f'/api/v1/allocations/{aid}')
            for label, rec in (('list', recs[client]), ('by id', one)):
                if counts(rec) != want:
                    problems.append(f'{label} {aid} ({client}): {dict(zip(COUNTERS, counts(rec)))} '
                                    f'!= {dict(zip(COUNTERS, want))}')
            if one['id'] != aid or one['user'] != CAROL or one['region'] != REGION:
                problems.append(f'by id {aid}: id/user/region {one["id"]}/{one["user"]}/{one["region"]}')
            if any(one['dropped'].values()):
                problems.append(f'by id {aid}: drops {one["dropped"]}')
            series = (metrics.msum(samples, 'turnpike_allocation_relay_bytes_total', id=aid, direction='to_peer'),
                      metrics.msum(samples, 'turnpike_allocation_relay_packets_total', id=aid, direction='to_peer'),
                      metrics.msum(samples, 'turnpike_allocation_relay_bytes_total', id=aid, direction='to_client'),
                      metrics.msum(samples, 'turnpike_allocation_relay_packets_total', id=aid, direction='to_client'))
            if tuple(int(x) for x in series) != want:
                problems.append(f'/metrics id {aid}: {series} != {want}')
        rec_a = recs[addr_text(a.local_addr)]
        if addr_text(relay_a) not in rec_a['relayed']:
            problems.append(f'A relayed {rec_a["relayed"]} lacks {addr_text(relay_a)}')
        if not any(c['number'] == channel and c['peer'] == addr_text(relay_b) for c in rec_a['channel_bindings']):
            problems.append(f'A channel_bindings {rec_a["channel_bindings"]} lack {channel} -> {relay_b}')
        assert not problems, f'{len(problems)} problems: {problems[:6]}'
    return (f'A: {n_ab} x {size_ab} B to peer, {n_ba} x {size_ba} B to client; '
            f'B the reverse; API and /metrics agree')


def assert_json_error(status, headers, body, want_status, what):
    assert status == want_status, f'{what}: HTTP {status} (expected {want_status}): {body[:200]!r}'
    ctype = headers.get('Content-Type', '')
    assert ctype.startswith('application/json'), f'{what}: Content-Type {ctype!r}'
    try:
        d = json.loads(body)
    except ValueError:
        raise AssertionError(f'{what}: body is not JSON: {body[:200]!r}') from None
    assert isinstance(d, dict) and isinstance(d.get('error'), str) and d['error'], \
        f'{what}: no "error" string in {d!r}'
    return d


def api_auth(srv):
    base = srv.admin_url + '/api/v1/allocations'
    for what, kw in (('no token', {}),
                     ('wrong token', {'token': TOKEN[:-1] + ('x' if TOKEN[-1] != 'x' else 'y')}),
                     ('token prefix', {'token': TOKEN[:-1]}),
                     ('not Bearer', {'authorization': f'Basic {TOKEN}'})):
        for path in ('', '/1', f'?user={USER}'):
            st, h, body = http(base + path, **kw)
            assert_json_error(st, h, body, 401, f'{what} {path or "/"}')
            wa = h.get('WWW-Authenticate', '')
            assert wa.startswith('Bearer'), f'{what}: WWW-Authenticate {wa!r}'
            assert b'allocations' not in body and b'127.0.0.1' not in body, f'{what}: body leaks {body!r}'
    st, _, body = http(base, token=TOKEN)
    assert st == 200, f'right token: HTTP {st} {body[:200]!r}'
    return '401 + WWW-Authenticate without/with a wrong token; 200 with it'


def api_bad_requests(srv):
    base = srv.admin_url + '/api/v1/allocations'
    cases = [
        ('?foo=1', 'unknown parameter'),
        ('?user=a&user=b', 'repeated parameter'),
        ('?user=%zz', 'broken percent-encoding'),
        ('?transport=bogus', 'transport=bogus'),
        ('?transport=UDP', 'transport=UDP'),
        ('/abc', 'non-numeric id'),
        ('/12abc', 'id with trailing junk'),
        ('/-1', 'negative id'),
        ('/', 'empty id'),
        ('/99999999999999999999999', 'id over 64 bits'),
        ('/1?user=alice', 'query on one allocation'),
    ]
    for path, what in cases:
        st, h, body = http(base + path, token=TOKEN)
        assert_json_error(st, h, body, 400, f'{what} ({path})')
    return f'{len(cases)} bad requests: 400 with a JSON error'


def api_region_filter(srv):
    mine = api(srv, f'/api/v1/allocations?region={REGION}')
    every = api(srv, '/api/v1/allocations')
    other = api(srv, f'/api/v1/allocations?region={OTHER_REGION}')
    assert every['count'] > 0, 'no allocation to filter (the earlier checks leave some live)'
    assert mine['region'] == REGION and every['region'] == REGION and other['region'] == REGION, \
        f'response region {mine["region"]}/{every["region"]}/{other["region"]}'
    assert mine['count'] == every['count'] == len(mine['allocations']), \
        f'region={REGION}: count {mine["count"]} vs {every["count"]} unfiltered'
    assert [r['id'] for r in mine['allocations']] == [r['id'] for r in every['allocations']], \
        'region filter changed the list'
    assert all(r['region'] == REGION for r in mine['allocations']), 'a record with another region'
    assert other['count'] == 0 and other['allocations'] == [], f'region={OTHER_REGION}: {other["count"]}'
    ids = [int(r['id']) for r in every['allocations']]
    assert ids == sorted(ids), f'not ordered by id: {ids[:10]}'
    combo = api(srv, f'/api/v1/allocations?region={REGION}&user={CAROL}&transport=udp')
    assert combo['count'] == sum(1 for r in every['allocations'] if r['user'] == CAROL), \
        f'combined filters: {combo["count"]}'
    tcp = api(srv, '/api/v1/allocations?transport=tcp')
    assert tcp['count'] == 0, f'transport=tcp: {tcp["count"]} (all allocations are UDP)'
    return (f'region={REGION}: {mine["count"]}, region={OTHER_REGION}: 0, '
            f'carol+udp+region: {combo["count"]}')


def api_not_found_and_methods(srv):
    every = api(srv, '/api/v1/allocations')
    ids = {int(r['id']) for r in every['allocations']}
    missing = max(ids | {0}) + 1000
    st, h, body = http(srv.admin_url + f'/api/v1/allocations/{missing}', token=TOKEN)
    assert_json_error(st, h, body, 404, f'nonexistent id {missing}')
    for path in ('/nope', '/api/v1/nope', '/api/v2/allocations', '/metrics/', '/'):
        st, h, body = http(srv.admin_url + path, token=TOKEN)
        assert_json_error(st, h, body, 404, f'unknown path {path}')
    one = f'/api/v1/allocations/{min(ids) if ids else 1}'
    for method in ('POST', 'PUT', 'DELETE'):
        for path in ('/api/v1/allocations', one, '/metrics'):
            if method == 'DELETE' and path == one:
                continue  # DELETE of one allocation ends it (sessions by API: test_sessions_api.py)
            st, h, body = http(srv.admin_url + path, method=method, token=TOKEN)
            assert_json_error(st, h, body, 405, f'{method} {path}')
            allow = h.get('Allow', '')
            assert 'GET' in allow, f'{method} {path}: Allow {allow!r}'
            if path == one:
                assert 'DELETE' in allow, f'{method} {path}: Allow {allow!r} (DELETE ends an allocation)'
    still = api(srv, '/api/v1/allocations')
    assert still['count'] == every['count'], 'a refused method changed the allocations'
    return (f'404 for id {missing} and unknown paths; 405 + Allow for POST/PUT/DELETE '
            f'(DELETE of one allocation is the sessions API)')


def api_probes(srv):
    for path, want in (('/healthz', None), ('/readyz', 'ready')):
        st, h, body = http(srv.admin_url + path)
        assert st == 200, f'{path}: HTTP {st} {body[:200]!r}'
        d = json.loads(body)
        if want:
            assert d == {'status': want}, f'{path}: {d}'
    st, _, body = http(srv.admin_url + '/metrics')
    assert st == 200, f'/metrics without a token: HTTP {st}'
    st, h, body = http(srv.admin_url + '/api/v1/allocations', method='HEAD', token=TOKEN)
    assert st == 200 and body == b'', f'HEAD: HTTP {st} {body[:100]!r}'
    return '/healthz 200, /readyz 200 ready, /metrics open, HEAD 200'


# ---------------------------------------------------------------- phase C

def phase_c(tr, args, workdir, summary):
    need = CAP_ALLOCATIONS + CAP_BUSY + 200
    if not raise_fd_limit(need):
        tr.fail('per_allocation_cap', f'cannot raise RLIMIT_NOFILE to {need} for {CAP_ALLOCATIONS} sockets')
        return
    cfg = config(metrics={'per_allocation': True},
                 limits={'max_allocations_per_user': 2 * CAP_ALLOCATIONS},
                 relay={'port_range': harness.relay_port_range(size=2 * CAP_ALLOCATIONS)})
    assert 'per_allocation_limit' not in cfg['metrics']
    st = {}
    clients, peers = [], []
    try:
        with Phase(tr, 'C', cfg, args.bin) as ph:
            srv = ph.srv

            def per_allocation_cap():
                t0 = time.monotonic()
                deadline = t0 + 60
                for i in range(CAP_ALLOCATIONS):
                    assert time.monotonic() < deadline, f'only {i} allocations in 60 s'
                    c = stunclient.TurnClient(srv.turn_addr, timeout=3.0)
                    clients.append(c)
                    r = c.allocate(USER, PASSWORD)
                    assert r.is_success, f'Allocate #{i}: {r}'
                    c.relay = r.xor_address(stunclient.XOR_RELAYED_ADDRESS)
                t_alloc = time.monotonic() - t0
                # The busy ones are the last opened: the highest ids of their shards, which an
                # id-ordered cut would leave out.
                busy = clients[-CAP_BUSY:]
                want = {}
                for k, c in enumerate(busy):
                    peer = stunclient.UdpPeer()
                    peers.append(peer)
                    r = c.create_permission(peer.addr)
                    assert r.is_success, f'CreatePermission: {r}'
                    n, size = 10 * (k + 1), 100
                    for i in range(n):
                        c.send_indication(peer.addr, bytes([i & 0xFF]) * size)
                        got = peer.recv(timeout=2.0)
                        assert got and got[1] == tuple(c.relay), f'busy {k}: packet {i} not relayed: {got}'
                    peer.send(b'r' * 50, tuple(c.relay))
                    got = c.recv_relayed(timeout=2.0)
                    assert got and got[0] == 'data' and got[2] == b'r' * 50, f'busy {k}: reply {got}'
                    want[addr_text(c.local_addr)] = (n * size, n, 50, 1)
                t1 = time.monotonic()
                every = api(srv, '/api/v1/allocations')
                t_api = time.monotonic() - t1
                assert every['count'] == CAP_ALLOCATIONS, f'API count {every["count"]}'
                st['ids'] = {r['id'] for r in every['allocations']}
                recs = by_client(every['allocations'])
                busy_ids = {recs[cl]['id']: w for cl, w in want.items()}
                st['busy'] = busy_ids
                body, dt = metrics.scrape_timed(srv, timeout=30.0)
                samples = metrics.parse(body)
                per_family = {}
                for n, l, _ in samples:
                    if n.startswith('turnpike_allocation_') and 'id' in l:
                        per_family.setdefault(n, set()).add(l['id'])
                exported = set().union(*per_family.values()) if per_family else set()
                omitted = metrics.msum(samples, 'turnpike_allocation_series_omitted')
                live = metrics.msum(samples, 'turnpike_allocations')
                summary.append(f'cap: {CAP_ALLOCATIONS} allocations opened in {t_alloc:.2f}s; '
                               f'/metrics scrape {dt * 1000:.0f} ms ({len(body)} bytes, {len(samples)} '
                               f'samples); API list of {every["count"]} in {t_api * 1000:.0f} ms')
                problems = []
                if len(exported) != CAP_LIMIT:
                    problems.append(f'{len(exported)} distinct ids exported (expected {CAP_LIMIT})')
                for n, ids in per_family.items():
                    if ids != exported:
                        problems.append(f'{n}: {len(ids)} ids, not the same set as the others')
                if len(per_family) < 5:
                    problems.append(f'per-allocation families with samples: {sorted(per_family)}')
                if omitted != CAP_ALLOCATIONS - CAP_LIMIT:
                    problems.append(f'turnpike_allocation_series_omitted = {omitted}')
                if live != CAP_ALLOCATIONS:
                    problems.append(f'sum(turnpike_allocations) = {live}')
                if not exported <= st['ids']:
                    problems.append(f'ids not in the API: {sorted(exported - st["ids"])[:5]}')
                for aid, w in busy_ids.items():
                    if aid not in exported:
                        problems.append(f'busy allocation {aid} not exported')
                        continue
                    got = (metrics.msum(samples, 'turnpike_allocation_relay_bytes_total', id=aid, direction='to_peer'),
                           metrics.msum(samples, 'turnpike_allocation_relay_packets_total', id=aid, direction='to_peer'),
                           metrics.msum(samples, 'turnpike_allocation_relay_bytes_total', id=aid, direction='to_client'),
                           metrics.msum(samples, 'turnpike_allocation_relay_packets_total', id=aid, direction='to_client'))
                    if tuple(int(x) for x in got) != w:
                        problems.append(f'busy {aid}: series {got} != {w}')
                    if counts(recs_by_id(every, aid)) != w:
                        problems.append(f'busy {aid}: API {counts(recs_by_id(every, aid))} != {w}')
                if dt > SCRAPE_TIME_LIMIT:
                    problems.append(f'scrape took {dt:.1f}s (> {SCRAPE_TIME_LIMIT}s)')
                assert not problems, f'{len(problems)} problems: {problems[:6]}'
                promtool_check(body, args.promtool)
                return (f'{len(exported)} ids exported, {int(omitted)} omitted, busy ones in; scrape '
                        f'{dt * 1000:.0f} ms, {len(body)} bytes; promtool ok')
            cap_ok = tr.run('per_allocation_cap', per_allocation_cap) is not None

            def shutdown_records_c():
                assert st.get('ids'), 'the allocations of per_allocation_cap were not listed'
                took = ph.stop()
                recs = ended_records(srv)
                got = [r['id'] for _, r in recs]
                problems = []
                if len(got) != len(set(got)):
                    problems.append(f'{len(got) - len(set(got))} duplicate end records')
                if set(got) != st['ids']:
                    problems.append(f'{len(set(got) - st["ids"])} unexpected, '
                                    f'{len(st["ids"] - set(got))} missing end records')
                for e, r in recs:
                    if e.get('end_reason') != 'shutdown' or r.get('end_reason') != 'shutdown':
                        problems.append(f'id {r["id"]}: end_reason {e.get("end_reason")!r}/{r.get("end_reason")!r}')
                    if e.get('region') != REGION or r.get('region') != REGION:
                        problems.append(f'id {r["id"]}: region {e.get("region")!r}/{r.get("region")!r}')
                    if r.get('lifetime_left_s') != 0:
                        problems.append(f'id {r["id"]}: lifetime_left_s {r.get("lifetime_left_s")}')
                    if r['id'] in st.get('busy', {}) and counts(r) != st['busy'][r['id']]:
                        problems.append(f'busy {r["id"]}: end record {counts(r)} != {st["busy"][r["id"]]}')
                st['recs'] = recs
                assert not problems, f'{len(problems)} problems: {problems[:6]}'
                return f'{len(recs)} records with end_reason shutdown and region {REGION}; stop took {took:.2f}s'
            tr.run('shutdown_records_c', shutdown_records_c)

            def record_wall_clock_times():
                recs = st.get('recs')
                assert recs, 'no end records (shutdown_records_c failed)'
                worst = []
                for e, r in recs:
                    ts = parse_rfc3339(e['ts'])
                    created = parse_rfc3339(r['created']) + r['age_s']
                    worst.append((abs(created - ts), 'created + age_s', r['id'], r['created'], e['ts']))
                    for d in ('to_peer', 'to_client'):
                        la = r['last_activity'][d]
                        if la:
                            at = parse_rfc3339(la['at']) + la['seconds_ago']
                            worst.append((abs(at - ts), f'last_activity.{d}', r['id'], la['at'], e['ts']))
                worst.sort(reverse=True)
                err, what, aid, val, ts = worst[0]
                assert err <= 0.25, (f'{what} of {aid} is {err:.3f}s off the log line\'s ts ({val} vs {ts}); '
                                     f'{sum(1 for w in worst if w[0] > 0.25)} of {len(worst)} times off '
                                     f'by > 0.25 s')
                return f'{len(worst)} times within {err * 1000:.0f} ms of the log timestamps'
            if cap_ok:
                tr.run('record_wall_clock_times', record_wall_clock_times)
    except harness.ServerError as e:
        tr.fail('server[C]', str(e))
    finally:
        for c in clients:
            c.close()
        for p in peers:
            p.close()


def recs_by_id(listing, aid):
    for r in listing['allocations']:
        if r['id'] == aid:
            return r
    raise KeyError(aid)


def parse_rfc3339(s):
    """Unix seconds of '2026-01-02T03:04:05.678Z'."""
    return datetime.strptime(s.replace('Z', '+0000'), '%Y-%m-%dT%H:%M:%S.%f%z').timestamp()


# ---------------------------------------------------------------- main

def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    ap.add_argument('--prometheus', default=os.environ.get('PROMETHEUS_BIN', '/usr/bin/prometheus'))
    ap.add_argument('--promtool', default=os.environ.get('PROMTOOL_BIN', '/usr/bin/promtool'))
    ap.add_argument('--only', nargs='*', default=None, choices=['A', 'B', 'C'], help='phases to run')
    args = ap.parse_args()
    if args.server != 'turnpike':
        print(f'test_metrics.py tests Turnpike\'s own metrics and admin API; not {args.server}',
              file=sys.stderr)
        return 2
    tr = harness.TestRunner('metrics')
    missing = [p for p in (args.prometheus, args.promtool,
                           os.environ.get('TURNUTILS_UCLIENT') or harness.DEFAULT_UCLIENT_BIN)
               if not os.access(p, os.X_OK)]
    if missing:
        tr.fail('requirements', f'not installed: {missing} (scripts/install-deps --test)')
        return tr.finish()
    print(f'== test_metrics: region={REGION}, token auth, prometheus={args.prometheus}', flush=True)
    workdir = tempfile.mkdtemp(prefix='turnpike-it-metrics-')
    summary = []
    t0 = time.monotonic()
    try:
        phases = {'A': lambda: phase_a(tr, args, workdir),
                  'B': lambda: phase_b(tr, args, workdir, summary),
                  'C': lambda: phase_c(tr, args, workdir, summary)}
        for name in args.only or sorted(phases):
            try:
                phases[name]()
            except Exception as e:   # noqa: BLE001 - a broken phase is a failure, not a crash
                traceback.print_exc()
                tr.fail(f'phase_{name}', f'{type(e).__name__}: {e}')
    finally:
        if tr.failed == 0 and os.environ.get('TURNPIKE_KEEP_TMP') != '1':
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f'(test temp dir kept: {workdir})', file=sys.stderr, flush=True)
    print(f'SUMMARY ({time.monotonic() - t0:.0f}s) | ' + ' | '.join(summary), flush=True)
    return tr.finish()


if __name__ == '__main__':
    sys.exit(main())
