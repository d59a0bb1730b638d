// A Turnpike SFU room: one signalling connection (signal.ts) and one RTCPeerConnection on which the
// browser is always the offerer. Its own tracks go in sendonly transceivers, each remote track in a
// recvonly one; offers are serialised, one negotiation at a time. Version 2 of the protocol adds
// reconnection: a lost signalling connection is resumed with the session token within the server's
// grace period (the others see no leave), and a lost media path is restarted (ICE restart).
import {filterIceServers} from './ice.js';
import {listDevices, qualityOf, Quality, setActiveLayers, simulcastEncodings} from './media.js';
import {FATAL_CODES, JoinedMessage, ParticipantInfo, PROTOCOL_VERSION, ServerMessage, SignalError,
        TrackInfo} from './protocol.js';
import {SignalConnection} from './signal.js';

// How long an offer waits for the browser's own candidates. The SFU is ICE-lite: checks start
// only once it has the offer, and libwebrtc stops gathering as soon as a pair connects, which on
// a short path can beat the STUN answers. The srflx candidates are the evidence of the node's
// passive NAT inference (docs/nat.md), so they go out before the offer: one STUN round trip,
// never more than this.
const GATHER_WAIT_MS = 500;
const ANSWER_TIMEOUT_MS = 10_000;

export interface CallReportOptions {
  url?: string;
  username?: string;
  credential?: string;
  tags?: Record<string, string>;
}

export interface CallWatch { end(): Promise<unknown>; }
interface CallReportGlobal { watch(pc: RTCPeerConnection, options: CallReportOptions): CallWatch; }

/** Where to get a join token for a region (a `wrong_region` redirect, or a new join after a failed resume). */
export type TokenProvider = (region: string | null) => string | Promise<string>;

export interface RoomOptions {
  /** Published at the join (cameras with simulcast when the SFU supports it). */
  stream?: MediaStream | null;
  iceTransportPolicy?: RTCIceTransportPolicy;
  /** Keep only these TURN transports ('udp', 'tcp', 'tls'), e.g. ['tls']. */
  turnTransports?: string[] | null;
  /** Report the call's path at leave() (call-report.js). */
  callReport?: CallReportOptions | null;
  /** false: receive nothing. */
  subscribe?: boolean;
  /** Cameras send three layers (rids q, h, f) when the SFU announces the `simulcast` feature; false: one. */
  simulcast?: boolean;
  /** Resume a lost signalling connection and restart a lost media path (default true). */
  reconnect?: boolean;
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  /** ICE disconnected or failed this long: an ICE restart. */
  iceRestartAfterMs?: number;
  /** Connection quality sampled this often (0: never). */
  qualityIntervalMs?: number;
  /** Followed on `wrong_region` (with the region) and to rejoin when a session cannot be resumed. */
  tokenProvider?: TokenProvider | null;
}

export interface RemoteParticipant {
  id: string;
  identity: string;
  tracks: Map<string, TrackInfo>;
}

export interface LocalPublication {
  track: MediaStreamTrack;
  transceiver: RTCRtpTransceiver;
  source: 'camera' | 'microphone' | 'screen' | 'custom';
  /** The track's id in the room (participant id and mid) once negotiated. */
  readonly trackId: string | null;
}

/** What each event's `detail` carries. */
export interface RoomEventMap {
  participantjoined: {participant: RemoteParticipant};
  participantleft: {participant: string};
  track: {participant: string | null; trackId: string | undefined; track: MediaStreamTrack; stream: MediaStream;
          mid: string | null};
  trackended: {track: string};
  trackmuted: {participant: string; track: string; muted: boolean};
  path: {participant: string; path: string};
  error: {code: string; message?: string; [field: string]: unknown};
  connectionstate: {state: RTCPeerConnectionState};
  closed: {code: number; reason: string};
  reconnecting: {cause: 'signalling' | 'media'; reason: string};
  reconnected: {cause: 'signalling' | 'media'};
  disconnected: {reason: string};
  connectionquality: {participant: string; quality: Quality; loss: number | null; rtt: number | null;
                      jitter: number | null};
  /** Participant ids, loudest first, and each one's audio level (0..1). */
  activespeakers: {speakers: string[]; levels: Record<string, number>};
  layers: {track: string; mid: string | null; active: string[]};
  published: {publication: LocalPublication};
  unpublished: {track: MediaStreamTrack};
  devicechanged: {kind: 'audioinput' | 'videoinput'; track: MediaStreamTrack};
}

export interface RoomStats {
  path: {local?: string; remote?: string; protocol?: string; relayProtocol: string | null; address?: string;
         port?: number} | null;
  rtt: number | null;
  inbound: Array<Record<string, unknown>>;
  outbound: Array<Record<string, unknown>>;
}

type Pending = {resolve: (m: ServerMessage) => void; reject: (e: Error) => void};
// getStats() entries are dictionaries of many shapes: read them as records.
type Stat = Record<string, any>;  // eslint-disable-line @typescript-eslint/no-explicit-any

export class Room extends EventTarget {
  url: string;
  token: string;
  readonly options: RoomOptions & {stream: MediaStream | null};
  participantId: string | null = null;
  room: string | null = null;
  region: string | null = null;
  identity: string | null = null;
  /** The server's protocol version and features (version 2: `features`). */
  version = 1;
  features: string[] = [];
  readonly participants = new Map<string, RemoteParticipant>();
  readonly paths = new Map<string, string>();
  /** The last connection quality per participant (ours under our own id). */
  readonly quality = new Map<string, Quality>();
  readonly publications: LocalPublication[] = [];
  iceServers: RTCIceServer[] = [];
  pc: RTCPeerConnection | null = null;
  /** 'connected', 'reconnecting' or 'disconnected'. */
  state: 'new' | 'connected' | 'reconnecting' | 'disconnected' = 'new';
  private signal: SignalConnection | null = null;
  private sessionToken: string | null = null;
  private resumeGraceMs = 15_000;
  private wanted = new Map<string, RTCRtpTransceiver>();   // trackId -> transceiver receiving it
  private trackOfMid = new Map<string, string>();           // mid -> trackId (after negotiation)
  private pendingAnswer: Pending | null = null;
  private negotiating: Promise<void> = Promise.resolve();
  private iceTimer: ReturnType<typeof setTimeout> | null = null;
  private qualityTimer: ReturnType<typeof setInterval> | null = null;
  private lastCounts = new Map<string, {received: number; lost: number}>();
  private lastFatal: string | null = null;
  private callWatch: CallWatch | null = null;
  private onPageHide: ((e: PageTransitionEvent) => void) | null = null;
  closed = false;

  constructor(url: string, token: string, options?: RoomOptions) {
    super();
    this.url = url;
    this.token = token;
    this.options = Object.assign({stream: null, iceTransportPolicy: 'all' as RTCIceTransportPolicy,
                                  turnTransports: null, simulcast: true, reconnect: true, pingIntervalMs: 2000,
                                  pingTimeoutMs: 5000, iceRestartAfterMs: 3000, qualityIntervalMs: 2000},
                                 options || {});
  }

  /** Typed listener; returns a function that removes it. */
  on<K extends keyof RoomEventMap>(type: K, fn: (detail: RoomEventMap[K]) => void): () => void {
    const h = (e: Event) => fn((e as CustomEvent<RoomEventMap[K]>).detail);
    this.addEventListener(type, h);
    return () => this.removeEventListener(type, h);
  }

  private emit<K extends keyof RoomEventMap>(type: K, detail: RoomEventMap[K]): void {
    this.dispatchEvent(new CustomEvent(type, {detail}));
  }

  // ------------------------------------------------------------------------------ joining

  /** Opens the signalling connection and joins; resolves once the first negotiation is done. */
  async join(): Promise<this> {
    const joined = await this._connect();
    this.adopt(joined);
    this.makePeerConnection();
    const stream = this.options.stream;
    if (stream) {
      for (const track of stream.getTracks())
        this.addPublication(track, track.kind === 'video' ? 'camera' : 'microphone', stream);
    }
    for (const p of joined.participants || []) this.addParticipant(p);
    this.state = 'connected';
    this.startQuality();
    if (typeof window !== 'undefined' && !this.onPageHide) {  // a closed tab leaves at once, no resume
      this.onPageHide = (e: PageTransitionEvent) => { if (!e.persisted) void this.leave(); };
      window.addEventListener('pagehide', this.onPageHide);
    }
    await this.negotiate();
    return this;
  }

  // The join, following `wrong_region` redirects through the token provider (at most twice).
  // (bench/sfu/fanout.js wraps it to drop the ICE servers.)
  protected async _connect(): Promise<JoinedMessage> {
    for (let redirects = 0; ; ++redirects) {
      const conn = this.newSignal(this.url);
      try {
        const joined = await conn.open({type: 'join', token: this.token, version: PROTOCOL_VERSION});
        this.signal = conn;
        return joined;
      } catch (e) {
        const err = e as SignalError;
        const url = err.detail && typeof err.detail.signal_url === 'string' ? err.detail.signal_url : null;
        const region = err.detail && typeof err.detail.region === 'string' ? err.detail.region : null;
        const tp = this.options.tokenProvider;
        if (redirects >= 2 || !url || (err.code !== 'wrong_region' && err.code !== 'draining')) throw err;
        if (err.code === 'wrong_region' && !tp) throw err;
        if (tp) this.token = await tp(region);
        this.url = url;
      }
    }
  }

  private newSignal(url: string, openTimeoutMs = 5000): SignalConnection {
    const conn = new SignalConnection(url, {pingIntervalMs: this.options.pingIntervalMs || 2000,
                                           pingTimeoutMs: this.options.pingTimeoutMs || 5000, openTimeoutMs});
    conn.onmessage = (m) => this.onMessage(m);
    conn.onlost = (reason, code) => this.onSignalLost(reason, code);
    return conn;
  }

  private adopt(joined: JoinedMessage): void {
    this.participantId = joined.participant;
    this.room = joined.room;
    this.region = joined.region;
    this.identity = joined.identity;
    this.version = joined.version || 1;
    this.features = joined.features || [];
    this.sessionToken = joined.session_token || null;
    if (joined.resume_grace) this.resumeGraceMs = joined.resume_grace * 1000;
    this.iceServers = filterIceServers(joined.ice_servers, this.options.turnTransports,
                                       this.options.iceTransportPolicy === 'relay');
  }

  private makePeerConnection(): void {
    const pc = new RTCPeerConnection({
      iceServers: this.iceServers,
      iceTransportPolicy: this.options.iceTransportPolicy,
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
    });
    this.pc = pc;
    pc.addEventListener('track', (e) => this.onTrack(e));
    if (this.options.callReport) this.watchCallReport(this.options.callReport);
    // The SFU is ICE-lite and needs no candidates to connect; it uses relay candidates to tell
    // media relayed by another TURN server from direct media.
    pc.addEventListener('icecandidate', (e) => {
      if (e.candidate && e.candidate.candidate) this.send({type: 'candidate', candidate: e.candidate.candidate});
    });
    pc.addEventListener('connectionstatechange', () => this.emit('connectionstate', {state: pc.connectionState}));
    pc.addEventListener('iceconnectionstatechange', () => this.onIceState());
  }

  private send(msg: Record<string, unknown>): boolean {
    return this.signal ? this.signal.send(msg) : false;
  }

  // ------------------------------------------------------------------------------ reconnection

  private onSignalLost(reason: string, code: number): void {
    this.signal = null;
    if (this.pendingAnswer) {
      this.pendingAnswer.reject(new SignalError('signalling_lost', 'the signalling connection was lost'));
      this.pendingAnswer = null;
    }
    if (this.closed) return;
    const fatal = this.lastFatal;
    if (fatal || !this.options.reconnect || !this.sessionToken) {
      this.emit('closed', {code, reason});
      return this.disconnect(fatal || reason);
    }
    void this.resume(reason);
  }

  // Resume attempts, each bounded, until one succeeds or the server's grace has passed.
  private async resume(reason: string): Promise<void> {
    this.state = 'reconnecting';
    this.emit('reconnecting', {cause: 'signalling', reason});
    const deadline = Date.now() + this.resumeGraceMs;
    for (let delay = 250; !this.closed && Date.now() < deadline; delay = Math.min(delay * 2, 2000)) {
      const conn = this.newSignal(this.url, 2500);  // a connection attempt into a silent network: abandoned
      try {
        const resumed = await conn.open({type: 'resume', session_token: this.sessionToken, version: PROTOCOL_VERSION});
        if (this.closed) return conn.close();
        this.signal = conn;
        this.onResumed(resumed);
        return;
      } catch (e) {
        const err = e as SignalError;
        if (err.code === 'resume_failed') return this.rejoin('resume_failed');
        if (FATAL_CODES.has(err.code)) return this.disconnect(err.code);
      }
      await new Promise((r) => setTimeout(r, delay));
    }
    if (!this.closed) await this.rejoin('reconnect_timeout');
  }

  private onResumed(msg: JoinedMessage): void {
    this.adopt(msg);
    const present = new Set<string>();
    for (const p of msg.participants || []) {
      present.add(p.id);
      if (!this.participants.has(p.id)) {
        this.addParticipant(p);
        continue;
      }
      const entry = this.participants.get(p.id)!;  // tracks published or ended while we were away
      const now = new Set((p.tracks || []).map((t) => t.id));
      for (const id of [...entry.tracks.keys()]) if (!now.has(id)) { entry.tracks.delete(id); this.unwant(id); }
      for (const t of p.tracks || []) { entry.tracks.set(t.id, t); this.want(t); }
      if (p.path) this.paths.set(p.id, p.path);
    }
    for (const id of [...this.participants.keys()]) if (!present.has(id)) this.removeParticipant(id);
    this.state = 'connected';
    this.emit('reconnected', {cause: 'signalling'});
    const ice = this.pc ? this.pc.iceConnectionState : 'new';
    void this.negotiate(ice === 'failed' || ice === 'disconnected');
  }

  // No session to resume: a new join (a new participant id) with the token provider's token, else
  // the one we have; the local media is published again.
  private async rejoin(reason: string): Promise<void> {
    if (this.closed) return;
    if (!this.options.tokenProvider) return this.disconnect(reason);
    try {
      this.token = await this.options.tokenProvider(this.region);
      this.teardown();
      for (const id of [...this.participants.keys()]) this.removeParticipant(id);
      this.publications.length = 0;
      await this.join();
      this.emit('reconnected', {cause: 'signalling'});
    } catch (e) {
      this.disconnect(reason + ': ' + String(e));
    }
  }

  private disconnect(reason: string): void {
    if (this.state === 'disconnected') return;
    this.state = 'disconnected';
    this.stopQuality();
    this.emit('disconnected', {reason});
  }

  // ICE disconnected or failed for iceRestartAfterMs: a new ICE session through a new offer.
  private onIceState(): void {
    const pc = this.pc;
    if (!pc) return;
    const s = pc.iceConnectionState;
    if (s === 'connected' || s === 'completed') {
      if (this.iceTimer !== null) {
        clearTimeout(this.iceTimer);
        this.iceTimer = null;
      }
      if (this.state === 'connected' && this.mediaLost) {
        this.mediaLost = false;
        this.emit('reconnected', {cause: 'media'});
      }
      return;
    }
    if ((s === 'disconnected' || s === 'failed') && this.iceTimer === null && this.options.reconnect) {
      this.iceTimer = setTimeout(() => {
        this.iceTimer = null;
        const now = pc.iceConnectionState;
        if (this.closed || (now !== 'disconnected' && now !== 'failed')) return;
        this.mediaLost = true;
        this.emit('reconnecting', {cause: 'media', reason: 'ice_' + now});
        void this.restartIce();
      }, this.options.iceRestartAfterMs || 3000);
    }
  }
  private mediaLost = false;

  // ------------------------------------------------------------------------------ messages

  private onMessage(msg: ServerMessage): void {
    switch (msg.type) {
      case 'answer':
        if (this.pendingAnswer) { this.pendingAnswer.resolve(msg); this.pendingAnswer = null; }
        break;
      case 'participant_joined':
        this.addParticipant(msg.participant as ParticipantInfo);
        void this.negotiate();
        break;
      case 'participant_left':
        this.removeParticipant(String(msg.participant));
        void this.negotiate();
        break;
      case 'track_published': {
        const p = this.participants.get(String(msg.participant));
        const t = msg.track as TrackInfo;
        if (p) { p.tracks.set(t.id, t); this.want(t); }
        void this.negotiate();
        break;
      }
      case 'track_unpublished': {
        const p = this.participants.get(String(msg.participant));
        if (p) p.tracks.delete(String(msg.track));
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
        this.emit('path', {participant: String(msg.participant), path: String(msg.path)});
        break;
      case 'active_speakers':
        this.onSpeakers(Array.isArray(msg.speakers) ? msg.speakers : []);
        break;
      case 'layers':
        void this.onLayers(String(msg.track), typeof msg.mid === 'string' ? msg.mid : null,
                           Array.isArray(msg.active) ? msg.active.map(String) : []);
        break;
      case 'error':
        this.onError(msg);
        break;
      default:
        break;  // pong, and what a later server adds
    }
  }

  private onError(msg: ServerMessage): void {
    const code = String(msg.code);
    if (FATAL_CODES.has(code)) this.lastFatal = code;
    if (this.pendingAnswer) {
      this.pendingAnswer.reject(new SignalError(code, String(msg.message || code), msg));
      this.pendingAnswer = null;
    }
    this.emit('error', Object.assign({}, msg, {code, message: String(msg.message || code)}));
  }

  private onMuted(participant: string, track: string, muted: boolean): void {
    const p = this.participants.get(participant);
    const t = p ? p.tracks.get(track) : undefined;
    if (t) t.muted = muted;
    this.emit('trackmuted', {participant, track, muted});
  }

  // `speakers`: [{participant, level}] (or bare ids), loudest first.
  private onSpeakers(list: unknown[]): void {
    const speakers: string[] = [];
    const levels: Record<string, number> = {};
    for (const s of list) {
      const rec = typeof s === 'object' && s !== null ? s as {participant?: unknown; level?: unknown} : null;
      const id = rec ? String(rec.participant) : String(s);
      speakers.push(id);
      if (rec && typeof rec.level === 'number') levels[id] = rec.level;
    }
    this.emit('activespeakers', {speakers, levels});
  }

  // Dynacast: pause the layers of our track that nobody watches.
  private async onLayers(track: string, mid: string | null, active: string[]): Promise<void> {
    const pub = this.publications.find((p) => p.trackId === track || (mid !== null && p.transceiver.mid === mid));
    if (pub) await setActiveLayers(pub.transceiver.sender, active).catch(() => undefined);
    this.emit('layers', {track, mid, active});
  }

  private addParticipant(p: ParticipantInfo): void {
    if (p.id === this.participantId || this.participants.has(p.id)) return;
    const entry: RemoteParticipant = {id: p.id, identity: p.identity, tracks: new Map()};
    this.participants.set(p.id, entry);
    for (const t of p.tracks || []) { entry.tracks.set(t.id, t); this.want(t); }
    if (p.path) this.paths.set(p.id, p.path);
    this.emit('participantjoined', {participant: entry});
  }

  private removeParticipant(id: string): void {
    const p = this.participants.get(id);
    if (!p) return;
    for (const trackId of p.tracks.keys()) this.unwant(trackId);
    this.participants.delete(id);
    this.paths.delete(id);
    this.quality.delete(id);
    this.emit('participantleft', {participant: id});
  }

  // A recvonly transceiver for a remote track; its mid is known after setLocalDescription.
  private want(track: TrackInfo): void {
    if (!this.pc || this.wanted.has(track.id) || this.options.subscribe === false) return;
    this.wanted.set(track.id, this.pc.addTransceiver(track.kind, {direction: 'recvonly'}));
  }

  private unwant(trackId: string): void {
    const t = this.wanted.get(trackId);
    if (!t) return;
    this.wanted.delete(trackId);
    if (t.mid) this.trackOfMid.delete(t.mid);
    if (t.receiver && t.receiver.track) t.receiver.track.stop();
    try { t.stop(); } catch (_) { /* already stopped */ }
    this.emit('trackended', {track: trackId});
  }

  private onTrack(e: RTCTrackEvent): void {
    const mid = e.transceiver ? e.transceiver.mid : null;
    const trackId = mid === null ? undefined : this.trackOfMid.get(mid);
    let participant: string | null = null;
    for (const p of this.participants.values()) if (trackId !== undefined && p.tracks.has(trackId)) participant = p.id;
    this.emit('track', {participant, trackId, track: e.track, stream: new MediaStream([e.track]), mid});
  }

  // ------------------------------------------------------------------------------ negotiation

  /** One offer/answer round (with an ICE restart if asked); rounds queue behind each other. */
  negotiate(iceRestart = false): Promise<void> {
    const run = async () => {
      if (this.closed || !this.pc) return;
      if (!this.signal || !this.signal.isOpen) return;  // offered again once the connection is resumed
      await this.offerOnce(this.pc, iceRestart);
    };
    this.negotiating = this.negotiating.then(run, run).catch((e: unknown) => {
      const pc = this.pc;
      if (pc && pc.signalingState === 'have-local-offer')
        void pc.setLocalDescription({type: 'rollback'}).catch(() => undefined);
      const code = e instanceof SignalError ? e.code : 'negotiation';
      if (code !== 'signalling_lost') this.emit('error', {code: 'negotiation', message: String(e)});
    });
    return this.negotiating;
  }

  private async offerOnce(pc: RTCPeerConnection, iceRestart: boolean): Promise<void> {
    // Transceivers for tracks known before the connection existed (participants known at join).
    for (const p of this.participants.values()) for (const t of p.tracks.values()) this.want(t);
    const offer = await pc.createOffer({iceRestart});
    await pc.setLocalDescription(offer);
    await this.gathered(GATHER_WAIT_MS);
    const subscriptions: Record<string, string> = {};
    for (const [trackId, t] of this.wanted) {
      if (t.mid !== null) { subscriptions[t.mid] = trackId; this.trackOfMid.set(t.mid, trackId); }
    }
    const answered = new Promise<ServerMessage>((resolve, reject) => {
      this.pendingAnswer = {resolve, reject};
      setTimeout(() => reject(new SignalError('timeout', 'no answer to the offer')), ANSWER_TIMEOUT_MS);
    });
    if (!this.send({type: 'offer', sdp: pc.localDescription ? pc.localDescription.sdp : '', subscriptions}))
      throw new SignalError('signalling_lost', 'the signalling connection was lost');
    const answer = await answered;
    await pc.setRemoteDescription({type: 'answer', sdp: String(answer.sdp)});
  }

  // Resolves when ICE gathering is complete (at once on a renegotiation), or after `ms`.
  private gathered(ms: number): Promise<void> {
    const pc = this.pc;
    if (!pc || pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => { if (pc.iceGatheringState === 'complete') done(); };
      const done = () => { pc.removeEventListener('icegatheringstatechange', check); clearTimeout(timer); resolve(); };
      const timer = setTimeout(done, ms);
      pc.addEventListener('icegatheringstatechange', check);
    });
  }

  /** A new ICE session (e.g. after a network change); media continues on the new pair. */
  restartIce(): Promise<void> {
    return this.negotiate(true);
  }

  // ------------------------------------------------------------------------------ publishing

  private addPublication(track: MediaStreamTrack, source: LocalPublication['source'],
                         stream?: MediaStream | null): LocalPublication {
    const pc = this.pc!;
    const simulcast = source === 'camera' && this.options.simulcast !== false && this.features.includes('simulcast');
    const init: RTCRtpTransceiverInit = {direction: 'sendonly', streams: stream ? [stream] : []};
    if (simulcast) init.sendEncodings = simulcastEncodings();
    const transceiver = pc.addTransceiver(track, init);
    const owner = this;
    const pub: LocalPublication = {
      track, transceiver, source,
      get trackId() { return transceiver.mid !== null && owner.participantId ? owner.participantId + '-' + transceiver.mid : null; },
    };
    this.publications.push(pub);
    this.emit('published', {publication: pub});
    return pub;
  }

  /** Publishes a track at any time (a camera with simulcast unless `simulcast: false`). */
  async publish(track: MediaStreamTrack, options?: {source?: LocalPublication['source']; stream?: MediaStream}):
      Promise<LocalPublication> {
    if (!this.pc) throw new SignalError('not_joined', 'join first');
    const source = options && options.source ? options.source : (track.kind === 'video' ? 'camera' : 'microphone');
    const pub = this.addPublication(track, source, options && options.stream ? options.stream : null);
    await this.negotiate();
    return pub;
  }

  /** Stops publishing a local track (e.g. the camera); the others see it end. */
  async unpublish(track: MediaStreamTrack): Promise<void> {
    if (!this.pc) return;
    for (const t of this.pc.getTransceivers()) {
      if (t.sender && t.sender.track === track && t.direction === 'sendonly') {
        await t.sender.replaceTrack(null);
        t.direction = 'inactive';
      }
    }
    const at = this.publications.findIndex((p) => p.track === track);
    if (at >= 0) this.publications.splice(at, 1);
    this.emit('unpublished', {track});
    return this.negotiate();
  }

  /** Mutes (track.enabled false: silence or black frames) and tells the room (`track_muted`). */
  mute(what: MediaStreamTrack | 'audio' | 'video', muted = true): void {
    for (const p of this.publications) {
      if (typeof what === 'string' ? p.track.kind !== what || p.source === 'screen' : p.track !== what) continue;
      p.track.enabled = !muted;
      if (p.transceiver.mid !== null) this.send({type: 'mute', mid: p.transceiver.mid, muted});
    }
  }

  unmute(what: MediaStreamTrack | 'audio' | 'video'): void { this.mute(what, false); }

  /**
   * Preferences for a remote track this participant receives (`subscribe`, sfu/PROTOCOL.md): the
   * highest simulcast layer wanted (a rid such as 'h', 'low'/'medium'/'high', or an index; e.g. for
   * a small tile) and whether to pause it. The SFU answers bad values with an `error` event.
   */
  setSubscription(track: string, prefs: {maxLayer?: string | number; paused?: boolean}): boolean {
    const msg: Record<string, unknown> = {type: 'subscribe', track};
    if (prefs.maxLayer !== undefined) msg.max_layer = prefs.maxLayer;
    if (prefs.paused !== undefined) msg.paused = prefs.paused;
    return this.send(msg);
  }

  /** The media devices, by kind. */
  listDevices(): ReturnType<typeof listDevices> { return listDevices(); }

  /** Another camera or microphone for what is published (RTCRtpSender.replaceTrack: no renegotiation). */
  async switchDevice(kind: 'audioinput' | 'videoinput', deviceId: string): Promise<MediaStreamTrack> {
    const mediaKind = kind === 'audioinput' ? 'audio' : 'video';
    const pub = this.publications.find((p) => p.track.kind === mediaKind && p.source !== 'screen');
    const old = pub ? pub.track : null;
    const base = old ? old.getConstraints() : {};
    const constraints = Object.assign({}, base, {deviceId: {exact: deviceId}});
    const media = await navigator.mediaDevices.getUserMedia(mediaKind === 'audio' ? {audio: constraints}
                                                                                  : {video: constraints});
    const track = media.getTracks()[0];
    if (pub && old) {
      track.enabled = old.enabled;
      await pub.transceiver.sender.replaceTrack(track);
      pub.track = track;
      const stream = this.options.stream;
      if (stream) { stream.removeTrack(old); stream.addTrack(track); }
      old.stop();
    }
    this.emit('devicechanged', {kind, track});
    return track;
  }

  /** Shares the screen (getDisplayMedia) as another video track; ends when the user stops it. */
  async shareScreen(options?: DisplayMediaStreamOptions): Promise<LocalPublication> {
    const media = await navigator.mediaDevices.getDisplayMedia(options || {video: true, audio: false});
    const track = media.getVideoTracks()[0];
    track.addEventListener('ended', () => { void this.unpublish(track); });
    return this.publish(track, {source: 'screen', stream: media});
  }

  async stopScreenShare(): Promise<void> {
    for (const p of this.publications.filter((x) => x.source === 'screen')) {
      p.track.stop();
      await this.unpublish(p.track);
    }
  }

  // ------------------------------------------------------------------------------ statistics

  /** What the browser sees of its path and media: the selected candidate pair and per-track counters. */
  async stats(): Promise<RoomStats> {
    const out: RoomStats = {path: null, rtt: null, inbound: [], outbound: []};
    if (!this.pc) return out;
    const report = await this.pc.getStats();
    const byId = new Map<string, Stat>();
    report.forEach((s: Stat) => byId.set(s.id, s));
    report.forEach((s: Stat) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) {
        const pair = byId.get(s.selectedCandidatePairId);
        if (pair) {
          const local = byId.get(pair.localCandidateId) || {};
          const remote = byId.get(pair.remoteCandidateId) || {};
          out.path = {local: local.candidateType, remote: remote.candidateType, protocol: local.protocol,
                      relayProtocol: local.relayProtocol || null, address: remote.address, port: remote.port};
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
        out.outbound.push({kind: s.kind, mid: s.mid, rid: s.rid || null, packetsSent: s.packetsSent,
                           bytesSent: s.bytesSent, frameWidth: s.frameWidth, frameHeight: s.frameHeight,
                           active: s.active, targetBitrate: s.targetBitrate});
      }
    });
    return out;
  }

  private startQuality(): void {
    const every = this.options.qualityIntervalMs;
    if (!every || this.qualityTimer !== null) return;
    this.qualityTimer = setInterval(() => { void this.sampleQuality().catch(() => undefined); }, every);
  }

  private stopQuality(): void {
    if (this.qualityTimer !== null) clearInterval(this.qualityTimer);
    this.qualityTimer = null;
  }

  // Per participant: loss since the last sample and jitter of what we receive from it, with the
  // path's RTT; events when the verdict changes.
  private async sampleQuality(): Promise<void> {
    const s = await this.stats();
    const per = new Map<string, {received: number; lost: number; jitter: number}>();
    for (const r of s.inbound) {
      const trackId = typeof r.trackId === 'string' ? r.trackId : '';
      let owner: string | null = null;
      for (const p of this.participants.values()) if (p.tracks.has(trackId)) owner = p.id;
      if (!owner) continue;
      const acc = per.get(owner) || {received: 0, lost: 0, jitter: 0};
      acc.received += Number(r.packetsReceived || 0);
      acc.lost += Math.max(0, Number(r.packetsLost || 0));
      acc.jitter = Math.max(acc.jitter, Number(r.jitter || 0));
      per.set(owner, acc);
    }
    for (const [id, acc] of per) {
      const last = this.lastCounts.get(id) || {received: 0, lost: 0};
      this.lastCounts.set(id, {received: acc.received, lost: acc.lost});
      const dr = acc.received - last.received, dl = acc.lost - last.lost;
      const loss = dr + dl > 0 ? dl / (dr + dl) : null;
      this.report(id, {loss, rtt: s.rtt, jitter: acc.jitter});
    }
    if (this.participantId) this.report(this.participantId, {loss: null, rtt: s.rtt, jitter: null});
  }

  private report(participant: string, sample: {loss: number | null; rtt: number | null; jitter: number | null}): void {
    const quality = qualityOf(sample);
    if (this.quality.get(participant) === quality) return;
    this.quality.set(participant, quality);
    this.emit('connectionquality', Object.assign({participant, quality}, sample));
  }

  // ------------------------------------------------------------------------------ leaving

  // The SFU counts its own sessions (turnpike_sfu_sessions{path}); a room may also report its leg
  // as a call (turnpike_calls_total), to the signalling port it joined through.
  private watchCallReport(opts: CallReportOptions): void {
    const report = (globalThis as unknown as {TurnpikeCallReport?: CallReportGlobal}).TurnpikeCallReport;
    if (!report || !this.pc) return;
    const url = opts.url || this.url.replace(/^ws(s?):/i, 'http$1:').replace(/\/signal(\?.*)?$/, '/api/v1/call-reports');
    const turn = this.iceServers.find((s) => s.username && s.credential) || {} as RTCIceServer;
    this.callWatch = report.watch(this.pc, Object.assign(
      {url, username: turn.username, credential: turn.credential as string | undefined}, opts, {url}));
  }

  private teardown(): void {
    this.stopQuality();
    if (this.iceTimer !== null) clearTimeout(this.iceTimer);
    this.iceTimer = null;
    if (this.signal) this.signal.close();
    this.signal = null;
    if (this.pc) this.pc.close();
    this.pc = null;
    this.wanted.clear();
    this.trackOfMid.clear();
  }

  /** Leaves the room; with a call report, resolves with the report's answer. */
  leave(): Promise<unknown> {
    if (this.closed) return Promise.resolve(null);
    this.closed = true;
    if (this.onPageHide) window.removeEventListener('pagehide', this.onPageHide);
    this.send({type: 'leave'});
    if (this.signal) this.signal.close(1000, 'leave');
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
