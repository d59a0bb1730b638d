"""One headless Chromium participant, run INSIDE a lab network namespace (tests/netlab/) by
test_nat.py: `ip netns exec NS /usr/bin/python3 nat_browser.py --url URL --seconds N`.

Opens Turnpike's SFU demo page (fake camera and microphone, direct ICE: no relay-only policy),
waits until it has joined and sends media, stays N seconds, then prints one JSON line with the
page's state and its ICE candidates, and quits. Everything bounded; chromedriver and the browser
are killed on the way out.
"""
import argparse
import json
import os
import shutil
import tempfile
import time

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import browser  # noqa: E402


GATHER_HOOK = r"""
(() => {
  const Native = window.RTCPeerConnection;
  if (!Native) return;
  const seen = window.__turnpikeGathered = [];
  const t = () => (performance.now() / 1000).toFixed(2) + ' ';
  function Hooked(...args) {
    const pc = new Native(...args);
    pc.addEventListener('icecandidate', e => seen.push(t() + (e.candidate ? e.candidate.candidate : 'end-of-candidates')));
    pc.addEventListener('icecandidateerror', e => seen.push(t() + 'error ' + e.errorCode + ' ' + e.url + ' ' + e.errorText + ' from ' + e.address + ':' + e.port));
    return pc;
  }
  Hooked.prototype = Native.prototype;
  window.RTCPeerConnection = Hooked;
})();
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--url', required=True)
    ap.add_argument('--seconds', type=float, default=10)
    ap.add_argument('--join-timeout', type=float, default=40)
    args = ap.parse_args()
    origin = args.url.split('/demo/')[0]
    work = tempfile.mkdtemp(prefix='turnpike-nat-browser-')
    drv = service = None
    out = {'joined': False}
    try:
        # The lab's server is not loopback: let the page reach it without the dead proxy, and let
        # getUserMedia run on its plain-http origin.
        extra = [f'--unsafely-treat-insecure-origin-as-secure={origin}']
        host = origin.split('//', 1)[1].rsplit(':', 1)[0]
        drv, service = browser.make_driver(os.path.join(work, 'profile'), os.path.join(work, 'chromedriver.log'), extra,
                                           lab_hosts=[host])
        # Every candidate and candidate error the page's RTCPeerConnections see, with its time.
        drv.execute_cdp_cmd('Page.addScriptToEvaluateOnNewDocument', {'source': GATHER_HOOK})
        drv.get(args.url)
        end = time.monotonic() + args.join_timeout
        state = {}
        while time.monotonic() < end:
            state = drv.execute_script('''
              const d = window.turnpikeDemo || {};
              return {joined: !!d.joined, error: d.error || null, stats: d.stats || null,
                      status: (document.getElementById('status') || {}).textContent || ''};''')
            if state.get('joined'):
                break
            if state.get('error'):
                break
            time.sleep(0.5)
        out.update(state)
        time.sleep(args.seconds)
        # What the browser gathered (getStats local-candidate): the evidence the SFU should have seen.
        out['local_candidates'] = drv.execute_async_script('''
          const done = arguments[arguments.length - 1];
          const room = (window.turnpikeDemo || {}).room;
          if (!room || !room.pc) return done([]);
          room.pc.getStats().then(stats => {
            const out = [];
            stats.forEach(s => { if (s.type === 'local-candidate')
              out.push([s.candidateType, s.protocol, (s.address || s.ip) + ':' + s.port, s.url || ''].join(' ')); });
            done(out);
          }, () => done([]));''')
        out['gathered'] = drv.execute_script('return window.__turnpikeGathered || [];')
        out['final'] = drv.execute_script('''
          const d = window.turnpikeDemo || {};
          return {joined: !!d.joined, error: d.error || null, status: (document.getElementById('status') || {}).textContent || ''};''')
    except Exception as e:  # noqa: BLE001
        out['exception'] = f'{type(e).__name__}: {e}'
    finally:
        if drv is not None:
            browser.quit(drv, service)  # make_driver gives both or raises (and kills its chromedriver)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()
