// libFuzzer target: the RTCP reader, every packet type's parser, the builders (what parses must
// rebuild into a packet that parses to the same numbers), the SSRC rewrite (only SSRC fields may
// change, and nothing on error) and SRTCP unprotect.
#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "sfu/rtcp.hpp"
#include "sfu/srtp.hpp"
#include "tests/fuzz/target.hpp"

using namespace sfu;

namespace {

bool inside(std::span<const uint8_t> s, const uint8_t* data, size_t size) {
  return s.empty() || (s.data() >= data && s.data() + s.size() <= data + size);
}

SrtpSession& inbound() {
  static SrtpSessionPair pair = [] {
    SrtpSessionPair p;
    std::array<uint8_t, 56> km{};
    for (size_t i = 0; i < km.size(); ++i) km[i] = static_cast<uint8_t>(i * 13);
    if (make_srtp_sessions(srtp_profile::kAeadAes128Gcm, km, true, p) != SrtpError::None) FUZZ_FAIL();
    return p;
  }();
  return pair.inbound;
}

std::array<uint8_t, 2048> g_buf;

void round_trip(const RtcpPacket& p) {
  switch (kind_of(p)) {
    case RtcpKind::SenderReport: {
      SenderReport sr;
      if (SenderReport::parse(p, sr) != RtcpError::None) return;
      std::array<ReportBlock, 31> blocks;
      for (size_t i = 0; i < sr.blocks.size(); ++i) blocks[i] = sr.blocks[i];
      const size_t n = build_sr(g_buf, sr.ssrc, sr.info, {blocks.data(), sr.blocks.size()});
      SenderReport again;
      RtcpReader r({g_buf.data(), n});
      RtcpPacket q;
      if (n == 0 || !r.next(q) || SenderReport::parse(q, again) != RtcpError::None) FUZZ_FAIL();
      if (again.ssrc != sr.ssrc || !(again.info == sr.info) || again.blocks.size() != sr.blocks.size())
        FUZZ_FAIL();
      for (size_t i = 0; i < sr.blocks.size(); ++i)
        if (!(again.blocks[i] == sr.blocks[i])) FUZZ_FAIL();
      return;
    }
    case RtcpKind::ReceiverReport: {
      ReceiverReport rr;
      if (ReceiverReport::parse(p, rr) != RtcpError::None) return;
      std::array<ReportBlock, 31> blocks;
      for (size_t i = 0; i < rr.blocks.size(); ++i) blocks[i] = rr.blocks[i];
      const size_t n = build_rr(g_buf, rr.ssrc, {blocks.data(), rr.blocks.size()});
      ReceiverReport again;
      RtcpReader r({g_buf.data(), n});
      RtcpPacket q;
      if (n == 0 || !r.next(q) || ReceiverReport::parse(q, again) != RtcpError::None) FUZZ_FAIL();
      if (again.ssrc != rr.ssrc || again.blocks.size() != rr.blocks.size()) FUZZ_FAIL();
      for (size_t i = 0; i < rr.blocks.size(); ++i)
        if (!(again.blocks[i] == rr.blocks[i])) FUZZ_FAIL();
      return;
    }
    case RtcpKind::Bye: {
      Bye bye;
      if (Bye::parse(p, bye) != RtcpError::None) return;
      if (!inside(bye.reason, p.raw.data(), p.raw.size())) FUZZ_FAIL();
      std::array<uint32_t, 31> ssrcs;
      for (size_t i = 0; i < bye.ssrcs.size(); ++i) ssrcs[i] = bye.ssrcs[i];
      const size_t n = build_bye(g_buf, {ssrcs.data(), bye.ssrcs.size()});
      Bye again;
      RtcpReader r({g_buf.data(), n});
      RtcpPacket q;
      if (n == 0 || !r.next(q) || Bye::parse(q, again) != RtcpError::None) FUZZ_FAIL();
      if (again.ssrcs.size() != bye.ssrcs.size()) FUZZ_FAIL();
      return;
    }
    case RtcpKind::GenericNack: {
      GenericNack nack;
      if (GenericNack::parse(p, nack) != RtcpError::None) return;
      std::vector<uint16_t> seqs(nack.items.size() * kMaxSequencesPerNackItem), back;
      const size_t count = nack.expand(seqs);
      if (count != nack.sequence_count()) FUZZ_FAIL();
      std::vector<uint8_t> buf(12 + 4 * count);
      const size_t n = build_nack(buf, nack.sender_ssrc, nack.media_ssrc, {seqs.data(), count});
      GenericNack again;
      RtcpReader r({buf.data(), n});
      RtcpPacket q;
      if (n == 0 || !r.next(q) || GenericNack::parse(q, again) != RtcpError::None) FUZZ_FAIL();
      back.resize(again.sequence_count());
      back.resize(again.expand(back));
      std::vector<uint16_t> a(seqs.begin(), seqs.begin() + count);
      std::sort(a.begin(), a.end());
      a.erase(std::unique(a.begin(), a.end()), a.end());
      std::sort(back.begin(), back.end());
      back.erase(std::unique(back.begin(), back.end()), back.end());
      if (a != back) FUZZ_FAIL();
      return;
    }
    case RtcpKind::TransportCc: {
      TransportCc t;
      if (TransportCc::parse(p, t) == RtcpError::None && !inside(t.fci, p.raw.data(), p.raw.size())) FUZZ_FAIL();
      return;
    }
    case RtcpKind::Pli: {
      Pli pli;
      if (Pli::parse(p, pli) != RtcpError::None) return;
      const size_t n = build_pli(g_buf, pli.sender_ssrc, pli.media_ssrc);
      Pli again;
      RtcpReader r({g_buf.data(), n});
      RtcpPacket q;
      if (!r.next(q) || Pli::parse(q, again) != RtcpError::None || again.media_ssrc != pli.media_ssrc) FUZZ_FAIL();
      return;
    }
    case RtcpKind::Fir: {
      Fir fir;
      if (Fir::parse(p, fir) != RtcpError::None) return;
      if (fir.entries.empty()) FUZZ_FAIL();
      const size_t n = build_fir(g_buf, fir.sender_ssrc, fir.entries[0].ssrc, fir.entries[0].sequence);
      Fir again;
      RtcpReader r({g_buf.data(), n});
      RtcpPacket q;
      if (!r.next(q) || Fir::parse(q, again) != RtcpError::None || again.entries[0].ssrc != fir.entries[0].ssrc ||
          again.entries[0].sequence != fir.entries[0].sequence)
        FUZZ_FAIL();
      return;
    }
    case RtcpKind::Remb: {
      Remb remb;
      if (Remb::parse(p, remb) != RtcpError::None) return;
      std::array<uint32_t, 255> ssrcs;
      for (size_t i = 0; i < remb.ssrcs.size(); ++i) ssrcs[i] = remb.ssrcs[i];
      const size_t n = build_remb(g_buf, remb.sender_ssrc, remb.bitrate_bps, {ssrcs.data(), remb.ssrcs.size()});
      Remb again;
      RtcpReader r({g_buf.data(), n});
      RtcpPacket q;
      if (n == 0 || !r.next(q) || Remb::parse(q, again) != RtcpError::None) FUZZ_FAIL();
      if (again.bitrate_bps > remb.bitrate_bps || again.ssrcs.size() != remb.ssrcs.size()) FUZZ_FAIL();
      for (size_t i = 0; i < remb.ssrcs.size(); ++i)
        if (again.ssrcs[i] != remb.ssrcs[i]) FUZZ_FAIL();
      return;
    }
    default:
      return;
  }
}

}  // namespace

TURNPIKE_FUZZ_TARGET("sfu", rtcp) {
  const std::span<const uint8_t> in(data, size);
  RtcpHeader h;
  if (RtcpHeader::parse(in, h) == RtcpError::None && h.packet_size() > 4 * 65536) FUZZ_FAIL();

  std::vector<uint8_t> copy(in.begin(), in.end());
  size_t len = size;
  if (inbound().unprotect_rtcp(copy, len) == SrtpError::None && len > size) FUZZ_FAIL();

  RtcpReader reader(in);
  RtcpPacket p;
  size_t packets = 0;
  while (reader.next(p)) {
    ++packets;
    if (!inside(p.raw, data, size) || !inside(p.body, p.raw.data(), p.raw.size())) FUZZ_FAIL();
    if (p.raw.size() != p.header.packet_size() || p.body.data() != p.raw.data() + 4) FUZZ_FAIL();
    round_trip(p);
  }
  const RtcpError whole = validate_compound(in);
  if (whole != reader.error() && !(size == 0 && whole == RtcpError::Truncated)) FUZZ_FAIL();

  // SSRC rewrite: nothing changes on error; on success only SSRCs did, so the compound still reads
  // the same way, packet for packet.
  std::vector<uint8_t> rw(in.begin(), in.end());
  const std::array<SsrcMapping, 2> map{SsrcMapping{1, 0x10000001}, SsrcMapping{0, 0xFFFFFFFF}};
  const RtcpError e = rewrite_ssrcs(rw, 0xABCDEF01u, map);
  if (e != RtcpError::None) {
    if (size && std::memcmp(rw.data(), data, size) != 0) FUZZ_FAIL();
    return 0;
  }
  RtcpReader a(in), b(rw);
  RtcpPacket pa, pb;
  size_t again = 0;
  while (a.next(pa)) {
    if (!b.next(pb) || pa.raw.size() != pb.raw.size() || pa.body.size() != pb.body.size() || kind_of(pa) != kind_of(pb))
      FUZZ_FAIL();
    ++again;
  }
  if (b.next(pb) || again != packets) FUZZ_FAIL();
  return 0;
}
