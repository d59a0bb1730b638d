#!/usr/bin/python3
"""Continuous path probes (`turnpike-diag probe`, issue 21) against the real Turnpike.

Turnpike and the probe run in a network namespace of their own with only loopback (so that the
test's iptables rule touches nothing else): TURN over UDP and TCP on one port, TLS on another.
`turnpike-diag probe --every 2s` probes the three transports, serves its own /metrics and posts
each round to the node (--report, site tag `lab-site`).

Checks:
  all_up            the probe's /metrics: turnpike_probe_up 1 for udp, tcp and tls, RTT > 0, loss 0,
                    setup time > 0, rounds counted as ok
  node_site_metrics the node's /metrics: turnpike_site_probe_up{site="lab-site"} 1 per transport and
                    its RTT; GET /api/v1/probe-reports lists the site
  tcp_blocked       iptables DROP on the TCP port mid-run: within two intervals (4 s) the probe's
                    tcp turns to up 0 with reason "timeout" (turnpike_probe_failure_info), udp and
                    tls stay up; the node shows turnpike_site_probe_up{transport="tcp"} 0
  report_refused    a malformed report (unknown field) and one without the token: 400 and 401,
                    nothing recorded
  clean_exit        SIGTERM: the probe exits 0

Needs root (a network namespace, iptables); prints "SKIP: why" and exits 0 otherwise. About 20 s.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import harness, metrics  # noqa: E402
from integration.lab import NetnsTurnpike  # noqa: E402
from netlab import netlab  # noqa: E402

EVERY = 2.0
SITE = 'lab-site'
TOKEN = 'probe-test-token'
TURN_PORT, TLS_PORT, ADMIN_PORT, PROBE_METRICS_PORT = 3478, 5349, 9641, 9643
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True, timeout=20)


def node_config(tmp):
    cert, key = harness.make_cert(tmp)
    return {
        'region': 'lab',
        'listen': [
            {'transport': 'udp', 'address': '127.0.0.1', 'port': TURN_PORT},
            {'transport': 'tcp', 'address': '127.0.0.1', 'port': TURN_PORT},
            {'transport': 'tls', 'address': '127.0.0.1', 'port': TLS_PORT},
        ],
        'tls': {'cert': cert, 'key': key},
        'relay': {'addresses': ['127.0.0.1'], 'port_range': [40000, 40999]},
        'peers': {'allow': ['127.0.0.0/8'], 'deny': []},
        'auth': {'realm': harness.REALM, 'users': {harness.USER: harness.PASSWORD}},
        'admin': {'listen': f'127.0.0.1:{ADMIN_PORT}', 'token': TOKEN},
        'threads': 1,
        'log': {'level': 'info', 'format': 'json'},
    }


class Probe:
    """turnpike-diag probe in the namespace, its stdout (JSON lines) read at the end."""

    def __init__(self, ns, diag_bin, tmp):
        self.ns = ns
        self.out = open(Path(tmp) / 'probe.out', 'w+')
        self.err = open(Path(tmp) / 'probe.err', 'w+')
        cmd = ['ip', 'netns', 'exec', ns, diag_bin, 'probe', '--server', f'127.0.0.1:{TURN_PORT}',
               '--tls-port', str(TLS_PORT), '--user', harness.USER, '--password', harness.PASSWORD,
               '--every', f'{EVERY}s', '--rounds', '30', '--site', SITE, '--json',
               '--metrics-listen', f'127.0.0.1:{PROBE_METRICS_PORT}',
               '--report', f'http://127.0.0.1:{ADMIN_PORT}/api/v1/probe-reports', '--token', TOKEN]
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=self.err, start_new_session=True)
        harness._register(self.proc)

    def metrics(self):
        try:
            with netlab.in_netns(self.ns), _OPENER.open(
                    f'http://127.0.0.1:{PROBE_METRICS_PORT}/metrics', timeout=2) as r:
                return r.read().decode()
        except OSError:
            return ''

    def rounds(self):
        self.out.flush()
        self.out.seek(0)
        return [json.loads(line) for line in self.out.read().splitlines() if line.startswith('{')]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            harness.kill_tree(self.proc)
            return None
        finally:
            harness._unregister(self.proc)

    def stderr(self):
        self.err.flush()
        self.err.seek(0)
        return self.err.read()[-2000:]


def up(text, transport):
    return metrics.metric(text, 'turnpike_probe_up', site=SITE, transport=transport)


def check_all_up(p):
    text = ''

    def ready():
        nonlocal text
        text = p.metrics()
        return all(up(text, t) == 1 for t in ('udp', 'tcp', 'tls'))

    harness.wait_for('every transport up in the probe /metrics', ready, timeout=4 * EVERY)
    for t in ('udp', 'tcp', 'tls'):
        rtt = metrics.metric(text, 'turnpike_probe_rtt_seconds', site=SITE, transport=t)
        setup = metrics.metric(text, 'turnpike_probe_setup_seconds', site=SITE, transport=t)
        loss = metrics.metric(text, 'turnpike_probe_loss_ratio', site=SITE, transport=t)
        ok = metrics.metric(text, 'turnpike_probe_rounds_total', site=SITE, transport=t, result='ok')
        assert rtt and 0 < rtt < 0.5, f'{t}: rtt {rtt}'
        assert setup and 0 < setup < 2, f'{t}: setup {setup}'
        assert loss == 0, f'{t}: loss {loss}'
        assert ok and ok >= 1, f'{t}: ok rounds {ok}'
    assert metrics.parse(text), 'the probe /metrics parses'


def check_node_site_metrics(srv):
    text = ''

    def reported():
        nonlocal text
        text = srv.metrics()
        return all(metrics.metric(text, 'turnpike_site_probe_up', site=SITE, transport=t) == 1
                   for t in ('udp', 'tcp', 'tls'))

    harness.wait_for('the site-tagged probe figures on the node', reported, timeout=3 * EVERY)
    rtt = metrics.metric(text, 'turnpike_site_probe_rtt_seconds', site=SITE, transport='udp')
    assert rtt and rtt > 0, f'node rtt {rtt}'
    status, body = srv.http('GET', '/api/v1/probe-reports')
    assert status == 200, (status, body)
    sites = {s['site']: s for s in json.loads(body)['sites']}
    assert SITE in sites and len(sites[SITE]['transports']) == 3, body


def check_tcp_blocked(ns, p, srv):
    rule = ['-p', 'tcp', '--dport', str(TURN_PORT), '-j', 'DROP']
    sh('ip', 'netns', 'exec', ns, 'iptables', '-I', 'INPUT', *rule)
    t0 = time.monotonic()
    text, failed_at = '', None
    while time.monotonic() - t0 < 3 * EVERY:
        text = p.metrics()
        if up(text, 'tcp') == 0:
            failed_at = time.monotonic() - t0
            break
        time.sleep(0.1)
    assert failed_at is not None, f'tcp still up {3 * EVERY:.0f} s after the block:\n{text}'
    assert failed_at <= 2 * EVERY, f'tcp turned to failing after {failed_at:.1f} s (> two intervals)'
    reason = metrics.metric(text, 'turnpike_probe_failure_info', site=SITE, transport='tcp', reason='timeout')
    assert reason == 1, f'no failure reason "timeout" for tcp:\n{text}'
    assert up(text, 'udp') == 1 and up(text, 'tls') == 1, f'udp/tls must stay up:\n{text}'
    print(f'    tcp failing {failed_at:.1f} s after the block')
    harness.wait_for('tcp down on the node', lambda: metrics.metric(
        srv.metrics(), 'turnpike_site_probe_up', site=SITE, transport='tcp') == 0, timeout=2 * EVERY)
    node = srv.metrics()
    assert metrics.metric(node, 'turnpike_site_probe_up', site=SITE, transport='udp') == 1


def check_report_refused(srv):
    before = srv.http('GET', '/api/v1/probe-reports')[1]
    bad = json.dumps({'transports': [{'transport': 'udp', 'ok': True}], 'surprise': 1, 'tags': {'site': 'x'}})
    status, body = srv.http('POST', '/api/v1/probe-reports', bad)
    assert status == 400 and 'surprise' in body, (status, body)
    good = json.dumps({'transports': [{'transport': 'udp', 'ok': True}], 'tags': {'site': 'x'}})
    status, body = srv.http('POST', '/api/v1/probe-reports', good, auth=False)
    assert status == 401, (status, body)
    after = srv.http('GET', '/api/v1/probe-reports')[1]
    assert '"x"' not in after and json.loads(after)['count'] == json.loads(before)['count'], after


def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    ap.add_argument('--diag', default=None, help='turnpike-diag binary (default: beside --bin)')
    args = ap.parse_args()
    runner = harness.TestRunner('turnpike-diag probe')
    if os.geteuid() != 0 or not shutil.which('ip') or not shutil.which('iptables'):
        print('SKIP: needs root, ip and iptables (a network namespace and a DROP rule)')
        return 0
    turnpike_bin = args.bin or str(harness.DEFAULT_TURNPIKE_BIN)
    diag_bin = args.diag or str(Path(turnpike_bin).parent / 'turnpike-diag')
    ns = f'tpprobe{os.getpid() % 100000}'
    tmp = tempfile.mkdtemp(prefix='tp-probe-')
    sh('ip', 'netns', 'add', ns)
    srv = p = None
    try:
        sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
        srv = NetnsTurnpike(None, ns, node_config(tmp), binary=turnpike_bin).start()
        p = Probe(ns, diag_bin, tmp)
        runner.run('all_up', check_all_up, p)
        runner.run('node_site_metrics', check_node_site_metrics, srv)
        runner.run('tcp_blocked', check_tcp_blocked, ns, p, srv)
        runner.run('report_refused', check_report_refused, srv)

        def clean_exit():
            rc = p.stop()
            rounds = p.rounds()
            assert rc == 0, f'exit {rc}: {p.stderr()}'
            assert rounds and any(not t['ok'] and t['reason'] == 'timeout' for r in rounds for t in r['transports']
                                  if t['transport'] == 'tcp'), 'no failed tcp round in the JSON output'
        runner.run('clean_exit', clean_exit)
    finally:
        if p:
            p.stop()
            if runner.failed:
                print(p.stderr())
        if srv:
            srv.close(show_log=bool(runner.failed))
        sh('ip', 'netns', 'del', ns, check=False)
    return runner.finish()


if __name__ == '__main__':
    sys.exit(main())
