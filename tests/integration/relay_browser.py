"""Headless Chromium relaying video through TURN, run INSIDE a lab network namespace by
test_residency.py: `ip netns exec NS /usr/bin/python3 relay_browser.py --turn-url URL ...`.

relay_check.py's page (test_chromium_relay.py's: two relay-only RTCPeerConnections in one tab, the
fake camera, a single ICE server, alice / wonderland) and its checks (sustained decoding, relay <-> relay, every
candidate on --relay-address, --relay-protocol), with the page served from this namespace's own
loopback (a secure context) and no proxy: the TURN servers are lab hosts, not loopback. Prints
one JSON line, {"ok": true, "result": ...} or {"ok": false, "error": ...}; bounded by --deadline.
"""
import argparse
import json

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration.relay_check import run_relay_check  # noqa: E402


class LabServer:
    """What run_relay_check asks of a server: where relayed candidates must lie, and liveness
    (the servers run in other namespaces; the calling test watches them)."""

    def __init__(self, relay_address):
        self.config = {'relay': {'addresses': [relay_address]}}

    def check_alive(self):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--turn-url', required=True)
    ap.add_argument('--relay-address', required=True, help='where every relay candidate must lie')
    ap.add_argument('--relay-protocol', help='udp, tcp or tls: the selected local candidates\' relayProtocol')
    ap.add_argument('--spki', action='append', default=[], help='accept TLS certificates with this key')
    ap.add_argument('--deadline', type=float, default=60)
    args = ap.parse_args()
    hosts = {args.relay_address, args.turn_url.split(':', 1)[1].split('?')[0].rsplit(':', 1)[0]}
    extra = [f'--ignore-certificate-errors-spki-list={",".join(args.spki)}'] if args.spki else []
    try:
        res = run_relay_check(LabServer(args.relay_address), args.deadline, min_frames=15,
                              turn_url=args.turn_url, relay_protocol=args.relay_protocol, chromium_args=extra,
                              lab_hosts=sorted(hosts))
        out = {'ok': True, 'result': res}
    except Exception as e:  # noqa: BLE001
        out = {'ok': False, 'error': f'{type(e).__name__}: {e}'}
    print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()
