#!/usr/bin/python3
"""Abuse of Turnpike's TCP, TLS and DTLS listeners.

Two servers run side by side, each with udp, tcp, tls and dtls listeners on
loopback (fresh ports, a self-signed certificate made at run time):

  A  limits.connection_idle_timeout = --idle-timeout (default 2 s)
  B  limits.connection_idle_timeout = 30 s (longer than the 10 s TLS handshake
     timeout) and limits.max_connections_per_ip = --per-ip-limit (default 100)

Every check sends something bad, asserts that the bad connection is closed
within a bounded time (EOF or reset seen on the client socket; for DTLS, the
server's log line), that the server logged a line for it (`connection_closed`
with a reason, or `connection_refused`), and that a well-behaved client
allocates and relays through the same listener right after (the hand-written
stunclient over TCP/TLS, turnutils_uclient over DTLS and TCP). The checks run
concurrently (each uses its own sockets and finds its own log lines by its
client port), so the whole script takes about 12 s.

Known server bugs are run as XFAIL checks: they print XFAIL (or XPASS once the
bug is fixed) and do not count, unless --strict-known-bugs is given.

Run: /usr/bin/python3 test_stream_abuse.py [--bin PATH] [--connections N]
"""

import argparse
import concurrent.futures
import datetime
import os
import resource
import select
import socket
import ssl
import struct
import sys
import tempfile
import shutil
import threading
import time
import traceback

sys.dont_write_bytecode = True   # keep the source tree clean

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import harness  # noqa: E402
from integration import stunclient  # noqa: E402
from integration.harness import PASSWORD, USER  # noqa: E402

# Server timers tick once a second: a close counts as on time up to this long after its timeout.
SLACK = 2.5
# A close "at once": far below every timeout configured here.
IMMEDIATE = 1.0
# Fixed in the server (docs/configuration.md: "TLS and DTLS handshakes must finish in 10 s").
TLS_HANDSHAKE_TIMEOUT = 10.0
DTLS_HANDSHAKE_TIMEOUT = 10.0
# server/turn_dtls.hpp TurnDtlsListener::Limits::max_sessions: handshakes/sessions per DTLS listener and shard.
DTLS_MAX_SESSIONS = 10000
# Server B: long enough that only the handshake timeout can close a stalled handshake.
B_IDLE_TIMEOUT = 30

IP_BIND_ADDRESS_NO_PORT = getattr(socket, 'IP_BIND_ADDRESS_NO_PORT', 24)
MAGIC = stunclient.MAGIC_COOKIE_BYTES


# ---------------------------------------------------------------- helpers

def connect(addr, src=None, timeout=5.0):
    """A blocking TCP connection to addr, from src (an IP) if given."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if src:
            s.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)   # port picked at connect
            s.bind((src, 0))
        s.settimeout(timeout)
        s.connect(addr)
    except BaseException:
        s.close()
        raise
    return s


def wait_closed(sock, timeout, since=None):
    """Read and discard until the peer closes. Returns (seconds since `since`,
    'eof' | 'reset'), or None if still open after timeout (from now)."""
    since = time.monotonic() if since is None else since
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(min(left, 0.5))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            return time.monotonic() - since, 'reset'
        except ssl.SSLError:
            return time.monotonic() - since, 'tls error'
        if not data:
            return time.monotonic() - since, 'eof'


def wait_all_closed(entries, deadline):
    """entries: [(socket, since)]. Watches them all at once until each is closed
    by the peer or the monotonic deadline passes. Returns a list parallel to
    entries of (seconds since `since`, 'eof' | 'reset') or None (still open)."""
    res = [None] * len(entries)
    for _ in range(100000):
        waiting = [i for i, r in enumerate(res) if r is None]
        left = deadline - time.monotonic()
        if not waiting or left <= 0:
            break
        ready, _, _ = select.select([entries[i][0] for i in waiting], [], [], min(left, 0.5))
        for i in waiting:
            s, since = entries[i]
            if s not in ready:
                continue
            s.setblocking(False)
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
                res[i] = (time.monotonic() - since, 'reset')
                continue
            if not data:
                res[i] = (time.monotonic() - since, 'eof')
    return res


def wait_log(srv, event, pred, timeout):
    """The first log event `event` matching pred, polling until timeout; None if none."""
    deadline = time.monotonic() + timeout
    while True:
        for e in srv.log_events(event):
            if pred(e):
                return e
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


def log_time(ev):
    """A log line's `ts` (UTC, milliseconds) as a Unix time, or None."""
    try:
        return datetime.datetime.strptime(ev['ts'], '%Y-%m-%dT%H:%M:%S.%fZ').replace(
            tzinfo=datetime.timezone.utc).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


def closed_event(srv, client, transport, timeout=3.0):
    """The connection_closed log line of client ((host, port)) on transport."""
    want = f'{client[0]}:{client[1]}'
    return wait_log(srv, 'connection_closed',
                    lambda e: e.get('client') == want and e.get('transport') == transport, timeout)


def assert_closed_and_logged(srv, sock, transport, bound, since, what):
    """Asserts sock is closed by the server within `bound` s of `since` and the
    close is logged with a reason. Returns (seconds, how, reason)."""
    client = sock.getsockname()[:2]
    left = since + bound - time.monotonic()
    res = wait_closed(sock, max(left, 0.05), since)
    assert res is not None, f'{what}: still open {bound:.1f}s later'
    ev = closed_event(srv, client, transport)
    assert ev is not None, f'{what}: closed after {res[0]:.1f}s but no connection_closed log line for {client}'
    assert ev.get('reason'), f'{what}: connection_closed without a reason: {ev}'
    return res[0], res[1], ev['reason']


def good_stream_relay(srv, transport, src='127.0.0.1'):
    """A well-behaved TURN client over TCP or TLS: Allocate (long-term
    credentials), ChannelBind to a UDP peer, ChannelData both ways, Refresh(0)."""
    addr = srv.listen_addr(transport)
    with stunclient.StreamTurnClient(addr, local=(src, 0), tls=transport == 'tls', timeout=5.0) as c, \
            stunclient.UdpPeer() as peer:
        r = c.allocate(USER, PASSWORD)
        assert r.is_success, f'good {transport} client from {src}: Allocate failed: {r.describe()}'
        relayed = tuple(r.xor_address(stunclient.XOR_RELAYED_ADDRESS))
        r = c.channel_bind(0x4000, peer.addr)
        assert r.is_success, f'good {transport} client: ChannelBind failed: {r.describe()}'
        payload = os.urandom(300)
        c.send_channel_data(0x4000, payload)
        got = peer.recv(3.0)
        assert got is not None and got[0] == payload and tuple(got[1]) == relayed, \
            f'good {transport} client: ChannelData did not reach the peer from {relayed}: {got!r:.80}'
        reply = b'reply:' + payload[:50]
        peer.send(reply, relayed)
        got = c.recv_relayed(3.0)
        assert got == ('channel', 0x4000, reply), f'good {transport} client: reply not relayed back: {got!r:.80}'
        r = c.refresh(0)
        assert r.is_success, f'good {transport} client: Refresh(0) failed: {r.describe()}'
    return f'good {transport} client from {src} allocated and relayed'


def good_uclient(srv, transport, messages=10):
    """turnutils_uclient (-y -c, 2 clients) over dtls or tcp; every message must come back."""
    flags = {'dtls': ['-S'], 'tcp': ['-t'], 'tls': ['-t', '-S']}[transport]
    res = harness.run_uclient(flags + ['-y', '-c', '-m', '2', '-n', str(messages), '-u', USER, '-w', PASSWORD],
                              timeout=40, server=srv.listen_addr(transport))
    ok = (res['returncode'] == 0 and not res['timed_out'] and res['complete']
          and res['sent'] >= 2 * messages and res['received'] == res['sent'] and res['lost'] == 0)
    assert ok, (f'good uclient over {transport}: rc={res["returncode"]} timed_out={res["timed_out"]} '
                f'sent={res["sent"]} received={res["received"]} lost={res["lost"]}\n'
                + harness.uclient_tail(res))
    return f'uclient over {transport}: {res["received"]}/{res["sent"]} relayed in {res["duration"]}s'


def server_fds(srv):
    return len(os.listdir(f'/proc/{srv.proc.pid}/fd'))


def raise_nofile(need):
    """Raise RLIMIT_NOFILE (soft) to at least `need` if the hard limit allows. Returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        new = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    return soft


# ---------------------------------------------------------------- TLS with control over the wire bytes

class BioTls:
    """A TLS client over a plain TCP socket through memory BIOs (ssl.SSLObject),
    so the test decides which TLS bytes go on the wire (a partial ClientHello,
    half a record). Socket-like (sendall, recv, settimeout, getsockname, close)
    for StreamTurnClient."""

    def __init__(self, raw):
        self.raw = raw
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = stunclient.client_ssl_context().wrap_bio(self.inc, self.out, server_side=False)

    def client_hello(self):
        """The first flight (ClientHello record), not sent."""
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return self.out.read()

    def handshake(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.obj.do_handshake()
                self.raw.sendall(self.out.read())
                return
            except ssl.SSLWantReadError:
                pending = self.out.read()
                if pending:
                    self.raw.sendall(pending)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError('TLS handshake did not finish')
            self.raw.settimeout(left)
            chunk = self.raw.recv(65536)
            if not chunk:
                raise ConnectionError('server closed during the TLS handshake')
            self.inc.write(chunk)

    def seal(self, data):
        """data as TLS record bytes, not sent."""
        self.obj.write(data)
        return self.out.read()

    def sendall(self, data):
        self.raw.sendall(self.seal(data))

    def recv(self, n):
        for _ in range(1000):
            try:
                return self.obj.read(n)
            except ssl.SSLWantReadError:
                chunk = self.raw.recv(65536)       # raises socket.timeout per settimeout
                if not chunk:
                    return b''
                self.inc.write(chunk)
            except ssl.SSLZeroReturnError:
                return b''
        raise ssl.SSLError('no application data in 1000 reads')

    def settimeout(self, t):
        self.raw.settimeout(t)

    def getsockname(self):
        return self.raw.getsockname()

    def close(self):
        self.raw.close()


class BioTlsContext:
    """For StreamTurnClient(ssl_context=...): a BioTls with the handshake done."""

    def wrap_socket(self, raw, server_hostname=None):
        b = BioTls(raw)
        b.handshake()
        return b


# ---------------------------------------------------------------- DTLS bytes

def dtls_client_hello(cookie=b'', seq=0):
    """A DTLS 1.2 ClientHello record (ECDHE with AES-GCM/ChaCha20, P-256/X25519); `seq` is both
    the handshake message_seq and the record sequence number (1 for the cookie-bearing retry)."""
    def ext(t, d):
        return struct.pack('!HH', t, len(d)) + d
    exts = (ext(0x000a, b'\x00\x04\x00\x17\x00\x1d')               # supported_groups
            + ext(0x000b, b'\x01\x00')                            # ec_point_formats
            + ext(0x000d, b'\x00\x06\x04\x03\x08\x04\x04\x01')   # signature_algorithms
            + ext(0x0017, b'')                                    # extended_master_secret
            + ext(0xff01, b'\x00'))                               # renegotiation_info
    suites = b'\xc0\x2b\xc0\x2f\xc0\x2c\xc0\x30\xcc\xa9\xcc\xa8'
    body = (b'\xfe\xfd' + os.urandom(32) + b'\x00' + bytes([len(cookie)]) + cookie
            + struct.pack('!H', len(suites)) + suites + b'\x01\x00' + struct.pack('!H', len(exts)) + exts)
    n = len(body).to_bytes(3, 'big')
    hs = b'\x01' + n + struct.pack('!H', seq) + b'\x00\x00\x00' + n + body
    return b'\x16\xfe\xfd' + b'\x00\x00' + seq.to_bytes(6, 'big') + struct.pack('!H', len(hs)) + hs


def hello_verify_cookie(d):
    """The cookie of a HelloVerifyRequest record: record header (13), handshake header (12),
    server_version (2), then a length-prefixed cookie."""
    n = d[27]
    return d[28:28 + n]


def is_hello_verify_request(d):
    return len(d) >= 14 and d[0] == 22 and d[13] == 3


def dtls_probe(addr, count=8, timeout=2.0):
    """Send a ClientHello from `count` fresh loopback sockets; how many got a
    HelloVerifyRequest back within timeout."""
    socks = []
    try:
        for _ in range(count):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(u)
            u.bind(('127.0.0.1', 0))
            u.setblocking(False)
            u.sendto(dtls_client_hello(), addr)
        answered = set()
        deadline = time.monotonic() + timeout
        while len(answered) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([u for u in socks if u not in answered], [], [], left)
            for u in ready:
                try:
                    d, _ = u.recvfrom(4096)
                except OSError:
                    continue
                if is_hello_verify_request(d):
                    answered.add(u)
        return len(answered)
    finally:
        for u in socks:
            u.close()


# ---------------------------------------------------------------- checks: TCP framing

def _stall_and_resync(srv, idle, header, full_len, label):
    """(a) header + part of the frame, then stall: closed within idle + SLACK.
    (b) the whole frame (junk body) then a Binding on the same connection: the
    server skips the frame and answers, or closes with a logged reason."""
    addr = srv.listen_addr('tcp')
    s = connect(addr)
    try:
        s.sendall(header + os.urandom(1000))
        t = time.monotonic()
        secs, how, reason = assert_closed_and_logged(srv, s, 'tcp', idle + SLACK, t,
                                                     f'{label} frame header, then a stall')
    finally:
        s.close()
    with stunclient.StreamTurnClient(addr, timeout=5.0) as c:
        c.send_raw(header + os.urandom(full_len - len(header)))
        try:
            r = c.binding()
            assert r.is_success, f'Binding after a complete {full_len}-byte {label} frame: {r.describe()}'
            after = f'a complete {full_len}-byte junk {label} frame was skipped and a Binding on the same connection answered'
        except stunclient.StreamClosed:
            ev = closed_event(srv, c.local_addr, 'tcp')
            assert ev and ev.get('reason'), f'closed after a complete {label} frame without a log line'
            after = f'a complete {full_len}-byte junk {label} frame closed the connection ({ev["reason"]})'
    good = good_stream_relay(srv, 'tcp')
    return (f'{label} header with length 0xFFFF, stall: closed after {secs:.1f}s ({how}, "{reason}"); '
            f'{after}; {good}')


def check_tcp_stun_too_long(srv, idle):
    header = struct.pack('!HH', 0x0001, 0xFFFF) + MAGIC + os.urandom(12)   # Binding, length 65535
    return _stall_and_resync(srv, idle, header, 20 + 0xFFFF, 'STUN')


def check_tcp_channeldata_too_long(srv, idle):
    header = struct.pack('!HH', 0x4000, 0xFFFF)                             # channel 0x4000, 65535
    return _stall_and_resync(srv, idle, header, 4 + 0x10000, 'ChannelData')   # padded to 4 on streams


def check_tcp_not_stun(srv, idle):
    """Bytes that are neither STUN nor ChannelData. A first byte >= 0x80 (RFC 7983
    demux) can never start a frame: closed at once. ASCII (an HTTP request) or a
    TLS ClientHello on the plain TCP port starts like STUN/ChannelData (first
    byte < 0x80): closed at the latest when the frame stalls."""
    cases = [
        ('0xFF + random bytes', b'\xff' + os.urandom(63), IMMEDIATE),
        ('RTP packet', b'\x80\x60' + os.urandom(170), IMMEDIATE),
        ('HTTP request', b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n', idle + SLACK),
        ('TLS ClientHello', BioTls(None).client_hello(), idle + SLACK),
    ]
    return _closed_concurrently(srv, 'tcp', cases) + '; ' + good_stream_relay(srv, 'tcp')


def _closed_concurrently(srv, transport, cases):
    """cases: [(name, bytes, bound)]. One connection per case, all at once; each
    must be closed within its bound (seconds after its bytes were sent) and
    logged. Returns a summary."""
    addr = srv.listen_addr(transport)
    opened = []          # (name, socket, bound, time the bytes were sent)
    try:
        for name, data, bound in cases:
            s = connect(addr)
            opened.append((name, s, bound, 0.0))
            s.sendall(data)
            opened[-1] = (name, s, bound, time.monotonic())
        clients = [s.getsockname()[:2] for _, s, _, _ in opened]
        res = wait_all_closed([(s, t) for _, s, _, t in opened], max(t + b for _, _, b, t in opened))
        out = []
        for (name, s, bound, t), r, client in zip(opened, res, clients):
            assert r is not None and r[0] <= bound, \
                f'{name} on {transport}: ' + ('still open' if r is None else f'closed only after {r[0]:.1f}s') + \
                f' (bound {bound:.1f}s)'
            ev = closed_event(srv, client, transport)
            assert ev is not None and ev.get('reason'), f'{name} on {transport}: no connection_closed log line'
            out.append(f'{name}: {r[0]:.2f}s {r[1]} "{ev["reason"]}"')
    finally:
        for _, s, _, _ in opened:
            s.close()
    return '; '.join(out)


def check_tcp_trickle(srv, idle):
    """A Binding request trickled a byte at a time, slower than the idle timeout
    allows for a whole frame (slowloris): closed before it completes."""
    s = connect(srv.listen_addr('tcp'))
    msg = stunclient.Message(stunclient.BINDING, stunclient.REQUEST).encode()
    step = (idle + SLACK) / (len(msg) - 1) * 1.5        # the frame would take 1.5x the bound
    client = s.getsockname()[:2]
    t = time.monotonic()
    sent = 0
    try:
        for b in msg[:-1]:
            try:
                s.sendall(bytes([b]))
            except OSError:
                break
            sent += 1
            r = wait_closed(s, step, t)
            if r is not None:
                break
        else:
            r = None
        assert r is not None, f'trickled frame: still open after {time.monotonic() - t:.1f}s ({sent} bytes sent)'
        assert r[0] <= idle + SLACK, f'trickled frame closed only after {r[0]:.1f}s'
        ev = closed_event(srv, client, 'tcp')
        assert ev is not None and ev.get('reason'), 'trickled frame: no connection_closed log line'
    finally:
        s.close()
    return (f'{sent} of {len(msg)} bytes at one per {step:.2f}s: closed after {r[0]:.1f}s ({r[1]}, '
            f'"{ev["reason"]}"); ' + good_stream_relay(srv, 'tcp'))


def check_tls_not_tls(srv):
    """Bytes that are not TLS on the TLS listener: the handshake fails at once."""
    cases = [
        ('plain STUN Binding', stunclient.Message(stunclient.BINDING, stunclient.REQUEST).encode(), IMMEDIATE),
        ('HTTP request', b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', IMMEDIATE),
        ('0xFF + random bytes', b'\xff' + os.urandom(200), IMMEDIATE),
    ]
    return _closed_concurrently(srv, 'tls', cases) + '; ' + good_stream_relay(srv, 'tls')


# ---------------------------------------------------------------- checks: TLS stalls

def check_tls_partial_client_hello(srv, idle):
    """Half a ClientHello, then nothing: closed by the idle timeout (it is lower
    than the 10 s handshake timeout on this server)."""
    s = connect(srv.listen_addr('tls'))
    try:
        ch = BioTls(None).client_hello()
        s.sendall(ch[:len(ch) // 2])
        t = time.monotonic()
        secs, how, reason = assert_closed_and_logged(srv, s, 'tls', min(idle, TLS_HANDSHAKE_TIMEOUT) + SLACK, t,
                                                     'partial ClientHello')
    finally:
        s.close()
    return (f'{len(ch) // 2} of {len(ch)} ClientHello bytes, stall: closed after {secs:.1f}s ({how}, "{reason}"); '
            + good_stream_relay(srv, 'tls'))


def check_tls_handshake_timeout(srv):
    """Server B (idle timeout 30 s): a stalled handshake is closed by the 10 s TLS
    handshake timeout, not earlier and not much later."""
    s = connect(srv.listen_addr('tls'))
    try:
        ch = BioTls(None).client_hello()
        s.sendall(ch[:len(ch) // 2])
        t = time.monotonic()
        secs, how, reason = assert_closed_and_logged(srv, s, 'tls', TLS_HANDSHAKE_TIMEOUT + SLACK, t,
                                                     'partial ClientHello (idle timeout 30 s)')
    finally:
        s.close()
    assert secs >= TLS_HANDSHAKE_TIMEOUT - 1.0, \
        f'closed after {secs:.1f}s, before the {TLS_HANDSHAKE_TIMEOUT:.0f}s handshake timeout ("{reason}")'
    return (f'closed after {secs:.1f}s ({how}, "{reason}"), handshake timeout {TLS_HANDSHAKE_TIMEOUT:.0f}s; '
            + good_stream_relay(srv, 'tls'))


def _half_record(raw, tls, payload):
    rec = tls.seal(payload)
    assert rec[:1] == b'\x17', f'expected one application-data record, got type {rec[:1]!r}'
    raw.sendall(rec[:len(rec) // 2])
    return len(rec)


def check_tls_half_record(srv, idle):
    """Handshake done, no allocation, then half of a TLS record (carrying a STUN
    Binding request) and a stall: closed within the idle timeout."""
    s = connect(srv.listen_addr('tls'))
    try:
        tls = BioTls(s)
        tls.handshake()
        binding = stunclient.Message(stunclient.BINDING, stunclient.REQUEST).encode()
        n = _half_record(s, tls, binding)
        t = time.monotonic()
        secs, how, reason = assert_closed_and_logged(srv, s, 'tls', idle + SLACK, t, 'half a TLS record')
    finally:
        s.close()
    return (f'{n // 2} of a {n}-byte record, stall: closed after {secs:.1f}s ({how}, "{reason}"); '
            + good_stream_relay(srv, 'tls'))


def check_tls_half_record_with_allocation(srv, idle):
    """Like check_tls_half_record, but the client allocated first. Over TCP the same
    stall (half a STUN frame with an allocation) is closed as "stalled mid-frame";
    over TLS the partial record sits in OpenSSL's buffers, not the session's frame
    buffer, and must count as a stall too (it once kept the connection open until
    the allocation expired)."""
    addr = srv.listen_addr('tls')
    with stunclient.StreamTurnClient(addr, tls=True, ssl_context=BioTlsContext(), timeout=5.0) as c:
        r = c.allocate(USER, PASSWORD)
        assert r.is_success, f'Allocate over TLS failed: {r.describe()}'
        binding = stunclient.Message(stunclient.BINDING, stunclient.REQUEST).encode()
        _half_record(c.sock.raw, c.sock, binding)
        t = time.monotonic()
        secs, how, reason = assert_closed_and_logged(srv, c.sock.raw, 'tls', idle + SLACK, t,
                                                     'half a TLS record after an Allocate')
    return f'closed after {secs:.1f}s ({how}, "{reason}")'


# ---------------------------------------------------------------- checks: DTLS

def _udp(src='127.0.0.1'):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((src, 0))
    return u


def check_dtls_garbage_and_stall(srv):
    """A stalled DTLS handshake, garbage that opens handshake state, and garbage
    that cannot (sent throughout), while a good DTLS client relays."""
    addr = srv.listen_addr('dtls')
    socks = []
    try:
        # A client that stops after the server's HelloVerifyRequest: the cookie exchange is stateless
        # (RFC 6347 4.2.1), so it must leave nothing behind.
        no_cookie = _udp()
        socks.append(no_cookie)
        no_cookie.sendto(dtls_client_hello(), addr)
        no_cookie.settimeout(3.0)
        try:
            hvr, _ = no_cookie.recvfrom(4096)
        except socket.timeout:
            hvr = b''
        assert is_hello_verify_request(hvr), f'no HelloVerifyRequest for a ClientHello: {hvr[:16].hex()}'
        # The stalled handshake: a ClientHello that returns the cookie (proving the address), the
        # server's flight, then nothing: this one holds a session until the handshake timeout.
        stall = _udp()
        socks.append(stall)
        stall.sendto(dtls_client_hello(), addr)
        stall.settimeout(3.0)
        hvr2, _ = stall.recvfrom(4096)
        assert is_hello_verify_request(hvr2), 'no HelloVerifyRequest on the second socket'
        stall.sendto(dtls_client_hello(cookie=hello_verify_cookie(hvr2), seq=1), addr)
        t0, wall0 = time.monotonic(), time.time()
        try:
            flight, _ = stall.recvfrom(4096)
        except socket.timeout:
            flight = b''
        assert flight[:1] == b'\x16' and not is_hello_verify_request(flight), \
            f'no ServerHello flight after a ClientHello with the cookie: {flight[:16].hex()}'
        # Garbage that starts like a handshake record (content type 22, >= 14 bytes), and
        # ClientHellos without a cookie: answered at most with a HelloVerifyRequest, never state.
        stateful = {
            'record header + junk handshake': b'\x16\xfe\xfd' + b'\x00' * 8 + b'\x00\x20' + os.urandom(32),
            'record header with a bad length': b'\x16\xfe\xfd' + b'\x00' * 8 + b'\x40\x00' + os.urandom(30),
            'truncated ClientHello': dtls_client_hello()[:40],
            '0x16 + random': b'\x16' + os.urandom(80),
            'ClientHello + junk records': None,
        }
        stateful_socks = {}
        for name, data in stateful.items():
            u = _udp()
            socks.append(u)
            stateful_socks[name] = u
            for d in ([dtls_client_hello(), b'\x16\xfe\xfd' + os.urandom(40), os.urandom(100)]
                      if data is None else [data]):
                u.sendto(d, addr)
        # Garbage that cannot open state (not a handshake record, or too short): sent all along.
        stateless = [
            lambda: bytes([0x17]) + b'\xfe\xfd' + os.urandom(60),                   # application data
            lambda: struct.pack('!HH', 0x0001, 0) + MAGIC + os.urandom(12),         # plain STUN
            lambda: b'\x80\x60' + os.urandom(100),                                   # RTP
            lambda: b'\x16\xfe\xfd',                                                 # 3 bytes
            lambda: bytes([0x40]) + os.urandom(30),                                  # ChannelData-like
            lambda: b'\x00' * 1200,
        ]
        stateless_socks = [_udp() for _ in stateless]
        socks += stateless_socks
        stop = threading.Event()
        sent = [0]

        def spray():
            end = time.monotonic() + 30
            while not stop.is_set() and time.monotonic() < end:
                for u, mk in zip(stateless_socks, stateless):
                    u.sendto(mk(), addr)
                    sent[0] += 1
                stop.wait(0.02)

        th = threading.Thread(target=spray, daemon=True)
        th.start()
        try:
            good = good_uclient(srv, 'dtls')
        finally:
            stop.set()
            th.join(timeout=5)
        # The stalled handshake: dropped at the handshake timeout, and logged.
        # (Timed by the log line's timestamp: the good client may still have been running then.)
        bound = DTLS_HANDSHAKE_TIMEOUT + SLACK
        ev = closed_event(srv, stall.getsockname(), 'dtls', timeout=max(0.1, t0 + bound - time.monotonic()))
        assert ev is not None, f'stalled DTLS handshake: no connection_closed log line within {bound:.1f}s'
        secs = (log_time(ev) or time.time()) - wall0
        assert DTLS_HANDSHAKE_TIMEOUT - 1.0 <= secs <= bound, \
            f'stalled DTLS handshake dropped after {secs:.1f}s, expected about {DTLS_HANDSHAKE_TIMEOUT:.0f}s: {ev}'
        reasons = {'stall': ev.get('reason')}
        for name, u in list(stateful_socks.items()) + [('ClientHello, then silence after the HelloVerifyRequest',
                                                        no_cookie)]:
            e = closed_event(srv, u.getsockname(), 'dtls', timeout=0)
            assert e is None, f'{name}: opened DTLS state before the cookie exchange: {e}'
        for u in stateless_socks:
            e = closed_event(srv, u.getsockname(), 'dtls', timeout=0)
            assert e is None, f'garbage that is not a handshake record opened DTLS state: {e}'
        srv.check_alive()
    finally:
        for u in socks:
            u.close()
    return (f'stalled handshake dropped after {secs:.1f}s ("{reasons.pop("stall")}"); a ClientHello without the '
            f'cookie and {len(stateful)} kinds of handshake-like garbage left no state; {sent[0]} other garbage '
            f'datagrams left no state; {good}')


def check_dtls_client_hello_flood(srv):
    """ClientHellos from many source ports (no cookie; spoofable over UDP) must get
    a HelloVerifyRequest and no session (the server once made a session per
    ClientHello, so past DTLS_MAX_SESSIONS per shard new clients got no answer
    until those timed out): fresh clients are still answered during the flood."""
    addr = srv.listen_addr('dtls')
    before = dtls_probe(addr)
    assert before == 8, f'only {before}/8 fresh DTLS clients answered before the flood'
    threads = int(srv.config.get('threads') or 1)
    want = int(DTLS_MAX_SESSIONS * threads * 1.2)
    sent = 0
    hello = dtls_client_hello()
    t0 = time.monotonic()
    # Distinct source endpoints: fixed ports (below the ephemeral range) on other loopback addresses.
    endpoints = ((ip, port) for ip in ('127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8')
                 for port in range(12000, 18000))
    for i, ep in enumerate(endpoints):
        if sent >= want or time.monotonic() - t0 > 20:
            break
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(ep)
            u.sendto(hello, addr)
            sent += 1
        except OSError:
            pass                    # port in use here: skip it
        finally:
            u.close()
        if i % 1000 == 999:
            time.sleep(0.02)        # let the server drain its socket buffers
    took = time.monotonic() - t0
    after = dtls_probe(addr)
    srv.check_alive()
    assert after == 8, (f'{after}/8 fresh DTLS clients answered right after {sent} ClientHellos from distinct '
                        f'source ports ({took:.1f}s); expected all')
    return f'{sent} ClientHellos in {took:.1f}s; {after}/8 fresh clients still answered'


# ---------------------------------------------------------------- check: connection flood

def check_tcp_connection_flood(srv, n, limit):
    """n TCP connections from 127.0.0.2 against limits.max_connections_per_ip =
    limit: the first `limit` stay open, the rest are closed at once and logged;
    server fds return to their start value after the client closes; good
    clients relay during (from 127.0.0.1) and after (from 127.0.0.2)."""
    addr = srv.listen_addr('tcp')
    src = '127.0.0.2'
    soft = raise_nofile(n + 256)
    assert soft >= n + 64, f'RLIMIT_NOFILE {soft} is too low for {n} connections'
    base = server_fds(srv)
    ep = select.epoll()
    conns = {}            # fd -> (socket, connect time)
    closed = {}           # fd -> seconds from connect to EOF/reset
    t_start = time.monotonic()

    def poll(timeout):
        for fd, _ in ep.poll(timeout):
            s, t = conns[fd]
            try:
                data = s.recv(4096)
            except (ConnectionResetError, ConnectionAbortedError):
                data = b''
            except BlockingIOError:
                continue
            if not data:
                closed[fd] = time.monotonic() - t
                ep.unregister(fd)

    try:
        for i in range(n):
            if time.monotonic() - t_start > 60:
                raise AssertionError(f'only {i} of {n} connections made in 60s')
            s = connect(addr, src=src)
            s.setblocking(False)
            conns[s.fileno()] = (s, time.monotonic())
            ep.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
            if i % 50 == 0:
                poll(0)
        t_connected = time.monotonic() - t_start
        # Until all but `limit` are closed (bounded), then a moment more to see that no more close.
        deadline = time.monotonic() + 5
        while len(conns) - len(closed) > limit and time.monotonic() < deadline:
            poll(0.2)
        settle = time.monotonic() + 1.0
        while time.monotonic() < settle:
            poll(0.2)
        still_open = len(conns) - len(closed)
        refused = len(closed)
        assert still_open == limit, (f'{still_open} of {n} connections from {src} still open after the flood, '
                                     f'expected limits.max_connections_per_ip = {limit}')
        lat = sorted(closed.values())
        assert lat[-1] <= IMMEDIATE * 2, \
            f'refused connections not closed at once: slowest {lat[-1]:.2f}s, median {lat[len(lat) // 2]:.3f}s'
        during = server_fds(srv)
        assert base + limit - 2 <= during <= base + limit + 10, \
            f'server fds {base} -> {during} with {limit} connections held (refused ones leak?)'
        # The server stays responsive while the limit is reached.
        status, _ = srv.http_get('/healthz', timeout=3)
        assert status == 200, f'/healthz {status} during the flood'
        good_during = good_stream_relay(srv, 'tcp', src='127.0.0.1')
        # Logged: the first refusal and every 1000th.
        expect = 1 + refused // 1000
        deadline = time.monotonic() + 3
        while True:
            evs = [e for e in srv.log_events('connection_refused')
                   if str(e.get('client', '')).startswith(src + ':')]
            if len(evs) >= expect or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        assert len(evs) == expect, (f'{len(evs)} connection_refused log lines for {refused} refused '
                                    f'connections, expected {expect} (the first and every 1000th)')
        assert all(e.get('reason') == 'limits.max_connections_per_ip' for e in evs), evs[:2]
        assert max(int(e.get('refused_total', 0)) for e in evs) <= refused, evs[-1]
    finally:
        for s, _ in conns.values():
            s.close()
        ep.close()
    # Closed by the client: the server's descriptors go back to where they were.
    deadline = time.monotonic() + 5
    now_fds = server_fds(srv)
    while now_fds > base + 3 and time.monotonic() < deadline:
        time.sleep(0.1)
        now_fds = server_fds(srv)
    assert now_fds <= base + 3, f'server fds {base} at start, {now_fds} 5s after the client closed {n} connections'
    good_after = good_stream_relay(srv, 'tcp', src=src)       # the per-address count was released
    uc = good_uclient(srv, 'tcp')
    srv.check_alive()
    return (f'{n} connections from {src} in {t_connected:.1f}s: {still_open} held, {refused} closed at once '
            f'(median {lat[len(lat) // 2] * 1000:.1f} ms, max {lat[-1] * 1000:.0f} ms), {len(evs)} '
            f'connection_refused lines; server fds {base} -> {during} -> {now_fds}; {good_during}; '
            f'{good_after}; {uc}')


# ---------------------------------------------------------------- main

def server_config(certpair, idle, per_ip=None):
    cfg = harness.add_listeners(harness.default_config(), tcp=True, tls=certpair)
    cfg['listen'].append({'transport': 'dtls', 'address': '127.0.0.1', 'port': harness.free_port('udp')})
    cfg['limits'] = {'connection_idle_timeout': idle}
    if per_ip:
        cfg['limits']['max_connections_per_ip'] = per_ip
    return cfg


class Outcome:
    def __init__(self):
        self.done = threading.Event()
        self.ok = False
        self.value = None
        self.secs = 0.0


def run_lane(checks, outcomes):
    """Run (name, fn) pairs one after the other, recording each outcome."""
    for name, fn in checks:
        o = outcomes[name]
        t0 = time.monotonic()
        try:
            o.value = fn()
            o.ok = True
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            o.value = e
            if not isinstance(e, (AssertionError, harness.ServerError)):
                o.value = RuntimeError(f'{type(e).__name__}: {e}\n{traceback.format_exc()}')
        finally:
            o.secs = time.monotonic() - t0
            o.done.set()


def report(tr, name, o, known_bug, strict):
    extra = f' {o.value}' if o.ok and o.value else ''
    msg = '' if o.ok else (str(o.value) if isinstance(o.value, AssertionError)
                           else f'{type(o.value).__name__}: {o.value}')
    if known_bug and not strict:
        if o.ok:
            print(f'XPASS {name} ({o.secs:.1f}s):{extra} -- the known bug seems fixed; '
                  'make it a regular check', flush=True)
        else:
            print(f'XFAIL {name} ({o.secs:.1f}s): known server bug: {msg}', flush=True)
        return
    if o.ok:
        tr.passed += 1
        print(f'PASS {name} ({o.secs:.1f}s){extra}', flush=True)
    else:
        tr.failed += 1
        tr.failures.append((name, msg))
        print(f'FAIL {name} ({o.secs:.1f}s): {msg}', flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--bin', default=None, help='turnpike binary (default $TURNPIKE_BIN or build/bin/turnpike)')
    ap.add_argument('--server', choices=['turnpike'], default='turnpike',
                    help='only turnpike: the checks read its JSON log')
    ap.add_argument('--idle-timeout', type=int, default=2, help='server A limits.connection_idle_timeout (s)')
    ap.add_argument('--per-ip-limit', type=int, default=100, help='server B limits.max_connections_per_ip')
    ap.add_argument('--connections', type=int, default=3000, help='connections in the flood check')
    ap.add_argument('--strict-known-bugs', action='store_true',
                    help='count the known-bug checks as regular checks (they fail until fixed)')
    ap.add_argument('--skip-known-bugs', action='store_true', help='do not run the known-bug checks')
    args = ap.parse_args()
    if os.environ.get('TURNPIKE_TEST_SERVER', 'turnpike') != 'turnpike':
        print('NOTE: test_stream_abuse runs against turnpike only (it reads its JSON log)', flush=True)
    tr = harness.TestRunner('stream_abuse')
    print(f'== test_stream_abuse against turnpike (idle timeout {args.idle_timeout}s, '
          f'{args.connections} connections against a per-address limit of {args.per_ip_limit})', flush=True)
    if args.idle_timeout + SLACK >= TLS_HANDSHAKE_TIMEOUT or args.per_ip_limit * 2 > args.connections:
        tr.fail('arguments', 'need --idle-timeout well below 10 s and --connections >= 2 x --per-ip-limit')
        return tr.finish()
    certdir = tempfile.mkdtemp(prefix='turnpike-it-abuse-cert-')
    t0 = time.monotonic()
    try:
        cert = harness.make_cert(certdir)
        a_cfg = server_config(cert, args.idle_timeout)
        b_cfg = server_config(cert, B_IDLE_TIMEOUT, per_ip=args.per_ip_limit)
        with harness.Turnpike(a_cfg, binary=args.bin, name='turnpike-A') as a, \
                harness.Turnpike(b_cfg, binary=args.bin, name='turnpike-B') as b:
            idle = args.idle_timeout
            # Lanes run concurrently; the checks in a lane run in order.
            lanes = [
                [('tcp_stun_max_length_stall', lambda: check_tcp_stun_too_long(a, idle))],
                [('tcp_channeldata_max_length_stall', lambda: check_tcp_channeldata_too_long(a, idle))],
                [('tcp_not_stun_or_channeldata', lambda: check_tcp_not_stun(a, idle))],
                [('tcp_trickled_frame', lambda: check_tcp_trickle(a, idle))],
                [('tls_not_tls', lambda: check_tls_not_tls(a))],
                [('tls_partial_client_hello_stall', lambda: check_tls_partial_client_hello(a, idle))],
                [('tls_half_record_stall', lambda: check_tls_half_record(a, idle))],
                [('dtls_garbage_and_stalled_handshake', lambda: check_dtls_garbage_and_stall(a))],
                [('tls_handshake_timeout', lambda: check_tls_handshake_timeout(b))],
                [('tcp_connection_flood', lambda: check_tcp_connection_flood(b, args.connections,
                                                                             args.per_ip_limit))],
            ]
            # Once known bugs, fixed: both are regular checks now.
            known = []
            lanes.append([('tls_half_record_stall_with_allocation',
                           lambda: check_tls_half_record_with_allocation(a, idle))])
            # After the flood check (it must not disturb server B's other checks' timing).
            lanes[9].append(('dtls_client_hello_flood', lambda: check_dtls_client_hello_flood(b)))
            order = [name for lane in lanes for name, _ in lane]
            outcomes = {name: Outcome() for name in order}
            with concurrent.futures.ThreadPoolExecutor(max_workers=len(lanes)) as pool:
                futs = [pool.submit(run_lane, lane, outcomes) for lane in lanes]
                for name in order:
                    if not outcomes[name].done.wait(timeout=max(1.0, 150 - (time.monotonic() - t0))):
                        tr.fail(name, 'did not finish within the overall bound')
                        continue
                    report(tr, name, outcomes[name], name in known, args.strict_known_bugs)
                for f in futs:
                    f.result(timeout=max(1.0, 160 - (time.monotonic() - t0)))
            for srv in (a, b):
                srv.check_alive()
        # Leaving the with-block stopped both servers with SIGTERM and required exit code 0.
    except harness.ServerError as e:
        tr.fail('server', str(e))
    except concurrent.futures.TimeoutError:
        tr.fail('checks', 'a check did not finish within the overall bound')
    finally:
        shutil.rmtree(certdir, ignore_errors=True)
    print(f'(total {time.monotonic() - t0:.1f}s)', flush=True)
    return tr.finish()


if __name__ == '__main__':
    sys.exit(main())
