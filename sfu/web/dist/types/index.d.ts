import { CallReportOptions, CallWatch, Room, RoomOptions } from './room.js';
/** Joins a room: resolves with the Room once the first negotiation is done. */
export declare function join(url: string, token: string, options?: RoomOptions): Promise<Room>;
/** Reports the path of a call that uses Turnpike only as TURN (call-report.js, served first in /sdk/turnpike.js). */
export declare function watchCall(pc: RTCPeerConnection, options: CallReportOptions): CallWatch;
export { Room } from './room.js';
export type { RoomOptions, RoomEventMap, RemoteParticipant, LocalPublication, TokenProvider, RoomStats, CallReportOptions, CallWatch } from './room.js';
export { filterIceServers, turnTransportOf } from './ice.js';
export { listDevices, qualityOf, simulcastEncodings, SIMULCAST_LAYERS } from './media.js';
export type { Quality, QualitySample, DeviceKind } from './media.js';
export { PROTOCOL_VERSION, SignalError } from './protocol.js';
export type { TrackInfo, ParticipantInfo, JoinedMessage, ServerMessage } from './protocol.js';
