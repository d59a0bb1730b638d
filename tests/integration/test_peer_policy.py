#!/usr/bin/python3
"""Peer policy and core TURN request handling, with a hand-written STUN client.

Phase 1: server with NO allowed peers (peers: {allow: [], deny: []}):
  Binding, 401 challenge, long-term auth, wrong password / unknown user,
  403 for loopback peers (CreatePermission and ChannelBind), Refresh(0) then
  437, a few RFC 8656 error cases, and REST (TURN REST API) credentials.
Phase 2: server with peers.allow [127.0.0.1/32, 127.0.0.3/32] and peers.deny
  [198.51.100.0/24]: permission for 127.0.0.1 succeeds, 127.0.0.2 (loopback, not
  allowed) and 198.51.100.7 (denied) are 403, 203.0.113.7 (public) succeeds;
  data flows through Send/Data indications and ChannelData with a permission
  and is dropped without one (from 127.0.0.3).

Run: python3 test_peer_policy.py [--server turnpike|turnserver] [--bin PATH]
"""

import os
import struct
import sys
import time

sys.dont_write_bytecode = True   # keep the source tree clean

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import harness  # noqa: E402
from integration import stunclient as sc  # noqa: E402
from integration.harness import PASSWORD, REALM, REST_SECRET, USER  # noqa: E402

LOOPBACK_PEER = ('127.0.0.1', 40000)   # no packet is ever sent to it in phase 1
# Documentation ranges (RFC 5737), used only in CreatePermission requests: never contacted.
DENIED_PUBLIC_PEER = ('198.51.100.7', 40000)
PUBLIC_PEER = ('203.0.113.7', 40000)
PHASE2_PEERS = {'allow': ['127.0.0.1/32', '127.0.0.3/32'], 'deny': ['198.51.100.0/24']}


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def expect_success(resp, what):
    expect(resp.is_success, f'{what}: expected success, got {resp.describe()}')


def expect_error(resp, codes, what):
    if isinstance(codes, int):
        codes = {codes}
    expect(resp.is_error and resp.error_code in codes,
           f'{what}: expected error {sorted(codes)}, got {resp.describe()}')


def check_fingerprint(resp, what):
    fp = resp.check_fingerprint()
    expect(fp is not False, f'{what}: invalid FINGERPRINT in response')


def check_integrity(resp, client, what, required=True):
    mi = resp.check_integrity(client.key)
    if required:
        expect(mi is not None, f'{what}: response has no MESSAGE-INTEGRITY')
    expect(mi is not False, f'{what}: response MESSAGE-INTEGRITY does not verify with the '
                            'long-term key')


class Ctx:
    def __init__(self, args, server):
        self.args = args
        self.server = server
        self.kind = args.server
        self.clients = []

    def client(self):
        c = sc.TurnClient(self.server.turn_addr)
        self.clients.append(c)
        return c

    def close(self):
        for c in self.clients:
            c.close()

    def note(self, msg):
        print(f'  NOTE ({self.kind}): {msg}', flush=True)


# ------------------------------------------------------------------ phase 1

def t_binding(ctx):
    c = ctx.client()
    r = c.binding()
    expect_success(r, 'Binding')
    check_fingerprint(r, 'Binding')
    mapped = r.xor_address(sc.XOR_MAPPED_ADDRESS)
    expect(mapped is not None, f'Binding: no XOR-MAPPED-ADDRESS in {r.describe()}')
    expect(tuple(mapped) == tuple(c.local_addr),
           f'Binding: XOR-MAPPED-ADDRESS {mapped} != client socket {c.local_addr}')
    return f'mapped={mapped[0]}:{mapped[1]}'


def t_allocate_unauthenticated(ctx):
    c = ctx.client()
    r = c.allocate(authenticate=False)
    expect_error(r, 401, 'Allocate without credentials')
    check_fingerprint(r, 'Allocate 401')
    expect(r.realm == REALM, f'401 REALM is {r.realm!r}, expected {REALM!r}')
    expect(r.nonce, f'401 has no NONCE: {r.describe()}')
    expect(not r.has(sc.XOR_RELAYED_ADDRESS), '401 carries XOR-RELAYED-ADDRESS')
    return f'realm={r.realm} nonce={r.nonce[:24]}'


def t_allocate_wrong_password(ctx):
    c = ctx.client()
    r = c.allocate(USER, PASSWORD + 'x')
    expect_error(r, 401, 'Allocate with wrong password')
    expect(r.realm == REALM and r.nonce, f'401 for bad password lacks REALM/NONCE: {r.describe()}')


def t_allocate_unknown_user(ctx):
    c = ctx.client()
    r = c.allocate('mallory', PASSWORD)
    expect_error(r, 401, 'Allocate with unknown user')


def _allocate_ok(ctx, c, username=USER, password=PASSWORD, what='Allocate (long-term)'):
    r = c.allocate(username, password)
    expect_success(r, what)
    check_fingerprint(r, what)
    check_integrity(r, c, what)
    relayed = r.xor_address(sc.XOR_RELAYED_ADDRESS)
    mapped = r.xor_address(sc.XOR_MAPPED_ADDRESS)
    expect(relayed is not None, f'{what}: no XOR-RELAYED-ADDRESS: {r.describe()}')
    expect(mapped is not None, f'{what}: no XOR-MAPPED-ADDRESS: {r.describe()}')
    expect(r.lifetime is not None and r.lifetime > 0, f'{what}: bad LIFETIME {r.lifetime}')
    expect(tuple(mapped) == tuple(c.local_addr),
           f'{what}: XOR-MAPPED-ADDRESS {mapped} != client socket {c.local_addr}')
    cfg = ctx.server.config
    expect(relayed[0] in cfg['relay']['addresses'],
           f'{what}: relayed address {relayed[0]} not in relay.addresses {cfg["relay"]["addresses"]}')
    lo, hi = cfg['relay']['port_range']
    expect(lo <= relayed[1] <= hi, f'{what}: relayed port {relayed[1]} outside [{lo}, {hi}]')
    return r, relayed


def t_allocate_long_term(ctx):
    c = ctx.client()
    r, relayed = _allocate_ok(ctx, c)
    return f'relayed={relayed[0]}:{relayed[1]} lifetime={r.lifetime}'


def t_allocate_twice_437(ctx):
    c = ctx.client()
    _allocate_ok(ctx, c)
    r = c.allocate()     # new transaction id, same 5-tuple
    expect_error(r, 437, 'second Allocate on the same 5-tuple')


def t_allocate_bad_requests(ctx):
    c = ctx.client()
    c.set_credentials(USER, PASSWORD)
    r = c._auth_request(sc.ALLOCATE, [])          # no REQUESTED-TRANSPORT
    expect_error(r, 400, 'Allocate without REQUESTED-TRANSPORT')
    r = c.allocate(transport=sc.TRANSPORT_TCP)
    expect_error(r, 442, 'Allocate with REQUESTED-TRANSPORT=TCP')
    r = c.allocate(extra_attrs=[(0x0031, b'abcd')])   # unknown comprehension-required
    expect_error(r, 420, 'Allocate with unknown comprehension-required attribute')
    ua = r.get(sc.UNKNOWN_ATTRIBUTES)
    expect(ua is not None and 0x0031 in struct.unpack(f'!{len(ua) // 2}H', ua),
           f'420 UNKNOWN-ATTRIBUTES does not list 0x0031: {ua!r}')


def t_permission_loopback_403(ctx):
    c = ctx.client()
    _allocate_ok(ctx, c)
    r = c.create_permission(LOOPBACK_PEER)
    expect_error(r, 403, f'CreatePermission {LOOPBACK_PEER} with no allowed peers')
    check_integrity(r, c, 'CreatePermission 403', required=False)
    r = c.create_permission(('127.0.0.2', 40001))
    expect_error(r, 403, 'CreatePermission 127.0.0.2 with no allowed peers')
    r = c.channel_bind(0x4000, LOOPBACK_PEER)
    expect_error(r, 403, f'ChannelBind {LOOPBACK_PEER} with no allowed peers')


def t_channel_bind_bad_number(ctx):
    c = ctx.client()
    _allocate_ok(ctx, c)
    r = c.channel_bind(0x3FFF, LOOPBACK_PEER)
    expect_error(r, 400, 'ChannelBind with channel number 0x3FFF')


def _after_delete(ctx, c, fn, strict_codes, what):
    """Request after Refresh(0). RFC 8656: the allocation is gone, so any
    non-Allocate request on that 5-tuple gets 437. coturn deletes ~1 s later and
    answers CreatePermission with 400; allow that for turnserver only."""
    if ctx.kind != 'turnserver':
        r = fn()
        expect_error(r, strict_codes, what)
        return r
    deadline = time.monotonic() + 4
    while True:
        r = fn()
        if r.is_error and r.error_code in strict_codes | {400}:
            if r.error_code not in strict_codes:
                ctx.note(f'{what}: got {r.error_code} (RFC 8656 says 437) - known coturn behaviour')
            return r
        if time.monotonic() > deadline:
            expect_error(r, strict_codes, what)
        time.sleep(0.25)


def t_refresh_zero_then_437(ctx):
    c = ctx.client()
    _allocate_ok(ctx, c)
    r = c.refresh(0)
    expect_success(r, 'Refresh LIFETIME=0')
    check_integrity(r, c, 'Refresh LIFETIME=0')
    _after_delete(ctx, c, lambda: c.create_permission(LOOPBACK_PEER), {437},
                  'CreatePermission after Refresh(0)')
    r = c.refresh()
    expect_error(r, 437, 'Refresh after Refresh(0)')


def t_refresh_nonzero(ctx):
    c = ctx.client()
    _allocate_ok(ctx, c)
    r = c.refresh(300)
    expect_success(r, 'Refresh LIFETIME=300')
    expect(r.lifetime is not None and r.lifetime > 0, f'Refresh: bad LIFETIME {r.lifetime}')
    return f'lifetime={r.lifetime}'


def t_no_allocation_437(ctx):
    c = ctx.client()
    c.set_credentials(USER, PASSWORD)
    _after_delete(ctx, c, lambda: c.create_permission(LOOPBACK_PEER), {437},
                  'CreatePermission without an allocation')
    r = c.refresh()
    expect_error(r, 437, 'Refresh without an allocation')


def t_rest_credentials(ctx, rest_server=None):
    srv = rest_server or ctx.server
    c = sc.TurnClient(srv.turn_addr)
    ctx.clients.append(c)
    user, pw = sc.rest_credentials(REST_SECRET, 'someuser', ttl=3600)
    r = c.allocate(user, pw)
    expect_success(r, f'Allocate with REST credentials {user}')
    check_integrity(r, c, 'Allocate (REST)')
    expect(r.xor_address(sc.XOR_RELAYED_ADDRESS) is not None, 'REST Allocate: no relayed address')
    # wrong secret
    c2 = sc.TurnClient(srv.turn_addr)
    ctx.clients.append(c2)
    user2, pw2 = sc.rest_credentials('not-the-secret', 'someuser', ttl=3600)
    r = c2.allocate(user2, pw2)
    expect_error(r, 401, 'Allocate with REST credentials from a wrong secret')
    # expired timestamp
    c3 = sc.TurnClient(srv.turn_addr)
    ctx.clients.append(c3)
    user3, pw3 = sc.rest_credentials(REST_SECRET, 'someuser', ttl=-3600)
    r = c3.allocate(user3, pw3)
    expect_error(r, 401, 'Allocate with expired REST credentials')
    return f'username={user}'


# ------------------------------------------------------------------ phase 2

def t_permission_allow_and_deny(ctx):
    c = ctx.client()
    _allocate_ok(ctx, c)
    r = c.create_permission(('127.0.0.1', 40000))
    expect_success(r, 'CreatePermission 127.0.0.1 (in peers.allow)')
    check_integrity(r, c, 'CreatePermission')
    r = c.create_permission(('127.0.0.2', 40000))
    expect_error(r, 403, 'CreatePermission 127.0.0.2 (loopback, not in peers.allow)')
    r = c.channel_bind(0x4001, ('127.0.0.2', 40000))
    expect_error(r, 403, 'ChannelBind 127.0.0.2 (loopback, not in peers.allow)')
    # Explicit deny of a public range; no packet is ever sent to these documentation
    # addresses (a permission only installs server state).
    r = c.create_permission(DENIED_PUBLIC_PEER)
    expect_error(r, 403, f'CreatePermission {DENIED_PUBLIC_PEER[0]} (in peers.deny)')
    r = c.create_permission(PUBLIC_PEER)
    expect_success(r, f'CreatePermission {PUBLIC_PEER[0]} (public, in no list: allowed)')
    # One bad peer fails the whole request.
    r = c.create_permission(('127.0.0.1', 40000), ('127.0.0.2', 40000))
    expect_error(r, 403, 'CreatePermission with one allowed and one refused peer')


def t_relay_send_data_indications(ctx):
    c = ctx.client()
    _, relayed = _allocate_ok(ctx, c)
    with sc.UdpPeer('127.0.0.1') as peer:
        expect_success(c.create_permission(peer.addr), 'CreatePermission for peer')
        # client -> peer
        for i in range(5):
            c.send_indication(peer.addr, b'hello-%d' % i)
        got = []
        for _ in range(5):
            x = peer.recv(2.0)
            if x is None:
                break
            got.append(x)
        expect(len(got) == 5, f'peer received {len(got)}/5 Send-indication payloads')
        expect(all(tuple(a) == tuple(relayed) for _, a in got),
               f'peer saw source {[a for _, a in got]} instead of relayed address {relayed}')
        expect(sorted(d for d, _ in got) == [b'hello-%d' % i for i in range(5)],
               f'payloads differ: {[d for d, _ in got]}')
        # peer -> client (Data indication)
        peer.send(b'pong', relayed)
        x = c.recv_relayed(2.0)
        expect(x is not None, 'client got no Data indication for the permitted peer')
        expect(x[0] == 'data' and tuple(x[1]) == tuple(peer.addr) and x[2] == b'pong',
               f'unexpected relayed message {x}, expected Data from {peer.addr}')
        # stranger (no permission; permission is per IP, so use 127.0.0.3) is dropped
        with sc.UdpPeer('127.0.0.3') as other:
            other.send(b'intruder', relayed)
            x = c.recv_relayed(1.0)
            expect(x is None, f'data from a peer without permission was relayed: {x}')


def t_relay_channel_data(ctx):
    c = ctx.client()
    _, relayed = _allocate_ok(ctx, c)
    with sc.UdpPeer('127.0.0.1') as peer:
        ch = 0x4000
        r = c.channel_bind(ch, peer.addr)
        expect_success(r, f'ChannelBind 0x{ch:04x}')
        check_integrity(r, c, 'ChannelBind')
        payloads = [os.urandom(n) for n in (1, 3, 100, 1200)]
        for p in payloads:
            c.send_channel_data(ch, p)
        got = []
        for _ in payloads:
            x = peer.recv(2.0)
            if x is None:
                break
            got.append(x)
        expect(len(got) == len(payloads), f'peer received {len(got)}/{len(payloads)} ChannelData')
        expect(sorted(d for d, _ in got) == sorted(payloads), 'ChannelData payloads differ')
        expect(all(tuple(a) == tuple(relayed) for _, a in got), 'peer saw wrong source address')
        peer.send(b'back-on-channel', relayed)
        x = c.recv_relayed(2.0)
        expect(x == ('channel', ch, b'back-on-channel'),
               f'expected ChannelData on 0x{ch:04x}, got {x}')
        # rebinding the same channel to the same peer refreshes it (success)
        expect_success(c.channel_bind(ch, peer.addr), 'ChannelBind refresh (same channel, same peer)')
        # the same channel to another peer is a 400
        r = c.channel_bind(ch, ('127.0.0.1', peer.addr[1] ^ 1))
        expect_error(r, 400, 'ChannelBind of a bound channel to a different peer')


def t_refresh_zero_then_437_allowed(ctx):
    c = ctx.client()
    _allocate_ok(ctx, c)
    expect_success(c.create_permission(('127.0.0.1', 40000)), 'CreatePermission before delete')
    expect_success(c.refresh(0), 'Refresh LIFETIME=0')
    _after_delete(ctx, c, lambda: c.create_permission(('127.0.0.1', 40000)), {437},
                  'CreatePermission after Refresh(0) (peer allowed)')


def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    args = ap.parse_args()
    tr = harness.TestRunner('peer policy')
    print(f'== test_peer_policy against {args.server}', flush=True)

    # ---- phase 1: no peers allowed
    cfg1 = harness.default_config(peers={'allow': [], 'deny': []})
    try:
        with harness.make_server(args, cfg1, auth='lt') as srv:
            ctx = Ctx(args, srv)
            try:
                tr.run('binding_xor_mapped_address', t_binding, ctx)
                tr.run('allocate_without_credentials_401', t_allocate_unauthenticated, ctx)
                tr.run('allocate_wrong_password_401', t_allocate_wrong_password, ctx)
                tr.run('allocate_unknown_user_401', t_allocate_unknown_user, ctx)
                tr.run('allocate_long_term_success', t_allocate_long_term, ctx)
                tr.run('allocate_twice_437', t_allocate_twice_437, ctx)
                tr.run('allocate_bad_requests_400_442_420', t_allocate_bad_requests, ctx)
                tr.run('create_permission_loopback_403', t_permission_loopback_403, ctx)
                tr.run('channel_bind_bad_number_400', t_channel_bind_bad_number, ctx)
                tr.run('refresh_nonzero', t_refresh_nonzero, ctx)
                tr.run('refresh_zero_then_437', t_refresh_zero_then_437, ctx)
                tr.run('no_allocation_437', t_no_allocation_437, ctx)
                if srv.supports_mixed_auth:
                    tr.run('allocate_rest_credentials', t_rest_credentials, ctx)
                srv.check_alive()
            finally:
                ctx.close()
        if not getattr(srv, 'supports_mixed_auth', True):
            # coturn cannot serve users and a REST secret at once: separate instance.
            with harness.make_server(args, cfg1, auth='rest') as rsrv:
                ctx = Ctx(args, rsrv)
                try:
                    tr.run('allocate_rest_credentials', t_rest_credentials, ctx, rsrv)
                finally:
                    ctx.close()
    except harness.ServerError as e:
        tr.fail('server_phase1', str(e))

    # ---- phase 2: 127.0.0.1 and 127.0.0.3 allowed, 198.51.100.0/24 denied
    cfg2 = harness.default_config(peers=PHASE2_PEERS)
    try:
        with harness.make_server(args, cfg2, auth='lt') as srv:
            ctx = Ctx(args, srv)
            try:
                tr.run('permission_allow_and_deny', t_permission_allow_and_deny, ctx)
                tr.run('relay_send_and_data_indications', t_relay_send_data_indications, ctx)
                tr.run('relay_channel_data', t_relay_channel_data, ctx)
                tr.run('refresh_zero_then_437_allowed_peer', t_refresh_zero_then_437_allowed, ctx)
                srv.check_alive()
            finally:
                ctx.close()
    except harness.ServerError as e:
        tr.fail('server_phase2', str(e))
    return tr.finish()


if __name__ == '__main__':
    sys.exit(main())
