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

// The offered codec the SFU takes as `name`, the best scoring of several, or none.
const Codec* best_codec(const MediaSection& s, std::string_view name) {
  const Codec* best = nullptr;
  int best_score = 0;
  for (const auto& c : s.codecs) {
    int score = codec_score(c, name, s.kind);
    if (score > best_score) best = &c, best_score = score;
  }
  return best;
}

// One codec per preferred name (o.audio_codecs / o.video_codecs order), each payload type once, with
// only the feedback the SFU keeps.
std::vector<Codec> primary_codecs(const MediaSection& s, const AnswerOptions& o) {
  std::vector<Codec> chosen;
  const auto& prefs = s.kind == MediaKind::Audio ? o.audio_codecs : o.video_codecs;
  for (const auto& name : prefs) {
    const Codec* best = best_codec(s, name);
    if (!best || std::any_of(chosen.begin(), chosen.end(), [&](const Codec& x) { return x.payload_type == best->payload_type; }))
      continue;
    Codec c = *best;
    c.rtcp_fb.erase(std::remove_if(c.rtcp_fb.begin(), c.rtcp_fb.end(), [&](const std::string& fb) { return !keep_feedback(fb, o); }),
                    c.rtcp_fb.end());
    chosen.push_back(std::move(c));
  }
  return chosen;
}

// A redundancy or repair format is answered without feedback of its own.
void take_without_feedback(std::vector<Codec>& chosen, const Codec& c) {
  Codec x = c;
  x.rtcp_fb.clear();
  chosen.push_back(std::move(x));
}

// The offered RED format that fits the chosen primary codec, or none.
const Codec* red_codec(const MediaSection& s, const Codec& primary) {
  for (const auto& c : s.codecs) {
    if (!iequals(c.name, "red")) continue;
    if (s.kind == MediaKind::Audio) {
      // RFC 2198 5 / RFC 8854: audio RED carries the chosen opus ("111/111").
      auto slash = c.fmtp.find('/');
      auto inner = number<uint8_t>(std::string_view(c.fmtp).substr(0, slash), 127);
      if (!inner || primary.payload_type != *inner) continue;
    } else if (c.clock_rate != 90000) {
      continue;
    }
    return &c;
  }
  return nullptr;
}

// RFC 2198 RED, then (video, with RED only) RFC 5109 ULPFEC.
void add_red_and_fec(std::vector<Codec>& chosen, const MediaSection& s, const AnswerOptions& o) {
  size_t primaries = chosen.size();
  if (const Codec* red = red_codec(s, chosen.front())) take_without_feedback(chosen, *red);
  if (!o.ulpfec || s.kind != MediaKind::Video || chosen.size() <= primaries) return;
  for (const auto& c : s.codecs)
    if (iequals(c.name, "ulpfec") && c.clock_rate == 90000) {
      take_without_feedback(chosen, c);
      return;
    }
}

// RFC 4588 8.6: one rtx format per protected format, linked by apt=.
void add_rtx(std::vector<Codec>& chosen, const MediaSection& s) {
  size_t n = chosen.size();
  for (size_t i = 0; i < n; ++i) {
    if (iequals(chosen[i].name, "ulpfec")) continue;
    if (auto rtx = rtx_payload_type(s, chosen[i].payload_type))
      if (auto* c = s.find_codec(*rtx)) take_without_feedback(chosen, *c);
  }
}

std::vector<Codec> select_codecs(const MediaSection& s, const AnswerOptions& o) {
  if (s.kind != MediaKind::Audio && s.kind != MediaKind::Video) return {};
  std::vector<Codec> chosen = primary_codecs(s, o);
  if (chosen.empty()) return chosen;
  if (o.red) add_red_and_fec(chosen, s, o);
  if (o.rtx || (o.rtx_send && offer_receives(s.direction))) add_rtx(chosen, s);
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

namespace {

// build_answer() in its steps: the session lines, each offered section (rejected, or accepted with
// its transport, codecs, header extensions, direction and the track the SFU sends), then the BUNDLE
// group with the candidates.
class AnswerBuilder {
 public:
  AnswerBuilder(const SessionDescription& offer, const AnswerOptions& opts)
      : offer_(offer),
        opts_(opts),
        primary_(opts.addresses.empty() ? turn::Endpoint{} : opts.addresses.front()),
        addr_type_(primary_.address.is_v4() ? "IP4" : "IP6"),
        offered_bundle_(bundle_group(offer)),
        tag_section_(bundle_tag(offer)),
        // Without a usable BUNDLE-tag section nothing can be bundled: everything is rejected.
        group_usable_(!opts.addresses.empty() && !check_offer(offer, opts)) {}

  SessionDescription build() {
    session();
    for (const auto& s : offer_.media) a_.media.push_back(section(s));
    if (!accepted_.empty()) bundle();
    a_.msid_semantic = std::move(wms_);
    return std::move(a_);
  }

 private:
  void session() {
    a_.origin = Origin{"-", opts_.session_id, opts_.session_version, addr_type_, primary_.address.to_string()};
    a_.session_name = "-";
    a_.ice_lite = true;  // RFC 8839 5.3
    a_.extmap_allow_mixed = offer_.extmap_allow_mixed && opts_.extmap_allow_mixed;
  }

  bool bundled(const std::string& mid) const {
    return offered_bundle_ && std::find(offered_bundle_->mids.begin(), offered_bundle_->mids.end(), mid) != offered_bundle_->mids.end();
  }

  MediaSection section(const MediaSection& s) {
    MediaSection m;
    m.kind = s.kind;
    m.media = s.media;
    m.protocol = s.protocol;
    m.mid = s.mid;
    std::vector<Codec> codecs;
    // RFC 8843 7.3.3: the offerer's BUNDLE-tag section cannot be rejected alone (that rejects the whole
    // group, and Chromium fails the answer), so when opts.reject names it, it is accepted inactive.
    bool is_tag = tag_section_ == &s;
    bool policy_reject = std::find(opts_.reject.begin(), opts_.reject.end(), s.mid) != opts_.reject.end();
    bool take = group_usable_ && !s.rejected() && !s.formats.empty() && !s.mid.empty() && bundled(s.mid) &&
                (!policy_reject || is_tag) && s.protocol == "UDP/TLS/RTP/SAVPF" && s.rtcp_mux;
    if (take) codecs = select_codecs(s, opts_);
    if (!take || codecs.empty()) {
      reject(m, s);
      return m;
    }
    accept(m, s, std::move(codecs));
    direction_and_track(m, s, policy_reject);
    accepted_.push_back(s.mid);
    return m;
  }

  // RFC 3264 6 / RFC 8829 5.3.1: a rejected section keeps its media, protocol and a format, with port 0.
  static void reject(MediaSection& m, const MediaSection& s) {
    m.port = 0;
    m.formats = {s.formats.empty() ? std::string("0") : s.formats.front()};
    if (s.is_rtp() && !s.payload_types.empty()) m.payload_types = {s.payload_types.front()};
    m.connection = Connection{"IP4", "0.0.0.0"};
    m.direction = Direction::Inactive;
  }

  // The transport, the chosen codecs and the header extensions the SFU keeps.
  void accept(MediaSection& m, const MediaSection& s, std::vector<Codec> codecs) const {
    m.port = primary_.port;
    m.connection = Connection{addr_type_, primary_.address.to_string()};
    m.ice = opts_.ice;
    m.fingerprint = opts_.fingerprint;
    m.setup = Setup::Passive;  // RFC 5763 5: the answerer to actpass; the SFU is always the DTLS server
    m.rtcp_mux = true;
    m.rtcp_rsize = s.rtcp_rsize;
    for (auto& c : codecs) {
      m.formats.push_back(std::to_string(c.payload_type));
      m.payload_types.push_back(c.payload_type);
    }
    m.codecs = std::move(codecs);
    for (const auto& e : s.extmaps)
      if (e.uri == ext::kMid || e.uri == ext::kAbsSendTime || (opts_.transport_cc && e.uri == ext::kTransportCc) ||
          (s.kind == MediaKind::Audio && e.uri == ext::kAudioLevel) ||
          (receives_simulcast(s) && (e.uri == ext::kRid || e.uri == ext::kRepairedRid)))
        m.extmaps.push_back(Extmap{e.id, std::nullopt, e.uri, {}});
  }

  bool receives_simulcast(const MediaSection& s) const {
    return opts_.simulcast && offer_sends(s.direction) && s.simulcast && !s.simulcast->send.empty();
  }

  // RFC 8853 5.3: the answer receives the offered send streams it takes (the first
  // kMaxSimulcastLayers whose rid has an a=rid send line), each as a=rid:<id> recv.
  void receive_simulcast(MediaSection& m, const MediaSection& s) const {
    Simulcast sc;
    for (const auto& st : s.simulcast->send) {
      if (sc.recv.size() == kMaxSimulcastLayers) break;
      const std::string& id = st.rids.front();
      auto r = std::find_if(s.rids.begin(), s.rids.end(), [&](const Rid& x) { return x.id == id && x.send; });
      if (r == s.rids.end()) continue;
      sc.recv.push_back(SimulcastStream{{id}, st.paused});
      m.rids.push_back(Rid{id, false, {}});
    }
    if (!sc.recv.empty()) m.simulcast = std::move(sc);
  }

  // RFC 3264 6.1: the direction mirrors the offer's.
  // RFC 8843 9.2: an SSRC identifies one m= section of the BUNDLE group, so a track whose SSRC an
  // earlier section of this answer already announces is not sent again (Chromium refuses the answer).
  void direction_and_track(MediaSection& m, const MediaSection& s, bool policy_reject) {
    auto track = opts_.send.find(s.mid);
    bool we_send = !policy_reject && offer_receives(s.direction) && track != opts_.send.end() &&
                   std::none_of(announced_.begin(), announced_.end(), [&](uint32_t x) {
                     return x == track->second.ssrc || (track->second.rtx_ssrc && x == track->second.rtx_ssrc);
                   });
    bool we_receive = !policy_reject && offer_sends(s.direction);
    m.direction = we_send && we_receive ? Direction::SendRecv
                  : we_send            ? Direction::SendOnly
                  : we_receive         ? Direction::RecvOnly
                                       : Direction::Inactive;
    if (we_send) send_track(m, track->second);
    if (we_receive && receives_simulcast(s)) receive_simulcast(m, s);
  }

  // a=msid, a=ssrc cname/msid (+ RFC 4588 8.1 a=ssrc-group:FID) of a track the SFU sends.
  void send_track(MediaSection& m, const SendTrack& t) {
    Msid id{t.stream_id, t.track_id};
    m.msids.push_back(id);
    m.ssrcs.push_back(Ssrc{t.ssrc, t.cname, id});
    bool has_rtx = std::any_of(m.codecs.begin(), m.codecs.end(), [](const Codec& c) { return iequals(c.name, "rtx"); });
    if ((opts_.rtx || opts_.rtx_send) && t.rtx_ssrc && has_rtx) {
      m.ssrc_groups.push_back(SsrcGroup{"FID", {t.ssrc, t.rtx_ssrc}});  // RFC 4588 8.1
      m.ssrcs.push_back(Ssrc{t.rtx_ssrc, t.cname, id});
    }
    for (const auto& x : m.ssrcs) announced_.push_back(x.ssrc);
    if (std::find(wms_.ids.begin(), wms_.ids.end(), t.stream_id) == wms_.ids.end()) wms_.ids.push_back(t.stream_id);
  }

  // RFC 8843 7.3: the answer's group holds the accepted mids, in the offer's order; its first
  // (the answerer BUNDLE-tag) carries the candidates.
  void bundle() {
    Group g{"BUNDLE", {}};
    for (const auto& mid : offered_bundle_->mids)
      if (std::find(accepted_.begin(), accepted_.end(), mid) != accepted_.end()) g.mids.push_back(mid);
    a_.groups.push_back(g);
    auto tag = std::find_if(a_.media.begin(), a_.media.end(), [&](const MediaSection& m) { return m.mid == g.mids.front(); });
    for (size_t i = 0; i < opts_.addresses.size() && i < kMaxCandidates; ++i)
      tag->candidates.push_back(host_candidate(i, opts_.addresses[i]));
    tag->end_of_candidates = true;  // RFC 8840 8.2: ICE-lite gathers nothing more
  }

  static Candidate host_candidate(size_t i, const turn::Endpoint& ep) {
    const uint32_t local_pref = 65535 - static_cast<uint32_t>(i);
    Candidate c;
    c.foundation = std::to_string(i + 1);
    c.component = 1;
    c.transport = "udp";
    // RFC 8445 5.1.2.1: (2^24)*type preference (126, host) + (2^8)*local preference + (256 - component).
    c.priority = (126u << 24) | (local_pref << 8) | 255u;
    c.address = ep.address.to_string();
    c.port = ep.port;
    c.type = "host";
    return c;
  }

  const SessionDescription& offer_;
  const AnswerOptions& opts_;
  const turn::Endpoint primary_;
  const std::string addr_type_;
  const Group* offered_bundle_;
  const MediaSection* tag_section_;
  const bool group_usable_;
  SessionDescription a_;
  MsidSemantic wms_{"WMS", {}};
  std::vector<std::string> accepted_;
  std::vector<uint32_t> announced_;  // SSRCs of the SFU's tracks in this answer
};

}  // namespace

SessionDescription build_answer(const SessionDescription& offer, const AnswerOptions& opts) {
  return AnswerBuilder(offer, opts).build();
}

std::string make_answer(const SessionDescription& offer, const AnswerOptions& opts) {
  return to_string(build_answer(offer, opts));
}

}  // namespace sfu::sdp
