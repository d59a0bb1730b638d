"""Attacks on server for test_abuse.py: CONFIG (overrides for the node) and CHECKS, a list of
(name, fn(ctx)); see test_abuse.py for ctx.

Admin API (issue 14 items 1 and 7) and TCP/TLS connection limits (item 9). The TCP checks connect
from 127.0.x.y source addresses other than 127.0.0.1 (all of 127/8 is local on Linux), so the
per-prefix and global limits below never touch the honest uclient pairs (UDP from 127.0.0.1) or
other modules' checks (127.0.0.0/24)."""

import http.client
import json
import os
import resource
import select
import socket
import struct
import time

PER_PREFIX = 100      # limits.max_connections_per_ip, counted per IPv4 /24 here
MAX_CONNECTIONS = 300  # limits.max_connections
ALLOCATE_TIMEOUT = 5  # limits.connection_allocate_timeout (seconds; 5 is the smallest allowed)
MAX_SITES = 64        # limits.max_sites
CONFIGURED_SITE = 'abuse-hq'

CONFIG = {
    'limits': {
        'max_connections_per_ip': PER_PREFIX,
        'connection_prefix_v4': 24,
        'max_connections': MAX_CONNECTIONS,
        'connection_allocate_timeout': ALLOCATE_TIMEOUT,
        'max_sites': MAX_SITES,
    },
    'sites': {CONFIGURED_SITE: ['198.51.100.0/24']},
}


def _admin(ctx):
    host, port = ctx.node.admin_addr
    return host, int(port)


def _raw_http(ctx, request_line):
    """Sends one raw request (bytes, not necessarily UTF-8); returns (status, body bytes)."""
    with socket.create_connection(_admin(ctx), timeout=5) as s:
        s.sendall(request_line + b'\r\nHost: turnpike\r\nConnection: close\r\n\r\n')
        data = b''
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data, f'no answer to {request_line!r}: the admin thread (or the process) died'
    head, _, body = data.partition(b'\r\n\r\n')
    return int(head.split(b' ')[1]), body


def _internal_errors(ctx):
    return ctx.metric('turnpike_internal_errors_total')


def admin_invalid_utf8(ctx):
    """Item 1: raw non-UTF-8 bytes in the path and %FF in a query are answered (valid JSON with
    U+FFFD), never an abort of the process."""
    cases = [(b'GET /\xff HTTP/1.1', 404), (b'GET /api/v1/allocations?user=%FF HTTP/1.1', 200),
             (b'GET /api/v1/allocations?%FF=1 HTTP/1.1', 400), (b'GET /api/v1/allocations/\xfe\xff HTTP/1.1', 400),
             (b'GET /api/v1/sites?\xff HTTP/1.1', 400)]
    seen = []
    for line, want in cases:
        status, body = _raw_http(ctx, line)
        assert status == want, f'{line!r}: {status} {body[:200]!r}, wanted {want}'
        json.loads(body.decode('utf-8'))  # strict: valid UTF-8 and valid JSON
        seen.append(status)
        ctx.node.check_alive()
    assert _internal_errors(ctx) == 0, 'an exception escaped a handler'
    return f'answers {seen}, node alive, 0 internal errors'


def _post_many(ctx, path, bodies):
    """POSTs each body over one keep-alive connection; the statuses."""
    conn = http.client.HTTPConnection(*_admin(ctx), timeout=5)
    out = []
    try:
        for b in bodies:
            conn.request('POST', path, body=b, headers={'Content-Type': 'application/json'})
            r = conn.getresponse()
            r.read()
            out.append(r.status)
    finally:
        conn.close()
    return out


def _site_labels(text):
    sites = set()
    for line in text.splitlines():
        if line.startswith('turnpike_nat_clients_total{') and 'site="' in line:
            sites.add(line.split('site="', 1)[1].split('"', 1)[0])
    return sites


def report_site_flood(ctx):
    """Item 7: 5000 NAT reports and 1100 lifetime reports, each with a new tags.site: /metrics stays
    bounded (limits.max_sites, then "other"), the configured site still records its evidence, and a
    bad body is a 400 that changes nothing."""
    t0 = time.monotonic()
    before = len(ctx.metrics())
    nat = [json.dumps({'mapping': 'endpoint_independent', 'filtering': 'address_dependent',
                       'tags': {'site': f'flood-{i}'}}) for i in range(5000)]
    statuses = _post_many(ctx, '/api/v1/nat-reports', nat)
    assert set(statuses) == {202}, f'NAT reports answered {sorted(set(statuses))}'
    life = [json.dumps({'timeout_seconds': 30, 'tags': {'site': f'life-{i}'}}) for i in range(1100)]
    statuses = _post_many(ctx, '/api/v1/lifetime-reports', life)
    assert set(statuses) == {202}, f'lifetime reports answered {sorted(set(statuses))}'
    # The configured site's evidence still lands after the flood.
    statuses = _post_many(ctx, '/api/v1/lifetime-reports',
                          [json.dumps({'timeout_seconds': 42.5, 'tags': {'site': CONFIGURED_SITE}})])
    assert statuses == [202], statuses
    text = ctx.metrics()
    after = len(text)
    labels = _site_labels(text)
    assert len(labels) <= MAX_SITES + 3, f'{len(labels)} site label values in turnpike_nat_clients_total'
    assert 'other' in labels, 'reports beyond limits.max_sites were not counted as "other"'
    assert after - before < 60_000, f'/metrics grew from {before} to {after} bytes'
    assert ctx.metric('turnpike_site_overflow_total', table='labels') > 0
    status, body = 0, b''
    conn = http.client.HTTPConnection(*_admin(ctx), timeout=5)
    try:
        conn.request('GET', '/api/v1/sites')
        r = conn.getresponse()
        status, body = r.status, r.read()
    finally:
        conn.close()
    assert status == 200, status
    sites = {s['site']: s for s in json.loads(body)['sites']}
    assert CONFIGURED_SITE in sites, f'{CONFIGURED_SITE} missing from /api/v1/sites ({len(sites)} sites)'
    assert sites[CONFIGURED_SITE].get('measured', {}).get('timeout_seconds') == 42.5, sites[CONFIGURED_SITE]
    assert len(sites) <= MAX_SITES + 3, f'{len(sites)} sites in the idle-timer table'
    # Bad bodies: a clear 400, nothing counted.
    counted = ctx.metric('turnpike_nat_clients_total')
    bad = ['{"mapping":', '[]', '{"mapping":"no_nat","filtering":"no_nat","tags":{"site":"' + 'x' * 100 + '"}}',
           '{"mapping":"no_nat","filtering":"no_nat","tags":{"site":"\\u00ff"}}', 'x' * 20000]
    statuses = _post_many(ctx, '/api/v1/nat-reports', bad[:4])
    assert statuses == [400] * 4, statuses
    assert ctx.metric('turnpike_nat_clients_total') == counted
    assert _internal_errors(ctx) == 0
    return (f'/metrics {before} -> {after} bytes, {len(labels)} site labels, {len(sites)} sites in the table, '
            f'{CONFIGURED_SITE} kept, {time.monotonic() - t0:.1f}s')


def call_report_flood(ctx):
    """Issue 18: 3000 call reports (POST /api/v1/call-reports), each with a new tags.site:
    turnpike_calls_total stays bounded (limits.max_sites, then "other"); bad bodies, invalid UTF-8
    among them, are a 400 each that counts nothing but turnpike_call_reports_rejected_total."""
    t0 = time.monotonic()
    before = len(ctx.metrics())
    reports = [json.dumps({'local_candidate_type': 'relay', 'remote_candidate_type': 'host',
                           'relay_protocol': 'tcp', 'duration_seconds': 60,
                           'tags': {'site': f'calls-{i}'}}) for i in range(3000)]
    statuses = _post_many(ctx, '/api/v1/call-reports', reports)
    assert set(statuses) == {202}, f'call reports answered {sorted(set(statuses))}'
    text = ctx.metrics()
    sites = {line.split('site="', 1)[1].split('"', 1)[0] for line in text.splitlines()
             if line.startswith('turnpike_calls_total{')}
    assert len(sites) <= MAX_SITES + 3, f'{len(sites)} site label values in turnpike_calls_total'
    assert 'other' in sites, 'reports beyond limits.max_sites were not counted as "other"'
    assert ctx.metric('turnpike_calls_total', path='relay_tcp') == 3000
    assert len(text) - before < 60_000, f'/metrics grew from {before} to {len(text)} bytes'
    counted, refused = ctx.metric('turnpike_calls_total'), ctx.metric('turnpike_call_reports_rejected_total')
    tail = b'","remote_candidate_type":"host","duration_seconds":1}'
    bad = [b'{"local_candidate_type":', b'[]',
           b'{"local_candidate_type":"\xff\xfe' + tail,          # not UTF-8
           b'{"local_candidate_type":"\xc3\x28' + tail,          # a broken UTF-8 sequence
           b'{"local_candidate_type":"relay","remote_candidate_type":"host","duration_seconds":1}',
           b'{"local_candidate_type":"host","remote_candidate_type":"host","duration_seconds":1,'
           b'"tags":{"site":"\xc3\xbf"}}',                        # a tag that is not a label
           b'{"local_candidate_type":"host","remote_candidate_type":"host","duration_seconds":1e999}']
    statuses = _post_many(ctx, '/api/v1/call-reports', bad)
    assert statuses == [400] * len(bad), statuses
    assert ctx.metric('turnpike_calls_total') == counted
    assert ctx.metric('turnpike_call_reports_rejected_total') == refused + len(bad)
    assert _internal_errors(ctx) == 0
    ctx.node.check_alive()
    return (f'{len(sites)} site labels in turnpike_calls_total after 3000 reports, {len(bad)} bad bodies '
            f'refused, {time.monotonic() - t0:.1f}s')


def _raise_fd_limit(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n), hard))


def _connect_from(sources, addr):
    socks = []
    for src in sources:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(3)
        s.bind((src, 0))
        s.connect(addr)
        s.setblocking(False)
        socks.append(s)
    return socks


def _closed_by_server(socks, wait=1.0):
    """How many of socks the server closed (EOF or reset) within `wait` seconds."""
    closed = set()
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and len(closed) < len(socks):
        open_ = [s for s in socks if s.fileno() not in closed]
        r, _, _ = select.select(open_, [], [], 0.1)
        for s in r:
            try:
                if s.recv(1) == b'':
                    closed.add(s.fileno())
            except (ConnectionResetError, BlockingIOError):
                closed.add(s.fileno())
    return len(closed)


def _close_all(socks):
    for s in socks:
        s.close()


def _wait_released(ctx, addr, src):
    """Until the node has taken back the closed connections (one new connection from `src` stays open)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        s = _connect_from([src], addr)
        gone = _closed_by_server(s, 0.3)
        _close_all(s)
        if not gone:
            return
    raise AssertionError('the node did not release closed connections')


def tcp_prefix_limit(ctx):
    """Item 9: limits.max_connections_per_ip counts per /24 (connection_prefix_v4 here), not per
    address: 130 connections from 130 addresses of one /24 get 100 through."""
    _raise_fd_limit(4096)
    addr = ctx.node.listen_addr('tcp')
    refused0 = ctx.metric('turnpike_connections_refused_total', reason='per_prefix')
    socks = _connect_from([f'127.0.5.{i}' for i in range(1, 131)], addr)
    try:
        closed = _closed_by_server(socks)
    finally:
        _close_all(socks)
    refused = ctx.metric('turnpike_connections_refused_total', reason='per_prefix') - refused0
    assert closed == 30 and refused == 30, f'{closed} closed by the node, {refused} counted; wanted 30'
    _wait_released(ctx, addr, '127.0.5.1')
    return f'130 connections from one /24: {130 - closed} kept, {closed} refused'


def tcp_global_cap(ctx):
    """Item 9: limits.max_connections: 400 connections from four /24s (each under the per-prefix
    limit), 300 kept, the rest closed at once."""
    _raise_fd_limit(4096)
    addr = ctx.node.listen_addr('tcp')
    refused0 = ctx.metric('turnpike_connections_refused_total', reason='total')
    sources = [f'127.0.{n}.{i}' for n in (6, 7, 8, 9) for i in range(1, 101)]
    socks = _connect_from(sources, addr)
    try:
        closed = _closed_by_server(socks)
    finally:
        _close_all(socks)
    refused = ctx.metric('turnpike_connections_refused_total', reason='total') - refused0
    assert closed == 100 and refused == 100, f'{closed} closed by the node, {refused} counted; wanted 100'
    _wait_released(ctx, addr, '127.0.9.1')
    return f'400 connections: {400 - closed} kept (limits.max_connections {MAX_CONNECTIONS}), {closed} refused'


def _binding():
    return struct.pack('!HHI', 0x0001, 0, 0x2112A442) + os.urandom(12)


def tcp_unallocated_timeout(ctx):
    """Item 9: a TCP connection that never allocates is closed limits.connection_allocate_timeout
    after it opened, though it sends a Binding request every second."""
    addr = ctx.node.listen_addr('tcp')
    closed0 = ctx.metric('turnpike_connections_unallocated_closed_total')
    t0 = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(('127.0.10.1', 0))
    s.settimeout(5)
    s.connect(addr)
    answers, closed_after = 0, None
    try:
        while time.monotonic() - t0 < ALLOCATE_TIMEOUT + 6 and closed_after is None:
            try:
                s.sendall(_binding())  # one Binding a second: what used to keep a connection alive
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - t0
                break
            tick = time.monotonic()
            while closed_after is None and time.monotonic() - tick < 1.0:
                r, _, _ = select.select([s], [], [], max(0.0, 1.0 - (time.monotonic() - tick)))
                if not r:
                    continue
                try:
                    data = s.recv(4096)
                except ConnectionResetError:
                    data = b''
                if not data:
                    closed_after = time.monotonic() - t0
                else:
                    answers += 1
    finally:
        s.close()
    assert answers >= 2, f'only {answers} Binding answers: the connection did not work'
    assert closed_after is not None, f'still open after {ALLOCATE_TIMEOUT + 6} s of Bindings without an allocation'
    assert ALLOCATE_TIMEOUT - 1 <= closed_after <= ALLOCATE_TIMEOUT + 3, f'closed after {closed_after:.1f} s'
    assert ctx.metric('turnpike_connections_unallocated_closed_total') >= closed0 + 1
    return f'{answers} Bindings answered, closed after {closed_after:.1f} s without an allocation'


CHECKS = [
    ('admin_invalid_utf8', admin_invalid_utf8),
    ('report_site_flood', report_site_flood),
    ('call_report_flood', call_report_flood),
    ('tcp_prefix_limit', tcp_prefix_limit),
    ('tcp_global_cap', tcp_global_cap),
    ('tcp_unallocated_timeout', tcp_unallocated_timeout),
]
