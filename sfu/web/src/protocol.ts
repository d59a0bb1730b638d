// The signalling protocol's messages (sfu/PROTOCOL.md), as the SDK reads and writes them.

/** The protocol version this SDK speaks; version 1 servers' behaviour is a subset. */
export const PROTOCOL_VERSION = 2;

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
export class SignalError extends Error {
  readonly code: string;
  readonly detail: ServerMessage | null;
  constructor(code: string, message: string, detail: ServerMessage | null = null) {
    super(message);
    this.code = code;
    this.detail = detail;
  }
}

/** Error codes after which the server closes the socket and a resume is pointless. */
export const FATAL_CODES: ReadonlySet<string> = new Set([
  'bad_token', 'expired_token', 'wrong_region', 'forbidden_region', 'room_full', 'ice_failed', 'removed',
  'draining', 'resume_failed',
]);
