// The signalling protocol's messages (sfu/PROTOCOL.md), as the SDK reads and writes them.
/** The protocol version this SDK speaks; version 1 servers' behaviour is a subset. */
export const PROTOCOL_VERSION = 2;
/** An `error` from the server (or from the SDK: `code` then names what failed locally). */
export class SignalError extends Error {
    constructor(code, message, detail = null) {
        super(message);
        this.code = code;
        this.detail = detail;
    }
}
/** Error codes after which the server closes the socket and a resume is pointless. */
export const FATAL_CODES = new Set([
    'bad_token', 'expired_token', 'wrong_region', 'forbidden_region', 'room_full', 'ice_failed', 'removed',
    'draining', 'resume_failed',
]);
