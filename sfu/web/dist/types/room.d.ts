import { listDevices, Quality } from './media.js';
import { JoinedMessage, TrackInfo } from './protocol.js';
export interface CallReportOptions {
    url?: string;
    username?: string;
    credential?: string;
    tags?: Record<string, string>;
}
export interface CallWatch {
    end(): Promise<unknown>;
}
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
    participantjoined: {
        participant: RemoteParticipant;
    };
    participantleft: {
        participant: string;
    };
    track: {
        participant: string | null;
        trackId: string | undefined;
        track: MediaStreamTrack;
        stream: MediaStream;
        mid: string | null;
    };
    trackended: {
        track: string;
    };
    trackmuted: {
        participant: string;
        track: string;
        muted: boolean;
    };
    path: {
        participant: string;
        path: string;
    };
    error: {
        code: string;
        message?: string;
        [field: string]: unknown;
    };
    connectionstate: {
        state: RTCPeerConnectionState;
    };
    closed: {
        code: number;
        reason: string;
    };
    reconnecting: {
        cause: 'signalling' | 'media';
        reason: string;
    };
    reconnected: {
        cause: 'signalling' | 'media';
    };
    disconnected: {
        reason: string;
    };
    connectionquality: {
        participant: string;
        quality: Quality;
        loss: number | null;
        rtt: number | null;
        jitter: number | null;
    };
    /** Participant ids, loudest first, and each one's audio level (0..1). */
    activespeakers: {
        speakers: string[];
        levels: Record<string, number>;
    };
    layers: {
        track: string;
        mid: string | null;
        active: string[];
    };
    published: {
        publication: LocalPublication;
    };
    unpublished: {
        track: MediaStreamTrack;
    };
    devicechanged: {
        kind: 'audioinput' | 'videoinput';
        track: MediaStreamTrack;
    };
}
export interface RoomStats {
    path: {
        local?: string;
        remote?: string;
        protocol?: string;
        relayProtocol: string | null;
        address?: string;
        port?: number;
    } | null;
    rtt: number | null;
    inbound: Array<Record<string, unknown>>;
    outbound: Array<Record<string, unknown>>;
}
export declare class Room extends EventTarget {
    url: string;
    token: string;
    readonly options: RoomOptions & {
        stream: MediaStream | null;
    };
    participantId: string | null;
    room: string | null;
    region: string | null;
    identity: string | null;
    /** The server's protocol version and features (version 2: `features`). */
    version: number;
    features: string[];
    readonly participants: Map<string, RemoteParticipant>;
    readonly paths: Map<string, string>;
    /** The last connection quality per participant (ours under our own id). */
    readonly quality: Map<string, Quality>;
    readonly publications: LocalPublication[];
    iceServers: RTCIceServer[];
    pc: RTCPeerConnection | null;
    /** 'connected', 'reconnecting' or 'disconnected'. */
    state: 'new' | 'connected' | 'reconnecting' | 'disconnected';
    private signal;
    private sessionToken;
    private resumeGraceMs;
    private wanted;
    private trackOfMid;
    private pendingAnswer;
    private negotiating;
    private iceTimer;
    private qualityTimer;
    private lastCounts;
    private lastFatal;
    private callWatch;
    private onPageHide;
    closed: boolean;
    constructor(url: string, token: string, options?: RoomOptions);
    /** Typed listener; returns a function that removes it. */
    on<K extends keyof RoomEventMap>(type: K, fn: (detail: RoomEventMap[K]) => void): () => void;
    private emit;
    /** Opens the signalling connection and joins; resolves once the first negotiation is done. */
    join(): Promise<this>;
    protected _connect(): Promise<JoinedMessage>;
    private newSignal;
    private adopt;
    private makePeerConnection;
    private send;
    private onSignalLost;
    private resume;
    private onResumed;
    private rejoin;
    private disconnect;
    private onIceState;
    private mediaLost;
    private onMessage;
    private onError;
    private onMuted;
    private onSpeakers;
    private onLayers;
    private addParticipant;
    private removeParticipant;
    private want;
    private unwant;
    private onTrack;
    /** One offer/answer round (with an ICE restart if asked); rounds queue behind each other. */
    negotiate(iceRestart?: boolean): Promise<void>;
    private offerOnce;
    private gathered;
    /** A new ICE session (e.g. after a network change); media continues on the new pair. */
    restartIce(): Promise<void>;
    private addPublication;
    /** Publishes a track at any time (a camera with simulcast unless `simulcast: false`). */
    publish(track: MediaStreamTrack, options?: {
        source?: LocalPublication['source'];
        stream?: MediaStream;
    }): Promise<LocalPublication>;
    /** Stops publishing a local track (e.g. the camera); the others see it end. */
    unpublish(track: MediaStreamTrack): Promise<void>;
    /** Mutes (track.enabled false: silence or black frames) and tells the room (`track_muted`). */
    mute(what: MediaStreamTrack | 'audio' | 'video', muted?: boolean): void;
    unmute(what: MediaStreamTrack | 'audio' | 'video'): void;
    /**
     * Preferences for a remote track this participant receives (`subscribe`, sfu/PROTOCOL.md): the
     * highest simulcast layer wanted (a rid such as 'h', 'low'/'medium'/'high', or an index; e.g. for
     * a small tile) and whether to pause it. The SFU answers bad values with an `error` event.
     */
    setSubscription(track: string, prefs: {
        maxLayer?: string | number;
        paused?: boolean;
    }): boolean;
    /** The media devices, by kind. */
    listDevices(): ReturnType<typeof listDevices>;
    /** Another camera or microphone for what is published (RTCRtpSender.replaceTrack: no renegotiation). */
    switchDevice(kind: 'audioinput' | 'videoinput', deviceId: string): Promise<MediaStreamTrack>;
    /** Shares the screen (getDisplayMedia) as another video track; ends when the user stops it. */
    shareScreen(options?: DisplayMediaStreamOptions): Promise<LocalPublication>;
    stopScreenShare(): Promise<void>;
    /** What the browser sees of its path and media: the selected candidate pair and per-track counters. */
    stats(): Promise<RoomStats>;
    private startQuality;
    private stopQuality;
    private sampleQuality;
    private report;
    private watchCallReport;
    private teardown;
    /** Leaves the room; with a call report, resolves with the report's answer. */
    leave(): Promise<unknown>;
}
