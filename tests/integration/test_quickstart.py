#!/usr/bin/python3
"""The quick start: `turnpike` with no --config (what `scripts/run` runs) serves TURN, admin, and the
SFU with its demo page on loopback, and prints two demo links (guest-1 and guest-2 in room demo).
Both links, opened in headless Chromium on this machine, join one call and each receives the other's
media (inbound-rtp bytes growing, audio and video); then SIGINT ends the process with exit 0.

The embedded default listens on fixed ports (UDP 3478, admin 9641, SFU 9642/tcp and 9643/udp, on
127.0.0.1): the test skips if one of them is taken.

Run: python3 test_quickstart.py [--bin PATH]
"""

import re
import sys
import time

sys.dont_write_bytecode = True   # keep the source tree clean

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import browser, harness  # noqa: E402
from integration.harness import wait_for  # noqa: E402
from integration.browser import Browser  # noqa: E402

PORTS = [('udp', 3478), ('tcp', 9641), ('tcp', 9642), ('udp', 9643)]
LINK = re.compile(r'^\s+(guest-\d): (http://127\.0\.0\.1:9642/demo/#token=[A-Za-z0-9_.-]+)\s*$', re.M)


class EmbeddedTurnpike(harness.Turnpike):
    """`turnpike` with no arguments: the embedded default config (admin on 127.0.0.1:9641)."""

    def __init__(self, binary):
        super().__init__({'listen': [{'transport': 'udp', 'address': '127.0.0.1', 'port': 3478}],
                          'admin': {'listen': '127.0.0.1:9641'}}, binary=binary, name='turnpike-quickstart')

    def command(self):
        super().command()   # checks the binary exists (and writes a config file nobody reads)
        return [self.binary]


def page(drv):
    return drv.execute_script('''
      const d = window.turnpikeDemo || {};
      const inbound = ((d.stats || {}).inbound || []).map(r => ({kind: r.kind, bytes: r.bytesReceived || 0}));
      return {joined: !!d.joined, error: d.error || null, inbound,
              others: d.room ? [...d.room.participants.values()].map(p => p.identity) : [],
              status: document.getElementById('status').textContent};''')


def bytes_by_kind(state):
    out = {'audio': 0, 'video': 0}
    for r in state['inbound']:
        out[r['kind']] = out.get(r['kind'], 0) + r['bytes']
    return out


def run(tr, srv, browsers):
    links = {}

    def banner():
        text = wait_for('the demo links in the banner', lambda: dict(LINK.findall(srv.log_text())) or None, 10)
        links.update(text)
        assert set(links) == {'guest-1', 'guest-2'}, f'links printed: {sorted(links)}'
        assert links['guest-1'] != links['guest-2']
        return ', '.join(f'{g}: {u[:60]}...' for g, u in sorted(links.items()))
    tr.run('banner', banner)
    if len(links) != 2:
        return

    def join():
        for guest, url in sorted(links.items()):
            b = Browser(guest, [])
            browsers[guest] = b
            b.drv.get(url)
        for guest, b in browsers.items():
            st = wait_for(f'{guest} joins', lambda b=b: (lambda s: s if s['joined'] or s['error'] else None)(
                page(b.drv)), 30)
            assert not st['error'], f'{guest} could not join: {st["error"]} ({st["status"]})'
        return 'both joined room demo'
    tr.run('join', join)

    def media():
        def flowing():
            got = {g: page(b.drv) for g, b in browsers.items()}
            ok = all(bytes_by_kind(s)['audio'] > 0 and bytes_by_kind(s)['video'] > 0 for s in got.values())
            return got if ok else None
        first = wait_for('each guest receives the other\'s audio and video', flowing, 60, 1.0)
        time.sleep(3)
        second = {g: page(b.drv) for g, b in browsers.items()}
        for guest in browsers:
            other = 'guest-2' if guest == 'guest-1' else 'guest-1'
            assert second[guest]['others'] == [other], f'{guest} sees {second[guest]["others"]}'
            a, b2 = bytes_by_kind(first[guest]), bytes_by_kind(second[guest])
            for kind in ('audio', 'video'):
                assert b2[kind] > a[kind], f'{guest}: inbound {kind} bytes from {other} stalled at {b2[kind]}'
        return '; '.join(f'{g} got {bytes_by_kind(s)}' for g, s in sorted(second.items()))
    tr.run('media', media)


def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    args = ap.parse_args()
    tr = harness.TestRunner('quickstart')
    if browser.missing():
        tr.skip('quickstart', f'missing {browser.missing()}')
        return 0
    taken = [f'{k}/{p}' for k, p in PORTS if not harness._port_free(k, '127.0.0.1', p)]
    if taken:
        tr.skip('quickstart', f'the embedded default\'s ports are taken: {taken}')
        return 0
    browsers = {}
    try:
        with EmbeddedTurnpike(args.bin) as srv:
            try:
                run(tr, srv, browsers)
            finally:
                for b in browsers.values():
                    b.close()
    except harness.ServerError as e:
        tr.fail('server', str(e))
    return tr.finish()


if __name__ == '__main__':
    sys.exit(main())
