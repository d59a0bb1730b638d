// Local media: devices, the encodings a camera is published with (simulcast), and how a
// participant's connection quality is judged from WebRTC statistics.
/** The media devices, by kind (labels are empty until the page has had media permission). */
export async function listDevices() {
    const out = { audioinput: [], videoinput: [], audiooutput: [] };
    for (const d of await navigator.mediaDevices.enumerateDevices()) {
        if (d.kind in out)
            out[d.kind].push(d);
    }
    return out;
}
/** RFC 8853 simulcast as the SFU expects it: rids q, h, f at a quarter, half and full resolution. */
export const SIMULCAST_LAYERS = [
    { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150000, active: true },
    { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500000, active: true },
    { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1500000, active: true },
];
export function simulcastEncodings() {
    return SIMULCAST_LAYERS.map((e) => Object.assign({}, e));
}
/** Dynacast: the layers the SFU forwards to someone stay on, the others are paused. */
export async function setActiveLayers(sender, active) {
    const params = sender.getParameters();
    if (!params.encodings || params.encodings.length === 0)
        return;
    for (const e of params.encodings)
        e.active = e.rid ? active.includes(e.rid) : active.length > 0;
    await sender.setParameters(params);
}
/** Loss, RTT and jitter as a mean-opinion-like verdict (thresholds as common SDKs use them). */
export function qualityOf(s) {
    if (s.loss === null && s.rtt === null)
        return 'unknown';
    const loss = s.loss || 0, rtt = s.rtt || 0, jitter = s.jitter || 0;
    if (loss > 0.1 || rtt > 0.4 || jitter > 0.1)
        return 'poor';
    if (loss > 0.02 || rtt > 0.15 || jitter > 0.03)
        return 'good';
    return 'excellent';
}
