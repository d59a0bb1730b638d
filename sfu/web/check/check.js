// Turnpike's pre-call check (/check/, docs/check.md): plain JavaScript, no dependencies. Runs the
// tests in order, shows each verdict with its figures, then posts the whole result to the node
// (POST /api/v1/check-reports) and shows the id it answers. State for tests: window.turnpikeCheck.
'use strict';
(() => {
  const params = new URLSearchParams(location.search);
  const quick = params.get('quick') === '1';
  const num = (name, def, max) => {
    const v = Number(params.get(name));
    return Number.isFinite(v) && v > 0 ? Math.min(v, max) : def;
  };
  const T = {
    turnTimeoutMs: num('timeout', quick ? 4 : 10, 60) * 1000,
    pingSeconds: num('seconds', quick ? 3 : 10, 120),
    rateSeconds: num('rate_seconds', quick ? 1 : 4, 60),
    natTimeoutMs: (quick ? 3 : 6) * 1000,
    pingEveryMs: quick ? 10 : 20,  // quick: as many samples in less time
  };
  const LIMITS = {lossPct: 5, rttMs: num('max_rtt_ms', 300, 60000), jitterMs: num('max_jitter_ms', 30, 60000),
                  kbps: num('min_kbps', 300, 1e6)};
  const TRANSPORTS = ['udp', 'tcp', 'tls'];
  const NAMES = {udp: 'UDP', tcp: 'TCP', tls: 'TLS'};
  const state = window.turnpikeCheck = {done: false, result: null, id: null, error: null};
  const $ = id => document.getElementById(id);
  const round = (v, d = 1) => v == null ? null : Math.round(v * 10 ** d) / 10 ** d;
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const progress = text => { $('progress').textContent = text; };

  // ---- display ----
  function verdict(id, kind, text) {
    const el = $('v-' + id);
    el.className = 'verdict ' + kind;
    el.textContent = text;
  }
  function rows(id, pairs) {
    const t = $('t-' + id);
    t.textContent = '';
    for (const [k, v] of pairs) {
      const tr = t.insertRow();
      const th = document.createElement('th');
      th.scope = 'row';
      th.textContent = k;
      tr.appendChild(th);
      tr.insertCell().textContent = v == null ? '—' : String(v);
    }
  }
  const portOf = url => (url.split('?')[0].match(/:(\d+)$/) || [])[1] || '';

  // ---- 0. the node's settings: region, TURN URLs and credentials, STUN addresses ----
  async function fetchConfig() {
    const q = params.get('token') ? '?token=' + encodeURIComponent(params.get('token')) : '';
    const r = await fetch('/check/config' + q, {cache: 'no-store'});
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || `the server answered ${r.status}`);
    return body;
  }

  // ---- 5. (run first: the permission answer also lets the browser show its own addresses) ----
  async function withTimeout(p, ms, what) {
    let timer;
    const t = new Promise((_, rej) => { timer = setTimeout(() => rej(Object.assign(new Error(what), {name: 'Timeout'})), ms); });
    try { return await Promise.race([p, t]); } finally { clearTimeout(timer); }
  }
  async function oneDevice(constraints) {
    try {
      const s = await withTimeout(navigator.mediaDevices.getUserMedia(constraints), 30000, 'no answer to the permission question');
      s.getTracks().forEach(t => t.stop());
      return 'allowed';
    } catch (e) {
      if (e.name === 'NotAllowedError' || e.name === 'SecurityError') return 'denied';
      if (e.name === 'NotFoundError' || e.name === 'OverconstrainedError') return 'absent';
      return 'unknown';
    }
  }
  async function checkDevices() {
    const out = {user_agent: navigator.userAgent.slice(0, 512), camera: 'unknown', microphone: 'unknown',
                 cameras: 0, microphones: 0, mtu_hint: null,
                 mtu_source: 'not measurable in a browser: WebRTC keeps its packets under about 1200 bytes, so any path MTU of 1280 or more is enough'};
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return out;
    out.camera = await oneDevice({video: true});
    out.microphone = await oneDevice({audio: true});
    try {
      const devices = await navigator.mediaDevices.enumerateDevices();
      out.cameras = devices.filter(d => d.kind === 'videoinput').length;
      out.microphones = devices.filter(d => d.kind === 'audioinput').length;
    } catch (e) { /* counts stay 0 */ }
    if (out.cameras === 0 && out.camera === 'unknown') out.camera = 'absent';
    if (out.microphones === 0 && out.microphone === 'unknown') out.microphone = 'absent';
    return out;
  }

  // ---- 1. TURN reachability per transport: relay only, that URL only ----
  function turnProbe(cfg, transport, timeoutMs) {
    const url = cfg.turn[transport];
    if (!url) return Promise.resolve({ok: false, setup_ms: null, error: 'this server offers no TURN over ' + NAMES[transport], url: null});
    return new Promise(resolve => {
      const start = performance.now();
      const errors = [];
      let pc, timer, done = false;
      const why = fallback => errors.length ? errors.slice(0, 3).join('; ') : fallback;
      const finish = r => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        try { pc.close(); } catch (e) { /* closed */ }
        resolve(Object.assign({url}, r));
      };
      try {
        pc = new RTCPeerConnection({iceServers: [{urls: [url], username: cfg.username, credential: cfg.credential}],
                                    iceTransportPolicy: 'relay'});
      } catch (e) {
        return resolve({ok: false, setup_ms: null, error: 'the browser refused the TURN URL: ' + e.message, url});
      }
      pc.addEventListener('icecandidateerror', e => errors.push(`error ${e.errorCode}${e.errorText ? ': ' + e.errorText : ''}`));
      pc.addEventListener('icecandidate', e => {
        if (e.candidate && / typ relay /.test(e.candidate.candidate))
          finish({ok: true, setup_ms: round(performance.now() - start), error: null});
        else if (!e.candidate)
          finish({ok: false, setup_ms: null, error: why('the browser finished trying without a relay address')});
      });
      const late = `no relay address within ${timeoutMs / 1000} s`;
      timer = setTimeout(() => finish({ok: false, setup_ms: null,
                                       error: errors.length ? `${late} (${why('')})` : `${late}: no answer, blocked on the way?`}), timeoutMs);
      pc.createDataChannel('probe');
      pc.createOffer().then(o => pc.setLocalDescription(o))
        .catch(e => finish({ok: false, setup_ms: null, error: 'the browser could not start: ' + e.message}));
    });
  }
  async function checkTransports(cfg) {
    const all = await Promise.all(TRANSPORTS.map(t => turnProbe(cfg, t, T.turnTimeoutMs)));
    const out = {};
    TRANSPORTS.forEach((t, i) => { out[t] = all[i]; });
    return out;
  }

  // ---- 2. quality through the relay: two relay-only connections in this page ----
  async function connectLoop(cfg, url) {
    const conf = {iceServers: [{urls: [url], username: cfg.username, credential: cfg.credential}], iceTransportPolicy: 'relay'};
    const a = new RTCPeerConnection(conf), b = new RTCPeerConnection(conf);
    a.onicecandidate = e => { if (e.candidate) b.addIceCandidate(e.candidate).catch(() => {}); };
    b.onicecandidate = e => { if (e.candidate) a.addIceCandidate(e.candidate).catch(() => {}); };
    // The probe: lost stays lost, as with media. The bulk channel is reliable (SCTP's congestion
    // control paces it), so its rate is what the path carries, not what survived a flood.
    const aProbe = a.createDataChannel('probe', {ordered: false, maxRetransmits: 0});
    const aBulk = a.createDataChannel('bulk', {ordered: false});
    const far = {};
    const opened = new Promise(res => {
      b.ondatachannel = e => { far[e.channel.label] = e.channel; if (far.probe && far.bulk) res(); };
    });
    const offer = await a.createOffer();
    await a.setLocalDescription(offer);
    await b.setRemoteDescription(offer);
    const answer = await b.createAnswer();
    await b.setLocalDescription(answer);
    await a.setRemoteDescription(answer);
    const aOpen = new Promise(res => { if (aProbe.readyState === 'open') res(); else aProbe.onopen = res; });
    await withTimeout(Promise.all([opened, aOpen]), T.turnTimeoutMs * 2, 'the relayed connection did not open');
    return {a, b, aProbe, aBulk, bProbe: far.probe, bBulk: far.bulk};
  }
  // Timestamped messages a -> b, echoed b -> a: one-way loss and jitter (RFC 3550 6.4.1, on the
  // one-way transit time: both ends share this page's clock) and the round trip.
  async function pingLoop(L) {
    let sent = 0, received = 0, jitter = 0, lastTransit = null;
    const rtts = [];
    L.bProbe.onmessage = e => {
      const m = JSON.parse(e.data);
      received++;
      const transit = performance.now() - m.t;
      if (lastTransit != null) jitter += (Math.abs(transit - lastTransit) - jitter) / 16;
      lastTransit = transit;
      L.bProbe.send(e.data);
    };
    L.aProbe.onmessage = e => { rtts.push(performance.now() - JSON.parse(e.data).t); };
    const end = performance.now() + T.pingSeconds * 1000;
    while (performance.now() < end) {
      L.aProbe.send(JSON.stringify({s: sent++, t: performance.now(), pad: 'x'.repeat(100)}));
      await sleep(T.pingEveryMs);
    }
    await sleep(500);  // the last ones in flight
    rtts.sort((x, y) => x - y);
    return {sent, received, loss: sent ? Math.max(0, 1 - received / sent) : null,
            rtt_ms: rtts.length ? round(rtts[Math.floor(rtts.length / 2)]) : null, jitter_ms: round(jitter)};
  }
  // As much as the path takes from `from` to `to` for T.rateSeconds: kbit/s received in that time.
  // Then the sender's queue drains (at most 3 s) so that the next direction starts on an idle path.
  async function rate(from, to) {
    let bytes = 0;
    const chunk = new Uint8Array(1000);
    const start = performance.now(), end = start + T.rateSeconds * 1000;
    to.onmessage = e => { if (performance.now() <= end) bytes += e.data.byteLength || e.data.size || e.data.length || 0; };
    while (performance.now() < end) {
      while (from.bufferedAmount < 64 * 1024 && performance.now() < end) from.send(chunk);
      await sleep(5);
    }
    for (let i = 0; i < 60 && from.bufferedAmount > 0; i++) await sleep(50);
    to.onmessage = null;
    return round(bytes * 8 / (end - start), 0);  // bits per ms = kbit/s
  }
  async function checkMedia(cfg, transports) {
    const best = TRANSPORTS.find(t => transports[t].ok);
    if (!best) return null;
    const L = await connectLoop(cfg, transports[best].url);
    try {
      const p = await pingLoop(L);
      L.aBulk.binaryType = L.bBulk.binaryType = 'arraybuffer';
      const up = await rate(L.aBulk, L.bBulk), down = await rate(L.bBulk, L.aBulk);
      const max = L.a.sctp ? L.a.sctp.maxMessageSize : null;
      return {transport: best, rtt_ms: p.rtt_ms, jitter_ms: p.jitter_ms, loss: p.loss == null ? null : round(p.loss, 4),
              sent: p.sent, received: p.received, up_kbps: up, down_kbps: down, seconds: T.pingSeconds, max_message: max};
    } finally {
      L.a.close();
      L.b.close();
    }
  }

  // ---- 3. NAT mapping from the browser: one connection, the node's STUN addresses ----
  function gather(pc, timeoutMs) {
    return new Promise(resolve => {
      const cands = [];
      const timer = setTimeout(() => resolve(cands), timeoutMs);
      pc.onicecandidate = e => {
        if (e.candidate && e.candidate.candidate) cands.push(e.candidate.candidate);
        else if (!e.candidate) { clearTimeout(timer); resolve(cands); }
      };
    });
  }
  function parseCandidate(line) {
    const f = line.replace(/^a=/, '').split(' ');
    const typ = f[f.indexOf('typ') + 1];
    const raddr = f.indexOf('raddr') > 0 ? f[f.indexOf('raddr') + 1] : null;
    return {protocol: (f[2] || '').toLowerCase(), address: f[4], port: f[5], typ, raddr};
  }
  // docs/nat.md's names, as `turnpike-diag nat` prints them: the servers are [A, then A's IP with
  // another port, then another IP with A's port] (GET /check/config), so two distinct mappings
  // out of three mean address-dependent and three mean address-and-port-dependent (RFC 4787 4.1).
  function classify(stun, srflx, hosts, udpTurnOk) {
    const mapped = [...new Set(srflx.map(c => c.address + ':' + c.port))];
    if (mapped.length === 0)
      return udpTurnOk ? {mapping: 'no_nat', udp_reachable: true, mapped, why: 'no separate public address: the browser drops one equal to its own'}
                       : {mapping: 'unknown', udp_reachable: false, mapped, why: 'no answer over UDP'};
    const own = new Set(hosts.map(c => c.address).concat(srflx.map(c => c.raddr)).filter(a => a && a !== '0.0.0.0' && a !== '::'));
    if (srflx.some(c => own.has(c.address))) return {mapping: 'no_nat', udp_reachable: true, mapped, why: 'the public address is the computer\'s own'};
    if (mapped.length === 1) return {mapping: 'endpoint_independent', udp_reachable: true, mapped, why: 'one public address for every server'};
    const ips = new Set(stun.map(u => u.replace(/^stun:/, '').replace(/:\d+$/, '')));
    const portsOnly = ips.size === 1;  // two servers on one IP: differing answers are port-dependent
    const apd = mapped.length >= 3 || portsOnly;
    return {mapping: apd ? 'address_and_port_dependent' : 'address_dependent', udp_reachable: true, mapped,
            why: 'a different public address for ' + (apd ? 'each server port' : 'each server address')};
  }
  async function checkNat(cfg, transports) {
    const stun = (cfg.stun || []).slice(0, 3);
    if (!stun.length) return {mapping: 'unknown', udp_reachable: !!transports.udp.ok, mapped: [], servers: 0, why: 'the server names no STUN address'};
    const pc = new RTCPeerConnection({iceServers: [{urls: stun}]});
    try {
      pc.createDataChannel('nat');
      const got = gather(pc, T.natTimeoutMs);
      await pc.setLocalDescription(await pc.createOffer());
      const cands = (await got).map(parseCandidate).filter(c => c.protocol === 'udp');
      const r = classify(stun, cands.filter(c => c.typ === 'srflx'), cands.filter(c => c.typ === 'host'), transports.udp.ok);
      return Object.assign(r, {servers: stun.length});
    } finally {
      pc.close();
    }
  }
  const NAT_WORDS = {
    no_nat: 'No address translation: this computer has a public address',
    endpoint_independent: 'Endpoint-independent mapping ("cone" NAT): calls can often connect directly',
    address_dependent: 'Address-dependent mapping: direct calls are unlikely; calls use the relay',
    address_and_port_dependent: 'Address-and-port-dependent mapping ("symmetric" NAT): calls use the relay',
    unknown: 'Unknown: UDP gets no answer from this network',
  };

  // ---- the overall verdict, in plain words ----
  function overall(r) {
    const reasons = [];
    const ok = TRANSPORTS.filter(t => r.transports[t].ok);
    if (!ok.length) {
      const why = TRANSPORTS.map(t => `${NAMES[t]}: ${r.transports[t].error}`).join('; ');
      return {verdict: 'blocked', reasons: [`Calls cannot connect from this network: the call server cannot be reached over UDP, TCP or TLS (${why}).`.slice(0, 300)]};
    }
    if (!r.transports.udp.ok) {
      const best = ok[0];
      reasons.push(`UDP is blocked: calls will use TURN over ${NAMES[best]} on port ${portOf(r.transports[best].url)}, which adds latency.`);
    }
    const m = r.media;
    if (!m) reasons.push('The connection through the call server did not carry test data.');
    else {
      if (m.loss != null && m.loss * 100 > LIMITS.lossPct) reasons.push(`${round(m.loss * 100)}% of the test packets were lost: video may freeze and voices break up.`);
      if (m.rtt_ms != null && m.rtt_ms > LIMITS.rttMs) reasons.push(`The round trip takes ${round(m.rtt_ms, 0)} ms: conversations will feel delayed.`);
      if (m.jitter_ms != null && m.jitter_ms > LIMITS.jitterMs) reasons.push(`Packet timing varies by ${round(m.jitter_ms, 0)} ms (jitter): audio may stutter.`);
      const low = Math.min(m.up_kbps || 0, m.down_kbps || 0);
      if (low < LIMITS.kbps) reasons.push(`Only ${low} kbit/s got through in one direction: video will be blurry or off.`);
    }
    for (const [key, word] of [['camera', 'camera'], ['microphone', 'microphone']]) {
      const v = r.browser[key];
      if (v === 'denied') reasons.push(`The browser is not allowed to use the ${word}: allow it in the address bar or site settings.`);
      if (v === 'absent') reasons.push(`No ${word} was found: plug one in or check the cart's cable.`);
    }
    if (r.region.ok === false) reasons.push(`Calls are served from region "${r.region.served}", but this site expects "${r.region.expected}".`);
    return {verdict: reasons.length ? 'degraded' : 'ready', reasons};
  }

  // ---- each section's verdict and figures ----
  function showTransports(tr) {
    const ok = TRANSPORTS.filter(t => tr[t].ok);
    verdict('turn', !ok.length ? 'bad' : tr.udp.ok ? 'ok' : 'warn',
            !ok.length ? 'Blocked: no way through' : tr.udp.ok ? 'Reachable over UDP (best)' : `UDP blocked; reachable over ${ok.map(t => NAMES[t]).join(' and ')}`);
    rows('turn', TRANSPORTS.map(t => [`TURN over ${NAMES[t]}${tr[t].url ? ' (port ' + portOf(tr[t].url) + ')' : ''}`,
      tr[t].ok ? `works: relay address in ${round(tr[t].setup_ms, 0)} ms` : tr[t].url ? `blocked: ${tr[t].error}` : 'not offered by this server']));
  }
  function showMedia(m, err) {
    if (!m) {
      verdict('media', 'bad', 'Not measured');
      return rows('media', [['Why', err || 'no transport reached the server']]);
    }
    const bad = (m.loss || 0) * 100 > LIMITS.lossPct || m.rtt_ms > LIMITS.rttMs || m.jitter_ms > LIMITS.jitterMs ||
                Math.min(m.up_kbps, m.down_kbps) < LIMITS.kbps;
    verdict('media', bad ? 'warn' : 'ok', bad ? 'Calls will work, with reduced quality' : 'Good for video calls');
    rows('media', [['Measured over', `TURN over ${NAMES[m.transport]}`],
                   ['Round trip (median)', `${m.rtt_ms} ms`], ['Jitter', `${m.jitter_ms} ms`],
                   ['Packet loss', `${round(m.loss * 100)}% (${m.sent - m.received} of ${m.sent} packets in ${m.seconds} s)`],
                   ['Bitrate, first direction', `${m.up_kbps} kbit/s`], ['Bitrate, other direction', `${m.down_kbps} kbit/s`]]);
  }
  function showNat(n) {
    verdict('nat', n.mapping === 'unknown' ? 'bad' : n.mapping.startsWith('address') ? 'warn' : 'ok', NAT_WORDS[n.mapping]);
    rows('nat', [['Mapping', n.mapping], ['UDP reachable', n.udp_reachable ? 'yes' : 'no'],
                 ['Public addresses seen', n.mapped.length ? n.mapped.join(', ') : 'none'],
                 ['Servers asked', n.servers], ['Reading', n.why]]);
  }
  function showRegion(g) {
    verdict('region', g.ok === false ? 'warn' : 'ok', g.ok === false ? 'Served from another region than expected' :
            g.ok ? 'Served from the expected region' : 'Served (no expected region given)');
    rows('region', [['Served by region', g.served || 'unnamed'], ['Expected region', g.expected]]);
  }
  function showBrowser(b) {
    const good = b.camera === 'allowed' && b.microphone === 'allowed';
    verdict('browser', good ? 'ok' : 'warn', good ? 'Camera and microphone ready' : 'Camera or microphone not ready');
    rows('browser', [['Browser', b.user_agent], ['Camera', `${b.camera} (${b.cameras} found)`],
                     ['Microphone', `${b.microphone} (${b.microphones} found)`],
                     ['MTU', b.mtu_source + (b.max_message ? `; largest data-channel message: ${b.max_message} bytes` : '')]]);
  }
  function showOverall(r, id, postError) {
    const words = {ready: 'Ready for video calls', degraded: 'Calls will work, with problems', blocked: 'Calls will not work from here'};
    $('overall').className = r.verdict;
    $('overall-verdict').textContent = words[r.verdict];
    const ul = $('overall-reasons');
    ul.textContent = '';
    for (const why of r.reasons.length ? r.reasons : ['Everything a call needs works on this computer and network.']) {
      const li = document.createElement('li');
      li.textContent = why;
      ul.appendChild(li);
    }
    const share = $('share');
    share.textContent = '';
    if (id) {
      share.append('Result id (give it to your IT team): ');
      const code = document.createElement('span');
      code.id = 'resultid';
      code.textContent = id;
      share.append(code);
    } else {
      share.textContent = 'The result could not be saved on the server: ' + postError;
    }
  }

  async function post(result) {
    const r = await fetch('/api/v1/check-reports', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                     body: JSON.stringify(result)});
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || `the server answered ${r.status}`);
    return body.id;
  }

  async function run() {
    const t0 = performance.now();
    progress('Asking the server for its settings…');
    const cfg = await fetchConfig();
    progress('Checking the camera and microphone (the browser may ask you to allow them)…');
    const browser = await checkDevices();
    progress('1 of 5: reaching the call server over UDP, TCP and TLS…');
    const transports = await checkTransports(cfg);
    showTransports(transports);
    progress('2 of 5: measuring call quality through the server…');
    let media = null, mediaError = null;
    try { media = await checkMedia(cfg, transports); } catch (e) { mediaError = e.message; }
    showMedia(media, mediaError);
    progress('3 of 5: looking at your network\'s address translation…');
    const nat = await checkNat(cfg, transports);
    showNat(nat);
    progress('4 of 5: where calls are served…');
    const expected = params.get('region') || cfg.expected_region || null;
    const region = {served: cfg.region || '', expected, ok: expected ? cfg.region === expected : null};
    showRegion(region);
    progress('5 of 5: browser and devices…');
    if (media && media.max_message) browser.max_message = media.max_message;
    showBrowser(browser);
    const result = {version: 1, transports, media, nat, region, browser, tags: {}};
    const site = params.get('site');
    if (site && /^[A-Za-z0-9_.\/:-]{1,64}$/.test(site)) result.tags.site = site;
    if (nat.mapped.length) result.mapped = nat.mapped[0];
    Object.assign(result, overall(result));
    result.duration_ms = round(performance.now() - t0, 0);
    // Only the schema's fields go to the server (docs/check.md "The report").
    delete browser.max_message;
    if (media) delete media.max_message;
    delete nat.why;
    state.result = result;
    let id = null, postError = null;
    try { id = await post(result); } catch (e) { postError = e.message; }
    state.id = id;
    state.postError = postError;
    showOverall(result, id, postError);
    progress(`Done in ${round(result.duration_ms / 1000)} s.`);
  }

  run().catch(e => {
    state.error = e.message || String(e);
    $('overall').className = 'blocked';
    $('overall-verdict').textContent = 'The check could not run';
    $('overall-reasons').textContent = state.error;
    progress('Stopped.');
  }).finally(() => {
    state.done = true;
    if (params.get('close') === '1') setTimeout(() => window.close(), 300);  // tests: a headless browser ends
  });
})();
