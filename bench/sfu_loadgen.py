#!/usr/bin/python3
"""SFU capacity under `turnpike-loadgen sfu` (bench/sfu_fanout.py's `loadgen` mode):

    bench/sfu_fanout.py loadgen [--shapes 1x200,10x20,50x4] [--rounds 3] [--duration 12] [--out FILE]

For each shape P x S (publishers x subscribers, one room) and round, a fresh Turnpike (the harness's
config with the SFU on 127.0.0.1, sfu.max_participants_per_room and the connection caps raised) and
one `turnpike-loadgen sfu` run: synthetic participants doing ICE, DTLS-SRTP and RTCP like a browser,
each publisher sending VP8-shaped video (--video-kbps, --video-pps), every subscriber subscribed to
every publisher, so P x S streams leave the SFU. During the loadgen's media phase (its progress lines
say when), after a 2 s settle, the bench samples twice, a window apart:

  egress pps            growth of turnpike_sfu_forwarded_packets_total (all kinds) / wall seconds
  CPU                   utime + stime of the turnpike process (all threads), /proc/PID/stat
  egress pps per core   forwarded packets / CPU seconds: the rate one fully busy core would carry
  CPU us per packet     CPU seconds * 1e6 / forwarded packets

and the loadgen's own report (every participant connected, what every subscriber lost). Medians
over rounds per shape. Janus VideoRoom is not driven here: its signalling (the HTTP REST API, Janus
offering to each subscriber) is not what the loadgen speaks; bench/sfu_fanout.py compares the two
with Chromium clients at small N. Not a test: it never fails on a slow result; every child is
killed on exit; the run has a budget (--budget).
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT / 'tests'))

from integration import harness  # noqa: E402
from integration.metrics import metric, scrape  # noqa: E402

CLK_TCK = os.sysconf('SC_CLK_TCK')
KEY = harness.TOKEN_KEY


def proc_cpu(pid):
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def config(participants):
    cfg = harness.default_config()
    cfg['region'] = 'local'
    cfg['sfu'] = {
        'signal_listen': f'127.0.0.1:{harness.free_port("tcp")}',
        'media_listen': f'127.0.0.1:{harness.free_port("udp")}',
        'token_keys': [KEY],
        'max_participants_per_room': min(1000, participants + 10),
        'max_connections': 2000,
        'max_connections_per_ip': 2000,
    }
    return cfg


def forwarded(text):
    return metric(text, 'turnpike_sfu_forwarded_packets_total') or 0


def measure(shape, args, tmp):
    pubs, subs = shape
    cfg = config(pubs + subs)
    rec = dict(shape=f'{pubs}x{subs}', publishers=pubs, subscribers=subs, ok=False, problems=[])
    key_file = tmp / 'key'
    key_file.write_text(KEY + '\n')
    report_dir = tmp / f'report-{pubs}x{subs}'
    with harness.Turnpike(cfg, binary=args.turnpike_bin, name=f'turnpike-bench-{pubs}x{subs}') as srv:
        pid = srv.proc.pid
        cmd = [args.loadgen_bin, 'sfu', '--signal', f'ws://{cfg["sfu"]["signal_listen"]}/signal', '--region', 'local',
               '--token-secret-file', str(key_file), '--room', 'bench', '--publishers', str(pubs),
               '--subscribers-per-room', str(subs), '--duration', f'{args.duration}s', '--video-kbps',
               str(args.video_kbps), '--video-pps', str(args.video_pps), '--join-rate', '100', '--drain', '1s',
               '--report', str(report_dir)]
        lg = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        harness._register(lg)
        media_at = []

        def watch():
            for line in lg.stderr:
                if ': media,' in line and not media_at:
                    media_at.append(time.monotonic())
        t = threading.Thread(target=watch, daemon=True)
        t.start()
        try:
            harness.wait_for('media phase', lambda: media_at or lg.poll() is not None, 120)
            if not media_at:
                rec['problems'].append(f'loadgen ended before media (exit {lg.returncode})')
                return rec
            time.sleep(2.0)   # settle: the last subscribers' first keyframes, PLIs
            window = max(2.0, args.duration - 4.0)
            c0, f0, t0 = proc_cpu(pid), forwarded(scrape(srv)), time.monotonic()
            time.sleep(window)
            c1, f1, t1 = proc_cpu(pid), forwarded(scrape(srv)), time.monotonic()
            lg.wait(timeout=args.duration + 60)
        finally:
            harness.reap(lg)
        report = json.loads((report_dir / 'report.json').read_text()) if (report_dir / 'report.json').exists() else {}
    cpu, pkts, wall = c1 - c0, f1 - f0, t1 - t0
    rec.update(window_s=round(wall, 2), cpu_s=round(cpu, 3), forwarded_packets=int(pkts),
               egress_pps=round(pkts / wall, 1), server_cores=round(cpu / wall, 3),
               egress_pps_per_core=round(pkts / cpu, 0) if cpu > 0 else None,
               cpu_us_per_packet=round(cpu * 1e6 / pkts, 2) if pkts else None,
               loadgen_exit=lg.returncode, loadgen=dict(participants=report.get('participants'),
                                                        totals=report.get('totals'),
                                                        failures_by_reason=report.get('failures_by_reason'),
                                                        send_drops=report.get('send_drops'),
                                                        cpu=report.get('loadgen_cpu')))
    if lg.returncode != 0:
        rec['problems'].append(f'loadgen exit {lg.returncode}: {report.get("reasons", [])[:3]}')
    if not pkts:
        rec['problems'].append('nothing forwarded in the window')
    rec['ok'] = not rec['problems']
    return rec


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--shapes', default='1x200,10x20,50x4', help='publishers x subscribers, comma-separated')
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--duration', type=int, default=12, help='loadgen media phase per run, s (default 12)')
    ap.add_argument('--video-kbps', type=int, default=500)
    ap.add_argument('--video-pps', type=int, default=60)
    ap.add_argument('--budget', type=float, default=600.0, help='seconds for the whole run (default 600)')
    ap.add_argument('--out', default=str(BENCH_DIR / 'results' / 'sfu_loadgen.json'))
    ap.add_argument('--turnpike-bin', default=os.environ.get('TURNPIKE_BIN') or str(harness.DEFAULT_TURNPIKE_BIN))
    ap.add_argument('--loadgen-bin', default=None, help='default: beside --turnpike-bin')
    args = ap.parse_args(argv)
    args.loadgen_bin = args.loadgen_bin or str(Path(args.turnpike_bin).parent / 'turnpike-loadgen')
    shapes = [tuple(int(x) for x in s.split('x')) for s in args.shapes.split(',') if s]
    if not 1 <= args.rounds <= 10 or not 6 <= args.duration <= 120 or any(p + s > 1000 for p, s in shapes):
        ap.error('--rounds 1..10, --duration 6..120, P + S <= 1000')
    deadline = time.monotonic() + args.budget
    runs = []
    with tempfile.TemporaryDirectory(prefix='turnpike-sfu-loadgen-bench-') as tmp:
        for rnd in range(args.rounds):
            for shape in shapes:
                if time.monotonic() + args.duration + 40 > deadline:
                    print(f'skipped {shape} round {rnd + 1}: budget', flush=True)
                    continue
                rec = measure(shape, args, Path(tmp))
                rec['round'] = rnd + 1
                runs.append(rec)
                print(json.dumps({k: rec.get(k) for k in ('shape', 'round', 'egress_pps', 'server_cores',
                                                          'egress_pps_per_core', 'cpu_us_per_packet', 'problems')}),
                      flush=True)
    summary = {}
    for p, s in shapes:
        good = [r for r in runs if r['shape'] == f'{p}x{s}' and r['ok']]
        summary[f'{p}x{s}'] = {k: median([r[k] for r in good]) for k in
                               ('egress_pps', 'server_cores', 'egress_pps_per_core', 'cpu_us_per_packet')}
        summary[f'{p}x{s}']['valid_runs'] = len(good)
    meta = dict(command=' '.join(['bench/sfu_fanout.py loadgen'] + (argv or [])),
                started_utc=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
                video_kbps=args.video_kbps, video_pps=args.video_pps, duration_s=args.duration, cpus=os.cpu_count(),
                loadavg=open('/proc/loadavg').read().split()[:3])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(dict(meta=meta, summary=summary, runs=runs), indent=2) + '\n')
    print(f'{"shape":>8} {"egress pps":>11} {"server cores":>12} {"pps/core":>10} {"CPU us/pkt":>11} valid')
    for k, v in summary.items():
        f = lambda x, nd=1: '-' if x is None else f'{x:.{nd}f}'  # noqa: E731
        print(f'{k:>8} {f(v["egress_pps"]):>11} {f(v["server_cores"], 3):>12} {f(v["egress_pps_per_core"], 0):>10} '
              f'{f(v["cpu_us_per_packet"], 2):>11} {v["valid_runs"]}')
    print(f'JSON: {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
