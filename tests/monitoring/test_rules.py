#!/usr/bin/python3
"""Turnpike's Prometheus rules and Grafana dashboards, checked without a running server.

  rules_check            promtool check rules deploy/prometheus/turnpike-rules.yaml
  rules_unit_tests       promtool test rules deploy/prometheus/*.test.yaml
  alert_shape            every alert: severity critical|warning|info; summary and description that
                         use {{ $labels }}; runbook_url docs/alerts.md#<anchor> with that section in
                         docs/alerts.md; expr `<query> <op> <literal number>` with one top-level
                         comparison and no spaces inside label matchers
  alert_test_coverage    every alert has a unit test that fires and one that does not; every
                         recording rule is checked by a promql_expr_test or feeds a checked rule or
                         an alert
  dashboards_shape       the three dashboards: stable uids, schemaVersion 38, a ${datasource}
                         variable of type datasource (prometheus) used by every panel and target,
                         region from label_values(turnpike_build_info, region), unique panel ids
  dashboards_generated   the committed JSON is what deploy/grafana/generate.py writes
  expressions_parse      every panel target (variables substituted with concrete values and with
                         "All"), every rule, and every expression of tests/integration/promql.py
                         (alerts as bool comparisons) parses: promtool has no command that parses
                         a bare expression, so they are written as recording rules of a temporary
                         file and checked with `promtool check rules`, which runs Prometheus' parser
  metric_names           every turnpike_* / process_* name in the dashboards (targets and variable
                         queries) and the rules is exported by the server (a quoted name, or a
                         `# TYPE name` line, in server/*.cpp; _bucket/_sum/_count of a histogram),
                         by turnpike-diag probe (diag/probe_report.cpp)
                         or a recording rule
  zero_tails             `or on () vector(0)` only on panels over a family that has no series until
                         an event (promql.EVENT_FAMILIES), and every panel over one has it

Output: one PASS/FAIL line per check, then "N passed, N failed"; exit 0 only if all passed.
Without promtool it prints "SKIP: <why>" and exits 0 (or --skip-exit-code).

Run: python3 tests/monitoring/test_rules.py [--promtool PATH]
"""
import sys

sys.dont_write_bytecode = True   # keep the source tree clean

import argparse  # noqa: E402
import glob  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import yaml  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
RULES = os.path.join(ROOT, 'deploy', 'prometheus', 'turnpike-rules.yaml')
RULE_TESTS = sorted(glob.glob(os.path.join(ROOT, 'deploy', 'prometheus', '*.test.yaml')))
ALERTS_DOC = os.path.join(ROOT, 'docs', 'alerts.md')
DASHBOARD_UIDS = {'turnpike-region-overview', 'turnpike-sites', 'turnpike-residency'}
SEVERITIES = {'critical', 'warning', 'info'}

# Metrics another change is adding to the server (issue 18: browsers' call reports). Until their
# names appear in server/ they are accepted with a note; once they do, this table can go.
# Concrete values for the parse check (as a user would pick them), besides promql's "All" defaults.
CONCRETE = {'region': 'eu-west', 'instance': 'tp-1:9641', 'site': 'hq', '__rate_interval': '2m',
            '__interval': '30s', '__range': '6h', 'datasource': 'prometheus'}


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


promql = load_module('turnpike_promql', os.path.join(ROOT, 'tests', 'integration', 'promql.py'))
generate = load_module('turnpike_grafana_generate', os.path.join(ROOT, 'deploy', 'grafana', 'generate.py'))


class Failed(Exception):
    pass


def run(cmd, cwd=None):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def github_anchor(heading):
    a = heading.strip().lower()
    a = re.sub(r'[^\w\- ]', '', a)
    return a.replace(' ', '-')


def alerts():
    return [r for _, _, r in promql.rules(ROOT) if 'alert' in r]


def records():
    return [r for _, _, r in promql.rules(ROOT) if 'record' in r]


def dashboards():
    out = {}
    for path in sorted(glob.glob(os.path.join(ROOT, 'deploy', 'grafana', '*.json'))):
        with open(path) as f:
            out[os.path.relpath(path, ROOT)] = json.load(f)
    return out


# ------------------------------------------------------------------------------------------ checks

def rules_check(promtool):
    rc, out = run([promtool, 'check', 'rules', RULES])
    if rc != 0:
        raise Failed(out.strip())
    return out.strip().splitlines()[-1].strip()


def rules_unit_tests(promtool):
    rc, out = run([promtool, 'test', 'rules'] + [os.path.basename(p) for p in RULE_TESTS],
                  cwd=os.path.dirname(RULES))
    if rc != 0 or out.count('SUCCESS') != len(RULE_TESTS):
        raise Failed(out.strip()[-3000:])
    return f'{len(RULE_TESTS)} files: SUCCESS'


def alert_shape(_):
    with open(ALERTS_DOC) as f:
        anchors = {github_anchor(m.group(1)) for m in re.finditer(r'^#+\s+(.*)$', f.read(), re.M)}
    problems = []
    for r in alerts():
        name, expr = r['alert'], r['expr']
        sev = r.get('labels', {}).get('severity')
        if sev not in SEVERITIES:
            problems.append(f'{name}: severity {sev!r}')
        ann = r.get('annotations', {})
        for key in ('summary', 'description'):
            if '{{ $labels.' not in ann.get(key, ''):
                problems.append(f'{name}: {key} does not use {{{{ $labels.* }}}}')
        url = ann.get('runbook_url', '')
        m = re.fullmatch(r'docs/alerts\.md#([a-z0-9-]+)', url)
        if not m or m.group(1) not in anchors:
            problems.append(f'{name}: runbook_url {url!r} is no section of docs/alerts.md')
        elif m.group(1) != name.lower():
            problems.append(f'{name}: runbook_url anchor {m.group(1)} is not the alert\'s name')
        comps = promql.top_level_comparisons(expr)
        if len(comps) != 1:
            problems.append(f'{name}: {len(comps)} top-level comparisons (want 1) in {expr!r}')
        else:
            pos, op = comps[0]
            if not re.fullmatch(r'\s*-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\s*', expr[pos + len(op):]):
                problems.append(f'{name}: threshold after {op!r} is not a literal number')
        for body in re.findall(r'\{([^{}]*)\}', expr):
            if re.search(r'\s', body):
                problems.append(f'{name}: space inside label matchers {{{body}}}')
        try:
            promql.to_bool(expr)
        except ValueError as e:
            problems.append(f'{name}: {e}')
    if problems:
        raise Failed('; '.join(problems))
    return f'{len(alerts())} alerts'


def alert_test_coverage(_):
    fires, silent, checked_exprs, tests = set(), set(), [], []
    for path in RULE_TESTS:
        with open(path) as f:
            tests += yaml.safe_load(f)['tests']
    for t in tests:
        for a in t.get('alert_rule_test', []):
            (fires if a.get('exp_alerts') else silent).add(a['alertname'])
        checked_exprs += [e['expr'] for e in t.get('promql_expr_test', [])]
    problems = []
    for r in alerts():
        if r['alert'] not in fires:
            problems.append(f'{r["alert"]} never fires in a test')
        if r['alert'] not in silent:
            problems.append(f'{r["alert"]} has no test where it stays silent')
    names = [r['record'] for r in records()]
    uses = lambda text, n: re.search(re.escape(n) + r'(?![a-z0-9_:])', text)  # noqa: E731
    covered = {n for n in names if any(uses(e, n) for e in checked_exprs + [a['expr'] for a in alerts()])}
    changed = True
    while changed:
        changed = False
        for r in records():
            if r['record'] in covered:
                for n in names:
                    if n not in covered and uses(r['expr'], n):
                        covered.add(n)
                        changed = True
    for n in names:
        if n not in covered:
            problems.append(f'recording rule {n} is neither checked nor used by a checked rule or an alert')
    if problems:
        raise Failed('; '.join(problems))
    return f'{len(fires)} alerts fire and stay silent; {len(checked_exprs)} promql_expr_tests; {len(names)} records covered'


def dashboards_shape(_):
    problems, uids, n_targets = [], set(), 0
    for rel, d in dashboards().items():
        uid = d.get('uid')
        uids.add(uid)
        if os.path.basename(rel) != f'{uid}.json':
            problems.append(f'{rel}: uid {uid!r} is not the file name')
        if d.get('schemaVersion') != 38:
            problems.append(f'{rel}: schemaVersion {d.get("schemaVersion")}')
        variables = {v['name']: v for v in d.get('templating', {}).get('list', [])}
        ds = variables.get('datasource', {})
        if ds.get('type') != 'datasource' or ds.get('query') != 'prometheus':
            problems.append(f'{rel}: no datasource variable of type datasource (prometheus)')
        reg = variables.get('region', {})
        q = reg.get('query', {})
        q = q.get('query') if isinstance(q, dict) else q
        if q != 'label_values(turnpike_build_info, region)':
            problems.append(f'{rel}: region variable query {q!r}')
        for v in variables.values():
            if v.get('type') == 'query' and v.get('datasource', {}).get('uid') != '${datasource}':
                problems.append(f'{rel}: variable {v["name"]} does not use ${{datasource}}')
        ids = []

        def walk(panels):
            nonlocal n_targets
            for p in panels:
                ids.append(p.get('id'))
                if p.get('type') != 'row':
                    if p.get('datasource', {}).get('uid') != '${datasource}':
                        problems.append(f'{rel}: panel {p.get("title")!r} datasource {p.get("datasource")}')
                    if not p.get('targets'):
                        problems.append(f'{rel}: panel {p.get("title")!r} has no targets')
                    for t in p.get('targets', []):
                        n_targets += 1
                        if t.get('datasource', {}).get('uid') != '${datasource}':
                            problems.append(f'{rel}: panel {p.get("title")!r} target {t.get("refId")} datasource')
                        if not t.get('expr'):
                            problems.append(f'{rel}: panel {p.get("title")!r} target {t.get("refId")} has no expr')
                walk(p.get('panels', []))
        walk(d.get('panels', []))
        if len(ids) != len(set(ids)):
            problems.append(f'{rel}: duplicate panel ids')
    if uids != DASHBOARD_UIDS:
        problems.append(f'dashboard uids {sorted(uids)} (want {sorted(DASHBOARD_UIDS)})')
    if problems:
        raise Failed('; '.join(problems))
    return f'{len(uids)} dashboards, {n_targets} targets'


def dashboards_generated(_):
    boards = {b.uid: b.json() for b in (generate.region_overview(), generate.sites(), generate.residency())}
    stale = []
    for rel, d in dashboards().items():
        if boards.get(d.get('uid')) != d:
            stale.append(rel)
    if stale:
        raise Failed(f'{stale} differ from deploy/grafana/generate.py\'s output: run it and commit')
    return 'in sync'


def expressions_parse(promtool):
    items = []
    for rel, title, ref, expr in promql.dashboard_targets(ROOT):
        items.append((f'{rel}: panel {title!r} target {ref} (concrete variables)', promql.substitute(expr, CONCRETE)))
    for e in promql.expressions(ROOT):
        items.append((e['origin'], e['expr']))
    rules_doc = {'groups': [{'name': 'parse_check', 'rules': [
        {'record': f'parse_check_{i}', 'expr': expr} for i, (_, expr) in enumerate(items)]}]}
    with tempfile.TemporaryDirectory(prefix='turnpike-promql-') as tmp:
        path = os.path.join(tmp, 'parse.yaml')
        with open(path, 'w') as f:
            yaml.safe_dump(rules_doc, f, width=100000)
        rc, out = run([promtool, 'check', 'rules', path])
    if rc != 0:
        bad = []
        for m in re.finditer(r'parse_check_(\d+)', out):
            i = int(m.group(1))
            bad.append(f'{items[i][0]}: {items[i][1]}')
        raise Failed(out.strip()[-2000:] + ('\n  ' + '\n  '.join(sorted(set(bad))) if bad else ''))
    return f'{len(items)} expressions'


def exported_metrics():
    names, histograms = set(), set()
    # server/, and the site probe's own /metrics (turnpike-diag probe: diag/probe_report.cpp).
    for path in glob.glob(os.path.join(ROOT, 'server', '**', '*.cpp'), recursive=True) + \
            glob.glob(os.path.join(ROOT, 'server', '**', '*.hpp'), recursive=True) + \
            [os.path.join(ROOT, 'diag', 'probe_report.cpp')]:
        with open(path, errors='replace') as f:
            src = f.read()
        names |= set(re.findall(r'"((?:turnpike|process)_[a-z0-9_]+)"', src))
        names |= set(re.findall(r'# TYPE ((?:turnpike|process)_[a-z0-9_]+) ', src))   # text written by hand
        histograms |= set(re.findall(r'BuildHistogram\(\)\s*\.Name\("(turnpike_[a-z0-9_]+)"', src))
    return names, histograms


def metric_names(_):
    names, histograms = exported_metrics()
    referenced = {}
    for rel, title, ref, expr in promql.dashboard_targets(ROOT):
        for n in promql.metric_names(expr):
            referenced.setdefault(n, f'{rel}: panel {title!r}')
    for rel, d in dashboards().items():
        for v in d.get('templating', {}).get('list', []):
            q = v.get('query', '')
            q = q.get('query', '') if isinstance(q, dict) else q
            for n in promql.metric_names(q or ''):
                referenced.setdefault(n, f'{rel}: variable {v["name"]}')
    for rel, group, r in promql.rules(ROOT):
        for n in promql.metric_names(r['expr']):
            referenced.setdefault(n, f'{rel}: {r.get("alert") or r.get("record")}')
    unknown = []
    for n, where in sorted(referenced.items()):
        base = re.sub(r'_(bucket|sum|count)$', '', n)
        if n in names or (base != n and base in histograms):
            continue
        unknown.append(f'{n} ({where})')
    if unknown:
        raise Failed('not exported by server/: ' + ', '.join(unknown))
    return f'{len(referenced)} names'


def zero_tails(_):
    problems = []
    for rel, title, ref, expr in promql.dashboard_targets(ROOT):
        events = [n for n in promql.metric_names(expr) if n in promql.EVENT_FAMILIES]
        if 'vector(0)' in expr and not (events and expr.endswith(promql.ZERO_TAIL)):
            problems.append(f'{rel}: panel {title!r} {ref}: vector(0) without an event-only family, or not as the tail')
        if events and not expr.endswith(promql.ZERO_TAIL):
            problems.append(f'{rel}: panel {title!r} {ref}: {events} can have no series; end with{promql.ZERO_TAIL}')
    for e in promql.expressions(ROOT):
        if e['expr'].endswith(promql.ZERO_TAIL) and not e['comment']:
            problems.append(f'{e["origin"]}: zero tail without a comment')
    if problems:
        raise Failed('; '.join(problems))
    return 'ok'


CHECKS = [rules_check, rules_unit_tests, alert_shape, alert_test_coverage, dashboards_shape, dashboards_generated,
          expressions_parse, metric_names, zero_tails]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--promtool', default=shutil.which('promtool') or '/usr/bin/promtool')
    ap.add_argument('--skip-exit-code', type=int, default=0)
    args = ap.parse_args(argv)
    if not os.access(args.promtool, os.X_OK):
        print(f'SKIP: no promtool at {args.promtool} (Debian package prometheus)')
        return args.skip_exit_code
    passed = failed = 0
    start = time.monotonic()
    for check in CHECKS:
        t0 = time.monotonic()
        try:
            detail = check(args.promtool)
            print(f'PASS {check.__name__}  ({detail}; {time.monotonic() - t0:.1f} s)', flush=True)
            passed += 1
        except Exception as e:  # noqa: BLE001  (report every check)
            print(f'FAIL {check.__name__}  ({"" if isinstance(e, Failed) else type(e).__name__ + ": "}{e})', flush=True)
            failed += 1
    print(f'{passed} passed, {failed} failed in {time.monotonic() - start:.1f} s')
    return 0 if failed == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
