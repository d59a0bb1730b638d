// turnpike.js: join a Turnpike SFU room from an unmodified browser. Served by Turnpike at
// /sdk/turnpike.js. The protocol it speaks is sfu/PROTOCOL.md.
//
//   const room = await Turnpike.join('wss://sfu.example:8443/signal', token, {
//     stream: await navigator.mediaDevices.getUserMedia({audio: true, video: true}),
//     iceTransportPolicy: 'all',          // or 'relay': media only through TURN
//     turnTransports: null,               // e.g. ['tls']: keep only those TURN URLs (udp, tcp, tls)
//     callReport: null,                   // e.g. {tags: {site: 'hq-3f'}}: report the call's path at leave()
//   });
//   room.addEventListener('track', e => show(e.detail.participant, e.detail.track, e.detail.stream));
//   room.addEventListener('participantleft', e => remove(e.detail.participant));
//
// Calls between browsers that use Turnpike only as TURN (no SFU) report their path with
// Turnpike.watchCall(pc, {url, username, credential, tags}): the call-report snippet
// (sfu/web/call-report.js, served first in /sdk/turnpike.js), counted in turnpike_calls_total.
//
// The browser is always the offerer: its own tracks go in sendonly transceivers, each remote track
// it receives in a recvonly one; the SFU answers. Offers are serialised: one negotiation at a time.
(function (global) {
  'use strict';

  const PROTOCOL_VERSION = 1;
  // How long an offer waits for the browser's own candidates. The SFU is ICE-lite: checks start
  // only once it has the offer, and libwebrtc stops gathering as soon as a pair connects, which on
  // a short path can beat the STUN answers. The srflx candidates are the evidence of the node's
  // passive NAT inference (docs/nat.md), so they go out before the offer: one STUN round trip,
  // never more than this.
  const GATHER_WAIT_MS = 500;

  function turnTransportOf(url) {
    if (/^turns:/i.test(url)) return 'tls';
    const m = /[?&]transport=(udp|tcp)/i.exec(url);
    return m ? m[1].toLowerCase() : 'udp';
  }

  // Keeps the TURN URLs of the wanted transports (STUN URLs are kept unless relay-only).
  function filterIceServers(servers, transports, relayOnly) {
    const out = [];
    for (const s of servers || []) {
      const urls = (Array.isArray(s.urls) ? s.urls : [s.urls]).filter((u) => {
        if (/^stuns?:/i.test(u)) return !relayOnly;
        return !transports || transports.includes(turnTransportOf(u));
      });
      if (urls.length) out.push(Object.assign({}, s, {urls}));
    }
    return out;
  }

  class Room extends EventTarget {
    constructor(url, token, options) {
      super();
      this.url = url;
      this.token = token;
      this.options = Object.assign({stream: null, iceTransportPolicy: 'all', turnTransports: null}, options || {});
      this.participantId = null;
      this.participants = new Map();   // id -> {id, identity, tracks: Map(trackId -> {id, kind})}
      this.paths = new Map();          // participant id -> path as the SFU classified it
      this.ws = null;
      this.pc = null;
      this.wanted = new Map();         // trackId -> transceiver receiving it
      this.trackOfMid = new Map();     // mid -> trackId (after negotiation)
      this.pendingAnswer = null;
      this.negotiating = Promise.resolve();
      this.closed = false;
    }

    // Opens the signalling connection and joins; resolves once the first negotiation is done.
    async join() {
      const joined = await this._connect();
      this.participantId = joined.participant;
      this.room = joined.room;
      this.region = joined.region;
      this.iceServers = filterIceServers(joined.ice_servers, this.options.turnTransports,
                                         this.options.iceTransportPolicy === 'relay');
      this.pc = new RTCPeerConnection({
        iceServers: this.iceServers,
        iceTransportPolicy: this.options.iceTransportPolicy,
        bundlePolicy: 'max-bundle',
        rtcpMuxPolicy: 'require',
      });
      this.pc.addEventListener('track', (e) => this._onTrack(e));
      if (this.options.callReport) this._watchCall(this.options.callReport);
      // The SFU is ICE-lite and needs no candidates to connect; it uses relay candidates to tell
      // media relayed by another TURN server from direct media.
      this.pc.addEventListener('icecandidate', (e) => {
        if (e.candidate && e.candidate.candidate) this._send({type: 'candidate', candidate: e.candidate.candidate});
      });
      this.pc.addEventListener('connectionstatechange', () => {
        this._emit('connectionstate', {state: this.pc.connectionState});
      });
      if (this.options.stream) {
        for (const track of this.options.stream.getTracks())
          this.pc.addTransceiver(track, {direction: 'sendonly', streams: [this.options.stream]});
      }
      for (const p of joined.participants || []) this._addParticipant(p);
      await this.negotiate();
      return this;
    }

    _connect() {
      return new Promise((resolve, reject) => {
        const ws = new WebSocket(this.url);
        this.ws = ws;
        let settled = false;
        ws.onopen = () => ws.send(JSON.stringify({type: 'join', token: this.token, version: PROTOCOL_VERSION}));
        ws.onerror = () => { if (!settled) { settled = true; reject(new Error('signalling connection failed')); } };
        ws.onclose = (e) => {
          if (!settled) { settled = true; reject(new Error('signalling closed: ' + (e.reason || e.code))); }
          else this._emit('closed', {code: e.code, reason: e.reason});
        };
        ws.onmessage = (e) => {
          let msg;
          try { msg = JSON.parse(e.data); } catch (_) { return; }
          if (!settled) {
            if (msg.type === 'joined') { settled = true; resolve(msg); return; }
            if (msg.type === 'error') {
              settled = true;
              const err = new Error(msg.message || msg.code);
              err.code = msg.code;
              err.detail = msg;
              reject(err);
              return;
            }
          }
          this._onMessage(msg);
        };
      });
    }

    _send(msg) {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
    }

    _emit(type, detail) { this.dispatchEvent(new CustomEvent(type, {detail})); }

    _onMessage(msg) {
      switch (msg.type) {
        case 'answer':
          if (this.pendingAnswer) { this.pendingAnswer.resolve(msg); this.pendingAnswer = null; }
          break;
        case 'participant_joined':
          this._addParticipant(msg.participant);
          this.negotiate();
          break;
        case 'participant_left':
          this._removeParticipant(msg.participant);
          this.negotiate();
          break;
        case 'track_published': {
          const p = this.participants.get(msg.participant);
          if (p) { p.tracks.set(msg.track.id, msg.track); this._want(msg.track); }
          this.negotiate();
          break;
        }
        case 'track_unpublished': {
          const p = this.participants.get(msg.participant);
          if (p) p.tracks.delete(msg.track);
          this._unwant(msg.track);
          this.negotiate();
          break;
        }
        case 'path':
          this.paths.set(msg.participant, msg.path);
          this._emit('path', {participant: msg.participant, path: msg.path});
          break;
        case 'error':
          if (this.pendingAnswer) { this.pendingAnswer.reject(Object.assign(new Error(msg.message), {code: msg.code})); this.pendingAnswer = null; }
          this._emit('error', msg);
          break;
        case 'pong':
          break;
      }
    }

    _addParticipant(p) {
      if (p.id === this.participantId || this.participants.has(p.id)) return;
      const entry = {id: p.id, identity: p.identity, tracks: new Map()};
      this.participants.set(p.id, entry);
      for (const t of p.tracks || []) { entry.tracks.set(t.id, t); this._want(t); }
      if (p.path) this.paths.set(p.id, p.path);
      this._emit('participantjoined', {participant: entry});
    }

    _removeParticipant(id) {
      const p = this.participants.get(id);
      if (!p) return;
      for (const trackId of p.tracks.keys()) this._unwant(trackId);
      this.participants.delete(id);
      this.paths.delete(id);
      this._emit('participantleft', {participant: id});
    }

    // A recvonly transceiver for a remote track; its mid is known after setLocalDescription.
    _want(track) {
      if (!this.pc || this.wanted.has(track.id) || this.options.subscribe === false) return;
      const t = this.pc.addTransceiver(track.kind, {direction: 'recvonly'});
      this.wanted.set(track.id, t);
    }

    _unwant(trackId) {
      const t = this.wanted.get(trackId);
      if (!t) return;
      this.wanted.delete(trackId);
      if (t.mid) this.trackOfMid.delete(t.mid);
      if (t.receiver && t.receiver.track) t.receiver.track.stop();
      try { t.stop(); } catch (_) { /* already stopped */ }
      this._emit('trackended', {track: trackId});
    }

    // One offer/answer round; rounds queue behind each other.
    negotiate() {
      const run = async () => {
        if (this.closed || !this.pc) return;
        // Transceivers created before the connection existed (participants known at join).
        for (const p of this.participants.values())
          for (const t of p.tracks.values()) this._want(t);
        const offer = await this.pc.createOffer();
        await this.pc.setLocalDescription(offer);
        await this._gathered(GATHER_WAIT_MS);
        const subscriptions = {};
        for (const [trackId, t] of this.wanted) {
          if (t.mid !== null) { subscriptions[t.mid] = trackId; this.trackOfMid.set(t.mid, trackId); }
        }
        const answered = new Promise((resolve, reject) => { this.pendingAnswer = {resolve, reject}; });
        this._send({type: 'offer', sdp: this.pc.localDescription.sdp, subscriptions});
        const answer = await answered;
        await this.pc.setRemoteDescription({type: 'answer', sdp: answer.sdp});
      };
      this.negotiating = this.negotiating.then(run, run).catch((e) => this._emit('error', {code: 'negotiation', message: String(e)}));
      return this.negotiating;
    }

    // Resolves when ICE gathering is complete (at once on a renegotiation), or after `ms`.
    _gathered(ms) {
      const pc = this.pc;
      if (pc.iceGatheringState === 'complete') return Promise.resolve();
      return new Promise((resolve) => {
        let timer = null;
        const check = () => { if (pc.iceGatheringState === 'complete') done(); };
        const done = () => { pc.removeEventListener('icegatheringstatechange', check); clearTimeout(timer); resolve(); };
        timer = setTimeout(done, ms);
        pc.addEventListener('icegatheringstatechange', check);
      });
    }

    _onTrack(e) {
      const mid = e.transceiver && e.transceiver.mid;
      const trackId = this.trackOfMid.get(mid);
      let participant = null;
      for (const p of this.participants.values()) if (p.tracks.has(trackId)) participant = p.id;
      const stream = new MediaStream([e.track]);
      this._emit('track', {participant, trackId, track: e.track, stream, mid});
    }

    // What the browser sees of its path and media: the selected candidate pair and per-track counters.
    async stats() {
      const out = {path: null, rtt: null, inbound: [], outbound: []};
      if (!this.pc) return out;
      const report = await this.pc.getStats();
      const byId = new Map();
      report.forEach((s) => byId.set(s.id, s));
      report.forEach((s) => {
        if (s.type === 'transport' && s.selectedCandidatePairId) {
          const pair = byId.get(s.selectedCandidatePairId);
          if (pair) {
            const local = byId.get(pair.localCandidateId) || {};
            const remote = byId.get(pair.remoteCandidateId) || {};
            out.path = {
              local: local.candidateType, remote: remote.candidateType, protocol: local.protocol,
              relayProtocol: local.relayProtocol || null, address: remote.address, port: remote.port,
            };
            out.rtt = pair.currentRoundTripTime === undefined ? null : pair.currentRoundTripTime;
          }
        }
        if (s.type === 'inbound-rtp') {
          out.inbound.push({
            kind: s.kind, mid: s.mid, trackId: this.trackOfMid.get(s.mid) || null,
            packetsReceived: s.packetsReceived, packetsLost: s.packetsLost, bytesReceived: s.bytesReceived,
            framesDecoded: s.framesDecoded, jitter: s.jitter, audioLevel: s.audioLevel,
            totalSamplesReceived: s.totalSamplesReceived,
          });
        }
        if (s.type === 'outbound-rtp') {
          out.outbound.push({kind: s.kind, mid: s.mid, packetsSent: s.packetsSent, bytesSent: s.bytesSent});
        }
      });
      return out;
    }

    // The SFU counts its own sessions (turnpike_sfu_sessions{path}); a room may also report its leg
    // as a call (turnpike_calls_total), to the signalling port it joined through.
    _watchCall(opts) {
      const url = opts.url || this.url.replace(/^ws(s?):/i, 'http$1:').replace(/\/signal(\?.*)?$/, '/api/v1/call-reports');
      const turn = (this.iceServers || []).find((s) => s.username && s.credential) || {};
      this.callWatch = global.TurnpikeCallReport.watch(this.pc, Object.assign(
        {url, username: turn.username, credential: turn.credential}, opts, {url}));
    }

    // Stops publishing a local track (e.g. the camera); the others see it end.
    async unpublish(track) {
      for (const t of this.pc.getTransceivers()) {
        if (t.sender && t.sender.track === track && t.direction === 'sendonly') {
          await t.sender.replaceTrack(null);
          t.direction = 'inactive';
        }
      }
      return this.negotiate();
    }

    // A new ICE session (e.g. after a network change); media continues on the new pair.
    restartIce() {
      this.pc.restartIce();
      return this.negotiate();
    }

    leave() {
      if (this.closed) return;
      this.closed = true;
      this._send({type: 'leave'});
      if (this.ws) this.ws.close(1000, 'leave');
      // With a call report, the pair is read before the connection closes: resolves with its answer.
      const reported = this.callWatch ? this.callWatch.end() : Promise.resolve(null);
      return reported.catch(() => null).then((answer) => {
        if (this.pc) this.pc.close();
        return answer;
      });
    }
  }

  async function join(url, token, options) {
    const room = new Room(url, token, options);
    await room.join();
    return room;
  }

  function watchCall(pc, options) {
    if (!global.TurnpikeCallReport) throw new Error('the call-report snippet is not loaded (/sdk/call-report.js)');
    return global.TurnpikeCallReport.watch(pc, options);
  }

  global.Turnpike = {join, Room, filterIceServers, watchCall, PROTOCOL_VERSION};
})(typeof window !== 'undefined' ? window : globalThis);
