#!/usr/bin/python3
"""The Debian package on this machine: it installs with dpkg, its files are where the unit expects
them, `systemd-analyze verify` passes on the installed unit, the installed binary starts on the
installed config as the unit starts it (ExecStartPre, then ExecStart as user turnpike, Type=notify:
READY=1; SIGHUP: RELOADING=1 then READY=1; SIGTERM: a drain, STOPPING=1, and exit 0 with no allocation left), a TURN Allocate with
the generated REST secret succeeds, and `dpkg --purge` leaves nothing behind.

Without a running systemd (a container: no /run/systemd/system) the test plays the service
manager: a Python AF_UNIX datagram socket is NOTIFY_SOCKET and setpriv drops to the turnpike user
with the unit's ambient capability. With systemd running it uses systemctl.

Needs root (dpkg). Refuses to run if a turnpike package is already installed (it would purge it).

Run: python3 test_deb.py [--deb PATH]   (without --deb: scripts/package --out <tmp>)
"""

import argparse
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / 'tests'))

from integration import harness, stunclient  # noqa: E402

UNIT = Path('/lib/systemd/system/turnpike.service')
PROBE_UNIT = Path('/lib/systemd/system/turnpike-diag-probe@.service')   # a site probe, per instance
PROBE_ENV = Path('/usr/share/doc/turnpike/examples/probe.env')
CONF = Path('/etc/turnpike/turnpike.yaml')
SECRET = Path('/etc/turnpike/rest-secret')
BINARIES = [Path('/usr/bin/turnpike'), Path('/usr/bin/turnpike-diag'), Path('/usr/bin/turnpike-loadgen')]
MANPAGES = [Path('/usr/share/man/man8/turnpike.8.gz'), Path('/usr/share/man/man1/turnpike-diag.1.gz'),
            Path('/usr/share/man/man1/turnpike-loadgen.1.gz')]


def sh(*cmd, check=True, timeout=600, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f'{" ".join(map(str, cmd))} exited {r.returncode}:\n{r.stdout[-3000:]}')
    return r


def installed():
    r = sh('dpkg-query', '-W', '-f=${Status}', 'turnpike', check=False)
    return r.returncode == 0 and 'install ok installed' in r.stdout


def unit_settings():
    out = {}
    for line in UNIT.read_text().splitlines():
        m = re.match(r'^([A-Za-z]+)=(.*)$', line.strip())
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


def owner_mode(p):
    st = p.stat()
    return pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name, stat.S_IMODE(st.st_mode)


def check_files():
    for p in BINARIES + MANPAGES + [UNIT, CONF, SECRET, PROBE_UNIT, PROBE_ENV]:
        assert p.exists(), f'{p} is missing'
    pwd.getpwnam('turnpike')
    assert owner_mode(CONF) == ('root', 'turnpike', 0o640), f'{CONF}: {owner_mode(CONF)}'
    assert owner_mode(SECRET) == ('root', 'turnpike', 0o640), f'{SECRET}: {owner_mode(SECRET)}'
    secret = SECRET.read_text().strip()
    assert re.fullmatch(r'[0-9a-f]{64}', secret), 'rest-secret is not 32 random bytes in hex'
    assert secret in CONF.read_text(), 'the config does not carry the generated secret'
    u = unit_settings()
    for key in ('ExecStartPre', 'ExecStart', 'ExecReload'):
        for cmd in u[key]:
            exe = cmd.split()[0].lstrip('-@+!')
            assert os.access(exe, os.X_OK), f'{key}: {exe} is not executable'
            for arg in cmd.split()[1:]:
                if arg.startswith('/etc/'):
                    assert Path(arg).exists(), f'{key}: {arg} is missing'
    assert u['Type'] == ['notify'] and u['User'] == ['turnpike'], 'Type=notify, User=turnpike'
    return f'{len(BINARIES)} binaries, man pages, unit, config and secret 0640 root:turnpike'


def verify_unit():
    r = sh('systemd-analyze', 'verify', str(UNIT), check=False)
    assert r.returncode == 0 and 'turnpike' not in r.stdout, f'systemd-analyze verify:\n{r.stdout}'
    # The probe template, as an instance (a template alone cannot be verified).
    with tempfile.TemporaryDirectory() as d:
        inst = Path(d) / 'turnpike-diag-probe@site.service'
        shutil.copy(PROBE_UNIT, inst)
        r = sh('systemd-analyze', 'verify', str(inst), check=False)
        assert r.returncode == 0 and 'turnpike' not in r.stdout, f'systemd-analyze verify {inst.name}:\n{r.stdout}'
    return 'clean (and the probe template)'


class Notifications:
    """NOTIFY_SOCKET: an AF_UNIX datagram socket the turnpike user may write to."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='turnpike-pkg-notify-')
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, 'notify')
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self.seen = []

    def expect(self, state, timeout):
        """Waits for a message with `state` (e.g. READY=1); returns its fields."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            fields = dict(line.split('=', 1) for line in data.splitlines() if '=' in line)
            self.seen.append(fields)
            if state in data.splitlines():
                return fields
        raise AssertionError(f'no {state} within {timeout}s (got {self.seen})')

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def as_turnpike(cmd):
    """The unit's User=turnpike and AmbientCapabilities=CAP_NET_BIND_SERVICE, with setpriv."""
    return ['setpriv', '--reuid=turnpike', '--regid=turnpike', '--init-groups',
            '--inh-caps=+net_bind_service', '--ambient-caps=+net_bind_service',
            '--bounding-set=-all,+net_bind_service', '--no-new-privs', *cmd]


def allocate():
    secret = SECRET.read_text().strip()
    user, password = stunclient.rest_credentials(secret, 'pkg-test')
    with stunclient.TurnClient(('127.0.0.1', 3478)) as c:
        r = c.allocate(user, password)
        assert r.is_success, f'Allocate: {r.describe()}'
        relayed = r.xor_address(stunclient.XOR_RELAYED_ADDRESS)
        # Released again, as a client ending its call does: SIGTERM drains, and the node exits
        # once no allocation is left (docs/admin-api.md, POST /api/v1/drain).
        d = c.refresh(lifetime=0)
        assert d.is_success, f'Refresh(0): {d.describe()}'
        return relayed


def run_as_the_unit():
    u = unit_settings()
    sh(*as_turnpike(u['ExecStartPre'][0].split()))
    n = Notifications()
    log = tempfile.NamedTemporaryFile(prefix='turnpike-pkg-', suffix='.log', delete=False)
    proc = subprocess.Popen(as_turnpike(u['ExecStart'][0].split()), stdout=log, stderr=subprocess.STDOUT,
                            env={'NOTIFY_SOCKET': n.path, 'PATH': '/usr/bin:/bin'}, start_new_session=True)
    harness._register(proc)
    try:
        ready = n.expect('READY=1', 15)
        relayed = allocate()
        os.kill(proc.pid, signal.SIGHUP)
        n.expect('RELOADING=1', 5)
        n.expect('READY=1', 5)
        allocate()   # still serving after the reload
        proc.send_signal(signal.SIGTERM)
        n.expect('STOPPING=1', 5)
        rc = proc.wait(timeout=15)
        assert rc == 0, f'exit code {rc} after SIGTERM'
        return f'READY ({ready.get("STATUS")}), relayed {relayed}, RELOADING/READY, STOPPING, exit 0'
    except BaseException:
        print(Path(log.name).read_text()[-3000:], file=sys.stderr)
        raise
    finally:
        if proc.poll() is None:
            harness.kill_tree(proc)
            proc.wait(timeout=5)
        harness._unregister(proc)
        n.close()
        os.unlink(log.name)


def run_with_systemd():
    sh('systemctl', 'restart', 'turnpike')
    relayed = allocate()
    sh('systemctl', 'reload', 'turnpike')
    allocate()
    sh('systemctl', 'stop', 'turnpike')
    return f'systemctl restart/reload/stop, relayed {relayed}'


def purge():
    sh('dpkg', '--purge', 'turnpike')
    left = [str(p) for p in BINARIES + MANPAGES + [UNIT, PROBE_UNIT, CONF, SECRET, CONF.parent] if p.exists()]
    assert not left, f'left behind: {left}'
    return 'nothing left (the turnpike system user stays, as Debian policy has it)'


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--deb', help='the package (default: build it with scripts/package)')
    args = ap.parse_args()
    tr = harness.TestRunner('deb')
    if os.geteuid() != 0:
        tr.skip('deb', 'needs root (dpkg -i)')
        return 0
    if installed():
        tr.fail('deb', 'a turnpike package is installed already; this test would purge it')
        return tr.finish()
    out = tempfile.mkdtemp(prefix='turnpike-pkg-')
    try:
        deb = args.deb
        if not deb:
            t0 = time.monotonic()
            r = sh(str(REPO / 'scripts' / 'package'), '--out', out, cwd=REPO, timeout=1800)
            deb = r.stdout.strip().splitlines()[-1]
            print(f'PASS package ({time.monotonic() - t0:.1f}s) {deb}, lintian clean', flush=True)
        tr.run('install', lambda: sh('dpkg', '-i', deb) and 'dpkg -i')
        if installed():
            tr.run('files', check_files)
            tr.run('systemd_analyze_verify', verify_unit)
            tr.run('start_as_the_unit', run_with_systemd if os.path.isdir('/run/systemd/system') else run_as_the_unit)
            tr.run('purge', purge)
    finally:
        if installed():
            sh('dpkg', '--purge', 'turnpike', check=False)
        shutil.rmtree(out, ignore_errors=True)
    return tr.finish()


if __name__ == '__main__':
    sys.exit(main())
