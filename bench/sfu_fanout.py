#!/usr/bin/python3
"""SFU fan-out benchmark: Turnpike's SFU vs Janus's VideoRoom (Debian's `janus`), same clients.

    bench/sfu_fanout.py [--rounds 3] [--subscribers 8] [--window 20] [--out FILE]
    bench/sfu_fanout.py loadgen [...]     turnpike-loadgen sfu at 1x200, 10x20, 50x4 (bench/sfu_loadgen.py)

One publisher (headless Chromium, fake camera + microphone, small VP8 video) and N subscribers,
all RTCPeerConnections in one page of one Chromium (bench/sfu/fanout.html + fanout.js), join one
room on a fresh server; Turnpike is driven through its own SDK (/sdk/turnpike.js), Janus through
its HTTP REST API (attach janus.plugin.videoroom, join as publisher and publish; each subscriber
joins with streams [{feed}], answers Janus's offer and starts). Once every subscriber decodes
video and receives audio, and after a warm-up, a steady-state window is measured:

  forwarded packets  sum over subscribers of getStats() inbound-rtp packetsReceived, audio + video
                     (the same page code reads both servers)
  CPU                utime+stime of the server process (all its threads) from /proc/PID/stat

and reported as CPU seconds per million forwarded packets (numerically CPU us per packet). Rounds
alternate which server goes first; medians over rounds, and the ratio Turnpike / Janus.

Everything is on 127.0.0.1: neither server nor browser gets a STUN/TURN server (host candidates
only), Janus's ICE is enforced to 127.0.0.1 and its HTTP transport binds 127.0.0.1, and Chromium
resolves no names and has a dead proxy for anything that is not loopback. It stops by itself:
every wait is bounded and the run has a budget (--budget, default 540 s); measurements that would
not fit are skipped and the result says so. All processes it starts (turnpike, janus, chromedriver,
chromium) are in their own process groups and are killed on exit, also on failure or SIGTERM.

Needs: /usr/bin/chromium, /usr/bin/chromedriver, python3-selenium, Debian's janus package
(apt-get install janus) and a built turnpike (build/bin/turnpike or --turnpike-bin).
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.dont_write_bytecode = True   # keep the source tree clean

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
PAGE_DIR = BENCH_DIR / 'sfu'
sys.path.insert(0, str(REPO_ROOT / 'tests'))  # the test package's root: `integration`

from integration import harness  # noqa: E402  (process groups killed at exit, free ports, Turnpike start/stop)
from integration import browser  # noqa: E402  (the loopback-only Chromium options, driver and page server)

CLK_TCK = os.sysconf('SC_CLK_TCK')
JANUS_BIN = os.environ.get('JANUS_BIN', '/usr/bin/janus')
JANUS_LIB = Path(os.environ.get('JANUS_LIB', '/usr/lib/x86_64-linux-gnu/janus'))
SERVERS = ('turnpike', 'janus')
ROOM = 'fanout'
JANUS_ROOM = 1234
TOKEN_KEY = 'turnpike-bench-token-key-0123456789'
IDLE_SAMPLE_S = 2.0

# Kept out of Chromium's own background work (on top of browser.chromium_options): timers of a
# headless page must not be throttled (the Janus long poll and keep-alives run in the page).
EXTRA_CHROMIUM_ARGS = ['--disable-background-timer-throttling', '--disable-renderer-backgrounding',
                       '--disable-backgrounding-occluded-windows']


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------- helpers

def proc_cpu(pid):
    """utime + stime in seconds of process pid (all its threads, live and exited), /proc/PID/stat."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_sched_ns(pid):
    """Sum of the live threads' on-CPU time in ns (/proc/PID/task/*/schedstat), a finer cross-check
    of proc_cpu (threads that exit during the window are lost from it)."""
    total = 0
    try:
        tids = os.listdir(f'/proc/{pid}/task')
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f'/proc/{pid}/task/{tid}/schedstat') as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def thread_count(pid):
    try:
        return len(os.listdir(f'/proc/{pid}/task'))
    except OSError:
        return None


def group_cpu(pgid):
    """utime + stime (s) of the live processes in process group pgid (Chromium and chromedriver)."""
    total = 0.0
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open(f'/proc/{d}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
            if int(fields[2]) == pgid:
                total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, ValueError, IndexError):
            pass
    return total


def system_busy():
    """CPU seconds all CPUs spent busy (user, nice, system, irq, softirq, steal) since boot."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / CLK_TCK


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def cmd_output(cmd, timeout=10):
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        return r.stdout.decode('utf-8', 'replace').strip()
    except (OSError, subprocess.SubprocessError) as e:
        return f'({e})'


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=2):
    return '-' if x is None else f'{x:.{nd}f}'


def wait_for(what, fn, timeout, interval=0.5):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise RuntimeError(f'{what}: not within {timeout:.0f}s')


# ---------------------------------------------------------------- Janus

JANUS_JCFG = '''general: {{
	configs_folder = "{cfg}"
	plugins_folder = "{plugins}"
	transports_folder = "{transports}"
	events_folder = "{empty}"
	loggers_folder = "{empty}"
	debug_level = 4
	debug_timestamps = true
	server_name = "turnpike-bench"
	interface = "127.0.0.1"
	session_timeout = 60
	hide_dependencies = true
}}
certificates: {{
}}
media: {{
	ipv6 = false
	rtp_port_range = "{rtp_lo}-{rtp_hi}"
}}
nat: {{
	nice_debug = false
	ice_enforce_list = "127.0.0.1"
	ignore_mdns = true
}}
plugins: {{
}}
transports: {{
}}
loggers: {{
}}
events: {{
	broadcast = false
}}
'''

JANUS_HTTP_JCFG = '''general: {{
	json = "plain"
	base_path = "/janus"
	http = true
	ip = "127.0.0.1"
	port = {port}
	https = false
}}
admin: {{
	admin_http = false
	admin_https = false
}}
cors: {{
}}
'''

# One room, one publisher; no periodic FIR/PLI (Turnpike sends none either) and no bitrate cap
# from the room (the page caps the publisher's video for both servers).
JANUS_VIDEOROOM_JCFG = '''general: {{
}}
room-{room}: {{
	description = "turnpike bench fan-out"
	publishers = 1
	bitrate = 0
	fir_freq = 0
	audiocodec = "opus"
	videocodec = "vp8"
	record = false
}}
'''


class Janus:
    """Debian's janus with a config written into a temp dir: only the VideoRoom plugin and the HTTP
    transport are in the folders it loads from (symlinks), HTTP on 127.0.0.1, ICE gathering enforced
    to 127.0.0.1, no STUN/TURN, no IPv6, no mDNS, no event handlers or loggers."""
    name = 'janus'

    def __init__(self, tmp):
        self.tmp = Path(tmp)
        self.proc = None
        self.port = harness.free_port('tcp')
        self.rtp_range = harness.relay_port_range(size=200)
        self.log_path = self.tmp / 'janus.log'
        self._logf = None

    @property
    def url(self):
        return f'http://127.0.0.1:{self.port}/janus'

    def start(self, ready_timeout=20):
        cfg, plugins, transports, empty = (self.tmp / d for d in ('cfg', 'plugins', 'transports', 'empty'))
        for d in (cfg, plugins, transports, empty):
            d.mkdir(parents=True, exist_ok=True)
        for src, dst in ((JANUS_LIB / 'plugins' / 'libjanus_videoroom.so', plugins),
                         (JANUS_LIB / 'transports' / 'libjanus_http.so', transports)):
            if not src.exists():
                raise harness.ServerError(f'janus: {src} not found (apt-get install janus)')
            (dst / src.name).symlink_to(src)
        (cfg / 'janus.jcfg').write_text(JANUS_JCFG.format(
            cfg=cfg, plugins=plugins, transports=transports, empty=empty,
            rtp_lo=self.rtp_range[0], rtp_hi=self.rtp_range[0] + 199))
        (cfg / 'janus.transport.http.jcfg').write_text(JANUS_HTTP_JCFG.format(port=self.port))
        (cfg / 'janus.plugin.videoroom.jcfg').write_text(JANUS_VIDEOROOM_JCFG.format(room=JANUS_ROOM))
        cmd = [JANUS_BIN, '-F', str(cfg), '-C', str(cfg / 'janus.jcfg'), '--disable-colors']
        self._logf = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(cmd, stdout=self._logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=str(self.tmp), start_new_session=True)
        harness._register(self.proc)
        end = time.monotonic() + ready_timeout
        last = None
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise harness.ServerError(f'janus exited during startup (code {self.proc.returncode}):\n'
                                          + self.log_tail())
            try:
                req = urllib.request.Request(self.url, data=json.dumps(
                    {'janus': 'info', 'transaction': 'ready'}).encode(), method='POST')
                with harness._NO_PROXY_OPENER.open(req, timeout=1) as r:
                    info = json.loads(r.read())
                if info.get('janus') == 'server_info':
                    self.info = info
                    return self
            except (OSError, ValueError, urllib.error.URLError) as e:
                last = repr(e)
            time.sleep(0.1)
        self.stop()
        raise harness.ServerError(f'janus not ready after {ready_timeout}s ({last})')

    def log_tail(self, lines=30):
        try:
            return '\n'.join(self.log_path.read_text(errors='replace').splitlines()[-lines:])
        except OSError:
            return '(no log)'

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                rc = 'killed'
        harness.reap(self.proc)
        if self._logf:
            self._logf.close()
        self.proc = None
        return rc


# ---------------------------------------------------------------- Turnpike

def turnpike_config():
    cfg = harness.default_config()
    cfg['region'] = 'local'
    cfg['sfu'] = {
        'signal_listen': f'127.0.0.1:{harness.free_port("tcp")}',
        'media_listen': f'127.0.0.1:{harness.free_port("udp")}',
        'token_keys': [TOKEN_KEY],
    }
    return cfg


def turnpike_token(srv, identity):
    out = subprocess.run([srv.binary, 'token', '--config', srv.config_path, '--room', ROOM,
                          '--identity', identity, '--ttl', '900'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20, text=True)
    if out.returncode != 0:
        raise harness.ServerError(f'turnpike token failed: {out.stderr.strip()}')
    return json.loads(out.stdout)['token']


# ---------------------------------------------------------------- one measurement

def sum_kind(snap, kind, field):
    return sum((s.get(kind) or {}).get(field, 0) or 0 for s in snap['subs'])


def forwarded(snap):
    return sum_kind(snap, 'audio', 'packetsReceived') + sum_kind(snap, 'video', 'packetsReceived')


def everyone_receives(snap, n):
    subs = snap.get('subs') or []
    return len(subs) == n and all(
        (s['video'].get('framesDecoded') or 0) > 0 and (s['audio'].get('packetsReceived') or 0) > 0
        for s in subs)


class Browser:
    def __init__(self, tmp):
        self.dir = Path(tempfile.mkdtemp(prefix='chromium-', dir=tmp))
        self.drv, self.service = browser.make_driver(str(self.dir / 'profile'), str(self.dir / 'chromedriver.log'),
                                                     EXTRA_CHROMIUM_ARGS)
        self.drv.set_script_timeout(120)
        self.pgid = self.service.process.pid

    def snapshot(self):
        return self.drv.execute_async_script(
            'const done = arguments[arguments.length - 1];'
            'FanOut.snapshot().then(done, e => done({error: String(e), subs: []}));')

    def close(self):
        try:
            self.drv.execute_script('if (window.FanOut) FanOut.stop();')
        except Exception:  # noqa: BLE001
            pass
        browser.quit(self.drv, self.service)


def measure(kind, args, turnpike_bin, page_url, tmp):
    rec = dict(server=kind, ok=False, problems=[])
    server = browser = None
    t_start = time.monotonic()
    stop_rc = None
    try:
        if kind == 'turnpike':
            server = harness.Turnpike(turnpike_config(), binary=str(turnpike_bin), name='turnpike-sfu')
            server.start()
            pid = server.proc.pid
            signal_listen = server.config['sfu']['signal_listen']
            opts = dict(server='turnpike', sdkUrl=f'http://{signal_listen}/sdk/turnpike.js',
                        signalUrl=f'ws://{signal_listen}/signal',
                        pubToken=turnpike_token(server, 'publisher'),
                        subTokens=[turnpike_token(server, f'subscriber-{i}') for i in range(args.subscribers)])
        else:
            server = Janus(Path(tempfile.mkdtemp(prefix='janus-', dir=tmp))).start()
            pid = server.proc.pid
            opts = dict(server='janus', janusUrl=server.url, room=JANUS_ROOM, subscribers=args.subscribers)
        opts.update(width=args.width, height=args.height, fps=args.fps, maxBitrate=args.max_bitrate * 1000)
        # The server's own CPU with no clients, for context (not subtracted from anything).
        i0, t0 = proc_cpu(pid), time.monotonic()
        time.sleep(IDLE_SAMPLE_S)
        rec['idle_cpu_s_per_s'] = round((proc_cpu(pid) - i0) / (time.monotonic() - t0), 4)
        rec['setup'] = {k: v for k, v in opts.items() if not k.endswith('Token') and k != 'subTokens'}

        browser = Browser(tmp)
        browser.drv.get(page_url)
        t_join = time.monotonic()
        res = browser.drv.execute_async_script('FanOut.start(arguments[0], arguments[1]);', opts)
        rec['join_s'] = round(time.monotonic() - t_join, 2)
        if not res.get('ok'):
            raise RuntimeError(f'{kind}: the page could not start: {res.get("error")}\n  '
                               + '\n  '.join(res.get('log') or []))
        first = wait_for('every subscriber decodes video and receives audio',
                         lambda: (lambda s: s if everyone_receives(s, args.subscribers) else None)(
                             browser.snapshot()), 30, 1.0)
        rec['first_media_s'] = round(time.monotonic() - t_join, 2)
        del first
        time.sleep(args.warmup)

        # The window: the page's counters, then the server's CPU; at the end the same order.
        s0 = browser.snapshot()
        c0, n0, b0, g0, w0 = proc_cpu(pid), proc_sched_ns(pid), system_busy(), group_cpu(browser.pgid), \
            time.monotonic()
        time.sleep(args.window)
        s1 = browser.snapshot()
        c1, n1, b1, g1, w1 = proc_cpu(pid), proc_sched_ns(pid), system_busy(), group_cpu(browser.pgid), \
            time.monotonic()
        if not server.alive():
            raise RuntimeError(f'{kind} exited during the window')

        pkts = forwarded(s1) - forwarded(s0)
        cpu = c1 - c0
        wall = w1 - w0
        stats_s = (s1['t_ms'] - s0['t_ms']) / 1000.0
        pub_sent = {k: (s1['pub'][k].get('packetsSent', 0) - s0['pub'][k].get('packetsSent', 0))
                    for k in ('audio', 'video')}
        per_sub = [(b['audio'].get('packetsReceived', 0) + b['video'].get('packetsReceived', 0))
                   - (a['audio'].get('packetsReceived', 0) + a['video'].get('packetsReceived', 0))
                   for a, b in zip(s0['subs'], s1['subs'])]

        def dsum(kind_, field):
            return sum_kind(s1, kind_, field) - sum_kind(s0, kind_, field)

        bytes_rx = dsum('audio', 'bytesReceived') + dsum('video', 'bytesReceived') + \
            dsum('audio', 'headerBytesReceived') + dsum('video', 'headerBytesReceived')
        published = pub_sent['audio'] + pub_sent['video']
        rec.update(
            pid_threads=thread_count(pid),
            window_s=round(wall, 3), stats_window_s=round(stats_s, 3),
            cpu_s=round(cpu, 3),
            cpu_s_schedstat=round((n1 - n0) / 1e9, 4) if n0 is not None and n1 is not None else None,
            forwarded_packets=pkts,
            forwarded_audio=dsum('audio', 'packetsReceived'), forwarded_video=dsum('video', 'packetsReceived'),
            forwarded_per_subscriber=per_sub,
            forwarded_pps=round(pkts / stats_s, 1) if stats_s > 0 else None,
            bytes_per_packet=round(bytes_rx / pkts, 1) if pkts else None,
            published_audio=pub_sent['audio'], published_video=pub_sent['video'],
            delivery=round(pkts / (published * args.subscribers), 4) if published else None,
            lost=dsum('audio', 'packetsLost') + dsum('video', 'packetsLost'),
            nacks_sent_by_subscribers=dsum('video', 'nackCount') + dsum('audio', 'nackCount'),
            plis_sent_by_subscribers=dsum('video', 'pliCount'),
            firs_sent_by_subscribers=dsum('video', 'firCount'),
            retransmitted_received=dsum('video', 'retransmittedPacketsReceived'),
            frames_decoded=dsum('video', 'framesDecoded'),
            keyframes_decoded=dsum('video', 'keyFramesDecoded'),
            publisher=dict(
                nacks_received=s1['pub']['video'].get('nackCount', 0) - s0['pub']['video'].get('nackCount', 0),
                plis_received=s1['pub']['video'].get('pliCount', 0) - s0['pub']['video'].get('pliCount', 0),
                firs_received=s1['pub']['video'].get('firCount', 0) - s0['pub']['video'].get('firCount', 0),
                retransmitted_sent=(s1['pub']['video'].get('retransmittedPacketsSent', 0)
                                    - s0['pub']['video'].get('retransmittedPacketsSent', 0)),
                keyframes_encoded=(s1['pub']['video'].get('keyFramesEncoded', 0)
                                   - s0['pub']['video'].get('keyFramesEncoded', 0)),
                video_kbps=round(8 * (s1['pub']['video'].get('bytesSent', 0) - s0['pub']['video'].get('bytesSent', 0))
                                 / stats_s / 1000, 1) if stats_s > 0 else None,
                frame=f'{s1["pub"]["video"].get("frameWidth")}x{s1["pub"]["video"].get("frameHeight")}',
                fps=s1['pub']['video'].get('framesPerSecond'),
                target_bitrate=s1['pub']['video'].get('targetBitrate'),
                quality_limitation=s1['pub']['video'].get('qualityLimitationReason')),
            subscriber_states=sorted({s.get('state') for s in s1['subs']}),
            janus_events=s1.get('events') or None,   # since the start, by kind
            janus_events_in_window={k: v - (s0.get('events') or {}).get(k, 0)
                                    for k, v in (s1.get('events') or {}).items()
                                    if v - (s0.get('events') or {}).get(k, 0)} or None,
            browser_cpu_s=round(g1 - g0, 2),
            machine_busy_cpu_s=round(b1 - b0, 2),
            loadavg=open('/proc/loadavg').read().split()[:3],
        )
        if pkts > 0:
            rec['cpu_s_per_mpkt'] = round(cpu / pkts * 1e6, 3)
            if rec['cpu_s_schedstat'] is not None:
                rec['cpu_s_per_mpkt_schedstat'] = round(rec['cpu_s_schedstat'] / pkts * 1e6, 3)
        # Validity: every subscriber kept receiving, and the fan-out delivered (nearly) everything.
        if pkts <= 0:
            rec['problems'].append('no packets forwarded in the window')
        if any(p <= 0 for p in per_sub):
            rec['problems'].append(f'a subscriber received nothing in the window: {per_sub}')
        if rec['delivery'] is not None and not 0.9 <= rec['delivery'] <= 1.1:
            rec['problems'].append(f'delivery {rec["delivery"]} (forwarded / (N x published)) '
                                   'outside 0.9-1.1')
        if rec['subscriber_states'] != ['connected']:
            rec['problems'].append(f'subscriber connection states {rec["subscriber_states"]}')
        if s1.get('error'):
            rec['problems'].append(f'page error: {s1["error"]}')
        rec['ok'] = not rec['problems']
    except Exception as e:  # noqa: BLE001  (a failed measurement is recorded, the run goes on)
        rec['problems'].append(f'{type(e).__name__}: {e}')
        if kind == 'janus' and server is not None:
            rec['server_log_tail'] = server.log_tail()
    finally:
        if browser is not None:
            browser.close()
        if server is not None:
            try:
                if kind == 'turnpike':
                    server.stop()
                    stop_rc = server.returncode
                    server.cleanup()
                else:
                    stop_rc = server.stop()
            except harness.ServerError as e:
                rec['problems'].append(f'stop: {e}')
                rec['ok'] = False
        rec['server_exit'] = stop_rc
        rec['duration_s'] = round(time.monotonic() - t_start, 1)
    return rec


def log_run(rec):
    if rec.get('cpu_s_per_mpkt') is not None:
        p = rec['publisher']
        log(f'  {rec["server"]:8} {rec["cpu_s_per_mpkt"]:7.2f} CPU s/Mpkt  ({rec["cpu_s"]:.2f} CPU s, '
            f'{rec["forwarded_packets"]} pkts in {rec["window_s"]:.1f}s = {rec["forwarded_pps"]:.0f}/s, '
            f'{rec["bytes_per_packet"]:.0f} B/pkt; delivery {rec["delivery"]}; publisher {p["frame"]} '
            f'{p["video_kbps"]:.0f} kbit/s; nacks {rec["nacks_sent_by_subscribers"]}, plis '
            f'{rec["plis_sent_by_subscribers"]}; browser {rec["browser_cpu_s"]:.1f} CPU s)'
            + ('' if rec['ok'] else f'  INVALID: {"; ".join(rec["problems"])}'))
    else:
        log(f'  {rec["server"]:8} FAILED: {"; ".join(rec["problems"])}')


# ---------------------------------------------------------------- summary

def summarize(runs):
    out = {}
    for kind in SERVERS:
        good = [r for r in runs if r['server'] == kind and r.get('ok')]
        out[kind] = dict(
            valid=len(good), invalid=len([r for r in runs if r['server'] == kind and not r.get('ok')]),
            cpu_s_per_mpkt=median([r['cpu_s_per_mpkt'] for r in good]),
            cpu_s_per_mpkt_schedstat=median([r.get('cpu_s_per_mpkt_schedstat') for r in good]),
            per_round=[r['cpu_s_per_mpkt'] for r in good],
            forwarded_pps=median([r['forwarded_pps'] for r in good]),
            bytes_per_packet=median([r['bytes_per_packet'] for r in good]),
            cpu_s=median([r['cpu_s'] for r in good]),
            delivery=median([r['delivery'] for r in good]),
            publisher_video_kbps=median([r['publisher']['video_kbps'] for r in good]),
            browser_cpu_s=median([r['browser_cpu_s'] for r in good]),
        )
    tp, ja = out['turnpike']['cpu_s_per_mpkt'], out['janus']['cpu_s_per_mpkt']
    out['ratio'] = round(tp / ja, 3) if tp and ja else None
    tps, jas = out['turnpike']['cpu_s_per_mpkt_schedstat'], out['janus']['cpu_s_per_mpkt_schedstat']
    out['ratio_schedstat'] = round(tps / jas, 3) if tps and jas else None
    paired = []
    for rnd in sorted({r['round'] for r in runs}):
        a = [r for r in runs if r['round'] == rnd and r['server'] == 'turnpike' and r.get('ok')]
        b = [r for r in runs if r['round'] == rnd and r['server'] == 'janus' and r.get('ok')]
        if a and b:
            paired.append(a[0]['cpu_s_per_mpkt'] / b[0]['cpu_s_per_mpkt'])
    out['paired_ratios'] = [round(x, 3) for x in paired]
    out['paired_ratio'] = round(median(paired), 3) if paired else None
    return out


def print_table(summary, runs, meta):
    log('')
    log(f'SFU fan-out: 1 publisher -> {meta["subscribers"]} subscribers, {meta["video"]} + Opus, '
        f'{meta["window_s"]:.0f} s window after {meta["warmup_s"]:.0f} s warm-up; server CPU s per '
        f'million forwarded packets (= CPU us per packet)')
    log('| round | server | CPU s / Mpkt | CPU s | forwarded pkts | pkts/s | B/pkt | delivery | '
        'publisher kbit/s | NACKs | PLIs | valid |')
    log('|---|---|---|---|---|---|---|---|---|---|---|---|')
    for r in runs:
        if r.get('cpu_s_per_mpkt') is None:
            log(f'| {r["round"]} | {r["server"]} | - | - | - | - | - | - | - | - | - | failed |')
            continue
        log(f'| {r["round"]} | {r["server"]} | {r["cpu_s_per_mpkt"]:.2f} | {r["cpu_s"]:.2f} | '
            f'{r["forwarded_packets"]} | {r["forwarded_pps"]:.0f} | {r["bytes_per_packet"]:.0f} | '
            f'{r["delivery"]:.3f} | {r["publisher"]["video_kbps"]:.0f} | '
            f'{r["nacks_sent_by_subscribers"]} | {r["plis_sent_by_subscribers"]} | '
            f'{"yes" if r["ok"] else "NO"} |')
    log('')
    tp, ja = summary['turnpike'], summary['janus']
    log('| | Turnpike | Janus VideoRoom |')
    log('|---|---|---|')
    log(f'| CPU s per million forwarded packets (median) | {fmt(tp["cpu_s_per_mpkt"])} | '
        f'{fmt(ja["cpu_s_per_mpkt"])} |')
    log(f'| same from schedstat (ns) | {fmt(tp["cpu_s_per_mpkt_schedstat"])} | '
        f'{fmt(ja["cpu_s_per_mpkt_schedstat"])} |')
    log(f'| per round | {", ".join(fmt(x) for x in tp["per_round"])} | '
        f'{", ".join(fmt(x) for x in ja["per_round"])} |')
    log(f'| forwarded packets/s | {fmt(tp["forwarded_pps"], 0)} | {fmt(ja["forwarded_pps"], 0)} |')
    log(f'| bytes per packet | {fmt(tp["bytes_per_packet"], 0)} | {fmt(ja["bytes_per_packet"], 0)} |')
    log(f'| valid measurements | {tp["valid"]} | {ja["valid"]} |')
    log('')
    log(f'Turnpike / Janus = {fmt(summary["ratio"], 3)} (ratio of medians); paired per round '
        f'{fmt(summary["paired_ratio"], 3)} {summary["paired_ratios"]}; from schedstat '
        f'{fmt(summary["ratio_schedstat"], 3)}')


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description='SFU fan-out: Turnpike vs Janus VideoRoom, server CPU '
                                             'per million forwarded packets (loopback only).')
    ap.add_argument('--rounds', type=int, default=3, help='rounds, each measuring both servers (default 3)')
    ap.add_argument('--subscribers', type=int, default=8, help='subscribers N (default 8)')
    ap.add_argument('--window', type=float, default=20.0, help='measurement window, s (default 20)')
    ap.add_argument('--warmup', type=float, default=8.0,
                    help='s after every subscriber decodes, before the window (default 8)')
    ap.add_argument('--width', type=int, default=320)
    ap.add_argument('--height', type=int, default=180)
    ap.add_argument('--fps', type=int, default=15)
    ap.add_argument('--max-bitrate', type=int, default=300, help='publisher video cap, kbit/s (default 300)')
    ap.add_argument('--budget', type=float, default=540.0, help='seconds for the whole run (default 540); '
                                                                'measurements that would not fit are skipped')
    ap.add_argument('--servers', default='turnpike,janus', help='which servers (default both)')
    ap.add_argument('--out', help='JSON result (default bench/results/sfu_fanout.json)')
    ap.add_argument('--turnpike-bin', help='turnpike binary (default $TURNPIKE_BIN or build/bin/turnpike); '
                                           'copied once at start')
    ap.add_argument('--summary', metavar='JSON', help='only print the tables of an earlier result file')
    args = ap.parse_args()
    if args.summary:
        with open(args.summary) as f:
            old = json.load(f)
        print_table(summarize(old['runs']), old['runs'], old['meta'])
        return 0
    servers = [s.strip() for s in args.servers.split(',') if s.strip()]
    if any(s not in SERVERS for s in servers) or not servers:
        ap.error(f'--servers: of {", ".join(SERVERS)}')
    if not 1 <= args.subscribers <= 32 or args.rounds < 1 or not 5 <= args.window <= 300:
        ap.error('--subscribers 1..32, --rounds >= 1, --window 5..300')
    out_path = Path(args.out) if args.out else BENCH_DIR / 'results' / 'sfu_fanout.json'

    t_begin = time.monotonic()
    deadline = t_begin + args.budget
    src_bin = Path(args.turnpike_bin or os.environ.get('TURNPIKE_BIN') or harness.DEFAULT_TURNPIKE_BIN)
    need = [browser.CHROMIUM, browser.CHROMEDRIVER] + ([src_bin] if 'turnpike' in servers else []) + \
        ([JANUS_BIN] if 'janus' in servers else [])
    for b in need:
        if not os.access(b, os.X_OK):
            raise SystemExit(f'sfu_fanout: {b} not found or not executable')
    try:
        import selenium  # noqa: F401
    except ImportError:
        raise SystemExit('sfu_fanout: python3-selenium is not installed')

    tmp = Path(tempfile.mkdtemp(prefix='turnpike-sfu-bench-'))
    try:
        turnpike_bin = tmp / 'turnpike'
        if 'turnpike' in servers:
            shutil.copy2(src_bin, turnpike_bin)
        git = lambda *a: cmd_output(['git', '-C', str(REPO_ROOT)] + list(a))  # noqa: E731
        meta = dict(
            command=' '.join(['bench/sfu_fanout.py'] + sys.argv[1:]),
            started_utc=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
            rounds=args.rounds, subscribers=args.subscribers, window_s=args.window, warmup_s=args.warmup,
            video=f'VP8 {args.width}x{args.height}@{args.fps} capped at {args.max_bitrate} kbit/s',
            servers=servers, budget_s=args.budget,
            method=('one Chromium page: 1 publisher RTCPeerConnection (fake camera + mic) and N '
                    'subscriber RTCPeerConnections, host candidates on 127.0.0.1 only; forwarded '
                    'packets = sum over subscribers of getStats() inbound-rtp packetsReceived '
                    '(audio + video) over the window; CPU = utime+stime of the server process from '
                    '/proc/PID/stat (ticks of 1/%d s) over the same window, read right after each '
                    'stats snapshot; cpu_s_schedstat: the live threads\' schedstat run time (ns)' % CLK_TCK),
            turnpike_config=('harness default config (threads: 2, log info) + sfu.signal_listen, '
                             'sfu.media_listen on 127.0.0.1; the page drops the join\'s ICE servers'),
            janus_config=('janus.jcfg: interface 127.0.0.1, ice_enforce_list 127.0.0.1, no STUN/TURN, '
                          'ipv6 false, ignore_mdns, full ICE (default), debug_level 4; only '
                          'libjanus_videoroom.so and libjanus_http.so (127.0.0.1) loaded; room: '
                          'publishers 1, bitrate 0, fir_freq 0, opus + vp8'),
            turnpike_bin=str(src_bin) if 'turnpike' in servers else None,
            turnpike_sha256=sha256(turnpike_bin) if 'turnpike' in servers else None,
            turnpike_version=cmd_output([str(turnpike_bin), '--version']) if 'turnpike' in servers else None,
            janus_version=cmd_output(['dpkg-query', '-W', '-f=${Version}', 'janus']),
            chromium_version=(cmd_output([browser.CHROMIUM, '--version']).splitlines() or ['?'])[-1].strip(),
            git_head=git('rev-parse', 'HEAD'), git_dirty=bool(git('status', '--porcelain')),
            kernel=platform.release(), cpus=os.cpu_count(),
            cpu_model=next((ln.split(':', 1)[1].strip() for ln in open('/proc/cpuinfo')
                            if ln.startswith('model name')), '?'),
            loadavg_start=open('/proc/loadavg').read().split()[:3],
        )
        log(f'sfu_fanout: {", ".join(servers)}; {args.rounds} rounds; 1 publisher -> {args.subscribers} '
            f'subscribers; {meta["video"]}; window {args.window:.0f}s; budget {args.budget:.0f}s; '
            f'load average {" ".join(meta["loadavg_start"])}')
        runs, skipped, durations = [], [], []
        with browser.PageServer.directory(PAGE_DIR, 'fanout.html') as page:
            for rnd in range(args.rounds):
                order = servers if rnd % 2 == 0 else list(reversed(servers))
                log(f'--- round {rnd + 1}/{args.rounds} (order: {", ".join(order)})')
                for kind in order:
                    est = max(durations) if durations else 60.0
                    if time.monotonic() + est * 1.1 > deadline:
                        skipped.append(dict(round=rnd + 1, server=kind))
                        log(f'  {kind}: skipped, budget ({deadline - time.monotonic():.0f}s left, '
                            f'a measurement takes ~{est:.0f}s)')
                        continue
                    rec = measure(kind, args, turnpike_bin, page.url, tmp)
                    rec['round'] = rnd + 1
                    rec['position'] = order.index(kind) + 1
                    durations.append(rec['duration_s'])
                    runs.append(rec)
                    log_run(rec)
        meta['skipped'] = skipped
        meta['duration_s'] = round(time.monotonic() - t_begin, 1)
        meta['loadavg_end'] = open('/proc/loadavg').read().split()[:3]
        summary = summarize(runs)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with open(out_path, 'w') as f:
            json.dump(dict(meta=meta, summary=summary, runs=runs), f, indent=2)
            f.write('\n')
        print_table(summary, runs, meta)
        log(f'{sum(r["ok"] for r in runs)} valid measurements of {len(runs)}, {len(skipped)} skipped; '
            f'{meta["duration_s"]:.0f}s; load average {" ".join(meta["loadavg_start"])} -> '
            f'{" ".join(meta["loadavg_end"])}; JSON: {out_path}')
        return 0 if all(summary[k]['cpu_s_per_mpkt'] is not None for k in servers) else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    if sys.argv[1:2] == ['loadgen']:   # the loadgen mode: synthetic participants at scale (bench/sfu_loadgen.py)
        import sfu_loadgen
        sys.exit(sfu_loadgen.main(sys.argv[2:]))
    sys.exit(main())
