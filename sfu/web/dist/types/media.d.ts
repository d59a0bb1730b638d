export type DeviceKind = 'audioinput' | 'videoinput' | 'audiooutput';
/** The media devices, by kind (labels are empty until the page has had media permission). */
export declare function listDevices(): Promise<Record<DeviceKind, MediaDeviceInfo[]>>;
/** RFC 8853 simulcast as the SFU expects it: rids q, h, f at a quarter, half and full resolution. */
export declare const SIMULCAST_LAYERS: ReadonlyArray<RTCRtpEncodingParameters>;
export declare function simulcastEncodings(): RTCRtpEncodingParameters[];
/** Dynacast: the layers the SFU forwards to someone stay on, the others are paused. */
export declare function setActiveLayers(sender: RTCRtpSender, active: string[]): Promise<void>;
export type Quality = 'excellent' | 'good' | 'poor' | 'unknown';
export interface QualitySample {
    /** Share of packets lost since the last sample, 0..1 (null: nothing received). */
    loss: number | null;
    /** Round-trip time in seconds (the selected candidate pair's). */
    rtt: number | null;
    /** Interarrival jitter in seconds, the worst of the participant's tracks. */
    jitter: number | null;
}
/** Loss, RTT and jitter as a mean-opinion-like verdict (thresholds as common SDKs use them). */
export declare function qualityOf(s: QualitySample): Quality;
