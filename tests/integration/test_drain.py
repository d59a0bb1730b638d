#!/usr/bin/python3
"""Graceful drain (issue 17): SIGTERM or POST /api/v1/drain stops taking new work while what runs
goes on, and the process exits 0 once it is gone (or drain.grace_seconds ran out).

Checks:
  sigterm_drain   turnutils_uclient pairs relay (-y); SIGTERM mid-run: /readyz answers 503
                  {"status": "draining"} within 100 ms, turnpike_draining is 1, a new client's
                  Allocate gets 300 with ALTERNATE-SERVER the first drain.alternate_urls entry for
                  its transport and family (UDP and TCP clients), the pairs finish with 0 loss, the
                  process exits 0 within 1 s of the last allocation ending, the log has
                  drain_started, drain_done and no end_reason shutdown
  grace_timeout   POST /api/v1/drain (admin token; 401 without) starts the drain; two allocations
                  held open by a client end with end_reason drain_timeout once drain.grace_seconds
                  ran out, and the process exits 0
  second_sigterm  a drain with live allocations; a second SIGTERM stops at once: exit 0 and the
                  allocations end with end_reason shutdown
  sfu_call        two headless Chromium participants in a call through the SFU; SIGTERM: their
                  media keeps flowing, a new join gets error "draining" with drain.signal_url; when
                  both leave the process exits 0

Run: python3 test_drain.py [--bin PATH] [--only NAME ...]
"""

import datetime
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True   # keep the source tree clean

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import harness, stunclient  # noqa: E402
from integration.harness import PASSWORD, USER  # noqa: E402
from integration.metrics import metric, scrape  # noqa: E402

ADMIN_TOKEN = 'drain-admin-token'
ALT_UDP = '127.0.0.2:3478'       # never reached: the client only has to be told
ALT_TCP = '127.0.0.3:3479'
SIGNAL_URL = 'ws://127.0.0.4:8443/signal'


def drain_config(grace=60, **extra):
    cfg = harness.default_config(admin={'token': ADMIN_TOKEN})
    cfg['drain'] = {'alternate_urls': ['turn:[::1]:3478', f'turn:{ALT_TCP}?transport=tcp', f'turn:{ALT_UDP}'],
                    'grace_seconds': grace, 'signal_url': SIGNAL_URL}
    return harness.deep_merge(cfg, extra)


def admin(srv, method, path, token=ADMIN_TOKEN):
    req = urllib.request.Request(srv.admin_url + path, method=method, data=b'' if method == 'POST' else None)
    if token:
        req.add_header('Authorization', f'Bearer {token}')
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=2.0) as r:
            return r.status, json.loads(r.read() or b'null')
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b'null')


def live_allocations(srv):
    st, body = admin(srv, 'GET', '/api/v1/allocations')
    assert st == 200, f'/api/v1/allocations: {st} {body}'
    return body['count']


def wait_for(what, fn, timeout, interval=0.05):
    """harness.wait_for, polling finely: the drain's deadlines are in milliseconds."""
    return harness.wait_for(what, fn, timeout, interval)


def readyz_503_after(srv, t_signal):
    """Polls /readyz until it is 503; the seconds since t_signal and the body."""
    def poll():
        st, body = srv.http_get('/readyz', timeout=1.0)
        return (time.monotonic() - t_signal, json.loads(body)) if st == 503 else None
    return wait_for('/readyz 503', poll, 2.0, 0.005)


def exit_wall_time(srv, timeout):
    """Waits for the process to exit; (exit code, unix time it was seen gone)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rc = srv.proc.poll()
        if rc is not None:
            return rc, time.time()
        time.sleep(0.01)
    raise AssertionError(f'turnpike still running {timeout}s later: {srv.log_tail(10)}')


def ts_unix(line):
    t = datetime.datetime.strptime(line['ts'], '%Y-%m-%dT%H:%M:%S.%fZ')
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def end_reasons(srv):
    return [e.get('end_reason') for e in srv.log_events('allocation_ended')]


def alternate_of(resp):
    alt = resp.get(stunclient.ALTERNATE_SERVER)
    if alt is None:
        return None
    ip, port = stunclient.decode_plain_address(alt)
    return f'{ip}:{port}'


def stopped(srv):
    """The harness's own stop() must not run after the test stopped the server itself."""
    srv.returncode = srv.proc.returncode
    srv._force_stop()
    srv.proc = None


def check_sigterm_drain(binary):
    from integration.test_uclient import check as check_uclient, fmt
    # uclient deletes half of its allocations at the end and leaves the rest to expire: a 30 s
    # lifetime (the least limits.default_lifetime and max_lifetime allow) ends them within the run.
    cfg = drain_config(limits={'default_lifetime': 30, 'max_lifetime': 30})
    harness.add_listeners(cfg, tcp=True)
    m, n = 10, 350       # 10 allocations, 7 s of sending at uclient's 20 ms
    srv = harness.Turnpike(cfg, binary=binary, name='turnpike-drain')
    with srv:
        result = {}
        worker = threading.Thread(target=lambda: result.update(
            harness.run_uclient(['-y', '-c', '-m', m, '-n', n, '-u', USER, '-w', PASSWORD], timeout=60, server=srv)))
        worker.start()
        wait_for('uclient allocations', lambda: live_allocations(srv) >= m, 15, 0.1)
        time.sleep(1.0)   # relaying
        t_signal = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        took, body = readyz_503_after(srv, t_signal)
        assert took < 0.1, f'/readyz turned 503 {took * 1000:.0f} ms after SIGTERM'
        assert body.get('status') == 'draining', f'/readyz body {body}'
        assert metric(scrape(srv), 'turnpike_draining') == 1, 'turnpike_draining is not 1'
        with stunclient.TurnClient(srv.turn_addr) as c:
            r = c.allocate(USER, PASSWORD)
        assert r.is_error and r.error_code == 300, f'new UDP client: {r.describe()}'
        assert alternate_of(r) == ALT_UDP, f'UDP ALTERNATE-SERVER {alternate_of(r)}'
        with stunclient.StreamTurnClient(srv.listen_addr('tcp')) as c:
            r = c.allocate(USER, PASSWORD)
        assert r.is_error and r.error_code == 300 and alternate_of(r) == ALT_TCP, f'new TCP client: {r.describe()}'
        assert srv.alive(), 'turnpike exited while the pairs were relaying'
        worker.join(70)
        res = result
        check_uclient(res, m * n, m)
        rc, t_exit = exit_wall_time(srv, 45)
        ended = srv.log_events('allocation_ended')
        started, done = srv.log_events('drain_started'), srv.log_events('drain_done')
        stopped(srv)
    assert rc == 0, f'exit code {rc}'
    assert ended, 'no allocation_ended records'
    last = max(ts_unix(e) for e in ended)
    assert t_exit - last < 1.0, f'exited {t_exit - last:.2f}s after the last allocation ended'
    reasons = {e.get('end_reason') for e in ended}
    assert 'shutdown' not in reasons, f'end reasons {reasons}'
    assert started and started[0].get('allocations', 0) >= m, f'drain_started {started}'
    assert done and done[0].get('outcome') == 'empty', f'drain_done {done}'
    return f'uclient {fmt(res)}; readyz 503 after {took * 1000:.0f} ms; exit {t_exit - last:.2f}s after ' \
           f'the last of {len(ended)} allocations ({sorted(reasons)})'


def held_allocations(srv, k):
    clients = []
    for _ in range(k):
        c = stunclient.TurnClient(srv.turn_addr)
        r = c.allocate(USER, PASSWORD)
        assert r.is_success, f'allocate: {r.describe()}'
        clients.append(c)
    return clients


def check_grace_timeout(binary):
    srv = harness.Turnpike(drain_config(grace=3), binary=binary, name='turnpike-grace')
    with srv:
        clients = held_allocations(srv, 2)
        try:
            st, _ = admin(srv, 'POST', '/api/v1/drain', token=None)
            assert st == 401, f'POST /api/v1/drain without the token: {st}'
            t0 = time.monotonic()
            st, body = admin(srv, 'POST', '/api/v1/drain')
            assert st == 202 and body.get('started') is True and body.get('status') == 'draining', f'{st} {body}'
            assert body.get('allocations') == 2, body
            st, body = admin(srv, 'POST', '/api/v1/drain')
            assert st == 202 and body.get('started') is False, f'second POST: {st} {body}'
            st, _ = srv.http_get('/readyz')
            assert st == 503, f'/readyz {st} while draining'
            r = clients[0].refresh(600)   # existing allocations go on refreshing
            assert r.is_success, f'refresh while draining: {r.describe()}'
            rc, _ = exit_wall_time(srv, 10)
            took = time.monotonic() - t0
        finally:
            for c in clients:
                c.close()
        reasons = end_reasons(srv)
        recs = [e.get('allocation') for e in srv.log_events('allocation_ended')]
        done = srv.log_events('drain_done')
        stopped(srv)
    assert rc == 0, f'exit code {rc}'
    assert 2.5 < took < 5.0, f'exited {took:.1f}s after the drain started (grace 3 s)'
    assert reasons == ['drain_timeout'] * 2, f'end reasons {reasons}'
    assert all(isinstance(r, dict) and r.get('end_reason') == 'drain_timeout' for r in recs), f'records {recs}'
    assert done and done[0].get('outcome') == 'grace_expired', f'drain_done {done}'
    return f'exit 0 after {took:.1f}s; records {reasons}'


def check_second_sigterm(binary):
    srv = harness.Turnpike(drain_config(grace=120), binary=binary, name='turnpike-twice')
    with srv:
        clients = held_allocations(srv, 2)
        try:
            srv.proc.send_signal(signal.SIGTERM)
            readyz_503_after(srv, time.monotonic())
            time.sleep(0.3)
            assert srv.alive(), 'the first SIGTERM stopped the process'
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            rc, _ = exit_wall_time(srv, 5)
            took = time.monotonic() - t0
        finally:
            for c in clients:
                c.close()
        reasons = end_reasons(srv)
        stopped(srv)
    assert rc == 0, f'exit code {rc}'
    assert took < 2.0, f'second SIGTERM took {took:.1f}s'
    assert reasons == ['shutdown'] * 2, f'end reasons {reasons}'
    return f'exit 0 {took * 1000:.0f} ms after the second SIGTERM; records {reasons}'


def check_sfu_call(binary):
    from integration.browser import Browser
    from integration.sfu_page import inbound_by_participant, page_state, token
    from integration.test_sfu import sfu_config, ws_exchange
    from integration.test_sfu import wait_for as wait_page
    certdir = tempfile.mkdtemp(prefix='turnpike-it-drain-cert-')
    cert, key = harness.make_cert(certdir)
    cfg = sfu_config(cert, key)
    cfg['admin']['token'] = ADMIN_TOKEN
    cfg['drain'] = {'signal_url': SIGNAL_URL, 'grace_seconds': 60}
    # Chromium's TURN allocations (relay candidates it gathered) outlive its tabs: a 30 s lifetime.
    cfg['limits'] = {'default_lifetime': 30, 'max_lifetime': 30}
    browsers = {}
    srv = harness.Turnpike(cfg, binary=binary, name='turnpike-drain-sfu')
    try:
        with srv:
            base = f'http://{cfg["sfu"]["signal_listen"]}'
            signal_url = f'ws://{cfg["sfu"]["signal_listen"]}/signal'
            for name in ('alice', 'bob'):
                browsers[name] = Browser(name, [])
                tok = token(srv, name)['token']
                browsers[name].drv.get(f'{base}/demo/?w=320&h=240&fps=15#token={tok}')
            ids = {}
            for name, b in browsers.items():
                st = wait_page(f'{name} joins', lambda b=b: (lambda s: s if s['joined'] or s['error'] else None)(
                    page_state(b.drv)), 30)
                assert not st['error'], f'{name} could not join: {st["error"]}'
                ids[name] = st['self']

            def decoded():
                a = inbound_by_participant(page_state(browsers['alice'].drv)).get(ids['bob'], {})
                b = inbound_by_participant(page_state(browsers['bob'].drv)).get(ids['alice'], {})
                return (a.get('video', 0), b.get('video', 0))
            wait_page('media both ways', lambda: min(decoded()) >= 30, 60, 1.0)
            srv.proc.send_signal(signal.SIGTERM)
            took, body = readyz_503_after(srv, time.monotonic())
            assert metric(scrape(srv), 'turnpike_draining') == 1, 'turnpike_draining is not 1'
            before = decoded()
            r = ws_exchange(browsers['alice'].drv, signal_url, [{'type': 'join', 'token': token(srv, 'carol')['token']}])
            errs = [m for m in r['got'] if isinstance(m, dict) and m.get('type') == 'error']
            assert errs and errs[0].get('code') == 'draining' and errs[0].get('signal_url') == SIGNAL_URL, \
                f'new join while draining: {r}'
            assert r['how'].startswith('closed'), f'the refused join stayed {r["how"]}'
            time.sleep(3)
            after = decoded()
            assert after[0] > before[0] and after[1] > before[1], f'media stalled in the drain: {before} -> {after}'
            assert srv.alive(), 'turnpike exited while the call went on'
            for b in browsers.values():
                b.close()
            browsers.clear()
            rc, _ = exit_wall_time(srv, 45)
            done = srv.log_events('drain_done')
            stopped(srv)
        assert rc == 0, f'exit code {rc}'
        assert done and done[0].get('outcome') == 'empty', f'drain_done {done}'
        return f'video frames {before} -> {after} during the drain; new join sent to {SIGNAL_URL}; exit 0'
    finally:
        for b in browsers.values():
            b.close()
        shutil.rmtree(certdir, ignore_errors=True)


CHECKS = {
    'sigterm_drain': check_sigterm_drain,
    'grace_timeout': check_grace_timeout,
    'second_sigterm': check_second_sigterm,
    'sfu_call': check_sfu_call,
}


def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    ap.add_argument('--only', nargs='*', default=None, choices=sorted(CHECKS))
    args = ap.parse_args()
    if args.server != 'turnpike':
        print('SKIP: drain is a Turnpike feature')
        return 0
    tr = harness.TestRunner('drain')
    for name in args.only or CHECKS:
        tr.run(name, CHECKS[name], args.bin)
    return tr.finish()


if __name__ == '__main__':
    sys.exit(main())
