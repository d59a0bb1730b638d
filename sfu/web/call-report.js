// call-report.js: tells Turnpike which path a WebRTC call took, at its end. Dependency-free; include
// it in any page that makes calls with RTCPeerConnection (served by Turnpike at /sdk/call-report.js,
// and part of /sdk/turnpike.js). Turnpike counts the reports in turnpike_calls_total{path, site}:
// the relayed percent of calls that never needed its SFU (docs/admin-api.md, "Call reports").
//
//   const watch = TurnpikeCallReport.watch(pc, {
//     url: 'https://turn.example:8443/api/v1/call-reports',  // the signalling port (or the admin port)
//     username, credential,                                   // the TURN credential of the iceServers
//     tags: {site: 'hq-3f', device: 'cart-7'},                // optional: where the call was made
//   });
//   ... the call ...
//   await watch.end();   // before pc.close(): sends the report (also sent by itself when the
//                        // connection fails or closes, or the page is hidden for good)
//
// What is reported: the selected candidate pair's local and remote candidate types (host, srflx,
// prflx, relay), the local relay's protocol to its TURN server (udp, tcp, tls), the seconds since
// the connection first connected, and the tags. Nothing else: no addresses, no media statistics.
// A call that never connected is not reported. One report per call, whatever ends it.
(function (global) {
  'use strict';

  const POLL_MS = 5000;  // how often the selected pair is read while the call lasts

  // The selected candidate pair of a getStats() report: the transport's selectedCandidatePairId
  // (Chromium, Safari), else the pair flagged `selected` (Firefox), else a nominated succeeded one.
  function selectedPair(report) {
    const byId = new Map();
    report.forEach((s) => byId.set(s.id, s));
    let pair = null;
    report.forEach((s) => {
      if (!pair && s.type === 'transport' && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId) || null;
    });
    report.forEach((s) => {
      if (!pair && s.type === 'candidate-pair' && s.selected) pair = s;
    });
    report.forEach((s) => {
      if (!pair && s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
    });
    if (!pair) return null;
    const local = byId.get(pair.localCandidateId);
    const remote = byId.get(pair.remoteCandidateId);
    if (!local || !remote || !local.candidateType || !remote.candidateType) return null;
    return {
      local_candidate_type: local.candidateType,
      remote_candidate_type: remote.candidateType,
      relay_protocol: local.candidateType === 'relay' ? (local.relayProtocol || 'udp') : null,
    };
  }

  // Reads the selected pair now; null if the connection is closed or has none.
  async function readPair(pc) {
    if (pc.connectionState === 'closed') return null;
    try {
      return selectedPair(await pc.getStats());
    } catch (_) {
      return null;
    }
  }

  function body(pair, options, seconds) {
    const out = Object.assign({}, pair, {duration_seconds: Math.max(0, Math.round(seconds * 10) / 10)});
    if (options.username) { out.username = options.username; out.credential = options.credential; }
    if (options.tags) out.tags = options.tags;
    return JSON.stringify(out);
  }

  // Posts one report. text/plain needs no CORS preflight; keepalive lets it outlive the page.
  async function post(url, text, beacon) {
    if (beacon && global.navigator && navigator.sendBeacon) {
      return {status: navigator.sendBeacon(url, new Blob([text], {type: 'text/plain'})) ? 202 : 0};
    }
    const r = await fetch(url, {method: 'POST', body: text, keepalive: true, mode: 'cors',
                                headers: {'Content-Type': 'text/plain'}});
    let answer = null;
    try { answer = await r.json(); } catch (_) { /* not JSON */ }
    return {status: r.status, answer};
  }

  // Watches one RTCPeerConnection and reports it once, at its end.
  function watch(pc, options) {
    if (!options || !options.url) throw new Error('TurnpikeCallReport.watch: options.url is required');
    let connectedAt = null;
    let last = null;
    let sent = null;
    let timer = null;

    const poll = async () => {
      const pair = await readPair(pc);
      if (pair) last = pair;
    };
    const send = async (beacon) => {
      if (sent) return sent;
      if (timer) clearInterval(timer);
      pc.removeEventListener('connectionstatechange', onState);
      if (global.removeEventListener) global.removeEventListener('pagehide', onHide);
      sent = (async () => {
        if (!beacon) await poll();
        if (!last || connectedAt === null) return {status: 0, skipped: 'the call never connected'};
        return post(options.url, body(last, options, (Date.now() - connectedAt) / 1000), beacon);
      })();
      return sent;
    };
    const onState = () => {
      const s = pc.connectionState;
      if (s === 'connected' && connectedAt === null) {
        connectedAt = Date.now();
        poll();
        timer = setInterval(poll, options.pollMs || POLL_MS);
      } else if (s === 'failed' || s === 'closed') {
        send(false);
      }
    };
    const onHide = (e) => { if (!e.persisted) send(true); };
    pc.addEventListener('connectionstatechange', onState);
    if (global.addEventListener) global.addEventListener('pagehide', onHide);
    onState();
    return {
      end: () => send(false),       // reads the pair once more, posts; resolves with {status, answer}
      pair: () => last,             // the selected pair as last read
    };
  }

  global.TurnpikeCallReport = {watch, selectedPair};
})(typeof window !== 'undefined' ? window : globalThis);
