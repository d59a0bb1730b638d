"""Integration-test harness for Turnpike (and, for comparison, coturn's turnserver).

Stdlib only. Everything listens on loopback; every wait is bounded.

    from harness import Turnpike, Coturn, default_config, run_uclient, start_server

    cfg = default_config(peers={'allow': [], 'deny': []})
    with Turnpike(cfg) as srv:            # or Coturn(cfg, auth='lt')
        host, port = srv.turn_addr
        ...

Environment:
    TURNPIKE_BIN         turnpike binary (default <repo>/build/bin/turnpike)
    TURNSERVER_BIN       coturn turnserver binary (default /usr/bin/turnserver)
    TURNUTILS_UCLIENT    coturn turnutils_uclient (default /usr/bin/turnutils_uclient)
    TURNPIKE_TEST_SERVER default for the --server option of the test scripts
                         (turnpike | turnserver; default turnpike)
    TURNPIKE_KEEP_TMP    if set to 1, server temp dirs (config, logs) are kept

TCP/TLS/IPv6 (test_transports.py): make_cert() writes a self-signed PEM pair with
the openssl CLI; add_listeners() adds tcp/tls/IPv6 listeners with fresh ports;
srv.listen_addr('tls') gives a listener's (host, port); Coturn maps them to
--listening-port / --tls-listening-port / --cert / --pkey.
"""

import argparse
import atexit
import base64
import copy
import hashlib
import hmac
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]          # tests/integration -> tests -> repo

from integration import stunclient  # noqa: E402

DEFAULT_TURNPIKE_BIN = REPO_ROOT / 'build' / 'bin' / 'turnpike'
DEFAULT_TURNSERVER_BIN = '/usr/bin/turnserver'
DEFAULT_UCLIENT_BIN = '/usr/bin/turnutils_uclient'

REALM = 'turnpike.test'
USER = 'alice'
PASSWORD = 'wonderland'
REST_SECRET = 'northwind'
TOKEN_KEY = 'turnpike-test-token-key-0123456789'   # sfu.token_keys of the SFU tests' configs

# Never let a proxy configured in the environment see loopback test traffic.
for _v in ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'):
    os.environ.pop(_v, None)
os.environ['no_proxy'] = os.environ['NO_PROXY'] = '127.0.0.1,localhost,::1'

_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def hs256_token(claims, key):
    """An SFU join token: a JWT (RFC 7519) signed HS256, built independently of the server's code
    (test_sfu.py, test_residency.py)."""
    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b'=').decode()
    head = b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(key.encode(), f'{head}.{body}'.encode(), hashlib.sha256).digest()
    return f'{head}.{body}.{b64(sig)}'


# ---------------------------------------------------------------- child process bookkeeping

_children = {}   # pid -> Popen


def _register(proc):
    _children[proc.pid] = proc


def _unregister(proc):
    _children.pop(proc.pid, None)


def kill_tree(proc, sig=signal.SIGKILL):
    """Signal the process group of a child started with start_new_session=True
    (its pid is the group id). Also used right after the leader exited, to reach
    descendants left in the group (a group id is not reused while it has members)."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass


def reap(proc, timeout=5.0):
    """Kill what is left of a child's process group, wait for the child (bounded) and forget it:
    the end of every helper process a test started (Prometheus, uclient, chromedriver)."""
    kill_tree(proc, signal.SIGKILL)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    _unregister(proc)


def _kill_all_children():
    for proc in list(_children.values()):
        kill_tree(proc, signal.SIGKILL)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    _children.clear()


atexit.register(_kill_all_children)


_signalled = []


def _on_signal(signum, frame):
    """First SIGTERM/SIGHUP: unwind normally (with-blocks and finally clauses stop
    servers and browsers). A second one: kill every child now and exit."""
    if not _signalled:
        _signalled.append(signum)
        raise SystemExit(128 + signum)
    _kill_all_children()
    os._exit(128 + signum)


for _s in (signal.SIGTERM, signal.SIGHUP):
    try:
        signal.signal(_s, _on_signal)
    except (ValueError, OSError):   # not main thread / unsupported
        pass


# ---------------------------------------------------------------- ports

def free_port(kind='udp', host='127.0.0.1', also=None):
    """Return a port number currently free on host for kind ('udp'|'tcp').
    also: additionally require the same number free for the other kind
    ('tcp'/'udp'). The port is released before returning (small race window
    is accepted; tests pick a new one per server)."""
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    kinds = [kind] + ([also] if also and also != kind else [])
    for _ in range(200):
        stype = socket.SOCK_DGRAM if kind == 'udp' else socket.SOCK_STREAM
        with socket.socket(fam, stype) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if all(_port_free(k, host, port) for k in kinds):
            return port
    raise RuntimeError(f'no free {kind} port on {host}')


def _port_free(kind, host, port):
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    stype = socket.SOCK_DGRAM if kind == 'udp' else socket.SOCK_STREAM
    s = socket.socket(fam, stype)
    try:
        if stype == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def relay_port_range(size=1000, host='127.0.0.1'):
    """A random block of relay ports below the kernel's ephemeral range
    (32768+ on Linux), so that concurrent servers/tests rarely overlap with
    each other or with client sockets."""
    lo_bound, hi_bound = 10000, 32000
    try:
        eph_lo = int(open('/proc/sys/net/ipv4/ip_local_port_range').read().split()[0])
        hi_bound = min(hi_bound, eph_lo)
    except (OSError, ValueError, IndexError):
        pass
    blocks = max(1, (hi_bound - lo_bound) // size)
    for _ in range(50):
        start = lo_bound + random.randrange(blocks) * size
        end = start + size - 1
        if _port_free('udp', host, start) and _port_free('udp', host, end):
            return [start, end]
    return [start, end]


# ---------------------------------------------------------------- config

DEFAULT_CONFIG = {
    'region': 'local',
    'listen': [{'transport': 'udp', 'address': '127.0.0.1', 'port': 3478}],
    'relay': {'addresses': ['127.0.0.1'], 'port_range': [49152, 65535]},
    'auth': {'realm': REALM, 'users': {USER: PASSWORD}, 'rest_secrets': [REST_SECRET]},
    'peers': {'allow': ['127.0.0.0/8'], 'deny': []},
    'admin': {'listen': '127.0.0.1:9641'},
    'threads': 2,
    'log': {'level': 'info', 'format': 'json'},
}


def wait_for(what, fn, timeout, interval=0.5):
    """Polls fn() every `interval` seconds until it returns something true, and returns that;
    AssertionError naming `what` (and the last value) after `timeout` seconds."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f'{what}: not within {timeout:g}s (last: {last})')


def deep_merge(base, overrides):
    """Return base updated recursively by overrides (dicts merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for k, v in (overrides or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def default_config(overrides=None, **kw):
    """The contract config with fresh loopback ports (TURN listen port, admin
    port, relay port block), deep-merged with overrides / keyword overrides.
    Example: default_config(peers={'allow': [], 'deny': []})."""
    cfg = copy.deepcopy(DEFAULT_CONFIG)
    cfg['listen'][0]['port'] = free_port('udp', also='tcp')
    cfg['admin']['listen'] = f'127.0.0.1:{free_port("tcp")}'
    cfg['relay']['port_range'] = relay_port_range()
    cfg = deep_merge(cfg, overrides or {})
    return deep_merge(cfg, kw)


def write_config(cfg, path):
    """Write cfg as YAML. JSON is a subset of YAML 1.2, so json.dump is a safe
    YAML writer (quoted strings, no surprises like `no` -> false)."""
    with open(path, 'w') as f:
        json.dump(cfg, f, indent=2)
        f.write('\n')


def add_listeners(cfg, tcp=False, tls=None, ipv6=False, ipv6_tcp=None, ipv6_relay=None):
    """Add listeners to cfg in place (and return it), with fresh ports:
    tcp=True: TCP on 127.0.0.1 at the same port number as the first UDP listener
    (as coturn does); tls=(cert, key): a TLS listener on 127.0.0.1 (own port)
    and the `tls:` section; ipv6=True: UDP on ::1 (and TCP on ::1 unless
    ipv6_tcp=False), with ::1 added to relay.addresses (unless ipv6_relay=False)
    and to peers.allow."""
    udp = [l for l in cfg['listen'] if l.get('transport', 'udp') == 'udp']
    if tcp:
        port = int(udp[0]['port'])
        if not _port_free('tcp', udp[0]['address'], port):
            port = free_port('udp', also='tcp')
            udp[0]['port'] = port
        cfg['listen'].append({'transport': 'tcp', 'address': udp[0]['address'], 'port': port})
    if tls:
        cfg['listen'].append({'transport': 'tls', 'address': '127.0.0.1', 'port': free_port('tcp')})
        cfg['tls'] = {'cert': str(tls[0]), 'key': str(tls[1])}
    if ipv6:
        # The same port number as the IPv4 listener when free (coturn needs that).
        p6 = int(udp[0]['port'])
        if not (_port_free('udp', '::1', p6) and _port_free('tcp', '::1', p6)):
            p6 = free_port('udp', host='::1', also='tcp')
        cfg['listen'].append({'transport': 'udp', 'address': '::1', 'port': p6})
        if ipv6_tcp is not False:
            cfg['listen'].append({'transport': 'tcp', 'address': '::1', 'port': p6})
        if ipv6_relay is not False and '::1' not in cfg['relay']['addresses']:
            cfg['relay']['addresses'] = list(cfg['relay']['addresses']) + ['::1']
        allow = list((cfg.get('peers') or {}).get('allow') or [])
        if '::1/128' not in allow:
            cfg.setdefault('peers', {})['allow'] = allow + ['::1/128']
    return cfg


def make_cert(directory, cn='turnpike.test', name='cert', days=2):
    """Write a self-signed certificate and key (EC P-256, SAN localhost,
    127.0.0.1, ::1) with the openssl CLI. Returns (cert_path, key_path)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f'{name}.pem', directory / f'{name}.key'
    cmd = ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
           '-nodes', '-keyout', str(key), '-out', str(cert), '-days', str(days), '-subj', f'/CN={cn}',
           '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1']
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f'openssl req failed ({r.returncode}): {r.stdout.decode(errors="replace")}')
    return str(cert), str(key)


def make_ca_cert(directory, names=(), ips=(), days=2):
    """A lab CA and a server certificate it issues (EC P-256) for the DNS `names` and `ips`, with
    the openssl CLI: for clients that verify a name against a trusted CA rather than pin a key (Firefox
    over TURN/TLS). Returns (ca_path, cert_path, key_path)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ca, ca_key, cert, key, csr, ext = (d / n for n in ('ca.pem', 'ca.key', 'server.pem', 'server.key', 'server.csr',
                                                        'server.ext'))
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
    san = ','.join([f'DNS:{n}' for n in names] + [f'IP:{i}' for i in ips])
    ext.write_text(f'subjectAltName={san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n')
    for cmd in (['openssl', 'req', '-x509', *ec, '-keyout', str(ca_key), '-out', str(ca), '-days', str(days),
                 '-subj', '/CN=Turnpike lab CA', '-addext', 'basicConstraints=critical,CA:TRUE',
                 '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
                ['openssl', 'req', *ec, '-keyout', str(key), '-out', str(csr), '-subj', f'/CN={(list(names) or ["lab"])[0]}'],
                ['openssl', 'x509', '-req', '-in', str(csr), '-CA', str(ca), '-CAkey', str(ca_key), '-CAcreateserial',
                 '-out', str(cert), '-days', str(days), '-extfile', str(ext)]):
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f'{cmd[1]} failed ({r.returncode}): {r.stdout.decode(errors="replace")}')
    return str(ca), str(cert), str(key)


def _split_hostport(s):
    s = str(s).strip()
    if s.startswith('['):
        host, _, port = s[1:].partition(']:')
        return host, int(port)
    host, _, port = s.rpartition(':')
    return host, int(port)


# ---------------------------------------------------------------- servers

class ServerError(RuntimeError):
    pass


class _Server:
    kind = 'abstract'
    stop_signal = signal.SIGTERM   # what stop() sends
    supports_mixed_auth = True     # long-term users and REST secrets at the same time

    def __init__(self, config=None, ready_timeout=20.0, stop_timeout=10.0, name=None):
        self.config = copy.deepcopy(config) if config is not None else default_config()
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.name = name or self.kind
        self.tmpdir = None
        self.log_path = None
        self.proc = None
        self._logf = None
        self.returncode = None
        udp = [l for l in self.config['listen'] if l.get('transport', 'udp') == 'udp']
        if not udp:
            raise ValueError('config has no udp listener')
        self.turn_addr = (udp[0]['address'], int(udp[0]['port']))

    # -- to implement
    def command(self):
        raise NotImplementedError

    def wait_ready(self):
        raise NotImplementedError

    def acceptable_exit(self, rc):
        return rc == 0

    # -- common
    def log_tail(self, lines=80):
        if not self.log_path or not os.path.exists(self.log_path):
            return '(no log)'
        try:
            with open(self.log_path, 'rb') as f:
                data = f.read()[-200000:].decode('utf-8', 'replace')
        except OSError as e:
            return f'(cannot read log: {e})'
        return '\n'.join(data.splitlines()[-lines:])

    def extra_logs(self):
        return []

    def listen_addr(self, transport='udp', family=4):
        """(host, port) of the first listener of that transport ('udp', 'tcp',
        'tls') and family (4 or 6). Raises KeyError if there is none."""
        for l in self.config['listen']:
            if l.get('transport', 'udp') != transport:
                continue
            if (':' in l['address']) == (family == 6):
                return (l['address'], int(l['port']))
        raise KeyError(f'no {transport} IPv{family} listener in the config')

    def log_text(self):
        """The whole server log(s) as text (for log-line assertions)."""
        out = []
        for path in [self.log_path] + self.extra_logs():
            if path and os.path.exists(path):
                with open(path, 'rb') as f:
                    out.append(f.read().decode('utf-8', 'replace'))
        return '\n'.join(out)

    def log_events(self, event=None):
        """Turnpike's JSON log lines (dicts), optionally only those whose
        'event' or 'msg' equals event. Non-JSON lines are skipped."""
        res = []
        for ln in self.log_text().splitlines():
            ln = ln.strip()
            if not ln.startswith('{'):
                continue
            try:
                d = json.loads(ln)
            except ValueError:
                continue
            if event is None or event in (d.get('event'), d.get('msg'), d.get('message')):
                res.append(d)
        return res

    def print_logs(self, why, lines=80):
        out = [f'----- {self.name} log tail ({why}); {self.log_path} -----', self.log_tail(lines)]
        for path in self.extra_logs():
            if os.path.exists(path):
                with open(path, 'rb') as f:
                    txt = f.read()[-100000:].decode('utf-8', 'replace')
                out += [f'----- {path} -----', '\n'.join(txt.splitlines()[-lines:])]
        out.append(f'----- end of {self.name} log -----')
        print('\n'.join(out), file=sys.stderr, flush=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        self.tmpdir = tempfile.mkdtemp(prefix=f'turnpike-it-{self.kind}-')
        self.log_path = os.path.join(self.tmpdir, 'server.log')
        try:
            cmd = self.command()
        except BaseException:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            raise
        self._logf = open(self.log_path, 'wb')
        self._logf.write(('$ ' + ' '.join(cmd) + '\n').encode())
        self._logf.flush()
        try:
            self.proc = subprocess.Popen(cmd, stdout=self._logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.tmpdir,
                                         start_new_session=True)
        except OSError as e:
            self._logf.close()
            raise ServerError(f'cannot start {self.name}: {cmd[0]}: {e}') from e
        _register(self.proc)
        try:
            self.wait_ready()
        except BaseException:
            self.print_logs('not ready')
            self._force_stop()
            raise
        return self

    def stop(self):
        """stop_signal, wait stop_timeout, check exit code. Raises ServerError."""
        if self.proc is None:
            return
        try:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                raise ServerError(f'{self.name} had already exited (code {self.returncode}) '
                                  'before the test finished')
            self.proc.send_signal(self.stop_signal)
            sig = signal.Signals(self.stop_signal).name
            try:
                self.returncode = self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                kill_tree(self.proc, signal.SIGKILL)
                self.proc.wait(timeout=5)
                raise ServerError(f'{self.name} did not exit within {self.stop_timeout}s of '
                                  f'{sig} (killed)')
            if not self.acceptable_exit(self.returncode):
                raise ServerError(f'{self.name} exited with code {self.returncode} after {sig} '
                                  '(expected 0)')
        except ServerError:
            self.print_logs('stop failure')
            raise
        finally:
            self._force_stop()

    def _force_stop(self):
        if self.proc is not None:
            kill_tree(self.proc, signal.SIGKILL)   # leftover children of the group too
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            _unregister(self.proc)
        if self._logf and not self._logf.closed:
            self._logf.close()

    def cleanup(self):
        if self.tmpdir and os.environ.get('TURNPIKE_KEEP_TMP') != '1':
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self.stop()
        except ServerError:
            if exc_type is None:
                raise
            traceback.print_exc()
        finally:
            if exc_type is None:
                self.cleanup()
            elif self.tmpdir:
                print(f'({self.name} temp dir kept: {self.tmpdir})', file=sys.stderr)
        return False

    def check_alive(self):
        if not self.alive():
            self.print_logs('died')
            raise ServerError(f'{self.name} is not running (exit code '
                              f'{self.proc.poll() if self.proc else None})')

    def __repr__(self):
        return f'<{self.name} turn={self.turn_addr}>'


class Turnpike(_Server):
    """Runs `turnpike --config <tmp>/config.yaml`; ready when admin /healthz is 200. stop() sends
    SIGINT, which stops at once (SIGTERM drains: test_drain.py)."""
    kind = 'turnpike'
    stop_signal = signal.SIGINT

    def __init__(self, config=None, binary=None, **kw):
        super().__init__(config, **kw)
        self.binary = str(binary or os.environ.get('TURNPIKE_BIN') or DEFAULT_TURNPIKE_BIN)
        self.admin_addr = _split_hostport(self.config['admin']['listen'])
        self.config_path = None

    @property
    def admin_url(self):
        host, port = self.admin_addr
        if ':' in host:
            host = f'[{host}]'
        return f'http://{host}:{port}'

    def command(self):
        if not os.path.exists(self.binary):
            raise ServerError(f'turnpike binary not found: {self.binary} '
                              '(build it, or set TURNPIKE_BIN)')
        self.config_path = os.path.join(self.tmpdir, 'config.yaml')
        write_config(self.config, self.config_path)
        return [self.binary, '--config', self.config_path]

    def http_get(self, path, timeout=2.0):
        """GET on the admin listener. Returns (status, body bytes)."""
        try:
            with _NO_PROXY_OPENER.open(self.admin_url + path, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def wait_ready(self):
        deadline = time.monotonic() + self.ready_timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f'turnpike exited during startup with code '
                                  f'{self.proc.returncode}')
            try:
                status, _ = self.http_get('/healthz', timeout=1.0)
                if status == 200:
                    return
                last = f'HTTP {status}'
            except (OSError, urllib.error.URLError) as e:
                last = repr(e)
            time.sleep(0.1)
        raise ServerError(f'turnpike not ready after {self.ready_timeout}s '
                          f'({self.admin_url}/healthz: {last})')


# Turnpike's peer policy (turn/peer_policy.*): a peer is refused if it is in
# peers.deny; otherwise allowed if in peers.allow; otherwise refused if in this
# built-in list (loopback, private, link-local, multicast, reserved, ...);
# otherwise allowed. Turnpike rejects configs where allow and deny overlap.
PEER_BUILTIN_DENY = [
    '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12',
    '192.0.0.0/24', '192.168.0.0/16', '198.18.0.0/15', '224.0.0.0/4', '240.0.0.0/4',
    '::/128', '::1/128', 'fe80::/10', 'fc00::/7', 'ff00::/8', 'fec0::/10',
]


def _coturn_range(net):
    net = ipaddress.ip_network(net, strict=False)
    if net.num_addresses == 1:
        return str(net.network_address)
    return f'{net.network_address}-{net.broadcast_address}'


def coturn_peer_args(peers):
    """turnserver flags emulating Turnpike's peer policy. In coturn an
    --allowed-peer-ip overrides any --denied-peer-ip, and loopback peers need
    --allow-loopback-peers first; since Turnpike forbids allow/deny overlap,
    the result is the same decision for every address."""
    allow = [ipaddress.ip_network(n, strict=False) for n in peers.get('allow') or []]
    deny = [ipaddress.ip_network(n, strict=False) for n in peers.get('deny') or []]
    loopback = [ipaddress.ip_network('127.0.0.0/8'), ipaddress.ip_network('::1/128')]
    args = []
    if any(a.version == l.version and a.overlaps(l) for a in allow for l in loopback):
        args.append('--allow-loopback-peers')
    for n in PEER_BUILTIN_DENY + deny:
        net = ipaddress.ip_network(n, strict=False)
        if net.num_addresses == 1 and net.network_address.is_unspecified:
            continue   # coturn reads a lone '::' as "everything"; it refuses '::' peers anyway
        args += ['--denied-peer-ip', _coturn_range(net)]
    for n in allow:
        args += ['--allowed-peer-ip', _coturn_range(n)]
    return args


class Coturn(_Server):
    """coturn's turnserver with settings equivalent to the Turnpike config.

    coturn cannot mix the long-term users and the REST shared secret in one
    process (the secret overrides users), so choose auth='lt' (users from
    config.auth.users) or auth='rest' (secrets from config.auth.rest_secrets).
    """
    kind = 'turnserver'
    supports_mixed_auth = False

    def __init__(self, config=None, auth='lt', binary=None, extra_args=(), verbose=False, **kw):
        super().__init__(config, **kw)
        if auth not in ('lt', 'rest'):
            raise ValueError("auth must be 'lt' or 'rest'")
        self.auth = auth
        self.binary = str(binary or os.environ.get('TURNSERVER_BIN') or DEFAULT_TURNSERVER_BIN)
        self.extra_args = list(extra_args)
        self.verbose = verbose
        self.name = f'turnserver[{auth}]'

    def extra_logs(self):
        return [os.path.join(self.tmpdir, 'turnserver.log')] if self.tmpdir else []

    def command(self):
        c = self.config
        kinds = {l.get('transport', 'udp') for l in c['listen']}
        # coturn serves UDP and TCP on --listening-port and TLS (and DTLS) on
        # --tls-listening-port, on every --listening-ip: the config must use one
        # port number for udp/tcp and one for tls.
        cmd = [self.binary, '-n',                      # no config file
               '--no-dtls', '--no-cli', '--no-tcp-relay',
               '--no-multicast-peers', '--simple-log',
               '--log-file', os.path.join(self.tmpdir, 'turnserver.log'),
               '--pidfile', os.path.join(self.tmpdir, 'turnserver.pid'),
               '--userdb', os.path.join(self.tmpdir, 'turndb'),
               '--realm', c['auth']['realm']]
        if 'tcp' not in kinds:
            cmd.append('--no-tcp')
        if 'tls' not in kinds:
            cmd.append('--no-tls')
        udp = [l for l in c['listen'] if l.get('transport', 'udp') == 'udp']
        addrs = []
        for l in c['listen']:
            if l['address'] not in addrs:
                addrs.append(l['address'])
        for a in addrs:
            cmd += ['--listening-ip', a]
        plain_ports = {int(l['port']) for l in c['listen'] if l.get('transport', 'udp') in ('udp', 'tcp')}
        tls_ports = {int(l['port']) for l in c['listen'] if l.get('transport') == 'tls'}
        if len(plain_ports) > 1 or len(tls_ports) > 1:
            raise ServerError(f'coturn needs one udp/tcp port and one tls port: {plain_ports} {tls_ports}')
        cmd += ['--listening-port', str(udp[0]['port'])]
        if tls_ports:
            tls = c.get('tls') or {}
            cmd += ['--tls-listening-port', str(tls_ports.pop()),
                    '--cert', tls['cert'], '--pkey', tls['key']]
        for a in c['relay']['addresses']:
            cmd += ['--relay-ip', a]
        lo, hi = c['relay']['port_range']
        cmd += ['--min-port', str(lo), '--max-port', str(hi)]
        if c.get('threads'):
            cmd += ['--relay-threads', str(c['threads'])]
        if self.auth == 'lt':
            cmd += ['--lt-cred-mech']
            for u, p in (c['auth'].get('users') or {}).items():
                cmd += ['--user', f'{u}:{p}']
        else:
            cmd += ['--use-auth-secret']
            for s in c['auth'].get('rest_secrets') or []:
                cmd += ['--static-auth-secret', s]
        cmd += coturn_peer_args(c.get('peers') or {})
        if self.verbose:
            cmd += ['--verbose']
        return cmd + self.extra_args

    def wait_ready(self):
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f'turnserver exited during startup with code '
                                  f'{self.proc.returncode}')
            if stunclient.wait_binding(self.turn_addr, timeout=min(1.0, deadline - time.monotonic()),
                                       interval=0.1):
                return
        raise ServerError(f'turnserver not answering STUN Binding on {self.turn_addr} after '
                          f'{self.ready_timeout}s')

    def acceptable_exit(self, rc):
        # turnserver has no SIGTERM handler: it dies by the signal.
        return rc in (0, -signal.SIGTERM)


SERVER_KINDS = ('turnpike', 'turnserver')


def start_server(kind, config=None, auth='lt', **kw):
    """Return an (unstarted) server context manager of the given kind.
    auth only matters for turnserver (see Coturn)."""
    if kind == 'turnpike':
        return Turnpike(config, **kw)
    if kind in ('turnserver', 'coturn'):
        return Coturn(config, auth=auth, **kw)
    raise ValueError(f'unknown server kind {kind!r}')


# ---------------------------------------------------------------- turnutils_uclient

_UC_PATTERNS = {
    'connect_time': re.compile(r'Total connect time is (\d+)'),
    'sent_received': re.compile(r'start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$', re.M),
    'bytes': re.compile(r'start_mclient: tot_send_bytes ~ (\d+), tot_recv_bytes ~ (\d+)\s*$', re.M),
    'transmit_time': re.compile(r'Total transmit time is (\d+)'),
    'lost': re.compile(r'Total lost packets (\d+) \(([-\w.+]+)%\), total send dropped (\d+) '
                       r'\(([-\w.+]+)%\)'),
    'rtt': re.compile(r'Average round trip delay ([-\w.+]+) ms; min = (\d+) ms, max = (\d+) ms'),
    'jitter': re.compile(r'Average jitter ([-\w.+]+) ms; min = (\d+) ms, max = (\d+) ms'),
    'progress': re.compile(r'start_mclient: msz=(\d+), tot_send_msgs=(\d+), tot_recv_msgs=(\d+)'),
}


def _num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def parse_uclient_output(text):
    """Parse turnutils_uclient's (coturn 4.6) final summary, e.g.:

        8: : start_mclient: tot_send_msgs=2000, tot_recv_msgs=2000
        8: : start_mclient: tot_send_bytes ~ 200000, tot_recv_bytes ~ 200000
        8: : Total transmit time is 8
        8: : Total lost packets 0 (0.000000%), total send dropped 0 (0.000000%)
        8: : Average round trip delay 0.000000 ms; min = 0 ms, max = 0 ms
        8: : Average jitter 1.247000 ms; min = 0 ms, max = 7 ms

    Lines are prefixed with '<elapsed seconds>: : '. The last occurrence of
    each line wins. Missing values are None; 'complete' says whether the
    send/recv totals and the loss line were found."""
    r = {k: None for k in ('sent', 'received', 'send_bytes', 'recv_bytes', 'lost', 'lost_pct',
                           'send_dropped', 'send_dropped_pct', 'connect_time', 'transmit_time',
                           'rtt_avg_ms', 'rtt_min_ms', 'rtt_max_ms', 'jitter_avg_ms',
                           'jitter_min_ms', 'jitter_max_ms', 'sessions')}

    def last(name):
        ms = list(_UC_PATTERNS[name].finditer(text))
        return ms[-1] if ms else None

    m = last('sent_received')
    if m:
        r['sent'], r['received'] = int(m.group(1)), int(m.group(2))
    m = last('bytes')
    if m:
        r['send_bytes'], r['recv_bytes'] = int(m.group(1)), int(m.group(2))
    m = last('connect_time')
    if m:
        r['connect_time'] = int(m.group(1))
    m = last('transmit_time')
    if m:
        r['transmit_time'] = int(m.group(1))
    m = last('lost')
    if m:
        r['lost'], r['lost_pct'] = int(m.group(1)), _num(m.group(2))
        r['send_dropped'], r['send_dropped_pct'] = int(m.group(3)), _num(m.group(4))
    m = last('rtt')
    if m:
        r['rtt_avg_ms'], r['rtt_min_ms'], r['rtt_max_ms'] = _num(m.group(1)), int(m.group(2)), int(m.group(3))
    m = last('jitter')
    if m:
        r['jitter_avg_ms'], r['jitter_min_ms'], r['jitter_max_ms'] = (
            _num(m.group(1)), int(m.group(2)), int(m.group(3)))
    ms = list(_UC_PATTERNS['progress'].finditer(text))
    if ms:
        r['sessions'] = max(int(x.group(1)) for x in ms)
    r['errors'] = [ln.split(': : ', 1)[-1].strip() for ln in text.splitlines()
                   if 'ERROR' in ln or 'error' in ln.split(': : ', 1)[-1][:40]]
    r['complete'] = r['sent'] is not None and r['lost'] is not None
    return r


def run_uclient(args, timeout=90.0, binary=None, server=None):
    """Run turnutils_uclient with args (list; the server address and -p port
    are appended from `server` (a started server object or (host, port)) if
    given) and parse its summary. Returns a dict with the parsed numbers plus
    'returncode', 'timed_out', 'duration', 'cmd', 'output'. Never raises on
    failure of the client itself; the process group is killed on timeout."""
    binary = binary or os.environ.get('TURNUTILS_UCLIENT') or DEFAULT_UCLIENT_BIN
    cmd = [binary] + [str(a) for a in args]
    if server is not None:
        host, port = server.turn_addr if hasattr(server, 'turn_addr') else server
        cmd += ['-p', str(port), host]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    _register(proc)
    timed_out = False
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_tree(proc, signal.SIGKILL)
        try:
            out, _ = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            out = b''
    finally:
        kill_tree(proc, signal.SIGKILL)
        _unregister(proc)
    text = (out or b'').decode('utf-8', 'replace')
    res = parse_uclient_output(text)
    res.update(returncode=proc.returncode, timed_out=timed_out,
               duration=round(time.monotonic() - t0, 2), cmd=cmd, output=text)
    return res


def uclient_tail(res, lines=25):
    return '\n'.join(res.get('output', '').splitlines()[-lines:])


# ---------------------------------------------------------------- tiny test runner

def lab_binaries(args, available):
    """turnpike and turnpike-diag for a test in the network lab (tests/netlab/): (binary, diag_bin),
    or (None, exit code) after printing SKIP (`available`, netlab.available()'s answer, says no) or
    FAIL (turnpike-diag is not built)."""
    binary = args.bin or os.environ.get('TURNPIKE_BIN') or str(DEFAULT_TURNPIKE_BIN)
    diag_bin = str(Path(binary).parent / 'turnpike-diag')
    ok, why = available
    if not ok:
        print(f'SKIP: {why}')
        return None, 0
    if not os.path.exists(diag_bin):
        print(f'FAIL: {diag_bin} not built')
        return None, 1
    return binary, diag_bin


class TestRunner:
    """Runs named test functions, prints PASS/FAIL lines, and a final
    'N passed, N failed' line. Exceptions (incl. AssertionError) are failures."""

    def __init__(self, title=''):
        self.title = title
        self.passed = 0
        self.failed = 0
        self.failures = []

    def run(self, name, fn, *args, **kw):
        t0 = time.monotonic()
        try:
            ret = fn(*args, **kw)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:   # noqa: BLE001 - a test failure of any kind
            self.failed += 1
            dt = time.monotonic() - t0
            msg = f'{type(e).__name__}: {e}' if not isinstance(e, AssertionError) else str(e)
            self.failures.append((name, msg))
            print(f'FAIL {name} ({dt:.1f}s): {msg}', flush=True)
            if not isinstance(e, (AssertionError, ServerError)):
                traceback.print_exc()
            return None
        self.passed += 1
        dt = time.monotonic() - t0
        extra = f' {ret}' if isinstance(ret, str) and ret else ''
        print(f'PASS {name} ({dt:.1f}s){extra}', flush=True)
        return ret

    def fail(self, name, msg):
        self.failed += 1
        self.failures.append((name, msg))
        print(f'FAIL {name}: {msg}', flush=True)

    def skip(self, name, why):
        print(f'SKIP {name}: {why}', flush=True)

    def finish(self):
        if self.failures:
            print('Failures:')
            for n, m in self.failures:
                print(f'  - {n}: {m.splitlines()[0] if m else ""}')
        print(f'{self.passed} passed, {self.failed} failed', flush=True)
        return 0 if self.failed == 0 and self.passed > 0 else 1


def common_argparser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument('--server', choices=SERVER_KINDS,
                   default=os.environ.get('TURNPIKE_TEST_SERVER', 'turnpike'),
                   help='server under test (default: turnpike, or $TURNPIKE_TEST_SERVER)')
    p.add_argument('--bin', default=None,
                   help='server binary (default: $TURNPIKE_BIN / <repo>/build/bin/turnpike, '
                        'or /usr/bin/turnserver)')
    return p


def make_server(args, config, auth='lt', **kw):
    """Server context manager for parsed common args."""
    return start_server(args.server, config, auth=auth, binary=args.bin, **kw)
