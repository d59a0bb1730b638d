"""Data residency across three regions in network namespaces (issue 8; regionlab.py).

One Turnpike node per region (eu-west, eu-central, us-east), each with the same catalog:
  peers        an eu-west client allocates on the eu-west node and relays to a peer in eu-central
               (checked at that peer); a peer in us-east gets 403 and receives nothing (checked at
               the peer); the record shows the regions
  redirect     a us-east client sent to the eu-west node is redirected (300 ALTERNATE-SERVER) and
               coturn's turnutils_uclient follows it to the us-east node, whose metrics show it; over
               UDP, TCP, TLS and DTLS, each sent to the us-east server of its own transport
  redirect_browser  headless Chromium in us-east, relay-only with the eu-west node as its ICE server,
               follows the redirect to the us-east node and relays video there, over UDP and TLS
  pinned       a REST credential pinned to us-east is redirected from an eu-west address
  drift        with foreign_clients: serve the eu-west node serves a us-east client and counts it
               in turnpike_region_drift_sessions
  reload       SIGHUP with a stricter policy ends the drift allocation (Refresh 437) and revokes an
               eu-central permission (the peer gets nothing sent after it)
  sfu_media    headless Chromium in us-east joining an eu-west room on the eu-west node gets no media
               path and is sent to us-east's signal_url; one in eu-west connects, counted eu-west
  sfu_drift_reload  with foreign_clients: serve the us-east browser's media is served as drift; a
               SIGHUP back to redirect ends that session and tells the browser where to go
and, on loopback (no root needed):
  check_config      --check-config refuses overlapping networks, an unknown region name and relay
                    addresses outside the node's region, naming the key
  family_redirect   uclient at ::1 (us-east here) asking the eu-west node over IPv6, UDP and TCP, is
                    sent to us-east's IPv6 server, not the IPv4 one listed first, and relays there
  sfu_wrong_region  headless Chromium joining with a token for a us-east room on the eu-west node is
                    told the room's region and its signalling URL, and no media path is set up

Needs root; prints "SKIP: why" and exits 0 elsewhere.
"""
import json
import os
import subprocess
import threading
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration import browser, harness, metrics  # noqa: E402
from integration import regionlab  # noqa: E402
from integration.lab import NetnsTurnpike  # noqa: E402
from integration.regionlab import REGIONS  # noqa: E402

PORT, TLS_PORT = 3478, 5349
SECRET = 'northwind-regions'
PEERS = {'eu-west': ['eu-west', 'eu-central'], 'eu-central': ['eu-west', 'eu-central'], 'us-east': ['us-east']}


SIGNAL_PORT, MEDIA_PORT = 8443, 40000


def catalog():
    # turns: first, so a UDP or TCP client's redirect has to pass it over (RFC 8489 10: same transport).
    return {name: {'networks': [x['net']], 'turn_urls': [f'turns:{x["node"]}:{TLS_PORT}', f'turn:{x["node"]}:{PORT}'],
                   'signal_url': f'wss://{x["node"]}:8443/signal'} for name, x in REGIONS.items()}


def node_config(region, foreign='redirect', sfu=False, peer_regions=None, tls=None):
    r = REGIONS[region]
    listen = [{'transport': 'udp', 'address': r['node'], 'port': PORT}]
    if tls:
        listen += [{'transport': 'tcp', 'address': r['node'], 'port': PORT},
                   {'transport': 'tls', 'address': r['node'], 'port': TLS_PORT},
                   {'transport': 'dtls', 'address': r['node'], 'port': TLS_PORT}]
    cfg = {
        'region': region,
        'listen': listen,
        'relay': {'addresses': [r['node']], 'port_range': [49152, 49999]},
        # The nodes share the nonce key: a browser reuses the nonce of a 300 at the alternate.
        'auth': {'realm': 'turnpike.test', 'users': {'alice': 'wonderland'}, 'rest_secrets': [SECRET],
                 'nonce_secret': 'one-nonce-key-for-all-regions'},
        'admin': {'listen': '127.0.0.1:9641'},
        'regions': catalog(),
        'residency': {'peer_regions': peer_regions or PEERS[region], 'client_regions': [region],
                      'foreign_clients': foreign, 'unknown_addresses': 'refuse'},
        'threads': 1,
        'log': {'level': 'info', 'format': 'json'},
    }
    if tls:
        cfg['tls'] = {'cert': tls[0], 'key': tls[1]}
    if sfu:
        cfg['sfu'] = {'signal_listen': f'{r["node"]}:{SIGNAL_PORT}', 'media_listen': f'{r["node"]}:{MEDIA_PORT}',
                      'token_keys': [harness.TOKEN_KEY]}
    return cfg


def start_node(lab, binary, region, foreign='redirect', sfu=False):
    """turnpike as `region`'s node, in its namespace. Every node also listens on TCP (3478), TLS and
    DTLS (5349), to be redirected to over them; node.tls is its (cert, key), node.region its region."""
    certdir = tempfile.mkdtemp(prefix=f'turnpike-it-res-{region}-')
    tls = harness.make_cert(certdir, cn=f'turnpike-{region}')
    node = NetnsTurnpike(lab, lab.ns(region, 'node'), node_config(region, foreign, sfu, tls=tls), binary=binary,
                         name=f'{region} node')
    node.region, node.tls = region, tls
    return node.start()


metric, grew = metrics.metric, metrics.grew


# A TURN client script run in a client namespace; prints one JSON line.
CLIENT = r'''
import json, sys, time
sys.path.insert(0, %(here)r)
import stunclient
out = {}
c = stunclient.TurnClient((%(server)r, %(port)d), local=('0.0.0.0', 0), timeout=5.0)
user, pw = %(user)r, %(pw)r
r = c.allocate(user, pw)
out['allocate'] = r.error_code if r.is_error else 200
alt = r.get(0x8023)
if alt is not None:
    ip, port = stunclient.decode_plain_address(alt)
    out['alternate'] = '%%s:%%d' %% (ip, port)
relay = r.xor_address(stunclient.XOR_RELAYED_ADDRESS) if not r.is_error else None
if %(announce)r and relay:  # say where to send, then see what arrives for a while
    print(json.dumps({'relayed': '%%s:%%d' %% tuple(relay)[:2]}), flush=True)
for name, peer in %(peers)r:
    r = c.create_permission((peer, 40000))
    out['perm_' + name] = r.error_code if r.is_error else 200
    c.send_indication((peer, 40000), ('hello from ' + %(region)r).encode())
got, end = [], time.time() + (%(listen)r if relay else 0.5)
while time.time() < end:
    d = c.recv_relayed(timeout=0.2)
    if d:
        got.append(d[2].decode(errors='replace'))
if got:
    out['received'] = got
print(json.dumps(out))
'''

LISTENER = r'''
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', 40000))
s.settimeout(0.2)
end = time.time() + float(sys.argv[1])
got = []
while time.time() < end:
    try:
        d, a = s.recvfrom(2048)
        got.append(d.decode(errors='replace'))
    except socket.timeout:
        pass
print('|'.join(got))
'''


def client_script(region, server_region, user='alice', pw='wonderland', peers=(), announce=False, listen=0.5):
    return CLIENT % {'here': str(HERE), 'server': REGIONS[server_region]['node'], 'port': PORT, 'user': user,
                     'pw': pw, 'peers': list(peers), 'region': region, 'announce': announce, 'listen': listen}


def client(lab, region, server_region, user='alice', pw='wonderland', peers=()):
    script = client_script(region, server_region, user, pw, peers)
    r = lab.run(lab.ns(region, 'client'), ['/usr/bin/python3', '-c', script], timeout=60)
    assert r.returncode == 0, r.stderr[-800:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def check_peers(lab, nodes):
    listeners = {name: lab.popen(lab.ns(name, 'peer'), ['/usr/bin/python3', '-c', LISTENER, '6'],
                                 stdout=subprocess.PIPE, text=True) for name in ('eu-central', 'us-east')}
    time.sleep(0.5)
    script = client_script('eu-west', 'eu-west', peers=[('eu-central', REGIONS['eu-central']['peer']),
                                                        ('us-east', REGIONS['us-east']['peer'])],
                           announce=True, listen=3.0)
    proc = lab.popen(lab.ns('eu-west', 'client'), ['/usr/bin/python3', '-c', script], stdout=subprocess.PIPE, text=True)
    relayed = json.loads(proc.stdout.readline())['relayed']
    before = metric(nodes['eu-west'].metrics(), 'turnpike_relay_dropped_packets_total', reason='peer_denied') or 0
    # The us-east peer sends to the relayed address: nothing of it may reach the client.
    host, port = relayed.rsplit(':', 1)
    sender = ('import socket, time\n'
              's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 40001))\n'
              f'for i in range(5):\n    s.sendto(b"from us-east", ({host!r}, {int(port)})); time.sleep(0.1)\n')
    time.sleep(0.5)
    r = lab.run(lab.ns('us-east', 'peer'), ['/usr/bin/python3', '-c', sender], timeout=20)
    assert r.returncode == 0, r.stderr
    out = json.loads(proc.communicate(timeout=30)[0].strip().splitlines()[-1])
    got = {name: p.communicate(timeout=20)[0].strip() for name, p in listeners.items()}
    assert out == {'allocate': 200, 'perm_eu-central': 200, 'perm_us-east': 403}, out
    dropped = (metric(nodes['eu-west'].metrics(), 'turnpike_relay_dropped_packets_total', reason='peer_denied') or 0) - before
    assert dropped >= 5, f'data from the us-east peer: {dropped} packets counted as peer_denied (want 5)'
    assert got['eu-central'] == 'hello from eu-west', f'eu-central peer received {got["eu-central"]!r}'
    assert got['us-east'] == '', f'the us-east peer received {got["us-east"]!r}'
    text = nodes['eu-west'].metrics()
    denied = metric(text, 'turnpike_residency_denied_total', kind='peer', region='us-east')
    assert denied == 1, f'turnpike_residency_denied_total{{kind="peer",region="us-east"}} {denied}'
    # The end record (logged when the allocation goes) proves where it was served and relayed.
    return (f'eu-central peer got the data; us-east peer 403 and nothing received; denied counted; '
            f'{int(dropped)} packets from the us-east peer dropped as peer_denied, none reached the client')


# uclient's flags and the eu-west port it starts at, per transport; a redirect must keep the transport.
UCLIENT_TRANSPORTS = {'udp': ([], PORT), 'tcp': (['-t'], PORT), 'tls': (['-t', '-S'], TLS_PORT), 'dtls': (['-S'], TLS_PORT)}


def check_redirect(lab, nodes):
    node_ip = REGIONS['eu-west']['node']
    said = []
    for transport, (flags, port) in UCLIENT_TRANSPORTS.items():
        eu0, us0 = nodes['eu-west'].metrics(), nodes['us-east'].metrics()
        r = lab.run(lab.ns('us-east', 'client'), ['/usr/bin/turnutils_uclient', *flags, '-u', 'alice', '-w', 'wonderland',
                                                  '-y', '-m', '1', '-n', '10', '-l', '120', '-p', str(port), node_ip],
                    timeout=90)
        text = r.stdout + r.stderr
        eu, us = nodes['eu-west'].metrics(), nodes['us-east'].metrics()
        redirects = grew(eu0, eu, 'turnpike_residency_redirects_total', to_region='us-east')
        eu_served = grew(eu0, eu, 'turnpike_allocate_requests_total', result='success')
        served = grew(us0, us, 'turnpike_allocate_requests_total', result='success', transport=transport)
        relayed = grew(us0, us, 'turnpike_relay_packets_total', direction='to_client', transport=transport)
        assert redirects >= 1, f'{transport}: no redirect counted on eu-west: {text[-600:]}'
        assert eu_served == 0, f'{transport}: eu-west allocated {eu_served} for a us-east client'
        assert served >= 1, f'{transport}: the us-east node served nothing over {transport} after the redirect; uclient said:\n{text[-1200:]}'
        assert relayed >= 10, f'{transport}: the us-east node relayed {relayed} packets to uclient over {transport}'
        said.append(f'{transport} {int(redirects)}x300 then {int(served)} allocations, {int(relayed)} packets')
    return 'us-east uclient sent from eu-west to us-east and relayed there, over the same transport: ' + '; '.join(said)


# Chromium's TURN client with the eu-west node as its only ICE server, per transport: (URL, relayProtocol).
BROWSER_TRANSPORTS = {'udp': ('turn:{node}:%d?transport=udp' % PORT, 'udp'),
                      'tls': ('turns:{node}:%d?transport=tcp' % TLS_PORT, 'tls')}


def check_redirect_browser(lab, nodes):
    """Headless Chromium in us-east, relay-only, given the eu-west node: it must follow the 300 to the
    us-east node over the same transport and relay video there (every relay candidate on us-east)."""
    said = []
    pins = [browser.spki_sha256_b64(n.tls[0]) for n in nodes.values()]
    for transport, (url, protocol) in BROWSER_TRANSPORTS.items():
        eu0, us0 = nodes['eu-west'].metrics(), nodes['us-east'].metrics()
        argv = ['/usr/bin/python3', str(HERE / 'relay_browser.py'), '--turn-url', url.format(node=REGIONS['eu-west']['node']),
                '--relay-address', REGIONS['us-east']['node'], '--relay-protocol', protocol, '--deadline', '60']
        for pin in pins:
            argv += ['--spki', pin]
        r = lab.run(lab.ns('us-east', 'client'), argv, timeout=150)
        try:
            out = json.loads(r.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            out = {'ok': False, 'error': f'no result (exit {r.returncode}): {r.stderr[-1500:]}'}
        eu, us = nodes['eu-west'].metrics(), nodes['us-east'].metrics()
        redirects = grew(eu0, eu, 'turnpike_residency_redirects_total', to_region='us-east')
        eu_served = grew(eu0, eu, 'turnpike_allocate_requests_total', result='success')
        served = grew(us0, us, 'turnpike_allocate_requests_total', result='success', transport=transport)
        assert out.get('ok'), f'{transport}: {out.get("error")}\n{r.stderr[-1500:]}'
        assert redirects >= 1 and eu_served == 0, f'{transport}: eu-west redirected {redirects}, allocated {eu_served}'
        assert served >= 2, f'{transport}: the us-east node allocated {served} over {transport} (want one per peer connection)'
        said.append(f'{transport}: {int(redirects)}x300, {int(served)} allocations on us-east, {out["result"]}')
    return '; '.join(said)


def check_pinned(lab, nodes):
    expiry = int(time.time()) + 600
    user = f'{expiry}:bob:us-east'
    import base64
    import hashlib
    import hmac
    pw = base64.b64encode(hmac.new(SECRET.encode(), user.encode(), hashlib.sha1).digest()).decode()
    out = client(lab, 'eu-west', 'eu-west', user=user, pw=pw)
    assert out.get('allocate') == 300 and out.get('alternate') == f'{REGIONS["us-east"]["node"]}:{PORT}', out
    denied = metric(nodes['eu-west'].metrics(), 'turnpike_residency_redirects_total', to_region='us-east')
    return f'pinned to us-east from {REGIONS["eu-west"]["client"]}: 300 to {out["alternate"]} (redirects {denied})'


def check_drift(lab, binary, nodes):
    nodes['eu-west'].close()
    nodes['eu-west'] = start_node(lab, binary, 'eu-west', foreign='serve')
    # Keep the allocation open while the metrics are read: the client listens 4 s before exiting.
    script = client_script('us-east', 'eu-west', announce=True, listen=4.0)
    p = lab.popen(lab.ns('us-east', 'client'), ['/usr/bin/python3', '-c', script], stdout=subprocess.PIPE, text=True)
    first = p.stdout.readline()
    assert 'relayed' in json.loads(first or '{}'), f'the us-east client got no allocation: {first!r}'
    text = nodes['eu-west'].metrics()
    drift = metric(text, 'turnpike_region_drift_sessions', client_region='us-east')
    sessions = metric(text, 'turnpike_sessions', client_region='us-east', served_region='eu-west')
    p.communicate(timeout=20)
    assert drift == 1 and sessions == 1, f'drift {drift}, sessions {sessions}'
    return 'a us-east client served by eu-west shows in turnpike_region_drift_sessions'


def browse(lab, region, node_region, identity, seconds, results):
    """Headless Chromium in `region`'s client namespace joins a room of `node_region` on that node."""
    tok = harness.hs256_token({'room': 'ward-7', 'identity': identity, 'region': node_region,
                               'exp': int(time.time()) + 600}, harness.TOKEN_KEY)
    url = f'http://{REGIONS[node_region]["node"]}:{SIGNAL_PORT}/demo/?w=320&h=180&fps=15#token={tok}'
    r = lab.run(lab.ns(region, 'client'), ['/usr/bin/python3', str(HERE / 'nat_browser.py'), '--url', url,
                                           '--seconds', str(seconds)], timeout=seconds + 120)
    try:
        results[identity] = json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        results[identity] = {'exception': 'no result: ' + r.stderr[-800:]}


def in_threads(*calls):
    threads = [threading.Thread(target=fn, args=a, daemon=True) for fn, *a in calls]
    for t in threads:
        t.start()
    return threads


def wait_metrics(node, ok, timeout, what):
    """Polls the node's metrics until ok(text); returns the text."""
    end = time.monotonic() + timeout
    text = ''
    while time.monotonic() < end:
        text = node.metrics()
        if ok(text):
            return text
        time.sleep(0.5)
    raise AssertionError(f'{node.region}: {what} not seen in {timeout} s')


def told(result, code, url=None):
    err = (result.get('final') or {}).get('error') or result.get('error')
    text = json.dumps(err)
    return bool(err) and code in text and (url is None or url in text)


def check_sfu_media(lab, binary, nodes):
    """A us-east browser joining an eu-west room on the eu-west node: its media would come from
    us-east (its host address, or a relay on the us-east node after TURN's own redirect), so no
    check is answered and it is sent to us-east's signal_url; an eu-west browser in the same room
    connects and is counted as eu-west."""
    nodes['eu-west'].close()
    node = nodes['eu-west'] = start_node(lab, binary, 'eu-west', sfu=True)
    results = {}
    threads = in_threads((browse, lab, 'us-east', 'eu-west', 'traveller', 10, results),
                         (browse, lab, 'eu-west', 'eu-west', 'local', 10, results))
    us_url = f'wss://{REGIONS["us-east"]["node"]}:8443/signal'
    # While both are in the room: the eu-west browser's media session counts as eu-west.
    wait_metrics(node, lambda m: metric(m, 'turnpike_sfu_region_sessions', client_region='eu-west',
                                        served_region='eu-west') == 1, 60, 'an eu-west SFU media session')
    for t in threads:
        t.join(timeout=180)
    assert told(results.get('traveller', {}), 'wrong_region', us_url), f'the us-east browser saw {results.get("traveller")}'
    local = results.get('local', {})
    assert local.get('joined') and not (local.get('final') or {}).get('error'), f'the eu-west browser: {local}'
    # Counters, after both have gone: one media session ever formed, the eu-west one.
    text = node.metrics()
    sessions = metric(text, 'turnpike_sfu_sessions_total') or 0
    denied = metric(text, 'turnpike_residency_denied_total', kind='client', region='us-east') or 0
    assert sessions == 1, f'{sessions} media sessions formed: only the eu-west one may'
    assert denied >= 1, f'no refused us-east media address counted ({denied})'
    return (f'us-east browser told {us_url}, no media path ({int(denied)} address(es) refused); '
            f'eu-west browser connected and counted eu-west')


def check_sfu_drift_reload(lab, binary, nodes):
    """foreign_clients: serve lets the us-east browser's media in, counted as drift; a SIGHUP with
    foreign_clients: redirect ends that session (the browser is told where to go) and counts it."""
    nodes['eu-west'].close()
    node = nodes['eu-west'] = start_node(lab, binary, 'eu-west', foreign='serve', sfu=True)
    results = {}
    threads = in_threads((browse, lab, 'us-east', 'eu-west', 'traveller', 30, results))
    wait_metrics(node, lambda m: metric(m, 'turnpike_sfu_region_sessions', client_region='us-east',
                                        served_region='eu-west') == 1 and
                 (metric(m, 'turnpike_region_drift_sessions', client_region='us-east') or 0) >= 1,
                 60, 'the us-east browser served as drift')
    node.reload(node_config('eu-west', 'redirect', sfu=True, tls=node.tls))
    text = wait_metrics(node, lambda m: (metric(m, 'turnpike_sfu_region_sessions', client_region='us-east') or 0) == 0
                        and (metric(m, 'turnpike_residency_ended_total', client_region='us-east') or 0) >= 1,
                        15, 'the drift session ended after SIGHUP')
    for t in threads:
        t.join(timeout=180)
    us_url = f'wss://{REGIONS["us-east"]["node"]}:8443/signal'
    assert told(results.get('traveller', {}), 'wrong_region', us_url), f'the browser saw {results.get("traveller")}'
    drift = metric(text, 'turnpike_region_drift_sessions', client_region='us-east') or 0
    assert drift == 0, f'drift gauge {drift} after the reload'
    return 'served as drift, then ended by the reload and sent to us-east'


# Holds an allocation across a policy reload: prints a line, waits for one on stdin, prints another.
HOLD = r'''
import json, sys, time
sys.path.insert(0, %(here)r)
import stunclient
c = stunclient.TurnClient((%(server)r, %(port)d), local=('0.0.0.0', 0), timeout=5.0)
def code(r):
    return r.error_code if r.is_error else 200
out = {'allocate': code(c.allocate('alice', 'wonderland'))}
for peer in %(peers)r:
    out['perm'] = code(c.create_permission((peer, 40000)))
    c.send_indication((peer, 40000), b'before')
print(json.dumps(out), flush=True)
sys.stdin.readline()
out = {}
for peer in %(peers)r:
    c.send_indication((peer, 40000), b'after')
    out['perm'] = code(c.create_permission((peer, 40000)))
out['refresh'] = code(c.refresh(600))
time.sleep(0.5)
print(json.dumps(out), flush=True)
'''


def check_reload(lab, binary, nodes):
    """SIGHUP with a stricter policy: a drift-served us-east allocation is ended (its Refresh gets
    437) and an eu-west allocation's eu-central permission is revoked (the peer gets nothing more)."""
    nodes['eu-west'].close()
    node = nodes['eu-west'] = start_node(lab, binary, 'eu-west', foreign='serve')
    server = REGIONS['eu-west']['node']
    peer = lab.popen(lab.ns('eu-central', 'peer'), ['/usr/bin/python3', '-c', LISTENER, '12'],
                     stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    holders = {}
    for region, peers in (('eu-west', [REGIONS['eu-central']['peer']]), ('us-east', [])):
        script = HOLD % {'here': str(HERE), 'server': server, 'port': PORT, 'peers': peers}
        holders[region] = lab.popen(lab.ns(region, 'client'), ['/usr/bin/python3', '-c', script],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    first = {r: json.loads(p.stdout.readline()) for r, p in holders.items()}
    assert first == {'eu-west': {'allocate': 200, 'perm': 200}, 'us-east': {'allocate': 200}}, first
    assert metric(node.metrics(), 'turnpike_region_drift_sessions', client_region='us-east') == 1
    node.reload(node_config('eu-west', 'redirect', peer_regions=['eu-west'], tls=node.tls))
    text = wait_metrics(node, lambda m: (metric(m, 'turnpike_residency_ended_total', client_region='us-east') or 0) >= 1
                        and (metric(m, 'turnpike_residency_revoked_total', client_region='eu-west') or 0) >= 1,
                        10, 'the ended allocation and the revoked permission')
    after = {}
    for r, p in holders.items():
        p.stdin.write('go\n')
        p.stdin.flush()
        after[r] = json.loads(p.stdout.readline())
        p.wait(timeout=20)
    got = peer.communicate(timeout=20)[0].strip()
    assert after['us-east'] == {'refresh': 437}, f'the ended us-east allocation: {after["us-east"]}'
    assert after['eu-west'] == {'perm': 403, 'refresh': 200}, f'the eu-west allocation after the reload: {after["eu-west"]}'
    assert got == 'before', f'the eu-central peer received {got!r} (want only the data sent before the reload)'
    assert (metric(text, 'turnpike_region_drift_sessions', client_region='us-east') or 0) == 0
    return ('after SIGHUP: us-east allocation ended (Refresh 437), eu-central permission revoked '
            '(CreatePermission 403, the peer got only what was sent before)')


def check_config(binary):
    """`turnpike --check-config` on the catalog of this test: valid as is; an overlapping network, an
    unknown region name, or relay addresses outside the node's region exit 2 naming the key."""
    cases = [('valid', lambda c: c, None)]

    def overlap(c):
        c['regions']['eu-central']['networks'] = ['198.51.100.32/27']
        return c

    def unknown(c):
        c['residency']['peer_regions'] = ['eu-west', 'mars']
        return c

    def outside(c):
        c['relay']['addresses'] = [REGIONS['us-east']['node']]
        return c

    cases += [('overlapping networks', overlap, 'regions.eu-central.networks'),
              ('unknown region', unknown, 'residency.peer_regions'),
              ('relay outside the region', outside, 'relay.addresses')]
    lines = []
    with tempfile.TemporaryDirectory(prefix='turnpike-it-res-check-') as d:
        for name, change, key in cases:
            path = os.path.join(d, 'c.yaml')
            harness.write_config(change(node_config('eu-west')), path)
            r = subprocess.run([binary, '--check-config', path], capture_output=True, text=True, timeout=15)
            if key is None:
                assert r.returncode == 0, f'{name}: exit {r.returncode}: {r.stderr}'
            else:
                assert r.returncode == 2 and key in r.stderr, f'{name}: exit {r.returncode}: {r.stderr.strip()}'
            lines.append(f'{name}: exit {r.returncode}')
    return '; '.join(lines)


def check_sfu_wrong_region(args):
    cfg = harness.default_config()
    port = cfg['listen'][0]['port']
    cfg['region'] = 'eu-west'
    cfg['regions'] = {'eu-west': {'networks': ['127.0.0.0/8'], 'turn_urls': [f'turn:127.0.0.1:{port}'],
                                  'signal_url': 'ws://127.0.0.1:1/signal'},
                      'us-east': {'networks': ['203.0.113.0/24'], 'turn_urls': ['turn:203.0.113.10:3478'],
                                  'signal_url': 'wss://203.0.113.10:8443/signal'}}
    cfg['peers'] = {'allow': ['127.0.0.0/8'], 'deny': []}
    cfg['sfu'] = {'signal_listen': f'127.0.0.1:{harness.free_port("tcp")}',
                  'media_listen': f'127.0.0.1:{harness.free_port("udp")}', 'token_keys': [harness.TOKEN_KEY]}
    with harness.make_server(args, cfg) as srv:
        tok = harness.hs256_token({'room': 'ward-9', 'identity': 'traveller', 'region': 'us-east',
                                   'exp': int(time.time()) + 600}, harness.TOKEN_KEY)
        b = browser.Browser('wrong-region', [])
        try:
            b.drv.get(f'http://{cfg["sfu"]["signal_listen"]}/demo/?w=320&h=180&fps=15#token={tok}')
            end = time.monotonic() + 20
            err = None
            while time.monotonic() < end and not err:
                err = b.drv.execute_script('return (window.turnpikeDemo || {}).error || null;')
                time.sleep(0.3)
            time.sleep(2)  # anything that would set up media would have started by now
        finally:
            b.close()
        text = json.dumps(err)
        assert err and 'wrong_region' in text and 'wss://203.0.113.10:8443/signal' in text, f'the page saw {err}'
        m = metrics.scrape(srv)
        sessions = sum(v for v in [metric(m, 'turnpike_sfu_sessions_total')] if v) or 0
        participants = metric(m, 'turnpike_sfu_participants') or 0
        assert sessions == 0 and participants == 0, f'media path set up: sessions {sessions}, participants {participants}'
        # An identity with ':' must not pin the SFU's TURN credential to a region ("<expiry>:<user>:<region>").
        r = subprocess.run([srv.binary, 'token', '--config', srv.config_path, '--room', 'ward-9',
                            '--identity', 'sip:traveller:us-east'], capture_output=True, text=True, timeout=15)
        assert r.returncode == 0, r.stderr
        turn = [s for s in json.loads(r.stdout)['ice_servers'] if 'username' in s][0]
        assert turn['username'].split(':', 1)[1] == 'sip_traveller_us-east', turn['username']
        from integration import stunclient
        with stunclient.TurnClient(('127.0.0.1', port), timeout=5.0) as c:
            a = c.allocate(turn['username'], turn['credential'])
        assert not a.is_error, f'a loopback browser with that credential got {a.error_code} (pinned to us-east?)'
        return ('told: ' + (err.get('message') if isinstance(err, dict) else text)[:160] +
                '; an identity with colons does not pin its TURN credential')


def check_family_redirect(args):
    """On loopback: ::1 is us-east, 127.0.0.0/8 eu-west. uclient over IPv6 (UDP, then TCP) to the
    eu-west node is sent to the us-east node's IPv6 address, passing over the IPv4 URL us-east lists
    first (RFC 8489 14.15: the family of the request), and relays there."""
    p_eu6 = harness.free_port('udp', host='::1', also='tcp')
    p_us = harness.free_port('udp', host='::1', also='tcp')
    eu = harness.default_config()
    regions = {'eu-west': {'networks': ['127.0.0.0/8'], 'turn_urls': [f'turn:127.0.0.1:{eu["listen"][0]["port"]}']},
               'us-east': {'networks': ['::1/128'], 'turn_urls': ['turn:127.0.0.1:9', f'turn:[::1]:{p_us}']}}
    eu['listen'] += [{'transport': t, 'address': '::1', 'port': p_eu6} for t in ('udp', 'tcp')]
    eu.update(region='eu-west', regions=regions,
              residency={'client_regions': ['eu-west'], 'peer_regions': ['eu-west'], 'foreign_clients': 'redirect'})
    us = harness.default_config()
    us['listen'] = [{'transport': t, 'address': '::1', 'port': p_us} for t in ('udp', 'tcp')]
    us['relay']['addresses'] = ['::1']
    us['peers'] = {'allow': ['::1/128'], 'deny': []}
    us.update(region='us-east', regions=regions,
              residency={'client_regions': ['us-east'], 'peer_regions': ['us-east'], 'foreign_clients': 'redirect'})
    said = []
    with harness.make_server(args, eu) as eu_srv, harness.make_server(args, us) as us_srv:
        for transport, flags in (('udp', []), ('tcp', ['-t'])):
            res = harness.run_uclient(['-y', '-x', *flags, '-m', '1', '-n', '10', '-l', '120', '-u', 'alice',
                                       '-w', 'wonderland'], server=('::1', p_eu6), timeout=60)
            e, u = metrics.scrape(eu_srv), metrics.scrape(us_srv)
            redirects = metric(e, 'turnpike_residency_redirects_total', to_region='us-east') or 0
            eu_served = metric(e, 'turnpike_allocate_requests_total', result='success') or 0
            served = metric(u, 'turnpike_allocate_requests_total', result='success', transport=transport) or 0
            relayed = metric(u, 'turnpike_relay_packets_total', direction='to_client', transport=transport) or 0
            assert eu_served == 0, f'{transport}: eu-west allocated {eu_served} for a client at ::1'
            assert redirects >= len(said) + 1, f'{transport}: eu-west counted {redirects} redirects'
            assert served >= 1 and relayed >= 10, \
                f'{transport}: us-east allocated {served}, relayed {relayed}; uclient said:\n{res["output"][-1200:]}'
            said.append(f'{transport}: us-east allocated {int(served)}, relayed {int(relayed)}')
        eu_srv.check_alive()
        us_srv.check_alive()
    return 'an IPv6 client sent to [::1] past the IPv4 URL listed first; ' + '; '.join(said)


def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    args = ap.parse_args()
    binary = args.bin or os.environ.get('TURNPIKE_BIN') or str(harness.DEFAULT_TURNPIKE_BIN)
    t = harness.TestRunner('residency')
    t0 = time.monotonic()
    t.run('sfu_wrong_region', check_sfu_wrong_region, args)
    t.run('check_config', check_config, binary)
    t.run('family_redirect', check_family_redirect, args)
    ok, why = regionlab.available()
    if not ok:
        for name in ('peers', 'redirect', 'redirect_browser', 'pinned', 'drift', 'reload', 'sfu_media', 'sfu_drift_reload'):
            t.skip(name, why)
        return t.finish()
    with regionlab.RegionLab('tpr') as lab:
        nodes = {}
        try:
            for region in REGIONS:
                nodes[region] = start_node(lab, binary, region)
            t.run('peers', check_peers, lab, nodes)
            t.run('redirect', check_redirect, lab, nodes)
            t.run('redirect_browser', check_redirect_browser, lab, nodes)
            t.run('pinned', check_pinned, lab, nodes)
            t.run('drift', check_drift, lab, binary, nodes)
            t.run('reload', check_reload, lab, binary, nodes)
            t.run('sfu_media', check_sfu_media, lab, binary, nodes)
            t.run('sfu_drift_reload', check_sfu_drift_reload, lab, binary, nodes)
        finally:
            if t.failed:
                for n in nodes.values():
                    print(f'----- {n.region} log tail -----\n{n.log_tail(20)}')
            for n in nodes.values():
                n.close()
    print(f'(total {time.monotonic() - t0:.1f}s)')
    return t.finish()


if __name__ == '__main__':
    sys.exit(main())
