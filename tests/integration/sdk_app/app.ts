// A small application on turnpike-sdk, as an app developer writes one (compiled with tsc --strict
// against the package's .d.ts by tests/integration/test_sdk.py, which drives it in Chromium through
// window.sdkApp): join and publish, mute, switch the camera, share the screen, and record what the
// room reports (reconnection, quality, mutes) for the test to read.
import {join, listDevices, PROTOCOL_VERSION, Room, RoomEventMap, SignalError} from 'turnpike-sdk';

interface LogEntry {
  at: number;
  event: keyof RoomEventMap;
  detail: unknown;
}

class App {
  room: Room | null = null;
  readonly log: LogEntry[] = [];
  error: string | null = null;

  async join(url: string, token: string): Promise<{participant: string | null; version: number}> {
    const stream = await navigator.mediaDevices.getUserMedia({audio: true, video: {width: 320, height: 240}});
    try {
      this.room = await join(url, token, {
        stream,
        pingIntervalMs: 1000,
        pingTimeoutMs: 2500,
        iceRestartAfterMs: 2000,
        qualityIntervalMs: 1000,
        tokenProvider: async () => token,
      });
    } catch (e) {
      this.error = e instanceof SignalError ? `${e.code}: ${e.message}` : String(e);
      throw e;
    }
    const events: Array<keyof RoomEventMap> = ['reconnecting', 'reconnected', 'disconnected', 'participantjoined',
      'participantleft', 'trackmuted', 'connectionquality', 'activespeakers', 'layers', 'devicechanged', 'error'];
    for (const event of events) {
      this.room.on(event, (detail) => this.log.push({at: Date.now(), event, detail: this.plain(detail)}));
    }
    return {participant: this.room.participantId, version: PROTOCOL_VERSION};
  }

  private plain(detail: unknown): unknown {
    try {
      return JSON.parse(JSON.stringify(detail, (_k, v: unknown) => (v instanceof Map ? [...v.keys()] : v)));
    } catch (_) {
      return null;
    }
  }

  private need(): Room {
    if (!this.room) throw new Error('not joined');
    return this.room;
  }

  mute(kind: 'audio' | 'video', muted: boolean): boolean {
    const room = this.need();
    room.mute(kind, muted);
    return room.publications.filter((p) => p.track.kind === kind).every((p) => p.track.enabled === !muted);
  }

  // Switches the camera to another device; the new and old device ids.
  async switchCamera(): Promise<{from: string | undefined; to: string | undefined; devices: number; sending: boolean}> {
    const room = this.need();
    const cams = (await listDevices()).videoinput;
    const current = room.publications.find((p) => p.track.kind === 'video' && p.source === 'camera');
    const from = current ? current.track.getSettings().deviceId : undefined;
    // The last other camera: Chromium's second fake camera is a depth (Y16) device, its third MJPEG.
    const others = cams.filter((d) => d.deviceId !== from);
    const other = others.length ? others[others.length - 1] : cams[0];
    const track = await room.switchDevice('videoinput', other.deviceId);
    const now = room.publications.find((p) => p.track === track);
    return {from, to: track.getSettings().deviceId, devices: cams.length,
            sending: !!now && now.transceiver.sender.track === track};
  }

  async shareScreen(): Promise<{trackId: string | null; label: string}> {
    const pub = await this.need().shareScreen({video: {width: 640, height: 360}, audio: false});
    const v = document.getElementById('screen') as HTMLVideoElement;
    v.srcObject = new MediaStream([pub.track]);
    return {trackId: pub.trackId, label: pub.track.label};
  }

  async stats(): Promise<unknown> {
    return this.need().stats();
  }
}

declare global {
  interface Window { sdkApp: App; }
}
window.sdkApp = new App();
