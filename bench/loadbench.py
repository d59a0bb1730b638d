"""Shared pieces of bench/capacity and bench/soak: the servers' common config, CPU pinning,
/proc sampling and running turnpike-loadgen against a harness server. Python 3 stdlib + the
integration harness (tests/integration/harness.py)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT / 'tests'))  # the test package's root: `integration`

from integration import harness  # noqa: E402

CLK_TCK = os.sysconf('SC_CLK_TCK')
# Big enough that neither server refuses the load: 10,000 allocations (+ headroom) on the node,
# per user (REST usernames differ per call anyway) and relay ports (22,000 below the ephemeral range).
MAX_ALLOCATIONS = 40000
RELAY_PORTS = [10000, 31999]


def proc_cpu(pid):
    """utime + stime of the whole process (all threads), seconds."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kb(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir(f'/proc/{pid}/fd'))


def cpu_split():
    """(server CPUs, loadgen CPUs): the server on CPU 0, loadgen on the rest (all CPUs if only one)."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return set(allowed), set(allowed)
    return {allowed[0]}, set(allowed[1:])


def pin(pid, cpus):
    """Every thread of pid onto cpus. Both servers start their threads before they answer, so
    pinning after the harness saw the server ready covers all of them."""
    for tid in os.listdir(f'/proc/{pid}/task'):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:
            pass


def server(kind, turnpike_bin, threads=1, turnpike_overrides=None):
    """A harness server: one relaying thread, REST auth, loopback, the same limits for both.
    turnpike_overrides: more of Turnpike's config, deep-merged (e.g. {'quality': {'enabled': False}})."""
    cfg = harness.default_config(threads=threads, limits={
        'max_allocations': MAX_ALLOCATIONS, 'max_allocations_per_user': MAX_ALLOCATIONS,
        # All loadgen sockets share 127.0.0.1: Turnpike's amplification budget for 401 challenges is
        # per source address, and coturn has none. Lift it so both answer every Allocate.
        'unauthenticated_excess_bytes_per_second': 100_000_000,
        'unauthenticated_excess_burst': 100_000_000})
    cfg['relay']['port_range'] = list(RELAY_PORTS)
    if kind == 'turnpike':
        return harness.Turnpike(harness.deep_merge(cfg, turnpike_overrides or {}), binary=str(turnpike_bin))
    return harness.Coturn(cfg, auth='rest', extra_args=[
        '--total-quota', str(MAX_ALLOCATIONS), '--user-quota', str(MAX_ALLOCATIONS), '--no-stdout-log'])


def loadgen_cmd(loadgen_bin, srv, report_dir, extra):
    host, port = srv.turn_addr
    return [str(loadgen_bin), '--server', f'{host}:{port}', '--rest-secret', harness.REST_SECRET,
            '--realm', harness.REALM, '--report', str(report_dir), '--quiet'] + list(extra)


def read_report(report_dir, proc_output=''):
    try:
        return json.loads((Path(report_dir) / 'report.json').read_text())
    except (OSError, ValueError) as e:
        raise RuntimeError(f'no loadgen report in {report_dir} ({e}): {proc_output[-1500:]}')


def loadgen_accepts(loadgen_bin, extra):
    """Whether this turnpike-loadgen accepts the options `extra` (exit status 2 is bad usage): a one-call
    run against a closed loopback port, which fails at once."""
    r = subprocess.run([str(loadgen_bin), '--server', '127.0.0.1:9', '--user', 'u', '--password', 'p',
                        '--calls', '1', '--duration', '0', '--max-duration', '3s', '--quiet'] + list(extra),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
    return r.returncode != 2


def git_rev():
    r = subprocess.run(['git', '-C', str(REPO_ROOT), 'describe', '--always', '--dirty'],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return r.stdout.strip()


def parse_duration(s):
    """'500ms', '30s', '5m', '1h' or a bare number of seconds -> seconds."""
    s = s.strip()
    for suf, mul in (('ms', 0.001), ('s', 1), ('m', 60), ('h', 3600)):
        if s.endswith(suf) and s[:-len(suf)].replace('.', '', 1).isdigit():
            return float(s[:-len(suf)]) * mul
    return float(s)


def wait_gone(proc, deadline):
    """Wait for proc until the monotonic deadline, then kill it; returns its exit status."""
    try:
        return proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=10)
