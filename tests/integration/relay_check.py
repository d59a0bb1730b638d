"""The relay check of test_chromium_relay.py, shared with relay_browser.py (a Chromium inside a lab
namespace, for test_residency.py): a page served from loopback (a secure context) with two
relay-only RTCPeerConnections in one tab, the fake camera, a single ICE server (alice /
wonderland); `run_relay_check` asserts sustained decoding, relay <-> relay on both ends, every relay
candidate on the server's relay address and, if asked, the local candidates' relayProtocol.
"""

import json
import os
import shutil
import sys
import tempfile
import time

from integration import browser
from integration.harness import PASSWORD, USER

PAGE = r"""<!doctype html>
<html><head><meta charset="utf-8"><title>turnpike relay test</title></head>
<body>
<video id="remote" autoplay playsinline muted width="320" height="240"></video>
<script>
'use strict';
window.T = {state: 'idle', error: null, log: [], iceStates: {}, candidates: {a: [], b: []},
            gatheringDone: {a: false, b: false}, candidateErrors: []};
function log(s) { T.log.push((performance.now() / 1000).toFixed(2) + ' ' + s); }

async function selectedPair(pc) {
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach(s => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  if (!pair) stats.forEach(s => {
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
  });
  if (!pair) return null;
  const l = stats.get(pair.localCandidateId), r = stats.get(pair.remoteCandidateId);
  return {
    state: pair.state, nominated: pair.nominated,
    bytesSent: pair.bytesSent, bytesReceived: pair.bytesReceived,
    local: l && {type: l.candidateType, protocol: l.protocol, address: l.address || l.ip, port: l.port,
                 relayProtocol: l.relayProtocol, url: l.url},
    remote: r && {type: r.candidateType, protocol: r.protocol, address: r.address || r.ip, port: r.port},
  };
}

async function inbound(pc) {
  const stats = await pc.getStats();
  let v = null;
  stats.forEach(s => { if (s.type === 'inbound-rtp' && (s.kind || s.mediaType) === 'video') v = s; });
  return v && {framesDecoded: v.framesDecoded || 0, framesReceived: v.framesReceived || 0,
               packetsReceived: v.packetsReceived || 0, packetsLost: v.packetsLost || 0,
               bytesReceived: v.bytesReceived || 0, frameWidth: v.frameWidth, frameHeight: v.frameHeight};
}

// The RTP side of both connections, as the browser's own getStats sees it (test_relay_quality.py
// compares it with the relay's "quality" record): every outbound-rtp and inbound-rtp with its SSRC
// (and RTX SSRC), the receiver's jitter, and the selected pair's currentRoundTripTime and relay
// candidate, per connection.
async function rtpOf(pc) {
  const stats = await pc.getStats();
  const out = {outbound: [], inbound: [], remoteInbound: [], pair: null};
  let pairId = null;
  stats.forEach(s => { if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId; });
  stats.forEach(s => {
    const kind = s.kind || s.mediaType;
    if (s.type === 'outbound-rtp')
      out.outbound.push({ssrc: s.ssrc, rtxSsrc: s.rtxSsrc || null, kind, packetsSent: s.packetsSent,
                         retransmittedPacketsSent: s.retransmittedPacketsSent || 0, bytesSent: s.bytesSent});
    else if (s.type === 'inbound-rtp')
      out.inbound.push({ssrc: s.ssrc, rtxSsrc: s.rtxSsrc || null, kind, packetsReceived: s.packetsReceived,
                        packetsLost: s.packetsLost, jitter: s.jitter,
                        retransmittedPacketsReceived: s.retransmittedPacketsReceived || 0,
                        nackCount: s.nackCount || 0});
    else if (s.type === 'remote-inbound-rtp')
      out.remoteInbound.push({ssrc: s.ssrc, kind, packetsLost: s.packetsLost, fractionLost: s.fractionLost,
                              jitter: s.jitter, roundTripTime: s.roundTripTime});
  });
  const pair = pairId && stats.get(pairId);
  if (pair) {
    const l = stats.get(pair.localCandidateId);
    out.pair = {currentRoundTripTime: pair.currentRoundTripTime, totalRoundTripTime: pair.totalRoundTripTime,
                responsesReceived: pair.responsesReceived,
                local: l && {type: l.candidateType, address: l.address || l.ip, port: l.port}};
  }
  return out;
}
window.rtpStats = async function () {
  const [a, b] = await Promise.all([rtpOf(T.a), rtpOf(T.b)]);
  return {a, b, t: Date.now()};
};

window.snapshot = async function () {
  if (!T.a || !T.b) return {state: T.state, error: T.error};
  return {
    state: T.state, error: T.error, iceStates: T.iceStates,
    pairA: await selectedPair(T.a), pairB: await selectedPair(T.b),
    inbound: await inbound(T.b), candidates: T.candidates, log: T.log.slice(-30),
    gatheringDone: T.gatheringDone, candidateErrors: T.candidateErrors.slice(-10),
  };
};

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const el = document.createElement('script');
    el.src = src; el.onload = resolve; el.onerror = () => reject(new Error('cannot load ' + src));
    document.head.appendChild(el);
  });
}

// report: {script, url, tags}: load the call-report snippet from Turnpike (another origin) and
// watch both connections; window.endCalls() then sends both reports.
window.startTest = async function (turnUrl, username, credential, report, audio) {
  T.state = 'starting';
  try {
    const cfg = {iceServers: [{urls: turnUrl, username: username, credential: credential}],
                 iceTransportPolicy: 'relay'};
    if (report) await loadScript(report.script);
    const a = new RTCPeerConnection(cfg), b = new RTCPeerConnection(cfg);
    T.a = a; T.b = b;
    if (report) {
      T.watches = [a, b].map(pc => TurnpikeCallReport.watch(pc, {url: report.url, username, credential,
                                                                   tags: report.tags}));
    }
    const wire = (pc, other, name) => {
      pc.onicecandidate = e => {
        if (!e.candidate) { T.gatheringDone[name] = true; log(name + ' gathering done'); return; }
        T.candidates[name].push(e.candidate.candidate);
        log(name + ' cand ' + e.candidate.candidate);
        other.addIceCandidate(e.candidate).catch(err => log(name + ' addIceCandidate: ' + err));
      };
      pc.onicecandidateerror = e => {
        T.candidateErrors.push(name + ': ' + e.errorCode + ' ' + e.errorText);
        log(name + ' candidate error ' + e.errorCode + ' ' + e.errorText + ' ' + e.url);
      };
      pc.oniceconnectionstatechange = () => { T.iceStates[name] = pc.iceConnectionState; log(name + ' ice ' + pc.iceConnectionState); };
      pc.onconnectionstatechange = () => log(name + ' conn ' + pc.connectionState);
    };
    wire(a, b, 'a'); wire(b, a, 'b');
    b.ontrack = e => { document.getElementById('remote').srcObject = e.streams[0]; log('b ontrack'); };
    const stream = await navigator.mediaDevices.getUserMedia({video: {width: 320, height: 240, frameRate: 30}, audio: !!audio});
    stream.getTracks().forEach(t => a.addTrack(t, stream));
    const offer = await a.createOffer();
    await a.setLocalDescription(offer);
    await b.setRemoteDescription(offer);
    const answer = await b.createAnswer();
    await b.setLocalDescription(answer);
    await a.setRemoteDescription(answer);
    T.state = 'negotiated';
    log('negotiated');
  } catch (err) {
    T.state = 'error'; T.error = String(err && err.stack || err); log('error ' + T.error);
  }
};
window.endCalls = async function () {
  const answers = await Promise.all(T.watches.map(w => w.end()));
  return answers.map((x, i) => ({status: x.status, answer: x.answer || null, skipped: x.skipped || null,
                                 reported: T.watches[i].pair()}));
};
</script></body></html>
"""


def expected_call_path(pair):
    """The path label of turnpike_calls_total that a selected pair (as this page's own getStats
    reading gives it) means: the rule of docs/admin-api.md, written here independently."""
    local, remote = (pair.get('local') or {}).get('type'), (pair.get('remote') or {}).get('type')
    if local == 'relay':
        return 'relay_' + ((pair['local'].get('relayProtocol')) or 'udp')
    return 'relay_remote' if remote == 'relay' else 'direct'


def end_calls(drv, last):
    """Sends both connections' call reports (window.endCalls) and checks each answer: 202, with the
    path the browser's own selected pair means. Returns the answers."""
    answers = drv.execute_async_script(
        'const done = arguments[arguments.length - 1];'
        'window.endCalls().then(done, e => done({error: String(e)}));')
    if isinstance(answers, dict):
        raise AssertionError(f'call reports: {answers.get("error")}')
    for side, got in zip(('pairA', 'pairB'), answers):
        want = expected_call_path(last[side])
        if got.get('status') != 202 or (got.get('answer') or {}).get('path') != want:
            raise AssertionError(f'{side}: call report answered {got}, expected 202 with path {want!r} '
                                 f'(the selected pair {last[side]})')
    return answers


def snapshot(drv):
    return drv.execute_async_script(
        'const done = arguments[arguments.length - 1];'
        'window.snapshot().then(done, e => done({state: "error", error: String(e)}));')


def rtp_stats(drv):
    """The page's window.rtpStats(): {'a': ..., 'b': ..., 't': ms}, each connection's outbound-rtp,
    inbound-rtp and remote-inbound-rtp (ssrc, kind, counts, jitter in seconds) and its selected pair
    (currentRoundTripTime in seconds, the local candidate's address and port)."""
    got = drv.execute_async_script(
        'const done = arguments[arguments.length - 1];'
        'window.rtpStats().then(done, e => done({error: String(e)}));')
    if got.get('error'):
        raise AssertionError(f'rtpStats: {got["error"]}')
    return got


def run_relay_check(srv, deadline_s, min_frames=30, turn_url=None, relay_protocol=None,
                    chromium_args=(), lab_hosts=(), call_report=None, audio=False, hold=None):
    """Returns a one-line result string; raises AssertionError on failure.
    turn_url: the only ICE server (default turn:<udp listener>?transport=udp).
    relay_protocol: if set, both selected local candidates must have this
    relayProtocol ("udp", "tcp" or "tls"). chromium_args: extra browser flags. lab_hosts: see
    browser.chromium_options. call_report: {'script': URL of call-report.js, 'url': the
    call-reports endpoint, 'tags': {...}}: both connections report at the end (end_calls), and
    call_report['answers'] receives the answers. audio: the sender sends the fake microphone too.
    hold: called as hold(drv, last_snapshot) once every check passed, with the call still up (read
    the page with rtp_stats(drv)); what it returns (a string) is appended to the result."""
    t_end = time.monotonic() + deadline_s
    if turn_url is None:
        host, port = srv.turn_addr
        turn_url = f'turn:{host}:{port}?transport=udp'
    tmp = tempfile.mkdtemp(prefix='turnpike-it-chromium-')
    drv = service = None
    last = None
    try:
        with browser.PageServer.text(PAGE, 'relay.html') as page:
            drv, service = browser.make_driver(os.path.join(tmp, 'profile'), os.path.join(tmp, 'chromedriver.log'),
                                               chromium_args, lab_hosts)
            drv.get(page.url)
            drv.execute_script('window.startTest(arguments[0], arguments[1], arguments[2], arguments[3], '
                               'arguments[4]);', turn_url, USER, PASSWORD,
                               {k: call_report[k] for k in ('script', 'url', 'tags')} if call_report else None,
                               bool(audio))
            first = None     # (time, framesDecoded) once above min_frames
            while time.monotonic() < t_end:
                time.sleep(1.0)
                last = snapshot(drv)
                if last.get('state') == 'error':
                    raise AssertionError(f'page error: {last.get("error")}')
                gd = last.get('gatheringDone') or {}
                cands = last.get('candidates') or {}
                for side in ('a', 'b'):
                    if gd.get(side) and not cands.get(side):
                        raise AssertionError(
                            f'peer {side}: ICE gathering finished without any relay candidate; '
                            f'candidate errors: {last.get("candidateErrors")}')
                inb = last.get('inbound') or {}
                frames = inb.get('framesDecoded') or 0
                if first is None and frames > min_frames:
                    first = (time.monotonic(), frames)
                elif first is not None and time.monotonic() - first[0] >= 3.0:
                    if frames <= first[1]:
                        raise AssertionError(f'framesDecoded stalled: {first[1]} -> {frames} over '
                                             f'{time.monotonic() - first[0]:.1f}s')
                    break
                srv.check_alive()
            else:
                raise AssertionError(
                    f'no sustained decoding within {deadline_s}s: '
                    f'inbound={(last or {}).get("inbound")} ice={(last or {}).get("iceStates")}')
            for side in ('pairA', 'pairB'):
                p = last.get(side)
                if not p:
                    raise AssertionError(f'{side}: no selected candidate pair')
                lt = (p.get('local') or {}).get('type')
                rt = (p.get('remote') or {}).get('type')
                if lt != 'relay' or rt != 'relay':
                    raise AssertionError(f'{side}: selected pair is {lt} <-> {rt}, expected relay <-> relay: {p}')
            # every gathered candidate must be a relay candidate on the TURN relay address
            for side, cands in (last.get('candidates') or {}).items():
                for c in cands:
                    if ' typ relay' not in c:
                        raise AssertionError(f'{side}: non-relay candidate gathered: {c}')
            if relay_protocol is not None:
                for side in ('pairA', 'pairB'):
                    got = (last[side].get('local') or {}).get('relayProtocol')
                    if got != relay_protocol:
                        raise AssertionError(f'{side}: local candidate relayProtocol is {got!r}, '
                                             f'expected {relay_protocol!r}: {last[side]}')
            held = hold(drv, last) if hold is not None else None
            if call_report is not None:
                call_report['answers'] = end_calls(drv, last)
            pa = last['pairA']
            relay_ips = srv.config['relay']['addresses']
            for p in (last['pairA'], last['pairB']):
                for end in ('local', 'remote'):
                    addr = p[end].get('address')
                    if addr and addr not in relay_ips:
                        raise AssertionError(f'{end} candidate address {addr} not a relay address {relay_ips}')
            inb = last['inbound']
            return (f'framesDecoded {first[1]} -> {inb["framesDecoded"]}, '
                    f'{inb.get("frameWidth")}x{inb.get("frameHeight")}, packetsLost={inb["packetsLost"]}, '
                    f'pair {pa["local"]["address"]}:{pa["local"]["port"]} (relay) <-> '
                    f'{pa["remote"]["address"]}:{pa["remote"]["port"]} (relay), '
                    f'relayProtocol {pa["local"].get("relayProtocol")}' + (f'; {held}' if held else ''))
    except AssertionError:
        if last:
            print('  last page snapshot:\n' + json.dumps(last, indent=1)[:6000], file=sys.stderr)
        raise
    finally:
        if drv is not None:
            try:
                drv.quit()
            except Exception as e:  # noqa: BLE001
                print(f'  (driver.quit failed: {e})', file=sys.stderr)
        if service is not None:
            browser.kill_service(service)
        if os.environ.get('TURNPIKE_KEEP_TMP') != '1':
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f'  (chromium temp dir kept: {tmp})', file=sys.stderr)
