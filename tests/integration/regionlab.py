"""Three regions in network namespaces, for the data-residency tests (test_residency.py).

    region      network             node (turnpike)   client            peer
    eu-west     198.51.100.0/26     198.51.100.10     198.51.100.20     198.51.100.30
    eu-central  198.51.100.64/26    198.51.100.74     198.51.100.84     198.51.100.94
    us-east     203.0.113.0/24      203.0.113.10      203.0.113.20      203.0.113.30

A core namespace routes between the regions (one bridge per region, the gateway .1/.65/.1 on it);
no NAT, nothing reaches outside. Addresses are RFC 5737 only. Needs root; `available()` says why
not. Set-up removes leftovers of the same prefix first; tear-down kills what runs inside and
deletes every namespace (the veths and bridges go with them).
"""
import os
import subprocess
import time

REGIONS = {
    'eu-west': {'net': '198.51.100.0/26', 'prefix': 26, 'gw': '198.51.100.1', 'node': '198.51.100.10',
                'client': '198.51.100.20', 'peer': '198.51.100.30'},
    'eu-central': {'net': '198.51.100.64/26', 'prefix': 26, 'gw': '198.51.100.65', 'node': '198.51.100.74',
                   'client': '198.51.100.84', 'peer': '198.51.100.94'},
    'us-east': {'net': '203.0.113.0/24', 'prefix': 24, 'gw': '203.0.113.1', 'node': '203.0.113.10',
                'client': '203.0.113.20', 'peer': '203.0.113.30'},
}
ROLES = ('node', 'client', 'peer')


def _run(argv, check=True, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=20, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f'{" ".join(argv)}: {r.stderr.strip()}')
    return r


def available():
    if os.geteuid() != 0:
        return False, 'the region lab needs root (network namespaces)'
    r = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True)
    if r.returncode != 0:
        return False, f'ip netns unavailable: {r.stderr.strip()}'
    return True, ''


class RegionLab:
    def __init__(self, prefix='tpr'):
        self.prefix = prefix
        self.procs = []

    def ns(self, region, role):
        return f'{self.prefix}-{region}-{role}'

    @property
    def core(self):
        return f'{self.prefix}-core'

    def namespaces(self):
        out = _run(['ip', 'netns', 'list'], check=False).stdout.split()
        return [n for n in out if n.startswith(self.prefix + '-')]

    def up(self):
        self.down()
        _run(['ip', 'netns', 'add', self.core])
        self.exec(self.core, ['ip', 'link', 'set', 'lo', 'up'])
        self.exec(self.core, ['sysctl', '-qw', 'net.ipv4.ip_forward=1'])
        for i, (name, r) in enumerate(REGIONS.items()):
            br = f'{self.prefix}br{i}'
            self.exec(self.core, ['ip', 'link', 'add', br, 'type', 'bridge'])
            self.exec(self.core, ['ip', 'addr', 'add', f'{r["gw"]}/{r["prefix"]}', 'dev', br])
            self.exec(self.core, ['ip', 'link', 'set', br, 'up'])
            for j, role in enumerate(ROLES):
                ns = self.ns(name, role)
                _run(['ip', 'netns', 'add', ns])
                a, b = f'{self.prefix}{i}{j}a', f'{self.prefix}{i}{j}b'
                self.exec(self.core, ['ip', 'link', 'add', a, 'type', 'veth', 'peer', 'name', b])
                self.exec(self.core, ['ip', 'link', 'set', b, 'netns', ns])
                self.exec(self.core, ['ip', 'link', 'set', a, 'master', br])
                self.exec(self.core, ['ip', 'link', 'set', a, 'up'])
                self.exec(ns, ['ip', 'link', 'set', 'lo', 'up'])
                self.exec(ns, ['ip', 'addr', 'add', f'{r[role]}/{r["prefix"]}', 'dev', b])
                self.exec(ns, ['ip', 'link', 'set', b, 'up'])
                self.exec(ns, ['ip', 'route', 'add', 'default', 'via', r['gw']])
        return self

    def exec(self, ns, argv):
        return _run(['ip', 'netns', 'exec', ns] + list(argv))

    def run(self, ns, argv, timeout=60, **kw):
        kw.setdefault('capture_output', True)
        kw.setdefault('text', True)
        return subprocess.run(['ip', 'netns', 'exec', ns] + list(argv), timeout=timeout, **kw)

    def popen(self, ns, argv, **kw):
        p = subprocess.Popen(['ip', 'netns', 'exec', ns] + list(argv), start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def down(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, 15)
                except OSError:
                    pass
        deadline = time.monotonic() + 5
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, 9)
                except OSError:
                    pass
        self.procs = []
        for ns in self.namespaces():
            pids = _run(['ip', 'netns', 'pids', ns], check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except (OSError, ValueError):
                    pass
            _run(['ip', 'netns', 'del', ns], check=False)

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()
