// Transport-wide congestion control (draft-holmer-rmcat-transport-wide-cc-extensions-01): the
// transport-wide sequence number header extension (section 2), the feedback message's FCI (section
// 3.1, RTPFB FMT 15) read as a view decoded on access, and TwccRecorder, the receive side that
// builds feedback from arrivals. No allocation after construction, no exceptions.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "sfu/rtcp.hpp"
#include "sfu/rtp.hpp"

namespace sfu {

// The header extension's URI (draft section 2) and its 2-byte value, the sequence number.
constexpr const char* kTransportCcUri = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
// The value of a transport-wide sequence number element (exactly 2 bytes), or nothing.
std::optional<uint16_t> read_transport_seq(std::span<const uint8_t> value);
// The sequence number of a parsed packet's element with this id, or nothing.
std::optional<uint16_t> transport_seq(const RtpPacket& packet, uint8_t id);
// Writes seq into a 2-byte element value; false if value is not 2 bytes.
bool write_transport_seq(std::span<uint8_t> value, uint16_t seq);
// Overwrites, in place, the value of the element with this id (2 bytes) in a plaintext RTP packet
// (e.g. one rewrite() has just written); false if the packet has no such element.
bool set_transport_seq(std::span<uint8_t> packet, uint8_t id, uint16_t seq);

// Units on the wire (draft 3.1): reference time in multiples of 64 ms, receive deltas of 250 us.
constexpr int64_t kTwccReferenceUnitUs = 64000;
constexpr int64_t kTwccDeltaUnitUs = 250;

// One packet's status, as TwccFeedback decodes it.
struct TwccPacketStatus {
  uint16_t seq = 0;
  bool received = false;
  int64_t arrival_us = 0;  // received only: from the reference time (reference_us() + arrival_us is
                           // the arrival in the feedback sender's clock)
};

// Transport-wide feedback FCI (draft 3.1): base sequence number, packet status count, reference
// time (24-bit signed, 64 ms units), feedback packet count, packet chunks (run length, status vector
// of 14 one-bit or 7 two-bit symbols), then one receive delta per received packet (1 byte unsigned
// for "small delta", 2 bytes signed for "large delta", 250 us units). parse() checks the whole FCI:
// the chunks cover the status count, every delta lies inside the packet, no reserved symbol; bytes
// after the last delta (padding) are ignored. Spans point into the packet.
struct TwccFeedback {
  uint32_t sender_ssrc = 0;
  uint32_t media_ssrc = 0;
  uint16_t base_seq = 0;
  uint16_t status_count = 0;     // packets described, base_seq .. base_seq + status_count - 1
  int32_t reference_time = 0;    // 24-bit signed, 64 ms units
  uint8_t fb_pkt_count = 0;
  uint16_t received_count = 0;   // statuses with a delta
  std::span<const uint8_t> chunks;  // 2 bytes each
  std::span<const uint8_t> deltas;  // the receive deltas, exactly

  int64_t reference_us() const { return int64_t{reference_time} * kTwccReferenceUnitUs; }
  static RtcpError parse(const TransportCc& t, TwccFeedback& out);
  static RtcpError parse(const RtcpPacket& p, TwccFeedback& out);

  // Reads the statuses in sequence order, one at a time, without allocating:
  //   TwccFeedback::Cursor c(fb); TwccPacketStatus s; while (c.next(s)) {...}
  class Cursor {
   public:
    explicit Cursor(const TwccFeedback& fb) : fb_(&fb) {}
    bool next(TwccPacketStatus& out);
   private:
    bool load_chunk();
    const TwccFeedback* fb_;
    size_t chunk_ = 0;       // next chunk index
    size_t delta_ = 0;       // next delta byte
    uint16_t done_ = 0;      // statuses given
    uint16_t chunk_raw_ = 0;
    uint16_t in_chunk_ = 0;  // statuses of the current chunk given
    uint16_t chunk_len_ = 0; // statuses the current chunk describes (clipped to the count)
    int64_t arrival_us_ = 0;
  };
  // Every status in order, at most out.size(); returns how many were written.
  size_t expand(std::span<TwccPacketStatus> out) const;
};

// Receive side (draft 3.1, as libwebrtc's RemoteEstimatorProxy): records the transport-wide
// sequence number and arrival time of each packet from one sender and builds feedback packets.
// Bounded: a window of `capacity` sequence numbers (a power of two, allocated at construction)
// behind the highest received; older, duplicate or far-out packets are dropped. A packet arriving
// after its number was reported as lost moves the next feedback back to it (it is reported again).
// A feedback packet is cut at max_packet_size bytes, or where a delta does not fit in 16 bits; the
// next one continues from there (reference time and fb_pkt_count per packet, the count
// incrementing modulo 256).
class TwccRecorder {
 public:
  static constexpr size_t kDefaultCapacity = 4096;
  static constexpr size_t kMaxPacketSize = 1200;
  static constexpr size_t kMinPacketSize = 24;  // header, SSRCs, fixed FCI, one chunk, one delta

  TwccRecorder(uint32_t sender_ssrc, uint32_t media_ssrc, size_t capacity = kDefaultCapacity,
               int64_t interval_us = 100000);
  void set_ssrcs(uint32_t sender_ssrc, uint32_t media_ssrc) { sender_ssrc_ = sender_ssrc; media_ssrc_ = media_ssrc; }

  void record(uint16_t seq, int64_t arrival_us);
  // Arrivals recorded and not yet in a feedback packet.
  bool pending() const { return has_any_ && begin_ < end_; }
  // Feedback is due: something pending and interval_us since the last build (or never built).
  bool due(int64_t now_us) const { return pending() && (last_build_us_ < 0 || now_us - last_build_us_ >= interval_us_); }
  // Writes as many feedback packets (RTPFB FMT 15) as fit into out, back to back (a compound's
  // worth: RtcpWriter::append(build(now, w.remaining()))), each at most kMaxPacketSize; returns the
  // bytes written, 0 when nothing is pending or out has less than kMinPacketSize. What does not fit
  // stays pending: give it the room one datagram has.
  size_t build(int64_t now_us, std::span<uint8_t> out);
  // One packet only; its size or 0.
  size_t build_one(std::span<uint8_t> out);
  uint8_t fb_pkt_count() const { return fb_count_; }
  size_t capacity() const { return arrivals_.size(); }
  uint64_t dropped() const { return dropped_; }  // arrivals not recorded (duplicate, too old)

 private:
  static constexpr int64_t kNotReceived = INT64_MIN;
  int64_t& slot(int64_t s) { return arrivals_[static_cast<size_t>(s) & (arrivals_.size() - 1)]; }
  int64_t unwrap(uint16_t seq) const;
  void advance_to(int64_t s);

  uint32_t sender_ssrc_;
  uint32_t media_ssrc_;
  std::vector<int64_t> arrivals_;  // arrival_us by unwrapped sequence modulo capacity
  int64_t interval_us_;
  bool has_any_ = false;
  int64_t begin_ = 0;  // first unwrapped sequence not yet reported
  int64_t end_ = 0;    // one past the highest received
  int64_t last_build_us_ = -1;
  uint8_t fb_count_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace sfu
