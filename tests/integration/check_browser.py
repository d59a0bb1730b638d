"""One headless browser running Turnpike's pre-call check page (/check/), INSIDE a lab network
namespace (tests/netlab/), for test_check.py:
`ip netns exec NS /usr/bin/python3 check_browser.py --url URL --screenshot PNG [--spki PIN]`.

Chromium (chromedriver): opens the page, waits (bounded) until `window.turnpikeCheck.done`, saves a
full-page screenshot and prints one JSON line {state, screenshot?, exception?}.
Firefox (--firefox: Debian's firefox-esr, no geckodriver): runs it headless with a fresh profile whose
user.js fakes camera and microphone and answers the permission prompts, waits until the page's report
reached the node (the page's close=1 closes the window, which ends Firefox; at most --seconds),
and prints {exit}; the test reads the report back from the node's API. Every process is killed on the way out.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import browser  # noqa: E402

FIREFOX_PREFS = {
    'media.navigator.streams.fake': True,
    'media.navigator.permission.disabled': True,
    'media.devices.insecure.enabled': True,       # the lab's page is plain http on a lab address
    'media.getusermedia.insecure.enabled': True,
    'media.peerconnection.ice.obfuscate_host_addresses': False,
    'browser.shell.checkDefaultBrowser': False,
    'browser.startup.homepage_override.mstone': 'ignore',
    'datareporting.policy.dataSubmissionEnabled': False,
    'toolkit.telemetry.reportingpolicy.firstRun': False,
    'app.update.enabled': False,
    'network.proxy.type': 0,
    'dom.allow_scripts_to_close_windows': True,  # the page's close=1 ends the browser when it is done
}


def run_chromium(args, out):
    work = tempfile.mkdtemp(prefix='turnpike-check-browser-')
    drv = service = None
    origin = args.url.split('/check/')[0]
    host = origin.split('//', 1)[1].rsplit(':', 1)[0]
    extra = [f'--unsafely-treat-insecure-origin-as-secure={origin}', '--window-size=900,1700']
    if args.spki:
        extra.append(f'--ignore-certificate-errors-spki-list={args.spki}')
    try:
        drv, service = browser.make_driver(os.path.join(work, 'profile'), os.path.join(work, 'chromedriver.log'),
                                           extra, lab_hosts=[host] + args.resolve)
        drv.get(args.url)
        end = time.monotonic() + args.seconds
        state = {}
        while time.monotonic() < end:
            state = drv.execute_script('return window.turnpikeCheck || {};')
            if state.get('done'):
                break
            time.sleep(0.3)
        out['state'] = state
        height = drv.execute_script('return document.documentElement.scrollHeight;')
        drv.set_window_size(900, min(max(int(height) + 160, 600), 4000))
        drv.save_screenshot(args.screenshot)
        out['screenshot'] = args.screenshot
    except Exception as e:  # noqa: BLE001
        out['exception'] = f'{type(e).__name__}: {e}'
    finally:
        if drv is not None:
            browser.quit(drv, service)
        shutil.rmtree(work, ignore_errors=True)


def run_firefox(args, out):
    work = tempfile.mkdtemp(prefix='turnpike-check-firefox-')
    profile = os.path.join(work, 'profile')
    os.makedirs(profile)
    with open(os.path.join(profile, 'user.js'), 'w') as f:
        for k, v in FIREFOX_PREFS.items():
            f.write(f'user_pref("{k}", {json.dumps(v)});\n')
    env = dict(os.environ, MOZ_HEADLESS='1', HOME=work)
    for k in ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'):
        env.pop(k, None)
    proc = subprocess.Popen(['/usr/bin/firefox-esr', '--headless', '--no-remote', '--profile', profile, args.url],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        try:
            out['exit'] = proc.wait(timeout=args.seconds)
        except subprocess.TimeoutExpired:
            out['exit'] = None  # still running: the page stays open; the test reads the report from the node
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--url', required=True)
    ap.add_argument('--screenshot', default='')
    ap.add_argument('--spki', default='')
    ap.add_argument('--seconds', type=float, default=60)
    ap.add_argument('--firefox', action='store_true')
    ap.add_argument('--resolve', action='append', default=[], metavar='NAME=IP',
                    help='Chromium: NAME resolves to IP (Firefox reads /etc/hosts: /etc/netns/<ns>/hosts)')
    args = ap.parse_args()
    args.seconds = min(args.seconds, 180)
    out = {}
    (run_firefox if args.firefox else run_chromium)(args, out)
    print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()
