#!/usr/bin/python3
"""Self-test of the NAT lab (netlab.py): builds it, checks every kind's ground
truth with an independent RFC 5780-style probe, and checks that teardown
leaves nothing behind.

    /usr/bin/python3 tests/netlab/test_netlab.py [--prefix tplst] [--keep] [--skip-exit-code N]

The probe is written here, on purpose without any Turnpike code: a UDP
"reflector" in the server namespace listens on 203.0.113.1 and .2, ports
3478 and 3479 each, and answers "<nonce> <observed ip:port>" from the socket
the request asks for; a client script in each client namespace does the
RFC 5780 mapping tests (same socket to (ip1,p1), (ip2,p1), (ip2,p2)) and
filtering tests (fresh socket, answer asked from (ip2,p2), then (ip1,p2)),
and a TCP connect to the reflector's TCP port.

Output: one PASS/FAIL line per check, then "N passed, N failed"; exit 0 only
if nothing failed. When the lab cannot run here (not root, no iptables, ...)
it prints "SKIP: <why>" and exits 0 (or the --skip-exit-code, e.g. 77).
Every wait is bounded; the whole run takes 25-40 s on a loaded 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time

import netlab  # beside this file (run as a script, its folder is on sys.path)

PY = sys.executable
P1, P2 = 3478, 3479

# --------------------------------------------------------------------------
# the probe (runs as `python3 -c` inside the lab's namespaces)

REFLECTOR = r"""
import os, select, socket, sys, time
ips = sys.argv[1].split(","); ports = [int(p) for p in sys.argv[2].split(",")]
life = float(sys.argv[3])
socks = {}
for ip in ips:
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((ip, port))
        socks[(ip, port)] = s
tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind((ips[0], ports[0])); tcp.listen(16)
print("READY", flush=True)
end = time.monotonic() + life
byfd = {s.fileno(): (a, s) for a, s in socks.items()}
while time.monotonic() < end:
    r, _, _ = select.select(list(socks.values()) + [tcp, sys.stdin], [], [], 0.5)
    for s in r:
        if s is sys.stdin:
            if not os.read(0, 64):
                sys.exit(0)          # parent went away
        elif s is tcp:
            c, a = tcp.accept()
            c.settimeout(1)
            try:
                c.sendall(("%s:%d\n" % a).encode())
            except OSError:
                pass
            c.close()
        else:
            data, a = s.recvfrom(2048)
            try:
                nonce, want = data.decode().split()
            except ValueError:
                continue
            out = s
            if want != "-":
                ip, port = want.rsplit(":", 1)
                out = socks.get((ip, int(port)), s)
            me = "%s:%d" % out.getsockname()
            out.sendto(("%s %s:%d %s" % (nonce, a[0], a[1], me)).encode(), a)
"""

CLIENT = r"""
import json, os, socket, sys, time
cfg = json.loads(sys.argv[1])
ip1, ip2, p1, p2 = cfg["ip1"], cfg["ip2"], cfg["p1"], cfg["p2"]
TRIES, WAIT = cfg.get("tries", 3), cfg.get("wait", 0.4)
res = {}

def sock():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    return s

def txn(s, dst, want="-"):
    # -> (observed "ip:port", replier "ip:port") or None; bounded: TRIES*WAIT s
    nonce = os.urandom(6).hex()
    for _ in range(TRIES):
        try:
            s.sendto(("%s %s" % (nonce, want)).encode(), dst)
        except OSError as e:
            res.setdefault("errors", []).append(str(e))
            time.sleep(WAIT)
            continue
        end = time.monotonic() + WAIT
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                data, src = s.recvfrom(2048)
            except (socket.timeout, OSError):
                break
            parts = data.decode().split()
            if len(parts) == 3 and parts[0] == nonce:
                return parts[1], "%s:%d" % src
    return None

def local_ip():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((ip1, p1))
    return s.getsockname()[0]

res["local_ip"] = local_ip()
# mapping: one socket, three destinations
s = sock()
res["local_port"] = s.getsockname()[1]
r1 = txn(s, (ip1, p1)); r2 = txn(s, (ip2, p1)); r3 = txn(s, (ip2, p2))
res["x1"], res["x2"], res["x3"] = [r and r[0] for r in (r1, r2, r3)]
# filtering: fresh sockets, answer from another address/port
f1 = txn(sock(), (ip1, p1), "%s:%d" % (ip2, p2))
f2 = txn(sock(), (ip1, p1), "%s:%d" % (ip1, p2))
res["reply_ip2p2"] = f1 is not None and f1[1] == "%s:%d" % (ip2, p2)
res["reply_ip1p2"] = f2 is not None and f2[1] == "%s:%d" % (ip1, p2)
# hairpin (informational): socket b sends to socket a's mapped address
if cfg.get("hairpin") and res["x1"]:
    a = sock(); m = txn(a, (ip1, p1))
    b = sock()
    got = False
    if m:
        hip, hport = m[0].rsplit(":", 1)
        for _ in range(TRIES):
            b.sendto(b"hairpin", (hip, int(hport)))
            a.settimeout(WAIT)
            try:
                data, src = a.recvfrom(2048)
                got = data == b"hairpin"
                res["hairpin_src"] = "%s:%d" % src
                break
            except (socket.timeout, OSError):
                pass
    res["hairpin"] = got
# TCP
try:
    c = socket.create_connection((ip1, p1), timeout=3)
    c.settimeout(3)
    line = b""
    while not line.endswith(b"\n"):
        chunk = c.recv(128)
        if not chunk:
            break
        line += chunk
    res["tcp"] = line.decode().strip() or None
    c.close()
except OSError as e:
    res["tcp"] = None
    res["tcp_error"] = str(e)
print(json.dumps(res))
"""

# idle timer: after set_udp_timeout(kind, 2), a mapping refreshed within the
# timeout stays, an idle one (> timeout) is gone (random_fully: new port).
TIMER = r"""
import json, os, socket, sys, time
ip1, p1, pause_short, pause_long = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 0))
def txn():
    nonce = os.urandom(6).hex()
    for _ in range(3):
        s.sendto(("%s -" % nonce).encode(), (ip1, p1))
        s.settimeout(0.5)
        try:
            while True:
                d, _ = s.recvfrom(2048)
                p = d.decode().split()
                if p[0] == nonce:
                    return p[1]
        except (socket.timeout, OSError):
            pass
    return None
a = txn(); time.sleep(pause_short); b = txn(); time.sleep(pause_long); c = txn()
print(json.dumps({"first": a, "refreshed": b, "after_idle": c}))
"""

# UDP hole punching between two sites: learn the mapping from the reflector,
# print it, read the peer's from stdin, then both send to each other.
PUNCH = r"""
import json, os, select, socket, sys, time
ip1, p1 = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 0))
mapped = None
for _ in range(3):
    n = os.urandom(6).hex()
    s.sendto(("%s -" % n).encode(), (ip1, p1)); s.settimeout(0.5)
    try:
        d, _ = s.recvfrom(2048)
        if d.decode().split()[0] == n:
            mapped = d.decode().split()[1]; break
    except (socket.timeout, OSError):
        pass
print(mapped, flush=True)
r, _, _ = select.select([sys.stdin], [], [], 10)
peer = sys.stdin.readline().strip() if r else ""
got, src = 0, None
if mapped and peer and peer != "None":
    ip, port = peer.rsplit(":", 1)
    end = time.monotonic() + 3
    while time.monotonic() < end:             # 10 packets/s for 3 s
        s.sendto(b"punch", (ip, int(port)))
        tick = time.monotonic() + 0.1
        while time.monotonic() < tick:
            s.settimeout(max(0.001, tick - time.monotonic()))
            try:
                d, a = s.recvfrom(2048)
                if d == b"punch":
                    got += 1; src = "%s:%d" % a
            except (socket.timeout, OSError):
                pass
print(json.dumps({"mapped": mapped, "got": got, "from": src}), flush=True)
"""


def classify(r: dict) -> dict:
    """RFC 5780 section 4.3/4.4 decision, from the client probe's result."""
    local = f"{r['local_ip']}:{r['local_port']}"
    if r["x1"] is None:
        return {"mapping": None, "filtering": None, "udp_reachable": False}
    if r["x1"] == local:
        mapping = filtering = netlab.NO_NAT
    else:
        if r["x1"] == r["x2"]:
            mapping = netlab.EIM
        elif r["x2"] is not None and r["x2"] == r["x3"]:
            mapping = netlab.ADM
        else:
            mapping = netlab.APDM
        if r["reply_ip2p2"]:
            filtering = netlab.EIF
        elif r["reply_ip1p2"]:
            filtering = netlab.ADF
        else:
            filtering = netlab.APDF
    return {"mapping": mapping, "filtering": filtering, "udp_reachable": True}


# --------------------------------------------------------------------------
# test plumbing

class Results:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"PASS {name}" + (f"  ({detail})" if detail else ""), flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}" + (f"  ({detail})" if detail else ""), flush=True)
        return ok


def start_reflector(lab: netlab.Lab, life: float = 90) -> subprocess.Popen:
    p = lab.popen(lab.server_ns, [PY, "-c", REFLECTOR, ",".join(lab.server_ips),
                                  f"{P1},{P2}", str(life)],
                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    r, _, _ = select.select([p.stdout], [], [], 10)
    line = p.stdout.readline().strip() if r else ""
    if line != "READY":
        p.kill()
        raise RuntimeError(f"reflector did not start (got {line!r})")
    return p


def root_snapshot(prefix: str) -> dict:
    """What of the root namespace the lab could have touched: links named
    "<prefix>-*", and iptables rules / routes / addresses mentioning the lab's
    prefix or RFC 5737 addresses (other users' unrelated changes are ignored)."""
    marks = (prefix + "-", "203.0.113.", "198.51.100.", "192.0.2.")

    def grab(argv):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout
        return sorted(l for l in out.splitlines() if any(m in l for m in marks))
    return {"links": sorted(l for l in netlab._root_links() if l.startswith(prefix + "-")),
            "iptables": grab(["iptables-save"]),
            "routes": grab(["ip", "-4", "route", "show", "table", "all"]),
            "addrs": grab(["ip", "-o", "-4", "addr"])}


def lab_addresses_ok(lab: netlab.Lab) -> tuple[bool, str]:
    """Every address and route in the lab's namespaces is RFC 5737 or loopback."""
    import ipaddress
    bad = []
    for ns in lab.namespaces():
        out = subprocess.run(["ip", "-n", ns, "-o", "-4", "addr"], capture_output=True,
                             text=True, timeout=20).stdout
        for line in out.split("\n"):
            f = line.split()
            if len(f) >= 4:
                a = ipaddress.ip_interface(f[3])
                if not (a.ip.is_loopback or any(a.ip in n for n in netlab.RFC5737)):
                    bad.append(f"{ns}: {f[3]}")
        out = subprocess.run(["ip", "-n", ns, "-4", "route"], capture_output=True,
                             text=True, timeout=20).stdout
        for line in out.splitlines():
            f = line.split()
            dst = f[0]
            if dst != "default":
                n = ipaddress.ip_network(dst, strict=False)
                if not any(n.subnet_of(r) for r in netlab.RFC5737):
                    bad.append(f"{ns}: route {line}")
            if "via" in f:
                gw = ipaddress.ip_address(f[f.index("via") + 1])
                if not any(gw in r for r in netlab.RFC5737):
                    bad.append(f"{ns}: route {line}")
        # every veth's peer must be in a lab namespace, never the root one
        out = subprocess.run(["ip", "-n", ns, "-d", "-o", "link"], capture_output=True,
                             text=True, timeout=20).stdout
        for line in out.splitlines():
            if "\\    veth " in line:
                m = re.search(r" link-netns (\S+)", line)
                if not m or not m.group(1).startswith(lab.prefix + "-"):
                    bad.append(f"{ns}: veth whose peer is not in a lab namespace: {line[:60]}")
    return (not bad), "; ".join(bad[:5])


def probe_all(lab: netlab.Lab, res: Results, hairpin: bool = True) -> dict:
    cfg = {"ip1": lab.server_ips[0], "ip2": lab.server_ips[1], "p1": P1, "p2": P2,
           "hairpin": hairpin}
    procs = {}
    for kind, site in lab.sites.items():
        procs[kind] = lab.popen(site.client_ns, [PY, "-c", CLIENT, json.dumps(cfg)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = {}
    for kind, p in procs.items():
        try:
            so, se = p.communicate(timeout=25)
        except subprocess.TimeoutExpired:
            p.kill()
            so, se = p.communicate()
        try:
            out[kind] = json.loads(so)
        except ValueError:
            res.check(f"{kind}: probe ran", False, (se or so)[-300:])
    return out


def hole_punch(lab: netlab.Lab, kind_a: str, kind_b: str) -> tuple[dict, dict]:
    procs = [lab.popen(lab.sites[k].client_ns, [PY, "-c", PUNCH, lab.server_ips[0], str(P1)],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for k in (kind_a, kind_b)]
    mapped = []
    for p in procs:
        r, _, _ = select.select([p.stdout], [], [], 10)
        mapped.append(p.stdout.readline().strip() if r else "None")
    procs[0].stdin.write(mapped[1] + "\n"); procs[0].stdin.flush()
    procs[1].stdin.write(mapped[0] + "\n"); procs[1].stdin.flush()
    out = []
    for p in procs:
        try:
            so, _ = p.communicate(timeout=15)
            out.append(json.loads(so.strip().splitlines()[-1]))
        except (subprocess.TimeoutExpired, ValueError, IndexError):
            p.kill()
            out.append({"mapped": None, "got": 0})
    return out[0], out[1]


def run(args) -> Results:
    res = Results()
    t_up = t_probe = t_down = float("nan")
    summary: dict = {}
    before = root_snapshot(args.prefix)
    lab = netlab.Lab(args.prefix)
    try:
        t0 = time.monotonic()
        lab.up()
        t_up = time.monotonic() - t0
        res.check("up() builds all kinds", set(lab.sites) == set(netlab.KINDS),
                  f"{t_up:.2f}s, {len(lab.namespaces())} namespaces")
        res.check("server", lab.server_ns == f"{args.prefix}-srv"
                  and lab.server_ips == ("203.0.113.1", "203.0.113.2"))
        ok, why = lab_addresses_ok(lab)
        res.check("only RFC 5737 addresses/routes, no veth into the root namespace", ok, why)
        during = root_snapshot(args.prefix)
        res.check("root namespace untouched while up (links, routes, iptables)",
                  during == before)
        for ns in lab.namespaces():
            out = lab.run(ns, ["ip", "-br", "link", "show", "lo"], timeout=10).stdout
            if "UP" not in out and "UNKNOWN" not in out:
                res.check(f"{ns}: lo up", False, out.strip())
                break
        else:
            res.check("lo up in every namespace", True)

        refl = start_reflector(lab)
        # idle-timer check runs alongside the main probe (separate socket)
        lab.set_udp_timeout("random_fully", 2)
        res.check("set_udp_timeout later", lab.get_udp_timeout("random_fully") == (2, 2),
                  str(lab.get_udp_timeout("random_fully")))
        timer = lab.popen(lab.sites["random_fully"].client_ns,
                          [PY, "-c", TIMER, lab.server_ips[0], str(P1), "1.0", "3.5"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        t0 = time.monotonic()
        results = probe_all(lab, res)
        t_probe = time.monotonic() - t0
        for kind, site in lab.sites.items():
            r = results.get(kind)
            if r is None:
                continue
            got = classify(r)
            summary[kind] = {**got, "x": [r["x1"], r["x2"], r["x3"]], "tcp": r["tcp"],
                             "hairpin": r.get("hairpin")}
            truth = {k: site.truth[k] for k in ("mapping", "filtering", "udp_reachable")}
            res.check(f"{kind}: measured == truth", got == truth,
                      f"measured {got}, truth {truth}; x1..x3={r['x1']},{r['x2']},{r['x3']} "
                      f"local={r['local_ip']}:{r['local_port']}")
            # TCP reaches the server everywhere, from the site's public address
            tcp_ip = r["tcp"].rsplit(":", 1)[0] if r["tcp"] else None
            res.check(f"{kind}: TCP connects, seen from {site.wan_ip}",
                      site.truth["tcp_reachable"] and tcp_ip == site.wan_ip,
                      f"tcp={r['tcp']} {r.get('tcp_error', '')}")
            if r["x1"]:
                x_ip, x_port = r["x1"].rsplit(":", 1)
                res.check(f"{kind}: UDP seen from {site.wan_ip}", x_ip == site.wan_ip, r["x1"])
            if kind in ("masquerade", "full_cone"):
                res.check(f"{kind}: source port preserved",
                          r["x1"] == f"{site.wan_ip}:{r['local_port']}", r["x1"])
            if kind == "double_nat":
                lo, hi = netlab.CGN_PORTS
                ports = {int(x.rsplit(":", 1)[1]) for x in (r["x1"], r["x2"], r["x3"]) if x}
                res.check("double_nat: mapped ports in the CGN quota",
                          ports and all(lo <= p <= hi for p in ports), str(sorted(ports)))
            if kind == "udp_blocked":
                res.check("udp_blocked: no UDP answer at all",
                          not any((r["x1"], r["x2"], r["x3"], r["reply_ip2p2"], r["reply_ip1p2"])))
        try:
            so, se = timer.communicate(timeout=15)
            t = json.loads(so)
        except (subprocess.TimeoutExpired, ValueError):
            timer.kill()
            t = {}
            so, se = "", "timer probe failed"
        res.check("udp timeout 2s: mapping kept when refreshed after 1s, new after 3.5s idle",
                  bool(t.get("first")) and t.get("first") == t.get("refreshed")
                  and bool(t.get("after_idle")) and t.get("after_idle") != t.get("first"),
                  so.strip() or se[-200:])

        # hole punching with the WAN firewall (default): EIM+APDF on both
        # sides works; against an APDM NAT it does not
        punches = {}
        threads = [threading.Thread(target=lambda pair=pair: punches.__setitem__(
            pair, hole_punch(lab, *pair))) for pair in (("masquerade", "double_nat"),
                                                        ("masquerade", "random_fully"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=40)
        a, b = punches.get(("masquerade", "double_nat"), ({"got": 0}, {"got": 0}))
        res.check("hole punch masquerade <-> double_nat works both ways",
                  a["got"] > 0 and b["got"] > 0 and a.get("from") == b.get("mapped")
                  and b.get("from") == a.get("mapped"), f"{a} {b}")
        a, b = punches.get(("masquerade", "random_fully"), ({}, {}))
        res.check("hole punch masquerade <-> random_fully fails both ways",
                  bool(a.get("mapped") and b.get("mapped")) and a.get("got") == 0
                  and b.get("got") == 0, f"{a} {b}")

        # the test process itself in a client namespace (setns, this thread only)
        site = lab.sites["full_cone"]
        with lab.netns(site.client_ns):
            sk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sk.settimeout(1)
        seen = None
        try:
            sk.sendto(b"n1 -", (lab.server_ips[0], P1))
            seen = sk.recvfrom(2048)[0].decode().split()[1]
        except OSError as e:
            seen = str(e)
        finally:
            sk.close()
        in_root = bool(subprocess.run(["ip", "-o", "addr", "show", "to", site.client_ip],
                                      capture_output=True, text=True, timeout=10).stdout.strip())
        res.check("lab.netns(): socket made inside lives in the client namespace",
                  seen is not None and seen.startswith(site.wan_ip + ":") and not in_root,
                  f"seen {seen}")

        # conntrack flush
        n_before = len(lab.conntrack("masquerade")[lab.sites["masquerade"].router_ns])
        lab.flush_conntrack()
        left = sum(len(v) for v in lab.conntrack().values())
        res.check("flush_conntrack empties every router", n_before > 0 and left == 0,
                  f"masquerade had {n_before} entries, {left} left in all routers")
        refl.stdin.close()
        try:
            refl.wait(timeout=5)
        except subprocess.TimeoutExpired:
            refl.kill()

        # up() twice in a row, and with a creation-time udp_timeout; another
        # Lab object with the same prefix removes the leftovers first
        t0 = time.monotonic()
        lab.up(kinds=["masquerade", "double_nat", "no_nat"], udp_timeout=5)
        t_up2 = time.monotonic() - t0
        lab2 = netlab.Lab(args.prefix)
        lab2.up(kinds=["masquerade", "double_nat", "no_nat"], udp_timeout=(5, 7))
        res.check("up() again (same and new Lab object) works",
                  set(lab2.sites) == {"masquerade", "double_nat", "no_nat"}
                  and len(lab2.namespaces()) == 1 + 2 + 3 + 1,
                  f"{t_up2:.2f}s for 3 kinds; namespaces {sorted(lab2.namespaces())}")
        res.check("udp_timeout at creation in every router",
                  all(lab2.run(r, ["cat", "/proc/sys/net/netfilter/nf_conntrack_udp_timeout",
                                   "/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream"],
                               timeout=10).stdout.split() == ["5", "7"]
                      for r in lab2._routers(None)))
        refl = start_reflector(lab2, life=20)
        ok = True
        for kind, r in probe_all(lab2, res, hairpin=False).items():
            got = classify(r)
            truth = {k: lab2.sites[kind].truth[k] for k in ("mapping", "filtering", "udp_reachable")}
            ok = ok and got == truth
            if got != truth:
                print(f"   {kind}: {got} != {truth}")
        ok = ok and len(lab2.sites) == 3
        res.check("rebuilt lab still matches ground truth", ok)
        lab2.down()
        res.check("down() with the reflector still running kills it", refl.poll() is not None)
        lab.down()
    finally:
        if args.keep:
            print(f"--keep: lab {args.prefix!r} left up; remove it with "
                  f"netlab.py --prefix {args.prefix} down")
        else:
            t0 = time.monotonic()
            lab.down()
            t_down = time.monotonic() - t0
            lab.down()     # idempotent
    if not args.keep:
        after = root_snapshot(args.prefix)
        res.check("teardown: no namespace left", not [n for n in netlab._list_netns()
                                                     if n.startswith(args.prefix + "-")])
        res.check("teardown: root links, routes and iptables as before", after == before,
                  "" if after == before else f"before {before} after {after}")
        res.check("teardown: no /run/netns entry left",
                  not [n for n in os.listdir("/run/netns") if n.startswith(args.prefix + "-")]
                  if os.path.isdir("/run/netns") else True)
    print("summary: " + json.dumps({"up_s": round(t_up, 2), "probe_s": round(t_probe, 2),
                                    **({"down_s": round(t_down, 2)} if not args.keep else {})}))
    for kind, s in summary.items():
        print(f"  {kind:13} {json.dumps(s)}")
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prefix", default="tplst", help="lab prefix (default tplst)")
    ap.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    ap.add_argument("--skip-exit-code", type=int, default=0,
                    help="exit code when the lab cannot run here (default 0; 77 for ctest)")
    args = ap.parse_args(argv)
    ok, why = netlab.available(args.prefix)
    if not ok:
        print(f"SKIP: {why}")
        return args.skip_exit_code
    t0 = time.monotonic()
    res = run(args)
    print(f"({time.monotonic() - t0:.1f}s)")
    print(f"{res.passed} passed, {res.failed} failed")
    return 0 if res.failed == 0 else 1


def test_netlab_selftest():
    """pytest entry point: skips when the lab cannot run here."""
    ok, why = netlab.available("tplst")
    if not ok:
        try:
            import pytest
            pytest.skip(why)
        except ImportError:
            return
    res = run(argparse.Namespace(prefix="tplst", keep=False))
    assert res.failed == 0, f"{res.failed} netlab checks failed"


if __name__ == "__main__":
    sys.exit(main())
