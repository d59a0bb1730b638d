"""Turnpike as a node of a lab: NetnsTurnpike runs it in a network namespace of netlab
(tests/netlab/netlab.py, the NAT lab) or regionlab (the region lab), the one lab-node class of
test_nat.py, test_idle.py, test_lifetime.py, test_residency.py and loadgen_lab.py.

    srv = NetnsTurnpike(lab, lab.server_ns, cfg, binary=binary).start()
    status, body = srv.http('GET', '/api/v1/sites')      # from inside the namespace
    text = srv.metrics()
    srv.close()

It is a harness.Turnpike (config in a temp dir, server.log, its own process group killed at exit,
SIGINT then exit code 0 on stop), started with `ip netns exec NS`. The admin listener is asked
from inside the namespace (the calling thread enters it with netlab.in_netns for the request),
as the namespace's addresses are not reachable from the test's own.
"""

import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

from integration import harness
from netlab import netlab

# Lab addresses only: never through a proxy named in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class NetnsTurnpike(harness.Turnpike):
    """turnpike in the lab namespace `ns`; ready when /readyz answers 200 there. The admin token
    (config admin.token) goes with every http() that asks for auth."""

    def __init__(self, lab, ns, config, binary=None, **kw):
        super().__init__(config, binary=binary, **kw)
        self.lab, self.ns = lab, ns
        self.token = self.config.get('admin', {}).get('token')

    def command(self):
        return ['ip', 'netns', 'exec', self.ns] + super().command()

    def http(self, method, path, body=None, auth=True):
        """(status, text) of one request to the admin listener, made from inside the namespace
        (this thread enters it for the request); status 0 (and the error as text) when it got no
        answer. body: text, sent as application/json."""
        req = urllib.request.Request(self.admin_url + path, method=method,
                                     data=body.encode() if body else None)
        if auth and self.token:
            req.add_header('Authorization', f'Bearer {self.token}')
        req.add_header('Content-Type', 'application/json')
        try:
            with netlab.in_netns(self.ns), _OPENER.open(req, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except Exception as e:  # noqa: BLE001 - no answer: status 0, as the lab's clients report it
            return 0, str(e)

    def http_get(self, path, timeout=2.0):
        status, text = self.http('GET', path, auth=False)
        return status, text.encode()

    def wait_ready(self):
        end = time.monotonic() + self.ready_timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise harness.ServerError(f'{self.name} exited with {self.proc.returncode}: {self.log_tail(20)}')
            if self.http('GET', '/readyz', auth=False)[0] == 200:
                return
            time.sleep(0.2)
        raise harness.ServerError(f'{self.name} never became ready: {self.log_tail(20)}')

    def metrics(self):
        """The text of /metrics, scraped from inside the namespace (read it with integration.metrics)."""
        status, text = self.http('GET', '/metrics', auth=False)
        assert status == 200, f'/metrics: {status} {text[:200]}'
        return text

    def reload(self, cfg):
        """Rewrites the config file and sends SIGHUP; waits for the reload to be logged."""
        harness.write_config(cfg, self.config_path)
        log = Path(self.log_path)
        before = log.read_text(errors='replace').count('residency_reloaded')
        pids = self.lab.run(self.ns, ['ip', 'netns', 'pids', self.ns]).stdout.split()
        ours = [int(p) for p in pids if Path(f'/proc/{p}/comm').exists() and
                Path(f'/proc/{p}/comm').read_text().strip() == 'turnpike']
        assert ours, f'no turnpike process in {self.ns}'
        for pid in ours:
            os.kill(pid, signal.SIGHUP)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if log.read_text(errors='replace').count('residency_reloaded') > before:
                return
            time.sleep(0.1)
        raise AssertionError(f'{self.name}: no residency_reloaded after SIGHUP: {self.log_tail(20)}')

    def close(self, show_log=False, lines=40):
        """stop() (SIGINT, exit code 0 within stop_timeout), then the temp dir goes (kept with
        TURNPIKE_KEEP_TMP=1). show_log: print the log's last `lines` lines first (a check failed)."""
        if show_log:
            print(f'----- {self.name} log tail -----\n' + self.log_tail(lines))
        try:
            self.stop()
        finally:
            self.cleanup()
