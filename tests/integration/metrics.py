"""Turnpike's /metrics, read one way by every test: the scraper (GET on the admin listener, no
proxy) and the Prometheus text-format readers (`metric` sums matching series of a text; `parse`
is the strict parser test_metrics.py checks the exposition with; `msum` sums its samples).
Nodes in a lab network namespace scrape from inside it (lab.NetnsTurnpike.metrics) and read the
text with the same functions."""

import re
import time
import urllib.error
import urllib.request

# Loopback only: never through a proxy named in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def scrape(srv, timeout=5.0):
    """The text of GET <srv.admin_url>/metrics (raises on an HTTP error)."""
    with _OPENER.open(srv.admin_url + '/metrics', timeout=timeout) as r:
        return r.read().decode()


def scrape_timed(srv, timeout=15.0):
    """(body bytes, seconds) of GET /metrics (no token: it stays open); asserts 200 and a
    text/plain Content-Type."""
    t0 = time.monotonic()
    try:
        with _OPENER.open(srv.admin_url + '/metrics', timeout=timeout) as r:
            st, headers, body = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        st, headers, body = e.code, e.headers, e.read()
    dt = time.monotonic() - t0
    assert st == 200, f'/metrics: HTTP {st} {body[:300]!r}'
    ctype = headers.get('Content-Type', '')
    assert ctype.startswith('text/plain'), f'/metrics Content-Type {ctype!r}'
    return body, dt


def metric(text, name, **labels):
    """The sum of a Prometheus text-format sample `name` over the series matching `labels`
    (None when none matches)."""
    total = None
    for line in text.splitlines():
        m = re.match(r'^(\w+)(\{[^}]*\})?\s+(\S+)$', line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ''))
        if all(got.get(k) == v for k, v in labels.items()):
            total = (total or 0) + float(m.group(3))
    return total


def grew(before, after, name, **labels):
    """How much a Prometheus sample grew between two /metrics texts (absent counts as 0)."""
    return (metric(after, name, **labels) or 0) - (metric(before, name, **labels) or 0)


# ---------------------------------------------------------------- the strict parser

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
_UNESCAPE = re.compile(r'\\(.)', re.S)     # label values escape \\, \" and \n


def parse(text):
    """[(name, {label: value}, float)] of a text-format exposition (comments skipped)."""
    if isinstance(text, bytes):
        text = text.decode('utf-8')
    out = []
    for ln in text.split('\n'):      # not splitlines(): U+2028 etc. may sit in a label value
        if not ln.strip() or ln.startswith('#'):
            continue
        m = _SAMPLE.match(ln)
        assert m, f'unparsable metrics line: {ln!r}'
        labels = {}
        raw = m.group(2) or ''
        pos = 0
        while pos < len(raw):
            lm = _LABEL.match(raw, pos)
            assert lm and lm.end() > pos, f'unparsable labels in {ln!r}'
            labels[lm.group(1)] = _UNESCAPE.sub(lambda e: '\n' if e.group(1) == 'n' else e.group(1),
                                                lm.group(2))
            pos = lm.end()
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def msum(samples, name, **match):
    return sum(v for n, l, v in samples if n == name and all(l.get(k) == x for k, x in match.items()))
