"""Idle-timer detection from production traffic (issue 7, passive part).

  passive_random_fully  In the NAT lab, behind MASQUERADE --random-fully with nf_conntrack_udp_timeout
                        set to 6 s, a TURN client goes quiet for growing gaps and then refreshes (as a
                        muted participant whose app sends no keepalives would); when its mapping has
                        died it comes back from a new port, gets 437 and allocates again. With no help
                        from the client, the server's turnpike_idle_timer_seconds for that site lands
                        within 20% of 6 s, and rebindings and both kinds of gaps are counted.
  passive_masquerade    The same client behind plain MASQUERADE (which keeps the port for a new
                        mapping) at the same time: the server sees only survived gaps and publishes no
                        estimate (docs/idle-timers.md: the rebinding is hidden there).
  expired_credential    On loopback: a session whose TURN REST credential expires while it still
                        refreshes is recorded with reason expired_credential, and its age at loss
                        appears in turnpike_session_age_at_loss_seconds{cause="expired_credential"}.

The lab parts need root; elsewhere they print SKIP and the loopback part still runs.
"""
import json
import os
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import harness, metrics  # noqa: E402
from netlab import netlab  # noqa: E402
from integration import stunclient  # noqa: E402
from integration.lab import NetnsTurnpike  # noqa: E402
from integration.test_nat import PRIMARY, lab_config  # noqa: E402

PREFIX = 'tpi'
TIMEOUT_S = 6
GAPS = [1.5, 2.5, 3.5, 4.5, 5.0, 7.0, 8.0, 9.0]

# Runs inside the client namespace: allocate, then a silence of each gap before a Refresh; a 437
# (the NAT gave a new port, the server has no allocation there) means allocate again.
CLIENT = r'''
import json, sys, time
sys.path.insert(0, %(here)r)
import stunclient
gaps = %(gaps)r
c = stunclient.TurnClient((%(host)r, %(port)d), local=('0.0.0.0', 0), timeout=5.0)
r = c.allocate('alice', 'wonderland')
assert r.is_success, r.describe()
log = []
for g in gaps:
    time.sleep(g)
    r = c.refresh()
    code = r.error_code if r.is_error else 200
    if code == 437:
        a = c.allocate('alice', 'wonderland')
        log.append({'gap': g, 'refresh': code, 'reallocate': a.error_code if a.is_error else 200})
    else:
        log.append({'gap': g, 'refresh': code})
print(json.dumps(log))
'''


metric = metrics.metric


def run_clients(lab, kinds):
    results = {}

    def one(kind):
        script = CLIENT % {'here': str(HERE), 'gaps': GAPS, 'host': PRIMARY[0], 'port': PRIMARY[1]}
        r = lab.run(lab.sites[kind].client_ns, ['/usr/bin/python3', '-c', script], timeout=120)
        try:
            results[kind] = json.loads(r.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            results[kind] = {'error': (r.stdout + r.stderr)[-800:]}

    threads = [threading.Thread(target=one, args=(k,)) for k in kinds]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=150)
    return results


def check_random_fully(srv, log):
    assert isinstance(log, list), f'client failed: {log}'
    rebound = [e['gap'] for e in log if e.get('refresh') == 437]
    assert rebound and min(rebound) > TIMEOUT_S and all(e.get('reallocate', 200) == 200 for e in log), \
        f'the client saw: {log}'
    text = srv.metrics()
    est = metric(text, 'turnpike_idle_timer_seconds', site='random_fully')
    assert est is not None, 'no turnpike_idle_timer_seconds{site="random_fully"}; sites: ' + srv.http('GET', '/api/v1/sites')[1]
    assert abs(est - TIMEOUT_S) <= 0.2 * TIMEOUT_S, f'estimate {est} s, the NAT times out after {TIMEOUT_S} s'
    rebindings = metric(text, 'turnpike_rebindings_total', site='random_fully')
    assert rebindings == len(rebound), f'turnpike_rebindings_total {rebindings}, the client re-allocated {len(rebound)} times'
    n_rebound = metric(text, 'turnpike_flow_silent_gap_seconds_count', outcome='rebound')
    n_survived = metric(text, 'turnpike_flow_silent_gap_seconds_count', outcome='survived')
    assert n_rebound >= len(rebound) and n_survived >= 5, f'gap histogram counts: rebound {n_rebound}, survived {n_survived}'
    lost = metric(text, 'turnpike_session_age_at_loss_seconds_count', cause='rebinding')
    assert lost == len(rebound), f'losses by rebinding {lost}'
    status, body = srv.http('GET', '/api/v1/sites')
    assert status == 200, body
    site = next(s for s in json.loads(body)['sites'] if s['site'] == 'random_fully')
    assert site['rebound_gaps']['count'] == len(rebound) and site['estimate']['lower_seconds'] < TIMEOUT_S, site
    return f'estimate {est:.2f} s for a {TIMEOUT_S} s conntrack timeout (between {site["estimate"]["lower_seconds"]:.2f} and ' \
           f'{site["estimate"]["upper_seconds"]:.2f} s); {len(rebound)} rebindings at gaps {rebound}'


def check_masquerade(srv, log):
    assert isinstance(log, list), f'client failed: {log}'
    # The port is kept for the new mapping: the server cannot see that the old one died.
    assert all(e['refresh'] == 200 for e in log), f'the client saw: {log}'
    text = srv.metrics()
    est = metric(text, 'turnpike_idle_timer_seconds', site='masquerade')
    assert est is None, f'an estimate ({est} s) from evidence that cannot show a timer'
    status, body = srv.http('GET', '/api/v1/sites')
    site = next(s for s in json.loads(body)['sites'] if s['site'] == 'masquerade')
    assert site['survived_gaps']['count'] == len(GAPS) and site['rebound_gaps']['count'] == 0, site
    return f'{len(GAPS)} gaps up to {max(GAPS)} s read as survived; no estimate'


def check_expired_credential(args):
    cfg = harness.default_config()
    with harness.make_server(args, cfg) as srv:
        host, port = srv.turn_addr
        user, pw = stunclient.rest_credentials(harness.REST_SECRET, 'dora', ttl=4)
        t0 = time.monotonic()
        with stunclient.TurnClient((host, port)) as c:
            r = c.allocate(user, pw)
            assert r.is_success, r.describe()
            codes = []
            for _ in range(4):
                time.sleep(2)
                r = c.refresh()
                codes.append(r.error_code if r.is_error else 200)
        age_bound = time.monotonic() - t0
        assert codes[0] == 200 and 401 in codes, f'refresh answers {codes}'
        text = metrics.scrape(srv)
        fails = metric(text, 'turnpike_refresh_failures_total', reason='expired_credential')
        count = metric(text, 'turnpike_session_age_at_loss_seconds_count', cause='expired_credential')
        total = metric(text, 'turnpike_session_age_at_loss_seconds_sum', cause='expired_credential')
        assert fails == codes.count(401), f'turnpike_refresh_failures_total{{reason="expired_credential"}} {fails}, refreshes refused {codes.count(401)}'
        assert count == 1 and 3.5 <= total <= age_bound, f'age at loss: count {count}, sum {total} (session {age_bound:.1f} s)'
        return f'refreshes {codes}; lost at {total:.1f} s with cause expired_credential'


def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    args = ap.parse_args()
    binary = args.bin or os.environ.get('TURNPIKE_BIN') or str(harness.DEFAULT_TURNPIKE_BIN)
    t = harness.TestRunner('idle')
    t0 = time.monotonic()
    t.run('expired_credential', check_expired_credential, args)
    ok, why = netlab.available(PREFIX)
    if not ok:
        t.skip('passive_random_fully', why)
        t.skip('passive_masquerade', why)
    else:
        with netlab.Lab(prefix=PREFIX, kinds=['random_fully', 'masquerade']) as lab:
            lab.set_udp_timeout('random_fully', TIMEOUT_S)
            lab.set_udp_timeout('masquerade', TIMEOUT_S)
            srv = NetnsTurnpike(lab, lab.server_ns, lab_config(lab), binary=binary).start()
            try:
                logs = run_clients(lab, ['random_fully', 'masquerade'])
                t.run('passive_random_fully', check_random_fully, srv, logs.get('random_fully'))
                t.run('passive_masquerade', check_masquerade, srv, logs.get('masquerade'))
            finally:
                srv.close(show_log=t.failed, lines=30)
    print(f'(total {time.monotonic() - t0:.1f}s)')
    return t.finish()


if __name__ == '__main__':
    sys.exit(main())
