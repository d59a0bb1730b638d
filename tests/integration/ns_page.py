"""One headless Chromium with a test page, run INSIDE a network namespace of the NAT lab
(`ip netns exec NS /usr/bin/python3 ns_page.py --page FILE --query QS --lab-host IP --seconds N`):
serves FILE on the namespace's own 127.0.0.1 (a secure context for getUserMedia), opens it with
`?QS`, and every second awaits `window.st.sample()` (when the page defines it) and records
`window.st` with the wall-clock time. Prints one JSON line, {timeline: [{t, st}], exception?},
and quits. Everything bounded; chromedriver and the browser are killed on the way out.
test_simulcast.py runs the publisher and subscribers this way (nat_browser.py does the same for
the SFU demo page).
"""
import argparse
import json
import os
import shutil
import tempfile
import time

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import browser  # noqa: E402

SAMPLE = r"""
const done = arguments[arguments.length - 1];
const st = window.st;
if (!st) return done(null);
const copy = () => { const o = {}; for (const k of Object.keys(st)) if (typeof st[k] !== 'function') o[k] = st[k]; return o; };
if (typeof st.sample !== 'function') return done(copy());
st.sample().then(() => done(copy()), () => done(copy()));
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--page', required=True)
    ap.add_argument('--query', default='')
    ap.add_argument('--lab-host', action='append', default=[])
    ap.add_argument('--seconds', type=float, default=20)
    args = ap.parse_args()
    seconds = min(args.seconds, 300)
    work = tempfile.mkdtemp(prefix='turnpike-ns-page-')
    drv = service = None
    out = {'timeline': []}
    try:
        html = open(args.page, encoding='utf-8').read()
        with browser.PageServer.text(html, 'page.html') as page:
            drv, service = browser.make_driver(os.path.join(work, 'profile'), os.path.join(work, 'chromedriver.log'),
                                               lab_hosts=args.lab_host)
            drv.get(page.url + '?' + args.query)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                t0 = time.monotonic()
                out['timeline'].append({'t': time.time(), 'st': drv.execute_async_script(SAMPLE)})
                time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
    except Exception as e:  # noqa: BLE001
        out['exception'] = f'{type(e).__name__}: {e}'
    finally:
        if drv is not None:
            browser.quit(drv, service)  # make_driver gives both or raises (and kills its chromedriver)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()
