// One signalling WebSocket: its first message (join or resume) and the answer to it, then every
// message to the room; pings with a deadline so that a connection that dropped silently (no FIN,
// no RST: a Wi-Fi handover, a firewall) is noticed within seconds.
import {JoinedMessage, ServerMessage, SignalError} from './protocol.js';

export interface SignalTimers {
  /** How often a `ping` goes out while nothing else arrives. */
  pingIntervalMs: number;
  /** No message at all for this long: the connection is taken as lost. */
  pingTimeoutMs: number;
  /** The first answer (joined, resumed or an error) must come within this. */
  openTimeoutMs: number;
}

export class SignalConnection {
  private ws: WebSocket | null = null;
  private lastHeard = 0;
  private pinger: ReturnType<typeof setInterval> | null = null;
  private done = false;
  /** A message after the first answer. */
  onmessage: (msg: ServerMessage) => void = () => {};
  /** The connection ended (closed by either side or lost); not called after close(). */
  onlost: (reason: string, code: number) => void = () => {};

  constructor(readonly url: string, private readonly timers: SignalTimers) {}

  /** Opens the socket, sends `first`, and resolves with the `joined`/`resumed` answer. */
  open(first: Record<string, unknown>): Promise<JoinedMessage> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: SignalError) => {
        if (settled) return;
        settled = true;
        this.close();
        reject(err);
      };
      const timer = setTimeout(() => fail(new SignalError('timeout', 'no answer from the signalling server')),
                               this.timers.openTimeoutMs);
      let ws: WebSocket;
      try {
        ws = new WebSocket(this.url);
      } catch (e) {
        clearTimeout(timer);
        fail(new SignalError('connection_failed', String(e)));
        return;
      }
      this.ws = ws;
      ws.onopen = () => ws.send(JSON.stringify(first));
      ws.onerror = () => { clearTimeout(timer); fail(new SignalError('connection_failed', 'signalling connection failed')); };
      ws.onclose = (e) => {
        clearTimeout(timer);
        if (!settled) return fail(new SignalError('closed', 'signalling closed: ' + (e.reason || e.code)));
        this.lost(e.reason || 'closed', e.code);
      };
      ws.onmessage = (e) => {
        this.lastHeard = Date.now();
        let msg: ServerMessage;
        try { msg = JSON.parse(String(e.data)) as ServerMessage; } catch (_) { return; }
        if (settled) return this.onmessage(msg);
        if (msg.type === 'joined' || msg.type === 'resumed') {
          settled = true;
          clearTimeout(timer);
          this.startPings();
          resolve(msg as unknown as JoinedMessage);
        } else if (msg.type === 'error') {
          clearTimeout(timer);
          fail(new SignalError(String(msg.code), String(msg.message || msg.code), msg));
        }
      };
    });
  }

  get isOpen(): boolean { return !this.done && this.ws !== null && this.ws.readyState === WebSocket.OPEN; }

  send(msg: Record<string, unknown>): boolean {
    if (!this.isOpen || !this.ws) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** Closes without reporting a loss. Codes 1000 and 1001 tell the server the participant left (no
   *  resume); the default 4000 lets a version 2 session wait for a resume. */
  close(code = 4000, reason = 'abandoned'): void {
    this.done = true;
    this.stopPings();
    const ws = this.ws;
    if (!ws) return;
    ws.onopen = ws.onclose = ws.onerror = ws.onmessage = null;
    try { ws.close(code, reason); } catch (_) { /* already closed */ }
  }

  private startPings(): void {
    this.lastHeard = Date.now();
    this.pinger = setInterval(() => {
      if (Date.now() - this.lastHeard > this.timers.pingTimeoutMs) return this.lost('ping_timeout', 4000);
      this.send({type: 'ping'});
    }, this.timers.pingIntervalMs);
  }

  private stopPings(): void {
    if (this.pinger !== null) clearInterval(this.pinger);
    this.pinger = null;
  }

  private lost(reason: string, code: number): void {
    if (this.done) return;
    this.close(4000, reason);
    this.onlost(reason, code);
  }
}
