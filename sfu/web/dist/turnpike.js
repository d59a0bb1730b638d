// turnpike.js 2.0.0: the Turnpike SFU SDK (sfu/web/src/*.ts, built by npm run build) as one
// script for a <script> tag: defines the global `Turnpike`. Generated: do not edit.
(function (global) {
  'use strict';
  // ---- protocol.ts
  // The signalling protocol's messages (sfu/PROTOCOL.md), as the SDK reads and writes them.
  /** The protocol version this SDK speaks; version 1 servers' behaviour is a subset. */
  const PROTOCOL_VERSION = 2;
  /** An `error` from the server (or from the SDK: `code` then names what failed locally). */
  class SignalError extends Error {
      constructor(code, message, detail = null) {
          super(message);
          this.code = code;
          this.detail = detail;
      }
  }
  /** Error codes after which the server closes the socket and a resume is pointless. */
  const FATAL_CODES = new Set([
      'bad_token', 'expired_token', 'wrong_region', 'forbidden_region', 'room_full', 'ice_failed', 'removed',
      'draining', 'resume_failed',
  ]);
  // ---- ice.ts
  // ICE servers as the SFU hands them out, filtered by what the application allows.
  /** The transport a TURN URL uses to reach its server: udp, tcp or tls. */
  function turnTransportOf(url) {
      if (/^turns:/i.test(url))
          return 'tls';
      const m = /[?&]transport=(udp|tcp)/i.exec(url);
      return m ? m[1].toLowerCase() : 'udp';
  }
  /** Keeps the TURN URLs of the wanted transports (STUN URLs are kept unless relay-only). */
  function filterIceServers(servers, transports, relayOnly) {
      const out = [];
      for (const s of servers || []) {
          const urls = (Array.isArray(s.urls) ? s.urls : [s.urls]).filter((u) => {
              if (/^stuns?:/i.test(u))
                  return !relayOnly;
              return !transports || transports.includes(turnTransportOf(u));
          });
          if (urls.length)
              out.push(Object.assign({}, s, { urls }));
      }
      return out;
  }
  // ---- signal.ts
  // One signalling WebSocket: its first message (join or resume) and the answer to it, then every
  // message to the room; pings with a deadline so that a connection that dropped silently (no FIN,
  // no RST: a Wi-Fi handover, a firewall) is noticed within seconds.
  class SignalConnection {
      constructor(url, timers) {
          this.url = url;
          this.timers = timers;
          this.ws = null;
          this.lastHeard = 0;
          this.pinger = null;
          this.done = false;
          /** A message after the first answer. */
          this.onmessage = () => { };
          /** The connection ended (closed by either side or lost); not called after close(). */
          this.onlost = () => { };
      }
      /** Opens the socket, sends `first`, and resolves with the `joined`/`resumed` answer. */
      open(first) {
          return new Promise((resolve, reject) => {
              let settled = false;
              const fail = (err) => {
                  if (settled)
                      return;
                  settled = true;
                  this.close();
                  reject(err);
              };
              const timer = setTimeout(() => fail(new SignalError('timeout', 'no answer from the signalling server')), this.timers.openTimeoutMs);
              let ws;
              try {
                  ws = new WebSocket(this.url);
              }
              catch (e) {
                  clearTimeout(timer);
                  fail(new SignalError('connection_failed', String(e)));
                  return;
              }
              this.ws = ws;
              ws.onopen = () => ws.send(JSON.stringify(first));
              ws.onerror = () => { clearTimeout(timer); fail(new SignalError('connection_failed', 'signalling connection failed')); };
              ws.onclose = (e) => {
                  clearTimeout(timer);
                  if (!settled)
                      return fail(new SignalError('closed', 'signalling closed: ' + (e.reason || e.code)));
                  this.lost(e.reason || 'closed', e.code);
              };
              ws.onmessage = (e) => {
                  this.lastHeard = Date.now();
                  let msg;
                  try {
                      msg = JSON.parse(String(e.data));
                  }
                  catch (_) {
                      return;
                  }
                  if (settled)
                      return this.onmessage(msg);
                  if (msg.type === 'joined' || msg.type === 'resumed') {
                      settled = true;
                      clearTimeout(timer);
                      this.startPings();
                      resolve(msg);
                  }
                  else if (msg.type === 'error') {
                      clearTimeout(timer);
                      fail(new SignalError(String(msg.code), String(msg.message || msg.code), msg));
                  }
              };
          });
      }
      get isOpen() { return !this.done && this.ws !== null && this.ws.readyState === WebSocket.OPEN; }
      send(msg) {
          if (!this.isOpen || !this.ws)
              return false;
          this.ws.send(JSON.stringify(msg));
          return true;
      }
      /** Closes without reporting a loss. Codes 1000 and 1001 tell the server the participant left (no
       *  resume); the default 4000 lets a version 2 session wait for a resume. */
      close(code = 4000, reason = 'abandoned') {
          this.done = true;
          this.stopPings();
          const ws = this.ws;
          if (!ws)
              return;
          ws.onopen = ws.onclose = ws.onerror = ws.onmessage = null;
          try {
              ws.close(code, reason);
          }
          catch (_) { /* already closed */ }
      }
      startPings() {
          this.lastHeard = Date.now();
          this.pinger = setInterval(() => {
              if (Date.now() - this.lastHeard > this.timers.pingTimeoutMs)
                  return this.lost('ping_timeout', 4000);
              this.send({ type: 'ping' });
          }, this.timers.pingIntervalMs);
      }
      stopPings() {
          if (this.pinger !== null)
              clearInterval(this.pinger);
          this.pinger = null;
      }
      lost(reason, code) {
          if (this.done)
              return;
          this.close(4000, reason);
          this.onlost(reason, code);
      }
  }
  // ---- media.ts
  // Local media: devices, the encodings a camera is published with (simulcast), and how a
  // participant's connection quality is judged from WebRTC statistics.
  /** The media devices, by kind (labels are empty until the page has had media permission). */
  async function listDevices() {
      const out = { audioinput: [], videoinput: [], audiooutput: [] };
      for (const d of await navigator.mediaDevices.enumerateDevices()) {
          if (d.kind in out)
              out[d.kind].push(d);
      }
      return out;
  }
  /** RFC 8853 simulcast as the SFU expects it: rids q, h, f at a quarter, half and full resolution. */
  const SIMULCAST_LAYERS = [
      { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150000, active: true },
      { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500000, active: true },
      { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1500000, active: true },
  ];
  function simulcastEncodings() {
      return SIMULCAST_LAYERS.map((e) => Object.assign({}, e));
  }
  /** Dynacast: the layers the SFU forwards to someone stay on, the others are paused. */
  async function setActiveLayers(sender, active) {
      const params = sender.getParameters();
      if (!params.encodings || params.encodings.length === 0)
          return;
      for (const e of params.encodings)
          e.active = e.rid ? active.includes(e.rid) : active.length > 0;
      await sender.setParameters(params);
  }
  /** Loss, RTT and jitter as a mean-opinion-like verdict (thresholds as common SDKs use them). */
  function qualityOf(s) {
      if (s.loss === null && s.rtt === null)
          return 'unknown';
      const loss = s.loss || 0, rtt = s.rtt || 0, jitter = s.jitter || 0;
      if (loss > 0.1 || rtt > 0.4 || jitter > 0.1)
          return 'poor';
      if (loss > 0.02 || rtt > 0.15 || jitter > 0.03)
          return 'good';
      return 'excellent';
  }
  // ---- room.ts
  // A Turnpike SFU room: one signalling connection (signal.ts) and one RTCPeerConnection on which the
  // browser is always the offerer. Its own tracks go in sendonly transceivers, each remote track in a
  // recvonly one; offers are serialised, one negotiation at a time. Version 2 of the protocol adds
  // reconnection: a lost signalling connection is resumed with the session token within the server's
  // grace period (the others see no leave), and a lost media path is restarted (ICE restart).
  // How long an offer waits for the browser's own candidates. The SFU is ICE-lite: checks start
  // only once it has the offer, and libwebrtc stops gathering as soon as a pair connects, which on
  // a short path can beat the STUN answers. The srflx candidates are the evidence of the node's
  // passive NAT inference (docs/nat.md), so they go out before the offer: one STUN round trip,
  // never more than this.
  const GATHER_WAIT_MS = 500;
  const ANSWER_TIMEOUT_MS = 10000;
  class Room extends EventTarget {
      constructor(url, token, options) {
          super();
          this.participantId = null;
          this.room = null;
          this.region = null;
          this.identity = null;
          /** The server's protocol version and features (version 2: `features`). */
          this.version = 1;
          this.features = [];
          this.participants = new Map();
          this.paths = new Map();
          /** The last connection quality per participant (ours under our own id). */
          this.quality = new Map();
          this.publications = [];
          this.iceServers = [];
          this.pc = null;
          /** 'connected', 'reconnecting' or 'disconnected'. */
          this.state = 'new';
          this.signal = null;
          this.sessionToken = null;
          this.resumeGraceMs = 15000;
          this.wanted = new Map(); // trackId -> transceiver receiving it
          this.trackOfMid = new Map(); // mid -> trackId (after negotiation)
          this.pendingAnswer = null;
          this.negotiating = Promise.resolve();
          this.iceTimer = null;
          this.qualityTimer = null;
          this.lastCounts = new Map();
          this.lastFatal = null;
          this.callWatch = null;
          this.onPageHide = null;
          this.closed = false;
          this.mediaLost = false;
          this.url = url;
          this.token = token;
          this.options = Object.assign({ stream: null, iceTransportPolicy: 'all',
              turnTransports: null, simulcast: true, reconnect: true, pingIntervalMs: 2000,
              pingTimeoutMs: 5000, iceRestartAfterMs: 3000, qualityIntervalMs: 2000 }, options || {});
      }
      /** Typed listener; returns a function that removes it. */
      on(type, fn) {
          const h = (e) => fn(e.detail);
          this.addEventListener(type, h);
          return () => this.removeEventListener(type, h);
      }
      emit(type, detail) {
          this.dispatchEvent(new CustomEvent(type, { detail }));
      }
      // ------------------------------------------------------------------------------ joining
      /** Opens the signalling connection and joins; resolves once the first negotiation is done. */
      async join() {
          const joined = await this._connect();
          this.adopt(joined);
          this.makePeerConnection();
          const stream = this.options.stream;
          if (stream) {
              for (const track of stream.getTracks())
                  this.addPublication(track, track.kind === 'video' ? 'camera' : 'microphone', stream);
          }
          for (const p of joined.participants || [])
              this.addParticipant(p);
          this.state = 'connected';
          this.startQuality();
          if (typeof window !== 'undefined' && !this.onPageHide) { // a closed tab leaves at once, no resume
              this.onPageHide = (e) => { if (!e.persisted)
                  void this.leave(); };
              window.addEventListener('pagehide', this.onPageHide);
          }
          await this.negotiate();
          return this;
      }
      // The join, following `wrong_region` redirects through the token provider (at most twice).
      // (bench/sfu/fanout.js wraps it to drop the ICE servers.)
      async _connect() {
          for (let redirects = 0;; ++redirects) {
              const conn = this.newSignal(this.url);
              try {
                  const joined = await conn.open({ type: 'join', token: this.token, version: PROTOCOL_VERSION });
                  this.signal = conn;
                  return joined;
              }
              catch (e) {
                  const err = e;
                  const url = err.detail && typeof err.detail.signal_url === 'string' ? err.detail.signal_url : null;
                  const region = err.detail && typeof err.detail.region === 'string' ? err.detail.region : null;
                  const tp = this.options.tokenProvider;
                  if (redirects >= 2 || !url || (err.code !== 'wrong_region' && err.code !== 'draining'))
                      throw err;
                  if (err.code === 'wrong_region' && !tp)
                      throw err;
                  if (tp)
                      this.token = await tp(region);
                  this.url = url;
              }
          }
      }
      newSignal(url, openTimeoutMs = 5000) {
          const conn = new SignalConnection(url, { pingIntervalMs: this.options.pingIntervalMs || 2000,
              pingTimeoutMs: this.options.pingTimeoutMs || 5000, openTimeoutMs });
          conn.onmessage = (m) => this.onMessage(m);
          conn.onlost = (reason, code) => this.onSignalLost(reason, code);
          return conn;
      }
      adopt(joined) {
          this.participantId = joined.participant;
          this.room = joined.room;
          this.region = joined.region;
          this.identity = joined.identity;
          this.version = joined.version || 1;
          this.features = joined.features || [];
          this.sessionToken = joined.session_token || null;
          if (joined.resume_grace)
              this.resumeGraceMs = joined.resume_grace * 1000;
          this.iceServers = filterIceServers(joined.ice_servers, this.options.turnTransports, this.options.iceTransportPolicy === 'relay');
      }
      makePeerConnection() {
          const pc = new RTCPeerConnection({
              iceServers: this.iceServers,
              iceTransportPolicy: this.options.iceTransportPolicy,
              bundlePolicy: 'max-bundle',
              rtcpMuxPolicy: 'require',
          });
          this.pc = pc;
          pc.addEventListener('track', (e) => this.onTrack(e));
          if (this.options.callReport)
              this.watchCallReport(this.options.callReport);
          // The SFU is ICE-lite and needs no candidates to connect; it uses relay candidates to tell
          // media relayed by another TURN server from direct media.
          pc.addEventListener('icecandidate', (e) => {
              if (e.candidate && e.candidate.candidate)
                  this.send({ type: 'candidate', candidate: e.candidate.candidate });
          });
          pc.addEventListener('connectionstatechange', () => this.emit('connectionstate', { state: pc.connectionState }));
          pc.addEventListener('iceconnectionstatechange', () => this.onIceState());
      }
      send(msg) {
          return this.signal ? this.signal.send(msg) : false;
      }
      // ------------------------------------------------------------------------------ reconnection
      onSignalLost(reason, code) {
          this.signal = null;
          if (this.pendingAnswer) {
              this.pendingAnswer.reject(new SignalError('signalling_lost', 'the signalling connection was lost'));
              this.pendingAnswer = null;
          }
          if (this.closed)
              return;
          const fatal = this.lastFatal;
          if (fatal || !this.options.reconnect || !this.sessionToken) {
              this.emit('closed', { code, reason });
              return this.disconnect(fatal || reason);
          }
          void this.resume(reason);
      }
      // Resume attempts, each bounded, until one succeeds or the server's grace has passed.
      async resume(reason) {
          this.state = 'reconnecting';
          this.emit('reconnecting', { cause: 'signalling', reason });
          const deadline = Date.now() + this.resumeGraceMs;
          for (let delay = 250; !this.closed && Date.now() < deadline; delay = Math.min(delay * 2, 2000)) {
              const conn = this.newSignal(this.url, 2500); // a connection attempt into a silent network: abandoned
              try {
                  const resumed = await conn.open({ type: 'resume', session_token: this.sessionToken, version: PROTOCOL_VERSION });
                  if (this.closed)
                      return conn.close();
                  this.signal = conn;
                  this.onResumed(resumed);
                  return;
              }
              catch (e) {
                  const err = e;
                  if (err.code === 'resume_failed')
                      return this.rejoin('resume_failed');
                  if (FATAL_CODES.has(err.code))
                      return this.disconnect(err.code);
              }
              await new Promise((r) => setTimeout(r, delay));
          }
          if (!this.closed)
              await this.rejoin('reconnect_timeout');
      }
      onResumed(msg) {
          this.adopt(msg);
          const present = new Set();
          for (const p of msg.participants || []) {
              present.add(p.id);
              if (!this.participants.has(p.id)) {
                  this.addParticipant(p);
                  continue;
              }
              const entry = this.participants.get(p.id); // tracks published or ended while we were away
              const now = new Set((p.tracks || []).map((t) => t.id));
              for (const id of [...entry.tracks.keys()])
                  if (!now.has(id)) {
                      entry.tracks.delete(id);
                      this.unwant(id);
                  }
              for (const t of p.tracks || []) {
                  entry.tracks.set(t.id, t);
                  this.want(t);
              }
              if (p.path)
                  this.paths.set(p.id, p.path);
          }
          for (const id of [...this.participants.keys()])
              if (!present.has(id))
                  this.removeParticipant(id);
          this.state = 'connected';
          this.emit('reconnected', { cause: 'signalling' });
          const ice = this.pc ? this.pc.iceConnectionState : 'new';
          void this.negotiate(ice === 'failed' || ice === 'disconnected');
      }
      // No session to resume: a new join (a new participant id) with the token provider's token, else
      // the one we have; the local media is published again.
      async rejoin(reason) {
          if (this.closed)
              return;
          if (!this.options.tokenProvider)
              return this.disconnect(reason);
          try {
              this.token = await this.options.tokenProvider(this.region);
              this.teardown();
              for (const id of [...this.participants.keys()])
                  this.removeParticipant(id);
              this.publications.length = 0;
              await this.join();
              this.emit('reconnected', { cause: 'signalling' });
          }
          catch (e) {
              this.disconnect(reason + ': ' + String(e));
          }
      }
      disconnect(reason) {
          if (this.state === 'disconnected')
              return;
          this.state = 'disconnected';
          this.stopQuality();
          this.emit('disconnected', { reason });
      }
      // ICE disconnected or failed for iceRestartAfterMs: a new ICE session through a new offer.
      onIceState() {
          const pc = this.pc;
          if (!pc)
              return;
          const s = pc.iceConnectionState;
          if (s === 'connected' || s === 'completed') {
              if (this.iceTimer !== null) {
                  clearTimeout(this.iceTimer);
                  this.iceTimer = null;
              }
              if (this.state === 'connected' && this.mediaLost) {
                  this.mediaLost = false;
                  this.emit('reconnected', { cause: 'media' });
              }
              return;
          }
          if ((s === 'disconnected' || s === 'failed') && this.iceTimer === null && this.options.reconnect) {
              this.iceTimer = setTimeout(() => {
                  this.iceTimer = null;
                  const now = pc.iceConnectionState;
                  if (this.closed || (now !== 'disconnected' && now !== 'failed'))
                      return;
                  this.mediaLost = true;
                  this.emit('reconnecting', { cause: 'media', reason: 'ice_' + now });
                  void this.restartIce();
              }, this.options.iceRestartAfterMs || 3000);
          }
      }
      // ------------------------------------------------------------------------------ messages
      onMessage(msg) {
          switch (msg.type) {
              case 'answer':
                  if (this.pendingAnswer) {
                      this.pendingAnswer.resolve(msg);
                      this.pendingAnswer = null;
                  }
                  break;
              case 'participant_joined':
                  this.addParticipant(msg.participant);
                  void this.negotiate();
                  break;
              case 'participant_left':
                  this.removeParticipant(String(msg.participant));
                  void this.negotiate();
                  break;
              case 'track_published': {
                  const p = this.participants.get(String(msg.participant));
                  const t = msg.track;
                  if (p) {
                      p.tracks.set(t.id, t);
                      this.want(t);
                  }
                  void this.negotiate();
                  break;
              }
              case 'track_unpublished': {
                  const p = this.participants.get(String(msg.participant));
                  if (p)
                      p.tracks.delete(String(msg.track));
                  this.unwant(String(msg.track));
                  void this.negotiate();
                  break;
              }
              case 'track_muted':
              case 'track_unmuted':
                  this.onMuted(String(msg.participant), String(msg.track), msg.type === 'track_muted');
                  break;
              case 'path':
                  this.paths.set(String(msg.participant), String(msg.path));
                  this.emit('path', { participant: String(msg.participant), path: String(msg.path) });
                  break;
              case 'active_speakers':
                  this.onSpeakers(Array.isArray(msg.speakers) ? msg.speakers : []);
                  break;
              case 'layers':
                  void this.onLayers(String(msg.track), typeof msg.mid === 'string' ? msg.mid : null, Array.isArray(msg.active) ? msg.active.map(String) : []);
                  break;
              case 'error':
                  this.onError(msg);
                  break;
              default:
                  break; // pong, and what a later server adds
          }
      }
      onError(msg) {
          const code = String(msg.code);
          if (FATAL_CODES.has(code))
              this.lastFatal = code;
          if (this.pendingAnswer) {
              this.pendingAnswer.reject(new SignalError(code, String(msg.message || code), msg));
              this.pendingAnswer = null;
          }
          this.emit('error', Object.assign({}, msg, { code, message: String(msg.message || code) }));
      }
      onMuted(participant, track, muted) {
          const p = this.participants.get(participant);
          const t = p ? p.tracks.get(track) : undefined;
          if (t)
              t.muted = muted;
          this.emit('trackmuted', { participant, track, muted });
      }
      // `speakers`: [{participant, level}] (or bare ids), loudest first.
      onSpeakers(list) {
          const speakers = [];
          const levels = {};
          for (const s of list) {
              const rec = typeof s === 'object' && s !== null ? s : null;
              const id = rec ? String(rec.participant) : String(s);
              speakers.push(id);
              if (rec && typeof rec.level === 'number')
                  levels[id] = rec.level;
          }
          this.emit('activespeakers', { speakers, levels });
      }
      // Dynacast: pause the layers of our track that nobody watches.
      async onLayers(track, mid, active) {
          const pub = this.publications.find((p) => p.trackId === track || (mid !== null && p.transceiver.mid === mid));
          if (pub)
              await setActiveLayers(pub.transceiver.sender, active).catch(() => undefined);
          this.emit('layers', { track, mid, active });
      }
      addParticipant(p) {
          if (p.id === this.participantId || this.participants.has(p.id))
              return;
          const entry = { id: p.id, identity: p.identity, tracks: new Map() };
          this.participants.set(p.id, entry);
          for (const t of p.tracks || []) {
              entry.tracks.set(t.id, t);
              this.want(t);
          }
          if (p.path)
              this.paths.set(p.id, p.path);
          this.emit('participantjoined', { participant: entry });
      }
      removeParticipant(id) {
          const p = this.participants.get(id);
          if (!p)
              return;
          for (const trackId of p.tracks.keys())
              this.unwant(trackId);
          this.participants.delete(id);
          this.paths.delete(id);
          this.quality.delete(id);
          this.emit('participantleft', { participant: id });
      }
      // A recvonly transceiver for a remote track; its mid is known after setLocalDescription.
      want(track) {
          if (!this.pc || this.wanted.has(track.id) || this.options.subscribe === false)
              return;
          this.wanted.set(track.id, this.pc.addTransceiver(track.kind, { direction: 'recvonly' }));
      }
      unwant(trackId) {
          const t = this.wanted.get(trackId);
          if (!t)
              return;
          this.wanted.delete(trackId);
          if (t.mid)
              this.trackOfMid.delete(t.mid);
          if (t.receiver && t.receiver.track)
              t.receiver.track.stop();
          try {
              t.stop();
          }
          catch (_) { /* already stopped */ }
          this.emit('trackended', { track: trackId });
      }
      onTrack(e) {
          const mid = e.transceiver ? e.transceiver.mid : null;
          const trackId = mid === null ? undefined : this.trackOfMid.get(mid);
          let participant = null;
          for (const p of this.participants.values())
              if (trackId !== undefined && p.tracks.has(trackId))
                  participant = p.id;
          this.emit('track', { participant, trackId, track: e.track, stream: new MediaStream([e.track]), mid });
      }
      // ------------------------------------------------------------------------------ negotiation
      /** One offer/answer round (with an ICE restart if asked); rounds queue behind each other. */
      negotiate(iceRestart = false) {
          const run = async () => {
              if (this.closed || !this.pc)
                  return;
              if (!this.signal || !this.signal.isOpen)
                  return; // offered again once the connection is resumed
              await this.offerOnce(this.pc, iceRestart);
          };
          this.negotiating = this.negotiating.then(run, run).catch((e) => {
              const pc = this.pc;
              if (pc && pc.signalingState === 'have-local-offer')
                  void pc.setLocalDescription({ type: 'rollback' }).catch(() => undefined);
              const code = e instanceof SignalError ? e.code : 'negotiation';
              if (code !== 'signalling_lost')
                  this.emit('error', { code: 'negotiation', message: String(e) });
          });
          return this.negotiating;
      }
      async offerOnce(pc, iceRestart) {
          // Transceivers for tracks known before the connection existed (participants known at join).
          for (const p of this.participants.values())
              for (const t of p.tracks.values())
                  this.want(t);
          const offer = await pc.createOffer({ iceRestart });
          await pc.setLocalDescription(offer);
          await this.gathered(GATHER_WAIT_MS);
          const subscriptions = {};
          for (const [trackId, t] of this.wanted) {
              if (t.mid !== null) {
                  subscriptions[t.mid] = trackId;
                  this.trackOfMid.set(t.mid, trackId);
              }
          }
          const answered = new Promise((resolve, reject) => {
              this.pendingAnswer = { resolve, reject };
              setTimeout(() => reject(new SignalError('timeout', 'no answer to the offer')), ANSWER_TIMEOUT_MS);
          });
          if (!this.send({ type: 'offer', sdp: pc.localDescription ? pc.localDescription.sdp : '', subscriptions }))
              throw new SignalError('signalling_lost', 'the signalling connection was lost');
          const answer = await answered;
          await pc.setRemoteDescription({ type: 'answer', sdp: String(answer.sdp) });
      }
      // Resolves when ICE gathering is complete (at once on a renegotiation), or after `ms`.
      gathered(ms) {
          const pc = this.pc;
          if (!pc || pc.iceGatheringState === 'complete')
              return Promise.resolve();
          return new Promise((resolve) => {
              const check = () => { if (pc.iceGatheringState === 'complete')
                  done(); };
              const done = () => { pc.removeEventListener('icegatheringstatechange', check); clearTimeout(timer); resolve(); };
              const timer = setTimeout(done, ms);
              pc.addEventListener('icegatheringstatechange', check);
          });
      }
      /** A new ICE session (e.g. after a network change); media continues on the new pair. */
      restartIce() {
          return this.negotiate(true);
      }
      // ------------------------------------------------------------------------------ publishing
      addPublication(track, source, stream) {
          const pc = this.pc;
          const simulcast = source === 'camera' && this.options.simulcast !== false && this.features.includes('simulcast');
          const init = { direction: 'sendonly', streams: stream ? [stream] : [] };
          if (simulcast)
              init.sendEncodings = simulcastEncodings();
          const transceiver = pc.addTransceiver(track, init);
          const owner = this;
          const pub = {
              track, transceiver, source,
              get trackId() { return transceiver.mid !== null && owner.participantId ? owner.participantId + '-' + transceiver.mid : null; },
          };
          this.publications.push(pub);
          this.emit('published', { publication: pub });
          return pub;
      }
      /** Publishes a track at any time (a camera with simulcast unless `simulcast: false`). */
      async publish(track, options) {
          if (!this.pc)
              throw new SignalError('not_joined', 'join first');
          const source = options && options.source ? options.source : (track.kind === 'video' ? 'camera' : 'microphone');
          const pub = this.addPublication(track, source, options && options.stream ? options.stream : null);
          await this.negotiate();
          return pub;
      }
      /** Stops publishing a local track (e.g. the camera); the others see it end. */
      async unpublish(track) {
          if (!this.pc)
              return;
          for (const t of this.pc.getTransceivers()) {
              if (t.sender && t.sender.track === track && t.direction === 'sendonly') {
                  await t.sender.replaceTrack(null);
                  t.direction = 'inactive';
              }
          }
          const at = this.publications.findIndex((p) => p.track === track);
          if (at >= 0)
              this.publications.splice(at, 1);
          this.emit('unpublished', { track });
          return this.negotiate();
      }
      /** Mutes (track.enabled false: silence or black frames) and tells the room (`track_muted`). */
      mute(what, muted = true) {
          for (const p of this.publications) {
              if (typeof what === 'string' ? p.track.kind !== what || p.source === 'screen' : p.track !== what)
                  continue;
              p.track.enabled = !muted;
              if (p.transceiver.mid !== null)
                  this.send({ type: 'mute', mid: p.transceiver.mid, muted });
          }
      }
      unmute(what) { this.mute(what, false); }
      /**
       * Preferences for a remote track this participant receives (`subscribe`, sfu/PROTOCOL.md): the
       * highest simulcast layer wanted (a rid such as 'h', 'low'/'medium'/'high', or an index; e.g. for
       * a small tile) and whether to pause it. The SFU answers bad values with an `error` event.
       */
      setSubscription(track, prefs) {
          const msg = { type: 'subscribe', track };
          if (prefs.maxLayer !== undefined)
              msg.max_layer = prefs.maxLayer;
          if (prefs.paused !== undefined)
              msg.paused = prefs.paused;
          return this.send(msg);
      }
      /** The media devices, by kind. */
      listDevices() { return listDevices(); }
      /** Another camera or microphone for what is published (RTCRtpSender.replaceTrack: no renegotiation). */
      async switchDevice(kind, deviceId) {
          const mediaKind = kind === 'audioinput' ? 'audio' : 'video';
          const pub = this.publications.find((p) => p.track.kind === mediaKind && p.source !== 'screen');
          const old = pub ? pub.track : null;
          const base = old ? old.getConstraints() : {};
          const constraints = Object.assign({}, base, { deviceId: { exact: deviceId } });
          const media = await navigator.mediaDevices.getUserMedia(mediaKind === 'audio' ? { audio: constraints }
              : { video: constraints });
          const track = media.getTracks()[0];
          if (pub && old) {
              track.enabled = old.enabled;
              await pub.transceiver.sender.replaceTrack(track);
              pub.track = track;
              const stream = this.options.stream;
              if (stream) {
                  stream.removeTrack(old);
                  stream.addTrack(track);
              }
              old.stop();
          }
          this.emit('devicechanged', { kind, track });
          return track;
      }
      /** Shares the screen (getDisplayMedia) as another video track; ends when the user stops it. */
      async shareScreen(options) {
          const media = await navigator.mediaDevices.getDisplayMedia(options || { video: true, audio: false });
          const track = media.getVideoTracks()[0];
          track.addEventListener('ended', () => { void this.unpublish(track); });
          return this.publish(track, { source: 'screen', stream: media });
      }
      async stopScreenShare() {
          for (const p of this.publications.filter((x) => x.source === 'screen')) {
              p.track.stop();
              await this.unpublish(p.track);
          }
      }
      // ------------------------------------------------------------------------------ statistics
      /** What the browser sees of its path and media: the selected candidate pair and per-track counters. */
      async stats() {
          const out = { path: null, rtt: null, inbound: [], outbound: [] };
          if (!this.pc)
              return out;
          const report = await this.pc.getStats();
          const byId = new Map();
          report.forEach((s) => byId.set(s.id, s));
          report.forEach((s) => {
              if (s.type === 'transport' && s.selectedCandidatePairId) {
                  const pair = byId.get(s.selectedCandidatePairId);
                  if (pair) {
                      const local = byId.get(pair.localCandidateId) || {};
                      const remote = byId.get(pair.remoteCandidateId) || {};
                      out.path = { local: local.candidateType, remote: remote.candidateType, protocol: local.protocol,
                          relayProtocol: local.relayProtocol || null, address: remote.address, port: remote.port };
                      out.rtt = pair.currentRoundTripTime === undefined ? null : pair.currentRoundTripTime;
                  }
              }
              if (s.type === 'inbound-rtp') {
                  out.inbound.push({
                      kind: s.kind, mid: s.mid, trackId: this.trackOfMid.get(s.mid) || null,
                      packetsReceived: s.packetsReceived, packetsLost: s.packetsLost, bytesReceived: s.bytesReceived,
                      framesDecoded: s.framesDecoded, jitter: s.jitter, audioLevel: s.audioLevel,
                      totalSamplesReceived: s.totalSamplesReceived, frameWidth: s.frameWidth, frameHeight: s.frameHeight,
                  });
              }
              if (s.type === 'outbound-rtp') {
                  out.outbound.push({ kind: s.kind, mid: s.mid, rid: s.rid || null, packetsSent: s.packetsSent,
                      bytesSent: s.bytesSent, frameWidth: s.frameWidth, frameHeight: s.frameHeight,
                      active: s.active, targetBitrate: s.targetBitrate });
              }
          });
          return out;
      }
      startQuality() {
          const every = this.options.qualityIntervalMs;
          if (!every || this.qualityTimer !== null)
              return;
          this.qualityTimer = setInterval(() => { void this.sampleQuality().catch(() => undefined); }, every);
      }
      stopQuality() {
          if (this.qualityTimer !== null)
              clearInterval(this.qualityTimer);
          this.qualityTimer = null;
      }
      // Per participant: loss since the last sample and jitter of what we receive from it, with the
      // path's RTT; events when the verdict changes.
      async sampleQuality() {
          const s = await this.stats();
          const per = new Map();
          for (const r of s.inbound) {
              const trackId = typeof r.trackId === 'string' ? r.trackId : '';
              let owner = null;
              for (const p of this.participants.values())
                  if (p.tracks.has(trackId))
                      owner = p.id;
              if (!owner)
                  continue;
              const acc = per.get(owner) || { received: 0, lost: 0, jitter: 0 };
              acc.received += Number(r.packetsReceived || 0);
              acc.lost += Math.max(0, Number(r.packetsLost || 0));
              acc.jitter = Math.max(acc.jitter, Number(r.jitter || 0));
              per.set(owner, acc);
          }
          for (const [id, acc] of per) {
              const last = this.lastCounts.get(id) || { received: 0, lost: 0 };
              this.lastCounts.set(id, { received: acc.received, lost: acc.lost });
              const dr = acc.received - last.received, dl = acc.lost - last.lost;
              const loss = dr + dl > 0 ? dl / (dr + dl) : null;
              this.report(id, { loss, rtt: s.rtt, jitter: acc.jitter });
          }
          if (this.participantId)
              this.report(this.participantId, { loss: null, rtt: s.rtt, jitter: null });
      }
      report(participant, sample) {
          const quality = qualityOf(sample);
          if (this.quality.get(participant) === quality)
              return;
          this.quality.set(participant, quality);
          this.emit('connectionquality', Object.assign({ participant, quality }, sample));
      }
      // ------------------------------------------------------------------------------ leaving
      // The SFU counts its own sessions (turnpike_sfu_sessions{path}); a room may also report its leg
      // as a call (turnpike_calls_total), to the signalling port it joined through.
      watchCallReport(opts) {
          const report = globalThis.TurnpikeCallReport;
          if (!report || !this.pc)
              return;
          const url = opts.url || this.url.replace(/^ws(s?):/i, 'http$1:').replace(/\/signal(\?.*)?$/, '/api/v1/call-reports');
          const turn = this.iceServers.find((s) => s.username && s.credential) || {};
          this.callWatch = report.watch(this.pc, Object.assign({ url, username: turn.username, credential: turn.credential }, opts, { url }));
      }
      teardown() {
          this.stopQuality();
          if (this.iceTimer !== null)
              clearTimeout(this.iceTimer);
          this.iceTimer = null;
          if (this.signal)
              this.signal.close();
          this.signal = null;
          if (this.pc)
              this.pc.close();
          this.pc = null;
          this.wanted.clear();
          this.trackOfMid.clear();
      }
      /** Leaves the room; with a call report, resolves with the report's answer. */
      leave() {
          if (this.closed)
              return Promise.resolve(null);
          this.closed = true;
          if (this.onPageHide)
              window.removeEventListener('pagehide', this.onPageHide);
          this.send({ type: 'leave' });
          if (this.signal)
              this.signal.close(1000, 'leave');
          this.signal = null;
          this.stopQuality();
          // With a call report, the pair is read before the connection closes: resolves with its answer.
          const reported = this.callWatch ? this.callWatch.end() : Promise.resolve(null);
          return reported.catch(() => null).then((answer) => {
              this.teardown();
              this.state = 'disconnected';
              return answer;
          });
      }
  }
  // ---- index.ts
  // turnpike-sdk: join a Turnpike SFU room from an unmodified browser (sfu/PROTOCOL.md, version 2).
  // As an ES module (import {join} from 'turnpike-sdk') or as the script /sdk/turnpike.js that
  // Turnpike serves, which defines the global `Turnpike` with the same names.
  //
  //   const room = await join('wss://sfu.example:8443/signal', token, {
  //     stream: await navigator.mediaDevices.getUserMedia({audio: true, video: true}),
  //     tokenProvider: async (region) => fetchToken(region),   // follows wrong_region redirects
  //   });
  //   room.on('track', ({participant, track}) => show(participant, track));
  //   room.on('reconnecting', () => banner('reconnecting…'));
  //   room.mute('audio'); await room.switchDevice('videoinput', id); await room.shareScreen();
  /** Joins a room: resolves with the Room once the first negotiation is done. */
  async function join(url, token, options) {
      const room = new Room(url, token, options);
      await room.join();
      return room;
  }
  /** Reports the path of a call that uses Turnpike only as TURN (call-report.js, served first in /sdk/turnpike.js). */
  function watchCall(pc, options) {
      const report = globalThis
          .TurnpikeCallReport;
      if (!report)
          throw new Error('the call-report snippet is not loaded (/sdk/call-report.js)');
      return report.watch(pc, options);
  }
  global.Turnpike = {FATAL_CODES, PROTOCOL_VERSION, Room, SIMULCAST_LAYERS, SignalConnection, SignalError, filterIceServers, join, listDevices, qualityOf, setActiveLayers, simulcastEncodings, turnTransportOf, watchCall};
})(typeof window !== 'undefined' ? window : globalThis);
