#!/usr/bin/python3
"""Issue 19: the relay's call-quality figures (the allocation record's "quality") against
turnpike-loadgen's own, over hundreds of allocations on a lossy, rate-limited link.

In the namespace lab of test_loadgen.py (loadgen_lab.LinkLab: a client namespace, one veth to the
server namespace, RFC 5737 addresses; needs root, else "SKIP: why"):

  loss_and_jitter_agree  150 audio calls (300 allocations, 600 allocation-directions), 10 s of media.
      The client -> server path is a tbf-limited link (loadgen_lab.LinkLab.limit_rate, TBF_RATE_KBIT:
      about 1.2x what the calls offer, so it queues bursts) and iptables drops DROP_P = 3% of the
      client's datagrams to the server at random on arrival (LinkLab.drop_to_server). Both are on
      the client -> relay leg, before the relay sees a packet. loadgen's call-direction a -> b is:
      client A -> [tbf, drop] -> allocation A (its to_peer: "what the client sent") -> relay A's port
      -> relay B's port (allocation B's to_client) -> client B, where loadgen's receiver measures it
      (RFC 3550 A.3 loss, A.8 jitter). So for every call and direction d (0: a -> b, 1: b -> a)
      there are three observers of the same packets, all downstream of every induced drop:
        sender's allocation, to_peer   (A.to_peer for d = 0, B.to_peer for d = 1)
        receiver's allocation, to_client (B.to_client for d = 0, A.to_client for d = 1)
        loadgen's receiver               (report.json streams[] of (call, d))
      Calls are matched to allocations by loadgen's calls[].relayed (allocation a's and b's
      XOR-RELAYED-ADDRESS) against each allocation record's "relayed". The records are the
      allocation_ended log lines (loadgen releases every allocation with Refresh 0 at the end);
      an allocation whose release was lost is read live from GET /api/v1/allocations instead.

      Asserted, per allocation-direction (300 call-directions, each seen by two allocations: 600):
        loss:   |relay lost - loadgen lost| <= LOSS_SLACK_PACKETS + LOSS_SLACK_RATIO x expected.
                The same packets are lost for all three. What may differ: loadgen counts packets
                lost before its first and after its last arrival (it knows what was sent: lost =
                max(expected - received, sent - received)); the relay only sees sequence gaps (RFC
                3550 A.3, from the first packet it saw to the last). At 3% a run of 3 at either
                edge has probability ~3e-5. The ratio part covers a datagram dropped by this machine
                after the relay (a socket buffer), which loadgen counts and the to_peer side cannot.
                About 1 percentage point on ~500 packets.
        jitter: |relay jitter_ms - loadgen jitter_ms| <= JITTER_SLACK_MS + JITTER_SLACK_RATIO x loadgen's.
                Both are the RFC 3550 A.8 running value after the direction's last packet. They
                differ by where the packets are timed (the relay on arrival from the client or the
                peer; loadgen in its event loop, one hop and one wake-up later) and by what a packet
                is compared with: the relay has only the RTP timestamp (the frame's scheduled time),
                loadgen its probe's actual send time, so the relay's figure also holds loadgen's
                send lag (the self-check's send_lag_p99_ms, printed). A relay that inferred the
                wrong clock rate (jitter off by 90000/48000) or timed packets in batches would be
                far outside.
      and in aggregate (over every allocation-direction):
        relay lost / relay expected within AGG_LOSS_PP of loadgen's totals.loss_pct, and within
        DROP_TRUTH_PP of what iptables dropped (its own counters: the ground truth);
        the median relay jitter within AGG_JITTER_MS + AGG_JITTER_RATIO of loadgen's median;
        every matched stream is RTP, payload type 111, kind "audio", clock rate 48000; the relay's
        received packets equal loadgen's received within the same loss slack;
        verdicts: every allocation that lived a whole quality.interval (10 s, the default) plus
        the shard's 1 s tick has at least one interval judged; 3% loss is past
        quality.degraded.loss (0.02) and under bad.loss (0.10): at least VERDICT_SHARE of the judged
        allocations' worst_verdict is "degraded" with "loss" among the reasons. An allocation that
        ended before its first interval closed (one whose Allocate was dropped and retransmitted
        lives ~10.6 s) is judged on what is left of its interval as it ends: every ended
        allocation that carried quality.min_packets RTP packets or more has a verdict.
      RTCP (loadgen --rtcp 2s: every 2 s each call-direction's receiver sends its sender a plain
      RTCP receiver report through both relays, RFC 3550 6.4.2, with its own fraction lost,
      cumulative lost and jitter; report.json calls[].rtcp keeps the last 4 blocks per stream):
        per allocation-direction, the stream's SSRC is the one loadgen sent; its "reported" is
        exactly one of the blocks loadgen sent about it (fraction_lost = the block's / 256,
        cumulative_lost equal, jitter_ms = the block's jitter x 1000 / 48000 to the record's 1 µs
        rounding); at least
        RTCP_LAST_SHARE of them the last one (a report crosses the same 3% drop: then the relay
        holds the one before); every direction counted report blocks, none encrypted.

Run: /usr/bin/python3 test_quality_loadgen.py [--bin build/bin/turnpike] [--loadgen PATH] [--calls N]
About 45 s. Artifacts (loadgen's report, the relay's records, a comparison table) go to a temp dir,
kept and printed when the check fails or TEST_ARTIFACTS is set (to a directory: created under it).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True   # keep the source tree clean

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import harness  # noqa: E402
from integration import loadgen_lab as lg  # noqa: E402
from integration.lab import NetnsTurnpike  # noqa: E402
from integration.harness import PASSWORD, REALM, USER  # noqa: E402

LT_AUTH = ['--user', USER, '--password', PASSWORD, '--realm', REALM]
SLACK = 8.0            # a loadgen process beyond its --max-duration: start-up, the reports, exit

CALLS = 150
HOLD_S = 10
RAMP = '100/s'
DROP_P = 0.03
# An audio call offers 2 directions x 50 packets/s x (150 B mean RTP + 46 B ChannelData/UDP/IP/
# Ethernet) on the client -> server link: ~157 kbit/s; 150 calls ~23.5 Mbit/s. The link carries
# ~1.2x that: it queues the bursts (calls whose packets fall due together, a loadgen wake-up that
# sends a backlog) without being the bottleneck.
TBF_RATE_KBIT = 28000
TBF_BURST = 6000
TBF_LIMIT = 200000     # ~57 ms at the rate: a stall's backlog queues rather than drops

LOSS_SLACK_PACKETS = 3
LOSS_SLACK_RATIO = 0.005
JITTER_SLACK_MS = 5.0
JITTER_SLACK_RATIO = 0.5
AGG_LOSS_PP = 0.2
DROP_TRUTH_PP = 0.5
AGG_JITTER_MS = 1.0
AGG_JITTER_RATIO = 0.25
VERDICT_SHARE = 0.8
QUALITY_INTERVAL_S = 10   # quality.interval's default: the config leaves it
RTCP_LAST_SHARE = 0.9
AUDIO_PT = 111


def lab_server(turnpike, link):
    cfg = lg.lab_config(link)
    cfg['limits'] = {'max_allocations_per_user': 2000}
    return NetnsTurnpike(link.lab, link.server_ns, cfg, binary=turnpike, name='turnpike-quality')


def allocation_records(srv, want, wait_s=6.0):
    """{relayed address: record} for every allocation whose relayed address is in `want`: from the
    allocation_ended log lines, waiting up to wait_s for them; the rest live from the API."""
    recs, t_end = {}, time.monotonic() + wait_s
    while True:
        for ev in srv.log_events('allocation_ended'):
            a = ev.get('allocation')
            if isinstance(a, str):
                a = json.loads(a)
            for addr in (a or {}).get('relayed') or []:
                if addr in want:
                    recs[addr] = dict(a, _source='allocation_ended')
        if want <= set(recs) or time.monotonic() >= t_end:
            break
        time.sleep(0.3)
    missing = want - set(recs)
    if missing:
        status, text = srv.http('GET', '/api/v1/allocations')
        assert status == 200, f'GET /api/v1/allocations: {status} {text[:300]}'
        body = json.loads(text)
        live = body.get('allocations', body) if isinstance(body, dict) else body
        for a in live:
            for addr in a.get('relayed') or []:
                if addr in missing:
                    recs[addr] = dict(a, _source='api')
    return recs


def stream_of(dirrec):
    """The direction's one RTP stream (audio calls have one per direction), or None."""
    s = dirrec.get('streams') or []
    return s[0] if len(s) == 1 else None


class Cmp:
    """Collects per allocation-direction comparisons and what falls outside tolerance."""

    def __init__(self):
        self.rows, self.bad = [], []
        self.rtcp_age = {}   # how many reports back the relay's "reported" is: count

    def rtcp(self, where, st, dirrec, lg_rtcp):
        """The relay's "reported" about the stream against the blocks loadgen sent about it."""
        if lg_rtcp is None:
            self.bad.append(f'{where}: loadgen recorded no RTCP for this direction')
            return
        if st.get('ssrc') != lg_rtcp['ssrc']:
            self.bad.append(f'{where}: relay stream ssrc {st.get("ssrc")}, loadgen sent {lg_rtcp["ssrc"]}')
            return
        rtcp = dirrec.get('rtcp') or {}
        if rtcp.get('encrypted'):
            self.bad.append(f'{where}: {rtcp.get("encrypted")} RTCP packets taken for encrypted: {rtcp}')
        rep = st.get('reported')
        if not rep:
            self.bad.append(f'{where}: no "reported" (loadgen sent {lg_rtcp["reports"]} reports)')
            return
        recent = lg_rtcp['recent']
        age = None
        for i, b in enumerate(reversed(recent)):
            jit = b['jitter'] * 1000.0 / lg_rtcp['clock_rate']
            if (abs(rep.get('fraction_lost', -1) - b['fraction_lost'] / 256.0) < 1e-9
                    and rep.get('cumulative_lost') == b['cumulative_lost']
                    and rep.get('jitter_ms') is not None and abs(rep['jitter_ms'] - jit) <= 0.0005 + 1e-9):
                age = i
                break
        self.rtcp_age[age] = self.rtcp_age.get(age, 0) + 1
        if age is None:
            self.bad.append(f'{where}: relay reported {rep}, not one of the blocks loadgen sent: ' + ', '.join(
                f'{b["fraction_lost"]}/256 {b["cumulative_lost"]} {b["jitter"]}' for b in recent))

    def add(self, call, d, side, relay, lg_dir, lg_rtcp):
        q = relay['quality'][side]
        st = stream_of(q)
        row = dict(call=call, dir=d, side=side, relay_expected=q.get('expected'), relay_lost=q.get('lost'),
                   relay_rtp=(q.get('kinds') or {}).get('rtp'), relay_jitter=q.get('jitter_ms'),
                   lg_sent=lg_dir['sent'], lg_expected=lg_dir['expected'], lg_received=lg_dir['received'],
                   lg_lost=lg_dir['lost'], lg_jitter=lg_dir['jitter_ms'], stream=st)
        self.rows.append(row)
        where = f'call {call} dir {"a->b" if d == 0 else "b->a"} {side} (allocation {relay.get("id")})'
        if st is None:
            self.bad.append(f'{where}: {len(q.get("streams") or [])} streams, expected 1: {q.get("streams")}')
            return
        if (st.get('payload_type'), st.get('kind'), st.get('clock_rate')) != (AUDIO_PT, 'audio', 48000):
            self.bad.append(f'{where}: stream pt {st.get("payload_type")} kind {st.get("kind")} '
                            f'clock_rate {st.get("clock_rate")}, expected {AUDIO_PT} audio 48000')
        slack = LOSS_SLACK_PACKETS + LOSS_SLACK_RATIO * lg_dir['expected']
        if row['relay_lost'] is None or abs(row['relay_lost'] - row['lg_lost']) > slack:
            self.bad.append(f'{where}: relay lost {row["relay_lost"]} of {row["relay_expected"]} expected, '
                            f'loadgen lost {row["lg_lost"]} of {row["lg_expected"]} (sent {row["lg_sent"]}); '
                            f'tolerance {slack:.1f} packets')
        if row['relay_rtp'] is None or abs(row['relay_rtp'] - row['lg_received']) > slack:
            self.bad.append(f'{where}: relay saw {row["relay_rtp"]} RTP packets, loadgen received '
                            f'{row["lg_received"]}; tolerance {slack:.1f}')
        jslack = JITTER_SLACK_MS + JITTER_SLACK_RATIO * row['lg_jitter']
        if row['relay_jitter'] is None or abs(row['relay_jitter'] - row['lg_jitter']) > jslack:
            self.bad.append(f'{where}: relay jitter {row["relay_jitter"]} ms, loadgen {row["lg_jitter"]:.3f} ms; '
                            f'tolerance {jslack:.2f} ms')
        self.rtcp(where, st, q, lg_rtcp)


def check_agree(ctx, link):
    calls = ctx.calls
    with lab_server(ctx.turnpike, link) as srv:
        link.limit_rate(TBF_RATE_KBIT, TBF_BURST, TBF_LIMIT)
        link.drop_to_server(3478, DROP_P)
        max_dur = 40
        args = ['--server', f'{link.server_ip}:3478', *LT_AUTH, '--calls', calls, '--ramp', RAMP,
                '--duration', f'{HOLD_S}s', '--max-duration', f'{max_dur}s', '--profile', 'audio',
                '--seed', 19, '--max-pending', 100, '--rtcp', '2s']
        run = lg.run_loadgen(ctx.loadgen, args, ctx.art / 'loadgen', timeout=max_dur + SLACK, wrap=link.client)
        total, dropped = link.drop_counters()
        qdisc = link.qdisc_stats()
        srv.check_alive()
        assert not run.timed_out, f'loadgen did not end by itself\n{run.describe()}'
        r = lg.need_report(run)
        ok_calls = [c for c in r['calls'] if not c['failed'] and c['setup_ms'] >= 0]
        assert len(ok_calls) == calls, \
            f'{len(ok_calls)} of {calls} calls set up (STUN retransmits get past a 3% drop)\n{run.describe()}'
        for c in ok_calls:
            assert all(c.get('relayed') or ['']), f'call {c["call"]}: no relayed addresses in report.json: {c}'
        want = {a for c in ok_calls for a in c['relayed']}
        recs = allocation_records(srv, want)
    (ctx.art / 'relay-records.json').write_text(json.dumps(recs, indent=1))
    missing = sorted(want - set(recs))
    assert not missing, f'{len(missing)} of {len(want)} allocations not found (ended or live), e.g. {missing[:3]}'
    noq = [a for a, rec in recs.items() if not isinstance(rec.get('quality'), dict)]
    assert not noq, f'{len(noq)} records without "quality" (the analyser is off or not built?), e.g. ' \
                    f'{json.dumps(recs[noq[0]])[:600]}'

    dirs = lg.direction_totals(r)
    jit = {(s['call'], s['direction']): s['jitter_ms'] for s in r['streams']}  # one step: the final value
    cmp = Cmp()
    for c in ok_calls:
        rec = [recs[c['relayed'][0]], recs[c['relayed'][1]]]
        for d in (0, 1):
            lgd = dict(dirs[(c['call'], d)], jitter_ms=jit[(c['call'], d)])
            lgr = next((x for x in c.get('rtcp') or [] if x['direction'] == d), None)
            cmp.add(c['call'], d, 'to_peer', rec[d], lgd, lgr)         # the sender's allocation
            cmp.add(c['call'], d, 'to_client', rec[1 - d], lgd, lgr)   # the receiver's allocation
    write_table(ctx.art / 'comparison.tsv', cmp.rows)

    # Aggregates.
    t = r['totals']
    agg = {}
    for side in ('to_peer', 'to_client'):
        rows = [x for x in cmp.rows if x['side'] == side and x['relay_expected']]
        lost, exp = sum(x['relay_lost'] or 0 for x in rows), sum(x['relay_expected'] for x in rows)
        agg[side] = dict(lost=lost, expected=exp, pct=100.0 * lost / exp if exp else None,
                         jitter_med=statistics.median(x['relay_jitter'] for x in rows if x['relay_jitter'] is not None))
    lg_jit_med = statistics.median(jit.values())
    truth = 100.0 * dropped / total if total else 0.0
    verdicts = {}
    judged = [rec for rec in recs.values() if sum((rec['quality'].get('intervals') or {}).values())]
    unjudged = [rec for rec in recs.values() if rec not in judged]
    for rec in judged:
        q = rec['quality']
        key = (q.get('worst_verdict'), 'loss' in (q.get('reasons') or []))
        verdicts[key] = verdicts.get(key, 0) + 1
    degraded_loss = sum(n for (v, loss), n in verdicts.items() if v == 'degraded' and loss)
    unjudged_text = ', '.join(f'{a["id"]} (age {a["age_s"]:.1f} s, setup {a.get("setup_ms")} ms, worst_verdict '
                              f'{a["quality"].get("worst_verdict")}, to_peer rtp {a["quality"]["to_peer"]["kinds"]["rtp"]})'
                              for a in unjudged[:5])
    sc = r['self_check']
    summary = (f'{len(ok_calls)} calls, {len(recs)} allocations ({sum(x["_source"] == "api" for x in recs.values())} '
               f'read live); iptables dropped {dropped} of {total} ({truth:.2f}%); loadgen sent {t["sent"]} lost '
               f'{t["lost"]} ({t["loss_pct"]:.3f}%), jitter median {lg_jit_med:.2f} ms; relay to_peer '
               f'{agg["to_peer"]["lost"]}/{agg["to_peer"]["expected"]} ({agg["to_peer"]["pct"]:.3f}%) jitter median '
               f'{agg["to_peer"]["jitter_med"]:.2f} ms, to_client {agg["to_client"]["lost"]}/'
               f'{agg["to_client"]["expected"]} ({agg["to_client"]["pct"]:.3f}%) jitter median '
               f'{agg["to_client"]["jitter_med"]:.2f} ms; RTCP reported = loadgen\'s last block {cmp.rtcp_age.get(0, 0)}, '
               f'an earlier one {sum(n for a, n in cmp.rtcp_age.items() if a)} (of {sum(cmp.rtcp_age.values())}); worst verdicts {verdict_text(verdicts)}, {len(unjudged)} ended before an interval closed'
               f'{": " + unjudged_text if unjudged else ""}; loadgen self-check '
               f'{"ok" if sc["trustworthy"] else "untrusted: " + "; ".join(sc["reasons"])} (send lag p99 '
               f'{sc["send_lag_p99_ms"]:.1f} ms, cpu p95 {sc["cpu_p95_pct"]:.0f}%); tbf '
               f'{" ".join(ln.strip() for ln in qdisc.splitlines() if "dropped" in ln)}; {run.secs:.1f}s loadgen')
    print(f'   {summary}', flush=True)
    assert len(cmp.rows) == 4 * calls
    assert not cmp.bad, (f'{len(cmp.bad)} of {len(cmp.rows)} allocation-directions outside tolerance '
                         f'(table: {ctx.art / "comparison.tsv"}); first: ' + '; '.join(cmp.bad[:6]) + f'\n{summary}')
    for side, a in agg.items():
        assert abs(a['pct'] - t['loss_pct']) <= AGG_LOSS_PP, \
            f'relay {side} loss {a["pct"]:.3f}% vs loadgen {t["loss_pct"]:.3f}% (tolerance {AGG_LOSS_PP} pp)\n{summary}'
        assert abs(a['pct'] - truth) <= DROP_TRUTH_PP, \
            f'relay {side} loss {a["pct"]:.3f}% vs iptables {truth:.3f}% (tolerance {DROP_TRUTH_PP} pp)\n{summary}'
        assert abs(a['jitter_med'] - lg_jit_med) <= AGG_JITTER_MS + AGG_JITTER_RATIO * lg_jit_med, \
            f'relay {side} median jitter {a["jitter_med"]:.2f} ms vs loadgen {lg_jit_med:.2f} ms\n{summary}'
    assert abs(truth - 100 * DROP_P) <= 0.5, f'iptables dropped {truth:.2f}%, configured {100 * DROP_P:.0f}%'
    n_rtcp = sum(cmp.rtcp_age.values())
    assert cmp.rtcp_age.get(0, 0) >= RTCP_LAST_SHARE * n_rtcp, \
        f'the relay holds loadgen\'s last RTCP block for only {cmp.rtcp_age.get(0, 0)} of {n_rtcp} streams\n{summary}'
    def rtp(a):
        return a['quality']['to_peer']['kinds']['rtp'] + a['quality']['to_client']['kinds']['rtp']
    ended_unjudged = [a for a in unjudged if a['_source'] != 'api' and rtp(a) >= 50]  # quality.min_packets
    assert not ended_unjudged, f'{len(ended_unjudged)} allocations ended with media and no verdict: {unjudged_text}\n{summary}'
    long_unjudged = [a for a in unjudged if a['age_s'] >= QUALITY_INTERVAL_S + 1.5]
    assert not long_unjudged, f'{len(long_unjudged)} allocations lived over {QUALITY_INTERVAL_S} s + the tick with ' \
                              f'no interval judged: {unjudged_text}\n{summary}'
    assert len(judged) >= 0.9 * len(recs), f'only {len(judged)} of {len(recs)} allocations judged\n{summary}'
    assert not any(v == 'no_media' for v, _ in verdicts), f'judged allocations with no media: {verdict_text(verdicts)}'
    assert degraded_loss >= VERDICT_SHARE * len(judged), \
        f'{degraded_loss} of {len(judged)} judged allocations worst_verdict degraded for loss, expected >= ' \
        f'{VERDICT_SHARE:.0%} at {100 * DROP_P:.0f}% loss: {verdict_text(verdicts)}\n{summary}'
    return summary


def verdict_text(v):
    return ', '.join(f'{k[0]}{" (loss)" if k[1] else ""}: {n}' for k, n in sorted(v.items(), key=str))


def write_table(path, rows):
    cols = ['call', 'dir', 'side', 'lg_sent', 'lg_expected', 'lg_received', 'lg_lost', 'relay_expected', 'relay_rtp',
            'relay_lost', 'lg_jitter', 'relay_jitter']
    with open(path, 'w') as f:
        f.write('\t'.join(cols) + '\n')
        for x in rows:
            f.write('\t'.join(str(x[c]) for c in cols) + '\n')


class Ctx:
    def __init__(self, args, art):
        self.turnpike = args.bin or os.environ.get('TURNPIKE_BIN') or str(harness.DEFAULT_TURNPIKE_BIN)
        self.loadgen = args.loadgen or lg.loadgen_binary(self.turnpike)
        self.calls = args.calls
        self.art = Path(art)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--bin', default=None, help='turnpike binary (default $TURNPIKE_BIN or build/bin/turnpike)')
    ap.add_argument('--loadgen', default=None, help='turnpike-loadgen (default: beside --bin)')
    ap.add_argument('--calls', type=int, default=CALLS)
    args = ap.parse_args()
    tr = harness.TestRunner('quality_loadgen')
    keep_env = os.environ.get('TEST_ARTIFACTS', '')
    parent = keep_env if keep_env and os.path.isdir(keep_env) else None
    art = tempfile.mkdtemp(prefix='turnpike-it-quality-loadgen-', dir=parent)
    ctx = Ctx(args, art)
    t0 = time.monotonic()
    print(f'== test_quality_loadgen: {ctx.loadgen} against {ctx.turnpike}; artifacts in {art}', flush=True)
    for exe in (ctx.loadgen, ctx.turnpike):
        if not os.path.exists(exe):
            tr.fail('prerequisites', f'{exe} not built')
    if not tr.failures:
        ok, why = lg.lab_available()
        if not ok:
            print(f'SKIP: loss_and_jitter_agree: {why}', flush=True)
            shutil.rmtree(art, ignore_errors=True)
            return 0
        try:
            with lg.LinkLab(prefix='tql') as link:
                tr.run('loss_and_jitter_agree', check_agree, ctx, link)
        except harness.ServerError as e:
            tr.fail('server', str(e))
    print(f'(total {time.monotonic() - t0:.1f}s)', flush=True)
    rc = tr.finish()
    if rc != 0 or (keep_env and keep_env != '0'):
        print(f'artifacts kept in {art}', flush=True)
    else:
        shutil.rmtree(art, ignore_errors=True)
    return rc


if __name__ == '__main__':
    sys.exit(main())
