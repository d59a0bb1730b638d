#include "sfu/rtcp.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

namespace sfu {

const char* to_string(RtcpError e) {
  switch (e) {
    case RtcpError::None: return "none";
    case RtcpError::Truncated: return "truncated";
    case RtcpError::BadVersion: return "bad version";
    case RtcpError::BadLength: return "bad length";
    case RtcpError::BadPadding: return "bad padding";
    case RtcpError::WrongType: return "wrong type";
    case RtcpError::BadValue: return "bad value";
  }
  return "?";
}

RtcpError RtcpHeader::parse(std::span<const uint8_t> d, RtcpHeader& out) {
  if (d.size() < kSize) return RtcpError::Truncated;
  if ((d[0] >> 6) != 2) return RtcpError::BadVersion;
  out.padding = (d[0] & 0x20) != 0;
  out.count = d[0] & 0x1F;
  out.type = d[1];
  out.length_words = be::u16(&d[2]);
  return RtcpError::None;
}

bool RtcpReader::next(RtcpPacket& out) {
  if (rest_.empty() || error_ != RtcpError::None) return false;
  RtcpHeader h;
  RtcpError e = RtcpHeader::parse(rest_, h);
  if (e == RtcpError::None && h.packet_size() > rest_.size()) e = RtcpError::BadLength;
  std::span<const uint8_t> pkt, body;
  if (e == RtcpError::None) {
    pkt = rest_.first(h.packet_size());
    body = pkt.subspan(RtcpHeader::kSize);
    if (h.padding) {
      // RFC 3550 6.4.1: the last octet counts the padding octets, itself included.
      const uint8_t n = pkt.back();
      if (n == 0 || n > body.size()) e = RtcpError::BadPadding;
      else body = body.first(body.size() - n);
    }
  }
  if (e != RtcpError::None) {
    error_ = e;
    rest_ = {};
    return false;
  }
  out = RtcpPacket{h, body, pkt};
  rest_ = rest_.subspan(pkt.size());
  return true;
}

RtcpError validate_compound(std::span<const uint8_t> compound) {
  if (compound.empty()) return RtcpError::Truncated;
  RtcpReader r(compound);
  RtcpPacket p;
  while (r.next(p)) {}
  return r.error();
}

ReportBlock ReportBlock::decode(const uint8_t* p) {
  ReportBlock b;
  b.ssrc = be::u32(p);
  b.fraction_lost = p[4];
  const uint32_t lost = be::u24(p + 5);
  b.cumulative_lost = (lost & 0x800000) ? static_cast<int32_t>(lost) - 0x1000000 : static_cast<int32_t>(lost);
  b.highest_sequence = be::u32(p + 8);
  b.jitter = be::u32(p + 12);
  b.lsr = be::u32(p + 16);
  b.dlsr = be::u32(p + 20);
  return b;
}

void ReportBlock::encode(uint8_t* p) const {
  be::put32(p, ssrc);
  p[4] = fraction_lost;
  const int32_t lost = std::clamp<int32_t>(cumulative_lost, -0x800000, 0x7FFFFF);
  be::put24(p + 5, static_cast<uint32_t>(lost) & 0xFFFFFF);
  be::put32(p + 8, highest_sequence);
  be::put32(p + 12, jitter);
  be::put32(p + 16, lsr);
  be::put32(p + 20, dlsr);
}

RtcpError SenderReport::parse(const RtcpPacket& p, SenderReport& out) {
  if (p.type() != rtcp_type::kSr) return RtcpError::WrongType;
  const auto b = p.body;
  if (b.size() < 24) return RtcpError::Truncated;
  const size_t blocks = size_t{p.count()} * ReportBlock::kSize;
  if (blocks > b.size() - 24) return RtcpError::BadLength;
  out.ssrc = be::u32(&b[0]);
  out.info = SenderInfo{be::u64(&b[4]), be::u32(&b[12]), be::u32(&b[16]), be::u32(&b[20])};
  out.blocks = ReportBlockList(b.subspan(24, blocks));  // anything after: profile extensions
  return RtcpError::None;
}

RtcpError ReceiverReport::parse(const RtcpPacket& p, ReceiverReport& out) {
  if (p.type() != rtcp_type::kRr) return RtcpError::WrongType;
  const auto b = p.body;
  if (b.size() < 4) return RtcpError::Truncated;
  const size_t blocks = size_t{p.count()} * ReportBlock::kSize;
  if (blocks > b.size() - 4) return RtcpError::BadLength;
  out.ssrc = be::u32(&b[0]);
  out.blocks = ReportBlockList(b.subspan(4, blocks));
  return RtcpError::None;
}

RtcpError Bye::parse(const RtcpPacket& p, Bye& out) {
  if (p.type() != rtcp_type::kBye) return RtcpError::WrongType;
  const auto b = p.body;
  const size_t n = size_t{p.count()} * 4;
  if (n > b.size()) return RtcpError::BadLength;
  out.ssrcs = SsrcList(b.first(n));
  out.reason = {};
  if (b.size() > n) {  // RFC 3550 6.6: length octet, then the text
    const size_t len = b[n];
    if (len > b.size() - n - 1) return RtcpError::BadLength;
    out.reason = b.subspan(n + 1, len);
  }
  return RtcpError::None;
}

namespace {

// Common feedback header (RFC 4585 6.1): sender SSRC, media source SSRC, then the FCI.
RtcpError feedback(const RtcpPacket& p, uint8_t type, uint8_t fmt, uint32_t& sender, uint32_t& media,
                   std::span<const uint8_t>& fci) {
  if (p.type() != type || p.fmt() != fmt) return RtcpError::WrongType;
  if (p.body.size() < 8) return RtcpError::Truncated;
  sender = be::u32(&p.body[0]);
  media = be::u32(&p.body[4]);
  fci = p.body.subspan(8);
  return RtcpError::None;
}

bool is_remb(const RtcpPacket& p) {
  return p.type() == rtcp_type::kPsfb && p.fmt() == rtcp_fmt::kAfb && p.body.size() >= 12 &&
         std::memcmp(p.body.data() + 8, "REMB", 4) == 0;
}

}  // namespace

RtcpError GenericNack::parse(const RtcpPacket& p, GenericNack& out) {
  std::span<const uint8_t> fci;
  const RtcpError e = feedback(p, rtcp_type::kRtpfb, rtcp_fmt::kNack, out.sender_ssrc, out.media_ssrc, fci);
  if (e != RtcpError::None) return e;
  if (fci.empty() || fci.size() % 4 != 0) return RtcpError::BadLength;
  out.items = NackItemList(fci);
  return RtcpError::None;
}

size_t GenericNack::expand(std::span<uint16_t> out) const {
  size_t n = 0;
  for (const NackItem it : items) {
    if (n == out.size()) return n;
    out[n++] = it.pid;
    for (int bit = 0; bit < 16; ++bit) {
      if (!(it.blp & (1u << bit))) continue;
      if (n == out.size()) return n;
      out[n++] = static_cast<uint16_t>(it.pid + bit + 1);
    }
  }
  return n;
}

size_t GenericNack::sequence_count() const {
  size_t n = 0;
  for (const NackItem it : items) n += 1 + static_cast<size_t>(std::popcount(it.blp));
  return n;
}

RtcpError TransportCc::parse(const RtcpPacket& p, TransportCc& out) {
  return feedback(p, rtcp_type::kRtpfb, rtcp_fmt::kTransportCc, out.sender_ssrc, out.media_ssrc, out.fci);
}

RtcpError Pli::parse(const RtcpPacket& p, Pli& out) {
  std::span<const uint8_t> fci;
  return feedback(p, rtcp_type::kPsfb, rtcp_fmt::kPli, out.sender_ssrc, out.media_ssrc, fci);
}

RtcpError Fir::parse(const RtcpPacket& p, Fir& out) {
  std::span<const uint8_t> fci;
  const RtcpError e = feedback(p, rtcp_type::kPsfb, rtcp_fmt::kFir, out.sender_ssrc, out.media_ssrc, fci);
  if (e != RtcpError::None) return e;
  if (fci.empty() || fci.size() % 8 != 0) return RtcpError::BadLength;
  out.entries = FirEntryList(fci);
  return RtcpError::None;
}

RtcpError Remb::parse(const RtcpPacket& p, Remb& out) {
  uint32_t media = 0;
  std::span<const uint8_t> fci;
  const RtcpError e = feedback(p, rtcp_type::kPsfb, rtcp_fmt::kAfb, out.sender_ssrc, media, fci);
  if (e != RtcpError::None) return e;
  if (fci.size() < 8) return RtcpError::Truncated;
  if (std::memcmp(fci.data(), "REMB", 4) != 0) return RtcpError::WrongType;
  const size_t n = fci[4];
  const unsigned exp = fci[5] >> 2;
  const uint64_t mantissa = (uint64_t{fci[5] & 3u} << 16) | (uint64_t{fci[6]} << 8) | fci[7];
  if (n * 4 > fci.size() - 8) return RtcpError::BadLength;
  out.bitrate_bps = (mantissa != 0 && exp + std::bit_width(mantissa) > 64) ? std::numeric_limits<uint64_t>::max()
                                                                           : mantissa << exp;
  out.ssrcs = SsrcList(fci.subspan(8, n * 4));
  return RtcpError::None;
}

RtcpKind kind_of(const RtcpPacket& p) {
  switch (p.type()) {
    case rtcp_type::kSr: return RtcpKind::SenderReport;
    case rtcp_type::kRr: return RtcpKind::ReceiverReport;
    case rtcp_type::kSdes: return RtcpKind::Sdes;
    case rtcp_type::kBye: return RtcpKind::Bye;
    case rtcp_type::kApp: return RtcpKind::App;
    case rtcp_type::kXr: return RtcpKind::Xr;
    case rtcp_type::kRtpfb:
      if (p.fmt() == rtcp_fmt::kNack) return RtcpKind::GenericNack;
      if (p.fmt() == rtcp_fmt::kTransportCc) return RtcpKind::TransportCc;
      return RtcpKind::OtherRtpfb;
    case rtcp_type::kPsfb:
      if (p.fmt() == rtcp_fmt::kPli) return RtcpKind::Pli;
      if (p.fmt() == rtcp_fmt::kFir) return RtcpKind::Fir;
      if (is_remb(p)) return RtcpKind::Remb;
      return RtcpKind::OtherPsfb;
    default: return RtcpKind::Unknown;
  }
}

namespace {

void put_header(uint8_t* p, uint8_t count, uint8_t type, size_t size) {
  p[0] = static_cast<uint8_t>(0x80 | (count & 0x1F));
  p[1] = type;
  be::put16(p + 2, static_cast<uint16_t>(size / 4 - 1));
}

}  // namespace

size_t build_sr(std::span<uint8_t> out, uint32_t ssrc, const SenderInfo& info, std::span<const ReportBlock> blocks) {
  if (blocks.size() > 31) return 0;
  const size_t size = 28 + ReportBlock::kSize * blocks.size();
  if (size > out.size()) return 0;
  uint8_t* p = out.data();
  put_header(p, static_cast<uint8_t>(blocks.size()), rtcp_type::kSr, size);
  be::put32(p + 4, ssrc);
  be::put64(p + 8, info.ntp);
  be::put32(p + 16, info.rtp_timestamp);
  be::put32(p + 20, info.packet_count);
  be::put32(p + 24, info.octet_count);
  for (size_t i = 0; i < blocks.size(); ++i) blocks[i].encode(p + 28 + i * ReportBlock::kSize);
  return size;
}

size_t build_rr(std::span<uint8_t> out, uint32_t ssrc, std::span<const ReportBlock> blocks) {
  if (blocks.size() > 31) return 0;
  const size_t size = 8 + ReportBlock::kSize * blocks.size();
  if (size > out.size()) return 0;
  uint8_t* p = out.data();
  put_header(p, static_cast<uint8_t>(blocks.size()), rtcp_type::kRr, size);
  be::put32(p + 4, ssrc);
  for (size_t i = 0; i < blocks.size(); ++i) blocks[i].encode(p + 8 + i * ReportBlock::kSize);
  return size;
}

size_t build_sdes_cname(std::span<uint8_t> out, uint32_t ssrc, std::string_view cname) {
  if (cname.size() > 255) return 0;
  // One chunk: SSRC, CNAME item (type 1, length, text), then 1..4 null octets to a 32-bit boundary.
  const size_t chunk = (4 + 2 + cname.size() + 1 + 3) & ~size_t{3};
  const size_t size = 4 + chunk;
  if (size > out.size()) return 0;
  uint8_t* p = out.data();
  std::memset(p, 0, size);
  put_header(p, 1, rtcp_type::kSdes, size);
  be::put32(p + 4, ssrc);
  p[8] = 1;
  p[9] = static_cast<uint8_t>(cname.size());
  if (!cname.empty()) std::memcpy(p + 10, cname.data(), cname.size());
  return size;
}

size_t build_bye(std::span<uint8_t> out, std::span<const uint32_t> ssrcs) {
  if (ssrcs.size() > 31) return 0;
  const size_t size = 4 + 4 * ssrcs.size();
  if (size > out.size()) return 0;
  put_header(out.data(), static_cast<uint8_t>(ssrcs.size()), rtcp_type::kBye, size);
  for (size_t i = 0; i < ssrcs.size(); ++i) be::put32(out.data() + 4 + 4 * i, ssrcs[i]);
  return size;
}

size_t build_pli(std::span<uint8_t> out, uint32_t sender_ssrc, uint32_t media_ssrc) {
  if (out.size() < 12) return 0;
  put_header(out.data(), rtcp_fmt::kPli, rtcp_type::kPsfb, 12);
  be::put32(out.data() + 4, sender_ssrc);
  be::put32(out.data() + 8, media_ssrc);
  return 12;
}

size_t build_fir(std::span<uint8_t> out, uint32_t sender_ssrc, uint32_t target_ssrc, uint8_t sequence) {
  if (out.size() < 20) return 0;
  uint8_t* p = out.data();
  put_header(p, rtcp_fmt::kFir, rtcp_type::kPsfb, 20);
  be::put32(p + 4, sender_ssrc);
  be::put32(p + 8, 0);  // RFC 5104 4.3.1.2: media source SSRC not used, set to 0
  be::put32(p + 12, target_ssrc);
  p[16] = sequence;
  p[17] = p[18] = p[19] = 0;
  return 20;
}

size_t build_nack(std::span<uint8_t> out, uint32_t sender_ssrc, uint32_t media_ssrc,
                  std::span<const uint16_t> sequences) {
  if (sequences.empty()) return 0;
  // First pass: count the items; second: write them.
  auto pack = [&](uint8_t* fci) {
    size_t items = 0;
    uint16_t pid = 0, blp = 0;
    for (size_t i = 0; i < sequences.size(); ++i) {
      const uint16_t s = sequences[i];
      const uint16_t diff = static_cast<uint16_t>(s - pid);
      if (items > 0 && diff == 0) continue;
      if (items > 0 && diff <= 16) {
        blp = static_cast<uint16_t>(blp | (1u << (diff - 1)));
      } else {
        if (items > 0 && fci) { be::put16(fci + 4 * (items - 1), pid); be::put16(fci + 4 * (items - 1) + 2, blp); }
        pid = s;
        blp = 0;
        ++items;
      }
    }
    if (fci) { be::put16(fci + 4 * (items - 1), pid); be::put16(fci + 4 * (items - 1) + 2, blp); }
    return items;
  };
  const size_t items = pack(nullptr);
  const size_t size = 12 + 4 * items;
  if (size > out.size() || size / 4 - 1 > 0xFFFF) return 0;
  uint8_t* p = out.data();
  put_header(p, rtcp_fmt::kNack, rtcp_type::kRtpfb, size);
  be::put32(p + 4, sender_ssrc);
  be::put32(p + 8, media_ssrc);
  pack(p + 12);
  return size;
}

size_t build_remb(std::span<uint8_t> out, uint32_t sender_ssrc, uint64_t bitrate_bps, std::span<const uint32_t> ssrcs) {
  if (ssrcs.size() > 255) return 0;
  const size_t size = 20 + 4 * ssrcs.size();
  if (size > out.size()) return 0;
  unsigned exp = 0;
  uint64_t mantissa = bitrate_bps;
  while (mantissa > 0x3FFFF) { mantissa >>= 1; ++exp; }
  uint8_t* p = out.data();
  put_header(p, rtcp_fmt::kAfb, rtcp_type::kPsfb, size);
  be::put32(p + 4, sender_ssrc);
  be::put32(p + 8, 0);  // media source SSRC: 0 (draft-alvestrand-rmcat-remb 2.2)
  std::memcpy(p + 12, "REMB", 4);
  p[16] = static_cast<uint8_t>(ssrcs.size());
  p[17] = static_cast<uint8_t>(exp << 2 | mantissa >> 16);
  be::put16(p + 18, static_cast<uint16_t>(mantissa));
  for (size_t i = 0; i < ssrcs.size(); ++i) be::put32(p + 20 + 4 * i, ssrcs[i]);
  return size;
}

namespace {

// SDES chunks (RFC 3550 6.5): SSRC/CSRC, items (type, length, text) ended by a null octet, padded
// to 32 bits. Calls on_ssrc(offset in body) for each chunk; false if a chunk runs past the body.
template <typename F>
bool walk_sdes(std::span<const uint8_t> body, uint8_t chunks, F&& on_ssrc) {
  size_t off = 0;
  for (uint8_t c = 0; c < chunks; ++c) {
    if (body.size() - off < 4) return false;
    on_ssrc(off);
    off += 4;
    for (;;) {
      if (off >= body.size()) return false;
      if (body[off] == 0) break;
      if (body.size() - off < 2 || body[off + 1] > body.size() - off - 2) return false;
      off += 2 + body[off + 1];
    }
    off = (off + 4) & ~size_t{3};  // the null octet and the padding after it
    if (off > body.size()) return false;
  }
  return true;
}

// Calls sender(offset) and media(offset) with the offset in the compound of each SSRC field of p;
// returns an error if p is malformed for its type.
template <typename S, typename M>
RtcpError visit_ssrcs(const RtcpPacket& p, size_t base, S&& sender, M&& media) {
  const size_t b = base + RtcpHeader::kSize;  // body offset
  switch (kind_of(p)) {
    case RtcpKind::SenderReport: {
      SenderReport sr;
      if (auto e = SenderReport::parse(p, sr); e != RtcpError::None) return e;
      sender(b);
      for (size_t i = 0; i < sr.blocks.size(); ++i) media(b + 24 + i * ReportBlock::kSize);
      return RtcpError::None;
    }
    case RtcpKind::ReceiverReport: {
      ReceiverReport rr;
      if (auto e = ReceiverReport::parse(p, rr); e != RtcpError::None) return e;
      sender(b);
      for (size_t i = 0; i < rr.blocks.size(); ++i) media(b + 4 + i * ReportBlock::kSize);
      return RtcpError::None;
    }
    case RtcpKind::Sdes:
      if (!walk_sdes(p.body, p.count(), [&](size_t off) { sender(b + off); })) return RtcpError::BadLength;
      return RtcpError::None;
    case RtcpKind::Bye: {
      Bye bye;
      if (auto e = Bye::parse(p, bye); e != RtcpError::None) return e;
      for (size_t i = 0; i < bye.ssrcs.size(); ++i) sender(b + 4 * i);
      return RtcpError::None;
    }
    case RtcpKind::App: case RtcpKind::Xr:
      if (p.body.size() < 4) return RtcpError::Truncated;
      sender(b);
      return RtcpError::None;
    case RtcpKind::GenericNack: {
      GenericNack n;
      if (auto e = GenericNack::parse(p, n); e != RtcpError::None) return e;
      sender(b); media(b + 4);
      return RtcpError::None;
    }
    case RtcpKind::Fir: {
      Fir f;
      if (auto e = Fir::parse(p, f); e != RtcpError::None) return e;
      sender(b);  // media source SSRC is 0 here; the targets are in the FCI
      for (size_t i = 0; i < f.entries.size(); ++i) media(b + 8 + 8 * i);
      return RtcpError::None;
    }
    case RtcpKind::Remb: {
      Remb r;
      if (auto e = Remb::parse(p, r); e != RtcpError::None) return e;
      sender(b);
      for (size_t i = 0; i < r.ssrcs.size(); ++i) media(b + 16 + 4 * i);
      return RtcpError::None;
    }
    case RtcpKind::TransportCc: case RtcpKind::OtherRtpfb: case RtcpKind::Pli: case RtcpKind::OtherPsfb:
      if (p.body.size() < 8) return RtcpError::Truncated;
      sender(b); media(b + 4);
      return RtcpError::None;
    case RtcpKind::Unknown:
      return RtcpError::None;
  }
  return RtcpError::None;
}

// RFC 3550 6.1: every packet of the compound in turn (visit_ssrcs); the first error ends the walk.
template <typename S, typename M>
RtcpError visit_compound(std::span<uint8_t> compound, S&& sender, M&& media) {
  RtcpReader r(compound);
  RtcpPacket p;
  while (r.next(p)) {
    const size_t base = static_cast<size_t>(p.raw.data() - compound.data());
    if (auto e = visit_ssrcs(p, base, sender, media); e != RtcpError::None) return e;
  }
  return r.error();
}

}  // namespace

RtcpError rewrite_ssrcs(std::span<uint8_t> compound, std::optional<uint32_t> sender_ssrc,
                        std::span<const SsrcMapping> map, size_t* unmapped) {
  if (unmapped) *unmapped = 0;
  if (compound.empty()) return RtcpError::Truncated;
  auto nop = [](size_t) {};
  // First pass: the whole compound is validated, so it is left untouched on error.
  if (auto e = visit_compound(compound, nop, nop); e != RtcpError::None) return e;
  auto set_sender = [&](size_t off) { if (sender_ssrc) be::put32(compound.data() + off, *sender_ssrc); };
  auto map_media = [&](size_t off) {
    const uint32_t v = be::u32(compound.data() + off);
    auto m = std::find_if(map.begin(), map.end(), [v](const SsrcMapping& x) { return x.from == v; });
    if (m != map.end()) be::put32(compound.data() + off, m->to);
    else if (unmapped) ++*unmapped;
  };
  return visit_compound(compound, set_sender, map_media);
}

}  // namespace sfu
