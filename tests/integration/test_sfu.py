#!/usr/bin/python3
"""The SFU with unmodified browsers: three headless Chromium participants join one room through the
demo page Turnpike serves (/demo/, which uses /sdk/turnpike.js), each with the fake camera and
microphone, each on a different path to the SFU:

  direct     host candidates straight to the SFU's media port
  relay_udp  relay-only (iceTransportPolicy "relay") through Turnpike's own TURN over UDP
  relay_tls  relay-only through Turnpike's own TURN over TLS (turns:), no UDP TURN URL

Checks:
  media          every participant decodes both others' video (framesDecoded rising) and receives
                 their audio (packets rising)
  sessions_split turnpike_sfu_sessions{path} shows exactly direct 1, relay_udp 1, relay_tls 1 (and
                 turnpike_sfu_site_sessions the same at the browsers' site), and the demo page shows
                 each participant's path
  renegotiate    an ICE restart keeps media flowing; unpublishing the camera ends that track for
                 the others and leaves the audio
  leave          a participant that closes its tab disappears from the others within seconds, its
                 tracks end, and the gauges follow
  wss_signalling with sfu.signal_tls: the SDK over https, ping and join over wss://
  bad_input      a bad token, an expired token, a token for another region, a malformed message
                 and a bogus SDP each get a clear error on their own connection; the room is undisturbed

Run: python3 test_sfu.py [--bin PATH] [--deadline 150]
"""

import base64
import hashlib
import json
import os
import socket
import ssl
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.dont_write_bytecode = True   # keep the source tree clean

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration.harness import wait_for  # noqa: E402
from integration import harness  # noqa: E402
from integration import browser  # noqa: E402
from integration.browser import Browser  # noqa: E402
from integration import sfu_page  # noqa: E402
from integration.harness import TOKEN_KEY, hs256_token  # noqa: E402
from integration.metrics import metric, scrape  # noqa: E402
from integration.sfu_page import inbound_by_participant, page_state, token  # noqa: E402

ROOM = sfu_page.ROOM
PARTICIPANTS = [('direct', ''), ('relay_udp', 'udp'), ('relay_tls', 'tls')]


def sfu_config(cert, key):
    cfg = harness.default_config()
    cfg['region'] = 'eu-west-1'
    udp_port = cfg['listen'][0]['port']
    cfg['listen'].append({'transport': 'tls', 'address': '127.0.0.1', 'port': harness.free_port('tcp')})
    cfg['tls'] = {'cert': str(cert), 'key': str(key)}
    cfg['sfu'] = {
        'signal_listen': f'127.0.0.1:{harness.free_port("tcp")}',
        'media_listen': f'127.0.0.1:{harness.free_port("udp")}',
        'token_keys': [TOKEN_KEY],
    }
    assert udp_port
    return cfg


def ws_exchange(drv, url, messages, timeout_ms=5000):
    """Opens a WebSocket from the page, sends each message (strings are sent raw), and returns what
    came back and how the socket closed."""
    return drv.execute_async_script('''
      const [url, messages, timeout, done] = arguments;
      const got = [];
      const ws = new WebSocket(url);
      const finish = (how) => done({got, how});
      const timer = setTimeout(() => { finish('open'); ws.close(); }, timeout);
      ws.onopen = () => { for (const m of messages) ws.send(typeof m === 'string' ? m : JSON.stringify(m)); };
      ws.onmessage = (e) => { try { got.push(JSON.parse(e.data)); } catch (_) { got.push(e.data); } };
      ws.onclose = (e) => { clearTimeout(timer); finish('closed:' + e.code); };
    ''', url, messages, timeout_ms)


def ws_over_tls(host, port, text, timeout=5.0):
    """A WebSocket (RFC 6455) over TLS with the standard library: the upgrade, one masked text frame,
    and the first frame back. The server's certificate is the test's own self-signed one."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            ctx.wrap_socket(raw, server_hostname='turnpike.test') as s:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f'GET /signal HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n'
                   f'Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n').encode())
        head = b''
        while b'\r\n\r\n' not in head:
            chunk = s.recv(4096)
            assert chunk, 'connection closed during the upgrade'
            head += chunk
        status = head.split(b'\r\n', 1)[0].decode()
        want = base64.b64encode(hashlib.sha1((key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').encode()).digest()).decode()
        assert status.startswith('HTTP/1.1 101'), f'upgrade refused: {status}'
        assert f'sec-websocket-accept: {want}'.lower() in head.decode().lower(), 'wrong Sec-WebSocket-Accept'
        body = text.encode()
        assert len(body) < 65536
        mask = os.urandom(4)
        length = bytes([0x80 | len(body)]) if len(body) < 126 else bytes([0x80 | 126]) + len(body).to_bytes(2, 'big')
        s.sendall(bytes([0x81]) + length + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(body)))
        rest = head.split(b'\r\n\r\n', 1)[1]

        def need(n):
            nonlocal rest
            while len(rest) < n:
                chunk = s.recv(65536)
                assert chunk, 'connection closed before an answer'
                rest += chunk
        need(2)
        assert rest[0] == 0x81, f'unexpected frame {rest[:4].hex()}'
        n, off = rest[1] & 0x7F, 2
        if n == 126:
            need(4)
            n, off = int.from_bytes(rest[2:4], 'big'), 4
        elif n == 127:
            need(10)
            n, off = int.from_bytes(rest[2:10], 'big'), 10
        need(off + n)
        return json.loads(rest[off:off + n])


def check_wss(args, cert, key):
    """sfu.signal_tls: the SDK, the demo and the signalling WebSocket over TLS."""
    cfg = sfu_config(cert, key)
    cfg['sfu']['signal_tls'] = True
    with harness.Turnpike(cfg, binary=args.bin, name='turnpike-sfu-tls') as srv:
        host, port = cfg['sfu']['signal_listen'].rsplit(':', 1)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with urllib.request.urlopen(f'https://{host}:{port}/sdk/turnpike.js', context=ctx, timeout=5) as r:
            sdk = r.read().decode()
        assert 'Turnpike' in sdk, 'the SDK is not served over https'
        pong = ws_over_tls(host, int(port), '{"type":"ping"}')
        assert pong == {'type': 'pong'}, f'ping over wss: {pong}'
        tok = token(srv, 'tls-user')
        assert tok['signal_url'].startswith('wss://'), tok['signal_url']
        joined = ws_over_tls(host, int(port), json.dumps({'type': 'join', 'token': tok['token']}))
        assert joined.get('type') == 'joined' and joined.get('room') == ROOM, f'join over wss: {joined}'
        return f'https SDK, wss ping/pong and join ({tok["signal_url"]})'


def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    ap.add_argument('--deadline', type=float, default=150.0, help='overall bound, seconds')
    args = ap.parse_args()
    tr = harness.TestRunner('sfu')
    t0 = time.monotonic()
    certdir = tempfile.mkdtemp(prefix='turnpike-it-sfu-cert-')
    browsers = {}
    try:
        cert, key = harness.make_cert(certdir)
        spki = browser.spki_sha256_b64(cert)
        cfg = sfu_config(cert, key)
        with harness.Turnpike(cfg, binary=args.bin, name='turnpike-sfu') as srv:
            base = f'http://{cfg["sfu"]["signal_listen"]}'
            signal_url = f'ws://{cfg["sfu"]["signal_listen"]}/signal'

            def join_all():
                for name, relay in PARTICIPANTS:
                    extra = [f'--ignore-certificate-errors-spki-list={spki}'] if relay == 'tls' else []
                    b = Browser(name, extra)
                    browsers[name] = b
                    tok = token(srv, name)['token']
                    b.drv.get(f'{base}/demo/?relay={relay}&w=320&h=240&fps=15#token={tok}')
                for name, b in browsers.items():
                    st = wait_for(f'{name} joins', lambda b=b: (lambda s: s if s['joined'] or s['error'] else None)(
                        page_state(b.drv)), 30)
                    assert not st['error'], f'{name} could not join: {st["error"]}'
                return f'{len(browsers)} joined room {ROOM}'
            tr.run('join', join_all)

            ids = {}

            def media():
                for name, b in browsers.items():
                    ids[name] = page_state(b.drv)['self']

                def everyone_decodes():
                    ok = True
                    counts = {}
                    for name, b in browsers.items():
                        got = inbound_by_participant(page_state(b.drv))
                        counts[name] = got
                        for other, oid in ids.items():
                            if other == name:
                                continue
                            g = got.get(oid, {'video': 0, 'audio': 0})
                            if g['video'] < 30 or g['audio'] < 50:
                                ok = False
                    return {'ok': ok, 'by': counts}
                seen = {}

                def decodes_noting():
                    seen['counts'] = everyone_decodes()
                    return seen['counts'] and seen['counts'].get('ok') and seen['counts']['by']
                try:
                    first = wait_for('every participant decodes the others', decodes_noting, 60, 1.0)
                except AssertionError as e:
                    raise AssertionError(f'{e}; frames/audio packets each page saw: {seen.get("counts")}') from None
                time.sleep(3)
                second = everyone_decodes()['by']
                for name in browsers:
                    for other, oid in ids.items():
                        if other == name:
                            continue
                        a, b2 = first[name].get(oid, {}), second.get(name, {}).get(oid, {})
                        assert b2.get('video', 0) > a.get('video', 0), f'{name}: video from {other} stalled'
                        assert b2.get('audio', 0) > a.get('audio', 0), f'{name}: audio from {other} stalled'
                return '; '.join(f'{n} sees ' + ', '.join(
                    f'{o}: {second[n][ids[o]]["video"]} frames/{second[n][ids[o]]["audio"]} audio pkts'
                    for o in ids if o != n) for n in browsers)
            tr.run('media', media)

            def sessions_split():
                want = {'direct': 1, 'relay_udp': 1, 'relay_tls': 1, 'relay_tcp': 0, 'relay_dtls': 0,
                        'relay_external': 0}
                seen = {}

                def split():
                    text = scrape(srv)
                    seen['got'] = {p: metric(text, 'turnpike_sfu_sessions', path=p) or 0 for p in want}
                    return seen['got'] == want
                try:
                    wait_for('turnpike_sfu_sessions split', split, 20)
                except AssertionError:
                    raise AssertionError(f'turnpike_sfu_sessions is {seen.get("got")}, want {want}')
                got = seen['got']
                # Each page shows every participant's path as the SFU saw it.
                for name, b in browsers.items():
                    st = page_state(b.drv)
                    for other, oid in ids.items():
                        want = other
                        shown = st['paths'].get(oid) if other != name else st['paths'].get('self')
                        assert shown == want, f'{name}\'s page shows {other} as {shown!r}, want {want!r}'
                text = scrape(srv)
                assert metric(text, 'turnpike_sfu_participants') == 3
                assert metric(text, 'turnpike_sfu_rooms') == 1
                assert metric(text, 'turnpike_sfu_tracks', kind='video') == 3
                assert metric(text, 'turnpike_sfu_tracks', kind='audio') == 3
                assert (metric(text, 'turnpike_sfu_forwarded_packets_total', kind='video') or 0) > 0
                # By site: the three browsers signal from 127.0.0.1, whose site (no sites: configured)
                # is its /24; each path's sessions are counted there, and nowhere else.
                by_site = {p: metric(text, 'turnpike_sfu_site_sessions', path=p, site='127.0.0.0/24') or 0 for p in got}
                assert by_site == got, f'turnpike_sfu_site_sessions at 127.0.0.0/24 is {by_site}, want {got}'
                assert metric(text, 'turnpike_sfu_site_sessions') == sum(got.values())
                return f'sessions {got}, all at site 127.0.0.0/24; each page shows every path'
            tr.run('sessions_split', sessions_split)

            def bad_input():
                drv = browsers['direct'].drv
                results = {}
                bad = token(srv, 'mallory')['token']
                bad = bad[:-3] + ('AAA' if not bad.endswith('AAA') else 'BBB')
                # Expired well past the server's clock-skew leeway (30 s): signed here with the key.
                expired = hs256_token({'room': ROOM, 'identity': 'late', 'region': 'eu-west-1',
                                       'exp': int(time.time()) - 120}, TOKEN_KEY)
                other_region = hs256_token({'room': ROOM, 'identity': 'far', 'region': 'us-east-1',
                                            'exp': int(time.time()) + 600}, TOKEN_KEY)
                cases = {
                    'bad_token': [{'type': 'join', 'token': bad}],
                    'expired_token': [{'type': 'join', 'token': expired}],
                    'wrong_region': [{'type': 'join', 'token': other_region}],
                    'malformed': ['{not json'],
                    'not_joined': [{'type': 'offer', 'sdp': 'v=0'}],
                }
                for want, msgs in cases.items():
                    r = ws_exchange(drv, signal_url, msgs)
                    errs = [m for m in r['got'] if isinstance(m, dict) and m.get('type') == 'error']
                    assert errs and errs[0]['code'] == want, f'{want}: got {r}'
                    results[want] = r['how']
                for fatal in ('bad_token', 'expired_token', 'wrong_region'):
                    assert results[fatal].startswith('closed'), f'{fatal}: the connection stayed {results[fatal]}'
                assert not results['malformed'].startswith('closed'), 'a malformed message closed the connection' 
                # A joined client with a bogus SDP gets bad_sdp and stays joined.
                good = token(srv, 'eve')['token']
                r = ws_exchange(drv, signal_url, [{'type': 'join', 'token': good},
                                                  {'type': 'offer', 'sdp': 'v=0\r\nthis is not sdp\r\n'},
                                                  {'type': 'ping'}])
                types = [m.get('type') + (':' + m.get('code') if m.get('code') else '') for m in r['got']]
                assert 'joined' in types and 'error:bad_sdp' in types and 'pong' in types, f'bogus sdp: {types}'
                # The room is undisturbed: still three media sessions, media still flowing.
                text = scrape(srv)
                n = metric(text, 'turnpike_sfu_sessions', path='direct')
                assert n == 1, f'turnpike_sfu_sessions{{path="direct"}} is {n} after the bad inputs'
                before = inbound_by_participant(page_state(browsers['relay_udp'].drv))
                time.sleep(2)
                after = inbound_by_participant(page_state(browsers['relay_udp'].drv))
                oid = ids['direct']
                assert after[oid]['video'] > before[oid]['video'], 'media stopped after the bad inputs'
                return f'errors: {sorted(results)} + bad_sdp; the room kept relaying'
            tr.run('bad_input', bad_input)

            def renegotiate():
                """The direct participant restarts ICE, then stops its camera: media keeps flowing
                after the restart, and the others see the video track end."""
                drv = browsers['direct'].drv
                pid = ids['direct']
                err = drv.execute_async_script(
                    'const done = arguments[arguments.length - 1];'
                    'window.turnpikeDemo.room.restartIce().then(() => done(null), e => done(String(e)));')
                assert err is None, f'ICE restart failed: {err}'
                watcher = browsers['relay_udp'].drv
                before = inbound_by_participant(page_state(watcher)).get(pid, {})
                wait_for('video after the ICE restart',
                         lambda: inbound_by_participant(page_state(watcher)).get(pid, {}).get('video', 0) >
                         before.get('video', 0) + 30, 20)
                err = drv.execute_async_script(
                    'const done = arguments[arguments.length - 1];'
                    'const room = window.turnpikeDemo.room;'
                    'const v = room.options.stream.getVideoTracks()[0];'
                    'room.unpublish(v).then(() => done(null), e => done(String(e)));')
                assert err is None, f'unpublish failed: {err}'
                text = wait_for('video tracks drop to 2', lambda: (lambda t: t if metric(
                    t, 'turnpike_sfu_tracks', kind='video') == 2 else None)(scrape(srv)), 10)
                assert metric(text, 'turnpike_sfu_tracks', kind='audio') == 3
                for name in ('relay_udp', 'relay_tls'):
                    b = browsers[name].drv
                    wait_for(f'{name} drops the video of direct', lambda b=b: not b.execute_script(
                        'const r = window.turnpikeDemo.room;'
                        'return [...r.wanted.keys()].includes(arguments[0]);', f'{pid}-1'), 10)
                # Audio of the direct participant still arrives after both renegotiations.
                a0 = inbound_by_participant(page_state(watcher)).get(pid, {}).get('audio', 0)
                wait_for('audio after unpublishing video', lambda: inbound_by_participant(
                    page_state(watcher)).get(pid, {}).get('audio', 0) > a0 + 20, 10)
                return 'ICE restart kept media flowing; the unpublished video ended for both others, audio continued'
            tr.run('renegotiate', renegotiate)

            def leave():
                gone = ids['relay_tls']
                video_before = metric(scrape(srv), 'turnpike_sfu_tracks', kind='video')
                browsers.pop('relay_tls').close()   # closes the tab and the browser
                t_close = time.monotonic()
                for name, b in browsers.items():
                    wait_for(f'{name} sees relay_tls leave',
                             lambda b=b: gone not in page_state(b.drv)['others'] and
                             all(t['participant'] != gone for t in page_state(b.drv)['tiles']), 15)
                secs = time.monotonic() - t_close
                text = wait_for('gauges follow', lambda: (lambda t: t if metric(t, 'turnpike_sfu_participants') == 2
                                                          else None)(scrape(srv)), 10)
                assert metric(text, 'turnpike_sfu_sessions', path='relay_tls') == 0
                assert metric(text, 'turnpike_sfu_site_sessions', path='relay_tls') == 0
                assert metric(text, 'turnpike_sfu_site_sessions') == 2
                assert metric(text, 'turnpike_sfu_tracks', kind='video') == video_before - 1
                return f'gone from both others within {secs:.1f}s; participants 2, relay_tls sessions 0'
            tr.run('leave', leave)
            srv.check_alive()
        tr.run('wss_signalling', lambda: check_wss(args, cert, key))
    except harness.ServerError as e:
        tr.fail('server', str(e))
    finally:
        for b in browsers.values():
            b.close()
        shutil.rmtree(certdir, ignore_errors=True)
    print(f'(total {time.monotonic() - t0:.1f}s)', flush=True)
    return tr.finish()


if __name__ == '__main__':
    sys.exit(main())
