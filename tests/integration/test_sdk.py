#!/usr/bin/python3
"""The TypeScript SDK (sfu/web, the turnpike-sdk package) as an app developer uses it, against the
real SFU in headless Chromium:

  build        the committed sfu/web/dist/ is what `npm ci && npm run build` makes of sfu/web/src
               (typescript from the npm registry, pinned by package-lock.json), and `npm pack`
               makes a package with the ESM modules, the IIFE script and the .d.ts
  app_strict   tests/integration/sdk_app/app.ts, on the packed package as npm installs it, compiles
               with tsc --strict
  join         Chromium A runs the app (ES modules through an import map) and joins with camera
               and microphone; Chromium B runs the demo page (/demo/ on /sdk/turnpike.js, the IIFE
               build) and decodes A's video
  mute         A mutes its microphone: B gets track_muted for it, then track_unmuted
  switch       A switches to its second fake camera (RTCRtpSender.replaceTrack): the track sent is
               the new device's, and B keeps decoding
  screen       A shares its screen: B receives a second video track from A and decodes it
  reconnect    the signalling port is cut with iptables for 4 s mid-call: A's pings time out, it
               emits reconnecting, resumes its session (protocol version 2) and emits reconnected;
               B never sees A leave, and B's frames from A keep rising within 5 s of the cut's end

Run: python3 test_sdk.py [--bin PATH]   (root for iptables; npm reaches the npm registry)
"""

import filecmp
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

sys.dont_write_bytecode = True   # keep the source tree clean

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import browser, harness  # noqa: E402
from integration.browser import Browser, PageServer  # noqa: E402
from integration.harness import TOKEN_KEY, wait_for  # noqa: E402
from integration import sfu_page  # noqa: E402
from integration.sfu_page import inbound_by_participant, page_state, token  # noqa: E402

ADMIN_TOKEN = 'sdk-admin-token-0123456789abcdef'

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEB = os.path.join(REPO, 'sfu', 'web')
APP = os.path.join(REPO, 'tests', 'integration', 'sdk_app')
CUT_SECONDS = 4


def run(cmd, cwd, timeout=180):
    out = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    assert out.returncode == 0, f'{" ".join(cmd)} failed ({out.returncode}):\n{out.stdout[-3000:]}'
    return out.stdout


def build(work):
    """Builds sfu/web in a copy (npm ci, npm run build), compares with the committed dist/, packs it."""
    sdk = os.path.join(work, 'sdk')
    shutil.copytree(WEB, sdk, ignore=shutil.ignore_patterns('node_modules', 'dist', '*.tgz'))
    run(['npm', 'ci', '--no-audit', '--no-fund'], sdk)
    run(['npm', 'run', 'build'], sdk)
    made = os.path.join(sdk, 'dist')
    committed = os.path.join(WEB, 'dist')
    differ = []

    def compare(a, b):
        c = filecmp.dircmp(a, b)
        differ.extend(os.path.join(a, n) for n in c.left_only + c.right_only + c.diff_files + c.funny_files)
        for sub in c.common_dirs:
            compare(os.path.join(a, sub), os.path.join(b, sub))
    compare(made, committed)
    assert not differ, (f'sfu/web/dist differs from what npm run build makes of sfu/web/src: '
                        f'{[os.path.relpath(p, sdk) for p in differ]}; run `npm ci && npm run build` in sfu/web')
    out = run(['npm', 'pack', '--pack-destination', work], sdk).strip().splitlines()[-1]
    tgz = os.path.join(work, out)
    with tarfile.open(tgz) as t:
        names = set(t.getnames())
    for need in ('package/dist/turnpike.js', 'package/dist/esm/index.js', 'package/dist/types/index.d.ts',
                 'package/package.json'):
        assert need in names, f'{need} not in the npm pack output ({sorted(names)})'
    return sdk, tgz, f'dist/ matches tsc; npm pack: {os.path.basename(tgz)}, {len(names)} files'


def app_strict(work, sdk, tgz):
    app = os.path.join(work, 'app')
    shutil.copytree(APP, app)
    run(['npm', 'install', '--no-audit', '--no-fund', '--offline', tgz], app)
    run([os.path.join(sdk, 'node_modules', '.bin', 'tsc'), '-p', 'tsconfig.json', '--strict'], app)
    assert os.path.exists(os.path.join(app, 'app.js'))
    return app


def sfu_config():
    cfg = harness.default_config()
    cfg['region'] = 'eu-west-1'
    cfg['sfu'] = {
        'signal_listen': f'127.0.0.1:{harness.free_port("tcp")}',
        'media_listen': f'127.0.0.1:{harness.free_port("udp")}',
        'token_keys': [TOKEN_KEY],
        'resume_grace': 15,
    }
    cfg['admin']['token'] = ADMIN_TOKEN
    return cfg


def remove_participant(srv, pid):
    """DELETE /api/v1/rooms/{room}/participants/{pid} (the admin API): the status."""
    req = urllib.request.Request(f'{srv.admin_url}/api/v1/rooms/{sfu_page.ROOM}/participants/{pid}', method='DELETE')
    req.add_header('Authorization', f'Bearer {ADMIN_TOKEN}')
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=5) as r:
        return r.status


def app_call(drv, script, *args):
    """Runs `script` (an expression on `app`, window.sdkApp, that may be a promise) in A's page."""
    return drv.execute_async_script('''
      const done = arguments[arguments.length - 1];
      const args = [...arguments].slice(0, -1);
      const app = window.sdkApp;
      Promise.resolve().then(() => (''' + script + ''')).then((r) => done({ok: r === undefined ? null : r}),
                                                   (e) => done({error: String(e && e.stack || e)}));
    ''', *args)


def ok(result, what):
    assert 'error' not in result, f'{what}: {result["error"]}'
    return result['ok']


def b_log(drv):
    return drv.execute_script('return window.sdkTestLog || []')


def watch_b(drv):
    """Records B's room events (the demo page's Room) for the checks."""
    drv.execute_script('''
      window.sdkTestLog = [];
      const room = window.turnpikeDemo.room;
      for (const ev of ['participantleft', 'trackmuted', 'reconnecting', 'reconnected', 'disconnected', 'track'])
        room.addEventListener(ev, (e) => window.sdkTestLog.push({event: ev, at: Date.now(),
          detail: ev === 'track' ? {participant: e.detail.participant, kind: e.detail.track.kind, trackId: e.detail.trackId}
                                 : e.detail}));''')


def frames_from(drv, pid):
    """framesDecoded per video track B receives from participant `pid`: {trackId: frames}."""
    st = page_state(drv)
    out = {}
    for r in (st.get('stats') or {}).get('inbound', []):
        tid = r.get('trackId') or ''
        if r['kind'] == 'video' and tid.rsplit('-', 1)[0] == pid:
            out[tid] = r.get('framesDecoded') or 0
    return out


def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    args = ap.parse_args()
    tr = harness.TestRunner('sdk')
    t0 = time.monotonic()
    work = tempfile.mkdtemp(prefix='turnpike-it-sdk-')
    browsers = []
    cut_rule = cut_back = None
    try:
        built = tr.run('build', lambda: build(work))
        app = tr.run('app_strict', lambda: app_strict(work, built[0], built[1]) if built else None)
        if not app:
            return tr.finish()
        cfg = sfu_config()
        port = int(cfg['sfu']['signal_listen'].rsplit(':', 1)[1])
        with harness.Turnpike(cfg, binary=args.bin, name='turnpike-sdk') as srv, \
                PageServer.directory(app, 'index.html') as pages:
            signal_url = f'ws://{cfg["sfu"]["signal_listen"]}/signal'
            a = Browser('sdk-a', ['--use-fake-device-for-media-stream=device-count=3',
                                  '--auto-select-desktop-capture-source=Entire screen'])
            browsers.append(a)
            b = Browser('sdk-b', [])
            browsers.append(b)
            ids = {}

            def join():
                a.drv.get(pages.url)
                wait_for('the app loads', lambda: a.drv.execute_script('return !!window.sdkApp'), 10, 0.2)
                joined = ok(app_call(a.drv, 'app.join(args[0], args[1])', signal_url, token(srv, 'app')['token']),
                            'app join')
                ids['a'] = joined['participant']
                b.drv.get(f'http://{cfg["sfu"]["signal_listen"]}/demo/?w=320&h=240&fps=15#token='
                          f'{token(srv, "demo")["token"]}')
                st = wait_for('the demo page joins', lambda: (lambda s: s if s['joined'] or s['error'] else None)(
                    page_state(b.drv)), 20)
                assert not st['error'], f'demo page: {st["error"]}'
                watch_b(b.drv)
                got = wait_for("B decodes A's video", lambda: (lambda g: g if g.get(ids['a'], {}).get('video', 0) >= 20
                                                               else None)(inbound_by_participant(page_state(b.drv))), 20)
                # The SFU announces simulcast, so the SDK publishes A's camera as rids q, h and f (how
                # many Chromium actually sends depends on the camera size: one at 320x240).
                sent = ok(app_call(a.drv, 'app.stats()'), 'stats')['outbound']
                rids = sorted({o['rid'] for o in sent if o['kind'] == 'video' and o.get('rid')})
                assert rids == ['f', 'h', 'q'], f'A publishes simulcast layers: {sent}'
                return f'A {ids["a"]} (protocol {joined["version"]}, simulcast {rids}); B decodes {got[ids["a"]]}'
            if not tr.run('join', join):
                return tr.finish()

            def speakers_layers():
                # Dynacast: B watches one of A's layers; those nobody watches are paused at A (`layers`).
                def paused():
                    ev = [e for e in ok(app_call(a.drv, 'app.log'), 'log') if e['event'] == 'layers']
                    return ev if ev and 0 < len(ev[-1]['detail']['active']) < 3 else None
                layers = wait_for("A's unwatched layers paused", paused, 10, 0.3)[-1]['detail']
                # Active speakers from the RFC 6464 levels of both fake microphones.
                b_id = page_state(b.drv)['self']

                def speaking():
                    ev = [e for e in ok(app_call(a.drv, 'app.log'), 'log') if e['event'] == 'activespeakers']
                    return ev if any(set(e['detail']['speakers']) & {b_id, ids['a']} for e in ev) else None
                speakers = wait_for('A hears of active speakers', speaking, 10, 0.3)[-1]['detail']['speakers']
                return f'A sends only {layers["active"]} of q/h/f; active speakers {speakers}'
            tr.run('speakers_layers', speakers_layers)

            def subscription():
                # A pauses B's video (room.setSubscription): nothing more is decoded; then resumes it.
                b_video = f'{page_state(b.drv)["self"]}-1'

                def frames():
                    st = ok(app_call(a.drv, 'app.stats()'), 'stats')
                    return max([r.get('framesDecoded') or 0 for r in st['inbound']
                                if r['kind'] == 'video' and r.get('trackId') == b_video] or [0])
                wait_for("A decodes B's video", lambda: frames() >= 10, 10, 0.3)
                assert ok(app_call(a.drv, 'app.room.setSubscription(args[0], {paused: true})', b_video), 'pause')
                time.sleep(1.0)
                held = frames()
                time.sleep(1.5)
                assert frames() <= held + 1, f'frames went on while paused: {held} -> {frames()}'
                assert ok(app_call(a.drv, 'app.room.setSubscription(args[0], {paused: false, maxLayer: "q"})',
                                   b_video), 'resume')
                wait_for("A decodes B's video again", lambda: frames() >= held + 10, 8, 0.3)
                return f'paused at {held} frames, resumed to {frames()}'
            tr.run('subscription', subscription)

            def mute():
                assert ok(app_call(a.drv, 'app.mute("audio", true)'), 'mute') is True
                muted = wait_for('B sees track_muted', lambda: [e for e in b_log(b.drv) if e['event'] == 'trackmuted'
                                                                 and e['detail']['participant'] == ids['a']], 5, 0.2)
                assert muted[0]['detail']['muted'] is True, muted
                assert ok(app_call(a.drv, 'app.mute("audio", false)'), 'unmute') is True
                wait_for('B sees track_unmuted', lambda: [e for e in b_log(b.drv) if e['event'] == 'trackmuted'
                                                          and e['detail']['muted'] is False], 5, 0.2)
                return f'track_muted then track_unmuted for {muted[0]["detail"]["track"]}'
            tr.run('mute', mute)

            def switch():
                r = ok(app_call(a.drv, 'app.switchCamera()'), 'switchDevice')
                assert r['devices'] >= 2, f'fake cameras: {r}'
                assert r['from'] != r['to'] and r['sending'], f'switch: {r}'
                before = sum(frames_from(b.drv, ids['a']).values())
                try:
                    wait_for('B keeps decoding after the switch',
                             lambda: sum(frames_from(b.drv, ids['a']).values()) >= before + 15, 10, 0.3)
                except AssertionError as e:
                    sent = ok(app_call(a.drv, 'app.stats()'), 'stats')['outbound']
                    raise AssertionError(f'{e}; B from A: {frames_from(b.drv, ids["a"])} (before {before}); '
                                         f'A sends {sent}') from None
                return f'camera {r["from"][:8]} -> {r["to"][:8]}, B still decoding'
            tr.run('switch', switch)

            def screen():
                r = ok(app_call(a.drv, 'app.shareScreen()'), 'shareScreen')
                assert r['trackId'], r
                got = wait_for("B decodes A's screen track", lambda: (lambda f: f if f.get(r['trackId'], 0) >= 10
                                                                      else None)(frames_from(b.drv, ids['a'])), 15, 0.3)
                assert len(got) >= 2, f'B receives {got}'
                return f'screen track {r["trackId"]} ({r["label"]}): B decodes {got}'
            tr.run('screen', screen)

            def reconnect():
                nonlocal cut_rule
                rule = ['INPUT', '-p', 'tcp', '--dport', str(port), '-j', 'DROP']
                subprocess.run(['iptables', '-I', *rule], check=True, timeout=10)
                cut_rule = rule
                t_cut = time.time()
                time.sleep(CUT_SECONDS)
                subprocess.run(['iptables', '-D', *rule], check=True, timeout=10)
                cut_rule = None
                t_end = time.time()
                before = frames_from(b.drv, ids['a'])
                wait_for("B's frames from A rise after the cut",
                         lambda: all(frames_from(b.drv, ids['a']).get(k, 0) >= v + 10 for k, v in before.items()),
                         5, 0.25)
                resumed_in = time.time() - t_end
                log = ok(app_call(a.drv, 'app.log'), 'log')
                events = [e for e in log if e['at'] >= t_cut * 1000 - 500]
                wait_for('A reconnects', lambda: [e for e in ok(app_call(a.drv, 'app.log'), 'log')
                                                  if e['event'] == 'reconnected' and e['at'] >= t_cut * 1000], 10, 0.3)
                log = ok(app_call(a.drv, 'app.log'), 'log')
                events = [e['event'] for e in log if e['at'] >= t_cut * 1000 - 500
                          and e['event'] in ('reconnecting', 'reconnected', 'disconnected')]
                assert 'reconnecting' in events and 'reconnected' in events and 'disconnected' not in events, events
                state = ok(app_call(a.drv, '({id: app.room.participantId, state: app.room.state})'), 'state')
                assert state == {'id': ids['a'], 'state': 'connected'}, state
                left = [e for e in b_log(b.drv) if e['event'] == 'participantleft']
                assert not left, f'B saw {left}'
                assert ids['a'] in page_state(b.drv)['others']
                # Signalling works again: a mute after the resume reaches B.
                n = len([e for e in b_log(b.drv) if e['event'] == 'trackmuted'])
                ok(app_call(a.drv, 'app.mute("video", true)'), 'mute after resume')
                wait_for('B sees a mute sent after the resume',
                         lambda: len([e for e in b_log(b.drv) if e['event'] == 'trackmuted']) > n, 5, 0.2)
                return (f'A: {events}; media from A rising {resumed_in:.1f}s after the cut ended; '
                        f'B saw no participant_left')
            tr.run('reconnect', reconnect)

            def rejoin():
                # The session ends while A is cut off (the admin removes it), so A's resume is answered
                # resume_failed: the SDK joins again as a new participant with tokenProvider's token and
                # publishes its camera again; B sees the old A leave and decodes the new one.
                nonlocal cut_rule, cut_back
                rule = ['INPUT', '-p', 'tcp', '--dport', str(port), '-j', 'DROP']
                back = ['INPUT', '-p', 'tcp', '--sport', str(port), '-j', 'DROP']  # nor does `removed` reach A
                subprocess.run(['iptables', '-I', *rule], check=True, timeout=10)
                cut_rule = rule
                subprocess.run(['iptables', '-I', *back], check=True, timeout=10)
                cut_back = back
                t_cut = time.time()
                assert remove_participant(srv, ids['a']) == 200
                wait_for('A notices the cut', lambda: [e for e in ok(app_call(a.drv, 'app.log'), 'log')
                                                      if e['event'] == 'reconnecting' and e['at'] >= t_cut * 1000],
                         10, 0.3)
                subprocess.run(['iptables', '-D', *rule], check=True, timeout=10)
                cut_rule = None
                subprocess.run(['iptables', '-D', *back], check=True, timeout=10)
                cut_back = None
                try:
                    state = wait_for('A joins again', lambda: (lambda st: st if st['state'] == 'connected' and
                                                               st['id'] != ids['a'] else None)(
                        ok(app_call(a.drv, '({id: app.room.participantId, state: app.room.state})'), 'state')), 10, 0.3)
                except AssertionError as e:
                    log = [(round(e2['at'] / 1000 - t_cut, 1), e2['event'], e2['detail'])
                           for e2 in ok(app_call(a.drv, 'app.log'), 'log') if e2['at'] >= t_cut * 1000 - 500]
                    st = ok(app_call(a.drv, '({id: app.room.participantId, state: app.room.state})'), 'state')
                    raise AssertionError(f'{e}; A is {st}; its events since the cut: {log}') from None
                log = wait_for('A says reconnected', lambda: (lambda ev: ev if 'reconnected' in ev else None)(
                    [e['event'] for e in ok(app_call(a.drv, 'app.log'), 'log') if e['at'] >= t_cut * 1000]), 5, 0.2)
                assert 'disconnected' not in log, log
                # B's signalling went through the same cut port: it hears of the removal once it is back.
                wait_for('B sees the old A leave', lambda: [e for e in b_log(b.drv) if e['event'] == 'participantleft'
                                                           and e['detail']['participant'] == ids['a']], 10, 0.3)
                got = wait_for("B decodes the new A's video", lambda: (lambda g: g if g.get(state['id'], {}).get(
                    'video', 0) >= 10 else None)(inbound_by_participant(page_state(b.drv))), 10, 0.3)
                return f'A {ids["a"]} -> {state["id"]}, its session gone ({log}); B decodes {got[state["id"]]}'
            tr.run('rejoin', rejoin)
            srv.check_alive()
    except harness.ServerError as e:
        tr.fail('server', str(e))
    finally:
        for r in (cut_rule, cut_back):
            if r:
                subprocess.run(['iptables', '-D', *r], timeout=10)
        for br in browsers:
            br.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f'(total {time.monotonic() - t0:.1f}s)', flush=True)
    return tr.finish()


if __name__ == '__main__':
    if browser.missing():
        print(f'SKIP: no {browser.missing()}')
        sys.exit(0)
    sys.exit(main())
