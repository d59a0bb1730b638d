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
import {CallReportOptions, CallWatch, Room, RoomOptions} from './room.js';

/** Joins a room: resolves with the Room once the first negotiation is done. */
export async function join(url: string, token: string, options?: RoomOptions): Promise<Room> {
  const room = new Room(url, token, options);
  await room.join();
  return room;
}

/** Reports the path of a call that uses Turnpike only as TURN (call-report.js, served first in /sdk/turnpike.js). */
export function watchCall(pc: RTCPeerConnection, options: CallReportOptions): CallWatch {
  const report = (globalThis as unknown as {TurnpikeCallReport?: {watch(pc: RTCPeerConnection, o: CallReportOptions): CallWatch}})
    .TurnpikeCallReport;
  if (!report) throw new Error('the call-report snippet is not loaded (/sdk/call-report.js)');
  return report.watch(pc, options);
}

export {Room} from './room.js';
export type {RoomOptions, RoomEventMap, RemoteParticipant, LocalPublication, TokenProvider, RoomStats,
             CallReportOptions, CallWatch} from './room.js';
export {filterIceServers, turnTransportOf} from './ice.js';
export {listDevices, qualityOf, simulcastEncodings, SIMULCAST_LAYERS} from './media.js';
export type {Quality, QualitySample, DeviceKind} from './media.js';
export {PROTOCOL_VERSION, SignalError} from './protocol.js';
export type {TrackInfo, ParticipantInfo, JoinedMessage, ServerMessage} from './protocol.js';
