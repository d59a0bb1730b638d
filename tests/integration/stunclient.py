"""Minimal STUN/TURN (RFC 8489 / RFC 8656) client over UDP (TurnClient), TCP and
TLS (StreamTurnClient), stdlib only.

Enough to drive a TURN server in integration tests: Binding, Allocate, Refresh,
CreatePermission, ChannelBind, Send/Data indications and ChannelData, with the
long-term credential mechanism (MESSAGE-INTEGRITY, HMAC-SHA1 with key
MD5(username:realm:password)) and FINGERPRINT.

Everything is bounded: every request has a fixed number of retransmissions and
an overall deadline; every receive has a timeout.

Example:
    c = TurnClient(('127.0.0.1', 3478))
    r = c.allocate('alice', 'wonderland')        # handles the 401 challenge
    assert r.is_success, r
    relay = r.xor_address(XOR_RELAYED_ADDRESS)
"""

import base64
import hashlib
import hmac
import ipaddress
import os
import socket
import struct
import time
import zlib

MAGIC_COOKIE = 0x2112A442
MAGIC_COOKIE_BYTES = struct.pack('!I', MAGIC_COOKIE)
FINGERPRINT_XOR = 0x5354554E

# Methods
BINDING = 0x001
ALLOCATE = 0x003
REFRESH = 0x004
SEND = 0x006
DATA = 0x007
CREATE_PERMISSION = 0x008
CHANNEL_BIND = 0x009

METHOD_NAMES = {
    BINDING: 'Binding', ALLOCATE: 'Allocate', REFRESH: 'Refresh', SEND: 'Send',
    DATA: 'Data', CREATE_PERMISSION: 'CreatePermission', CHANNEL_BIND: 'ChannelBind',
}

# Classes
REQUEST = 0b00
INDICATION = 0b01
SUCCESS = 0b10
ERROR = 0b11
CLASS_NAMES = {REQUEST: 'request', INDICATION: 'indication', SUCCESS: 'success', ERROR: 'error'}

# Attributes
MAPPED_ADDRESS = 0x0001
USERNAME = 0x0006
MESSAGE_INTEGRITY = 0x0008
ERROR_CODE = 0x0009
UNKNOWN_ATTRIBUTES = 0x000A
CHANNEL_NUMBER = 0x000C
LIFETIME = 0x000D
XOR_PEER_ADDRESS = 0x0012
DATA_ATTR = 0x0013
REALM = 0x0014
NONCE = 0x0015
XOR_RELAYED_ADDRESS = 0x0016
REQUESTED_ADDRESS_FAMILY = 0x0017
EVEN_PORT = 0x0018
REQUESTED_TRANSPORT = 0x0019
DONT_FRAGMENT = 0x001A
MESSAGE_INTEGRITY_SHA256 = 0x001C
PASSWORD_ALGORITHM = 0x001D
USERHASH = 0x001E
XOR_MAPPED_ADDRESS = 0x0020
RESERVATION_TOKEN = 0x0022
ADDITIONAL_ADDRESS_FAMILY = 0x8000
ADDRESS_ERROR_CODE = 0x8001
PASSWORD_ALGORITHMS = 0x8002
ALTERNATE_DOMAIN = 0x8003
ICMP = 0x8004
SOFTWARE = 0x8022
ALTERNATE_SERVER = 0x8023
FINGERPRINT = 0x8028

ATTR_NAMES = {v: k for k, v in list(globals().items())
              if k.isupper() and isinstance(v, int) and 0 < v <= 0xFFFF
              and k not in ('MAGIC_COOKIE', 'FINGERPRINT_XOR', 'BINDING', 'ALLOCATE', 'REFRESH',
                            'SEND', 'DATA', 'CREATE_PERMISSION', 'CHANNEL_BIND', 'REQUEST',
                            'INDICATION', 'SUCCESS', 'ERROR')}

TRANSPORT_UDP = 17
TRANSPORT_TCP = 6
FAMILY_IPV4 = 0x01
FAMILY_IPV6 = 0x02


class StunError(Exception):
    pass


class StunTimeout(StunError):
    pass


def msg_type(method, cls):
    """Encode method (12 bits) and class (2 bits) into the 14-bit STUN message type."""
    m = method & 0xFFF
    c0 = cls & 1
    c1 = (cls >> 1) & 1
    return ((m & 0x00F) | (c0 << 4) | ((m & 0x070) << 1) | (c1 << 8) | ((m & 0xF80) << 2))


def split_type(t):
    method = (t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2)
    cls = ((t >> 4) & 1) | (((t >> 8) & 1) << 1)
    return method, cls


def _pad4(n):
    return (4 - n % 4) % 4


def encode_attr(atype, value):
    return struct.pack('!HH', atype, len(value)) + value + b'\x00' * _pad4(len(value))


def new_tid():
    return os.urandom(12)


def long_term_key(username, realm, password):
    return hashlib.md5(f'{username}:{realm}:{password}'.encode('utf-8')).digest()


def rest_credentials(secret, user='someuser', ttl=86400, now=None, separator=':'):
    """TURN REST API (draft-uberti-behave-turn-rest) credentials, as coturn's
    turnutils_uclient -W computes them: username = '<expiry unix time>:<user>',
    password = base64(HMAC-SHA1(secret, username))."""
    expiry = int(now if now is not None else time.time()) + int(ttl)
    username = f'{expiry}{separator}{user}'
    password = base64.b64encode(
        hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()
    return username, password


# ---------------------------------------------------------------- addresses

def encode_xor_address(addr, tid):
    """addr is (host, port). Returns the XOR-*-ADDRESS attribute value."""
    host, port = addr[0], addr[1]
    ip = ipaddress.ip_address(host)
    xport = port ^ (MAGIC_COOKIE >> 16)
    if ip.version == 4:
        xip = bytes(a ^ b for a, b in zip(ip.packed, MAGIC_COOKIE_BYTES))
        return struct.pack('!BBH', 0, FAMILY_IPV4, xport) + xip
    key = MAGIC_COOKIE_BYTES + tid
    xip = bytes(a ^ b for a, b in zip(ip.packed, key))
    return struct.pack('!BBH', 0, FAMILY_IPV6, xport) + xip


def decode_xor_address(value, tid):
    if len(value) < 8:
        raise StunError('short XOR address attribute')
    _, fam, xport = struct.unpack('!BBH', value[:4])
    port = xport ^ (MAGIC_COOKIE >> 16)
    if fam == FAMILY_IPV4:
        raw = bytes(a ^ b for a, b in zip(value[4:8], MAGIC_COOKIE_BYTES))
        return (str(ipaddress.IPv4Address(raw)), port)
    if fam == FAMILY_IPV6:
        if len(value) < 20:
            raise StunError('short XOR IPv6 address attribute')
        key = MAGIC_COOKIE_BYTES + tid
        raw = bytes(a ^ b for a, b in zip(value[4:20], key))
        return (str(ipaddress.IPv6Address(raw)), port)
    raise StunError(f'unknown address family {fam}')


def decode_plain_address(value):
    _, fam, port = struct.unpack('!BBH', value[:4])
    if fam == FAMILY_IPV4:
        return (str(ipaddress.IPv4Address(value[4:8])), port)
    return (str(ipaddress.IPv6Address(value[4:20])), port)


# ---------------------------------------------------------------- messages

class Message:
    """A STUN message. attrs is a list of (type, raw value) in wire order."""

    def __init__(self, method, cls, tid=None, attrs=None):
        self.method = method
        self.cls = cls
        self.tid = tid if tid is not None else new_tid()
        self.attrs = list(attrs or [])
        self.raw = None  # wire bytes when decoded

    # -- building
    def add(self, atype, value):
        self.attrs.append((atype, value))
        return self

    def encode(self, key=None, fingerprint=True):
        """Serialize; if key is given append MESSAGE-INTEGRITY (HMAC-SHA1),
        then FINGERPRINT if requested."""
        body = b''.join(encode_attr(t, v) for t, v in self.attrs)
        mtype = msg_type(self.method, self.cls)
        if key is not None:
            # Length covers everything up to and including MESSAGE-INTEGRITY.
            hdr = struct.pack('!HH', mtype, len(body) + 24) + MAGIC_COOKIE_BYTES + self.tid
            mac = hmac.new(key, hdr + body, hashlib.sha1).digest()
            body += encode_attr(MESSAGE_INTEGRITY, mac)
        if fingerprint:
            hdr = struct.pack('!HH', mtype, len(body) + 8) + MAGIC_COOKIE_BYTES + self.tid
            crc = (zlib.crc32(hdr + body) & 0xFFFFFFFF) ^ FINGERPRINT_XOR
            body += encode_attr(FINGERPRINT, struct.pack('!I', crc))
        return struct.pack('!HH', mtype, len(body)) + MAGIC_COOKIE_BYTES + self.tid + body

    # -- parsing
    @classmethod
    def decode(cls, data):
        if len(data) < 20:
            raise StunError('short STUN message')
        mtype, length = struct.unpack('!HH', data[:4])
        if mtype & 0xC000:
            raise StunError('not a STUN message (top bits set)')
        if data[4:8] != MAGIC_COOKIE_BYTES:
            raise StunError('bad magic cookie')
        if length % 4 or 20 + length > len(data):
            raise StunError(f'bad STUN length {length} for {len(data)} bytes')
        method, klass = split_type(mtype)
        m = cls(method, klass, data[8:20])
        pos = 20
        end = 20 + length
        m.offsets = []
        while pos + 4 <= end:
            atype, alen = struct.unpack('!HH', data[pos:pos + 4])
            if pos + 4 + alen > end:
                raise StunError('attribute overruns message')
            m.attrs.append((atype, data[pos + 4:pos + 4 + alen]))
            m.offsets.append(pos)
            pos += 4 + alen + _pad4(alen)
        m.raw = data[:end]
        return m

    # -- accessors
    def get(self, atype, default=None):
        for t, v in self.attrs:
            if t == atype:
                return v
        return default

    def has(self, atype):
        return any(t == atype for t, _ in self.attrs)

    @property
    def is_success(self):
        return self.cls == SUCCESS

    @property
    def is_error(self):
        return self.cls == ERROR

    @property
    def error_code(self):
        v = self.get(ERROR_CODE)
        if v is None or len(v) < 4:
            return None
        return (v[2] & 0x7) * 100 + v[3]

    @property
    def error_reason(self):
        v = self.get(ERROR_CODE)
        if v is None:
            return None
        return v[4:].decode('utf-8', 'replace').rstrip('\x00')

    def xor_address(self, atype):
        v = self.get(atype)
        return None if v is None else decode_xor_address(v, self.tid)

    def xor_addresses(self, atype):
        return [decode_xor_address(v, self.tid) for t, v in self.attrs if t == atype]

    @property
    def lifetime(self):
        v = self.get(LIFETIME)
        return None if v is None else struct.unpack('!I', v[:4])[0]

    @property
    def realm(self):
        v = self.get(REALM)
        return None if v is None else v.decode('utf-8', 'replace')

    @property
    def nonce(self):
        v = self.get(NONCE)
        return None if v is None else v.decode('utf-8', 'replace')

    def check_fingerprint(self):
        """True/False if a FINGERPRINT is present and (in)valid; None if absent."""
        if self.raw is None or not self.has(FINGERPRINT):
            return None
        idx = [t for t, _ in self.attrs].index(FINGERPRINT)
        off = self.offsets[idx]
        if idx != len(self.attrs) - 1:
            return False
        expect = (zlib.crc32(self.raw[:off]) & 0xFFFFFFFF) ^ FINGERPRINT_XOR
        return struct.unpack('!I', self.attrs[idx][1])[0] == expect

    def check_integrity(self, key):
        """True/False if MESSAGE-INTEGRITY present and (in)valid; None if absent."""
        if self.raw is None or not self.has(MESSAGE_INTEGRITY):
            return None
        idx = [t for t, _ in self.attrs].index(MESSAGE_INTEGRITY)
        off = self.offsets[idx]
        # Header length field as if the message ended right after MESSAGE-INTEGRITY.
        hdr = self.raw[:2] + struct.pack('!H', off + 24 - 20) + self.raw[4:20]
        mac = hmac.new(key, hdr + self.raw[20:off], hashlib.sha1).digest()
        return hmac.compare_digest(mac, self.attrs[idx][1])

    def describe(self):
        name = METHOD_NAMES.get(self.method, hex(self.method))
        s = f'{name} {CLASS_NAMES[self.cls]}'
        if self.is_error:
            s += f' {self.error_code} {self.error_reason!r}'
        names = [ATTR_NAMES.get(t, hex(t)) for t, _ in self.attrs]
        return f'{s} attrs={names}'

    __repr__ = describe


def is_channel_data(data):
    return len(data) >= 4 and 0x40 <= data[0] <= 0x7F


def encode_channel_data(channel, payload):
    # Over UDP no padding is needed (RFC 8656 section 12.5).
    return struct.pack('!HH', channel, len(payload)) + payload


def decode_channel_data(data):
    channel, length = struct.unpack('!HH', data[:4])
    return channel, data[4:4 + length]


# ---------------------------------------------------------------- client

def _xor(addr):
    return lambda tid: encode_xor_address(addr, tid)


class TurnClient:
    """One UDP socket = one 5-tuple towards the server."""

    def __init__(self, server, local=None, rto=0.25, retries=5, timeout=5.0):
        self.server = (server[0], int(server[1]))
        fam = socket.AF_INET6 if ':' in self.server[0] else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        if local is None:
            local = ('::1', 0) if fam == socket.AF_INET6 else ('127.0.0.1', 0)
        self.sock.bind(local)
        self.rto = rto
        self.retries = retries
        self.timeout = timeout
        self.username = None
        self.password = None
        self.realm = None
        self.nonce = None
        self.key = None
        self.pending = []   # non-matching datagrams received while waiting for a response
        self.last_challenge = None

    @property
    def local_addr(self):
        return self.sock.getsockname()[:2]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- raw I/O
    def send_raw(self, data, addr=None):
        self.sock.sendto(data, addr or self.server)

    def recv_raw(self, timeout):
        """Next datagram from anyone (pending first), or None after timeout."""
        if self.pending:
            return self.pending.pop(0)
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, addr = self.sock.recvfrom(65535)
        except socket.timeout:
            return None
        return data, addr[:2]

    def transact(self, msg, key=None, fingerprint=True):
        """Send a request, retransmitting, until a response with the same
        transaction id arrives. Returns the decoded response; raises
        StunTimeout after retries/timeout."""
        wire = msg.encode(key=key, fingerprint=fingerprint)
        deadline = time.monotonic() + self.timeout
        rto = self.rto
        sends = 0
        next_send = 0.0
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if now >= next_send:
                if sends > self.retries:
                    # give the last transmission a chance, then stop
                    if now >= next_send + rto:
                        break
                else:
                    self.sock.sendto(wire, self.server)
                    sends += 1
                    next_send = now + rto
                    rto = min(rto * 2, 1.6)
            wake = next_send if sends <= self.retries else next_send + rto
            self.sock.settimeout(max(0.001, min(wake, deadline) - time.monotonic()))
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            try:
                resp = Message.decode(data)
            except StunError:
                self.pending.append((data, addr[:2]))
                continue
            if resp.tid == msg.tid and resp.cls in (SUCCESS, ERROR):
                return resp
            self.pending.append((data, addr[:2]))
            if len(self.pending) > 1000:
                self.pending.pop(0)
        raise StunTimeout(f'no response to {METHOD_NAMES.get(msg.method, msg.method)} '
                          f'from {self.server} after {sends} transmissions')

    # -- authenticated requests
    def set_credentials(self, username, password):
        self.username = username
        self.password = password
        self.key = None

    def _auth_request(self, method, attrs, authenticate=True):
        """Send a request; if authenticate and credentials are set, add
        USERNAME/REALM/NONCE/MESSAGE-INTEGRITY, learning realm/nonce from a 401
        challenge (or a new nonce from 438 Stale Nonce). Attribute values may be
        callables taking the transaction id (for XOR-encoded addresses).
        Returns the final response."""
        resp = None
        for _ in range(4):
            m = Message(method, REQUEST)
            for t, v in attrs:
                m.add(t, v(m.tid) if callable(v) else v)
            key = None
            if authenticate and self.username is not None and self.nonce is not None:
                m.add(USERNAME, self.username.encode())
                m.add(REALM, self.realm.encode())
                m.add(NONCE, self.nonce.encode())
                key = self.key = long_term_key(self.username, self.realm, self.password)
            resp = self.transact(m, key=key)
            if not (resp.is_error and authenticate and self.username is not None):
                return resp
            code = resp.error_code
            if code == 438 and resp.nonce:
                self.nonce = resp.nonce
                self.realm = resp.realm or self.realm
                continue
            if code == 401:
                self.last_challenge = resp
                if resp.nonce:
                    self.nonce = resp.nonce
                    self.realm = resp.realm or self.realm
                if key is not None or not resp.nonce or not self.realm:
                    # Credentials were sent and rejected: do not loop.
                    return resp
                continue
            return resp
        return resp

    # -- TURN operations
    def binding(self):
        return self.transact(Message(BINDING, REQUEST))

    def allocate(self, username=None, password=None, lifetime=None, transport=TRANSPORT_UDP,
                 extra_attrs=(), authenticate=True):
        if username is not None:
            self.set_credentials(username, password)
        attrs = [(REQUESTED_TRANSPORT, struct.pack('!B3x', transport))]
        if lifetime is not None:
            attrs.append((LIFETIME, struct.pack('!I', lifetime)))
        attrs.extend(extra_attrs)
        return self._auth_request(ALLOCATE, attrs, authenticate=authenticate)

    def refresh(self, lifetime=None):
        attrs = []
        if lifetime is not None:
            attrs.append((LIFETIME, struct.pack('!I', lifetime)))
        return self._auth_request(REFRESH, attrs)

    def create_permission(self, *peers):
        return self._auth_request(
            CREATE_PERMISSION, [(XOR_PEER_ADDRESS, _xor(p)) for p in peers])

    def channel_bind(self, channel, peer):
        return self._auth_request(
            CHANNEL_BIND, [(CHANNEL_NUMBER, struct.pack('!H2x', channel)),
                           (XOR_PEER_ADDRESS, _xor(peer))])

    def send_indication(self, peer, payload, dont_fragment=False):
        m = Message(SEND, INDICATION)
        m.add(XOR_PEER_ADDRESS, encode_xor_address(peer, m.tid))
        m.add(DATA_ATTR, payload)
        if dont_fragment:
            m.add(DONT_FRAGMENT, b'')
        self.send_raw(m.encode(fingerprint=True))

    def send_channel_data(self, channel, payload):
        self.send_raw(encode_channel_data(channel, payload))

    def recv_relayed(self, timeout=2.0):
        """Wait for relayed data from the server. Returns
        ('data', peer_addr, payload) for a Data indication,
        ('channel', channel_number, payload) for ChannelData, or None."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            got = self.recv_raw(left)
            if got is None:
                return None
            data, addr = got
            if tuple(addr) != tuple(self.server):
                continue
            if is_channel_data(data):
                ch, payload = decode_channel_data(data)
                return ('channel', ch, payload)
            try:
                m = Message.decode(data)
            except StunError:
                continue
            if m.method == DATA and m.cls == INDICATION:
                return ('data', m.xor_address(XOR_PEER_ADDRESS), m.get(DATA_ATTR, b''))


class StreamClosed(StunError):
    """The server closed the TCP/TLS connection."""


def stream_frame_length(buf):
    """Bytes the frame at the start of buf occupies on a stream (RFC 8656
    12.5: ChannelData is padded to 4 on TCP/TLS), or None if fewer than 4
    bytes are there. Raises StunError for a first byte that is neither STUN
    nor ChannelData."""
    if len(buf) < 4:
        return None
    length = struct.unpack('!H', bytes(buf[2:4]))[0]
    if buf[0] < 0x40:
        return 20 + length
    if buf[0] < 0x80:
        return 4 + ((length + 3) & ~3)
    raise StunError(f'not STUN or ChannelData: first byte 0x{buf[0]:02x}')


def client_ssl_context(alpn=None, cafile=None):
    """A TLS client context. Without cafile the server certificate is not
    verified (the tests use a self-signed one)."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


class StreamTurnClient(TurnClient):
    """TURN over TCP or TLS (RFC 8656 3.1): one connection = one 5-tuple.
    Same operations as TurnClient; requests are sent once (no retransmission
    on a reliable transport) and the reply is awaited until `timeout`.

        with StreamTurnClient(('127.0.0.1', 3478)) as c:                 # TCP
        with StreamTurnClient(('127.0.0.1', 5349), tls=True, alpn=['stun.turn']) as c:
    """

    def __init__(self, server, local=None, tls=False, ssl_context=None, alpn=None,
                 server_hostname=None, timeout=5.0, connect_timeout=5.0):
        self.server = (server[0], int(server[1]))
        fam = socket.AF_INET6 if ':' in self.server[0] else socket.AF_INET
        raw = socket.socket(fam, socket.SOCK_STREAM)
        try:
            if local is not None:
                raw.bind(local)
            raw.settimeout(connect_timeout)
            raw.connect(self.server)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls:
                ctx = ssl_context or client_ssl_context(alpn=alpn)
                raw = ctx.wrap_socket(raw, server_hostname=server_hostname)
        except BaseException:
            raw.close()
            raise
        self.sock = raw
        self.tls = tls
        self.rto = None
        self.retries = 0
        self.timeout = timeout
        self.username = self.password = self.realm = self.nonce = self.key = None
        self.pending = []
        self.last_challenge = None
        self._buf = bytearray()
        self.eof = False

    @property
    def local_addr(self):
        return self.sock.getsockname()[:2]

    def send_raw(self, data, addr=None):
        self.sock.sendall(data)

    def _read_more(self, timeout):
        """Read once from the stream. False on timeout; raises StreamClosed on EOF/reset."""
        if self.eof:
            raise StreamClosed('connection closed by the server')
        self.sock.settimeout(max(timeout, 0.001))
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError) as e:
            self.eof = True
            raise StreamClosed(f'connection reset: {e}') from e
        except OSError as e:   # ssl.SSLError (e.g. unexpected EOF) is an OSError
            import ssl
            if isinstance(e, (ssl.SSLZeroReturnError, ssl.SSLEOFError, ssl.SSLError)):
                self.eof = True
                raise StreamClosed(f'TLS connection ended: {e}') from e
            raise
        if not chunk:
            self.eof = True
            raise StreamClosed('connection closed by the server')
        self._buf += chunk
        return True

    def recv_raw(self, timeout):
        """Next complete frame (STUN message or ChannelData, without padding)
        as (bytes, server address), or None after timeout."""
        if self.pending:
            return self.pending.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            need = stream_frame_length(self._buf)
            if need is not None and len(self._buf) >= need:
                frame = bytes(self._buf[:need])
                del self._buf[:need]
                if is_channel_data(frame):
                    frame = frame[:4 + struct.unpack('!H', frame[2:4])[0]]
                return frame, self.server
            left = deadline - time.monotonic()
            if left <= 0 or not self._read_more(left):
                return None

    def transact(self, msg, key=None, fingerprint=True):
        self.send_raw(msg.encode(key=key, fingerprint=fingerprint))
        deadline = time.monotonic() + self.timeout
        held = []
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                got = self.recv_raw(left)
                if got is None:
                    break
                data, addr = got
                try:
                    resp = Message.decode(data)
                except StunError:
                    held.append(got)
                    continue
                if resp.tid == msg.tid and resp.cls in (SUCCESS, ERROR):
                    return resp
                held.append(got)
        finally:
            self.pending.extend(held[-1000:])
        raise StunTimeout(f'no response to {METHOD_NAMES.get(msg.method, msg.method)} '
                          f'from {self.server} within {self.timeout}s')

    def send_channel_data(self, channel, payload):
        pad = b'\x00' * _pad4(len(payload))
        self.send_raw(encode_channel_data(channel, payload) + pad)

    def wait_closed(self, timeout):
        """Read (and discard) until the server closes the connection. Returns
        the seconds it took, or None if still open after timeout."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                self._read_more(min(left, 0.5))
            except StreamClosed:
                return time.monotonic() - t0
            except OSError:
                return time.monotonic() - t0
            self._buf.clear()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class UdpPeer:
    """A plain UDP socket acting as a TURN peer."""

    def __init__(self, host='127.0.0.1'):
        fam = socket.AF_INET6 if ':' in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))

    @property
    def addr(self):
        return self.sock.getsockname()[:2]

    def send(self, data, addr):
        self.sock.sendto(data, addr)

    def recv(self, timeout=2.0):
        self.sock.settimeout(timeout)
        try:
            data, addr = self.sock.recvfrom(65535)
            return data, addr[:2]
        except socket.timeout:
            return None

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def wait_binding(addr, timeout=20.0, interval=0.2):
    """Poll a STUN Binding request until a success response arrives.
    Returns True on success, False after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with TurnClient(addr, rto=interval, retries=0, timeout=interval * 2) as c:
                r = c.binding()
                if r.is_success:
                    return True
        except (StunError, OSError):
            pass
        time.sleep(interval)
    return False
