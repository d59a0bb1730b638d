"""Attacks on the SFU for test_abuse.py (issue 14 items 2, 3, 8 and 11): CONFIG (overrides for the
node) and CHECKS, a list of (name, fn(ctx)); see test_abuse.py for ctx.

Media attacks use tests/tools' turnpike-test-sfu-peer (build/bin/, beside turnpike): a participant
with OpenSSL's DTLS client and libsrtp that joins over the signalling WebSocket, completes ICE and
DTLS-SRTP, and publishes, receives, floods NACKs, spoofs connectivity checks or offers another
participant's SSRC (tests/tools/README.md). Signalling attacks use plain sockets.
"""

import base64
import hashlib
import hmac
import itertools
import json
import os
import random
import socket
import subprocess
import threading
import time

# The counter the SFU increments when it refuses to retransmit what a NACK asked for (rate or
# duplicate limit). One place to change it if the SFU names it otherwise.
NACK_LIMITED_METRIC = 'turnpike_sfu_nack_limited_total'

PEER_TOOL = 'turnpike-test-sfu-peer'
JOIN_TIMEOUT_S = 2
MAX_CONNECTIONS = 400
MAX_CONNECTIONS_PER_IP = 50
MAX_JOIN_MESSAGE_BYTES = 8192

CONFIG = {'sfu': {
    'join_timeout': JOIN_TIMEOUT_S,
    'max_connections': MAX_CONNECTIONS,
    'max_connections_per_ip': MAX_CONNECTIONS_PER_IP,
    'max_join_message_bytes': MAX_JOIN_MESSAGE_BYTES,
}}

_rooms = itertools.count(1)


# ---------------------------------------------------------------- the peer tool

def _token(ctx, room, identity, ttl=300):
    """A join token (HS256 JWT, sfu/PROTOCOL.md) signed with the node's first sfu.token_keys entry,
    built independently of the server's code."""
    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b'=').decode()
    claims = {'room': room, 'identity': identity, 'region': ctx.cfg['region'], 'exp': int(time.time()) + ttl}
    head = b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())
    body = b64(json.dumps(claims).encode())
    key = ctx.cfg['sfu']['token_keys'][0].encode()
    sig = hmac.new(key, f'{head}.{body}'.encode(), hashlib.sha256).digest()
    return f'{head}.{body}.{b64(sig)}'


class Peer:
    """One turnpike-test-sfu-peer process; result() is its JSON report."""

    def __init__(self, ctx, room, identity, mode, duration, *extra):
        self.identity, self.duration = identity, duration
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [ctx.tool(PEER_TOOL), '--signal', ctx.cfg['sfu']['signal_listen'], '--token', _token(ctx, room, identity),
             '--mode', mode, '--duration', str(duration), *[str(a) for a in extra]],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.ended = None

    def result(self):
        try:
            out, err = self.proc.communicate(timeout=self.duration + 15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError(f'{PEER_TOOL} {self.identity} did not finish: {err[-600:]}')
        self.ended = time.monotonic()
        lines = [ln for ln in out.splitlines() if ln.startswith('{')]
        assert self.proc.returncode == 0 and lines, \
            f'{PEER_TOOL} {self.identity} failed (rc {self.proc.returncode}): {err[-600:]}'
        return json.loads(lines[-1])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def _connected(r, who):
    assert r.get('dtls_ok') and r.get('fingerprint_ok'), \
        f'{who} never connected (ice_ok={r.get("ice_ok")} dtls_ok={r.get("dtls_ok")} ' \
        f'errors={r.get("errors")} dtls_error={r.get("dtls_error")!r})'


def _peers(*peers):
    """Results of every peer; all of them are ended even if one fails."""
    try:
        return [p.result() for p in peers]
    finally:
        for p in peers:
            p.kill()


# ---------------------------------------------------------------- item 2: NACK amplification

def nack_amplification(ctx):
    """A subscriber sends ~2 KB SRTCP compounds of Generic NACKs, each asking for ~4,600
    retransmissions of the last 512 packets, 10 times a second: what the SFU resends to it must stay
    within 10x the NACK bytes, and the limit is counted."""
    room = f'abuse-nack-{next(_rooms)}'
    before = ctx.metric(NACK_LIMITED_METRIC)
    pub = Peer(ctx, room, 'nack-pub', 'publish', 11, '--rate', 50, '--payload', 1000)
    time.sleep(0.5)
    sub = Peer(ctx, room, 'nack-flood', 'nack-flood', 9, '--from', 'nack-pub', '--nack-rate', 10,
               '--nack-bytes', 2000, '--nack-after', 2)
    p, s = _peers(pub, sub)
    _connected(p, 'publisher')
    _connected(s, 'subscriber')
    assert s['rtp_received'] > 50, f'the subscriber received no media before the flood: {s["rtp_received"]} packets'
    assert s['nack_compounds_sent'] >= 30, f'only {s["nack_compounds_sent"]} NACK compounds went out'
    ratio = s['rtp_duplicate_bytes'] / max(1, s['nack_bytes_sent'])
    limited = ctx.metric(NACK_LIMITED_METRIC) - before
    what = (f'{s["nack_compounds_sent"]} NACK compounds ({s["nack_bytes_sent"]} B asking for '
            f'{s["nack_seqs_requested"]} resends) bought {s["rtp_duplicates"]} resent packets '
            f'({s["rtp_duplicate_bytes"]} B, {ratio:.1f}x); {NACK_LIMITED_METRIC} +{limited:g}')
    assert ratio < 10, f'NACKs amplify: {what}'
    assert limited > 0, f'{NACK_LIMITED_METRIC} did not move: {what}'
    return what


# ---------------------------------------------------------------- item 3: spoofed USE-CANDIDATE

class Victim:
    """A plain UDP socket on loopback that counts what arrives: media (RFC 7983: 128-191), STUN."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.settimeout(0.2)
        self.addr = self.sock.getsockname()
        self.media = self.stun = self.other = self.bytes = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.bytes += len(data)
            if data and 128 <= data[0] <= 191:
                self.media += 1
            elif data and data[0] < 4:
                self.stun += 1
            else:
                self.other += 1

    def close(self):
        self.stop.set()
        self.thread.join(timeout=2)
        self.sock.close()


def spoofed_use_candidate(ctx):
    """An attacker subscribed to a publisher spoofs checks with USE-CANDIDATE from a victim's UDP
    address (raw socket): the victim gets no media (a few STUN requests from a return-routability
    probe are fine) and the attacker keeps receiving."""
    assert os.geteuid() == 0, 'spoofing a source address needs root (CAP_NET_RAW)'
    room = f'abuse-spoof-{next(_rooms)}'
    rate, duration = 50, 9
    victim = Victim()
    try:
        pub = Peer(ctx, room, 'spoof-pub', 'publish', duration + 1.5, '--rate', rate, '--payload', 800)
        time.sleep(0.5)
        att = Peer(ctx, room, 'spoofer', 'spoof-check', duration, '--from', 'spoof-pub',
                   '--victim', f'{victim.addr[0]}:{victim.addr[1]}', '--spoof-after', 2, '--spoof-count', 3)
        p, a = _peers(pub, att)
        time.sleep(0.5)
    finally:
        victim.close()
    _connected(p, 'publisher')
    _connected(a, 'attacker')
    assert a['spoofed_sent'] == 3 and a['spoof_ms'] > 0 and not [e for e in a['errors'] if e.get('type') == 'local'], \
        f'the spoofed checks did not go out: {a["errors"]}'
    expected = rate * (duration * 1000 - a['spoof_ms']) / 1000
    what = (f'victim got {victim.media} media / {victim.stun} STUN datagrams ({victim.bytes} B); attacker received '
            f'{a["rtp_received_after_spoof"]} of ~{expected:.0f} packets after spoofing')
    assert victim.media == 0, f'media went to the spoofed address: {what}'
    assert victim.stun <= 20, f'the victim was flooded with STUN: {what}'
    assert a['rtp_received_after_spoof'] >= 0.5 * expected, f'the attacker lost its own media: {what}'
    return what


# ---------------------------------------------------------------- item 11: SSRC hijack

def ssrc_hijack(ctx):
    """B offers A's SSRC (it is in every answer that sends A's track): B's offer is refused, A's media
    keeps flowing to a subscriber while B is there and after B leaves."""
    room = f'abuse-ssrc-{next(_rooms)}'
    ssrc = random.randrange(1 << 20, 1 << 31)
    a = Peer(ctx, room, 'ssrc-owner', 'publish', 13, '--ssrc', ssrc, '--rate', 50, '--payload', 500)
    time.sleep(0.5)
    s = Peer(ctx, room, 'ssrc-watcher', 'subscribe', 12, '--from', 'ssrc-owner')
    try:
        time.sleep(3)
        b = Peer(ctx, room, 'ssrc-thief', 'ssrc-hijack', 4, '--ssrc', ssrc, '--rate', 50, '--payload', 500)
        br = _peers(b)[0]
    except BaseException:
        a.kill()
        s.kill()
        raise
    b_start, b_end = b.started - s.started, b.ended - s.started
    ar, sr = _peers(a, s)
    _connected(ar, 'owner')
    _connected(sr, 'subscriber')
    bucket = sr['timeline_bucket_ms'] / 1000
    tl = sr['timeline']
    first = next((i for i, n in enumerate(tl) if n), None)
    assert first is not None, f'the subscriber never received the owner\'s media: {sr}'
    # Every second from the first packet to the end must carry media; in particular while B is
    # there and after B left.
    end = min(len(tl), int((12 - 0.5) / bucket))
    gaps = [i for i in range(first, end) if not any(tl[i:i + int(1 / bucket)])]
    after_b = sum(tl[int((b_end + 0.5) / bucket):end])
    what = (f'thief offer refused={br["offer_refused"]} (errors {[e.get("code") for e in br["errors"]]}); '
            f'subscriber got {sr["rtp_by_ssrc"].get(str(ssrc), 0)} packets of SSRC {ssrc}, {after_b} after the '
            f'thief left at {b_end:.1f}s (it came at {b_start:.1f}s)')
    assert br['offered'], f'the thief never offered: {br}'
    assert br['offer_refused'], f'an offer reusing another participant\'s SSRC was accepted: {what}'
    assert not gaps, f'the owner\'s media stopped for {len(gaps) * bucket:.2f}s from {gaps[0] * bucket:.1f}s: {what}'
    assert after_b > 0, f'no media after the thief left: {what}'
    return what


# ---------------------------------------------------------------- item 8: signalling

def _signal_addr(ctx):
    host, port = ctx.cfg['sfu']['signal_listen'].rsplit(':', 1)
    return host, int(port)


def _ws_connect(ctx, source='127.0.0.1', timeout=3.0):
    """TCP connect from `source` and a WebSocket upgrade (RFC 6455 4.1). Returns the socket when
    the server answered 101, else None (refused, closed, or another status)."""
    host, port = _signal_addr(ctx)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.bind((source, 0))
        s.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f'GET /signal HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n'
                   f'Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n').encode())
        head = b''
        while b'\r\n\r\n' not in head and len(head) < 8192:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
        if head.startswith(b'HTTP/1.1 101'):
            return s
    except OSError:
        pass
    s.close()
    return None


def _frame_header(length, opcode=1):
    """A masked client frame header (RFC 6455 5.2) for a payload of `length` bytes, and its mask."""
    mask = os.urandom(4)
    if length < 126:
        head = bytes([0x80 | opcode, 0x80 | length])
    elif length < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, 'big')
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8, 'big')
    return head + mask, mask


def _masked(payload, mask):
    n = len(payload)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, 'big') ^ int.from_bytes(key, 'big')).to_bytes(n, 'big')


def _closed_within(s, seconds):
    """Whether the server closed the connection (EOF, reset, or a close frame) within `seconds`;
    and the first data frame it sent meanwhile, if any."""
    deadline = time.monotonic() + seconds
    buf = b''
    while time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            return True, buf
        if not chunk:
            return True, buf
        buf += chunk
        if buf and buf[0] & 0x0F == 0x8:  # a close frame
            return True, buf
    return False, buf


def _is_open(s):
    s.setblocking(False)
    try:
        return s.recv(1, socket.MSG_PEEK) != b''
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)


def signalling_connection_caps(ctx):
    """More WebSocket connections than sfu.max_connections_per_ip from one address, and more than
    sfu.max_connections from several, are refused or closed at once."""
    per_ip = ctx.cfg['sfu'].get('max_connections_per_ip', MAX_CONNECTIONS_PER_IP)
    total_cap = ctx.cfg['sfu'].get('max_connections', MAX_CONNECTIONS)
    socks = []
    try:
        # Quickly, all of it: sfu.join_timeout closes unjoined connections after a few seconds.
        one = [_ws_connect(ctx, '127.0.0.7') for _ in range(per_ip + 20)]
        socks += [s for s in one if s]
        time.sleep(0.2)
        open_one = sum(1 for s in one if s and _is_open(s))
        n_sources = total_cap // per_ip + 2
        for i in range(n_sources):
            socks += [s for s in (_ws_connect(ctx, f'127.0.1.{10 + i}') for _ in range(per_ip)) if s]
        time.sleep(0.2)
        open_all = sum(1 for s in socks if _is_open(s))
    finally:
        for s in socks:
            s.close()
    tried = per_ip + 20 + n_sources * per_ip
    what = (f'{open_one} of {per_ip + 20} connections from one address stayed open (cap {per_ip}); '
            f'{open_all} of {tried} from {n_sources + 1} addresses (cap {total_cap})')
    assert open_one <= per_ip, f'per-address cap not enforced: {what}'
    assert open_one >= per_ip - 2, f'honest connections refused below the cap: {what}'
    assert open_all <= total_cap, f'global cap not enforced: {what}'
    return what


def signalling_join_timeout(ctx):
    """A WebSocket that never joins is closed after sfu.join_timeout."""
    limit = ctx.cfg['sfu'].get('join_timeout', JOIN_TIMEOUT_S)
    s = _ws_connect(ctx, '127.0.0.8')
    assert s, 'the WebSocket upgrade failed'
    t0 = time.monotonic()
    try:
        closed, _ = _closed_within(s, limit + 3)
    finally:
        s.close()
    took = time.monotonic() - t0
    assert closed, f'an unjoined connection was still open after {took:.1f}s (sfu.join_timeout {limit}s)'
    assert took <= limit + 1.5, f'closed only after {took:.1f}s (sfu.join_timeout {limit}s)'
    return f'unjoined connection closed after {took:.1f}s (sfu.join_timeout {limit}s)'


def signalling_prejoin_message_size(ctx):
    """A message over sfu.max_join_message_bytes before the join (100 KB, under the post-join limit,
    and 1 MB) gets the connection closed, not an answer."""
    limit = ctx.cfg['sfu'].get('max_join_message_bytes', MAX_JOIN_MESSAGE_BYTES)
    out = []
    for size in (100 * 1024, 1024 * 1024):
        s = _ws_connect(ctx, '127.0.0.9')
        assert s, 'the WebSocket upgrade failed'
        try:
            body = json.dumps({'type': 'ping', 'pad': 'x' * (size - 30)}).encode()
            head, mask = _frame_header(len(body))
            t0 = time.monotonic()
            try:
                s.sendall(head + _masked(body, mask))
            except OSError:
                pass  # closed while we were still sending: refused
            closed, got = _closed_within(s, 1.5)
            took = time.monotonic() - t0
        finally:
            s.close()
        answered = bool(got) and got[0] & 0x0F == 0x1
        out.append(f'{len(body)} B: {"closed" if closed else "open"} after {took:.1f}s'
                   f'{" with an answer" if answered else ""}')
        assert closed and not answered, \
            f'a {len(body)}-byte message before the join (limit {limit}) was taken: {out[-1]} {got[:120]!r}'
    return '; '.join(out)


def signalling_half_sent_rss(ctx):
    """1,000 unjoined connections (from 50 addresses) each send half of a 200 KB message and stall:
    the node's RSS grows by less than 30 MB."""
    conns, per_source, announced, sent = 1000, 20, 200 * 1024, 100 * 1024
    base = ctx.rss_kb()
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], ctx.rss_kb())
            time.sleep(0.05)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    socks, upgraded, fed = [], 0, 0
    # Valid UTF-8 (a text frame's payload is checked as it arrives): the start of a JSON message.
    prefix = b'{"type":"join","token":"'
    chunk = prefix + b'x' * (sent - len(prefix))
    head, mask = _frame_header(announced)  # one mask for all: the payload is masked once
    masked = _masked(chunk, mask)
    t0 = time.monotonic()
    try:
        for i in range(conns):
            if time.monotonic() - t0 > 15:
                break
            s = _ws_connect(ctx, f'127.0.2.{10 + i // per_source}', timeout=1.0)
            if not s:
                continue
            upgraded += 1
            socks.append(s)
            try:
                s.settimeout(1.0)
                s.sendall(head + masked)
                fed += 1
            except OSError:
                pass
        time.sleep(1.0)
    finally:
        stop.set()
        sampler.join(timeout=2)
        for s in socks:
            s.close()
    growth_mb = (peak[0] - base) / 1024
    what = (f'{upgraded} of {conns} connections upgraded, {fed} took {sent // 1024} KB of a {announced // 1024} KB '
            f'message; RSS {base // 1024} MB -> peak {peak[0] // 1024} MB (+{growth_mb:.1f} MB)')
    assert growth_mb < 30, f'half-sent messages grow memory: {what}'
    return what


CHECKS = [
    ('nack_amplification', nack_amplification),
    ('spoofed_use_candidate', spoofed_use_candidate),
    ('ssrc_hijack', ssrc_hijack),
    ('signalling_connection_caps', signalling_connection_caps),
    ('signalling_join_timeout', signalling_join_timeout),
    ('signalling_prejoin_message_size', signalling_prejoin_message_size),
    ('signalling_half_sent_rss', signalling_half_sent_rss),
]
