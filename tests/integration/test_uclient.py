#!/usr/bin/python3
"""Client-to-client relaying with coturn's turnutils_uclient.

Each variant runs `turnutils_uclient -y` (client-to-client: every client
allocates a relay and sends to another client's relayed address) with
>= 20 allocations and >= 2000 messages, and asserts 0% loss, received == sent,
no send drops and no client errors.

Variants (all over UDP; -c = no RTCP allocations, so -m N gives N allocations):
  lt_channel        -c -u alice -w wonderland             ChannelBind + ChannelData
  rest_channel      -c -W northwind -u someuser           TURN REST credentials
  lt_send           -c -s -u alice -w wonderland          Send/Data indications
  rest_send         -c -s -W northwind -u someuser
  lt_rtcp_even_port    -u alice -w wonderland             RTP/RTCP pairs: EVEN-PORT (R bit)
                                                          + RESERVATION-TOKEN allocations

Run: python3 test_uclient.py [--server turnpike|turnserver] [--bin PATH]
                             [--clients 20] [--messages 100] [--only NAME ...] [--skip NAME ...]
"""

import sys

sys.dont_write_bytecode = True   # keep the source tree clean

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import harness  # noqa: E402
from integration.harness import PASSWORD, REST_SECRET, USER  # noqa: E402

LT = ['-u', USER, '-w', PASSWORD]
REST = ['-W', REST_SECRET, '-u', 'someuser']

# name -> (auth kind, uclient flags)
VARIANTS = {
    'lt_channel': ('lt', ['-c'] + LT),
    'rest_channel': ('rest', ['-c'] + REST),
    'lt_send': ('lt', ['-c', '-s'] + LT),
    'rest_send': ('rest', ['-c', '-s'] + REST),
    'lt_rtcp_even_port': ('lt', LT),
}

MIN_ALLOCATIONS = 20
MIN_MESSAGES = 2000


def check(res, expected_msgs, min_sessions):
    def tail():
        return '\n' + harness.uclient_tail(res)
    cmd = ' '.join(res['cmd'])
    if res['timed_out']:
        raise AssertionError(f'uclient timed out after {res["duration"]}s: {cmd}{tail()}')
    if not res['complete']:
        raise AssertionError(f'no uclient summary (exit {res["returncode"]}): {cmd}{tail()}')
    problems = []
    if res['returncode'] != 0:
        problems.append(f'exit code {res["returncode"]}')
    errors = res['errors']
    # uclient sometimes sends a second Allocate (new transaction) for a 5-tuple that already has one;
    # RFC 8656 7.2 answers 437, and uclient recovers ("trying allocate again 437"). Loss and counts
    # below still have to be perfect.
    if 'trying allocate again 437' in (res.get('output') or ''):
        errors = [e for e in errors if '437' not in e]
    if errors:
        problems.append(f'client errors: {errors[:3]}')
    if res['sent'] < max(expected_msgs, MIN_MESSAGES):
        problems.append(f'sent {res["sent"]} < {max(expected_msgs, MIN_MESSAGES)}')
    if res['received'] != res['sent']:
        problems.append(f'received {res["received"]} != sent {res["sent"]}')
    if res['lost'] != 0 or (res['lost_pct'] or 0) != 0:
        problems.append(f'lost {res["lost"]} ({res["lost_pct"]}%)')
    if res['send_dropped'] != 0:
        problems.append(f'send dropped {res["send_dropped"]}')
    if res['sessions'] is not None and res['sessions'] < min_sessions:
        problems.append(f'only {res["sessions"]} sessions (< {min_sessions})')
    if problems:
        raise AssertionError('; '.join(problems) + f' [{cmd}]{tail()}')


def fmt(res):
    return (f'sent={res["sent"]} recv={res["received"]} lost={res["lost"]} ({res["lost_pct"]}%) '
            f'dropped={res["send_dropped"]} sessions={res["sessions"]} '
            f'transmit={res["transmit_time"]}s wall={res["duration"]}s')


def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    ap.add_argument('--clients', type=int, default=20, help='uclient -m (default 20, min 20)')
    ap.add_argument('--messages', type=int, default=100, help='uclient -n per client (default 100)')
    ap.add_argument('--timeout', type=float, default=90.0, help='per-run timeout, seconds')
    ap.add_argument('--only', nargs='*', default=None, choices=sorted(VARIANTS))
    ap.add_argument('--skip', nargs='*', default=[], choices=sorted(VARIANTS))
    args = ap.parse_args()
    m = max(args.clients, MIN_ALLOCATIONS)
    n = args.messages
    if m * n < MIN_MESSAGES:
        n = -(-MIN_MESSAGES // m)
    names = [v for v in (args.only or VARIANTS) if v not in args.skip]

    tr = harness.TestRunner('uclient')
    print(f'== test_uclient against {args.server}: -m {m} -n {n} variants={names}', flush=True)
    summary = []

    cfg = harness.default_config()   # peers.allow 127.0.0.0/8
    # turnpike serves users and REST secrets at once, so each variant gets a fresh server: uclient
    # leaves some allocations behind, and a later variant's socket that reuses one of their local
    # ports under another user would rightly get 441. coturn needs one process per auth kind.
    auth_groups = [('any', [v]) for v in names] if args.server == 'turnpike' else [
        ('lt', [v for v in names if VARIANTS[v][0] == 'lt']),
        ('rest', [v for v in names if VARIANTS[v][0] == 'rest'])]

    for auth, group in auth_groups:
        if not group:
            continue
        try:
            with harness.make_server(args, cfg, auth='lt' if auth == 'any' else auth) as srv:
                for name in group:
                    flags = VARIANTS[name][1]
                    # With RTCP (no -c) uclient pairs RTP+RTCP allocations; -m stays the total.
                    uargs = ['-y', '-m', m, '-n', n] + flags

                    def one(name=name, uargs=uargs):
                        srv.check_alive()
                        res = harness.run_uclient(uargs, timeout=args.timeout, server=srv)
                        summary.append(f'{name}: ' + (fmt(res) if res['complete'] else 'no summary'))
                        check(res, m * n, m)
                        srv.check_alive()
                        return fmt(res)
                    tr.run(name, one)
        except harness.ServerError as e:
            tr.fail(f'server[{auth}]', str(e))

    print(f'SUMMARY server={args.server} m={m} n={n} | ' + ' | '.join(summary), flush=True)
    return tr.finish()


if __name__ == '__main__':
    sys.exit(main())
