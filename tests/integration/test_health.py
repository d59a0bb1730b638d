#!/usr/bin/python3
"""Health and capacity: /healthz, /readyz and the capacity metrics against the real binary.

Node A runs with TURNPIKE_TEST_FAULT_HOOKS=1 (the test-only POST /api/v1/test/block), two shards,
TCP and TLS listeners, limits.max_allocations: 2 and an admin token:
  healthz_ok             200 {"status":"ok"} naming shard-0 and shard-1 as components
  capacity_metrics       turnpike_allocations_limit 2, relay ports 0 of the range, TLS certificate
                         expiry = the certificate's notAfter, TCP/TLS connections counted as they
                         open and close; promtool check metrics clean
  readyz_at_capacity     two Allocates (stunclient.py): relay ports in use 2, /readyz 503
                         {"ready":false,"reason":"at_capacity"}, a third Allocate 508; one freed
                         (Refresh 0): /readyz 200 again
  test_block_errors      401 without the token, 400 for bad bodies, 404 for an unknown component
  blocked_shard          shard-1 blocked 4 s: /healthz 503 within 3 s with late ["shard-1"], then
                         200 again once the block ends; the SFU-less node names no other component
Node B runs without the variable:
  test_block_404         POST /api/v1/test/block is 404
Node C has a relay.port_range of two ports:
  relay_ports_exhausted  two Allocates fill it: /readyz 503 relay_ports_exhausted; freed: 200

Run: python3 test_health.py [--bin PATH]
"""

import sys

sys.dont_write_bytecode = True   # keep the source tree clean

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import ssl  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

from integration import harness, metrics, stunclient  # noqa: E402
from integration.harness import PASSWORD, USER  # noqa: E402

TOKEN = 'health-test-token-0123456789'
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(srv, path, method='GET', body=None, token=None):
    """(status, JSON body or raw bytes) of one admin request."""
    data = json.dumps(body).encode() if body is not None else (b'' if method == 'POST' else None)
    req = urllib.request.Request(srv.admin_url + path, method=method, data=data)
    if token:
        req.add_header('Authorization', f'Bearer {token}')
    try:
        with _OPENER.open(req, timeout=5) as r:
            st, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        st, raw = e.code, e.read()
    try:
        return st, json.loads(raw)
    except ValueError:
        return st, raw


def wait_for(what, pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f'{what}: not within {timeout} s')


def healthz_ok(srv):
    st, body = http(srv, '/healthz')
    assert st == 200, f'/healthz {st} {body}'
    assert body['status'] == 'ok', body
    assert sorted(body['components']) == ['shard-0', 'shard-1'], body
    assert 'late' not in body, body
    st, body = http(srv, '/readyz')
    assert (st, body) == (200, {'status': 'ready'}), f'/readyz {st} {body}'
    return 'components shard-0, shard-1; /readyz 200'


def cert_not_after(cert):
    out = subprocess.run(['openssl', 'x509', '-noout', '-enddate', '-in', cert], check=True,
                         stdout=subprocess.PIPE, text=True).stdout.strip()
    return ssl.cert_time_to_seconds(out.split('=', 1)[1])


def listen_port(cfg, transport):
    return next(int(l['port']) for l in cfg['listen'] if l['transport'] == transport)


def gauge(srv, name, **labels):
    return metrics.metric(metrics.scrape(srv), name, **labels)


def capacity_metrics(srv, cert, promtool):
    text = metrics.scrape(srv)
    lo, hi = srv.config['relay']['port_range']
    want = {('turnpike_allocations_limit', ()): 2, ('turnpike_relay_ports_in_use', ()): 0,
            ('turnpike_relay_ports_limit', ()): hi - lo + 1,
            ('turnpike_connections', (('transport', 'tcp'),)): 0,
            ('turnpike_connections', (('transport', 'tls'),)): 0,
            ('turnpike_connections_limit', ()): srv.config.get('limits', {}).get('max_connections', 20000),
            ('turnpike_tls_certificate_expiry_timestamp_seconds', (('use', 'turn'),)): cert_not_after(cert)}
    for (name, labels), v in want.items():
        got = metrics.metric(text, name, **dict(labels))
        assert got == v, f'{name}{dict(labels)}: {got}, want {v}'
    assert metrics.metric(text, 'turnpike_tls_certificate_expiry_timestamp_seconds', use='signal') is None
    if os.access(promtool, os.X_OK):
        p = subprocess.run([promtool, 'check', 'metrics'], input=text.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        assert p.returncode == 0, f'promtool check metrics: {p.stdout.decode()[:2000]}'
    # Connections count while open: a TCP client and two TLS ones (handshaken or not).
    tcp = socket.create_connection(('127.0.0.1', listen_port(srv.config, 'tcp')), timeout=5)
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    tls_raw = socket.create_connection(('127.0.0.1', listen_port(srv.config, 'tls')), timeout=5)
    tls = ctx.wrap_socket(socket.create_connection(('127.0.0.1', listen_port(srv.config, 'tls')), timeout=5))
    try:
        wait_for('tcp 1, tls 2', lambda: gauge(srv, 'turnpike_connections', transport='tcp') == 1 and
                 gauge(srv, 'turnpike_connections', transport='tls') == 2, 5)
    finally:
        for s in (tcp, tls_raw, tls):
            s.close()
    wait_for('connections back to 0', lambda: gauge(srv, 'turnpike_connections', transport='tcp') == 0 and
             gauge(srv, 'turnpike_connections', transport='tls') == 0, 5)
    return f'limit 2, ports 0/{hi - lo + 1}, cert expiry {int(cert_not_after(cert))}, tcp/tls counted'


def allocate(srv):
    c = stunclient.TurnClient(srv.turn_addr)
    r = c.allocate(USER, PASSWORD)
    return c, r


def readyz_at_capacity(srv):
    clients = []
    try:
        for _ in range(2):
            c, r = allocate(srv)
            clients.append(c)
            assert r.is_success, f'Allocate: {r.describe()}'
        assert gauge(srv, 'turnpike_relay_ports_in_use') == 2
        st, body = http(srv, '/readyz')
        assert st == 503 and body['ready'] is False and body['reason'] == 'at_capacity', f'/readyz {st} {body}'
        c, r = allocate(srv)
        clients.append(c)
        assert r.is_error and r.error_code == 508, f'third Allocate: {r.describe()}'
        r = clients[0].refresh(0)
        assert r.is_success, f'Refresh(0): {r.describe()}'
        wait_for('/readyz 200 after freeing one', lambda: http(srv, '/readyz')[0] == 200, 3)
        assert gauge(srv, 'turnpike_relay_ports_in_use') == 1
    finally:
        for c in clients:
            c.close()
    return '503 at_capacity with 2 of 2, 508 for a third, 200 once one is freed'


def test_block_errors(srv):
    block = '/api/v1/test/block'
    st, _ = http(srv, block, 'POST', {'component': 'shard-0', 'seconds': 1})
    assert st == 401, f'without the token: {st}'
    for bad in ({}, {'component': 'shard-0'}, {'component': 'shard-0', 'seconds': 0},
                {'component': 'shard-0', 'seconds': 120}, {'component': 3, 'seconds': 1}):
        st, body = http(srv, block, 'POST', bad, token=TOKEN)
        assert st == 400 and 'error' in body, f'{bad}: {st} {body}'
    st, body = http(srv, block, 'POST', {'component': 'shard-7', 'seconds': 1}, token=TOKEN)
    assert st == 404, f'unknown component: {st} {body}'
    st, _ = http(srv, '/healthz')
    assert st == 200, 'a refused block changed /healthz'
    return '401, 400 x5, 404'


def blocked_shard(srv):
    wait_for('/healthz 200 before the block', lambda: http(srv, '/healthz')[0] == 200, 5)
    st, body = http(srv, '/api/v1/test/block', 'POST', {'component': 'shard-1', 'seconds': 4}, token=TOKEN)
    assert st == 202, f'block: {st} {body}'
    t0 = time.monotonic()
    st, body = wait_for('/healthz 503', lambda: (lambda r: r if r[0] == 503 else None)(http(srv, '/healthz')), 3.0)
    late_after = time.monotonic() - t0
    assert body['status'] == 'unhealthy' and body['late'] == ['shard-1'], body
    wait_for('/healthz 200 after the block', lambda: http(srv, '/healthz')[0] == 200, 6.0)
    back_after = time.monotonic() - t0
    assert back_after >= 3.5, f'healthy again after {back_after:.1f} s, inside the 4 s block'
    events = [e for e in srv.log_events('test_fault_block')]
    assert events and events[-1].get('component') == 'shard-1', f'log: {events}'
    return f'503 naming shard-1 after {late_after:.1f} s, 200 again after {back_after:.1f} s'


def test_block_404(srv):
    st, body = http(srv, '/api/v1/test/block', 'POST', {'component': 'shard-0', 'seconds': 1}, token=TOKEN)
    assert st == 404, f'without TURNPIKE_TEST_FAULT_HOOKS: {st} {body}'
    return '404'


def relay_ports_exhausted(srv):
    clients = []
    try:
        for _ in range(2):
            c, r = allocate(srv)
            clients.append(c)
            assert r.is_success, f'Allocate: {r.describe()}'
        assert gauge(srv, 'turnpike_relay_ports_in_use') == 2 and gauge(srv, 'turnpike_relay_ports_limit') == 2
        st, body = http(srv, '/readyz')
        assert st == 503 and body['reason'] == 'relay_ports_exhausted', f'/readyz {st} {body}'
        assert clients[1].refresh(0).is_success
        wait_for('/readyz 200 after freeing a port', lambda: http(srv, '/readyz')[0] == 200, 3)
    finally:
        for c in clients:
            c.close()
    return '503 relay_ports_exhausted with 2 of 2 ports, 200 once one is freed'


def node(**overrides):
    cfg = harness.default_config(overrides)
    cfg['admin']['token'] = TOKEN
    return cfg


def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    ap.add_argument('--promtool', default=os.environ.get('PROMTOOL_BIN', '/usr/bin/promtool'))
    args = ap.parse_args()
    if args.server != 'turnpike':
        print(f'test_health.py tests Turnpike\'s admin probes; not {args.server}', file=sys.stderr)
        return 2
    tr = harness.TestRunner('health')
    with tempfile.TemporaryDirectory(prefix='turnpike-it-health-') as d:
        cert, key = harness.make_cert(d)
        cfg = harness.add_listeners(node(limits={'max_allocations': 2}, threads=2), tcp=True, tls=(cert, key))
        os.environ['TURNPIKE_TEST_FAULT_HOOKS'] = '1'
        try:
            with harness.Turnpike(cfg, binary=args.bin) as a:
                tr.run('healthz_ok', healthz_ok, a)
                tr.run('capacity_metrics', capacity_metrics, a, cert, args.promtool)
                tr.run('readyz_at_capacity', readyz_at_capacity, a)
                tr.run('test_block_errors', test_block_errors, a)
                tr.run('blocked_shard', blocked_shard, a)
        finally:
            del os.environ['TURNPIKE_TEST_FAULT_HOOKS']
        with harness.Turnpike(node(), binary=args.bin) as b:
            tr.run('test_block_404', test_block_404, b)
        lo = harness.default_config()['relay']['port_range'][0]
        with harness.Turnpike(node(relay={'port_range': [lo, lo + 1]}), binary=args.bin) as c:
            tr.run('relay_ports_exhausted', relay_ports_exhausted, c)
    return tr.finish()


if __name__ == '__main__':
    sys.exit(main())
