// One signalling WebSocket: its first message (join or resume) and the answer to it, then every
// message to the room; pings with a deadline so that a connection that dropped silently (no FIN,
// no RST: a Wi-Fi handover, a firewall) is noticed within seconds.
import { SignalError } from './protocol.js';
export class SignalConnection {
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
