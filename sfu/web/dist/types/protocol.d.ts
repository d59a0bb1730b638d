/** The protocol version this SDK speaks; version 1 servers' behaviour is a subset. */
export declare const PROTOCOL_VERSION = 2;
export interface TrackInfo {
    id: string;
    kind: 'audio' | 'video';
    muted?: boolean;
}
export interface ParticipantInfo {
    id: string;
    identity: string;
    tracks?: TrackInfo[];
    path?: string | null;
}
/** `joined` (and, for a resumed session, `resumed`): the server's view of the room. */
export interface JoinedMessage {
    type: 'joined' | 'resumed';
    participant: string;
    room: string;
    identity: string;
    region: string;
    ice_servers: RTCIceServer[];
    participants: ParticipantInfo[];
    version?: number;
    session_token?: string;
    resume_grace?: number;
    features?: string[];
    tracks?: TrackInfo[];
}
/** Any message from the server; the fields depend on `type`. */
export interface ServerMessage {
    type: string;
    [field: string]: unknown;
}
/** An `error` from the server (or from the SDK: `code` then names what failed locally). */
export declare class SignalError extends Error {
    readonly code: string;
    readonly detail: ServerMessage | null;
    constructor(code: string, message: string, detail?: ServerMessage | null);
}
/** Error codes after which the server closes the socket and a resume is pointless. */
export declare const FATAL_CODES: ReadonlySet<string>;
