#!/usr/bin/python3
"""Crafted input against the real binary: nothing a client, a site or a participant sends may crash,
stall or amplify through a node (issue 14; SECURITY.md is the threat model).

One node runs with every surface open on loopback: TURN over UDP, TCP and TLS, the SFU (signalling
and media) and the admin API. Each check sends one attack and asserts

  * that the bound it is about holds (a limit reached, an error code, a metric, a size),
  * that the process is alive afterwards, and
  * that honest clients on the same node keep relaying with 0 loss *during* the attack:
    turnutils_uclient pairs (coturn's client) run in a loop beside every check.

The checks live in three modules by surface, each a list CHECKS of (name, fn(ctx)) plus the config
overrides CONFIG it needs: abuse_turn.py (STUN/TURN, peer policy, nonces), abuse_server.py (admin
API, reports, TCP/TLS connection limits, label bounds) and abuse_sfu.py (SFU media and signalling,
with tests/tools' DTLS-SRTP client).

Run: /usr/bin/python3 test_abuse.py [--bin PATH] [--only NAME[,NAME]] [--no-honest]
"""

import os
import sys
import shutil
import tempfile
import threading
import time
import urllib.request

sys.dont_write_bytecode = True   # keep the source tree clean

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import harness, metrics  # noqa: E402
from integration.harness import PASSWORD, USER  # noqa: E402

from integration import abuse_turn  # noqa: E402
from integration import abuse_server  # noqa: E402
from integration import abuse_sfu  # noqa: E402

MODULES = (abuse_turn, abuse_server, abuse_sfu)
SFU_TOKEN_KEY = 'turnpike-abuse-token-key-0123456789'


def node_config(certdir):
    """Every surface on loopback; the modules' CONFIG overrides merged in."""
    cfg = harness.default_config()
    cert, key = harness.make_cert(certdir)
    harness.add_listeners(cfg, tcp=True, tls=(cert, key))
    cfg['sfu'] = {
        'signal_listen': f'127.0.0.1:{harness.free_port("tcp")}',
        'media_listen': f'127.0.0.1:{harness.free_port("udp")}',
        'token_keys': [SFU_TOKEN_KEY],
    }
    for m in MODULES:
        cfg = harness.deep_merge(cfg, getattr(m, 'CONFIG', {}))
    return cfg


class Honest:
    """turnutils_uclient pairs relaying through the node in a loop until stopped; every run must
    complete with 0 lost packets."""

    def __init__(self, node, args=('-y', '-m', '2', '-n', '40', '-l', '120')):
        self.node, self.args = node, list(args)
        self.runs, self.stop_ev = [], threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self.stop_ev.is_set():
            res = harness.run_uclient(self.args + ['-u', USER, '-w', PASSWORD], timeout=60, server=self.node)
            self.runs.append(res)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.thread.join(timeout=90)

    def verdict(self):
        """None when every run relayed everything, else why not."""
        if not self.runs:
            return 'no honest uclient run finished'
        for r in self.runs:
            if r['timed_out'] or not r['complete'] or r['lost'] != 0 or not r['received']:
                return (f'honest uclient run lost traffic: lost={r["lost"]} sent={r["sent"]} '
                        f'received={r["received"]} timed_out={r["timed_out"]}\n' + harness.uclient_tail(r, 8))
        return None


class Ctx:
    """What a check gets: the node, its config, the build's bin/ directory, and helpers."""

    def __init__(self, node, cfg, bindir, honest):
        self.node, self.cfg, self.bindir, self.honest_enabled = node, cfg, bindir, honest

    def metrics(self):
        return metrics.scrape(self.node)

    def metric(self, name, **labels):
        return metrics.metric(self.metrics(), name, **labels) or 0.0

    def tool(self, name):
        """A binary from the build (e.g. turnpike-test-sfu-peer), beside turnpike."""
        path = os.path.join(self.bindir, name)
        assert os.path.exists(path), f'{path} is not built'
        return path

    def rss_kb(self):
        with open(f'/proc/{self.node.proc.pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
        return 0

    def fds(self):
        return len(os.listdir(f'/proc/{self.node.proc.pid}/fd'))


def run_check(tr, ctx, name, fn):
    def body():
        honest = Honest(ctx.node) if ctx.honest_enabled else None
        if honest:
            honest.__enter__()
        try:
            ret = fn(ctx)
        finally:
            if honest:
                honest.__exit__()
        ctx.node.check_alive()
        # The admin API, TURN and the SFU's signalling port still answer.
        with urllib.request.urlopen(ctx.node.admin_url + '/healthz', timeout=5) as r:
            assert r.status == 200, f'/healthz answered {r.status} after the attack'
        if honest:
            why = honest.verdict()
            assert why is None, why
            ret = f'{ret or ""} (honest runs: {len(honest.runs)}, 0 lost)'.strip()
        return ret
    tr.run(name, body)


def main():
    p = harness.common_argparser(__doc__)
    p.add_argument('--only', default='', help='comma-separated check names')
    p.add_argument('--no-honest', action='store_true', help='no uclient traffic beside the checks')
    args = p.parse_args()
    binary = args.bin or os.environ.get('TURNPIKE_BIN') or str(harness.DEFAULT_TURNPIKE_BIN)
    bindir = os.path.dirname(os.path.abspath(binary))
    only = {n for n in args.only.split(',') if n}
    tr = harness.TestRunner('abuse')
    certdir = tempfile.mkdtemp(prefix='turnpike-it-abuse-cert-')
    t0 = time.monotonic()
    try:
        cfg = node_config(certdir)
        with harness.Turnpike(cfg, binary=binary, name='turnpike-abuse') as node:
            ctx = Ctx(node, cfg, bindir, not args.no_honest)
            for m in MODULES:
                for name, fn in m.CHECKS:
                    if only and name not in only:
                        continue
                    run_check(tr, ctx, name, fn)
            node.check_alive()
        # Leaving the with-block stopped the node with SIGTERM and required exit code 0.
    except harness.ServerError as e:
        tr.fail('server', str(e))
    finally:
        shutil.rmtree(certdir, ignore_errors=True)
    print(f'(total {time.monotonic() - t0:.1f}s)', flush=True)
    return tr.finish()


if __name__ == '__main__':
    sys.exit(main())
