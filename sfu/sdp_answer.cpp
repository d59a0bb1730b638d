// The SFU's answer and codec policy (RFC 3264 6, RFC 8829 5.3, RFC 8843 7.3): which offers it
// takes, which codecs, feedback and header extensions it keeps, and the answer it builds. This is
// SFU policy over the parsed model, not SDP grammar.
#include "sfu/sdp.hpp"

#include "sfu/sdp_text.hpp"

#include <algorithm>
#include <charconv>

namespace sfu::sdp {

using namespace text;

namespace {

// ---- answer

bool offer_sends(Direction d) { return d == Direction::SendRecv || d == Direction::SendOnly; }
bool offer_receives(Direction d) { return d == Direction::SendRecv || d == Direction::RecvOnly; }

// RFC 6184 8.1 / Table 5: the profile-level-id (6 hex digits) of a Constrained Baseline profile.
bool constrained_baseline(std::string_view plid) {
  if (plid.size() != 6) return false;
  unsigned v = 0;
  auto r = std::from_chars(plid.data(), plid.data() + 6, v, 16);
  if (r.ec != std::errc() || r.ptr != plid.data() + 6) return false;
  unsigned idc = (v >> 16) & 0xFF, iop = (v >> 8) & 0xFF;
  return (idc == 0x42 && (iop & 0x4F) == 0x40) || (idc == 0x4D && (iop & 0x8F) == 0x80) ||
         (idc == 0x58 && (iop & 0xCF) == 0xC0);
}

// Whether the SFU can take codec `c` as `name`; a higher score is preferred among several.
int codec_score(const Codec& c, std::string_view name, MediaKind kind) {
  if (!iequals(c.name, name)) return -1;
  if (iequals(name, "opus")) return c.clock_rate == 48000 && c.channels == 2 ? 1 : -1;
  if (kind == MediaKind::Video && c.clock_rate != 90000) return -1;
  if (iequals(name, "H264")) {
    // RFC 6184 8.1: packetization-mode=1 (non-interleaved), Constrained Baseline, 42e01f preferred.
    auto pm = c.parameter("packetization-mode");
    auto plid = c.parameter("profile-level-id");
    if (!pm || *pm != "1" || !plid || !constrained_baseline(*plid)) return -1;
    return iequals(*plid, "42e01f") ? 2 : 1;
  }
  if (iequals(name, "VP9")) {
    auto p = c.parameter("profile-id");
    return !p || *p == "0" ? 1 : -1;
  }
  if (iequals(name, "AV1")) {
    auto p = c.parameter("profile");
    return !p || *p == "0" ? 1 : -1;
  }
  return 1;
}

bool keep_feedback(std::string_view fb, const AnswerOptions& o) {
  return fb == "nack" || fb == "nack pli" || fb == "ccm fir" || fb == "goog-remb" || (o.transport_cc && fb == "transport-cc");
}

std::vector<Codec> select_codecs(const MediaSection& s, const AnswerOptions& o) {
  std::vector<Codec> chosen;
  if (s.kind != MediaKind::Audio && s.kind != MediaKind::Video) return chosen;
  const auto& prefs = s.kind == MediaKind::Audio ? o.audio_codecs : o.video_codecs;
  for (const auto& name : prefs) {
    const Codec* best = nullptr;
    int best_score = 0;
    for (const auto& c : s.codecs) {
      int score = codec_score(c, name, s.kind);
      if (score > best_score) best = &c, best_score = score;
    }
    if (!best || std::any_of(chosen.begin(), chosen.end(), [&](const Codec& x) { return x.payload_type == best->payload_type; }))
      continue;
    Codec c = *best;
    c.rtcp_fb.erase(std::remove_if(c.rtcp_fb.begin(), c.rtcp_fb.end(), [&](const std::string& fb) { return !keep_feedback(fb, o); }),
                    c.rtcp_fb.end());
    chosen.push_back(std::move(c));
  }
  if (chosen.empty()) return chosen;
  auto take = [&](const Codec& c) {
    Codec x = c;
    x.rtcp_fb.clear();
    chosen.push_back(std::move(x));
  };
  size_t primaries = chosen.size();
  if (o.red) {
    for (const auto& c : s.codecs) {
      if (!iequals(c.name, "red")) continue;
      if (s.kind == MediaKind::Audio) {
        // RFC 2198 5 / RFC 8854: audio RED carries the chosen opus ("111/111").
        auto slash = c.fmtp.find('/');
        auto inner = number<uint8_t>(std::string_view(c.fmtp).substr(0, slash), 127);
        if (!inner || chosen.front().payload_type != *inner) continue;
      } else if (c.clock_rate != 90000) {
        continue;
      }
      take(c);
      break;
    }
    if (o.ulpfec && s.kind == MediaKind::Video && chosen.size() > primaries) {
      for (const auto& c : s.codecs)
        if (iequals(c.name, "ulpfec") && c.clock_rate == 90000) {
          take(c);
          break;
        }
    }
  }
  if (o.rtx) {
    // RFC 4588 8.6: one rtx format per protected format, linked by apt=.
    size_t n = chosen.size();
    for (size_t i = 0; i < n; ++i) {
      if (iequals(chosen[i].name, "ulpfec")) continue;
      if (auto rtx = rtx_payload_type(s, chosen[i].payload_type))
        if (auto* c = s.find_codec(*rtx)) take(*c);
    }
  }
  return chosen;
}

}  // namespace

Error check_offer(const SessionDescription& offer, const AnswerOptions& opts) {
  auto unsupported = [](std::string msg) { return Error{Errc::Unsupported, 0, std::move(msg)}; };
  if (offer.media.empty()) return unsupported("the offer has no m= sections");
  const Group* g = bundle_group(offer);
  if (!g || g->mids.empty())
    return unsupported("the offer has no a=group:BUNDLE; the SFU bundles all media on one port (RFC 8843)");
  const MediaSection* tag = bundle_tag(offer);
  if (!tag || tag->rejected()) return unsupported("the BUNDLE-tag section (mid " + g->mids.front() + ") has port 0");
  if (!tag->is_rtp()) return unsupported("the BUNDLE-tag section (mid " + tag->mid + ") is not RTP (" + tag->protocol + ")");
  if (!tag->rtcp_mux) return unsupported("the BUNDLE-tag section (mid " + tag->mid + ") has no a=rtcp-mux (RFC 5761)");
  if (tag->protocol != "UDP/TLS/RTP/SAVPF")
    return unsupported("the BUNDLE-tag section (mid " + tag->mid + ") is " + tag->protocol + ", not UDP/TLS/RTP/SAVPF");
  // RFC 8843 7.3.3: rejecting the offerer's BUNDLE-tag section would reject the whole group.
  if (select_codecs(*tag, opts).empty())
    return unsupported("the BUNDLE-tag section (mid " + tag->mid + ") offers no codec the SFU takes");
  if (!ice_credentials(offer)) return unsupported("no a=ice-ufrag/a=ice-pwd for the BUNDLE transport");
  if (!fingerprint(offer)) return unsupported("no a=fingerprint for the BUNDLE transport (RFC 8122)");
  auto s = setup(offer);
  if (!s) return unsupported("no a=setup for the BUNDLE transport (RFC 5763 5)");
  if (*s != Setup::ActPass && *s != Setup::Active)
    return unsupported(std::string("a=setup:") + to_string(*s) + ": the SFU is the DTLS server, so the offer must be actpass or active (RFC 5763 5)");
  return {};
}

Error check_offer(const SessionDescription& offer) { return check_offer(offer, AnswerOptions{}); }

SessionDescription build_answer(const SessionDescription& offer, const AnswerOptions& opts) {
  SessionDescription a;
  const turn::Endpoint primary = opts.addresses.empty() ? turn::Endpoint{} : opts.addresses.front();
  const std::string addr_type = primary.address.is_v4() ? "IP4" : "IP6";
  a.origin = Origin{"-", opts.session_id, opts.session_version, addr_type, primary.address.to_string()};
  a.session_name = "-";
  a.ice_lite = true;  // RFC 8839 5.3
  a.extmap_allow_mixed = offer.extmap_allow_mixed && opts.extmap_allow_mixed;
  const Group* offered_bundle = bundle_group(offer);
  auto bundled = [&](const std::string& mid) {
    return offered_bundle && std::find(offered_bundle->mids.begin(), offered_bundle->mids.end(), mid) != offered_bundle->mids.end();
  };
  // Without a usable BUNDLE-tag section nothing can be bundled: everything is rejected.
  const MediaSection* tag_section = bundle_tag(offer);
  const bool group_usable = !opts.addresses.empty() && !check_offer(offer, opts);
  MsidSemantic wms{"WMS", {}};
  std::vector<std::string> accepted;
  std::vector<uint32_t> announced;  // SSRCs of the SFU's tracks in this answer

  for (const auto& s : offer.media) {
    MediaSection m;
    m.kind = s.kind;
    m.media = s.media;
    m.protocol = s.protocol;
    m.mid = s.mid;
    std::vector<Codec> codecs;
    // RFC 8843 7.3.3: the offerer's BUNDLE-tag section cannot be rejected alone (that rejects the whole
    // group, and Chromium fails the answer), so when opts.reject names it, it is accepted inactive.
    bool is_tag = tag_section == &s;
    bool policy_reject = std::find(opts.reject.begin(), opts.reject.end(), s.mid) != opts.reject.end();
    bool take = group_usable && !s.rejected() && !s.formats.empty() && !s.mid.empty() && bundled(s.mid) &&
                (!policy_reject || is_tag) && s.protocol == "UDP/TLS/RTP/SAVPF" && s.rtcp_mux;
    if (take) codecs = select_codecs(s, opts);
    if (!take || codecs.empty()) {
      // RFC 3264 6 / RFC 8829 5.3.1: a rejected section keeps its media, protocol and a format, with port 0.
      m.port = 0;
      m.formats = {s.formats.empty() ? std::string("0") : s.formats.front()};
      if (s.is_rtp() && !s.payload_types.empty()) m.payload_types = {s.payload_types.front()};
      m.connection = Connection{"IP4", "0.0.0.0"};
      m.direction = Direction::Inactive;
      a.media.push_back(std::move(m));
      continue;
    }
    m.port = primary.port;
    m.connection = Connection{addr_type, primary.address.to_string()};
    m.ice = opts.ice;
    m.fingerprint = opts.fingerprint;
    m.setup = Setup::Passive;  // RFC 5763 5: the answerer to actpass; the SFU is always the DTLS server
    m.rtcp_mux = true;
    m.rtcp_rsize = s.rtcp_rsize;
    for (auto& c : codecs) {
      m.formats.push_back(std::to_string(c.payload_type));
      m.payload_types.push_back(c.payload_type);
    }
    m.codecs = std::move(codecs);
    for (const auto& e : s.extmaps)
      if (e.uri == ext::kMid || e.uri == ext::kAbsSendTime || (opts.transport_cc && e.uri == ext::kTransportCc))
        m.extmaps.push_back(Extmap{e.id, std::nullopt, e.uri, {}});
    // RFC 3264 6.1: the direction mirrors the offer's.
    // RFC 8843 9.2: an SSRC identifies one m= section of the BUNDLE group, so a track whose SSRC an
    // earlier section of this answer already announces is not sent again (Chromium refuses the answer).
    auto track = opts.send.find(s.mid);
    bool we_send = !policy_reject && offer_receives(s.direction) && track != opts.send.end() &&
                   std::none_of(announced.begin(), announced.end(), [&](uint32_t x) {
                     return x == track->second.ssrc || (track->second.rtx_ssrc && x == track->second.rtx_ssrc);
                   });
    bool we_receive = !policy_reject && offer_sends(s.direction);
    m.direction = we_send && we_receive ? Direction::SendRecv
                  : we_send            ? Direction::SendOnly
                  : we_receive         ? Direction::RecvOnly
                                       : Direction::Inactive;
    if (we_send) {
      const SendTrack& t = track->second;
      Msid id{t.stream_id, t.track_id};
      m.msids.push_back(id);
      m.ssrcs.push_back(Ssrc{t.ssrc, t.cname, id});
      bool has_rtx = std::any_of(m.codecs.begin(), m.codecs.end(), [](const Codec& c) { return iequals(c.name, "rtx"); });
      if (opts.rtx && t.rtx_ssrc && has_rtx) {
        m.ssrc_groups.push_back(SsrcGroup{"FID", {t.ssrc, t.rtx_ssrc}});  // RFC 4588 8.1
        m.ssrcs.push_back(Ssrc{t.rtx_ssrc, t.cname, id});
      }
      for (const auto& x : m.ssrcs) announced.push_back(x.ssrc);
      if (std::find(wms.ids.begin(), wms.ids.end(), t.stream_id) == wms.ids.end()) wms.ids.push_back(t.stream_id);
    }
    accepted.push_back(s.mid);
    a.media.push_back(std::move(m));
  }

  if (!accepted.empty()) {
    // RFC 8843 7.3: the answer's group holds the accepted mids, in the offer's order; its first
    // (the answerer BUNDLE-tag) carries the candidates.
    Group g{"BUNDLE", {}};
    for (const auto& mid : offered_bundle->mids)
      if (std::find(accepted.begin(), accepted.end(), mid) != accepted.end()) g.mids.push_back(mid);
    a.groups.push_back(g);
    auto tag = std::find_if(a.media.begin(), a.media.end(), [&](const MediaSection& m) { return m.mid == g.mids.front(); });
    for (size_t i = 0; i < opts.addresses.size() && i < kMaxCandidates; ++i) {
      const uint32_t local_pref = 65535 - static_cast<uint32_t>(i);
      const auto& ep = opts.addresses[i];
      Candidate c;
      c.foundation = std::to_string(i + 1);
      c.component = 1;
      c.transport = "udp";
      // RFC 8445 5.1.2.1: (2^24)*type preference (126, host) + (2^8)*local preference + (256 - component).
      c.priority = (126u << 24) | (local_pref << 8) | 255u;
      c.address = ep.address.to_string();
      c.port = ep.port;
      c.type = "host";
      tag->candidates.push_back(std::move(c));
    }
    tag->end_of_candidates = true;  // RFC 8840 8.2: ICE-lite gathers nothing more
  }
  a.msid_semantic = std::move(wms);
  return a;
}

std::string make_answer(const SessionDescription& offer, const AnswerOptions& opts) {
  return to_string(build_answer(offer, opts));
}

}  // namespace sfu::sdp
