"""UDP mapping lifetime (`turnpike-diag lifetime`, issue 7) against real Linux NATs.

The NAT lab (tests/netlab/) runs Turnpike in its server namespace with RFC 5780 on (primary
203.0.113.1:3478, alternate 203.0.113.2:3479), so that it honours RESPONSE-PORT, plus one plain UDP
listener (203.0.113.1:3480) where RESPONSE-PORT is an unknown attribute. The NAT routers' conntrack
UDP timeouts are set with lab.set_udp_timeout, and `turnpike-diag lifetime` runs in the client
namespace behind them. The two NATs are measured at the same time (one thread each).

Checks, per lab NAT (masquerade: endpoint-independent mapping; random_fully: symmetric):
  <kind>_5s, <kind>_12s   nf_conntrack_udp_timeout(_stream) 5 s, then 12 s: `--json --max 60`
                          reports timeout_seconds within 1 s of it
and on one NAT each:
  masquerade_longer_than_max   12 s with `--max 6`: timeout_seconds null ("longer than max"),
                               and --report POSTs that JSON (with tags and the bearer token) to a
                               tiny HTTP server in the client namespace (not Turnpike's endpoint)
  random_fully_established     timeouts 5 s unreplied / 12 s stream: `--established` measures the
                               stream timeout (12 s)
  unsupported                  against the plain listener: exit 1, a 420 and a clear error

Needs root (network namespaces, iptables). Prints "SKIP: why" and exits 0 where the lab cannot run.
Takes about 2 minutes.
"""
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import harness, metrics  # noqa: E402
from netlab import netlab  # noqa: E402
from integration.lab import NetnsTurnpike  # noqa: E402
from integration.test_nat import ADMIN, ADMIN_TOKEN, ALTERNATE, PRIMARY  # noqa: E402

PREFIX = 'tpf'
KINDS = ('masquerade', 'random_fully')
PLAIN_PORT = 3480  # a UDP listener outside nat_discovery's four addresses: RESPONSE-PORT gets 420
TOLERANCE = 1.0    # seconds


def lab_config():
    return {
        'region': 'lab',
        'listen': [
            {'transport': 'udp', 'address': PRIMARY[0], 'port': PRIMARY[1]},
            {'transport': 'udp', 'address': PRIMARY[0], 'port': PLAIN_PORT},
        ],
        'relay': {'addresses': [PRIMARY[0]]},
        'auth': {'realm': 'turnpike.test', 'users': {'alice': 'wonderland'}},
        'admin': {'listen': f'{ADMIN[0]}:{ADMIN[1]}', 'token': ADMIN_TOKEN},
        'nat_discovery': {'enabled': True, 'alternate': f'{ALTERNATE[0]}:{ALTERNATE[1]}'},
        'threads': 2,
        'log': {'level': 'info', 'format': 'json'},
    }


def lifetime(lab, diag_bin, kind, *extra, server=None, timeout=150):
    """Runs `turnpike-diag lifetime --json` behind the kind's NAT: (exit code, JSON or None,
    stderr, seconds taken)."""
    site = lab.sites[kind]
    server = server or f'{PRIMARY[0]}:{PRIMARY[1]}'
    t0 = time.monotonic()
    r = lab.run(site.client_ns, [diag_bin, 'lifetime', '--server', server, '--json', *extra],
                timeout=timeout, capture_output=True)
    took = time.monotonic() - t0
    try:
        report = json.loads(r.stdout)
    except json.JSONDecodeError:
        report = None
    return r.returncode, report, r.stderr, took


def check_timeout(lab, diag_bin, kind, seconds, *extra, stream=None, srv=None):
    lab.set_udp_timeout(kind, seconds if stream is None else (seconds, stream))
    want = seconds if stream is None else stream
    if srv:  # and report it to Turnpike's admin API, where it becomes the site's measured timer
        extra = extra + ('--report', f'http://{ADMIN[0]}:{ADMIN[1]}/api/v1/lifetime-reports', '--token', ADMIN_TOKEN,
                         '--tag', f'site={kind}')
    rc, report, err, took = lifetime(lab, diag_bin, kind, '--max', '60', *extra)
    assert rc == 0 and report, f'{kind}: turnpike-diag exited {rc}: {err[-1500:]}'
    got = report['timeout_seconds']
    assert report['result'] == 'measured' and isinstance(got, (int, float)), \
        f'{kind}: no timeout measured: {report["result"]}: {report.get("error")}\n{err[-1500:]}'
    assert abs(got - want) <= TOLERANCE, \
        f'{kind}: timeout {got} s, the NAT\'s is {want} s (bracket {report["lower_bound_seconds"]}..' \
        f'{report["upper_bound_seconds"]}); progress:\n{err[-2500:]}'
    assert report['mapped'].startswith(lab.sites[kind].wan_ip + ':'), report['mapped']
    assert report['upper_bound_seconds'] - report['lower_bound_seconds'] <= 0.5, report
    if srv:
        seen = metrics.metric(srv.metrics(), 'turnpike_idle_timer_measured_seconds', site=kind)
        assert seen is not None and abs(seen - got) < 0.01, f'turnpike_idle_timer_measured_seconds for {kind}: {seen}'
    return (f'configured {want} s, measured {got} s ({report["lower_bound_seconds"]}..'
            f'{report["upper_bound_seconds"]}), {len(report["trials"])} trials, {took:.1f} s')


REPORT_SINK = r'''
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(202); self.send_header("Content-Length", "0"); self.end_headers()
        print(json.dumps({"path": self.path, "auth": self.headers.get("Authorization"),
                          "type": self.headers.get("Content-Type"), "body": body.decode()}), flush=True)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.handle_request()
'''


def check_longer_than_max(lab, diag_bin, kind):
    """Timeout 12 s, --max 6: null; the JSON goes to --report as it is printed."""
    lab.set_udp_timeout(kind, 12)
    sink = lab.popen(lab.sites[kind].client_ns, ['/usr/bin/python3', '-c', REPORT_SINK],
                     stdout=subprocess.PIPE, text=True)
    try:
        port = int(sink.stdout.readline())
        url = f'http://127.0.0.1:{port}/api/v1/lifetime-reports'
        rc, report, err, took = lifetime(lab, diag_bin, kind, '--max', '6', '--report', url,
                                         '--tag', f'site={kind}', '--tag', 'room=lab', '--token', 'lab-token')
        assert rc == 0 and report, f'turnpike-diag exited {rc}: {err[-1500:]}'
        assert report['timeout_seconds'] is None and report['result'] == 'longer_than_max', report
        assert report['lower_bound_seconds'] >= 6 and report['upper_bound_seconds'] is None, report
        assert 'longer than max' in report['verdict'], report['verdict']
        assert took < 30, f'took {took:.1f} s'
        line = sink.stdout.readline()
        assert line, 'the report sink got nothing'
        got = json.loads(line)
        posted = json.loads(got['body'])
        assert got['path'] == '/api/v1/lifetime-reports' and got['auth'] == 'Bearer lab-token', got
        assert got['type'] == 'application/json', got
        assert posted['tags'] == {'site': kind, 'room': 'lab'}, posted['tags']
        assert posted['timeout_seconds'] is None and posted['trials'] == report['trials'], posted
        return f'null with --max 6 (NAT 12 s), {took:.1f} s; reported with tags {posted["tags"]}'
    finally:
        if sink.poll() is None:
            sink.kill()
        sink.wait(timeout=5)


def check_unsupported(lab, diag_bin):
    rc, report, err, took = lifetime(lab, diag_bin, 'masquerade', '--max', '60',
                                     server=f'{PRIMARY[0]}:{PLAIN_PORT}', timeout=30)
    assert rc == 1 and report, f'exit {rc}, want 1: {err[-800:]}'
    assert report['result'] == 'unsupported' and report['timeout_seconds'] is None, report
    assert report['error_code'] and report['error_code']['code'] == 420, report
    assert 'RESPONSE-PORT' in report['error'], report['error']
    assert took < 10, f'took {took:.1f} s'
    return f'{report["error"]} ({took:.1f} s)'


def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    args = ap.parse_args()
    binary, diag_bin = harness.lab_binaries(args, netlab.available(PREFIX))
    if binary is None:
        return diag_bin  # no lab here, or turnpike-diag missing: the exit code
    t = harness.TestRunner('lifetime')
    t0 = time.monotonic()
    with netlab.Lab(prefix=PREFIX, kinds=KINDS) as lab:
        srv = NetnsTurnpike(lab, lab.server_ns, lab_config(), binary=binary).start()
        try:
            t.run('unsupported', check_unsupported, lab, diag_bin)
            # One thread per NAT: each has its own router (timeouts) and public IP (rate limit).
            plans = {
                'masquerade': [('masquerade_5s', check_timeout, (5,), {}),
                               ('masquerade_12s', check_timeout, (12,), {'srv': srv}),
                               ('masquerade_longer_than_max', check_longer_than_max, (), {})],
                'random_fully': [('random_fully_5s', check_timeout, (5,), {}),
                                 ('random_fully_12s', check_timeout, (12,), {}),
                                 ('random_fully_established', check_timeout, (5, '--established'),
                                  {'stream': 12})],
            }
            lock = threading.Lock()

            def worker(kind):
                for name, fn, a, kw in plans[kind]:
                    t1 = time.monotonic()
                    try:
                        ret, exc = fn(lab, diag_bin, kind, *a, **kw), None
                    except Exception as e:  # noqa: BLE001 - reported through the runner below
                        ret, exc = None, e
                    took = time.monotonic() - t1

                    def replay():
                        if exc:
                            raise exc
                        return f'{ret} [{took:.1f} s]'
                    with lock:  # TestRunner is not thread-safe
                        t.run(name, replay)

            threads = [threading.Thread(target=worker, args=(k,)) for k in KINDS]
            for th in threads:
                th.start()
            for th in threads:
                th.join(timeout=400)
        finally:
            srv.close(show_log=t.failed, lines=40)
    print(f'(total {time.monotonic() - t0:.1f}s)')
    return t.finish()


if __name__ == '__main__':
    sys.exit(main())
