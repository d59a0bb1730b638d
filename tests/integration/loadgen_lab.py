"""Helpers for test_loadgen.py: running turnpike-loadgen and reading its reports, a two-namespace
link (from tests/netlab/) with induced loss or a rate limit between loadgen and the server, and the
report's HTML checked in headless Chromium.

    run = run_loadgen(binary, ['--server', '127.0.0.1:3478', ...], out_dir, timeout=30)
    run.rc, run.secs, run.report (report.json as a dict), run.dir

Stdlib (and Selenium for the HTML check) only; every wait is bounded.
"""
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

from integration import harness  # noqa: E402
from netlab import netlab  # noqa: E402

# The plots report.html draws (loadgen/report_html.cpp): <svg class="plot" data-plot="NAME">, each
# with its series as .series paths or polylines.
PLOTS = ('loss-vs-load', 'jitter-vs-load', 'rtt-vs-load', 'throughput-vs-load', 'setup-vs-load',
         'throughput-time', 'loss-time', 'jitter-time', 'rtt-time', 'calls-time', 'cpu-time')
# Bytes on the wire around an RTP packet sent as ChannelData over UDP/IPv4 on Ethernet (veth):
# ChannelData header 4, UDP 8, IPv4 20, Ethernet 14. tbf counts whole frames.
WIRE_OVERHEAD = 4 + 8 + 20 + 14


def loadgen_binary(turnpike_bin):
    """turnpike-loadgen: $TURNPIKE_LOADGEN_BIN, or beside the turnpike binary."""
    env = os.environ.get('TURNPIKE_LOADGEN_BIN')
    if env:
        return env
    base = turnpike_bin or os.environ.get('TURNPIKE_BIN') or str(harness.DEFAULT_TURNPIKE_BIN)
    return str(Path(base).parent / 'turnpike-loadgen')


# ---------------------------------------------------------------- running loadgen

class Run:
    """One finished (or killed) turnpike-loadgen process."""

    def __init__(self, argv, out_dir):
        self.argv = argv
        self.dir = Path(out_dir)
        self.rc = None
        self.secs = None
        self.timed_out = False
        self.report = None
        self.report_error = None

    @property
    def log_path(self):
        return self.dir / 'loadgen.log'

    def log_tail(self, lines=15):
        try:
            return '\n'.join(self.log_path.read_text(errors='replace').splitlines()[-lines:])
        except OSError:
            return '(no log)'

    def describe(self):
        return (f'$ {" ".join(map(str, self.argv))}\n  exit {self.rc} after {self.secs:.1f}s'
                f'{" (killed: timed out)" if self.timed_out else ""}; output tail:\n{self.log_tail()}')


def start_loadgen(binary, args, out_dir, wrap=None):
    """Starts `binary args --report out_dir` (argv wrapped by `wrap`, e.g. lab.wrap for a namespace)
    in its own process group, output to out_dir/loadgen.log. Returns (Popen, Run, monotonic start)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    argv = [binary] + [str(a) for a in args] + ['--report', str(out_dir)]
    run = Run(argv, out_dir)
    full = wrap(argv) if wrap else argv
    log = open(run.log_path, 'wb')
    try:
        proc = subprocess.Popen(full, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    finally:
        log.close()
    harness._register(proc)
    return proc, run, time.monotonic()


def finish_loadgen(proc, run, t0, timeout):
    """Waits for the process up to `timeout` s from t0 (then kills its group) and reads the report."""
    try:
        run.rc = proc.wait(timeout=max(0.1, timeout - (time.monotonic() - t0)))
    except subprocess.TimeoutExpired:
        run.timed_out = True
        harness.kill_tree(proc, signal.SIGKILL)
        run.rc = proc.wait(timeout=10)
    finally:
        harness.kill_tree(proc, signal.SIGKILL)
        harness._unregister(proc)
    run.secs = time.monotonic() - t0
    return read_report(run)


def read_report(run):
    """run.report from run.dir/report.json (run.report_error when unreadable). Returns run."""
    try:
        run.report = json.loads((run.dir / 'report.json').read_text())
    except (OSError, ValueError) as e:
        run.report_error = f'{type(e).__name__}: {e}'
    return run


def run_loadgen(binary, args, out_dir, timeout, wrap=None):
    proc, run, t0 = start_loadgen(binary, args, out_dir, wrap)
    return finish_loadgen(proc, run, t0, timeout)


def run_merge(binary, out_dir, inputs, timeout=30):
    """`turnpike-loadgen merge --report OUT IN...`: (exit code, output text)."""
    argv = [binary, 'merge', '--report', str(out_dir)] + [str(i) for i in inputs]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return r.returncode, r.stdout.decode('utf-8', 'replace')


# ---------------------------------------------------------------- reading a report

def need_report(run):
    assert run.report is not None, f'no readable report.json ({run.report_error})\n{run.describe()}'
    return run.report


def check_files(run):
    """report.json, timeseries.csv (header + rows) and report.html are there and not empty.
    Returns the CSV rows (dicts)."""
    for name in ('report.json', 'timeseries.csv', 'report.html'):
        p = run.dir / name
        assert p.is_file() and p.stat().st_size > 0, f'{name} missing or empty in {run.dir}\n{run.describe()}'
    with open(run.dir / 'timeseries.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert rows, f'timeseries.csv has no rows\n{run.describe()}'
    assert 't_s' in rows[0], f'timeseries.csv header has no t_s: {list(rows[0])}'
    return rows


def direction_totals(report):
    """{(call, direction): {sent, received, lost, expected, ...}} summed over the steps."""
    out = {}
    for s in report.get('streams') or []:
        d = out.setdefault((s['call'], s['direction']), {k: 0 for k in (
            'sent', 'expected', 'received', 'lost', 'reordered', 'duplicates', 'bytes')})
        for k in d:
            d[k] += int(s.get(k, 0))
    return out


def loss_pct(d):
    return 100.0 * d['lost'] / d['expected'] if d['expected'] else 0.0


def median(values):
    v = sorted(values)
    if not v:
        return None
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def static_html_check(path):
    """report.html names every plot and fetches nothing: (plot names found, problems)."""
    text = Path(path).read_text(errors='replace')
    found = re.findall(r'<svg\b[^>]*\bdata-plot="([^"]+)"', text)
    problems = [f'no plot {p}' for p in PLOTS if p not in found]
    # Anything that would load from elsewhere: script/img/link/iframe sources, CSS url(), @import.
    for pat in (r'<script\b[^>]*\bsrc=', r'<link\b', r'<img\b[^>]*\bsrc="(?!data:)', r'<iframe\b',
                r'url\(\s*[\'"]?(?!data:|#)', r'@import'):
        m = re.search(pat, text, re.I)
        if m:
            problems.append(f'external reference: ...{text[max(0, m.start() - 20):m.end() + 40]}...')
    return found, problems


# ---------------------------------------------------------------- the link lab

def lab_available():
    """(True, '') when netlab can build its namespaces here and the kernel has tbf and the iptables
    statistic match; else (False, why)."""
    ok, why = netlab.available()
    if not ok:
        return False, why
    ns = f'tlgchk{os.getpid()}'
    subprocess.run(['ip', 'netns', 'del', ns], capture_output=True, timeout=10)
    try:
        steps = [
            (['ip', 'netns', 'add', ns], 'create a namespace'),
            (['ip', '-n', ns, 'link', 'add', 'c0', 'type', 'veth', 'peer', 'name', 'c1'], 'create a veth'),
            (['ip', 'netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', 'c0', 'root', 'tbf', 'rate', '1mbit',
              'burst', '4000', 'limit', '20000'], 'add a tbf qdisc (sch_tbf)'),
            (['ip', 'netns', 'exec', ns, 'iptables', '-w', '5', '-t', 'raw', '-A', 'PREROUTING', '-p', 'udp',
              '-m', 'statistic',
              '--mode', 'random', '--probability', '0.5', '-j', 'DROP'],
             'add an iptables statistic rule (xt_statistic)'),
        ]
        for argv, what in steps:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            if r.returncode != 0:
                return False, f'cannot {what}: {(r.stderr or r.stdout).strip()}'
        return True, ''
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f'{type(e).__name__}: {e}'
    finally:
        subprocess.run(['ip', 'netns', 'del', ns], capture_output=True, timeout=10)


class LinkLab:
    """The server namespace and one client namespace of netlab (kind no_nat: no NAT, one veth from
    the client to the server bridge). The client's end of the veth is the path loadgen -> server:
    the drop rule and the tbf qdisc go there."""

    def __init__(self, prefix='tlg'):
        self.lab = netlab.Lab(prefix=prefix, kinds=['no_nat'])

    def __enter__(self):
        self.lab.__enter__()
        site = self.lab.sites['no_nat']
        self.server_ns, self.client_ns = self.lab.server_ns, site.client_ns
        self.server_ip, self.client_ip, self.client_if = netlab.SERVER_IPS[0], site.client_ip, site.client_if
        return self

    def __exit__(self, *exc):
        self.lab.__exit__(*exc)

    def client(self, argv):
        """argv wrapped to run in the client namespace."""
        return self.lab.wrap(self.client_ns, argv)

    def sh(self, ns, argv, timeout=20):
        r = subprocess.run(self.lab.wrap(ns, argv), capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f'{" ".join(argv)} in {ns}: {(r.stderr or r.stdout).strip()}')
        return r.stdout

    def drop_to_server(self, port, probability):
        """Counts every UDP datagram from the client to server:port as it arrives in the server
        namespace, and drops `probability` of them at random there (the client -> server direction
        only). Dropped on arrival, not in the client's OUTPUT chain: a local DROP would fail the
        sender's sendto() with EPERM, which is not what a lossy path looks like."""
        base = ['iptables', '-w', '5', '-t', 'raw', '-A', 'PREROUTING', '-p', 'udp', '-s', self.client_ip,
                '-d', self.server_ip, '--dport', str(port)]
        self.sh(self.server_ns, base)                       # a counter: every datagram
        self.sh(self.server_ns, base + ['-m', 'statistic', '--mode', 'random', '--probability',
                                        f'{probability}', '-j', 'DROP'])

    def drop_counters(self):
        """(datagrams to the server, datagrams dropped) from the two rules of drop_to_server."""
        out = self.sh(self.server_ns, ['iptables', '-w', '5', '-t', 'raw', '-L', 'PREROUTING', '-n', '-v', '-x'])
        rows = [ln.split() for ln in out.splitlines() if ln.strip() and ln.split()[0].isdigit()]
        total = next(int(r[0]) for r in rows if r[2] != 'DROP')
        dropped = next(int(r[0]) for r in rows if r[2] == 'DROP')
        return total, dropped

    def limit_rate(self, rate_kbit, burst_bytes, limit_bytes):
        """A tbf qdisc on the client's veth: client -> server at most rate_kbit."""
        self.sh(self.client_ns, ['tc', 'qdisc', 'replace', 'dev', self.client_if, 'root', 'tbf', 'rate',
                                 f'{rate_kbit}kbit', 'burst', str(burst_bytes), 'limit', str(limit_bytes)])

    def qdisc_stats(self):
        return self.sh(self.client_ns, ['tc', '-s', 'qdisc', 'show', 'dev', self.client_if])


def lab_config(link):
    """Turnpike in the server namespace: UDP on the server address, relaying from it, peers in the
    lab's public network allowed (the peers are the relayed addresses themselves)."""
    cfg = harness.default_config()
    cfg['listen'] = [{'transport': 'udp', 'address': link.server_ip, 'port': 3478}]
    cfg['relay'] = {'addresses': [link.server_ip], 'port_range': [40000, 44999]}
    cfg['peers'] = {'allow': [netlab.PUBLIC_NET], 'deny': []}
    cfg['admin'] = {'listen': '127.0.0.1:9641'}
    return cfg


# ---------------------------------------------------------------- report.html in Chromium

PLOT_JS = r"""
const want = arguments[0];
const out = {plots: {}, all: [], resources: performance.getEntriesByType('resource').map(e => e.name)};
for (const svg of document.querySelectorAll('svg.plot[data-plot]')) out.all.push(svg.dataset.plot);
for (const name of want) {
  const svg = document.querySelector(`svg.plot[data-plot="${name}"]`);
  if (!svg) { out.plots[name] = {found: false}; continue; }
  const r = svg.getBoundingClientRect();
  const shapes = svg.querySelectorAll('.series path, .series polyline, path.series, polyline.series');
  let len = 0, pts = 0;
  for (const s of shapes) {
    try { len = Math.max(len, s.getTotalLength()); } catch (e) {}
    if (s.points) pts = Math.max(pts, s.points.length);
  }
  out.plots[name] = {found: true, w: r.width, h: r.height, series: shapes.length, len: len, pts: pts};
}
out.height = Math.ceil(document.documentElement.scrollHeight);
return out;
"""


def chromium_plots(html_path, screenshot_path, workdir):
    """Opens report.html (file://) in headless Chromium: per plot {found, w, h, series, len, pts},
    every plot name in the page, the resources it fetched; saves a full-page screenshot."""
    from integration import browser
    profile = Path(workdir) / 'chromium-profile'
    profile.mkdir(parents=True, exist_ok=True)
    drv, service = browser.make_driver(str(profile), str(Path(workdir) / 'chromedriver.log'),
                                       extra_args=['--window-size=1280,900'])
    try:
        drv.get(Path(html_path).resolve().as_uri())
        res = drv.execute_script(PLOT_JS, list(PLOTS))
        drv.set_window_size(1280, max(900, min(int(res.get('height') or 900) + 150, 12000)))
        time.sleep(0.3)
        drv.save_screenshot(str(screenshot_path))
        return res
    finally:
        browser.quit(drv, service)
        shutil.rmtree(profile, ignore_errors=True)
