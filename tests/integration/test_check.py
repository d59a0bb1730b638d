#!/usr/bin/python3
"""The pre-call check page, /check/ on the signalling port, from real lab networks (issue 21).

The NAT lab (tests/netlab/) gives Turnpike a server namespace: TURN on 203.0.113.1:3478 (UDP and
TCP) and 203.0.113.1:443 (TLS, a certificate made at run time that Chromium is told to accept by
its key), RFC 5780 on (alternate 203.0.113.2:3479: the page's NAT test asks three of the node's
addresses), the SFU's signalling port 203.0.113.1:8080 serving /check/. Headless Chromium
(check_browser.py) opens `/check/?quick=1&site=...` in each site's namespace, the page posts its
result, and the test compares it with the lab and with the node's copy:

  no_nat        ready; UDP, TCP and TLS reachable; NAT no_nat; loss under 3 %
  masquerade    ready; NAT endpoint_independent (no site tag: it counts under the lab's site of its
                public address)
  random_fully  NAT address_and_port_dependent; the URL expects another region: degraded, for that
                reason only
  full_cone     ready; NAT endpoint_independent (endpoint-independent filtering too)
  double_nat    ready; NAT endpoint_independent (a home MASQUERADE behind a carrier-grade NAT)
  tls_only      the udp_blocked site with TCP to 3478 dropped too: UDP and TCP reported blocked,
                TLS ready, degraded with "UDP is blocked: ... TLS on port 443"; NAT unknown
  loss          no_nat with 10 % of its UDP towards the TURN port dropped (iptables statistic):
                loss reported within 0.04-0.17 (300 probes), degraded for it
  firefox       no_nat with Debian's firefox-esr (no geckodriver: a fresh profile's user.js fakes the
                devices and lets the page close itself); its report read back from the API; ready,
                UDP, TCP and TLS reachable. TURN over TLS is offered by name (turns:turn.lab.test:443,
                a certificate from a lab CA): Firefox verifies the name against a CA it trusts, and
                gathers no relay candidate for an IP literal or an untrusted certificate
In every case the NAT class equals `turnpike-diag nat`'s from the same namespace, the report is in
GET /api/v1/check-reports/{id}, and turnpike_check_reports_total{site,verdict} and
turnpike_check_transport_ok{site,transport} count it. A screenshot of each Chromium run goes to the
artifacts dir (kept with TEST_ARTIFACTS=1 or on failure).
The browsers run three, three, then one, then one at a time on two cores: their timing and throughput are
the CPU's, not the lab's veth links', so the page's limits for round trip, jitter and bitrate are
widened by URL (max_rtt_ms, max_jitter_ms, min_kbps) and those figures are printed, not judged;
loss keeps its 5 % limit.

Needs root (network namespaces, iptables). Prints "SKIP: why" and exits 0 where the lab cannot run.
Run: python3 test_check.py [--bin PATH]
"""
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import browser, harness, metrics  # noqa: E402
from integration.lab import NetnsTurnpike  # noqa: E402
from netlab import netlab  # noqa: E402

PREFIX = 'tpk'
KINDS = ('no_nat', 'masquerade', 'random_fully', 'full_cone', 'double_nat', 'udp_blocked')
PRIMARY = ('203.0.113.1', 3478)
TLS_PORT = 443
# TURN over TLS by name, as in production: Firefox verifies the server's name against a trusted CA
# (it cannot pin a key as Chromium is told to). Every client namespace resolves it through
# /etc/netns/<ns>/hosts, and Firefox trusts the lab CA through an enterprise policy in
# /etc/netns/<ns>/firefox/policies/policies.json (`ip netns exec` bind-mounts both over /etc).
TLS_NAME = 'turn.lab.test'
ALTERNATE = ('203.0.113.2', 3479)
ADMIN = ('203.0.113.1', 9641)
SIGNAL = ('203.0.113.1', 8080)
MEDIA = ('203.0.113.2', 5000)
ADMIN_TOKEN = 'lab-admin-token-0123456789'



def loss_rule(lab):
    """10 % of the no_nat client's UDP to the TURN port, dropped in the server's namespace on the way
    in (an OUTPUT rule in the client's would fail its sendto() with EPERM, which the browser sees,
    instead of losing the packet on the path)."""
    return ['INPUT', '-p', 'udp', '-s', lab.sites['no_nat'].client_ip, '-d', PRIMARY[0], '--dport', str(PRIMARY[1]),
            '-m', 'statistic', '--mode', 'random', '--probability', '0.1', '-j', 'DROP']
TCP_BLOCK = ['FORWARD', '-p', 'tcp', '-d', PRIMARY[0], '--dport', str(PRIMARY[1]), '-j', 'DROP']
FIREFOX = '/usr/bin/firefox-esr'


def lab_config(lab, cert, key):
    sites = {kind: [f'{site.wan_ip or site.client_ip}/32'] for kind, site in lab.sites.items()}
    return {
        'region': 'lab',
        'listen': [
            {'transport': 'udp', 'address': PRIMARY[0], 'port': PRIMARY[1]},
            {'transport': 'tcp', 'address': PRIMARY[0], 'port': PRIMARY[1]},
            {'transport': 'tls', 'address': PRIMARY[0], 'port': TLS_PORT},
        ],
        'tls': {'cert': cert, 'key': key},
        'relay': {'addresses': [PRIMARY[0]]},
        'auth': {'realm': 'turnpike.test', 'rest_secrets': ['northwind-lab']},
        'admin': {'listen': f'{ADMIN[0]}:{ADMIN[1]}', 'token': ADMIN_TOKEN},
        'nat_discovery': {'enabled': True, 'alternate': f'{ALTERNATE[0]}:{ALTERNATE[1]}'},
        'sites': sites,
        'sfu': {'signal_listen': f'{SIGNAL[0]}:{SIGNAL[1]}', 'media_listen': f'{MEDIA[0]}:{MEDIA[1]}',
                'token_keys': ['lab-sfu-token-key-0123456789'],
                'turn_urls': [f'turn:{PRIMARY[0]}:{PRIMARY[1]}?transport=udp',
                              f'turn:{PRIMARY[0]}:{PRIMARY[1]}?transport=tcp',
                              f'turns:{TLS_NAME}:{TLS_PORT}?transport=tcp']},
        'check': {'reports_per_minute': 30, 'max_reports': 50},
        'threads': 2,
        'log': {'level': 'info', 'format': 'json'},
    }


class Case:
    """One run of the page: where, how, and what the lab says it must find."""

    def __init__(self, name, kind, query, verdict, transports, reasons=(), firefox=False):
        self.name, self.kind, self.query, self.verdict = name, kind, query, verdict
        self.transports, self.reasons, self.firefox = transports, reasons, firefox
        self.out = None


ALL_OK = {'udp': True, 'tcp': True, 'tls': True}
CASES = [
    Case('no_nat', 'no_nat', {'site': 'no_nat', 'region': 'lab'}, 'ready', ALL_OK),
    Case('masquerade', 'masquerade', {}, 'ready', ALL_OK),
    Case('random_fully', 'random_fully', {'site': 'random_fully', 'region': 'elsewhere'}, 'degraded', ALL_OK,
         reasons=('served from region "lab", but this site expects "elsewhere"',)),
    Case('full_cone', 'full_cone', {'site': 'full_cone'}, 'ready', ALL_OK),
    Case('double_nat', 'double_nat', {'site': 'double_nat'}, 'ready', ALL_OK),
    Case('tls_only', 'udp_blocked', {'site': 'tls_only'}, 'degraded', {'udp': False, 'tcp': False, 'tls': True},
         reasons=('UDP is blocked: calls will use TURN over TLS on port 443',)),
    Case('loss', 'no_nat', {'site': 'lossy'}, 'degraded', ALL_OK, reasons=('of the test packets were lost',)),
    Case('firefox', 'no_nat', {'site': 'firefox'}, 'ready', ALL_OK, firefox=True),
]


class NameAndTrust:
    """/etc/netns/<ns>/hosts (TLS_NAME) and Firefox's policy trusting the lab CA, for each client
    namespace of the lab; removed again on exit (with /etc/firefox, the bind target, if made here)."""

    def __init__(self, lab, ca):
        self.dirs = [Path('/etc/netns') / site.client_ns for site in lab.sites.values()]
        self.ca = ca
        self.made_etc_firefox = not os.path.exists('/etc/firefox')
        self.made_etc_netns = not os.path.exists('/etc/netns')

    def __enter__(self):
        os.makedirs('/etc/firefox', exist_ok=True)
        policy = {'policies': {'Certificates': {'Install': [self.ca]}}}
        for d in self.dirs:
            (d / 'firefox' / 'policies').mkdir(parents=True, exist_ok=True)
            (d / 'hosts').write_text(f'127.0.0.1 localhost\n{PRIMARY[0]} {TLS_NAME}\n')
            (d / 'firefox' / 'policies' / 'policies.json').write_text(json.dumps(policy))
        return self

    def __exit__(self, *exc):
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        if self.made_etc_firefox:
            shutil.rmtree('/etc/firefox', ignore_errors=True)
        if self.made_etc_netns:
            shutil.rmtree('/etc/netns', ignore_errors=True)


def diag_nat(lab, diag_bin, kind):
    """turnpike-diag nat's (mapping, udp_reachable) from the site's namespace."""
    r = lab.run(lab.sites[kind].client_ns, [diag_bin, 'nat', '--server', f'{PRIMARY[0]}:{PRIMARY[1]}', '--json'],
                timeout=60, capture_output=True)
    report = json.loads(r.stdout)
    return report['mapping'], report['udp_reachable']


def run_page(lab, case, art, pin):
    # Browsers share two cores here: what limits their timing and throughput is the CPU, not the lab
    # network (whose links are veths). So the timing and bitrate limits are wide: the verdicts are
    # judged on what the lab decides (blocked transports, NAT, region, induced loss; loss's limit
    # stays 5 %), and the figures are printed.
    q = dict(case.query, quick='1', max_jitter_ms='1000', max_rtt_ms='5000', min_kbps='20')
    if case.firefox:
        q['close'] = '1'
    url = f'http://{SIGNAL[0]}:{SIGNAL[1]}/check/?' + urllib.parse.urlencode(q)
    argv = ['/usr/bin/python3', str(HERE / 'check_browser.py'), '--url', url, '--seconds', '60']
    argv += ['--firefox'] if case.firefox else ['--screenshot', str(Path(art) / f'check_{case.name}.png'), '--spki', pin,
                                                '--resolve', f'{TLS_NAME}={PRIMARY[0]}']
    r = lab.run(lab.sites[case.kind].client_ns, argv, timeout=120, capture_output=True)
    try:
        case.out = json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        case.out = {'exception': 'no result: ' + r.stderr[-800:]}


def stored(srv, case):
    """The node's copy of the case's report: by the page's id (Chromium), or the newest of its site."""
    if case.firefox:
        status, text = srv.http('GET', '/api/v1/check-reports?site=firefox')
        assert status == 200, f'list: {status} {text[:200]}'
        listed = json.loads(text)['reports']
        assert listed, f'firefox: no report reached the node (browser: {case.out})'
        rid = listed[0]['id']
    else:
        state = case.out.get('state') or {}
        assert not case.out.get('exception') and state.get('done'), f'{case.name}: the page did not finish: {case.out}'
        assert not state.get('error'), f'{case.name}: the page failed: {state.get("error")}'
        rid = state.get('id')
        assert rid, f'{case.name}: the report was not accepted: {state.get("postError")}'
    status, text = srv.http('GET', f'/api/v1/check-reports/{rid}')
    assert status == 200, f'{case.name}: GET /api/v1/check-reports/{rid}: {status} {text[:200]}'
    return json.loads(text)


def check_case(srv, case, diag):
    rec = stored(srv, case)
    r = rec['report']
    if not case.firefox:
        assert r == case.out['state']['result'], f'{case.name}: the node stored another report than the page made'
    got = {t: r['transports'][t]['ok'] for t in case.transports}
    assert got == case.transports, f'{case.name}: transports {got}, the lab allows {case.transports}: {r["transports"]}'
    if case.verdict:
        assert r['verdict'] == case.verdict, f'{case.name}: verdict {r["verdict"]} ({r["reasons"]}), want {case.verdict}'
    for want in case.reasons:
        assert any(want.lower() in why.lower() for why in r['reasons']), f'{case.name}: no reason "{want}" in {r["reasons"]}'
    if case.verdict == 'degraded' and case.name != 'loss':
        assert len(r['reasons']) == len(case.reasons), f'{case.name}: reasons {r["reasons"]}, want only {case.reasons}'
    mapping, udp = diag[case.kind]
    assert (r['nat']['mapping'], r['nat']['udp_reachable']) == (mapping, udp), \
        f'{case.name}: the page says NAT {r["nat"]}, turnpike-diag nat says {mapping} udp_reachable={udp}'
    m = r['media']
    assert m and m['sent'] > 100, f'{case.name}: no relayed probe: {m}'
    want_transport = 'udp' if case.transports['udp'] else 'tls'
    assert m['transport'] == want_transport, f'{case.name}: probe over {m["transport"]}, want {want_transport}'
    if case.name == 'loss':
        assert 0.04 <= m['loss'] <= 0.17, f'loss: {m["loss"]:.3f} reported, the lab drops 0.10'
    else:
        assert m['loss'] < 0.03, f'{case.name}: loss {m["loss"]} on a clean path'
    if not case.firefox:
        assert r['browser']['camera'] == 'allowed' and r['browser']['microphone'] == 'allowed', r['browser']
    text = srv.metrics()
    n = metrics.metric(text, 'turnpike_check_reports_total', site=rec['site'], verdict=r['verdict'])
    assert n and n >= 1, f'{case.name}: turnpike_check_reports_total{{site={rec["site"]}}} is {n}'
    for t, ok in case.transports.items():
        v = metrics.metric(text, 'turnpike_check_transport_ok', site=rec['site'], transport=t)
        assert v == (1 if ok else 0), f'{case.name}: turnpike_check_transport_ok{{{t}}} = {v}'
    setup = ', '.join(f'{t} {r["transports"][t]["setup_ms"]} ms' if r['transports'][t]['ok']
                      else f'{t} blocked ({r["transports"][t]["error"]})'
                      for t in ('udp', 'tcp', 'tls'))
    return (f'{r["verdict"]} (site {rec["site"]}); NAT {r["nat"]["mapping"]} = turnpike-diag; setup {setup}; '
            f'rtt {m["rtt_ms"]} ms, jitter {m["jitter_ms"]} ms, loss {m["loss"]:.3f}, '
            f'{m["up_kbps"]}/{m["down_kbps"]} kbit/s over {m["transport"]}')


def check_api_bounds(srv):
    """The page's POST needs application/json; a bad report is refused and counted."""
    status, _ = srv.http('GET', '/api/v1/check-reports', auth=False)
    assert status == 401, f'GET without the admin token: {status}'
    status, text = srv.http('POST', '/api/v1/check-reports', body='{"version": 1, "verdict": "fine"}')
    assert status == 400 and 'verdict' in text, f'a bad verdict: {status} {text}'
    dropped = metrics.metric(srv.metrics(), 'turnpike_check_reports_dropped_total', reason='invalid')
    assert dropped and dropped >= 1, f'turnpike_check_reports_dropped_total{{reason="invalid"}}: {dropped}'
    return 'admin token required to read; a bad report refused and counted'


def run_cases(lab, srv, t, art, pin, diag, cases):
    threads = []
    for case in cases:
        th = threading.Thread(target=run_page, args=(lab, case, art, pin))
        th.start()
        threads.append(th)
    for th in threads:
        th.join(timeout=150)
    for case in cases:
        t.run(f'check_{case.name}', check_case, srv, case, diag)


def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    args = ap.parse_args()
    binary, diag_bin = harness.lab_binaries(args, netlab.available(PREFIX))
    if binary is None:
        return diag_bin
    if browser.missing():
        print(f'SKIP: {browser.missing()}')
        return 0
    t = harness.TestRunner('check')
    t0 = time.monotonic()
    keep_env = os.environ.get('TEST_ARTIFACTS', '')
    art = tempfile.mkdtemp(prefix='turnpike-it-check-', dir=keep_env if keep_env and os.path.isdir(keep_env) else None)
    ca, cert, key = harness.make_ca_cert(art, names=(TLS_NAME,), ips=(PRIMARY[0],))
    pin = browser.spki_sha256_b64(cert)
    with netlab.Lab(prefix=PREFIX, kinds=KINDS) as lab, NameAndTrust(lab, ca):
        srv = NetnsTurnpike(lab, lab.server_ns, lab_config(lab, cert, key), binary=binary).start()
        try:
            diag = {}
            threads = [threading.Thread(target=lambda k: diag.__setitem__(k, diag_nat(lab, diag_bin, k)), args=(k,))
                       for k in KINDS]
            for th in threads:
                th.start()
            for th in threads:
                th.join(timeout=90)
            assert set(diag) == set(KINDS), f'turnpike-diag nat did not answer for {set(KINDS) - set(diag)}'
            router = lab.sites['udp_blocked'].router_ns
            lab.run(router, ['iptables', '-I'] + TCP_BLOCK, check=True)
            firefox = [c for c in CASES if c.firefox and os.path.exists(FIREFOX)]
            if not firefox:
                t.skip('check_firefox', f'{FIREFOX} is not installed (scripts/install-deps --test)')
            # Rounds of at most three browsers (two cores); the loss case needs no_nat's path to itself.
            by_name = {c.name: c for c in CASES}
            run_cases(lab, srv, t, art, pin, diag, [by_name[n] for n in ('no_nat', 'masquerade', 'random_fully')])
            run_cases(lab, srv, t, art, pin, diag, [by_name[n] for n in ('full_cone', 'double_nat', 'tls_only')])
            run_cases(lab, srv, t, art, pin, diag, firefox)
            lab.run(lab.server_ns, ['iptables', '-I'] + loss_rule(lab), check=True)
            try:
                run_cases(lab, srv, t, art, pin, diag, [c for c in CASES if c.name == 'loss'])
            finally:
                lab.run(lab.server_ns, ['iptables', '-D'] + loss_rule(lab))
            t.run('api_bounds', check_api_bounds, srv)
        finally:
            srv.close(show_log=t.failed, lines=40)
    print(f'(total {time.monotonic() - t0:.1f}s)')
    rc = t.finish()
    if rc != 0 or (keep_env and keep_env != '0'):
        print(f'artifacts (screenshots) kept in {art}', flush=True)
    else:
        shutil.rmtree(art, ignore_errors=True)
    return rc


if __name__ == '__main__':
    sys.exit(main())
