// Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01):
// the sequence number extension, the FCI parser and cursor, and the receive-side recorder.
#include "sfu/twcc.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

namespace sfu {

std::optional<uint16_t> read_transport_seq(std::span<const uint8_t> value) {
  if (value.size() != 2) return std::nullopt;
  return be::u16(value.data());
}

std::optional<uint16_t> transport_seq(const RtpPacket& packet, uint8_t id) {
  const RtpExtension* e = id != 0 ? packet.extension(id) : nullptr;
  return e ? read_transport_seq(e->value) : std::nullopt;
}

bool write_transport_seq(std::span<uint8_t> value, uint16_t seq) {
  if (value.size() != 2) return false;
  be::put16(value.data(), seq);
  return true;
}

bool set_transport_seq(std::span<uint8_t> packet, uint8_t id, uint16_t seq) {
  RtpPacket p;
  if (id == 0 || RtpPacket::parse_header(packet, p) != RtpError::None) return false;
  const RtpExtension* e = p.extension(id);
  if (!e || e->value.size() != 2) return false;
  const auto offset = static_cast<size_t>(e->value.data() - packet.data());
  return write_transport_seq(packet.subspan(offset, 2), seq);
}

namespace {

// Packet status chunks (draft 3.1.1-3.1.4). Symbols: 0 not received, 1 small delta, 2 large delta,
// 3 reserved.
constexpr uint16_t kRunLengthMax = 0x1FFF;
constexpr uint16_t kOneBitCapacity = 14;
constexpr uint16_t kTwoBitCapacity = 7;
constexpr uint8_t kNotReceivedSymbol = 0, kSmallSymbol = 1, kLargeSymbol = 2, kReservedSymbol = 3;

bool is_run_length(uint16_t chunk) { return (chunk & 0x8000) == 0; }
bool is_two_bit(uint16_t chunk) { return (chunk & 0x4000) != 0; }

// Statuses a chunk describes when `remaining` are left to describe.
uint16_t chunk_length(uint16_t chunk, uint32_t remaining) {
  const uint32_t n = is_run_length(chunk) ? (chunk & kRunLengthMax) : is_two_bit(chunk) ? kTwoBitCapacity : kOneBitCapacity;
  return static_cast<uint16_t>(std::min(n, remaining));
}

// The symbol of status i (< chunk_length) of a chunk.
uint8_t chunk_symbol(uint16_t chunk, uint16_t i) {
  if (is_run_length(chunk)) return static_cast<uint8_t>((chunk >> 13) & 3);
  if (is_two_bit(chunk)) return static_cast<uint8_t>((chunk >> (12 - 2 * i)) & 3);
  return static_cast<uint8_t>((chunk >> (13 - i)) & 1);
}

size_t delta_size(uint8_t symbol) { return symbol == kLargeSymbol ? 2 : symbol; }

int32_t sign_extend24(uint32_t v) { return static_cast<int32_t>(v << 8) >> 8; }

}  // namespace

RtcpError TwccFeedback::parse(const TransportCc& t, TwccFeedback& out) {
  const std::span<const uint8_t> f = t.fci;
  if (f.size() < 8) return RtcpError::Truncated;
  TwccFeedback fb;
  fb.sender_ssrc = t.sender_ssrc;
  fb.media_ssrc = t.media_ssrc;
  fb.base_seq = be::u16(&f[0]);
  fb.status_count = be::u16(&f[2]);
  fb.reference_time = sign_extend24(be::u24(&f[4]));
  fb.fb_pkt_count = f[7];
  if (fb.status_count == 0) return RtcpError::BadValue;
  size_t pos = 8, delta_bytes = 0, received = 0;
  for (uint32_t covered = 0; covered < fb.status_count;) {
    if (f.size() - pos < 2) return RtcpError::BadLength;  // the chunks end before the status count
    const uint16_t chunk = be::u16(&f[pos]);
    pos += 2;
    const uint16_t n = chunk_length(chunk, fb.status_count - covered);
    for (uint16_t i = 0; i < n; ++i) {
      const uint8_t symbol = chunk_symbol(chunk, i);
      if (symbol == kReservedSymbol) return RtcpError::BadValue;
      delta_bytes += delta_size(symbol);
      received += symbol != kNotReceivedSymbol;
    }
    covered += n;
  }
  if (delta_bytes > f.size() - pos) return RtcpError::BadLength;  // deltas beyond the packet
  fb.received_count = static_cast<uint16_t>(received);
  fb.chunks = f.subspan(8, pos - 8);
  fb.deltas = f.subspan(pos, delta_bytes);
  out = fb;
  return RtcpError::None;
}

RtcpError TwccFeedback::parse(const RtcpPacket& p, TwccFeedback& out) {
  TransportCc t;
  const RtcpError e = TransportCc::parse(p, t);
  return e != RtcpError::None ? e : parse(t, out);
}

bool TwccFeedback::Cursor::load_chunk() {
  if ((chunk_ + 1) * 2 > fb_->chunks.size()) return false;
  chunk_raw_ = be::u16(&fb_->chunks[chunk_ * 2]);
  ++chunk_;
  chunk_len_ = chunk_length(chunk_raw_, static_cast<uint32_t>(fb_->status_count - done_));
  in_chunk_ = 0;
  return true;
}

bool TwccFeedback::Cursor::next(TwccPacketStatus& out) {
  while (in_chunk_ == chunk_len_) {
    if (done_ == fb_->status_count || !load_chunk()) return false;
  }
  const uint8_t symbol = chunk_symbol(chunk_raw_, in_chunk_);
  const size_t size = delta_size(symbol);
  if (symbol == kReservedSymbol || size > fb_->deltas.size() - delta_) return false;  // parse() refused these
  if (symbol == kSmallSymbol) arrival_us_ += int64_t{fb_->deltas[delta_]} * kTwccDeltaUnitUs;
  if (symbol == kLargeSymbol)
    arrival_us_ += int64_t{static_cast<int16_t>(be::u16(&fb_->deltas[delta_]))} * kTwccDeltaUnitUs;
  delta_ += size;
  out.seq = static_cast<uint16_t>(fb_->base_seq + done_);
  out.received = symbol != kNotReceivedSymbol;
  out.arrival_us = out.received ? arrival_us_ : 0;
  ++in_chunk_;
  ++done_;
  return true;
}

size_t TwccFeedback::expand(std::span<TwccPacketStatus> out) const {
  Cursor c(*this);
  size_t n = 0;
  while (n < out.size() && c.next(out[n])) ++n;
  return n;
}

// ---- receive side ----

namespace {

// The chunk being filled and the chunks already written (libwebrtc's LastChunk): symbols are added
// one at a time; when the next does not fit the current chunk, it is emitted as a run length, a
// 14-symbol one-bit vector or a 7-symbol two-bit vector, whichever describes what it holds.
class ChunkEncoder {
 public:
  explicit ChunkEncoder(std::span<uint8_t> out) : out_(out) {}
  // Chunk bytes once `symbol` is added (the current chunk counted as written).
  size_t bytes_with(uint8_t symbol) const { return 2 * (emitted_ + (can_add(symbol) ? 1 : 2)); }
  size_t bytes() const { return 2 * (emitted_ + (size_ > 0 ? 1 : 0)); }
  void add(uint8_t symbol) {
    if (!can_add(symbol)) emit();
    if (size_ < kOneBitCapacity) symbols_[size_] = symbol;
    ++size_;
    all_same_ = all_same_ && symbol == symbols_[0];
    has_large_ = has_large_ || symbol == kLargeSymbol;
  }
  void finish() {
    if (size_ == 0) return;
    if (all_same_) write(run_length());
    else if (size_ <= kTwoBitCapacity) write(vector(true, size_));
    else write(vector(false, size_));
  }

 private:
  bool can_add(uint8_t symbol) const {
    if (size_ < kTwoBitCapacity) return true;
    if (size_ < kOneBitCapacity && !has_large_ && symbol != kLargeSymbol) return true;
    return size_ < kRunLengthMax && all_same_ && symbols_[0] == symbol;
  }
  uint16_t run_length() const { return static_cast<uint16_t>(symbols_[0] << 13 | size_); }
  uint16_t vector(bool two_bit, uint16_t n) const {
    uint16_t c = two_bit ? 0xC000 : 0x8000;
    for (uint16_t i = 0; i < n; ++i)
      c |= static_cast<uint16_t>(two_bit ? symbols_[i] << (12 - 2 * i) : symbols_[i] << (13 - i));
    return c;
  }
  void write(uint16_t chunk) {
    const size_t at = 2 * emitted_++;
    if (at + 2 <= out_.size()) be::put16(&out_[at], chunk);
  }
  void emit() {
    if (all_same_) {
      write(run_length());
      size_ = 0;
    } else if (size_ == kOneBitCapacity) {
      write(vector(false, kOneBitCapacity));
      size_ = 0;
    } else {  // 7..13 symbols with a large delta among them: 7 go as a two-bit vector
      write(vector(true, kTwoBitCapacity));
      std::copy(symbols_.begin() + kTwoBitCapacity, symbols_.begin() + size_, symbols_.begin());
      size_ = static_cast<uint16_t>(size_ - kTwoBitCapacity);
    }
    all_same_ = true;
    has_large_ = false;
    for (uint16_t i = 0; i < size_; ++i) {
      all_same_ = all_same_ && symbols_[i] == symbols_[0];
      has_large_ = has_large_ || symbols_[i] == kLargeSymbol;
    }
  }

  std::span<uint8_t> out_;
  size_t emitted_ = 0;
  std::array<uint8_t, kOneBitCapacity> symbols_{};
  uint16_t size_ = 0;
  bool all_same_ = true;
  bool has_large_ = false;
};

constexpr size_t kFeedbackHeaderSize = 20;  // RTCP header, sender and media SSRC, fixed FCI

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t round_div(int64_t a, int64_t b) { return a >= 0 ? (a + b / 2) / b : -((-a + b / 2) / b); }
size_t padded(size_t n) { return (n + 3) / 4 * 4; }

}  // namespace

TwccRecorder::TwccRecorder(uint32_t sender_ssrc, uint32_t media_ssrc, size_t capacity, int64_t interval_us)
    : sender_ssrc_(sender_ssrc), media_ssrc_(media_ssrc),
      arrivals_(std::bit_ceil(std::clamp<size_t>(capacity, 16, 32768)), kNotReceived), interval_us_(interval_us) {}

int64_t TwccRecorder::unwrap(uint16_t seq) const {
  const int64_t highest = end_ - 1;
  return highest + static_cast<int16_t>(static_cast<uint16_t>(seq - static_cast<uint16_t>(highest)));
}

void TwccRecorder::advance_to(int64_t s) {
  const auto cap = static_cast<int64_t>(arrivals_.size());
  if (s - end_ >= cap) std::fill(arrivals_.begin(), arrivals_.end(), kNotReceived);
  else
    for (int64_t t = end_; t <= s; ++t) slot(t) = kNotReceived;
  end_ = s + 1;
  begin_ = std::max(begin_, end_ - cap);  // unreported arrivals pushed out of the window are lost
}

void TwccRecorder::record(uint16_t seq, int64_t arrival_us) {
  if (!has_any_) {
    has_any_ = true;
    begin_ = end_ = seq;
  }
  const int64_t s = unwrap(seq);
  if (s >= end_) advance_to(s);
  if (s < end_ - static_cast<int64_t>(arrivals_.size()) || slot(s) != kNotReceived) {
    ++dropped_;
    return;
  }
  slot(s) = arrival_us;
  begin_ = std::min(begin_, s);  // arrived after being reported lost: report again from here
}

size_t TwccRecorder::build_one(std::span<uint8_t> out) {
  const size_t max = std::min(out.size(), kMaxPacketSize) / 4 * 4;
  if (!pending() || max < kMinPacketSize) return 0;
  int64_t first = begin_;
  while (first < end_ && slot(first) == kNotReceived) ++first;
  if (first == end_) return 0;
  const int64_t ref_ticks = floor_div(slot(first), kTwccReferenceUnitUs);
  int64_t last_us = ref_ticks * kTwccReferenceUnitUs;
  std::array<uint8_t, kMaxPacketSize> deltas{};
  size_t dn = 0;
  ChunkEncoder enc(out.first(max).subspan(kFeedbackHeaderSize));
  int64_t included = begin_;  // one past the last received packet included
  for (int64_t s = first; s < end_ && s - begin_ < 0xFFFF; ++s) {
    if (slot(s) == kNotReceived) continue;  // lost ones go in only before a received one
    const int64_t ticks = round_div(slot(s) - last_us, kTwccDeltaUnitUs);
    const uint8_t symbol = ticks >= 0 && ticks <= 0xFF ? kSmallSymbol : ticks >= INT16_MIN && ticks <= INT16_MAX ? kLargeSymbol : 0;
    if (symbol == 0) break;  // the next packet starts here with its own reference time
    ChunkEncoder trial = enc;
    for (int64_t t = included; t < s; ++t) trial.add(kNotReceivedSymbol);
    if (padded(kFeedbackHeaderSize + trial.bytes_with(symbol) + dn + delta_size(symbol)) > max) break;
    trial.add(symbol);
    enc = trial;
    if (symbol == kSmallSymbol) deltas[dn] = static_cast<uint8_t>(ticks);
    else be::put16(&deltas[dn], static_cast<uint16_t>(static_cast<int16_t>(ticks)));
    dn += delta_size(symbol);
    last_us += ticks * kTwccDeltaUnitUs;
    included = s + 1;
  }
  if (included == begin_) return 0;
  const size_t chunk_bytes = enc.bytes();
  enc.finish();
  const size_t body = kFeedbackHeaderSize + chunk_bytes + dn, size = padded(body);
  uint8_t* p = out.data();
  p[0] = static_cast<uint8_t>(0x80 | (size != body ? 0x20 : 0) | rtcp_fmt::kTransportCc);
  p[1] = rtcp_type::kRtpfb;
  be::put16(p + 2, static_cast<uint16_t>(size / 4 - 1));
  be::put32(p + 4, sender_ssrc_);
  be::put32(p + 8, media_ssrc_);
  be::put16(p + 12, static_cast<uint16_t>(begin_));
  be::put16(p + 14, static_cast<uint16_t>(included - begin_));
  be::put24(p + 16, static_cast<uint32_t>(ref_ticks) & 0xFFFFFF);
  p[19] = fb_count_++;
  std::memcpy(p + kFeedbackHeaderSize + chunk_bytes, deltas.data(), dn);
  std::fill(p + body, p + size, uint8_t{0});
  if (size != body) p[size - 1] = static_cast<uint8_t>(size - body);  // RFC 3550 6.4.1 padding
  begin_ = included;
  return size;
}

size_t TwccRecorder::build(int64_t now_us, std::span<uint8_t> out) {
  last_build_us_ = now_us;
  size_t total = 0;
  while (pending()) {
    const size_t n = build_one(out.subspan(total));
    if (n == 0) break;
    total += n;
  }
  return total;
}

}  // namespace sfu
