#!/usr/bin/env python3
"""netlab: a lab of real Linux NATs in network namespaces, for integration tests.

Stdlib only (Python 3.11). Needs root, iproute2 (`ip`) and iptables
(`iptables-restore`, nf_tables or legacy backend). See README.md beside this
file for the topology, every NAT kind's rules and ground truth, and the CLI.

    import netlab
    ok, why = netlab.available()
    with netlab.Lab(prefix="tpl") as lab:           # up(): all kinds
        site = lab.sites["masquerade"]
        p = lab.popen(lab.server_ns, ["turnpike", ...])
        r = lab.run(site.client_ns, ["python3", "probe.py"], timeout=10)

Every address is from the RFC 5737 documentation ranges (192.0.2.0/24,
198.51.100.0/24, 203.0.113.0/24). Every veth pair is created with both ends
inside namespaces of the lab, so the root namespace gets no interface, no
route and no iptables rule, and nothing in the lab can reach anything outside
the lab's namespaces.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import dataclasses
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Iterable, Sequence

__all__ = [
    "KINDS", "TRUTH", "SERVER_IPS", "PUBLIC_NET", "EIM", "ADM", "APDM",
    "EIF", "ADF", "APDF", "NO_NAT", "CGN_PORTS", "Lab", "Site", "LabError",
    "available",
]

# --------------------------------------------------------------------------
# Vocabulary (RFC 4787 / RFC 5780 behaviour names)

EI = "endpoint_independent"
AD = "address_dependent"
APD = "address_and_port_dependent"
NO_NAT = "no_nat"
EIM = EIF = EI
ADM = ADF = AD
APDM = APDF = APD

KINDS = ("masquerade", "random_fully", "full_cone", "double_nat",
         "udp_blocked", "no_nat")

PUBLIC_NET = "203.0.113.0/24"
SERVER_IPS = ("203.0.113.1", "203.0.113.2")
CGN_PORTS = (40000, 40015)          # the double NAT's CGN port quota
RFC5737 = tuple(ipaddress.ip_network(n) for n in
                ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))

# Ground truth per kind (see README.md "NAT kinds" for the why; verified by
# test_netlab.py with an independent RFC 5780-style probe).
#   mapping/filtering: EIM/ADM/APDM, EIF/ADF/APDF, "no_nat", or None when UDP
#   cannot be measured at all (udp_blocked).
TRUTH: dict[str, dict] = {
    "masquerade":   {"mapping": EIM, "filtering": APDF,
                     "udp_reachable": True, "tcp_reachable": True},
    "random_fully": {"mapping": APDM, "filtering": APDF,
                     "udp_reachable": True, "tcp_reachable": True},
    "full_cone":    {"mapping": EIM, "filtering": EIF,
                     "udp_reachable": True, "tcp_reachable": True},
    # Both hops are endpoint-independent in mapping: the home MASQUERADE
    # keeps the port, and the CGN (source port outside its 16-port quota)
    # picks a random quota port for the first conntrack of an inside
    # (addr, port) but then reuses it for every further conntrack of that
    # source (nf_nat get_unique_tuple -> find_appropriate_src, the
    # "bysource" table). Filtering is conntrack's exact 5-tuple match.
    "double_nat":   {"mapping": EIM, "filtering": APDF,
                     "udp_reachable": True, "tcp_reachable": True},
    "udp_blocked":  {"mapping": None, "filtering": None,
                     "udp_reachable": False, "tcp_reachable": True},
    "no_nat":       {"mapping": NO_NAT, "filtering": NO_NAT,
                     "udp_reachable": True, "tcp_reachable": True},
}

# Per-kind layout. "code" makes interface names ("<prefix>-<code><role>").
_SPECS: dict[str, dict] = {
    "masquerade":   {"code": "mq", "wan": "203.0.113.11", "lan": "198.51.100.0/28"},
    "random_fully": {"code": "rf", "wan": "203.0.113.12", "lan": "198.51.100.16/28"},
    "full_cone":    {"code": "fc", "wan": "203.0.113.13", "lan": "198.51.100.32/28"},
    "double_nat":   {"code": "dn", "wan": "203.0.113.14", "lan": "192.0.2.0/28",
                     "carrier": "192.0.2.16/28"},
    "udp_blocked":  {"code": "ub", "wan": "203.0.113.15", "lan": "198.51.100.48/28"},
    "no_nat":       {"code": "nn", "wan": "203.0.113.50"},
}

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,9}$")   # ifname = prefix + 4 chars <= 15
_CMD_TIMEOUT = 20.0
_CLONE_NEWNET = 0x40000000
_DEBUG = os.environ.get("NETLAB_DEBUG") == "1"



@contextlib.contextmanager
def in_netns(ns: str):
    """The calling thread (only it) in the named network namespace
    (/run/netns/<ns>, any `ip netns add` made) for the with-block, via setns(2);
    back in its own one after. Lab.netns checks the name is the lab's."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/thread-self/ns/net", "rb") as home, \
            open(f"/run/netns/{ns}", "rb") as target:
        if libc.setns(target.fileno(), _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({ns}): {os.strerror(err)}")
        try:
            yield ns
        finally:
            if libc.setns(home.fileno(), _CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns(back): {os.strerror(err)}")

class LabError(RuntimeError):
    """A lab command failed (the message includes the command and stderr)."""


@dataclasses.dataclass(frozen=True)
class Site:
    """One NAT kind: a client namespace behind zero, one or two routers.

    router_ns is the router whose WAN is on the public segment (None for
    no_nat); router_nss lists every NAT router, client side first (two for
    double_nat: home, then CGN). wan_ip is the address the server sees.
    """
    kind: str
    client_ns: str
    client_ip: str
    router_ns: str | None
    wan_ip: str
    truth: dict
    router_nss: tuple[str, ...] = ()
    client_if: str = ""
    gateway: str | None = None
    lan: str | None = None


# --------------------------------------------------------------------------
# small helpers

def _iptables_restore() -> str:
    return os.environ.get("NETLAB_IPTABLES_RESTORE", "iptables-restore")


def _run(argv: Sequence[str], *, input: str | None = None,
         timeout: float = _CMD_TIMEOUT, check: bool = True) -> subprocess.CompletedProcess:
    if _DEBUG:
        print("netlab$", " ".join(argv), file=sys.stderr)
    try:
        cp = subprocess.run(list(argv), input=input, capture_output=True,
                            text=True, timeout=timeout)
    except FileNotFoundError as e:
        raise LabError(f"{argv[0]}: not found ({e})") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"timed out after {timeout}s: {' '.join(argv)}") from None
    if check and cp.returncode != 0:
        raise LabError(f"command failed ({cp.returncode}): {' '.join(argv)}\n"
                       f"{(cp.stderr or cp.stdout).strip()}")
    return cp


def _nsexec(ns: str, argv: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def _list_netns() -> list[str]:
    cp = _run(["ip", "netns", "list"], check=False)
    names = []
    for line in cp.stdout.splitlines():
        if line.strip():
            names.append(line.split()[0])
    return names


def _root_links() -> list[str]:
    cp = _run(["ip", "-o", "link", "show"], check=False)
    out = []
    for line in cp.stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            out.append(parts[1].strip().split("@")[0])
    return out


def _sysctl_script(values: dict[str, object]) -> str:
    """A /bin/sh script writing /proc/sys keys (dotted names)."""
    cmds = []
    for key, val in values.items():
        path = "/proc/sys/" + key.replace(".", "/")
        cmds.append(f"echo {val} > {path}")
    return " && ".join(cmds) if cmds else "true"


def _udp_timeouts(value) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        u, s = int(value[0]), int(value[1])
    else:
        u = s = int(value)
    if u < 1 or s < 1:
        raise ValueError(f"udp timeout must be >= 1 s, got {value!r}")
    return u, s


# ctnetlink "delete with no tuple" = flush the conntrack table of the netns
# the process is in. Run through `ip netns exec NS python3 -c ...` so the lab
# does not need conntrack-tools.
_FLUSH_SNIPPET = r"""
import os, socket, struct
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
s.bind((0, 0))
s.settimeout(5)
body = struct.pack("=BBH", socket.AF_INET, 0, 0)            # nfgenmsg, version 0: all families
hdr = struct.pack("=IHHII", 16 + len(body), (1 << 8) | 2, 1 | 4, 1, 0)  # CTNETLINK, CT_DELETE, REQUEST|ACK
s.send(hdr + body)
data = s.recv(65536)
_, typ, _, _, _ = struct.unpack_from("=IHHII", data)
if typ == 2:
    err = struct.unpack_from("=i", data, 16)[0]
    if err:
        raise SystemExit("conntrack flush: " + os.strerror(-err))
"""


# --------------------------------------------------------------------------
# availability

_AVAIL_CACHE: tuple[bool, str] | None = None


def available(prefix: str = "tpl", *, refresh: bool = False) -> tuple[bool, str]:
    """(True, "ok") if the lab can be built here, else (False, "<reason>").

    Checks root, `ip netns`, veth + bridge, iptables nat with MASQUERADE
    --random-fully, SNAT with a port range, DNAT, a filter DROP rule, the
    per-namespace conntrack UDP timeout sysctl and the ctnetlink flush, in a
    throw-away namespace "<prefix>-chk<pid>" that is always removed.
    """
    global _AVAIL_CACHE
    if _AVAIL_CACHE is not None and not refresh:
        return _AVAIL_CACHE
    _AVAIL_CACHE = _available(prefix)
    return _AVAIL_CACHE


def _available(prefix: str) -> tuple[bool, str]:
    if not sys.platform.startswith("linux"):
        return False, "netlab needs Linux network namespaces"
    if os.geteuid() != 0:
        return False, "netlab needs root (network namespaces, iptables); run as root (CI is root)"
    for tool, pkg in (("ip", "iproute2"), (_iptables_restore(), "iptables")):
        if not shutil.which(tool):
            return False, f"'{tool}' not found (apt-get install {pkg})"
    ns = f"{prefix}-chk{os.getpid()}"
    _run(["ip", "netns", "del", ns], check=False)
    try:
        cp = _run(["ip", "netns", "add", ns], check=False)
        if cp.returncode != 0:
            return False, f"cannot create a network namespace: {cp.stderr.strip()}"
        steps = [
            (["ip", "-n", ns, "link", "set", "lo", "up"], "bring lo up in a namespace"),
            (["ip", "-n", ns, "link", "add", "chk0", "type", "veth", "peer", "name", "chk1"],
             "create a veth pair (CONFIG_VETH)"),
            (["ip", "-n", ns, "link", "add", "chkbr", "type", "bridge"],
             "create a bridge (CONFIG_BRIDGE)"),
        ]
        for argv, what in steps:
            cp = _run(argv, check=False)
            if cp.returncode != 0:
                return False, f"cannot {what}: {cp.stderr.strip()}"
        rules = ("*nat\n"
                 "-A POSTROUTING -o chk0 -p udp -j MASQUERADE --random-fully\n"
                 "-A POSTROUTING -o chk0 -p udp -j SNAT --to-source 203.0.113.99:40000-40015\n"
                 "-A PREROUTING -i chk0 -p udp -j DNAT --to-destination 198.51.100.99\n"
                 "COMMIT\n*filter\n-A FORWARD -p udp -j DROP\nCOMMIT\n")
        cp = _run(_nsexec(ns, [_iptables_restore()]), input=rules, check=False)
        if cp.returncode != 0:
            return False, ("iptables nat (MASQUERADE --random-fully, SNAT/DNAT) not usable: "
                           + (cp.stderr or cp.stdout).strip())
        key = "/proc/sys/net/netfilter/nf_conntrack_udp_timeout"
        cp = _run(_nsexec(ns, ["sh", "-c", f"echo 29 > {key} && cat {key}"]), check=False)
        if cp.returncode != 0 or cp.stdout.strip() != "29":
            return False, ("per-namespace net.netfilter.nf_conntrack_udp_timeout not writable: "
                           + (cp.stderr or cp.stdout).strip())
        cp = _run(_nsexec(ns, [sys.executable, "-c", _FLUSH_SNIPPET]), check=False)
        if cp.returncode != 0:
            return False, "ctnetlink conntrack flush failed: " + (cp.stderr or cp.stdout).strip()
        return True, "ok"
    except LabError as e:
        return False, str(e)
    finally:
        _run(["ip", "netns", "del", ns], check=False)


# --------------------------------------------------------------------------
# the lab

class Lab:
    """A NAT lab. All namespaces are "<prefix>-...", interfaces "<prefix>-....".

    Lab(prefix="tpl", kinds=None, udp_timeout=None, cleanup_on_exit=True)
    kinds/udp_timeout are the defaults used by `with Lab(...)` (up() on enter).
    cleanup_on_exit: after up(), an atexit hook and a SIGTERM handler call
    down() (the CLI's `up` turns this off so the lab outlives the command).
    """

    def __init__(self, prefix: str = "tpl", *, kinds: Iterable[str] | None = None,
                 udp_timeout=None, cleanup_on_exit: bool = True,
                 wan_firewall: bool = True):
        if not _PREFIX_RE.match(prefix):
            raise ValueError("prefix must match [a-z][a-z0-9]{0,9} (interface names "
                             f"are '<prefix>-xxx', at most 15 chars): {prefix!r}")
        self.prefix = prefix
        self.server_ns = f"{prefix}-srv"
        self.server_ips = SERVER_IPS
        self.server_if = f"{prefix}-br"
        self.public_net = PUBLIC_NET
        self.sites: dict[str, Site] = {}
        self._default_kinds = tuple(kinds) if kinds is not None else None
        self._default_udp_timeout = udp_timeout
        self._cleanup_on_exit = cleanup_on_exit
        self.wan_firewall = wan_firewall
        self._procs: list[subprocess.Popen] = []
        self._lock = threading.RLock()
        self._atexit_registered = False
        self._prev_sigterm = None
        self._sigterm_installed = False
        self._extra_server_ips: list[str] = []

    # -- naming ---------------------------------------------------------
    def _ifname(self, kind: str, role: str) -> str:
        return f"{self.prefix}-{_SPECS[kind]['code']}{role}"

    def _ns(self, kind: str, role: str) -> str:
        return f"{self.prefix}-{kind}-{role}"

    def namespaces(self) -> list[str]:
        """Namespaces that exist now and belong to this prefix."""
        return [n for n in _list_netns() if n.startswith(self.prefix + "-")]

    # -- context manager ------------------------------------------------
    def __enter__(self) -> "Lab":
        self.up(kinds=self._default_kinds, udp_timeout=self._default_udp_timeout)
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    # -- build ------------------------------------------------------------
    def up(self, kinds: Iterable[str] | None = None, udp_timeout=None) -> "Lab":
        """Build the server namespace and the given kinds (default: all).

        udp_timeout: None (kernel default 30 s unreplied / 120 s stream), an
        int for both net.netfilter.nf_conntrack_udp_timeout and
        ..._udp_timeout_stream in every router, or a (unreplied, stream) pair.
        Tears down anything left with this prefix first, so calling it twice
        is fine. On failure it removes what it built and raises LabError.
        """
        kinds = tuple(KINDS if kinds is None else kinds)
        for k in kinds:
            if k not in _SPECS:
                raise ValueError(f"unknown kind {k!r}; kinds are {', '.join(KINDS)}")
        timeouts = _udp_timeouts(udp_timeout)
        with self._lock:
            self.down()
            self._register_cleanup()
            try:
                self._build_server()
                for k in KINDS:          # fixed order, whatever order was asked
                    if k in kinds:
                        self.sites[k] = self._build_site(k, timeouts)
            except BaseException:
                self.down()
                raise
        return self

    def _ip(self, ns: str, *args: str) -> None:
        _run(["ip", "-n", ns, *args])

    def _sh(self, ns: str, script: str) -> str:
        return _run(_nsexec(ns, ["sh", "-c", script])).stdout

    def _new_ns(self, ns: str, forward: bool) -> None:
        _run(["ip", "netns", "add", ns])
        self._ip(ns, "link", "set", "lo", "up")
        # Settings for interfaces created from now on: no IPv6 (no DAD/RS/MLD
        # noise on the lab links; lo keeps ::1), no reverse-path filter.
        self._sh(ns, _sysctl_script({
            "net.ipv4.ip_forward": 1 if forward else 0,
            "net.ipv6.conf.default.disable_ipv6": 1,
            "net.ipv4.conf.all.rp_filter": 0,
            "net.ipv4.conf.default.rp_filter": 0,
        }))

    def _veth(self, ns_a: str, if_a: str, ns_b: str, if_b: str) -> None:
        # Both ends are created directly in lab namespaces: the root namespace
        # never sees them.
        self._ip(ns_a, "link", "add", if_a, "type", "veth", "peer", "name", if_b,
                 "netns", ns_b)

    def _port(self, kind: str) -> str:
        """Name of a site's veth end on the server bridge."""
        return self._ifname(kind, "s")

    def server_port(self, kind: str) -> str:
        """The interface in server_ns that faces a site (its veth end on the server bridge): a
        qdisc there (tc tbf/htb) shapes what the server sends to that site."""
        return self._port(kind)

    def _attach(self, port: str) -> None:
        self._ip(self.server_ns, "link", "set", port, "master", self.server_if)
        self._ip(self.server_ns, "link", "set", port, "up")

    def _build_server(self) -> None:
        ns, br = self.server_ns, self.server_if
        self._new_ns(ns, forward=False)
        self._ip(ns, "link", "add", br, "type", "bridge", "stp_state", "0",
                 "forward_delay", "0")
        for ip in self.server_ips:
            self._ip(ns, "addr", "add", f"{ip}/24", "dev", br)
        self._ip(ns, "link", "set", br, "up")
        for ip in self._extra_server_ips:
            self._ip(ns, "addr", "add", f"{ip}/24", "dev", br)

    def add_server_ip(self, ip: str) -> None:
        """Add another server address on the public bridge, e.g. a second
        "region" (203.0.113.3-.9 are kept free for this). Kept across up()."""
        addr = ipaddress.ip_address(ip)
        taken = set(SERVER_IPS) | {spec["wan"] for spec in _SPECS.values()}
        if addr not in ipaddress.ip_network(PUBLIC_NET) or ip in taken \
                or ip.endswith((".0", ".255")):
            raise ValueError(f"{ip}: not a free address of {PUBLIC_NET} "
                             f"(taken: {', '.join(sorted(taken))})")
        if ip not in self._extra_server_ips:
            self._extra_server_ips.append(ip)
        if self.server_ns in self.namespaces():
            _run(["ip", "-n", self.server_ns, "addr", "replace", f"{ip}/24",
                  "dev", self.server_if])

    def _build_site(self, kind: str, timeouts) -> Site:
        spec = _SPECS[kind]
        if kind == "no_nat":
            cns = self._ns(kind, "cli")
            cif = self._ifname(kind, "c")
            self._new_ns(cns, forward=False)
            port = self._port(kind)
            self._veth(self.server_ns, port, cns, cif)
            self._attach(port)
            self._ip(cns, "addr", "add", f"{spec['wan']}/24", "dev", cif)
            self._ip(cns, "link", "set", cif, "up")
            # A default route (via the server, which does not forward) so
            # that apps that connect() a UDP socket to "the internet" to find
            # their address work; nothing can leave the lab anyway.
            self._ip(cns, "route", "add", "default", "via", SERVER_IPS[0])
            return Site(kind=kind, client_ns=cns, client_ip=spec["wan"], router_ns=None,
                        wan_ip=spec["wan"], truth=dict(TRUTH[kind]), router_nss=(),
                        client_if=cif, gateway=None, lan=PUBLIC_NET)

        lan = ipaddress.ip_network(spec["lan"])
        gw, cip = str(lan[1]), str(lan[2])
        cns, cif = self._ns(kind, "cli"), self._ifname(kind, "c")
        wan_if = self._ifname(kind, "w")
        port = self._port(kind)

        if kind == "double_nat":
            home, cgn = self._ns(kind, "home"), self._ns(kind, "cgn")
            carrier = ipaddress.ip_network(spec["carrier"])
            cgn_in, home_wan = str(carrier[1]), str(carrier[2])
            home_wan_if, cgn_lan_if = self._ifname(kind, "h"), self._ifname(kind, "g")
            lan_if = self._ifname(kind, "l")
            for ns, fwd in ((cgn, True), (home, True), (cns, False)):
                self._new_ns(ns, forward=fwd)
            # CGN: WAN on the bridge, "carrier" side towards the home router
            self._veth(self.server_ns, port, cgn, wan_if)
            self._attach(port)
            self._ip(cgn, "addr", "add", f"{spec['wan']}/24", "dev", wan_if)
            self._ip(cgn, "link", "set", wan_if, "up")
            self._veth(cgn, cgn_lan_if, home, home_wan_if)
            self._ip(cgn, "addr", "add", f"{cgn_in}/{carrier.prefixlen}", "dev", cgn_lan_if)
            self._ip(cgn, "link", "set", cgn_lan_if, "up")
            self._ip(home, "addr", "add", f"{home_wan}/{carrier.prefixlen}", "dev", home_wan_if)
            self._ip(home, "link", "set", home_wan_if, "up")
            self._ip(home, "route", "add", "default", "via", cgn_in)
            # home LAN
            self._veth(home, lan_if, cns, cif)
            self._ip(home, "addr", "add", f"{gw}/{lan.prefixlen}", "dev", lan_if)
            self._ip(home, "link", "set", lan_if, "up")
            self._ip(cns, "addr", "add", f"{cip}/{lan.prefixlen}", "dev", cif)
            self._ip(cns, "link", "set", cif, "up")
            self._ip(cns, "route", "add", "default", "via", gw)
            for ns, text in self.rules_for(kind).items():
                self._rules(ns, text)
            routers = (home, cgn)
        else:
            rns = self._ns(kind, "nat")
            lan_if = self._ifname(kind, "l")
            for ns, fwd in ((rns, True), (cns, False)):
                self._new_ns(ns, forward=fwd)
            self._veth(self.server_ns, port, rns, wan_if)
            self._attach(port)
            self._ip(rns, "addr", "add", f"{spec['wan']}/24", "dev", wan_if)
            self._ip(rns, "link", "set", wan_if, "up")
            self._veth(rns, lan_if, cns, cif)
            self._ip(rns, "addr", "add", f"{gw}/{lan.prefixlen}", "dev", lan_if)
            self._ip(rns, "link", "set", lan_if, "up")
            self._ip(cns, "addr", "add", f"{cip}/{lan.prefixlen}", "dev", cif)
            self._ip(cns, "link", "set", cif, "up")
            self._ip(cns, "route", "add", "default", "via", gw)
            for ns, text in self.rules_for(kind).items():
                self._rules(ns, text)
            routers = (rns,)

        site = Site(kind=kind, client_ns=cns, client_ip=cip, router_ns=routers[-1],
                    wan_ip=spec["wan"], truth=dict(TRUTH[kind]), router_nss=routers,
                    client_if=cif, gateway=gw, lan=str(lan))
        if timeouts is not None:
            for r in routers:
                self._set_timeouts(r, timeouts)
        return site

    def rules_for(self, kind: str) -> dict[str, str]:
        """router namespace -> the iptables-restore text loaded into it."""
        spec = _SPECS[kind]
        w = self._ifname(kind, "w")
        fw = ""
        if self.wan_firewall:
            # Like a home router's "WAN input: drop": unsolicited packets to
            # the router itself are dropped in INPUT, so conntrack never
            # confirms an entry for them (see README "conntrack notes").
            fw = "-A INPUT -i {} -m conntrack --ctstate NEW,INVALID -j DROP\n"
        if kind == "masquerade":
            rules = f"*nat\n-A POSTROUTING -o {w} -j MASQUERADE\nCOMMIT\n"
        elif kind == "random_fully":
            rules = f"*nat\n-A POSTROUTING -o {w} -j MASQUERADE --random-fully\nCOMMIT\n"
        elif kind == "full_cone":
            lan = ipaddress.ip_network(spec["lan"])
            rules = ("*nat\n"
                     f"-A PREROUTING -i {w} -d {spec['wan']}/32 -p udp -m udp --dport 1024:65535 "
                     f"-j DNAT --to-destination {lan[2]}\n"
                     f"-A POSTROUTING -o {w} -s {lan} -j SNAT --to-source {spec['wan']}\n"
                     "COMMIT\n")
        elif kind == "udp_blocked":
            rules = (f"*filter\n{fw.format(w)}-A FORWARD -p udp -j DROP\nCOMMIT\n"
                     f"*nat\n-A POSTROUTING -o {w} -j MASQUERADE\nCOMMIT\n")
            return {self._ns(kind, "nat"): rules}
        elif kind == "double_nat":
            lo, hi = CGN_PORTS
            h = self._ifname(kind, "h")
            home = (f"*filter\n{fw.format(h)}COMMIT\n" if fw else "") + \
                (f"*nat\n-A POSTROUTING -o {h} -j MASQUERADE\nCOMMIT\n")
            cgn = (f"*filter\n{fw.format(w)}COMMIT\n" if fw else "") + (
                "*nat\n"
                f"-A POSTROUTING -o {w} -p udp -j SNAT --to-source {spec['wan']}:{lo}-{hi}\n"
                f"-A POSTROUTING -o {w} -p tcp -j SNAT --to-source {spec['wan']}:{lo}-{hi}\n"
                f"-A POSTROUTING -o {w} -j SNAT --to-source {spec['wan']}\n"
                "COMMIT\n")
            return {self._ns(kind, "home"): home, self._ns(kind, "cgn"): cgn}
        else:
            raise ValueError(f"{kind} has no router")
        if fw:
            rules = f"*filter\n{fw.format(w)}COMMIT\n" + rules
        return {self._ns(kind, "nat"): rules}

    def _rules(self, ns: str, text: str) -> None:
        _run(_nsexec(ns, [_iptables_restore()]), input=text)

    # -- conntrack --------------------------------------------------------
    def _routers(self, kind: str | None) -> list[str]:
        if kind is None:
            return [r for s in self.sites.values() for r in s.router_nss]
        if kind not in self.sites:
            raise KeyError(f"kind {kind!r} is not up (up: {', '.join(self.sites) or 'none'})")
        return list(self.sites[kind].router_nss)

    def _set_timeouts(self, ns: str, timeouts: tuple[int, int]) -> None:
        u, s = timeouts
        self._sh(ns, _sysctl_script({
            "net.netfilter.nf_conntrack_udp_timeout": u,
            "net.netfilter.nf_conntrack_udp_timeout_stream": s,
        }))

    def set_udp_timeout(self, kind: str | None, seconds) -> None:
        """Set net.netfilter.nf_conntrack_udp_timeout and ..._stream in the
        router(s) of `kind` (None: every router). seconds: int for both, or
        (unreplied, stream). Existing conntracks pick the new value up on
        their next packet (the kernel re-arms the timer per packet)."""
        timeouts = _udp_timeouts(seconds)
        if timeouts is None:
            timeouts = (30, 120)
        routers = self._routers(kind)
        if kind is not None and not routers:
            raise ValueError(f"{kind} has no router")
        for r in routers:
            self._set_timeouts(r, timeouts)

    def get_udp_timeout(self, kind: str) -> tuple[int, int] | None:
        """(unreplied, stream) seconds in the kind's outer router (None for no_nat)."""
        routers = self._routers(kind)
        if not routers:
            return None
        out = self._sh(routers[-1], "cat /proc/sys/net/netfilter/nf_conntrack_udp_timeout "
                       "/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream").split()
        return int(out[0]), int(out[1])

    def flush_conntrack(self, kind: str | None = None) -> None:
        """Empty the conntrack table of the router(s) of `kind` (None: all)."""
        for r in self._routers(kind):
            _run(_nsexec(r, [sys.executable, "-c", _FLUSH_SNIPPET]))

    def conntrack(self, kind: str | None = None) -> dict[str, list[str]]:
        """router namespace -> lines of its /proc/net/nf_conntrack."""
        out = {}
        for r in self._routers(kind):
            cp = _run(_nsexec(r, ["cat", "/proc/net/nf_conntrack"]), check=False)
            out[r] = [l for l in cp.stdout.splitlines() if l.strip()]
        return out

    # -- processes ----------------------------------------------------------
    def _check_ns(self, ns) -> str:
        if isinstance(ns, Site):
            ns = ns.client_ns
        if not isinstance(ns, str) or not ns.startswith(self.prefix + "-"):
            raise ValueError(f"{ns!r} is not a namespace of lab {self.prefix!r}")
        return ns

    def wrap(self, ns, argv: Sequence[str]) -> list[str]:
        """argv prefixed with `ip netns exec <ns>` (for tools that spawn it)."""
        return _nsexec(self._check_ns(ns), list(argv))

    def netns(self, ns):
        """Move the calling thread (only it) into a lab namespace for the
        with-block, via setns(2) (in_netns). Sockets created inside stay in that
        namespace after the block, so the test process itself can talk to
        e.g. 127.0.0.1 of a client namespace or bind a lab address:

            with lab.netns(site.client_ns):
                sock = socket.create_connection(("127.0.0.1", 9515))
        """
        return in_netns(self._check_ns(ns))

    def popen(self, ns, argv: Sequence[str], **kw) -> subprocess.Popen:
        """subprocess.Popen(["ip","netns","exec",ns,*argv], **kw). The process
        is tracked and killed by down() (as is anything else left in a lab
        namespace). ns: a namespace name or a Site (its client namespace)."""
        p = subprocess.Popen(self.wrap(ns, argv), **kw)
        with self._lock:
            self._procs.append(p)
        return p

    def run(self, ns, argv: Sequence[str], timeout: float = 30, **kw) -> subprocess.CompletedProcess:
        """subprocess.run in the namespace; defaults capture_output=True,
        text=True, check=False. Raises subprocess.TimeoutExpired (child
        killed) after `timeout` seconds."""
        kw.setdefault("text", True)
        if not any(k in kw for k in ("stdout", "stderr", "capture_output")):
            kw["capture_output"] = True
        return subprocess.run(self.wrap(ns, argv), timeout=timeout, **kw)

    # -- teardown -----------------------------------------------------------
    def down(self) -> None:
        """Remove everything with this prefix: processes still running in lab
        namespaces (SIGTERM, then SIGKILL after 2 s), the namespaces (which
        takes their veths, bridge, routes and iptables rules along), and any
        root-namespace interface named "<prefix>-*" (there should be none).
        Idempotent; never raises because something is already gone."""
        with self._lock:
            procs, self._procs = self._procs, []
            for p in procs:
                if p.poll() is None:
                    try:
                        p.terminate()
                    except OSError:
                        pass
            try:
                names = self.namespaces()
            except Exception:
                names = []
            pids: set[int] = set()
            for ns in names:
                cp = _run(["ip", "netns", "pids", ns], check=False, timeout=10)
                pids.update(int(x) for x in cp.stdout.split() if x.isdigit())
            pids.discard(os.getpid())
            _kill_all(pids, [p for p in procs if p.poll() is None])
            for ns in names:
                _run(["ip", "netns", "del", ns], check=False, timeout=10)
            for link in _root_links():
                if link.startswith(self.prefix + "-"):
                    _run(["ip", "link", "del", link], check=False, timeout=10)
            self.sites = {}

    def _register_cleanup(self) -> None:
        if not self._cleanup_on_exit:
            return
        if not self._atexit_registered:
            atexit.register(self.down)
            self._atexit_registered = True
        if self._sigterm_installed or threading.current_thread() is not threading.main_thread():
            return
        prev = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum, frame):
            try:
                self.down()
            finally:
                signal.signal(signal.SIGTERM, prev if prev is not None else signal.SIG_DFL)
                if callable(prev):
                    prev(signum, frame)
                elif prev != signal.SIG_IGN:
                    raise SystemExit(128 + signum)

        try:
            signal.signal(signal.SIGTERM, on_sigterm)
            self._prev_sigterm = prev
            self._sigterm_installed = True
        except ValueError:       # not the main thread of the main interpreter
            pass

    # -- status -------------------------------------------------------------
    def status(self) -> str:
        lines = []
        names = self.namespaces()
        if not names:
            return f"lab {self.prefix!r}: down (no namespace '{self.prefix}-*')"
        lines.append(f"lab {self.prefix!r}: {len(names)} namespaces")
        for ns in sorted(names):
            lines.append(f"== {ns}")
            cp = _run(["ip", "-n", ns, "-br", "-4", "addr"], check=False)
            lines += ["   " + l for l in cp.stdout.splitlines() if l.strip()]
            cp = _run(["ip", "-n", ns, "route"], check=False)
            lines += ["   route " + l for l in cp.stdout.splitlines() if l.strip()]
            if ns.endswith(("-nat", "-home", "-cgn")):
                cp = _run(_nsexec(ns, ["iptables-save"]), check=False)
                lines += ["   " + l for l in cp.stdout.splitlines()
                          if l.startswith("-A")]
                cp = _run(_nsexec(ns, ["sh", "-c",
                                       "cat /proc/sys/net/netfilter/nf_conntrack_udp_timeout "
                                       "/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream; "
                                       "wc -l < /proc/net/nf_conntrack"]), check=False)
                v = cp.stdout.split()
                if len(v) == 3:
                    lines.append(f"   udp_timeout={v[0]} udp_timeout_stream={v[1]} conntracks={v[2]}")
        return "\n".join(lines)


def _kill_all(pids: set[int], procs: list[subprocess.Popen]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        for p in procs:
            p.poll()
        if not any(_alive(pid) for pid in pids) and all(p.poll() is not None for p in procs):
            break
        time.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    for p in procs:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False


# --------------------------------------------------------------------------
# CLI

def _main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="netlab.py", description="NAT lab in network namespaces")
    ap.add_argument("--prefix", default="tpl", help="name prefix (default tpl)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="build the lab (tears down leftovers first); stays up")
    up.add_argument("--kinds", default=None, help="comma list (default all): " + ",".join(KINDS))
    up.add_argument("--udp-timeout", default=None,
                    help="conntrack UDP timeout in the routers: N or N,STREAM seconds")
    up.add_argument("--no-wan-firewall", action="store_true",
                    help="do not drop unsolicited packets to the routers' WAN (plain Linux)")
    sub.add_parser("down", help="remove everything with the prefix")
    sub.add_parser("status", help="show namespaces, addresses, routes, rules")
    sub.add_parser("check", help="print whether the lab can run here (exit 0 yes, 1 no)")
    a = ap.parse_args(argv)

    if a.cmd == "check":
        ok, why = available(a.prefix)
        print(("available: " if ok else "unavailable: ") + why)
        return 0 if ok else 1
    lab = Lab(a.prefix, cleanup_on_exit=False,
              wan_firewall=not getattr(a, "no_wan_firewall", False))
    if a.cmd == "down":
        lab.down()
        print(f"lab {a.prefix!r}: down")
        return 0
    if a.cmd == "status":
        print(lab.status())
        return 0
    ok, why = available(a.prefix)
    if not ok:
        print("netlab unavailable: " + why, file=sys.stderr)
        return 1
    kinds = a.kinds.split(",") if a.kinds else None
    ut = None
    if a.udp_timeout:
        parts = [int(x) for x in a.udp_timeout.split(",")]
        ut = parts[0] if len(parts) == 1 else (parts[0], parts[1])
    t0 = time.monotonic()
    lab.up(kinds=kinds, udp_timeout=ut)
    print(f"lab {a.prefix!r} up in {time.monotonic() - t0:.2f}s; server {lab.server_ns} "
          f"{', '.join(lab.server_ips)}")
    for s in lab.sites.values():
        print(f"  {s.kind:13} client {s.client_ns} {s.client_ip:15} "
              f"routers {','.join(s.router_nss) or '-':32} wan {s.wan_ip:13} "
              f"mapping={s.truth['mapping']} filtering={s.truth['filtering']} "
              f"udp={s.truth['udp_reachable']}")
    print(f"  run in a namespace: ip netns exec <ns> <cmd>;  remove: {sys.argv[0]} "
          f"{'--prefix ' + a.prefix + ' ' if a.prefix != 'tpl' else ''}down")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
