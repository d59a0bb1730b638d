"""A real Prometheus server on loopback for the tests (test_metrics.py, test_monitoring.py):
`/usr/bin/prometheus` (Debian package prometheus; `$PROMETHEUS_BIN`) in a temp dir, scraping one
target (job `turnpike`) every second, optionally with rule files (evaluated every second). Its own
process group, registered with the harness (killed at exit); every wait is bounded.

    prom = Prometheus(binary, '127.0.0.1:9641', workdir, rule_files=[...]).start()
    prom.query('up'); prom.api('/api/v1/rules'); prom.stop()
"""

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from integration import harness

DEFAULT_BIN = os.environ.get('PROMETHEUS_BIN', '/usr/bin/prometheus')

# Loopback only: never through a proxy named in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(url, timeout=5.0):
    """(status, headers, body bytes) of a GET; HTTP errors are answers, not exceptions."""
    try:
        with _OPENER.open(url, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class Prometheus:
    """A real Prometheus server on 127.0.0.1 scraping one target every second."""

    def __init__(self, binary, target, workdir, rule_files=()):
        self.binary = binary
        self.target = target
        self.rule_files = [str(f) for f in rule_files]
        self.dir = os.path.join(workdir, 'prometheus')
        os.makedirs(os.path.join(self.dir, 'data'))
        self.port = harness.free_port('tcp')
        self.url = f'http://127.0.0.1:{self.port}'
        self.log_path = os.path.join(self.dir, 'prometheus.log')
        self.proc = None
        self._log = None

    def start(self, timeout=30.0):
        cfg = {
            'global': {'scrape_interval': '1s', 'scrape_timeout': '1s', 'evaluation_interval': '1s'},
            'scrape_configs': [{'job_name': 'turnpike', 'metrics_path': '/metrics',
                                'static_configs': [{'targets': [self.target]}]}],
        }
        if self.rule_files:
            cfg['rule_files'] = self.rule_files
        cfg_path = os.path.join(self.dir, 'prometheus.yml')
        harness.write_config(cfg, cfg_path)     # JSON is YAML
        cmd = [self.binary, f'--config.file={cfg_path}',
               f'--storage.tsdb.path={os.path.join(self.dir, "data")}',
               f'--web.listen-address=127.0.0.1:{self.port}',
               '--storage.tsdb.retention.time=1h']
        self._log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.dir, start_new_session=True)
        harness._register(self.proc)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f'prometheus exited with {self.proc.returncode}:\n{self.log_tail()}')
            try:
                st, _, body = http(self.url + '/-/ready', timeout=1.0)
                if st == 200:
                    return self
                last = f'HTTP {st}'
            except OSError as e:
                last = repr(e)
            time.sleep(0.2)
        raise AssertionError(f'prometheus not ready after {timeout}s ({last}):\n{self.log_tail()}')

    def api(self, path, timeout=10.0):
        """The `data` of a GET on the HTTP API (path from /api/v1/...); asserts success."""
        st, _, body = http(self.url + path, timeout=timeout)
        assert st == 200, f'prometheus {path}: HTTP {st} {body[:300]!r}'
        d = json.loads(body)
        assert d.get('status') == 'success', f'prometheus {path}: {d}'
        return d['data']

    def query(self, promql):
        """The result list of an instant query at 'now'."""
        q = urllib.parse.urlencode({'query': promql})
        st, _, body = http(f'{self.url}/api/v1/query?{q}', timeout=10.0)
        assert st == 200, f'prometheus query {promql!r}: HTTP {st} {body[:300]!r}'
        d = json.loads(body)
        assert d.get('status') == 'success', f'prometheus query {promql!r}: {d}'
        return d['data']['result']

    def scalar(self, promql):
        """The single value of an instant query, or None when it returns nothing."""
        r = self.query(promql)
        assert len(r) <= 1, f'{promql!r} returned {len(r)} series: {r}'
        return float(r[0]['value'][1]) if r else None

    def wait_scrapes_after(self, t_wall, n=2, timeout=20.0):
        """Waits until n scrapes of the target started after t_wall (unix seconds) are stored.
        Returns their timestamps."""
        seen = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in self.query('timestamp(up{job="turnpike"})'):
                ts = float(r['value'][1])
                if ts > t_wall:
                    seen.add(ts)
            if len(seen) >= n:
                return sorted(seen)
            time.sleep(0.2)
        raise AssertionError(f'only {len(seen)} Prometheus scrapes after the run within {timeout}s')

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, 'rb') as f:
                return '\n'.join(f.read().decode('utf-8', 'replace').splitlines()[-lines:])
        except OSError:
            return '(no log)'

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        harness.reap(self.proc)
        if self._log and not self._log.closed:
            self._log.close()
