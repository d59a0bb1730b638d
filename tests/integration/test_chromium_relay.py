#!/usr/bin/python3
"""WebRTC through the TURN server, in headless Chromium.

A page served from 127.0.0.1 (a secure context, so getUserMedia works) creates
two RTCPeerConnections in the same tab, both with iceTransportPolicy "relay"
and a single ICE server (alice / wonderland). The sender streams the fake
camera; the test asserts that the receiver decodes video (inbound-rtp
framesDecoded > 30 and still increasing a few seconds later) and that both
ends' selected candidate pair is relay <-> relay.

Variants (each with its own server and browser; all run by default):
  udp  the ICE server is turn:127.0.0.1:<port>?transport=udp
  tls  the ICE server is turns:127.0.0.1:<tls port>?transport=tcp only (no UDP
       TURN URL), a `transport: tls` listener with a self-signed certificate
       made at run time; Chromium is told to accept exactly that certificate's
       key (--ignore-certificate-errors-spki-list). Also asserts the local
       candidates' relayProtocol is "tls" and that the server created the
       allocations over TLS.
  call_report  relay-only over UDP, and both ends report the call through the dependency-free
       snippet Turnpike serves (/sdk/call-report.js), cross-origin to its signalling port: each
       answer names the path the browser's own getStats selected, and turnpike_calls_total counts
       them under the page's site tag.
Bound per variant: --deadline seconds (default 90).

Run: python3 test_chromium_relay.py [--variant udp|tls|all] [--server turnpike|turnserver] [--bin PATH]
"""

import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True   # keep the source tree clean

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import browser, harness, metrics  # noqa: E402
from integration.relay_check import run_relay_check  # noqa: E402


def run_udp_variant(args, tr):
    cfg = harness.default_config()     # peers.allow 127.0.0.0/8
    t0 = time.monotonic()
    try:
        with harness.make_server(args, cfg, auth='lt') as srv:
            tr.run('chromium_relay_video', run_relay_check, srv,
                   max(10.0, args.deadline - (time.monotonic() - t0) - 10))
            srv.check_alive()
    except harness.ServerError as e:
        tr.fail('server', str(e))


def _tls_allocations(srv):
    """(tls, other) counts of allocation_created log lines (Turnpike's JSON log)."""
    created = srv.log_events('allocation_created')
    tls = sum(1 for e in created if e.get('transport') == 'tls')
    return tls, len(created) - tls


def run_tls_variant(args, tr):
    """Relay-only over TURN/TLS: the page's only ICE server is a turns: URL."""
    name = 'chromium_relay_video_tls'
    certdir = tempfile.mkdtemp(prefix='turnpike-it-chromium-cert-')
    try:
        cert, key = harness.make_cert(certdir)
        # Chromium verifies the TURN server's certificate (a self-signed one fails with
        # 701 and the server logs "tls handshake failed"); pin exactly this key.
        pin = browser.spki_sha256_b64(cert)
        cfg = harness.add_listeners(harness.default_config(), tls=(cert, key))
        t0 = time.monotonic()
        with harness.make_server(args, cfg, auth='lt') as srv:
            host, port = srv.listen_addr('tls')
            url = f'turns:{host}:{port}?transport=tcp'

            def check():
                res = run_relay_check(srv, max(10.0, args.deadline - (time.monotonic() - t0) - 10),
                                      turn_url=url, relay_protocol='tls',
                                      chromium_args=[f'--ignore-certificate-errors-spki-list={pin}'])
                if srv.kind == 'turnpike':
                    tls, other = _tls_allocations(srv)
                    if tls < 2 or other:
                        raise AssertionError(f'server log: {tls} allocations over tls and {other} over '
                                             'other transports; expected >= 2 over tls only')
                    res += f', server allocations over tls: {tls}'
                return f'{url}: {res}'

            tr.run(name, check)
            srv.check_alive()
    except harness.ServerError as e:
        tr.fail(f'{name}: server', str(e))
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        tr.fail(name, f'setup: {type(e).__name__}: {e}')
    finally:
        shutil.rmtree(certdir, ignore_errors=True)


def run_call_report_variant(args, tr):
    """A relay-only P2P call that reports its path (issue 18): the page, on its own loopback
    origin, loads the dependency-free snippet from Turnpike's signalling port (/sdk/call-report.js),
    watches both RTCPeerConnections and, at the end, posts each selected pair to that port's
    /api/v1/call-reports (a cross-origin text/plain POST) with the TURN credential of its iceServers.
    Each answer must name the path the browser's own getStats selected, and turnpike_calls_total
    must count both under the page's site tag."""
    name = 'chromium_call_report'
    if args.server != 'turnpike':
        tr.skip(name, 'call reports are a Turnpike endpoint')
        return
    cfg = harness.default_config()
    signal = f'127.0.0.1:{harness.free_port("tcp")}'
    cfg['sfu'] = {'signal_listen': signal, 'media_listen': f'127.0.0.1:{harness.free_port("udp")}',
                  'token_keys': [harness.TOKEN_KEY]}
    t0 = time.monotonic()
    try:
        with harness.make_server(args, cfg, auth='lt') as srv:
            report = {'script': f'http://{signal}/sdk/call-report.js', 'url': f'http://{signal}/api/v1/call-reports',
                      'tags': {'site': 'clinic-3f', 'device': 'cart-7'}}

            def check():
                before = metrics.scrape(srv)
                res = run_relay_check(srv, max(10.0, args.deadline - (time.monotonic() - t0) - 10),
                                      call_report=report)
                after = metrics.scrape(srv)
                paths = [a['answer']['path'] for a in report['answers']]
                for path in set(paths):
                    got = metrics.grew(before, after, 'turnpike_calls_total', path=path, site='clinic-3f')
                    if got != paths.count(path):
                        raise AssertionError(f'turnpike_calls_total{{path="{path}",site="clinic-3f"}} grew by {got}, '
                                             f'expected {paths.count(path)}')
                counted = metrics.grew(before, after, 'turnpike_call_duration_seconds_count')
                if counted != 2 or metrics.grew(before, after, 'turnpike_call_reports_rejected_total'):
                    raise AssertionError(f'{counted} call durations observed (expected 2), or a report refused')
                return f'{res}; reported {paths} for site clinic-3f'

            tr.run(name, check)
            srv.check_alive()
    except harness.ServerError as e:
        tr.fail(f'{name}: server', str(e))


VARIANTS = {'udp': run_udp_variant, 'tls': run_tls_variant, 'call_report': run_call_report_variant}


def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    ap.add_argument('--deadline', type=float, default=90.0, help='bound per variant, seconds')
    ap.add_argument('--variant', choices=sorted(VARIANTS) + ['all'], default='all',
                    help='udp (turn:...?transport=udp), tls (turns:...?transport=tcp only), '
                         'call_report (udp, and both ends report the call), or all (default)')
    args = ap.parse_args()
    tr = harness.TestRunner('chromium')
    print(f'== test_chromium_relay against {args.server}', flush=True)
    for exe in browser.missing():
        tr.fail('prerequisites', f'{exe} not found (apt-get install chromium chromium-driver)')
        return tr.finish()
    try:
        import selenium  # noqa: F401
    except ImportError:
        tr.fail('prerequisites', 'python3-selenium not installed (run with /usr/bin/python3)')
        return tr.finish()

    for v in (sorted(VARIANTS) if args.variant == 'all' else [args.variant]):
        VARIANTS[v](args, tr)
    return tr.finish()


if __name__ == '__main__':
    sys.exit(main())
