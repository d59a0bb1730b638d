// The browser side of bench/sfu_fanout.py: one publisher (fake camera + microphone) and N
// subscribers, all RTCPeerConnections in this one page, against Turnpike's SFU (through its own SDK,
// /sdk/turnpike.js) or Janus's VideoRoom plugin (its HTTP REST API, below). Neither gets ICE servers:
// host candidates only, on loopback. Subscribers only receive: nothing is attached to a media element.
// The same snapshot() reads the counters for both servers.
'use strict';

const FanOut = {
  state: 'idle', error: null, log: [], server: null,
  pub: null,          // the publisher's RTCPeerConnection
  subs: [],           // the subscribers' RTCPeerConnections
  events: [],         // Janus events no request waited for (webrtcup, media, slowlink, hangup, ...)
};
window.FanOut = FanOut;

function log(s) {
  FanOut.log.push((performance.now() / 1000).toFixed(2) + ' ' + s);
  document.getElementById('status').textContent = FanOut.log.slice(-20).join('\n');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(what + ': timed out after ' + ms + ' ms')), ms); })])
    .finally(() => clearTimeout(t));
}

async function camera(o) {
  return navigator.mediaDevices.getUserMedia({
    audio: true,
    video: {width: {ideal: o.width}, height: {ideal: o.height}, frameRate: {ideal: o.fps}},
  });
}

// The same cap on the publisher's video for both servers (neither server's own estimate binds).
async function capVideo(pc, o) {
  for (const s of pc.getSenders()) {
    if (!s.track || s.track.kind !== 'video') continue;
    const p = s.getParameters();
    if (!p.encodings || !p.encodings.length) p.encodings = [{}];
    p.encodings[0].maxBitrate = o.maxBitrate;
    p.encodings[0].maxFramerate = o.fps;
    await s.setParameters(p);
  }
}

function waitConnected(pc, ms, what) {
  return withTimeout(new Promise((resolve, reject) => {
    const check = () => {
      if (pc.connectionState === 'connected') resolve();
      else if (pc.connectionState === 'failed' || pc.connectionState === 'closed') reject(new Error(what + ': ' + pc.connectionState));
    };
    pc.addEventListener('connectionstatechange', check);
    check();
  }), ms, what + ' connecting');
}

function waitGathered(pc, ms) {
  return withTimeout(new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
  }), ms, 'ICE gathering');
}

function loadScript(url) {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = url;
    s.onload = resolve;
    s.onerror = () => reject(new Error('cannot load ' + url));
    document.head.appendChild(s);
  });
}

// ------------------------------------------------------------------ Turnpike

// A Turnpike.Room whose join answer's ICE servers are dropped, so that the browser gathers host
// candidates only, as with Janus (the SFU is ICE-lite and needs none).
function turnpikeRoom(signalUrl, token, options) {
  const room = new window.Turnpike.Room(signalUrl, token, options);
  const connect = room._connect.bind(room);
  room._connect = () => connect().then((joined) => Object.assign(joined, {ice_servers: []}));
  room.addEventListener('error', (e) => log('turnpike error ' + JSON.stringify(e.detail)));
  return room;
}

FanOut.startTurnpike = async function (o) {
  FanOut.server = 'turnpike';
  FanOut.state = 'starting';
  await loadScript(o.sdkUrl);
  const stream = await camera(o);
  const pub = turnpikeRoom(o.signalUrl, o.pubToken, {stream, subscribe: false});
  await withTimeout(pub.join(), 20000, 'publisher join');
  await waitConnected(pub.pc, 20000, 'publisher');
  await capVideo(pub.pc, o);
  FanOut.pub = pub.pc;
  FanOut.pubRoom = pub;
  log('publisher connected');
  FanOut.rooms = [];
  for (let i = 0; i < o.subTokens.length; i++) {
    const r = turnpikeRoom(o.signalUrl, o.subTokens[i], {});
    await withTimeout(r.join(), 20000, 'subscriber ' + i + ' join');
    FanOut.rooms.push(r);
    FanOut.subs.push(r.pc);
  }
  await Promise.all(FanOut.subs.map((pc, i) => waitConnected(pc, 20000, 'subscriber ' + i)));
  log(FanOut.subs.length + ' subscribers connected');
  FanOut.state = 'running';
};

// ------------------------------------------------------------------ Janus (HTTP REST API)

class JanusSession {
  constructor(base) {
    this.base = base;            // http://127.0.0.1:PORT/janus
    this.id = null;
    this.pending = new Map();    // transaction -> {resolve, reject}
    this.closed = false;
    this.n = 0;
    this.watchers = new Set();   // {match, resolve} for events no request waits for
  }

  tx() { return 'tx' + (++this.n) + '-' + Math.random().toString(36).slice(2, 8); }

  async post(path, body) {
    const r = await fetch(this.base + path, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
    const j = await r.json();
    if (j.janus === 'error') throw new Error('janus: ' + JSON.stringify(j.error));
    return j;
  }

  async create() {
    const j = await this.post('', {janus: 'create', transaction: this.tx()});
    this.id = j.data.id;
    this.poll();
    this.keepalive = setInterval(() => {
      this.post('/' + this.id, {janus: 'keepalive', transaction: this.tx()}).catch((e) => log('keepalive: ' + e));
    }, 15000);
  }

  async attach(plugin) {
    const j = await this.post('/' + this.id, {janus: 'attach', plugin, transaction: this.tx()});
    return j.data.id;
  }

  // A plugin request whose answer comes as an event (after an ack) on the long poll.
  message(handle, body, jsep) {
    const transaction = this.tx();
    const p = new Promise((resolve, reject) => this.pending.set(transaction, {resolve, reject}));
    const req = {janus: 'message', transaction, body};
    if (jsep) req.jsep = jsep;
    this.post('/' + this.id + '/' + handle, req).then((j) => {
      const w = this.pending.get(transaction);
      if (j.janus === 'success' && w) {   // answered synchronously, not on the long poll
        this.pending.delete(transaction);
        this._settle(w, j);
      }
    }, (e) => { const w = this.pending.get(transaction); if (w) { this.pending.delete(transaction); w.reject(e); } });
    return withTimeout(p, 20000, 'janus ' + body.request);
  }

  _settle(waiter, ev) {
    const data = ev.plugindata && ev.plugindata.data;
    if (data && data.error) waiter.reject(new Error('videoroom: ' + data.error_code + ' ' + data.error));
    else waiter.resolve(ev);
  }

  async poll() {
    while (!this.closed) {
      let evs;
      try {
        const r = await fetch(this.base + '/' + this.id + '?rid=' + Date.now() + '&maxev=10');
        evs = await r.json();
      } catch (e) {
        if (this.closed) return;
        log('long poll: ' + e);
        await sleep(200);
        continue;
      }
      for (const ev of (Array.isArray(evs) ? evs : [evs])) {
        if (ev.janus === 'keepalive' || ev.janus === 'ack') continue;
        const w = ev.transaction && this.pending.get(ev.transaction);
        if (w && ev.janus === 'event') {
          this.pending.delete(ev.transaction);
          this._settle(w, ev);
        } else {
          FanOut.events.push({t: performance.now(), janus: ev.janus, sender: ev.sender, media: ev.media || ev.type,
                              receiving: ev.receiving, uplink: ev.uplink, lost: ev.lost, reason: ev.reason});
          if (FanOut.events.length > 500) FanOut.events.shift();
          for (const w of [...this.watchers]) if (w.match(ev)) { this.watchers.delete(w); w.resolve(ev); }
        }
      }
    }
  }

  // Resolves with the first later event (not an answer to a request) that match(ev) accepts.
  waitEvent(match, ms, what) {
    return withTimeout(new Promise((resolve) => this.watchers.add({match, resolve})), ms, what);
  }

  close() {
    this.closed = true;
    clearInterval(this.keepalive);
  }
}

FanOut.startJanus = async function (o) {
  FanOut.server = 'janus';
  FanOut.state = 'starting';
  const stream = await camera(o);
  const js = new JanusSession(o.janusUrl);
  FanOut.janus = js;
  await js.create();
  const pubHandle = await js.attach('janus.plugin.videoroom');
  const joined = await js.message(pubHandle, {request: 'join', ptype: 'publisher', room: o.room, display: 'publisher'});
  const feed = joined.plugindata.data.id;
  const pc = new RTCPeerConnection({iceServers: [], bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require'});
  for (const t of stream.getTracks()) pc.addTransceiver(t, {direction: 'sendonly', streams: [stream]});
  await pc.setLocalDescription(await pc.createOffer());
  await waitGathered(pc, 10000);
  // Janus lets subscribers attach to the feed only once its own side of the publisher's
  // PeerConnection is up (the webrtcup event), which can come after the browser's 'connected'.
  const up = js.waitEvent((ev) => ev.janus === 'webrtcup' && ev.sender === pubHandle, 20000, 'publisher webrtcup');
  const pubd = await js.message(pubHandle, {request: 'publish'}, {type: 'offer', sdp: pc.localDescription.sdp});
  if (!pubd.jsep) throw new Error('publish: no answer from Janus: ' + JSON.stringify(pubd.plugindata));
  await pc.setRemoteDescription(pubd.jsep);
  await waitConnected(pc, 20000, 'publisher');
  await up;
  await capVideo(pc, o);
  FanOut.pub = pc;
  log('publisher connected (feed ' + feed + ')');
  for (let i = 0; i < o.subscribers; i++) {
    const h = await js.attach('janus.plugin.videoroom');
    const att = await js.message(h, {request: 'join', ptype: 'subscriber', room: o.room, streams: [{feed}]});
    if (!att.jsep) throw new Error('subscriber ' + i + ': no offer from Janus: ' + JSON.stringify(att.plugindata));
    const spc = new RTCPeerConnection({iceServers: [], bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require'});
    await spc.setRemoteDescription(att.jsep);
    await spc.setLocalDescription(await spc.createAnswer());
    await waitGathered(spc, 10000);
    await js.message(h, {request: 'start'}, {type: 'answer', sdp: spc.localDescription.sdp});
    FanOut.subs.push(spc);
  }
  await Promise.all(FanOut.subs.map((s, i) => waitConnected(s, 20000, 'subscriber ' + i)));
  log(FanOut.subs.length + ' subscribers connected');
  FanOut.state = 'running';
};

// ------------------------------------------------------------------ counters (both servers)

const IN_FIELDS = ['packetsReceived', 'bytesReceived', 'headerBytesReceived', 'packetsLost', 'packetsDiscarded',
  'nackCount', 'pliCount', 'firCount', 'framesReceived', 'framesDecoded', 'keyFramesDecoded', 'framesDropped',
  'retransmittedPacketsReceived', 'fecPacketsReceived'];
const OUT_FIELDS = ['packetsSent', 'bytesSent', 'headerBytesSent', 'retransmittedPacketsSent', 'nackCount',
  'pliCount', 'firCount', 'framesEncoded', 'keyFramesEncoded', 'framesSent'];

function addInto(dst, s, fields) {
  for (const f of fields) if (typeof s[f] === 'number') dst[f] = (dst[f] || 0) + s[f];
}

FanOut.snapshot = async function () {
  const t0 = performance.now();
  const reports = await Promise.all(FanOut.subs.map((pc) => pc.getStats()));
  const pubReport = FanOut.pub ? await FanOut.pub.getStats() : null;
  const subs = reports.map((rep, i) => {
    const out = {audio: {}, video: {}, state: FanOut.subs[i].connectionState};
    rep.forEach((s) => {
      if (s.type === 'inbound-rtp' && (s.kind === 'audio' || s.kind === 'video')) {
        addInto(out[s.kind], s, IN_FIELDS);
        if (s.kind === 'video' && s.frameWidth) { out.video.frameWidth = s.frameWidth; out.video.frameHeight = s.frameHeight; }
      }
    });
    return out;
  });
  const pub = {audio: {}, video: {}};
  if (pubReport) {
    pubReport.forEach((s) => {
      if (s.type === 'outbound-rtp' && (s.kind === 'audio' || s.kind === 'video')) {
        addInto(pub[s.kind], s, OUT_FIELDS);
        if (s.kind === 'video') {
          pub.video.frameWidth = s.frameWidth; pub.video.frameHeight = s.frameHeight;
          pub.video.targetBitrate = s.targetBitrate; pub.video.framesPerSecond = s.framesPerSecond;
          pub.video.qualityLimitationReason = s.qualityLimitationReason;
        }
      }
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pub.rtt = s.currentRoundTripTime;
    });
  }
  const events = {};   // Janus events by kind (webrtcup, media, slowlink, hangup, ...)
  for (const e of FanOut.events) events[e.janus] = (events[e.janus] || 0) + 1;
  return {t_ms: t0, took_ms: performance.now() - t0, subs, pub, state: FanOut.state, error: FanOut.error, events};
};

FanOut.stop = function () {
  for (const pc of FanOut.subs) try { pc.close(); } catch (_) { /* closed */ }
  if (FanOut.pub) try { FanOut.pub.close(); } catch (_) { /* closed */ }
  if (FanOut.janus) FanOut.janus.close();
  FanOut.state = 'stopped';
};

// Entry point for the driver: resolves {ok, error}.
FanOut.start = function (o, done) {
  const run = o.server === 'janus' ? FanOut.startJanus(o) : FanOut.startTurnpike(o);
  run.then(() => done({ok: true}), (e) => {
    FanOut.state = 'error';
    FanOut.error = String(e && e.stack || e);
    log('error ' + FanOut.error);
    done({ok: false, error: FanOut.error, log: FanOut.log.slice(-30)});
  });
};
