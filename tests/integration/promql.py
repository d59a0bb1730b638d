"""Every PromQL expression Turnpike's monitoring ships, ready to evaluate.

expressions(repo_root) returns one dict per expression of every Grafana panel target
(deploy/grafana/*.json, template variables substituted) and every rule of
deploy/prometheus/turnpike-rules.yaml:

  {"expr": ..., "origin": "deploy/grafana/turnpike-sites.json: panel 'SFU loss' target B",
   "kind": "panel" | "record" | "alert", "comment": "" or why the expression ends in `or on () vector(0)`}

Alert expressions are `<query> <op> <threshold>`; here their top-level comparison becomes a `bool`
comparison, so they return a 0 or 1 sample per series whenever the series underneath exist,
whatever the threshold. The live test (Prometheus scraping Turnpike with traffic, with the rules
file loaded) requires each expression to return data.

A few families have no series at all until an event the live traffic does not cause
(EVENT_FAMILIES): dashboards append `or on () vector(0)` to their panels, and here alerts over them
get the same tail, each with a comment saying why. No other expression may carry that tail
(tests/monitoring/test_rules.py checks).

Standard library only, plus python3-yaml.
"""
import glob
import json
import os
import re

import yaml

# Families the server creates no series of until something happens that uclient, Chromium SFU and P2P
# calls, turnpike-diag nat reports and loadgen do not cause.
EVENT_FAMILIES = {
    'turnpike_idle_timer_seconds': 'until a site\'s flows have both survived and lost silences (its estimate)',
    'turnpike_idle_timer_measured_seconds': 'until a turnpike-diag lifetime --report from the site',
    'turnpike_session_end_mark_seconds': 'until 5 or more of a site\'s sessions were lost at one age',
    'turnpike_rebindings_total': 'until a client comes back on a new 5-tuple after a silence',
    'turnpike_sessions': 'until a live allocation with a region catalog (residency on)',
    'turnpike_sfu_region_sessions': 'until a live SFU media session with a region catalog (residency on)',
    'turnpike_region_drift_sessions': 'until a session is served for another region (foreign_clients: serve)',
    'turnpike_residency_denied_total': 'until a residency refusal',
    'turnpike_residency_redirects_total': 'until a residency redirect',
    'turnpike_residency_ended_total': 'until a reloaded residency policy ends a session',
    'turnpike_residency_revoked_total': 'until a reloaded residency policy removes a permission',
}

ZERO_TAIL = ' or on () vector(0)'

# What a dashboard sees with every variable at "All" (allValue .*), a 5-minute rate interval and a
# 1-hour time range. Tests that only parse may pass concrete values instead.
DEFAULT_VALUES = {
    'datasource': 'prometheus', 'region': '.*', 'instance': '.*', 'site': '.*',
    '__rate_interval': '5m', '__interval': '1m', '__range': '1h', '__range_s': '3600', '__range_ms': '3600000',
}

COMPARISONS = ('==', '!=', '>=', '<=', '>', '<')
METRIC_RE = re.compile(r'(?<![A-Za-z0-9_:])((?:turnpike|process)_[a-z0-9_]+)')


def substitute(expr, values=None):
    """Grafana's variable syntaxes: $name, ${name}, ${name:fmt}, [[name]]."""
    vals = dict(DEFAULT_VALUES, **(values or {}))

    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in vals:
            raise KeyError(f'unknown template variable {name!r} in {expr!r}')
        return vals[name]
    return re.sub(r'\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)', repl, expr)


def _mask(expr):
    """expr with string literals blanked and each char's bracket depth; comparisons inside (), {} or
    [] are not top level."""
    out, depth, d, quote, i = [], [], 0, None, 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == '\\':
                out.append('  '); depth += [d, d]; i += 2; continue
            if c == quote:
                quote = None
            out.append(' '); depth.append(d); i += 1; continue
        if c in '"\'`':
            quote = c; out.append(' '); depth.append(d); i += 1; continue
        if c in '([{':
            d += 1
        elif c in ')]}':
            d -= 1
        out.append(c); depth.append(d); i += 1
    return ''.join(out), depth


def top_level_comparisons(expr):
    """(start, op) of each comparison operator written ` op ` at bracket depth 0."""
    masked, depth = _mask(expr)
    found = []
    for m in re.finditer(r' (==|!=|>=|<=|>|<) ', masked):
        if depth[m.start()] == 0:
            found.append((m.start() + 1, m.group(1)))
    return found


def to_bool(expr):
    """An alert expression with its one top-level comparison made a bool comparison."""
    comps = top_level_comparisons(expr)
    if len(comps) != 1:
        raise ValueError(f'expected one top-level comparison in {expr!r}, found {comps}')
    pos, op = comps[0]
    rest = expr[pos + len(op):]
    if rest.lstrip().startswith('bool'):
        return expr
    return expr[:pos] + op + ' bool' + rest


def metric_names(expr):
    """turnpike_* and process_* names in an expression (recording rules, with ':' in them, are not)."""
    return sorted(set(METRIC_RE.findall(expr)))


def event_comment(expr):
    fams = [m for m in metric_names(expr) if m in EVENT_FAMILIES]
    if not fams:
        return ''
    return 'ends in `or on () vector(0)`: ' + '; '.join(f'{m} has no series {EVENT_FAMILIES[m]}' for m in fams)


def dashboard_targets(repo_root):
    """(file relative to repo_root, panel title, refId, raw expr) for every panel target."""
    out = []
    for path in sorted(glob.glob(os.path.join(repo_root, 'deploy', 'grafana', '*.json'))):
        rel = os.path.relpath(path, repo_root)
        with open(path) as f:
            board = json.load(f)

        def walk(panels):
            for p in panels:
                for t in p.get('targets', []):
                    if t.get('expr'):
                        out.append((rel, p.get('title', ''), t.get('refId', ''), t['expr']))
                walk(p.get('panels', []))
        walk(board.get('panels', []))
    return out


def rules(repo_root):
    """(file relative to repo_root, group name, rule dict) for every rule of deploy/prometheus/*rules.yaml."""
    out = []
    for path in sorted(glob.glob(os.path.join(repo_root, 'deploy', 'prometheus', '*.yaml'))):
        if path.endswith('.test.yaml'):
            continue
        rel = os.path.relpath(path, repo_root)
        with open(path) as f:
            doc = yaml.safe_load(f)
        for g in doc.get('groups', []):
            for r in g.get('rules', []):
                out.append((rel, g['name'], r))
    return out


def recording_rule_names(repo_root):
    return sorted({r['record'] for _, _, r in rules(repo_root) if 'record' in r})


def expressions(repo_root, values=None):
    """Every panel, recording-rule and alert expression, evaluable as is (see the module docstring)."""
    out = []
    for rel, title, ref, expr in dashboard_targets(repo_root):
        e = substitute(expr, values)
        out.append({'expr': e, 'origin': f'{rel}: panel {title!r} target {ref}', 'kind': 'panel',
                    'comment': event_comment(e) if e.endswith(ZERO_TAIL) else ''})
    for rel, group, r in rules(repo_root):
        if 'record' in r:
            out.append({'expr': r['expr'], 'origin': f'{rel}: group {group}, record {r["record"]}',
                        'kind': 'record', 'comment': ''})
        else:
            e = to_bool(r['expr'])
            comment = event_comment(e)
            if comment:
                e = f'({e}){ZERO_TAIL}'
            out.append({'expr': e, 'origin': f'{rel}: group {group}, alert {r["alert"]} (as a bool comparison)',
                        'kind': 'alert', 'comment': comment})
    return out


if __name__ == '__main__':
    import sys
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
    for e in expressions(root):
        print(f'# {e["origin"]}' + (f'\n#   {e["comment"]}' if e['comment'] else ''))
        print(e['expr'])
