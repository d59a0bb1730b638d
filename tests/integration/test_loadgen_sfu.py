#!/usr/bin/python3
"""`turnpike-loadgen sfu` against the real Turnpike SFU on loopback: synthetic participants that do
the signalling of sfu/PROTOCOL.md, ICE, DTLS-SRTP and RTP/RTCP like a browser, 2 publishers (video
and audio) and 24 subscribers in one room, for about 8 s of media.

Checks:
  run        the loadgen exits 0: every participant joined and connected, no subscriber lost a packet
  report     every subscriber has every publisher's two tracks, received == expected for each, and
             the publishers' sent counts are plausible for the rate asked
  metrics    the server's turnpike_sfu_forwarded_packets_total{kind} grew by exactly what the
             subscribers received (no NACK resends on loopback), the SFU saw 26 participants and
             after the run none is left
  bad_key    a wrong token key: the loadgen exits 1 and names bad_token for every participant

Run: python3 test_loadgen_sfu.py [--bin PATH] [--loadgen PATH]
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True   # keep the source tree clean

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import harness  # noqa: E402
from integration.harness import TOKEN_KEY, wait_for  # noqa: E402
from integration.metrics import metric, scrape  # noqa: E402

PUBLISHERS = 2
SUBSCRIBERS = 24
DURATION_S = 8
VIDEO_PPS = 50


def sfu_config():
    cfg = harness.default_config()
    cfg['region'] = 'eu-west-1'
    cfg['sfu'] = {
        'signal_listen': f'127.0.0.1:{harness.free_port("tcp")}',
        'media_listen': f'127.0.0.1:{harness.free_port("udp")}',
        'token_keys': [TOKEN_KEY],
    }
    return cfg


def run_loadgen(loadgen, cfg, workdir, key, extra=(), timeout=45):
    key_file = Path(workdir) / 'token.key'
    key_file.write_text(key + '\n')
    report_dir = Path(workdir) / 'report'
    cmd = [loadgen, 'sfu', '--signal', f'ws://{cfg["sfu"]["signal_listen"]}/signal', '--region', 'eu-west-1',
           '--token-secret-file', str(key_file), '--room', 'lg-room', '--quiet', '--report', str(report_dir),
           *extra]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    report = None
    if (report_dir / 'report.json').exists():
        report = json.loads((report_dir / 'report.json').read_text())
    return p, report


def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    ap.add_argument('--loadgen', default=None, help='turnpike-loadgen (default: beside --bin, or build/bin)')
    args = ap.parse_args()
    loadgen = args.loadgen or str(Path(args.bin or harness.DEFAULT_TURNPIKE_BIN).parent / 'turnpike-loadgen')
    tr = harness.TestRunner('loadgen_sfu')
    t0 = time.monotonic()
    workdir = tempfile.mkdtemp(prefix='turnpike-it-lgsfu-')
    state = {}
    try:
        cfg = sfu_config()
        with harness.Turnpike(cfg, binary=args.bin, name='turnpike-lgsfu') as srv:
            def run():
                state['before'] = scrape(srv)
                p, report = run_loadgen(loadgen, cfg, workdir, TOKEN_KEY, [
                    '--publishers', str(PUBLISHERS), '--subscribers-per-room', str(SUBSCRIBERS), '--audio',
                    '--duration', f'{DURATION_S}s', '--video-kbps', '400', '--video-pps', str(VIDEO_PPS),
                    '--join-rate', '100', '--drain', '1s', '--max-loss-pct', '0'])
                state['after'] = scrape(srv)
                state['report'] = report
                assert report is not None, f'no report; exit {p.returncode}: {p.stderr[-2000:]}'
                assert p.returncode == 0, f'exit {p.returncode}: {p.stdout[-1500:]} {report["reasons"][:5]}'
                parts = report['participants']
                assert parts == {'total': 26, 'joined': 26, 'connected': 26, 'failed': 0}, parts
                return f'{parts["connected"]} connected; {report["totals"]}'
            tr.run('run', run)

            def check_report():
                r = state['report']
                assert r, 'no report'
                for pub in r['publishers']:
                    kinds = sorted(t['kind'] for t in pub['tracks'])
                    assert kinds == ['audio', 'video'], pub
                    video = next(t for t in pub['tracks'] if t['kind'] == 'video')
                    assert video['sent'] >= VIDEO_PPS * (DURATION_S - 1), f'publisher sent too little: {pub}'
                for sub in r['subscribers']:
                    assert len(sub['tracks']) == 2 * PUBLISHERS, sub
                    for t in sub['tracks']:
                        assert t.get('expected', 0) > VIDEO_PPS, f'subscriber {sub["index"]}: {t}'
                        assert t['received'] == t['expected'] and t['lost'] == 0, f'subscriber {sub["index"]}: {t}'
                    assert sub['undecryptable'] == 0, sub
                tot = r['totals']
                assert tot['lost'] == 0 and tot['expected'] == tot['received'], tot
                return f'{len(r["subscribers"])} subscribers x {2 * PUBLISHERS} tracks, all packets received'
            tr.run('report', check_report)

            def check_metrics():
                r = state['report']
                assert r, 'no report'
                before, after = state['before'], state['after']
                fwd = {k: (metric(after, 'turnpike_sfu_forwarded_packets_total', kind=k) or 0) -
                       (metric(before, 'turnpike_sfu_forwarded_packets_total', kind=k) or 0) for k in ('video', 'audio')}
                got = {k: sum(t['received'] for s in r['subscribers'] for t in s['tracks'] if t['kind'] == k)
                       for k in ('video', 'audio')}
                assert fwd == got, f'server forwarded {fwd}, subscribers received {got}'
                nack = (metric(after, 'turnpike_sfu_nack_resent_packets_total') or 0) - (metric(before, 'turnpike_sfu_nack_resent_packets_total') or 0)
                assert nack == 0, f'{nack} NACK resends on loopback'
                wait_for('participants gone', lambda: metric(scrape(srv), 'turnpike_sfu_participants') == 0, 10)
                return f'forwarded {fwd} == received {got}; participants back to 0'
            tr.run('metrics', check_metrics)

            def bad_key():
                p, report = run_loadgen(loadgen, cfg, workdir, 'not-the-servers-token-key-at-all', [
                    '--publishers', '1', '--subscribers-per-room', '1', '--duration', '1s', '--drain', '0s'])
                assert p.returncode == 1, f'exit {p.returncode}: {p.stderr[-500:]}'
                assert report['failures_by_reason'] == {'error: bad_token': 2}, report['failures_by_reason']
                return 'exit 1, bad_token x 2'
            tr.run('bad_key', bad_key)
            srv.check_alive()
    except harness.ServerError as e:
        tr.fail('server', str(e))
    finally:
        subprocess.run(['rm', '-rf', workdir], check=False)
    print(f'(total {time.monotonic() - t0:.1f}s)', flush=True)
    return tr.finish()


if __name__ == '__main__':
    sys.exit(main())
