#!/usr/bin/python3
"""Logs to troubleshoot by (issue 17, docs/logs.md), against the real binary over loopback UDP.

  one_wrong_password       an Allocate with a wrong password (stunclient.py, the real 401 round trip)
                           gives exactly one `auth_failed` line: user, client address and port,
                           transport udp, reason bad_password; the first round (no credentials) none
  unknown_user             a user the server does not know: one line, reason unknown_user
  username_0xff_jq         a USERNAME with the byte 0xFF gives an `auth_failed` line (reason
                           bad_username) that `jq -e` parses, straight from the log file's bytes
  flood_bounded            ~10,000 bad requests per second for 2 s (a bogus NONCE: stale_nonce) give
                           at most burst + rate * seconds lines; after the flood one more request's
                           line carries the rest: lines + sum(suppressed) == the server's own count
                           (turnpike_auth_failures_total{reason="stale_nonce"})
  debug_requests           with log.level debug, a Binding request gives a `request` line with its
                           method, class, transaction id, client and code
  redact_users             with log.redact_users, the wrong-password line's user is the documented
                           hash (u: + 16 hex digits of SHA-256(salt || user)) and the user's name
                           appears nowhere in the log

Turnpike only. Needs jq.
Run: python3 test_logs.py [--bin PATH]
"""
import hashlib
import os
import socket
import struct
import subprocess
import sys
import time

import pkgroot  # noqa: F401  (puts tests/ on sys.path)

from integration import harness, metrics, stunclient  # noqa: E402
from integration.stunclient import (ALLOCATE, BINDING, MESSAGE_INTEGRITY, NONCE, REALM, REQUEST,  # noqa: E402
                                    REQUESTED_TRANSPORT, USERNAME, Message)

RATE, BURST = 10, 20
FLOOD_PER_S, FLOOD_S = 10_000, 2.0


def server_config(**log):
    return harness.default_config(log=dict({'level': 'info', 'format': 'json', 'events_per_second': RATE,
                                            'events_burst': BURST}, **log))


def events(srv, name):
    return srv.log_events(name)


def wait_lines(srv, name, n, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = events(srv, name)
        if len(got) >= n:
            return got
        time.sleep(0.05)
    return events(srv, name)


def one_wrong_password(srv):
    with stunclient.TurnClient(srv.listen_addr('udp'), rto=2.0) as c:
        r = c.allocate(harness.USER, 'not-the-password')
        assert r.is_error and r.error_code == 401, r.describe()
        port = c.local_addr[1]
    time.sleep(0.5)  # a second line, if any, would be written by now
    lines = events(srv, 'auth_failed')
    assert len(lines) == 1, f'{len(lines)} auth_failed lines: {lines}'
    ln = lines[0]
    assert ln['user'] == harness.USER, ln
    assert ln['client'] == f'127.0.0.1:{port}', ln
    assert ln['transport'] == 'udp' and ln['reason'] == 'bad_password', ln
    assert ln['level'] == 'warn' and 'suppressed' not in ln, ln
    return f'{ln}'


def unknown_user(srv):
    before = len(events(srv, 'auth_failed'))
    with stunclient.TurnClient(srv.listen_addr('udp'), rto=2.0) as c:
        r = c.allocate('mallory', 'whatever')
        assert r.is_error and r.error_code == 401, r.describe()
    lines = wait_lines(srv, 'auth_failed', before + 1)
    assert len(lines) == before + 1, lines
    assert lines[-1]['user'] == 'mallory' and lines[-1]['reason'] == 'unknown_user', lines[-1]


def challenge(srv):
    """A realm and nonce from the server's first 401."""
    with stunclient.TurnClient(srv.listen_addr('udp'), rto=2.0) as c:
        r = c.transact(Message(ALLOCATE, REQUEST).add(REQUESTED_TRANSPORT, struct.pack('!B3x', 17)))
        assert r.error_code == 401, r.describe()
        return r.realm, r.nonce


def username_0xff_jq(srv):
    realm, nonce = challenge(srv)
    name = b'bob\xff\xfeend'
    m = Message(ALLOCATE, REQUEST).add(REQUESTED_TRANSPORT, struct.pack('!B3x', 17))
    m.add(USERNAME, name).add(REALM, realm.encode()).add(NONCE, nonce.encode())
    key = stunclient.long_term_key('bob', realm, 'x')
    with stunclient.TurnClient(srv.listen_addr('udp'), rto=2.0) as c:
        r = c.transact(m, key=key)
        assert r.is_error and r.error_code == 400, r.describe()
    deadline = time.monotonic() + 3
    raw = []
    while time.monotonic() < deadline and not raw:
        with open(srv.log_path, 'rb') as f:
            raw = [ln for ln in f.read().splitlines() if b'"bad_username"' in ln]
        time.sleep(0.05)
    assert len(raw) == 1, f'{len(raw)} bad_username lines'
    p = subprocess.run(['jq', '-e', '-c', '{event, user, reason}'], input=raw[0] + b'\n',
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
    assert p.returncode == 0, f'jq exit {p.returncode}: {p.stderr.decode(errors="replace")} on {raw[0]!r}'
    out = p.stdout.decode()
    assert '"event":"auth_failed"' in out and '"reason":"bad_username"' in out, out
    assert 'bob' in out, out
    return f'jq: {out.strip()}'


def stale_count(srv):
    samples = metrics.parse(metrics.scrape(srv))
    return metrics.msum(samples, 'turnpike_auth_failures_total', reason='stale_nonce')


def bad_request(tid, realm):
    """An Allocate with credentials and a NONCE the server never issued: 438, auth_failed stale_nonce."""
    m = Message(ALLOCATE, REQUEST, tid=tid).add(REQUESTED_TRANSPORT, struct.pack('!B3x', 17))
    m.add(USERNAME, b'flooder').add(REALM, realm.encode()).add(NONCE, b'not-a-nonce-of-this-server')
    m.add(MESSAGE_INTEGRITY, b'\0' * 20)
    return m.encode(fingerprint=False)


def flood_bounded(srv):
    realm, _ = challenge(srv)
    time.sleep(1.5)  # the stale_nonce bucket full again
    before_lines = events(srv, 'auth_failed')
    before_count = stale_count(srv)
    addr = srv.listen_addr('udp')
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    s.setblocking(False)
    packets = [bad_request(os.urandom(12), realm) for _ in range(int(FLOOD_PER_S * FLOOD_S))]
    t0 = time.monotonic()
    sent = 0
    for i, pkt in enumerate(packets):  # bounded: at most FLOOD_PER_S * FLOOD_S datagrams
        due = t0 + i / FLOOD_PER_S
        while time.monotonic() < due:
            pass
        try:
            s.sendto(pkt, addr)
            sent += 1
        except BlockingIOError:
            pass
        if i % 256 == 0:
            try:
                while s.recv(2048):
                    pass
            except BlockingIOError:
                pass
    elapsed = time.monotonic() - t0
    time.sleep(1.5)  # tokens back: the next line carries what the flood's lines did not
    s.sendto(bad_request(os.urandom(12), realm), addr)
    s.close()
    time.sleep(0.5)
    seen = stale_count(srv) - before_count
    lines = [ln for ln in events(srv, 'auth_failed')[len(before_lines):] if ln.get('reason') == 'stale_nonce']
    suppressed = sum(int(ln.get('suppressed', 0)) for ln in lines)
    bound = BURST + RATE * (elapsed + 1.5) + 2
    assert seen >= sent * 0.5, f'the server saw only {seen} of {sent} bad requests'
    assert len(lines) <= bound, f'{len(lines)} lines for {seen} failures (bound {bound:.0f})'
    assert len(lines) + suppressed == seen, \
        f'{len(lines)} lines + {suppressed} suppressed != {seen} failures the server counted'
    # Which line reports a suppressed run depends on when the bucket refills during the flood; the
    # identity above is what must hold, and at least one line must have reported a suppressed run.
    carriers = [ln for ln in lines if int(ln.get('suppressed', 0)) > 0]
    assert carriers, f'no line carries a suppressed count: {lines[-3:]}'
    return (f'{sent} sent in {elapsed:.2f}s, {int(seen)} counted by the server, {len(lines)} lines, '
            f'{suppressed} suppressed, reported on {len(carriers)} of them')


def debug_requests(args):
    with harness.make_server(args, server_config(level='debug')) as srv:
        with stunclient.TurnClient(srv.listen_addr('udp'), rto=2.0) as c:
            m = Message(BINDING, REQUEST)
            r = c.transact(m)
            assert r.is_success, r.describe()
            port = c.local_addr[1]
        tid = m.tid.hex()
        lines = [ln for ln in wait_lines(srv, 'request', 1) if ln.get('transaction_id') == tid]
        assert len(lines) == 1, f'no request line with transaction id {tid}: {events(srv, "request")[:3]}'
        ln = lines[0]
        assert ln['method'] == 'binding' and ln['class'] == 'success' and ln['code'] == 200, ln
        assert ln['client'] == f'127.0.0.1:{port}' and ln['level'] == 'debug', ln
        return f'{ln}'


def redact_users(args):
    salt = 'node-7-salt'
    with harness.make_server(args, server_config(redact_users=True, redact_salt=salt)) as srv:
        with stunclient.TurnClient(srv.listen_addr('udp'), rto=2.0) as c:
            r = c.allocate(harness.USER, 'not-the-password')
            assert r.is_error and r.error_code == 401, r.describe()
        lines = wait_lines(srv, 'auth_failed', 1)
        assert len(lines) == 1, lines
        want = 'u:' + hashlib.sha256((salt + harness.USER).encode()).hexdigest()[:16]
        assert lines[0]['user'] == want, f'{lines[0]["user"]} != {want}'
        assert harness.USER not in srv.log_text(), f'"{harness.USER}" appears in the log'
        return f'user {want}'


def main():
    ap = harness.common_argparser(__doc__)
    args = ap.parse_args()
    if args.server != 'turnpike':
        print('SKIP: Turnpike only')
        return 0
    tr = harness.TestRunner('logs')
    try:
        with harness.make_server(args, server_config()) as srv:
            tr.run('one_wrong_password', one_wrong_password, srv)
            tr.run('unknown_user', unknown_user, srv)
            tr.run('username_0xff_jq', username_0xff_jq, srv)
            tr.run('flood_bounded', flood_bounded, srv)
    except harness.ServerError as e:
        tr.fail('server', str(e))
    tr.run('debug_requests', debug_requests, args)
    tr.run('redact_users', redact_users, args)
    return tr.finish()


if __name__ == '__main__':
    sys.exit(main())
