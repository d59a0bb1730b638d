#!/usr/bin/python3
"""The Helm chart deploy/helm/turnpike, rendered by deploy/helm/render (helm template's semantics).

Renders the default values, the three-region examples, loadgen.enabled and secrets.existingSecret (with a
quality.* passthrough);
checks every document, the kinds, probes, drain grace, host networking, and that the rendered
turnpike.yaml passes the real `turnpike --check-config` with the Secret's files and the pod's
environment. Also: a missing `required` value fails clearly; a dangling files/ symlink fails as in
helm; the PrometheusRule carries deploy/prometheus/turnpike-rules.yaml's groups and deploy/grafana's
dashboards become ConfigMaps (the real files when they exist, fixtures in a temp dir otherwise).

    /usr/bin/python3 tests/helm/test_chart.py [--bin build/bin/turnpike] [--build-dir build]
"""
import argparse
import base64
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHART = os.path.join(REPO, "deploy", "helm", "turnpike")
EXAMPLES = os.path.join(REPO, "deploy", "helm", "examples")
REGIONS = ["eu-west", "eu-central", "uk-south"]
FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what, flush=True)


def build_renderer(build_dir):
    """go build deploy/helm/render into BUILD/helm-render, unless it is newer than its sources."""
    src = os.path.join(REPO, "deploy", "helm", "render")
    out = os.path.join(build_dir, "helm-render")
    newest = max(os.path.getmtime(os.path.join(src, f)) for f in os.listdir(src) if f.endswith(".go"))
    if os.path.exists(out) and os.path.getmtime(out) > newest:
        return out
    env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOFLAGS="",
               GOCACHE=os.path.join(build_dir, "go-cache"))
    subprocess.run(["go", "build", "-o", out, "."], cwd=src, env=env, check=True)
    return out


def stage(tmp, fixtures):
    """A copy of deploy/ with the chart (its files/ symlinks as they are) and the rules and
    dashboards: the repository's when they exist, or fixtures, or none."""
    root = os.path.join(tmp, "fixtures" if fixtures else "plain", "deploy")
    shutil.copytree(CHART, os.path.join(root, "helm", "turnpike"), symlinks=True)
    for sub in ("prometheus", "grafana"):
        dst = os.path.join(root, sub)
        real = os.path.join(REPO, "deploy", sub)
        if not fixtures and os.path.isdir(real):
            shutil.copytree(real, dst)
        else:
            os.makedirs(dst)
    if fixtures:
        rules = {"groups": [{"name": "turnpike-fixture", "rules": [
            {"alert": "TurnpikeFixtureDown", "expr": "up{job=\"turnpike\"} == 0", "for": "5m",
             "labels": {"severity": "page"}, "annotations": {"summary": "{{ $labels.instance }} down"}}]}]}
        with open(os.path.join(root, "prometheus", "turnpike-rules.yaml"), "w") as f:
            yaml.safe_dump(rules, f)
        for name in ("turnpike-overview", "turnpike-residency"):
            with open(os.path.join(root, "grafana", name + ".json"), "w") as f:
                json.dump({"title": name, "panels": [], "uid": name}, f, indent=2)
    return os.path.join(root, "helm", "turnpike")


def render(renderer, chart, args, name="turnpike-test"):
    p = subprocess.run([renderer, name, chart, "-n", "turn"] + args, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def documents(text, case):
    docs = []
    for raw in text.split("\n---\n"):
        raw = raw.strip().removeprefix("---").strip()
        if not raw:
            continue
        check(raw.startswith("# Source: turnpike/templates/"), f"{case}: a document without its # Source line")
        doc = yaml.safe_load(raw)
        check(isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind")
              and doc.get("metadata", {}).get("name"), f"{case}: document without apiVersion/kind/name: {raw[:120]}")
        docs.append(doc)
    return docs


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def merged_values(files, sets=()):
    vals = yaml.safe_load(open(os.path.join(CHART, "values.yaml")))

    def merge(dst, src):
        for k, v in src.items():
            if isinstance(v, dict) and isinstance(dst.get(k), dict):
                merge(dst[k], v)
            else:
                dst[k] = v
    for f in files:
        merge(vals, yaml.safe_load(open(f)))
    for s in sets:
        key, val = s.split("=", 1)
        node = vals
        for part in key.split(".")[:-1]:
            node = node.setdefault(part, {})
        node[key.split(".")[-1]] = {"true": True, "false": False}.get(val, val)
    return vals


def pod_ip(vals):
    """An address the node could have: inside the region's first network (residency needs it)."""
    regions = vals.get("regions") or {}
    if vals["region"] in regions:
        net = ipaddress.ip_network(regions[vals["region"]]["networks"][0])
        return str(net.network_address + min(41, net.num_addresses - 2))
    return "192.0.2.10"


def tls_pair(tmp):
    d = os.path.join(tmp, "tls-source")
    if not os.path.isdir(d):
        os.makedirs(d)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-subj", "/CN=turn.example.org", "-days", "2", "-keyout", os.path.join(d, "tls.key"),
                        "-out", os.path.join(d, "tls.crt")], check=True, capture_output=True)
    return d


def check_config(turnpike, tmp, case, docs, vals, secret_data):
    """The ConfigMap's turnpike.yaml, with the pod's files and environment, through --check-config.
    The pod's /etc/turnpike/ is a directory of the temp dir here (paths rewritten in the file)."""
    root = os.path.join(tmp, "pod-" + case)
    cm = [d for d in by_kind(docs, "ConfigMap") if "turnpike.yaml" in d.get("data", {})]
    check(len(cm) == 1, f"{case}: one ConfigMap with turnpike.yaml")
    if not cm:
        return
    text = cm[0]["data"]["turnpike.yaml"]
    cfg = yaml.safe_load(text)
    check(cfg["region"] == vals["region"], f"{case}: config region {cfg['region']} != values' {vals['region']}")
    check(cfg["admin"]["listen"] == f"0.0.0.0:{vals['admin']['port']}", f"{case}: admin.listen")
    check(cfg["drain"]["grace_seconds"] == vals["drain"]["graceSeconds"], f"{case}: drain.grace_seconds")
    # quality: passed through when set (then validated by --check-config below), absent when empty.
    check(sorted(cfg.get("quality") or {}) == sorted(vals.get("quality") or {}),
          f"{case}: config quality {cfg.get('quality')} != values' {vals.get('quality')}")
    for secret_key in ("rest_secrets", "nonce_secret", "token", "token_keys"):
        check(secret_key not in cfg.get("auth", {}) and secret_key not in cfg.get("admin", {})
              or cfg["auth"].get(secret_key, "").startswith("${"), f"{case}: a secret inline in the ConfigMap ({secret_key})")
    os.makedirs(os.path.join(root, "config"))
    os.makedirs(os.path.join(root, "secrets"))
    for key, value in secret_data.items():
        with open(os.path.join(root, "secrets", key), "w") as f:
            f.write(value)
    if "tls" in cfg:
        shutil.copytree(tls_pair(tmp), os.path.join(root, "tls"))
    path = os.path.join(root, "config", "turnpike.yaml")
    with open(path, "w") as f:
        f.write(text.replace("/etc/turnpike/", root + "/"))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "POD_IP": pod_ip(vals),
           "TURNPIKE_NONCE_SECRET": secret_data["nonce-secret"]}
    external = (vals.get("relay") or {}).get("externalAddresses") or {}
    if external:
        env["TURNPIKE_EXTERNAL_ADDRESS"] = sorted(external.values())[0]
    p = subprocess.run([turnpike, "--check-config", path], env=env, capture_output=True, text=True)
    check(p.returncode == 0, f"{case}: turnpike --check-config: {p.returncode} {p.stderr.strip()}")
    p = subprocess.run([turnpike, "--check-config", path], env={"PATH": env["PATH"]}, capture_output=True, text=True)
    check(p.returncode == 2 and "is not set" in p.stderr, f"{case}: without the pod's environment check-config must fail")


def check_workload(case, docs, vals):
    kind = vals["kind"]
    work = by_kind(docs, kind)
    check(len(work) == 1, f"{case}: one {kind}")
    if not work:
        return
    pod = work[0]["spec"]["template"]["spec"]
    check(pod["hostNetwork"] is bool(vals["hostNetwork"]), f"{case}: hostNetwork")
    if vals["hostNetwork"]:
        check(pod["dnsPolicy"] == "ClusterFirstWithHostNet", f"{case}: dnsPolicy with hostNetwork")
    c = [x for x in pod["containers"] if x["name"] == "turnpike"][0]
    admin_port = [p for p in c["ports"] if p["name"] == "admin"][0]["containerPort"]
    check(admin_port == vals["admin"]["port"], f"{case}: admin containerPort")
    check(c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}, f"{case}: readinessProbe")
    check(c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}, f"{case}: livenessProbe")
    grace = vals["drain"]["graceSeconds"]
    check(pod["terminationGracePeriodSeconds"] > grace + vals["drain"]["preStopSeconds"],
          f"{case}: terminationGracePeriodSeconds {pod['terminationGracePeriodSeconds']} <= drain grace {grace} + preStop")
    check("preStop" in c["lifecycle"], f"{case}: preStop")
    annotations = work[0]["spec"]["template"]["metadata"]["annotations"]
    check("checksum/config" in annotations, f"{case}: checksum/config annotation")
    names = {v["name"]: v for v in pod["volumes"]}
    secret_name = vals["secrets"]["existingSecret"] or "turnpike-test-secrets"
    check(names["secrets"]["secret"]["secretName"] == secret_name, f"{case}: secrets volume from {secret_name}")
    if vals["tls"]["secretName"]:
        check(names["tls"]["secret"]["secretName"] == vals["tls"]["secretName"], f"{case}: tls volume")
        check(any(x["name"] == "tls-reloader" for x in pod["containers"]), f"{case}: the TLS reloader sidecar")
    check(work[0]["metadata"]["name"] == "turnpike-test", f"{case}: fullname")


def check_scripts(case, docs):
    """Every /bin/sh -c script of the pods (start-up, reload sidecar, loadgen, merge) parses (sh -n)."""
    for d in docs:
        pod = d.get("spec", {}).get("template", {}).get("spec", {})
        for c in pod.get("containers", []):
            if c.get("command", [])[:2] == ["/bin/sh", "-c"]:
                p = subprocess.run(["sh", "-n", "-c", c["args"][0]], capture_output=True, text=True)
                check(p.returncode == 0, f"{case}: {d['kind']} {c['name']}: sh -n: {p.stderr.strip()}")


def check_case(ctx, case, files=(), sets=(), expect_jobs=False):
    args = []
    for f in files:
        args += ["-f", f]
    for s in sets:
        args += ["--set", s]
    code, out, err = render(ctx.renderer, ctx.plain, args)
    check(code == 0, f"{case}: render failed: {err.strip()}")
    if code:
        return
    vals = merged_values(files, sets)
    docs = documents(out, case)
    kinds = {d["kind"] for d in docs}
    want = {vals["kind"], "Service", "ConfigMap", "PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor"}
    if not vals["secrets"]["existingSecret"]:
        want.add("Secret")
    if os.path.exists(os.path.join(REPO, "deploy", "prometheus", "turnpike-rules.yaml")):
        want.add("PrometheusRule")
    if expect_jobs:
        want.add("Job")
        if not vals["loadgen"]["reports"]["existingClaim"]:
            want.add("PersistentVolumeClaim")
    check(kinds == want, f"{case}: kinds {sorted(kinds)} != {sorted(want)}")
    check_workload(case, docs, vals)
    check_scripts(case, docs)
    if vals["secrets"]["existingSecret"]:
        secret_data = {"rest-secrets": "newest-rest-secret-0123456789\nprevious-rest-secret-0123456789\n",
                       "nonce-secret": "a-shared-nonce-secret-0123456789", "admin-token": "an-admin-token-0123456789",
                       "sfu-token-keys": "a-join-token-key-0123456789\n"}
    else:
        secret = by_kind(docs, "Secret")[0]
        secret_data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        check(set(secret_data) >= {"rest-secrets", "nonce-secret", "admin-token"}, f"{case}: Secret keys")
    check_config(ctx.turnpike, ctx.tmp, case, docs, vals, secret_data)
    if expect_jobs:
        check_loadgen(case, docs, vals)
    return docs


def check_loadgen(case, docs, vals):
    jobs = {j["metadata"]["name"]: j for j in by_kind(docs, "Job")}
    shards = vals["loadgen"]["shards"]
    indexed = [j for j in jobs.values() if j["spec"].get("completionMode") == "Indexed"]
    check(len(indexed) == 1 and len(jobs) == 2, f"{case}: an Indexed Job and a merge Job: {sorted(jobs)}")
    if not indexed:
        return
    spec = indexed[0]["spec"]
    check(spec["completions"] == shards and spec["parallelism"] == shards, f"{case}: completions = parallelism = {shards}")
    script = spec["template"]["spec"]["containers"][0]["args"][0]
    for flag in ("--shard \"$K/%d\"" % shards, "--report \"/reports/", "--rest-secret", "--calls %s" % vals["loadgen"]["calls"],
                 "--transport %s" % vals["loadgen"]["transport"], "JOB_COMPLETION_INDEX + 1"):
        check(flag in script, f"{case}: loadgen script lacks {flag!r}")
    merge = [j for j in jobs.values() if j is not indexed[0]][0]
    mscript = merge["spec"]["template"]["spec"]["containers"][0]["args"][0]
    check("turnpike-loadgen merge --report" in mscript and "report.json" in mscript, f"{case}: merge Job script")


def check_rules_and_dashboards(ctx):
    """Fixture rules and dashboards through the symlinks; the real ones when they exist."""
    code, out, err = render(ctx.renderer, ctx.fixtures, [])
    check(code == 0, f"fixtures: render failed: {err.strip()}")
    docs = documents(out, "fixtures") if code == 0 else []
    root = os.path.dirname(os.path.dirname(ctx.fixtures))
    rules = yaml.safe_load(open(os.path.join(root, "prometheus", "turnpike-rules.yaml")))
    pr = by_kind(docs, "PrometheusRule")
    check(len(pr) == 1 and pr[0]["spec"]["groups"] == rules["groups"], "fixtures: PrometheusRule groups = the rules file's")
    dash = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["labels"].get("grafana_dashboard") == "1"]
    check(len(dash) == 2, f"fixtures: two dashboard ConfigMaps, got {len(dash)}")
    for d in dash:
        (key, text), = d["data"].items()
        check(json.loads(text) == json.load(open(os.path.join(root, "grafana", key))), f"fixtures: dashboard {key} content")
    code, out, _ = render(ctx.renderer, ctx.fixtures, ["--set", "prometheusRule.enabled=false,grafanaDashboards.enabled=false"])
    kinds = [d["kind"] for d in documents(out, "fixtures-off")]
    check(code == 0 and "PrometheusRule" not in kinds and kinds.count("ConfigMap") == 1, "fixtures: value-gated off")
    # The chart in the repository as it is: helm refuses a dangling symlink, so does the renderer.
    dangling = [s for s in ("prometheus", "grafana") if not os.path.exists(os.path.join(CHART, "files", s))]
    code, out, err = render(ctx.renderer, CHART, [])
    if dangling:
        check(code == 1 and "error evaluating symlink" in err, f"repo chart with dangling files/{dangling}: {err.strip()}")
        print(f"note: deploy/{', deploy/'.join(dangling)} not there yet: the chart loads once they exist")
        return
    check(code == 0, f"repo chart: {err.strip()}")
    docs = documents(out, "repo")
    real = os.path.join(REPO, "deploy", "prometheus", "turnpike-rules.yaml")
    if os.path.exists(real):
        pr = by_kind(docs, "PrometheusRule")
        check(len(pr) == 1 and pr[0]["spec"]["groups"] == yaml.safe_load(open(real))["groups"],
              "repo: PrometheusRule groups = deploy/prometheus/turnpike-rules.yaml's")
    n = len([f for f in os.listdir(os.path.join(REPO, "deploy", "grafana")) if f.endswith(".json")])
    dash = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["labels"].get("grafana_dashboard") == "1"]
    check(len(dash) == n, f"repo: {n} dashboards in deploy/grafana, {len(dash)} ConfigMaps")


def check_errors(ctx):
    code, _, err = render(ctx.renderer, ctx.plain, ["--set", "region="])
    check(code == 1 and "execution error at (turnpike/templates/" in err and "region: set the approved region" in err,
          f"required region: {code} {err.strip()}")
    code, _, err = render(ctx.renderer, ctx.plain, ["--set", "region=mars", "-f", os.path.join(EXAMPLES, "regions.yaml")])
    check(code == 1 and 'region "mars" is not in the regions catalog' in err, f"unknown region: {err.strip()}")
    code, _, err = render(ctx.renderer, ctx.plain, ["--set", "listeners[0].transport=tls,listeners[0].port=5349"])
    check(code == 1 and "tls.secretName" in err, f"tls listener without a secret: {err.strip()}")
    code, _, err = render(ctx.renderer, ctx.plain, ["--set", "loadgen.enabled=true"])
    check(code == 1 and "loadgen.server" in err, f"loadgen without a server: {err.strip()}")


def lint_yaml():
    if not shutil.which("yamllint"):
        print("note: yamllint not installed; plain YAML not linted")
        return
    conf = ("{extends: default, rules: {line-length: {max: 140}, document-start: disable, truthy: {check-keys: false},"
            " braces: {max-spaces-inside: 1}, brackets: {max-spaces-inside: 1}, comments: {min-spaces-from-content: 1}}}")
    files = [os.path.join(CHART, "values.yaml"), os.path.join(CHART, "Chart.yaml")]
    files += sorted(os.path.join(EXAMPLES, f) for f in os.listdir(EXAMPLES) if f.endswith(".yaml"))
    p = subprocess.run(["yamllint", "-f", "parsable", "-d", conf] + files, capture_output=True, text=True)
    check(p.returncode == 0, "yamllint:\n" + p.stdout + p.stderr)


class Ctx:
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("TURNPIKE_BIN", os.path.join(REPO, "build", "bin", "turnpike")))
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    a = ap.parse_args()
    start = time.monotonic()
    ctx = Ctx()
    ctx.turnpike = os.path.abspath(a.bin)
    os.makedirs(a.build_dir, exist_ok=True)
    ctx.renderer = build_renderer(os.path.abspath(a.build_dir))
    print(f"renderer ready after {time.monotonic() - start:.1f} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="turnpike-helm-") as tmp:
        ctx.tmp = tmp
        ctx.plain = stage(tmp, fixtures=False)
        ctx.fixtures = stage(tmp, fixtures=True)
        check_case(ctx, "default")
        regions = os.path.join(EXAMPLES, "regions.yaml")
        for r in REGIONS:
            check_case(ctx, r, files=[regions, os.path.join(EXAMPLES, r + ".yaml")])
        check_case(ctx, "loadgen", files=[regions, os.path.join(EXAMPLES, "eu-west.yaml")],
                   sets=["loadgen.enabled=true", "secrets.existingSecret="], expect_jobs=True)
        check_case(ctx, "uk-south-loadgen", files=[regions, os.path.join(EXAMPLES, "uk-south.yaml")],
                   sets=["loadgen.enabled=true"], expect_jobs=True)
        check_case(ctx, "existingSecret", sets=["secrets.existingSecret=my-turnpike", "kind=Deployment", "sfu.enabled=true",
                                                "quality.interval=5"])
        check_rules_and_dashboards(ctx)
        check_errors(ctx)
    lint_yaml()
    print(f"{'FAILED' if FAILURES else 'OK'}: {len(FAILURES)} failures in {time.monotonic() - start:.1f} s")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
