// ICE servers as the SFU hands them out, filtered by what the application allows.

/** The transport a TURN URL uses to reach its server: udp, tcp or tls. */
export function turnTransportOf(url: string): string {
  if (/^turns:/i.test(url)) return 'tls';
  const m = /[?&]transport=(udp|tcp)/i.exec(url);
  return m ? m[1].toLowerCase() : 'udp';
}

/** Keeps the TURN URLs of the wanted transports (STUN URLs are kept unless relay-only). */
export function filterIceServers(servers: RTCIceServer[] | null | undefined, transports: string[] | null | undefined,
                                 relayOnly: boolean): RTCIceServer[] {
  const out: RTCIceServer[] = [];
  for (const s of servers || []) {
    const urls = (Array.isArray(s.urls) ? s.urls : [s.urls]).filter((u) => {
      if (/^stuns?:/i.test(u)) return !relayOnly;
      return !transports || transports.includes(turnTransportOf(u));
    });
    if (urls.length) out.push(Object.assign({}, s, {urls}));
  }
  return out;
}
