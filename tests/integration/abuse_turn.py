"""Attacks on turn for test_abuse.py: CONFIG (overrides for the node) and CHECKS, a list of
(name, fn(ctx)); see test_abuse.py for ctx.

The attackers send from 127.0.0.2 and 127.0.0.3 (loopback, other sources than the honest uclient
pairs on 127.0.0.1), with TURN REST users of their own, so that a budget or quota they exhaust is
theirs alone."""

import base64
import hashlib
import hmac
import socket
import struct
import time

from integration import harness
from integration import stunclient as sc

CONFIG = {}

FLOOD_IP = '127.0.0.2'   # the amplification check spends this source's budget
ATTACKER_IP = '127.0.0.3'


def _server(ctx):
    return tuple(ctx.node.turn_addr)


def _rest(user):
    return sc.rest_credentials(harness.REST_SECRET, user)


def _client(ctx, **kw):
    return sc.TurnClient(_server(ctx), local=(ATTACKER_IP, 0), **kw)


def unauth_amplification(ctx):
    """Item 4: 20-byte unauthenticated Allocates from one source get 401s (~6x larger) only within
    the per-source excess budget (limits.unauthenticated_excess_*), then nothing."""
    limits = ctx.cfg.get('limits', {})
    rate = int(limits.get('unauthenticated_excess_bytes_per_second', 4096))
    burst = int(limits.get('unauthenticated_excess_burst', 32768))
    before = ctx.metric('turnpike_unauthenticated_limited_total')
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind((FLOOD_IP, 0))
    sock.setblocking(False)
    sent = received = answers = 0
    start = time.monotonic()

    def drain():
        nonlocal received, answers
        while True:
            try:
                data = sock.recv(65535)
            except BlockingIOError:
                return
            received += len(data)
            answers += 1

    for i in range(3000):
        m = sc.Message(sc.ALLOCATE, sc.REQUEST)
        wire = m.encode(fingerprint=False)  # 20 bytes: the header only
        sock.sendto(wire, _server(ctx))
        sent += len(wire)
        if i % 50 == 49:
            drain()
            time.sleep(0.002)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        drain()
        time.sleep(0.02)
    elapsed = time.monotonic() - start
    sock.close()
    excess = received - answers * 20
    allowed = burst + rate * elapsed + 1500
    assert answers > 0, 'no 401 at all: the budget must allow a first challenge'
    assert excess <= allowed, (f'{answers} answers of {3000} with {excess} excess bytes in {elapsed:.1f}s: '
                               f'over the budget of {allowed:.0f}')
    limited = ctx.metric('turnpike_unauthenticated_limited_total') - before
    assert limited >= 3000 - answers - 50, f'turnpike_unauthenticated_limited_total grew by {limited} only'
    return (f'3000 x 20-byte Allocates ({sent} B): {answers} answered, {excess} B excess in {elapsed:.1f}s '
            f'(budget {allowed:.0f} B); {limited:.0f} limited')


def nonce_replay(ctx):
    """Item 13: a signed Allocate replayed from another port with a captured nonce gets 438."""
    user, password = _rest('abuse-replay')
    with _client(ctx) as a:
        r = a.allocate(user, password)
        assert r.is_success, f'allocate: {r.describe()}'
        nonce, realm = a.nonce, a.realm
        a.refresh(0)
    with _client(ctx) as b:
        m = sc.Message(sc.ALLOCATE, sc.REQUEST)
        m.add(sc.REQUESTED_TRANSPORT, struct.pack('!B3x', sc.TRANSPORT_UDP))
        m.add(sc.USERNAME, user.encode())
        m.add(sc.REALM, realm.encode())
        m.add(sc.NONCE, nonce.encode())
        resp = b.transact(m, key=sc.long_term_key(user, realm, password))
        assert resp.is_error and resp.error_code == 438, f'replay from another port: {resp.describe()}'
        assert resp.nonce and resp.nonce != nonce
        # With the fresh nonce the honest path goes on.
        b.nonce, b.realm = resp.nonce, resp.realm or realm
        b.set_credentials(user, password)
        ok = b.allocate()
        assert ok.is_success, f'allocate with the fresh nonce: {ok.describe()}'
        b.refresh(0)
    return 'replayed nonce from another port: 438 with a fresh nonce; fresh nonce: 200'


def permission_cap(ctx):
    """Item 5: at limits.max_permissions_per_allocation, CreatePermission gets 508; every packet to
    the relay still costs the same (hashed lookup)."""
    cap = int(ctx.cfg.get('limits', {}).get('max_permissions_per_allocation', 500))
    peers = [(f'198.51.100.{i}', 9) for i in range(256)] + [(f'203.0.113.{i}', 9) for i in range(256)]
    assert cap < len(peers)
    before = ctx.metric('turnpike_allocation_table_limit_total', table='permissions')
    user, password = _rest('abuse-permissions')
    with _client(ctx) as c:
        assert c.allocate(user, password).is_success
        for i in range(0, cap, 16):
            r = c.create_permission(*peers[i:min(i + 16, cap)])
            assert r.is_success, f'permission {i}: {r.describe()}'
        over = c.create_permission(peers[cap])
        assert over.is_error and over.error_code == 508, f'permission {cap + 1}: {over.describe()}'
        again = c.create_permission(peers[0])  # a refresh of one held needs no room
        assert again.is_success, f'refresh at the cap: {again.describe()}'
        c.refresh(0)
    grew = ctx.metric('turnpike_allocation_table_limit_total', table='permissions') - before
    assert grew >= 1, 'turnpike_allocation_table_limit_total{table="permissions"} did not grow'
    return f'{cap} permissions held, the next got 508, a refresh 200'


def even_port_reservations(ctx):
    """Item 6: Allocate(EVEN-PORT R) + Refresh(0) in a loop holds no more reserved ports than the
    user's allocation quota: fds stay bounded and the loop meets 486."""
    quota = int(ctx.cfg.get('limits', {}).get('max_allocations_per_user', 100))
    cycles = quota + 100
    user, password = _rest('abuse-evenport')
    fds_before = ctx.fds()
    ok = refused = 0
    with _client(ctx) as c:
        c.set_credentials(user, password)
        for _ in range(cycles):
            r = c.allocate(extra_attrs=[(sc.EVEN_PORT, b'\x80')])
            if r.is_success:
                ok += 1
                assert r.has(sc.RESERVATION_TOKEN), 'no RESERVATION-TOKEN'
                assert c.refresh(0).is_success
            else:
                assert r.error_code == 486, f'allocate: {r.describe()}'
                refused += 1
        fds_after = ctx.fds()
    grown = fds_after - fds_before
    assert refused > 0, f'{cycles} cycles all succeeded: reservations escape the quota'
    assert grown <= quota + 20, f'fds grew by {grown} over {cycles} cycles (quota {quota})'
    return f'{cycles} cycles: {ok} allocated, {refused} got 486; fds +{grown} (quota {quota})'


def peer_policy_embedded_ipv4(ctx):
    """Item 10: a Send indication to 169.254.169.254 through NAT64 (64:ff9b::a9fe:a9fe) is refused
    by the peer policy (counted as peer_denied), like the IPv4 address itself."""
    before = ctx.metric('turnpike_relay_dropped_packets_total', reason='peer_denied')
    user, password = _rest('abuse-nat64')
    targets = ['64:ff9b::a9fe:a9fe', '64:ff9b:1:a9fe:a9:fe00::', '2002:a9fe:a9fe::1', '::ffff:0:a9fe:a9fe']
    with _client(ctx) as c:
        assert c.allocate(user, password).is_success
        for t in targets:
            c.send_indication((t, 80), b'GET /latest/meta-data/ HTTP/1.0\r\n\r\n')
        time.sleep(0.3)
        c.refresh(0)
    denied = ctx.metric('turnpike_relay_dropped_packets_total', reason='peer_denied') - before
    assert denied >= len(targets), f'peer_denied grew by {denied} for {len(targets)} embedded-IPv4 sends'
    return f'{len(targets)} IPv6 forms of 169.254.169.254: all peer_denied'


def utf8_username(ctx):
    """Class fix: a validly signed request whose USERNAME is not UTF-8 gets 400 (nothing downstream
    ever sees ill-formed text)."""
    expiry = int(time.time()) + 3600
    raw_user = f'{expiry}:caf'.encode() + b'\xe9'
    password = base64.b64encode(hmac.new(harness.REST_SECRET.encode(), raw_user, hashlib.sha1).digest())
    with _client(ctx) as c:
        first = c.allocate(authenticate=False)
        assert first.error_code == 401
        m = sc.Message(sc.ALLOCATE, sc.REQUEST)
        m.add(sc.REQUESTED_TRANSPORT, struct.pack('!B3x', sc.TRANSPORT_UDP))
        m.add(sc.USERNAME, raw_user)
        m.add(sc.REALM, first.realm.encode())
        m.add(sc.NONCE, first.nonce.encode())
        key = hashlib.md5(raw_user + b':' + first.realm.encode() + b':' + password).digest()
        r = c.transact(m, key=key)
        assert r.is_error and r.error_code == 400, f'Latin-1 USERNAME: {r.describe()}'
        bad_sw = sc.Message(sc.BINDING, sc.REQUEST)
        bad_sw.add(sc.SOFTWARE, b'\xff\xfe' * 10)
        r = c.transact(bad_sw)
        assert r.is_error and r.error_code == 400, f'ill-formed SOFTWARE: {r.describe()}'
    return 'Latin-1 USERNAME (validly signed): 400; ill-formed SOFTWARE: 400'


CHECKS = [
    ('unauth_amplification', unauth_amplification),
    ('nonce_replay', nonce_replay),
    ('permission_cap', permission_cap),
    ('even_port_reservations', even_port_reservations),
    ('peer_policy_embedded_ipv4', peer_policy_embedded_ipv4),
    ('utf8_username', utf8_username),
]
