#!/usr/bin/python3
"""TURN over TCP, TLS and DTLS, and over IPv6, with coturn's turnutils_uclient.

Checks (client-to-client relaying, `turnutils_uclient -y -c`, >= 20 allocations
and >= 2000 messages per run; uclient flags in brackets):

  tcp_channel          [-t]      TURN over TCP: 0 lost, received == sent, no client errors
  dtls_channel         [-S]      TURN over DTLS (a `transport: dtls` listener): the same bar
  ipv6_udp_channel     [-x]      server, relays and peers on ::1, over UDP: the same bar
  ipv6_tcp_channel     [-t -x]   the same over TCP
  dual_allocation                stunclient: an IPv4 client asks for a dual allocation
                                 (ADDITIONAL-ADDRESS-FAMILY, RFC 8656 7.2) and gets an IPv4 and an
                                 IPv6 relayed address, each relaying to a peer of its family
  sighup_cert_reload             cert A -> replace the files with cert B -> SIGHUP: a new TLS
                                 connection presents B; the allocation made over the old
                                 connection still answers Refresh and still relays both ways
  restart_time_wait              restart on the same TCP/TLS ports while the previous run's
                                 connections sit in TIME_WAIT (server side) must succeed
  tls_vs_coturn        [-t -S]   TURN over TLS, the same load against Turnpike and against
                                 coturn's turnserver (same thread count), alternating: 3 runs
                                 each at -z 5 (the pace of the loss report), where Turnpike's
                                 median loss must be <= coturn's, and 1 each at the default
                                 pace (reported; compared only with >= 3 runs); for every
                                 Turnpike run its own records show every message relayed
                                 to the receiving client (see docs/transports.md for why
                                 uclient still counts some of them as lost over TLS)

With Turnpike, each uclient run is also checked against the server's JSON log:
the allocations of the run use the expected transport (and IPv6 addresses for
-x), their packets_to_peer and packets_to_client add up to the messages uclient
sent, and no TCP/TLS connection dropped a write.

Run: python3 test_transports.py [--bin PATH] [--server turnpike|turnserver]
                                [--clients 20] [--messages 100]
                                [--tls-paces 5 default] [--tls-runs 3 1]
                                [--only NAME ...] [--skip NAME ...]
With --server turnserver only the TCP and IPv6 checks run (against coturn, as a
reference for the checks themselves); the others need Turnpike.
"""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import struct
import sys
import tempfile
import time

sys.dont_write_bytecode = True   # keep the source tree clean

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import harness  # noqa: E402
from integration import stunclient  # noqa: E402
from integration.harness import PASSWORD, USER  # noqa: E402

LT = ['-u', USER, '-w', PASSWORD]
MIN_ALLOCATIONS = 20
MIN_MESSAGES = 2000
MIN_RUNS_FOR_MEDIAN = 3      # tls_vs_coturn compares medians only for paces with this many runs

CHECKS = ['tcp_channel', 'dtls_channel', 'ipv6_udp_channel', 'ipv6_tcp_channel',
          'dual_allocation', 'sighup_cert_reload', 'restart_time_wait', 'tls_vs_coturn']
COTURN_CHECKS = ['tcp_channel', 'ipv6_udp_channel', 'ipv6_tcp_channel']

# uclient picks one of its TLS contexts at random per connection: TLS (any version), TLSv1,
# TLSv1.1, TLSv1.2 (DTLS: DTLSv1, DTLSv1.2). Turnpike accepts (D)TLS 1.2 and 1.3 only and
# answers a TLS 1.0/1.1 ClientHello with a protocol_version alert; coturn 4.6 refuses them with
# internal_error. uclient logs the refusal and reconnects with another context (up to 32 times).
# These lines are expected and are not client errors; anything else is.
TLS_VERSION_REFUSAL = re.compile(r'^errno=\d+, err=\d+, error:[0-9A-F]{8}:SSL routines::tlsv1 alert '
                                 r'(protocol version|internal error) \(\d+\)$')
TLS_CONNECTED = re.compile(r'tls_connect: client session connected with cipher \S+, method=(\S+)')


def median(xs):
    return statistics.median(xs) if xs else None


# ---------------------------------------------------------------- uclient runs

def client_errors(res):
    """(real errors, TLS version refusals) among uclient's error lines."""
    real, refused = [], 0
    for e in res['errors']:
        if TLS_VERSION_REFUSAL.match(e):
            refused += 1
        else:
            real.append(e)
    return real, refused


def check_run(res, min_msgs, min_sessions, zero_loss=True):
    """The uclient bar: summary, exit 0, no client errors, enough messages and sessions, and
    (zero_loss) 0 lost with received == sent."""
    def tail():
        return '\n' + harness.uclient_tail(res)
    cmd = ' '.join(res['cmd'])
    if res['timed_out']:
        raise AssertionError(f'uclient timed out after {res["duration"]}s: {cmd}{tail()}')
    if not res['complete']:
        raise AssertionError(f'no uclient summary (exit {res["returncode"]}): {cmd}{tail()}')
    problems = []
    real, _ = client_errors(res)
    if res['returncode'] != 0:
        problems.append(f'exit code {res["returncode"]}')
    if real:
        problems.append(f'client errors: {real[:3]}')
    if res['sent'] < min_msgs:
        problems.append(f'sent {res["sent"]} < {min_msgs}')
    if res['send_dropped'] != 0:
        problems.append(f'send dropped {res["send_dropped"]}')
    if res['sessions'] is None or res['sessions'] < min_sessions:
        problems.append(f'only {res["sessions"]} sessions (< {min_sessions})')
    if res['received'] + res['lost'] != res['sent']:
        problems.append(f'received {res["received"]} + lost {res["lost"]} != sent {res["sent"]}')
    if zero_loss:
        if res['received'] != res['sent']:
            problems.append(f'received {res["received"]} != sent {res["sent"]}')
        if res['lost'] != 0 or (res['lost_pct'] or 0) != 0:
            problems.append(f'lost {res["lost"]} ({res["lost_pct"]}%)')
    if problems:
        raise AssertionError('; '.join(problems) + f' [{cmd}]{tail()}')


def fmt(res):
    _, refused = client_errors(res)
    s = (f'sent={res["sent"]} recv={res["received"]} lost={res["lost"]} ({res["lost_pct"]}%) '
         f'dropped={res["send_dropped"]} sessions={res["sessions"]} '
         f'transmit={res["transmit_time"]}s wall={res["duration"]}s')
    versions = TLS_CONNECTED.findall(res['output'])
    if versions:
        counts = {v: versions.count(v) for v in sorted(set(versions))}
        s += f' handshakes={counts} refused_old_versions={refused}'
    return s


# ---------------------------------------------------------------- Turnpike's records of a run

def log_mark(srv):
    """Where the server log ends now (events after it belong to what follows)."""
    try:
        return os.path.getsize(srv.log_path)
    except OSError:
        return 0


def events_since(srv, mark, *names):
    """Turnpike's JSON log records written after `mark` (optionally only those events)."""
    try:
        with open(srv.log_path, 'rb') as f:
            f.seek(mark)
            text = f.read().decode('utf-8', 'replace')
    except OSError:
        return []
    out = []
    for ln in text.splitlines():
        ln = ln.strip()
        if not ln.startswith('{'):
            continue
        try:
            d = json.loads(ln)
        except ValueError:
            continue
        if not names or d.get('event') in names:
            out.append(d)
    return out


def is_v6_endpoint(s):
    return str(s).startswith('[')


def check_server_records(srv, mark, transport, sent, ipv6=False, wait=15.0):
    """Turnpike's allocation records for one uclient run: every message the clients sent went to
    a peer (the other client's relay) and was relayed on to the receiving client. uclient deletes
    its allocations when it finishes; wait (bounded) until the records add up."""
    deadline = time.monotonic() + wait
    while True:
        created = events_since(srv, mark, 'allocation_created')
        ended = [e['allocation'] for e in events_since(srv, mark, 'allocation_ended')]
        to_peer = sum(a.get('packets_to_peer', 0) for a in ended)
        to_client = sum(a.get('packets_to_client', 0) for a in ended)
        if (to_peer >= sent and to_client >= sent) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    closed = events_since(srv, mark, 'connection_closed')
    problems = []
    if len(created) < MIN_ALLOCATIONS:
        problems.append(f'{len(created)} allocations logged (< {MIN_ALLOCATIONS})')
    wrong = [a for a in created if a.get('transport') != transport]
    if wrong:
        problems.append(f'{len(wrong)} allocations not over {transport}: {wrong[0]}')
    if ipv6:
        v4 = [a for a in created if not (is_v6_endpoint(a.get('client')) and
                                         all(is_v6_endpoint(r) for r in str(a.get('relayed')).split()))]
        if v4:
            problems.append(f'{len(v4)} allocations with an IPv4 client or relay: {v4[0]}')
    if to_peer != sent or to_client != sent:
        problems.append(f'server relayed packets_to_peer={to_peer} packets_to_client={to_client}, '
                        f'uclient sent {sent}')
    dropped = [c for c in closed if c.get('dropped_writes')]
    if dropped:
        problems.append(f'{len(dropped)} connections dropped writes: {dropped[0]}')
    if problems:
        raise AssertionError('server records: ' + '; '.join(problems))
    return f'server: allocations={len(created)} to_peer={to_peer} to_client={to_client}'


# ---------------------------------------------------------------- TURN over TCP/TLS, by hand

class StreamClient(stunclient.TurnClient):
    """TURN over TCP or TLS (RFC 8656 3.1) with stunclient's message encoding: one connection
    is one 5-tuple. Requests are sent once (a stream does not lose them) and answered within
    `timeout`; frames are cut out of the byte stream (ChannelData is padded to 4 on streams)."""

    def __init__(self, server, tls_context=None, timeout=5.0):
        self.server = (server[0], int(server[1]))
        self.rto, self.retries, self.timeout = None, 0, timeout
        self.username = self.password = self.realm = self.nonce = self.key = None
        self.pending = []
        self.last_challenge = None
        raw = socket.create_connection(self.server, timeout=timeout)
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = tls_context.wrap_socket(raw) if tls_context else raw
        except BaseException:
            raw.close()
            raise
        self.buf = bytearray()
        self.eof = False

    def send_raw(self, data, addr=None):
        self.sock.sendall(data)

    def _frame(self):
        if len(self.buf) < 4:
            return None
        length = struct.unpack('!H', self.buf[2:4])[0]
        if self.buf[0] < 0x40:
            need, keep = 20 + length, 20 + length
        elif self.buf[0] < 0x80:
            need, keep = 4 + ((length + 3) & ~3), 4 + length
        else:
            raise stunclient.StunError(f'not STUN or ChannelData: 0x{self.buf[0]:02x}')
        if len(self.buf) < need:
            return None
        frame = bytes(self.buf[:keep])
        del self.buf[:need]
        return frame

    def recv_raw(self, timeout):
        if self.pending:
            return self.pending.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            frame = self._frame()
            if frame is not None:
                return frame, self.server
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                return None
            except (ssl.SSLError, ConnectionError):
                chunk = b''
            if not chunk:
                self.eof = True
                return None
            self.buf += chunk

    def transact(self, msg, key=None, fingerprint=True):
        self.send_raw(msg.encode(key=key, fingerprint=fingerprint))
        deadline = time.monotonic() + self.timeout
        held = []
        try:
            while time.monotonic() < deadline:
                got = self.recv_raw(deadline - time.monotonic())
                if got is None:
                    break
                try:
                    resp = stunclient.Message.decode(got[0])
                except stunclient.StunError:
                    held.append(got)
                    continue
                if resp.tid == msg.tid and resp.cls in (stunclient.SUCCESS, stunclient.ERROR):
                    return resp
                held.append(got)
        finally:
            self.pending = held[-1000:] + self.pending
        raise stunclient.StunTimeout(
            f'no answer to {stunclient.METHOD_NAMES.get(msg.method, msg.method)} from {self.server} '
            f'within {self.timeout}s' + (' (connection closed)' if self.eof else ''))

    def send_channel_data(self, channel, payload):
        pad = b'\0' * ((4 - len(payload) % 4) % 4)
        self.send_raw(stunclient.encode_channel_data(channel, payload) + pad)

    def wait_eof(self, timeout):
        """Read and discard until the server closes the connection; True if it did in time."""
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self.buf.clear()
            self.recv_raw(max(0.01, min(0.5, deadline - time.monotonic())))
        return self.eof


def tls_client_context(alpn=('stun.turn',)):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE      # the test's self-signed certificates; compared by bytes
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def cert_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def presented_cert(addr, timeout=5.0):
    """DER of the certificate a fresh TLS connection to addr presents, and the ALPN selected."""
    with socket.create_connection(addr, timeout=timeout) as raw:
        with tls_client_context().wrap_socket(raw) as s:
            return s.getpeercert(binary_form=True), s.selected_alpn_protocol()


def wait_for(pred, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def time_wait_ports(ports):
    """Local ports among `ports` that have a TCP socket in TIME_WAIT (IPv4 or IPv6)."""
    found = set()
    for name in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(name) as f:
                next(f, None)
                for ln in f:
                    cols = ln.split()
                    if len(cols) > 3 and cols[3] == '06':      # TCP_TIME_WAIT
                        port = int(cols[1].rsplit(':', 1)[1], 16)
                        if port in ports:
                            found.add(port)
        except OSError:
            pass
    return found


def relay_both_ways(client, peer, relay, channel, tag):
    """ChannelData client -> peer (from the relayed address) and peer -> client on the channel."""
    payload = f'{tag}-to-peer'.encode().ljust(100, b'.')
    client.send_channel_data(channel, payload)
    got = peer.recv(timeout=5.0)
    assert got is not None, f'{tag}: the peer received nothing from the relay'
    assert got[0] == payload and tuple(got[1]) == tuple(relay), \
        f'{tag}: the peer got {got[0][:24]!r} from {got[1]}, expected {payload[:24]!r} from {relay}'
    reply = f'{tag}-to-client'.encode().ljust(100, b'.')
    peer.send(reply, relay)
    got = client.recv_relayed(timeout=5.0)
    assert got == ('channel', channel, reply), f'{tag}: the client got {got!r} on the channel'


# ---------------------------------------------------------------- the checks

class Ctx:
    def __init__(self, args, tr):
        self.args = args
        self.tr = tr
        self.m = max(args.clients, MIN_ALLOCATIONS)
        n = args.messages
        if self.m * n < MIN_MESSAGES:
            n = -(-MIN_MESSAGES // self.m)
        self.n = n
        self.summary = []
        self.certdir = tempfile.mkdtemp(prefix='turnpike-it-certs-')
        self.cert, self.key = harness.make_cert(self.certdir)

    def turnpike(self, cfg, **kw):
        return harness.Turnpike(cfg, binary=self.args.bin, **kw)

    def uclient(self, srv, name, flags, addr, transport=None, ipv6=False, zero_loss=True, pace=None,
                server_records=True):
        """One uclient -y -c run against addr; checks and returns (res, text)."""
        srv.check_alive()
        uargs = ['-y', '-c', '-m', self.m, '-n', self.n] + (['-z', pace] if pace else []) + flags + LT
        mark = log_mark(srv) if isinstance(srv, harness.Turnpike) else None
        res = harness.run_uclient(uargs, timeout=self.args.timeout, server=addr)
        self.summary.append(f'{name}: ' + (fmt(res) if res['complete'] else 'no summary'))
        check_run(res, self.m * self.n, self.m, zero_loss=zero_loss)
        text = fmt(res)
        if mark is not None and server_records:
            text += '; ' + check_server_records(srv, mark, transport, res['sent'], ipv6=ipv6)
        srv.check_alive()
        return res, text


def main_checks(ctx, names):
    """tcp, dtls and IPv6 on one server with every listener."""
    args, tr = ctx.args, ctx.tr
    cfg = harness.default_config()
    if args.server == 'turnpike':
        harness.add_listeners(cfg, tcp=True, ipv6=True, tls=(ctx.cert, ctx.key))
        cfg['listen'].append({'transport': 'dtls', 'address': '127.0.0.1',
                              'port': harness.free_port('udp')})
        server = ctx.turnpike(cfg)
    else:
        harness.add_listeners(cfg, tcp=True, ipv6=True)
        server = harness.Coturn(cfg, auth='lt', binary=args.bin)
    runs = {
        'tcp_channel': (['-t'], ('tcp', 4), 'tcp', False),
        'dtls_channel': (['-S'], ('dtls', 4), 'dtls', False),
        'ipv6_udp_channel': (['-x'], ('udp', 6), 'udp', True),
        'ipv6_tcp_channel': (['-t', '-x'], ('tcp', 6), 'tcp', True),
    }
    todo = [n for n in runs if n in names]
    dual = 'dual_allocation' in names
    if not todo and not dual:
        return
    try:
        with server as srv:
            for name in todo:
                flags, (kind, fam), transport, v6 = runs[name]

                def one(name=name, flags=flags, kind=kind, fam=fam, transport=transport, v6=v6):
                    if kind == 'dtls':
                        addr = next((l['address'], int(l['port'])) for l in cfg['listen']
                                    if l['transport'] == 'dtls')
                    else:
                        addr = srv.listen_addr(kind, fam)
                    return ctx.uclient(srv, name, flags, addr, transport=transport, ipv6=v6)[1]
                tr.run(name, one)
            if dual:
                tr.run('dual_allocation', check_dual_allocation, srv)
    except harness.ServerError as e:
        tr.fail('main_server', str(e))


def check_dual_allocation(srv):
    """RFC 8656 dual allocation (ADDITIONAL-ADDRESS-FAMILY IPv6, 0x8000) from an IPv4 client:
    one IPv4 and one IPv6 relayed address, and each relays to a peer of its own family.
    (turnutils_uclient -Z cannot do this: it sends the pre-RFC code point 0x8032.)"""
    with stunclient.TurnClient(srv.turn_addr) as c, stunclient.UdpPeer('127.0.0.1') as p4, \
            stunclient.UdpPeer('::1') as p6:
        r = c.allocate(USER, PASSWORD, extra_attrs=[(stunclient.ADDITIONAL_ADDRESS_FAMILY,
                                                      struct.pack('!B3x', stunclient.FAMILY_IPV6))])
        assert r.is_success, f'dual Allocate: {r.describe()}'
        relays = r.xor_addresses(stunclient.XOR_RELAYED_ADDRESS)
        fams = sorted(':' in h for h, _ in relays)
        assert fams == [False, True], f'expected one IPv4 and one IPv6 relayed address, got {relays}'
        assert not r.has(stunclient.ADDRESS_ERROR_CODE), 'ADDRESS-ERROR-CODE in a full dual allocation'
        r = c.create_permission(p4.addr, p6.addr)
        assert r.is_success, f'CreatePermission for an IPv4 and an IPv6 peer: {r.describe()}'
        for peer in (p4, p6):
            relay = next(a for a in relays if (':' in a[0]) == (':' in peer.addr[0]))
            payload = f'dual-{relay[0]}'.encode().ljust(64, b'.')
            c.send_indication(peer.addr, payload)
            got = peer.recv(timeout=5.0)
            assert got is not None and got[0] == payload and tuple(got[1]) == tuple(relay), \
                f'peer {peer.addr} got {got!r}, expected the payload from {relay}'
            peer.send(payload[::-1], relay)
            got = c.recv_relayed(timeout=5.0)
            assert got is not None and got[0] == 'data' and tuple(got[1]) == tuple(peer.addr) \
                and got[2] == payload[::-1], f'reply from {peer.addr}: {got!r}'
        r = c.refresh(0)
        assert r.is_success, f'Refresh(0): {r.describe()}'
    return f'relayed {relays[0]} and {relays[1]}; both relay to their own family'


def check_sighup_cert_reload(ctx):
    d = tempfile.mkdtemp(prefix='turnpike-it-sighup-')
    try:
        cert, key = harness.make_cert(d, cn='turnpike-cert-a', name='server')
        der_a = cert_der(cert)
        cfg = harness.default_config()
        harness.add_listeners(cfg, tls=(cert, key))
        with ctx.turnpike(cfg) as srv, stunclient.UdpPeer('127.0.0.1') as peer:
            tls_addr = srv.listen_addr('tls')
            old = StreamClient(tls_addr, tls_client_context())
            try:
                assert old.sock.getpeercert(binary_form=True) == der_a, 'first connection: not cert A'
                assert old.sock.selected_alpn_protocol() == 'stun.turn', \
                    f'ALPN: {old.sock.selected_alpn_protocol()!r}, expected stun.turn (RFC 7443)'
                r = old.allocate(USER, PASSWORD)
                assert r.is_success, f'Allocate over TLS: {r.describe()}'
                relay = r.xor_address(stunclient.XOR_RELAYED_ADDRESS)
                r = old.channel_bind(0x4000, peer.addr)
                assert r.is_success, f'ChannelBind: {r.describe()}'
                relay_both_ways(old, peer, relay, 0x4000, 'before-reload')

                # Cert B replaces A's files in place (as certbot/cert-manager would), then SIGHUP.
                b_cert, b_key = harness.make_cert(os.path.join(d, 'b'), cn='turnpike-cert-b', name='next')
                der_b = cert_der(b_cert)
                assert der_b != der_a
                mark = log_mark(srv)
                os.replace(b_key, key)
                os.replace(b_cert, cert)
                srv.proc.send_signal(signal.SIGHUP)
                reloaded = wait_for(lambda: events_since(srv, mark, 'tls_reloaded', 'tls_reload_failed'), 10)
                assert reloaded, 'no tls_reloaded log record within 10 s of SIGHUP'
                assert reloaded[0]['event'] == 'tls_reloaded', f'reload failed: {reloaded[0]}'
                srv.check_alive()

                der_new, alpn = presented_cert(tls_addr)
                assert der_new == der_b, 'a new TLS connection after SIGHUP does not present cert B'
                assert alpn == 'stun.turn', f'ALPN after reload: {alpn!r}'

                # The allocation made over the old connection lives on.
                r = old.refresh(600)
                assert r.is_success, f'Refresh on the pre-reload connection: {r.describe()}'
                relay_both_ways(old, peer, relay, 0x4000, 'after-reload')
                with StreamClient(tls_addr, tls_client_context()) as new:
                    assert new.sock.getpeercert(binary_form=True) == der_b
                    r = new.allocate(USER, PASSWORD)
                    assert r.is_success, f'Allocate over a post-reload connection: {r.describe()}'
            finally:
                old.close()
        return 'new connections get cert B; the old connection refreshes and relays'
    finally:
        shutil.rmtree(d, ignore_errors=True)


def check_restart_time_wait(ctx):
    cfg = harness.default_config()
    harness.add_listeners(cfg, tcp=True, tls=(ctx.cert, ctx.key))
    first = ctx.turnpike(cfg)
    tcp_addr, tls_addr = first.listen_addr('tcp'), first.listen_addr('tls')
    ports = {tcp_addr[1], tls_addr[1]}
    conns = []
    try:
        with first:
            for i in range(6):
                conns.append(StreamClient(tcp_addr if i % 2 == 0 else tls_addr,
                                              tls_client_context() if i % 2 else None))
            for c in conns:
                r = c.allocate(USER, PASSWORD)
                assert r.is_success, f'Allocate: {r.describe()}'
            # Leaving the with-block: SIGTERM; Turnpike closes every connection first, so the
            # server ends of them go to TIME_WAIT once the clients close too.
        for c in conns:
            c.wait_eof(5.0)
            c.close()
    finally:
        for c in conns:
            c.close()
    tw = wait_for(lambda: time_wait_ports(ports) == ports, 5.0)
    assert tw, (f'precondition: expected TIME_WAIT sockets on ports {sorted(ports)} after the '
                f'server closed its connections, found {sorted(time_wait_ports(ports))}')
    still = time_wait_ports(ports)
    second = ctx.turnpike(cfg)
    try:
        second.start()
    except harness.ServerError as e:
        raise AssertionError(f'restart on ports {sorted(ports)} with TIME_WAIT sockets on '
                             f'{sorted(still)} failed: {e} (log tail above)') from e
    try:
        for addr, tls in ((tcp_addr, False), (tls_addr, True)):
            with StreamClient(addr, tls_client_context() if tls else None) as c:
                r = c.allocate(USER, PASSWORD)
                assert r.is_success, f'Allocate after the restart ({"tls" if tls else "tcp"}): {r.describe()}'
        second.check_alive()
    except BaseException:
        second.__exit__(*sys.exc_info())
        raise
    second.__exit__(None, None, None)      # SIGTERM, exit code 0
    return f'restarted on ports {sorted(ports)} with TIME_WAIT on {sorted(still)}; TCP and TLS allocate'


def check_tls_vs_coturn(ctx):
    """The same uclient TLS load, alternating between Turnpike and coturn."""
    args = ctx.args
    tp_cfg = harness.default_config()
    harness.add_listeners(tp_cfg, tcp=True, tls=(ctx.cert, ctx.key))
    ct_cfg = harness.default_config()
    harness.add_listeners(ct_cfg, tcp=True, tls=(ctx.cert, ctx.key))
    assert tp_cfg['threads'] == ct_cfg['threads']
    paces = list(args.tls_paces)
    runs = {p: args.tls_runs[min(i, len(args.tls_runs) - 1)] for i, p in enumerate(paces)}
    if min(runs.values()) < 1:
        raise ValueError('--tls-runs must be >= 1')
    lost = {(srv, p): [] for srv in ('turnpike', 'coturn') for p in paces}
    lines = []
    with ctx.turnpike(tp_cfg) as tp, harness.Coturn(ct_cfg, auth='lt') as ct:
        for pace in paces:
            for i in range(runs[pace]):
                for kind, srv in (('turnpike', tp), ('coturn', ct)) if i % 2 == 0 else \
                        (('coturn', ct), ('turnpike', tp)):
                    name = f'tls_{kind}_z{pace}_run{i + 1}'
                    res, text = ctx.uclient(srv, name, ['-t', '-S'], srv.listen_addr('tls'),
                                            transport='tls', zero_loss=False,
                                            pace=None if pace == 'default' else pace)
                    lost[(kind, pace)].append(res['lost'])
                    print(f'  {name}: {text}', flush=True)
    worse = []
    for pace in paces:
        t, c = lost[('turnpike', pace)], lost[('coturn', pace)]
        # A median needs a few runs: a pace with fewer is reported, not asserted (a single run at
        # the default pace still had every server-side record checked above).
        asserted = runs[pace] >= MIN_RUNS_FOR_MEDIAN
        lines.append(f'-z {pace}: turnpike lost {t} median {median(t)}, coturn lost {c} median {median(c)}'
                     + ('' if asserted else f' (not compared: < {MIN_RUNS_FOR_MEDIAN} runs)'))
        if asserted and median(t) > median(c):
            worse.append(pace)
    msg = ' | '.join(lines)
    ctx.summary.append('tls_vs_coturn: ' + msg)
    print(f'  TLS loss per run (uclient -t -S -y -c -m {ctx.m} -n {ctx.n}): {msg}', flush=True)
    assert any(runs[p] >= MIN_RUNS_FOR_MEDIAN for p in paces), \
        f'no pace has >= {MIN_RUNS_FOR_MEDIAN} runs (--tls-runs): nothing compared'
    assert not worse, f"Turnpike's median TLS loss exceeds coturn's at -z {worse}: {msg}"
    return msg


def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    ap.add_argument('--clients', type=int, default=20, help='uclient -m (default 20, min 20)')
    ap.add_argument('--messages', type=int, default=100, help='uclient -n per client (default 100)')
    ap.add_argument('--timeout', type=float, default=120.0, help='per uclient run, seconds')
    ap.add_argument('--tls-paces', nargs='+', default=['5', 'default'],
                    help="tls_vs_coturn: uclient -z values ('default': no -z, i.e. 20 ms)")
    ap.add_argument('--tls-runs', nargs='+', type=int, default=[3, 1],
                    help='tls_vs_coturn: runs per server at each pace, in --tls-paces order '
                         '(the last value repeats; default 3 at -z 5, 1 at the default pace)')
    ap.add_argument('--only', nargs='*', default=None, choices=CHECKS)
    ap.add_argument('--skip', nargs='*', default=[], choices=CHECKS)
    args = ap.parse_args()
    names = [c for c in (args.only or CHECKS) if c not in args.skip]

    tr = harness.TestRunner('transports')
    ctx = Ctx(args, tr)
    skipped = [n for n in names if n not in COTURN_CHECKS] if args.server != 'turnpike' else []
    names = [n for n in names if n not in skipped]
    print(f'== test_transports against {args.server}: -m {ctx.m} -n {ctx.n} checks={names}', flush=True)
    for n in skipped:
        tr.skip(n, 'needs Turnpike')
    try:
        main_checks(ctx, names)
        if 'sighup_cert_reload' in names:
            tr.run('sighup_cert_reload', check_sighup_cert_reload, ctx)
        if 'restart_time_wait' in names:
            tr.run('restart_time_wait', check_restart_time_wait, ctx)
        if 'tls_vs_coturn' in names:
            tr.run('tls_vs_coturn', check_tls_vs_coturn, ctx)
    finally:
        shutil.rmtree(ctx.certdir, ignore_errors=True)
    print(f'SUMMARY server={args.server} m={ctx.m} n={ctx.n} | ' + ' | '.join(ctx.summary), flush=True)
    return tr.finish()


if __name__ == '__main__':
    sys.exit(main())
