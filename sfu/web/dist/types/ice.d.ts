/** The transport a TURN URL uses to reach its server: udp, tcp or tls. */
export declare function turnTransportOf(url: string): string;
/** Keeps the TURN URLs of the wanted transports (STUN URLs are kept unless relay-only). */
export declare function filterIceServers(servers: RTCIceServer[] | null | undefined, transports: string[] | null | undefined, relayOnly: boolean): RTCIceServer[];
