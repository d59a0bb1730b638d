"""NAT behavior classification against real Linux NATs (issue 6).

The NAT lab (tests/netlab/) builds a server host with two addresses (203.0.113.1 and .2) and one
NAT of each kind, each with a client behind it and a known ground truth. Turnpike runs in the
server namespace with RFC 5780 on (primary 203.0.113.1:3478, alternate 203.0.113.2:3479), the SFU
(signalling 203.0.113.1:8080, media on the other IP, 203.0.113.2:5000) and one site per lab NAT.

Checks, per lab NAT:
  diag_<kind>         `turnpike-diag nat --json --report` from the client reports the ground truth
                      (mapping, filtering, udp_reachable), and the report lands in
                      turnpike_nat_clients_total{source="active", site=<kind>}
  natdiscovery_<kind> coturn's `turnutils_natdiscovery -m -f` against Turnpike agrees with it
and once:
  passive             headless Chromium behind the MASQUERADE and --random-fully NATs joins an SFU
                      room; the server infers endpoint_independent and address_and_port_dependent
                      mapping for their sites (source="passive") without help from the clients
  amplification       RFC 5780 answers from one source are limited (burst, then plain answers)

Needs root (network namespaces, iptables). Prints "SKIP: why" and exits 0 where the lab cannot run.
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
from integration.lab import NetnsTurnpike  # noqa: E402
from netlab import netlab  # noqa: E402

PREFIX = 'tpn'
PRIMARY = ('203.0.113.1', 3478)
ALTERNATE = ('203.0.113.2', 3479)
ADMIN = ('203.0.113.1', 9641)
SIGNAL = ('203.0.113.1', 8080)
MEDIA = ('203.0.113.2', 5000)
ADMIN_TOKEN = 'lab-admin-token-0123456789'
TOKEN_KEY = 'lab-sfu-token-key-0123456789'
NATDISCOVERY = '/usr/bin/turnutils_natdiscovery'


def lab_config(lab):
    sites = {}
    for kind, site in lab.sites.items():
        ip = site.wan_ip or site.client_ip
        sites[kind] = [f'{ip}/32']
    return {
        'region': 'lab',
        'listen': [
            {'transport': 'udp', 'address': PRIMARY[0], 'port': PRIMARY[1]},
            {'transport': 'tcp', 'address': PRIMARY[0], 'port': PRIMARY[1]},
        ],
        'relay': {'addresses': [PRIMARY[0]]},
        'auth': {'realm': 'turnpike.test', 'users': {'alice': 'wonderland'}, 'rest_secrets': ['northwind-lab']},
        'admin': {'listen': f'{ADMIN[0]}:{ADMIN[1]}', 'token': ADMIN_TOKEN},
        'nat_discovery': {'enabled': True, 'alternate': f'{ALTERNATE[0]}:{ALTERNATE[1]}'},
        'sites': sites,
        'sfu': {'signal_listen': f'{SIGNAL[0]}:{SIGNAL[1]}', 'media_listen': f'{MEDIA[0]}:{MEDIA[1]}',
                'token_keys': [TOKEN_KEY]},
        'threads': 2,
        'log': {'level': 'info', 'format': 'json'},
    }


def nat_clients(text, **labels):
    """The value of turnpike_nat_clients_total with these labels (0 if absent)."""
    return metrics.metric(text, 'turnpike_nat_clients_total', **labels) or 0.0


def expected(site):
    t = site.truth
    if not t.get('udp_reachable', True):
        return {'mapping': 'unknown', 'filtering': 'unknown', 'udp_reachable': False}
    return {'mapping': t['mapping'], 'filtering': t['filtering'], 'udp_reachable': True}


def check_diag(lab, srv, diag_bin, kind):
    site = lab.sites[kind]
    want = expected(site)
    r = lab.run(site.client_ns, [diag_bin, 'nat', '--server', f'{PRIMARY[0]}:{PRIMARY[1]}', '--json',
                                 '--report', f'http://{ADMIN[0]}:{ADMIN[1]}/api/v1/nat-reports',
                                 '--token', ADMIN_TOKEN, '--tag', f'site={kind}', '--tag', 'room=lab'],
                timeout=90, capture_output=True)
    out, err = r.stdout, r.stderr
    assert r.returncode == 0, f'turnpike-diag exited {r.returncode}: {err[-800:]} {out[-400:]}'
    report = json.loads(out)
    got = {k: report.get(k) for k in want}
    assert got == want, f'{kind}: turnpike-diag says {got}, the lab is {want}; verdict: {report.get("verdict")}'
    n = nat_clients(srv.metrics(), source='active', site=kind, mapping=want['mapping'], filtering=want['filtering'])
    assert n == 1, f'{kind}: turnpike_nat_clients_total for the report is {n}, want 1'
    return f'{want["mapping"]}/{want["filtering"]} udp={want["udp_reachable"]} ({report.get("rfc3489")}: {report.get("verdict")})'


COTURN_NAMES = {
    'Endpoint Independent': 'endpoint_independent',
    'Address Dependent': 'address_dependent',
    'Address and Port Dependent': 'address_and_port_dependent',
}


def parse_natdiscovery(text):
    mapping = filtering = None
    if 'No NAT!' in text:
        mapping = 'no_nat'
    for name, label in COTURN_NAMES.items():
        if f'NAT with {name} Mapping!' in text:
            mapping = label
        if f'NAT with {name} Filtering!' in text:
            filtering = label
    return mapping, filtering


def check_natdiscovery(lab, kind):
    site = lab.sites[kind]
    want = expected(site)
    r = lab.run(site.client_ns, [NATDISCOVERY, '-m', '-f', '-p', str(PRIMARY[1]), PRIMARY[0]],
                timeout=90, capture_output=True)
    text = r.stdout + r.stderr
    mapping, filtering = parse_natdiscovery(text)
    want_m, want_f = want['mapping'], want['filtering']
    # coturn binds 0.0.0.0, so without a NAT it may still say "Endpoint Independent"; and an open
    # path filters nothing, which it calls Endpoint Independent Filtering.
    ok_m = {want_m} | ({'endpoint_independent'} if want_m == 'no_nat' else set())
    ok_f = {want_f} | ({'endpoint_independent'} if want_f == 'no_nat' else set())
    assert mapping in ok_m and filtering in ok_f, \
        f'{kind}: turnutils_natdiscovery says mapping {mapping}, filtering {filtering}; the lab is {want_m}/{want_f}\n' \
        + text[-1500:]
    return f'{mapping}/{filtering}'


def token(binary, config_path, room, identity):
    r = subprocess.run([binary, 'token', '--config', config_path, '--room', room, '--identity', identity],
                       capture_output=True, timeout=15)
    assert r.returncode == 0, r.stderr.decode(errors='replace')
    return json.loads(r.stdout)['token']


def check_passive(lab, srv, binary):
    kinds = {'masquerade': 'endpoint_independent', 'random_fully': 'address_and_port_dependent'}
    results, threads = {}, []

    def browse(kind):
        tok = token(binary, srv.config_path, 'nat-lab', f'{kind}-browser')
        url = f'http://{SIGNAL[0]}:{SIGNAL[1]}/demo/?w=320&h=180&fps=15#token={tok}'
        r = lab.run(lab.sites[kind].client_ns,
                    ['/usr/bin/python3', str(HERE / 'nat_browser.py'), '--url', url, '--seconds', '9'],
                    timeout=120, capture_output=True)
        lines = r.stdout.strip().splitlines()
        try:
            results[kind] = json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError):
            results[kind] = {'exception': 'no result: ' + r.stderr[-800:]}

    for kind in kinds:
        t = threading.Thread(target=browse, args=(kind,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join(timeout=150)
    for kind, res in results.items():
        assert res.get('joined') and not res.get('exception'), f'{kind}: the browser did not join: {res}'
    text = srv.metrics()
    lines = []
    for kind, mapping in kinds.items():
        got = {k: v for k, v in ((m, nat_clients(text, source='passive', site=kind, mapping=m))
                                 for m in ('no_nat', 'endpoint_independent', 'address_dependent',
                                           'address_and_port_dependent', 'unknown')) if v}
        assert got == {mapping: 1.0}, (f'{kind}: passive classification {got}, want {{{mapping!r}: 1}}; '
                                       f'the browser gathered {results[kind].get("gathered")}')
        lines.append(f'{kind}: {mapping}')
    return '; '.join(lines)


def check_amplification(lab, srv):
    """50 Binding requests from one source: the first `burst` (40) carry OTHER-ADDRESS, the rest
    are plain; a CHANGE-REQUEST over the limit gets a short error from where it was sent, no redirect."""
    site = lab.sites['no_nat']
    script = r'''
import os, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.0)
def binding(attrs=b""):
    tid = os.urandom(12)
    msg = struct.pack("!HHI", 0x0001, len(attrs), 0x2112A442) + tid + attrs
    s.sendto(msg, ("%s", %d))
    try:
        data, src = s.recvfrom(2048)
    except socket.timeout:
        return None, len(msg)
    return data, len(msg)
full = plain = 0; biggest = 0.0
for i in range(50):
    data, n = binding()
    if data is None: continue
    biggest = max(biggest, len(data) / n)
    if b"\x80\x2c" in data: full += 1
    else: plain += 1
data, _ = binding(struct.pack("!HHI", 0x0003, 4, 6))
kind = "none" if data is None else ("error" if data[0:2] == b"\x01\x11" else "answered")
print(full, plain, kind, biggest)
''' % (PRIMARY[0], PRIMARY[1])
    r = lab.run(site.client_ns, ['/usr/bin/python3', '-c', script], timeout=60, capture_output=True)
    full, plain, change, ratio = r.stdout.split()
    assert int(full) <= 40 and int(full) >= 30 and int(plain) >= 5, f'RFC 5780 answers {full}, plain {plain}'
    assert change == 'error', f'a CHANGE-REQUEST over the limit got {change}, want an error response'
    limited = metrics.metric(srv.metrics(), 'turnpike_nat_discovery_limited_total')
    assert limited is not None and limited >= 11, f'turnpike_nat_discovery_limited_total: {limited}'
    return f'{full} RFC 5780 answers (largest {float(ratio):.1f}x a 20-byte request), then {plain} plain; redirect over the limit refused'


def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    args = ap.parse_args()
    binary, diag_bin = harness.lab_binaries(args, netlab.available(PREFIX))
    if binary is None:
        return diag_bin  # no lab here, or turnpike-diag missing: the exit code
    t = harness.TestRunner('nat')
    t0 = time.monotonic()
    with netlab.Lab(prefix=PREFIX) as lab:
        srv = NetnsTurnpike(lab, lab.server_ns, lab_config(lab), binary=binary).start()
        try:
            for kind in netlab.KINDS:
                t.run(f'diag_{kind}', check_diag, lab, srv, diag_bin, kind)
            for kind in netlab.KINDS:
                if kind == 'udp_blocked':
                    continue  # coturn's client has no TCP fallback: nothing to compare
                t.run(f'natdiscovery_{kind}', check_natdiscovery, lab, kind)
            t.run('passive', check_passive, lab, srv, binary)
            t.run('amplification', check_amplification, lab, srv)
        finally:
            srv.close(show_log=t.failed, lines=40)
    print(f'(total {time.monotonic() - t0:.1f}s)')
    return t.finish()


if __name__ == '__main__':
    sys.exit(main())
