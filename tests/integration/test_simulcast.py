#!/usr/bin/python3
"""Simulcast and bandwidth adaptation with unmodified browsers on real networks (issue 20).

The NAT lab (tests/netlab/) gives Turnpike a server namespace (signalling 203.0.113.1:8080, media
203.0.113.2:5000) and two sites: `no_nat` (an open link) and `masquerade` (behind a Linux NAT,
"the cart on the ward Wi-Fi"). Three headless Chromium instances run the bare WebRTC client
tests/integration/simulcast_page.html (no SDK) in the sites' namespaces (ns_page.py):

  publisher    no_nat: the fake camera at 960x540 as three simulcast layers (rid q/h/f)
  open         no_nat: subscribes to it
  limited      masquerade: subscribes to it; the server's port toward that site is shaped with
               tc tbf to 200 kbit/s for the first 25 s, then the limit is lifted

Checks:
  publisher_sends_three_layers  the SFU answers the simulcast offer and the publisher sends q, h and f
  open_gets_top_layer           the open subscriber decodes the full 960-wide layer
  limited_gets_low_layer        under 200 kbit/s the limited one decodes a lower layer and keeps
                                decoding (framesDecoded rises in every 3 s window: no freeze)
  limited_switches_up           after the limit is lifted it switches to a wider layer within 15 s
  metrics                       turnpike_sfu_layer_switches_total and
                                turnpike_sfu_estimated_bitrate_bps show the switches and estimates

Needs root (network namespaces, tc). Prints "SKIP: why" and exits 0 where the lab cannot run.
Run: python3 test_simulcast.py [--bin PATH]
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

PREFIX = 'tps'
SIGNAL = ('203.0.113.1', 8080)
MEDIA = ('203.0.113.2', 5000)
TOKEN_KEY = 'lab-sfu-token-key-0123456789'
ROOM = 'consult-7'
SECONDS = 48        # each browser's run
LIMIT_SECONDS = 25  # the shaped phase, from the browsers' start
RATE = '200kbit'   # the low layer of the fake camera (~110 kbit/s) fits, the middle one (~220) does not
TOP_WIDTH = 960


def lab_config():
    return {
        'region': 'lab',
        'listen': [{'transport': 'udp', 'address': SIGNAL[0], 'port': 3478}],
        'relay': {'addresses': [SIGNAL[0]]},
        'auth': {'realm': 'turnpike.test', 'rest_secrets': ['northwind-lab']},
        'admin': {'listen': f'{SIGNAL[0]}:9641', 'token': 'lab-admin-token-0123456789'},
        'sfu': {'signal_listen': f'{SIGNAL[0]}:{SIGNAL[1]}', 'media_listen': f'{MEDIA[0]}:{MEDIA[1]}',
                'token_keys': [TOKEN_KEY]},
        'threads': 2,
        'log': {'level': 'info', 'format': 'json'},
    }


def token(binary, config_path, identity):
    r = subprocess.run([binary, 'token', '--config', config_path, '--room', ROOM, '--identity', identity],
                       capture_output=True, timeout=15)
    assert r.returncode == 0, r.stderr.decode(errors='replace')
    return json.loads(r.stdout)['token']


def shape(lab, kind, rate):
    """tbf on the server's port toward the site (what the SFU sends there); rate None lifts it."""
    port = lab.server_port(kind)
    lab.run(lab.server_ns, ['tc', 'qdisc', 'del', 'dev', port, 'root'], timeout=10)
    if rate:
        r = lab.run(lab.server_ns, ['tc', 'qdisc', 'add', 'dev', port, 'root', 'tbf', 'rate', rate,
                                    'burst', '4kb', 'latency', '150ms'], timeout=10)
        assert r.returncode == 0, f'tc tbf: {r.stderr}'


def run_browsers(lab, binary, config_path):
    """Starts the three browsers, lifts the shaping LIMIT_SECONDS later, and returns each one's
    timeline and the wall-clock instants of the phases."""
    roles = {'publisher': ('no_nat', 'publish=1&w=960&h=540&fps=15'), 'open': ('no_nat', ''), 'limited': ('masquerade', '')}
    results, procs = {}, {}
    signal_url = f'ws://{SIGNAL[0]}:{SIGNAL[1]}/signal'
    for role, (kind, extra) in roles.items():
        query = f'signal={signal_url}&token={token(binary, config_path, role)}' + (f'&{extra}' if extra else '')
        procs[role] = lab.popen(lab.sites[kind].client_ns,
                                ['/usr/bin/python3', str(HERE / 'ns_page.py'), '--page', str(HERE / 'simulcast_page.html'),
                                 '--query', query, '--lab-host', SIGNAL[0], '--seconds', str(SECONDS)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if role == 'publisher':
            time.sleep(2)  # its track is published before the subscribers join
    started = time.time()

    def collect(role):
        try:
            out, err = procs[role].communicate(timeout=SECONDS + 90)
            results[role] = json.loads(out.strip().splitlines()[-1])
        except Exception as e:  # noqa: BLE001
            results[role] = {'exception': f'{type(e).__name__}: {e}', 'timeline': []}

    threads = [threading.Thread(target=collect, args=(r,)) for r in roles]
    for t in threads:
        t.start()
    time.sleep(max(0.0, started + LIMIT_SECONDS - time.time()))
    shape(lab, 'masquerade', None)
    lifted = time.time()
    for t in threads:
        t.join(timeout=SECONDS + 120)
    for role, res in results.items():
        assert not res.get('exception'), f'{role}: {res.get("exception")}'
    return results, started, lifted


def inbound(sample):
    st = sample.get('st') or {}
    rows = (st.get('stats') or {}).get('inbound') or []
    return rows[0] if rows else None


def frames_between(timeline, t0, t1):
    rows = [(s['t'], inbound(s)) for s in timeline if t0 <= s['t'] <= t1 and inbound(s)]
    return rows


def check_publisher(res):
    last = res['publisher']['timeline'][-1]['st']
    assert last.get('joined') and not last.get('error'), f'publisher: {last.get("error")} {last.get("log")}'
    out = {o['rid']: o for o in last['stats']['outbound']}
    assert set(out) == {'q', 'h', 'f'}, f'publisher outbound layers {sorted(out)}'
    widths = {rid: o['frameWidth'] for rid, o in out.items()}
    assert widths['f'] == TOP_WIDTH and widths['q'] < widths['h'] < widths['f'], f'layer widths {widths}'
    assert all(o['bytesSent'] > 0 for o in out.values()), f'publisher bytes sent {out}'
    return f'widths {widths}, kbytes sent ' + ', '.join(f'{r}={o["bytesSent"] // 1000}' for r, o in out.items())


def check_open(res):
    tl = res['open']['timeline']
    widths = [inbound(s)['frameWidth'] for s in tl[-10:] if inbound(s)]
    assert widths and max(widths) == TOP_WIDTH, f'open subscriber widths in its last 10 s: {widths}'
    return f'last widths {widths[-3:]}'


def check_limited(res, started, lifted):
    tl = res['limited']['timeline']
    rows = frames_between(tl, started + 12, lifted)
    assert len(rows) >= 6, f'limited: {len(rows)} samples in the shaped phase'
    widths = [r['frameWidth'] for _, r in rows]
    assert max(widths[-5:]) < TOP_WIDTH, f'limited: widths while shaped to {RATE}: {widths}'
    usual = max(set(widths), key=widths.count)  # what it mostly got (a probe may lift it briefly)
    # No freeze: frames keep being decoded in every 3-sample window of the shaped phase.
    frames = [r['framesDecoded'] for _, r in rows]
    stalls = [i for i in range(3, len(frames)) if frames[i] - frames[i - 3] <= 0]
    assert not stalls, f'limited: framesDecoded stalled while shaped: {frames}'
    return f'widths while shaped {widths}, frames {frames[0]} -> {frames[-1]}', usual


def check_switch_up(res, lifted, shaped_width):
    tl = res['limited']['timeline']
    after = [(s['t'] - lifted, inbound(s)['frameWidth']) for s in tl if s['t'] > lifted and inbound(s)]
    up = [t for t, w in after if w > shaped_width]
    assert up and up[0] <= 15, f'limited: widths after the limit was lifted (s, width): {after}'
    return f'wider than {shaped_width} {up[0]:.1f} s after the limit was lifted; widths {sorted(set(w for _, w in after))}'


def check_metrics(srv):
    text = srv.metrics()
    switches = metrics.metric(text, 'turnpike_sfu_layer_switches_total') or 0
    estimates = metrics.metric(text, 'turnpike_sfu_estimated_bitrate_bps_count') or 0
    assert switches >= 2, f'turnpike_sfu_layer_switches_total {switches}'
    assert estimates > 0, 'no turnpike_sfu_estimated_bitrate_bps samples'
    return f'layer switches {switches:.0f}, bitrate estimates sampled {estimates:.0f}'


def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    args = ap.parse_args()
    binary, diag_bin = harness.lab_binaries(args, netlab.available(PREFIX))
    if binary is None:
        return diag_bin
    t = harness.TestRunner('simulcast')
    t0 = time.monotonic()
    with netlab.Lab(prefix=PREFIX, kinds=('no_nat', 'masquerade')) as lab:
        lab.up()
        srv = NetnsTurnpike(lab, lab.server_ns, lab_config(), binary=binary).start()
        try:
            shape(lab, 'masquerade', RATE)
            res, started, lifted = run_browsers(lab, binary, srv.config_path)
            t.run('publisher_sends_three_layers', check_publisher, res)
            t.run('open_gets_top_layer', check_open, res)
            shaped = {}

            def limited():
                text, shaped['width'] = check_limited(res, started, lifted)
                return text
            t.run('limited_gets_low_layer', limited)
            t.run('limited_switches_up', check_switch_up, res, lifted, shaped.get('width', TOP_WIDTH // 2))
            t.run('metrics', check_metrics, srv)
            for role in ('open', 'limited'):  # the evidence, one width per second
                print(f'{role} widths: ' + ' '.join(str((inbound(x) or {}).get('frameWidth', '-'))
                                                    for x in res[role]['timeline']))
            if t.failed:
                for role, r in res.items():
                    last = (r.get('timeline') or [{}])[-1].get('st') or {}
                    print(f'--- {role} log: {last.get("log")}')
        finally:
            srv.close(show_log=t.failed, lines=40)
    print(f'(total {time.monotonic() - t0:.1f}s)')
    return t.finish()


if __name__ == '__main__':
    sys.exit(main())
