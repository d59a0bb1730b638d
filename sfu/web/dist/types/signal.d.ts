import { JoinedMessage, ServerMessage } from './protocol.js';
export interface SignalTimers {
    /** How often a `ping` goes out while nothing else arrives. */
    pingIntervalMs: number;
    /** No message at all for this long: the connection is taken as lost. */
    pingTimeoutMs: number;
    /** The first answer (joined, resumed or an error) must come within this. */
    openTimeoutMs: number;
}
export declare class SignalConnection {
    readonly url: string;
    private readonly timers;
    private ws;
    private lastHeard;
    private pinger;
    private done;
    /** A message after the first answer. */
    onmessage: (msg: ServerMessage) => void;
    /** The connection ended (closed by either side or lost); not called after close(). */
    onlost: (reason: string, code: number) => void;
    constructor(url: string, timers: SignalTimers);
    /** Opens the socket, sends `first`, and resolves with the `joined`/`resumed` answer. */
    open(first: Record<string, unknown>): Promise<JoinedMessage>;
    get isOpen(): boolean;
    send(msg: Record<string, unknown>): boolean;
    /** Closes without reporting a loss. Codes 1000 and 1001 tell the server the participant left (no
     *  resume); the default 4000 lets a version 2 session wait for a resume. */
    close(code?: number, reason?: string): void;
    private startPings;
    private stopPings;
    private lost;
}
