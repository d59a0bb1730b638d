#!/usr/bin/python3
"""Live reload (SIGHUP and POST /api/v1/reload; docs/configuration.md "Live reload").

Checks (each on its own turnpike):

  secret_added_under_load  turnutils_uclient (-y -c, alice) relays while SIGHUP adds a REST secret
                           and a user; the secret's credentials, refused before, allocate after;
                           a uclient run on the new secret relays too; both runs lose nothing;
                           reload_applied names auth.rest_secrets and auth.users; the gauge is 1
  user_removed             POST /api/v1/reload without bob: 200 naming auth.users; bob's new
                           Allocate gets 401, his live allocation's Refresh gets 401; alice allocates
  bad_file                 a YAML syntax error, then limits.max_allocations: 0: each 400 naming
                           the key, a reload_failed line with that key, the gauge 0, and nothing
                           changed (alice allocates, the user added with the bad value does not);
                           a good file then applies and sets the gauge to 1 and a newer timestamp
  restart_key              threads changed beside a new user: 409 naming threads, nothing applied
                           (the new user is refused), gauge 0; the token is required (401)
  log_level                log.level: debug by reload: the reload's own debug line appears; back to
                           info: no more debug lines
  tls_renewed              TURN over TLS and the SFU's wss:// signalling with cert A; a TLS TURN
                           allocation and a joined wss:// WebSocket are held; cert B replaces the
                           files and a new token key is added; after POST /api/v1/reload new
                           connections on both ports present B (subject and serial checked with
                           python ssl), the held allocation refreshes, the held WebSocket answers
                           a ping, and a token signed with the new key joins

Run: python3 test_reload.py [--bin PATH] [--only NAME ...]
"""

import base64
import json
import os
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True   # keep the source tree clean

import pkgroot  # noqa: F401,E402  (puts tests/ on sys.path)

from integration import harness, stunclient  # noqa: E402
from integration.harness import PASSWORD, USER  # noqa: E402
from integration.metrics import metric, scrape  # noqa: E402
from integration.test_transports import check_run  # noqa: E402

ADMIN_TOKEN = 'reload-admin-token'
TOKEN_A = 'token-key-a-0123456789abcdef'
TOKEN_B = 'token-key-b-0123456789abcdef'
ROOM = 'reload-room'
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def base_config(**extra):
    cfg = harness.default_config()
    cfg['admin']['token'] = ADMIN_TOKEN
    return harness.deep_merge(cfg, extra)


def post_reload(srv, token=ADMIN_TOKEN):
    """POST /api/v1/reload: (status, JSON body)."""
    req = urllib.request.Request(srv.admin_url + '/api/v1/reload', data=b'', method='POST')
    if token:
        req.add_header('Authorization', f'Bearer {token}')
    try:
        with _OPENER.open(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b'{}')
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b'{}')


def rewrite(srv, cfg):
    harness.write_config(cfg, srv.config_path)


def wait_for(pred, timeout, interval=0.1):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(interval)


def events_after(srv, n_before, name):
    return srv.log_events(name)[n_before:]


def gauges(srv):
    text = scrape(srv)
    return (metric(text, 'turnpike_config_last_reload_successful'),
            metric(text, 'turnpike_config_last_reload_timestamp_seconds'))


def allocate(srv, user, password):
    with stunclient.TurnClient(srv.listen_addr('udp')) as c:
        r = c.allocate(user, password)
        if r.is_success:
            c.refresh(0)
        return r


def check_secret_added_under_load(args):
    cfg = base_config()
    with harness.Turnpike(cfg, binary=args.bin, name='turnpike-reload-secret') as srv:
        new_user, new_pw = stunclient.rest_credentials('southwind', user='carol')
        r = allocate(srv, new_user, new_pw)
        assert r.is_error and r.error_code == 401, f'before the reload the new secret got {r.describe()}'
        result = {}
        run = threading.Thread(target=lambda: result.update(harness.run_uclient(
            ['-y', '-c', '-m', 4, '-n', 400, '-u', USER, '-w', PASSWORD], timeout=90, server=srv)))
        run.start()
        time.sleep(2.0)
        before = len(srv.log_events('reload_applied'))
        cfg2 = harness.deep_merge(cfg, {'auth': {'rest_secrets': ['southwind', harness.REST_SECRET],
                                                 'users': {USER: PASSWORD, 'dave': 'diver'}}})
        rewrite(srv, cfg2)
        srv.proc.send_signal(signal.SIGHUP)
        applied = wait_for(lambda: events_after(srv, before, 'reload_applied'), 10)
        assert applied, f'no reload_applied within 10 s of SIGHUP: {srv.log_tail(10)}'
        changed = applied[0].get('changed', '')
        assert 'auth.rest_secrets' in changed and 'auth.users' in changed, f'reload_applied: {applied[0]}'
        assert run.is_alive(), 'uclient ended before the reload: nothing was relayed across it'
        r = allocate(srv, new_user, new_pw)
        assert r.is_success, f'the secret added by SIGHUP: {r.describe()}'
        r = allocate(srv, 'dave', 'diver')
        assert r.is_success, f'the user added by SIGHUP: {r.describe()}'
        run.join(120)
        assert result, 'uclient did not finish'
        check_run(result, 1600, 4)
        rest = harness.run_uclient(['-y', '-c', '-m', 2, '-n', 100, '-W', 'southwind', '-u', 'carol'],
                                   timeout=60, server=srv)
        check_run(rest, 200, 2)
        ok, _ = gauges(srv)
        assert ok == 1, f'turnpike_config_last_reload_successful {ok}'
        srv.check_alive()
    return f'uclient {result["sent"]} sent, 0 lost across the reload; the new secret relays'


def check_user_removed(args):
    cfg = base_config(auth={'users': {USER: PASSWORD, 'bob': 'builder'}})
    with harness.Turnpike(cfg, binary=args.bin, name='turnpike-reload-removed') as srv, \
            stunclient.TurnClient(srv.listen_addr('udp')) as held:
        r = held.allocate('bob', 'builder')
        assert r.is_success, f'bob before the reload: {r.describe()}'
        cfg2 = json.loads(json.dumps(cfg))
        cfg2['auth']['users'] = {USER: PASSWORD}
        rewrite(srv, cfg2)
        status, body = post_reload(srv)
        assert status == 200 and body.get('changed') == ['auth.users'], f'reload: {status} {body}'
        r = allocate(srv, 'bob', 'builder')
        assert r.is_error and r.error_code == 401, f'removed user allocates: {r.describe()}'
        r = held.refresh(600)
        assert r.is_error and r.error_code in (401, 441), f'removed user refreshes: {r.describe()}'
        r = allocate(srv, USER, PASSWORD)
        assert r.is_success, f'alice after the reload: {r.describe()}'
    return "bob's Allocate and his live allocation's Refresh get 401; alice allocates"


def expect_bad(srv, text_or_cfg, key, what):
    before = len(srv.log_events('reload_failed'))
    if isinstance(text_or_cfg, str):
        with open(srv.config_path, 'w') as f:
            f.write(text_or_cfg)
    else:
        rewrite(srv, text_or_cfg)
    status, body = post_reload(srv)
    assert status == 400 and body.get('key') == key, f'{what}: {status} {body}, expected 400 naming {key}'
    failed = events_after(srv, before, 'reload_failed')
    assert failed and failed[0].get('key') == key, f'{what}: reload_failed lines {failed}'
    ok, _ = gauges(srv)
    assert ok == 0, f'{what}: turnpike_config_last_reload_successful {ok}'
    r = allocate(srv, USER, PASSWORD)
    assert r.is_success, f'{what}: alice after the bad reload: {r.describe()}'


def check_bad_file(args):
    cfg = base_config()
    with harness.Turnpike(cfg, binary=args.bin, name='turnpike-reload-bad') as srv:
        ok, ts0 = gauges(srv)
        assert ok == 1 and ts0 and ts0 > 1e9, f'gauges at start: {ok} {ts0}'
        expect_bad(srv, 'region: local\nlisten: [ { transport: udp, address: 127.0.0.1\n', '(yaml)', 'syntax error')
        bad = harness.deep_merge(cfg, {'limits': {'max_allocations': 0}, 'auth': {'users': {USER: PASSWORD, 'erin': 'e'}}})
        expect_bad(srv, bad, 'limits.max_allocations', 'bad value')
        r = allocate(srv, 'erin', 'e')
        assert r.is_error and r.error_code == 401, f'a user from the bad file allocates: {r.describe()}'
        _, ts_bad = gauges(srv)
        assert ts_bad == ts0, f'the last-success timestamp moved on failures: {ts0} -> {ts_bad}'
        time.sleep(1.1)
        rewrite(srv, harness.deep_merge(cfg, {'auth': {'users': {USER: PASSWORD, 'erin': 'e'}}}))
        status, body = post_reload(srv)
        assert status == 200, f'good file after bad ones: {status} {body}'
        ok, ts1 = gauges(srv)
        assert ok == 1 and ts1 > ts0, f'gauges after a good reload: {ok} {ts1} (start {ts0})'
        r = allocate(srv, 'erin', 'e')
        assert r.is_success, f'erin after the good reload: {r.describe()}'
    return 'syntax error and bad value: 400 naming the key, gauge 0, nothing changed; then 200'


def check_restart_key(args):
    cfg = base_config()
    with harness.Turnpike(cfg, binary=args.bin, name='turnpike-reload-restart') as srv:
        status, _ = post_reload(srv, token=None)
        assert status == 401, f'reload without the token: {status}'
        before = len(srv.log_events('reload_failed'))
        rewrite(srv, harness.deep_merge(cfg, {'threads': cfg['threads'] + 1,
                                              'auth': {'users': {USER: PASSWORD, 'frank': 'f'}}}))
        status, body = post_reload(srv)
        assert status == 409 and body.get('restart_required') == ['threads'], f'reload: {status} {body}'
        failed = events_after(srv, before, 'reload_failed')
        assert failed and 'threads' in failed[0].get('key', ''), f'reload_failed lines {failed}'
        r = allocate(srv, 'frank', 'f')
        assert r.is_error and r.error_code == 401, f'half-applied: the new user allocates: {r.describe()}'
        ok, _ = gauges(srv)
        assert ok == 0, f'gauge after a refused reload: {ok}'
        srv.proc.send_signal(signal.SIGHUP)   # SIGHUP refuses the same way
        assert wait_for(lambda: len(events_after(srv, before, 'reload_failed')) >= 2, 10), 'SIGHUP: no reload_failed'
    return '409 naming threads; nothing applied; gauge 0'


def check_log_level(args):
    cfg = base_config()
    with harness.Turnpike(cfg, binary=args.bin, name='turnpike-reload-log') as srv:
        def debug_lines():
            return [e for e in srv.log_events() if e.get('level') == 'debug']
        assert not debug_lines(), 'debug lines at log.level info'
        rewrite(srv, harness.deep_merge(cfg, {'log': {'level': 'debug'}}))
        status, body = post_reload(srv)
        assert status == 200 and body.get('changed') == ['log.level'], f'reload: {status} {body}'
        assert wait_for(debug_lines, 5), 'no debug line after log.level: debug'
        n = len(debug_lines())
        rewrite(srv, cfg)
        status, body = post_reload(srv)
        assert status == 200, f'reload back to info: {status} {body}'
        status, body = post_reload(srv)
        assert status == 200 and body.get('changed') == [], f'reload with nothing changed: {status} {body}'
        assert len(debug_lines()) == n, 'debug lines after log.level: info'
    return f'{n} debug line(s) while at debug, none after'


# ---------------------------------------------------------------- TLS

def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def cert_identity(der):
    """(subject CN, serial) of a DER certificate, decoded by python's ssl module."""
    d = tempfile.mkdtemp(prefix='turnpike-it-cert-')
    try:
        path = os.path.join(d, 'c.pem')
        with open(path, 'w') as f:
            f.write(ssl.DER_cert_to_PEM_cert(der))
        info = ssl._ssl._test_decode_cert(path)  # noqa: SLF001 - the stdlib's own decoder
    finally:
        shutil.rmtree(d, ignore_errors=True)
    cn = dict(x[0] for x in info['subject']).get('commonName')
    return cn, info['serialNumber']


def file_identity(path):
    with open(path) as f:
        return cert_identity(ssl.PEM_cert_to_DER_cert(f.read()))


def presented(addr):
    with socket.create_connection(addr, timeout=5) as raw, tls_context().wrap_socket(raw) as s:
        return cert_identity(s.getpeercert(binary_form=True))


class Wss:
    """One held WebSocket (RFC 6455) over TLS: text frames out (masked) and in."""

    def __init__(self, addr):
        raw = socket.create_connection(addr, timeout=5)
        self.s = tls_context().wrap_socket(raw)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f'GET /signal HTTP/1.1\r\nHost: {addr[0]}:{addr[1]}\r\nUpgrade: websocket\r\n'
                        f'Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n').encode())
        self.buf = b''
        while b'\r\n\r\n' not in self.buf:
            chunk = self.s.recv(4096)
            assert chunk, 'closed during the upgrade'
            self.buf += chunk
        head, self.buf = self.buf.split(b'\r\n\r\n', 1)
        assert head.startswith(b'HTTP/1.1 101'), f'upgrade refused: {head[:60]!r}'
        self.cert = cert_identity(self.s.getpeercert(binary_form=True))

    def send(self, obj):
        body = json.dumps(obj).encode()
        mask = os.urandom(4)
        n = len(body)
        length = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, 'big')
        self.s.sendall(bytes([0x81]) + length + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(body)))

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError('the server closed the WebSocket')
            self.buf += chunk

    def recv(self):
        """The next text frame's JSON (other frames skipped)."""
        while True:
            self._need(2)
            op, n = self.buf[0] & 0x0F, self.buf[1] & 0x7F
            at = 2
            if n == 126:
                self._need(4)
                n, at = int.from_bytes(self.buf[2:4], 'big'), 4
            elif n == 127:
                self._need(10)
                n, at = int.from_bytes(self.buf[2:10], 'big'), 10
            self._need(at + n)
            payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
            if op == 0x8:
                raise ConnectionError(f'close frame: {payload!r}')
            if op == 0x1:
                return json.loads(payload)

    def until(self, kind):
        for _ in range(50):
            m = self.recv()
            if m.get('type') == kind:
                return m
        raise AssertionError(f'no {kind} message')

    def close(self):
        self.s.close()


def join_token(key, identity, region):
    now = int(time.time())
    return harness.hs256_token({'room': ROOM, 'identity': identity, 'region': region, 'iat': now,
                                'exp': now + 600, 'publish': True, 'subscribe': True}, key)


def tls_config(cert, key):
    cfg = base_config()
    harness.add_listeners(cfg, tls=(cert, key))
    cfg['sfu'] = {'signal_listen': f'127.0.0.1:{harness.free_port("tcp")}',
                  'media_listen': f'127.0.0.1:{harness.free_port("udp")}',
                  'signal_tls': True, 'token_keys': [TOKEN_A]}
    return cfg


def check_tls_renewed(args):
    d = tempfile.mkdtemp(prefix='turnpike-it-reload-tls-')
    try:
        cert, key = harness.make_cert(d, cn='reload-cert-a', name='server')
        id_a = file_identity(cert)
        cfg = tls_config(cert, key)
        with harness.Turnpike(cfg, binary=args.bin, name='turnpike-reload-tls') as srv:
            tls_addr = srv.listen_addr('tls')
            host, port = cfg['sfu']['signal_listen'].rsplit(':', 1)
            sig_addr = (host, int(port))
            held = stunclient.StreamTurnClient(tls_addr, tls=True, alpn=['stun.turn'])
            ws = Wss(sig_addr)
            try:
                assert cert_identity(held.sock.getpeercert(binary_form=True)) == id_a, 'TURN TLS: not cert A'
                assert ws.cert == id_a, 'wss: not cert A'
                r = held.allocate(USER, PASSWORD)
                assert r.is_success, f'Allocate over TLS: {r.describe()}'
                ws.send({'type': 'join', 'token': join_token(TOKEN_A, 'held', cfg['region'])})
                ws.until('joined')

                b_cert, b_key = harness.make_cert(os.path.join(d, 'b'), cn='reload-cert-b', name='next')
                id_b = file_identity(b_cert)
                assert id_b != id_a
                os.replace(b_key, key)
                os.replace(b_cert, cert)
                rewrite(srv, harness.deep_merge(cfg, {'sfu': {'token_keys': [TOKEN_B, TOKEN_A]}}))
                status, body = post_reload(srv)
                assert status == 200 and body.get('tls_reloaded') is True and 'sfu.token_keys' in body.get('changed', []), \
                    f'reload: {status} {body}'

                assert presented(tls_addr) == id_b, 'a new TURN TLS connection does not present cert B'
                assert wait_for(lambda: presented(sig_addr) == id_b, 5), 'a new wss connection does not present cert B'
                r = held.refresh(600)
                assert r.is_success, f'Refresh on the pre-reload TLS connection: {r.describe()}'
                ws.send({'type': 'ping'})
                assert ws.until('pong') == {'type': 'pong'}
                fresh = Wss(sig_addr)
                try:
                    assert fresh.cert == id_b
                    fresh.send({'type': 'join', 'token': join_token(TOKEN_B, 'new-key', cfg['region'])})
                    fresh.until('joined')
                finally:
                    fresh.close()
            finally:
                held.close()
                ws.close()
        return f'TURN TLS and wss:// present {id_b[0]} (serial {id_b[1]}); held connections live on'
    finally:
        shutil.rmtree(d, ignore_errors=True)


CHECKS = {
    'secret_added_under_load': check_secret_added_under_load,
    'user_removed': check_user_removed,
    'bad_file': check_bad_file,
    'restart_key': check_restart_key,
    'log_level': check_log_level,
    'tls_renewed': check_tls_renewed,
}


def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    ap.add_argument('--only', nargs='*', choices=sorted(CHECKS))
    args = ap.parse_args()
    tr = harness.TestRunner('reload')
    for name in args.only or CHECKS:
        tr.run(name, CHECKS[name], args)
    return tr.finish()


if __name__ == '__main__':
    sys.exit(main())
