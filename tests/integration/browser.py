"""Headless Chromium for the tests and bench/: where the browser and chromedriver are, the
loopback-only options, the driver (its own process group, killed at exit), and a page server.

    drv, service = browser.make_driver(profile_dir, log_path, extra_args)
    ...
    browser.quit(drv, service)

Lab runs (a browser inside a netlab namespace, talking to lab hosts rather than loopback) pass
`lab_hosts`: the dead proxy is dropped and those hosts resolve. Used by relay_check.py
(test_chromium_relay.py), test_sfu.py, test_residency.py, relay_browser.py, nat_browser.py, loadgen_lab.py (test_loadgen.py)
and bench/sfu_fanout.py.
"""

import base64
import functools
import hashlib
import http.server
import os
import shutil
import socketserver
import subprocess
import tempfile
import threading

from integration import harness

CHROMIUM = os.environ.get('CHROMIUM_BIN', '/usr/bin/chromium')
CHROMEDRIVER = os.environ.get('CHROMEDRIVER_BIN', '/usr/bin/chromedriver')


def missing():
    """Of Chromium and chromedriver, the paths that do not exist."""
    return [exe for exe in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(exe)]


def chromium_options(user_data_dir, extra_args=(), lab_hosts=()):
    """The options every test browser runs with: headless, fake camera and microphone, no
    background traffic, loopback only. lab_hosts: lab addresses (not loopback) the browser must
    reach; the proxy is dropped and each is excluded from the resolver rules ('NAME=IP': NAME
    resolves to that lab address, e.g. a TURN server's TLS name)."""
    from selenium.webdriver.chrome.options import Options
    o = Options()
    o.binary_location = CHROMIUM
    for a in [
        '--headless=new', '--no-sandbox',
        '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
        '--disable-background-networking', '--disable-component-update', '--no-first-run',
        f'--user-data-dir={user_data_dir}',
        '--no-default-browser-check', '--disable-sync', '--disable-default-apps',
        '--disable-extensions', '--disable-domain-reliability', '--disable-breakpad',
        '--disable-client-side-phishing-detection', '--metrics-recording-only', '--no-pings',
        '--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,'
        'AutofillServerCommunication,CertificateTransparencyComponentUpdater',
        '--disable-dev-shm-usage', '--disable-gpu', '--mute-audio',
        # Loopback only: name resolution fails for anything but localhost, and any
        # HTTP(S) that is not loopback goes to a dead local proxy.
        '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
        '--proxy-server=http://127.0.0.1:9', '--proxy-bypass-list=127.0.0.1;localhost;[::1]',
        # Let WebRTC use the loopback interface for its TURN client sockets.
        '--allow-loopback-in-peer-connection',
        '--autoplay-policy=no-user-gesture-required',
        '--window-size=640,480',
    ] + list(extra_args):
        o.add_argument(a)
    if lab_hosts:
        o._arguments = [a for a in o.arguments if not a.startswith('--proxy-')]
        names = ''.join(f'MAP {h.split("=", 1)[0]} {h.split("=", 1)[1]}, ' for h in lab_hosts if '=' in h)
        rule = '--host-resolver-rules='
        o._arguments = [rule + names + a[len(rule):] + ''.join(f', EXCLUDE {h}' for h in lab_hosts if '=' not in h)
                        if a.startswith(rule) else a for a in o._arguments]
    return o


def make_driver(user_data_dir, log_path, extra_args=(), lab_hosts=()):
    """(driver, service): chromedriver and its browser in their own process group, registered
    with the harness so that they are killed even if this process is interrupted."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    service = Service(executable_path=CHROMEDRIVER, log_path=log_path,
                      service_args=['--verbose'] if os.environ.get('CHROMEDRIVER_VERBOSE') else [],
                      popen_kw={'start_new_session': True})
    try:
        drv = webdriver.Chrome(service=service, options=chromium_options(user_data_dir, extra_args, lab_hosts))
    except BaseException:
        kill_service(service)
        raise
    harness._register(service.process)
    drv.set_script_timeout(20)
    drv.set_page_load_timeout(20)
    return drv, service


def kill_service(service):
    """Stops chromedriver and kills its whole process group (any browser left with it)."""
    try:
        service.stop()
    except Exception:  # noqa: BLE001
        pass
    proc = getattr(service, 'process', None)
    if proc is not None:
        harness.kill_tree(proc)
        try:
            proc.wait(timeout=5)
        except Exception:  # noqa: BLE001
            pass
        harness._unregister(proc)


def quit(drv, service):
    """drv.quit() (errors ignored), then kill_service."""
    try:
        drv.quit()
    except Exception:  # noqa: BLE001
        pass
    kill_service(service)


class Browser:
    """A named headless Chromium with its own profile directory (test_sfu.py, test_residency.py);
    close() quits it and removes the directory."""

    def __init__(self, name, extra_args):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f'turnpike-it-sfu-{name}-')
        self.drv, self.service = make_driver(os.path.join(self.dir, 'profile'),
                                             os.path.join(self.dir, 'chromedriver.log'), extra_args)

    def close(self):
        quit(self.drv, self.service)
        shutil.rmtree(self.dir, ignore_errors=True)


def spki_sha256_b64(cert_pem):
    """base64(SHA-256(SubjectPublicKeyInfo DER)) of a PEM certificate, the form
    --ignore-certificate-errors-spki-list takes (openssl CLI, as make_cert uses)."""
    pub = subprocess.run(['openssl', 'x509', '-in', str(cert_pem), '-pubkey', '-noout'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, check=True).stdout
    der = subprocess.run(['openssl', 'pkey', '-pubin', '-outform', 'der'], input=pub,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, check=True).stdout
    if not der:
        raise RuntimeError(f'cannot read the public key of {cert_pem}')
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


class _TextHandler(http.server.BaseHTTPRequestHandler):
    page = b''

    def do_GET(self):
        body = self.page
        self.send_response(200)
        self.send_header('Content-Type', 'text/html; charset=utf-8')
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Cache-Control', 'no-store')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class _DirectoryHandler(http.server.SimpleHTTPRequestHandler):
    def end_headers(self):
        self.send_header('Cache-Control', 'no-store')
        super().end_headers()

    def log_message(self, *a):
        pass


class PageServer:
    """A page over HTTP on 127.0.0.1 (a secure context for getUserMedia), in a thread:
    PageServer.text(html, path) answers every GET with `html`; PageServer.directory(dir, path)
    serves the files of `dir`. `url` is http://127.0.0.1:<port>/<path>."""

    def __init__(self, handler, path):
        self.path = path
        self.httpd = socketserver.ThreadingTCPServer(('127.0.0.1', 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.2},
                                       daemon=True)

    @classmethod
    def text(cls, html, path):
        return cls(type('_Page', (_TextHandler,), {'page': html.encode()}), path)

    @classmethod
    def directory(cls, directory, path):
        return cls(functools.partial(_DirectoryHandler, directory=str(directory)), path)

    @property
    def url(self):
        return f'http://127.0.0.1:{self.httpd.server_address[1]}/{self.path}'

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
