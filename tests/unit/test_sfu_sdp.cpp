// SDP: real Chromium offers (tests/fixtures/chromium_sdp/), the SFU's answers, and every class of
// malformed input. SdpChromium.AnswerFromEnvironment is the hook verify_answer.py drives.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "sfu/sdp.hpp"

using namespace sfu::sdp;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string fixture(const std::string& name) {
  std::string text = read_file(std::string(TURNPIKE_SOURCE_DIR) + "/tests/fixtures/chromium_sdp/" + name + ".sdp");
  EXPECT_FALSE(text.empty()) << name;
  return text;
}

SessionDescription parsed(const std::string& text) {
  Error err;
  auto sd = parse(text, err);
  EXPECT_TRUE(sd.has_value()) << err.to_string();
  return sd.value_or(SessionDescription{});
}

SessionDescription load(const std::string& name) { return parsed(fixture(name)); }

const std::vector<std::string> kFixtures = {
    "a_sendonly_audio_video", "b_send_and_recv", "c_reoffer_stopped_and_added", "c_reoffer_stopped_and_added_prev",
    "d_ice_restart", "d_ice_restart_prev", "e_recvonly_only", "f_recycled_mline", "f_recycled_mline_prev",
    "g_audio_and_datachannel", "h_datachannel_first", "h_datachannel_first_prev", "i_simulcast"};

Fingerprint our_fingerprint() {
  Fingerprint fp;
  fp.algorithm = "sha-256";
  for (int i = 0; i < 32; ++i) fp.value.push_back(static_cast<uint8_t>(i * 7));
  return fp;
}

AnswerOptions options() {
  AnswerOptions o;
  o.ice = {"TpSf", "turnpikeSfuIcePassword0"};
  o.fingerprint = our_fingerprint();
  o.addresses = {*turn::Endpoint::parse("198.18.0.1:3478")};
  o.session_id = 4242;
  o.session_version = 2;
  return o;
}

SendTrack track(uint32_t ssrc, const std::string& id) {
  return SendTrack{ssrc, ssrc + 1, "publisher-cname", "stream-" + id, "track-" + id};
}

// The answer as text, then parsed back (what Chromium will read).
SessionDescription answer_of(const SessionDescription& offer, const AnswerOptions& o) {
  std::string text = make_answer(offer, o);
  Error err;
  auto sd = parse(text, err);
  EXPECT_TRUE(sd.has_value()) << err.to_string() << "\n" << text;
  EXPECT_EQ(sd.value_or(SessionDescription{}), build_answer(offer, o));
  return sd.value_or(SessionDescription{});
}

std::vector<std::string> names(const MediaSection& m) {
  std::vector<std::string> out;
  for (const auto& c : m.codecs) out.push_back(c.name);
  return out;
}

// A minimal valid offer to mutate in error tests.
const std::string kMinimal =
    "v=0\r\n"
    "o=- 1 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:abcd\r\n"
    "a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    "a=fingerprint:sha-256 00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=sendonly\r\n"
    "a=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\n";

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

Error parse_error(const std::string& text) {
  Error err;
  auto sd = parse(text, err);
  EXPECT_FALSE(sd.has_value());
  return err;
}

}  // namespace

// ------------------------------------------------------------------------------ Chromium offers

TEST(SdpChromium, EveryFixtureParsesAndRoundTrips) {
  for (const auto& name : kFixtures) {
    SCOPED_TRACE(name);
    auto sd = load(name);
    ASSERT_FALSE(sd.media.empty());
    auto again = parsed(to_string(sd));
    EXPECT_EQ(again, sd);
    if (name.rfind("h_", 0) != 0) {
      EXPECT_FALSE(check_offer(sd)) << check_offer(sd).to_string();
    }
  }
}

TEST(SdpChromium, SendonlyAudioVideo) {
  auto sd = load("a_sendonly_audio_video");
  EXPECT_EQ(sd.origin.username, "-");
  EXPECT_EQ(sd.origin.session_version, 2u);
  EXPECT_TRUE(sd.extmap_allow_mixed);
  ASSERT_TRUE(sd.msid_semantic);
  EXPECT_EQ(sd.msid_semantic->semantic, "WMS");
  ASSERT_EQ(sd.msid_semantic->ids.size(), 1u);
  ASSERT_NE(bundle_group(sd), nullptr);
  EXPECT_EQ(bundle_group(sd)->mids, (std::vector<std::string>{"0", "1"}));
  EXPECT_FALSE(sd.ice);  // Chromium puts transport attributes in every m= section, none at session level
  ASSERT_EQ(sd.media.size(), 2u);

  const auto& audio = sd.media[0];
  EXPECT_EQ(audio.kind, MediaKind::Audio);
  EXPECT_NE(audio.port, 0);
  EXPECT_EQ(audio.protocol, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(audio.mid, "0");
  EXPECT_EQ(audio.direction, Direction::SendOnly);
  ASSERT_TRUE(audio.ice);
  EXPECT_EQ(audio.ice->ufrag.size(), 4u);
  EXPECT_EQ(audio.ice->pwd.size(), 24u);
  EXPECT_EQ(audio.ice_options, (std::vector<std::string>{"trickle"}));
  ASSERT_TRUE(audio.fingerprint);
  EXPECT_EQ(audio.fingerprint->algorithm, "sha-256");
  EXPECT_EQ(audio.fingerprint->value.size(), 32u);
  EXPECT_EQ(audio.setup, Setup::ActPass);
  EXPECT_TRUE(audio.rtcp_mux);
  EXPECT_TRUE(audio.rtcp_rsize);
  ASSERT_TRUE(audio.connection);
  EXPECT_EQ(audio.connection->address_type, "IP4");
  EXPECT_EQ(audio.payload_types.size(), audio.formats.size());
  EXPECT_EQ(audio.codecs.size(), audio.payload_types.size());  // every audio PT has a=rtpmap
  const Codec* opus = audio.find_codec(*payload_type(audio, "opus"));
  ASSERT_NE(opus, nullptr);
  EXPECT_EQ(opus->payload_type, 111);
  EXPECT_EQ(opus->clock_rate, 48000u);
  EXPECT_EQ(opus->channels, 2);
  EXPECT_EQ(opus->fmtp, "minptime=10;useinbandfec=1");
  EXPECT_EQ(opus->parameter("useinbandfec"), "1");
  EXPECT_EQ(opus->rtcp_fb, (std::vector<std::string>{"transport-cc"}));
  EXPECT_EQ(payload_type(audio, "PCMU"), 0);
  EXPECT_EQ(extmap_id(audio, ext::kMid), 4);
  EXPECT_EQ(extmap_id(audio, ext::kAudioLevel), 1);
  ASSERT_EQ(audio.msids.size(), 1u);
  EXPECT_EQ(audio.msids[0].stream, sd.msid_semantic->ids[0]);
  ASSERT_EQ(audio.ssrcs.size(), 1u);
  EXPECT_FALSE(audio.ssrcs[0].cname.empty());
  EXPECT_EQ(audio.ssrcs[0].msid, audio.msids[0]);
  // Host candidates, UDP and TCP (active, port 9), with Chromium's extensions.
  ASSERT_GE(audio.candidates.size(), 2u);
  EXPECT_EQ(audio.candidates[0].component, 1);
  EXPECT_EQ(audio.candidates[0].transport, "udp");
  EXPECT_EQ(audio.candidates[0].type, "host");
  EXPECT_EQ(audio.candidates[0].port, audio.port);
  bool tcp = false;
  for (const auto& c : audio.candidates)
    if (c.transport == "tcp") {
      tcp = true;
      EXPECT_EQ(c.port, 9);
      ASSERT_FALSE(c.extensions.empty());
      EXPECT_EQ(c.extensions[0], (std::pair<std::string, std::string>{"tcptype", "active"}));
    }
  EXPECT_TRUE(tcp);
  EXPECT_FALSE(audio.end_of_candidates);

  const auto& video = sd.media[1];
  EXPECT_EQ(video.kind, MediaKind::Video);
  EXPECT_EQ(video.port, 9);          // bundled: only the first section carries the address
  EXPECT_TRUE(video.candidates.empty());
  EXPECT_EQ(video.ice, audio.ice);
  EXPECT_EQ(video.fingerprint, audio.fingerprint);
  EXPECT_EQ(payload_type(video, "VP8"), 96);
  EXPECT_EQ(rtx_payload_type(video, 96), 97);
  EXPECT_EQ(video.find_codec(96)->rtcp_fb,
            (std::vector<std::string>{"goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"}));
  EXPECT_EQ(extmap_id(video, ext::kAbsSendTime), 2);
  EXPECT_EQ(extmap_id(video, ext::kTransportCc), 3);
  ASSERT_EQ(video.ssrc_groups.size(), 1u);
  EXPECT_EQ(video.ssrc_groups[0].semantics, "FID");
  ASSERT_EQ(video.ssrc_groups[0].ssrcs.size(), 2u);
  ASSERT_EQ(video.ssrcs.size(), 2u);
  EXPECT_EQ(video.ssrcs[0].ssrc, video.ssrc_groups[0].ssrcs[0]);
  EXPECT_EQ(video.ssrcs[1].ssrc, video.ssrc_groups[0].ssrcs[1]);
  EXPECT_EQ(video.ssrcs[0].cname, audio.ssrcs[0].cname);  // one cname per peer connection

  EXPECT_EQ(ice_credentials(sd), audio.ice);
  EXPECT_EQ(fingerprint(sd), audio.fingerprint);
  EXPECT_EQ(setup(sd), Setup::ActPass);
  EXPECT_EQ(bundle_tag(sd), &sd.media[0]);
  EXPECT_EQ(find_section(sd, "1"), &sd.media[1]);
  EXPECT_EQ(find_section(sd, "9"), nullptr);
}

TEST(SdpChromium, SendAndReceive) {
  auto sd = load("b_send_and_recv");
  ASSERT_EQ(sd.media.size(), 6u);
  const std::vector<std::pair<MediaKind, Direction>> want = {
      {MediaKind::Audio, Direction::SendOnly}, {MediaKind::Video, Direction::SendOnly},
      {MediaKind::Video, Direction::RecvOnly}, {MediaKind::Video, Direction::RecvOnly},
      {MediaKind::Audio, Direction::RecvOnly}, {MediaKind::Audio, Direction::RecvOnly}};
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(sd.media[i].mid, std::to_string(i));
    EXPECT_EQ(sd.media[i].kind, want[i].first);
    EXPECT_EQ(sd.media[i].direction, want[i].second);
  }
  // recvonly sections carry no SSRCs and no msid, and list the decoders (more than the encoders).
  EXPECT_TRUE(sd.media[2].ssrcs.empty());
  EXPECT_TRUE(sd.media[2].msids.empty());
  EXPECT_GT(sd.media[2].codecs.size(), sd.media[1].codecs.size());
  EXPECT_EQ(bundle_group(sd)->mids.size(), 6u);
}

TEST(SdpChromium, ReofferWithStoppedAndAddedTransceiver) {
  auto prev = load("c_reoffer_stopped_and_added_prev");
  auto sd = load("c_reoffer_stopped_and_added");
  EXPECT_GT(sd.origin.session_version, prev.origin.session_version);
  EXPECT_EQ(sd.origin.session_id, prev.origin.session_id);
  ASSERT_EQ(sd.media.size(), 7u);
  const auto* stopped = find_section(sd, "2");
  ASSERT_NE(stopped, nullptr);
  EXPECT_EQ(stopped->port, 0);
  EXPECT_TRUE(stopped->rejected());
  EXPECT_EQ(stopped->direction, Direction::Inactive);
  const auto& mids = bundle_group(sd)->mids;
  EXPECT_EQ(std::find(mids.begin(), mids.end(), "2"), mids.end());  // a stopped section leaves the group
  const auto* added = find_section(sd, "6");
  ASSERT_NE(added, nullptr);
  EXPECT_EQ(added->kind, MediaKind::Video);
  EXPECT_EQ(added->direction, Direction::RecvOnly);
  EXPECT_FALSE(ice_restart(prev, sd));
  EXPECT_EQ(fingerprint(prev), fingerprint(sd));
}

TEST(SdpChromium, IceRestart) {
  auto prev = load("d_ice_restart_prev");
  auto sd = load("d_ice_restart");
  EXPECT_TRUE(ice_restart(prev, sd));
  EXPECT_FALSE(ice_restart(sd, sd));
  EXPECT_NE(ice_credentials(prev)->ufrag, ice_credentials(sd)->ufrag);
  EXPECT_NE(ice_credentials(prev)->pwd, ice_credentials(sd)->pwd);
  EXPECT_EQ(fingerprint(prev), fingerprint(sd));  // same certificate: only ICE restarts
  // Taken before the new gathering finished: no candidates at all, port 9 everywhere.
  for (const auto& m : sd.media) EXPECT_TRUE(m.candidates.empty());
}

TEST(SdpChromium, RecvonlyOnly) {
  auto sd = load("e_recvonly_only");
  ASSERT_EQ(sd.media.size(), 4u);
  for (const auto& m : sd.media) {
    EXPECT_EQ(m.direction, Direction::RecvOnly);
    EXPECT_TRUE(m.ssrcs.empty());
  }
  ASSERT_TRUE(sd.msid_semantic);
  EXPECT_TRUE(sd.msid_semantic->ids.empty());  // "a=msid-semantic: WMS" with no stream
}

TEST(SdpChromium, RecycledMline) {
  auto sd = load("f_recycled_mline");
  ASSERT_EQ(sd.media.size(), 7u);
  // The stopped m-line of mid 2 (video) now carries a new audio transceiver with a new mid.
  EXPECT_EQ(sd.media[2].kind, MediaKind::Audio);
  EXPECT_EQ(sd.media[2].mid, "7");
  EXPECT_NE(sd.media[2].port, 0);
  EXPECT_EQ(find_section(sd, "2"), nullptr);
  EXPECT_EQ(bundle_group(sd)->mids, (std::vector<std::string>{"0", "1", "7", "3", "4", "5", "6"}));
}

TEST(SdpChromium, DataChannel) {
  auto sd = load("g_audio_and_datachannel");
  ASSERT_EQ(sd.media.size(), 2u);
  const auto& app = sd.media[1];
  EXPECT_EQ(app.kind, MediaKind::Application);
  EXPECT_EQ(app.protocol, "UDP/DTLS/SCTP");
  EXPECT_EQ(app.formats, (std::vector<std::string>{"webrtc-datachannel"}));
  EXPECT_TRUE(app.payload_types.empty());
  EXPECT_TRUE(app.codecs.empty());
  EXPECT_FALSE(app.is_rtp());
  EXPECT_EQ(app.sctp_port, 5000);
  EXPECT_EQ(app.max_message_size, 262144u);
}

// ------------------------------------------------------------------------------ answers

TEST(SdpAnswer, SendAndReceive) {
  auto offer = load("b_send_and_recv");
  auto o = options();
  o.send["2"] = track(1111, "v1");
  o.send["4"] = track(2222, "a1");  // 3 and 5 have no track: inactive
  auto a = answer_of(offer, o);

  EXPECT_TRUE(a.ice_lite);
  EXPECT_EQ(a.origin.session_id, 4242u);
  EXPECT_EQ(a.origin.session_version, 2u);
  EXPECT_TRUE(a.extmap_allow_mixed);
  ASSERT_NE(bundle_group(a), nullptr);
  EXPECT_EQ(bundle_group(a)->mids, (std::vector<std::string>{"0", "1", "2", "3", "4", "5"}));
  ASSERT_TRUE(a.msid_semantic);
  EXPECT_EQ(a.msid_semantic->ids, (std::vector<std::string>{"stream-v1", "stream-a1"}));
  ASSERT_EQ(a.media.size(), offer.media.size());
  for (size_t i = 0; i < a.media.size(); ++i) {
    SCOPED_TRACE(i);
    const auto& m = a.media[i];
    EXPECT_EQ(m.mid, offer.media[i].mid);
    EXPECT_EQ(m.kind, offer.media[i].kind);
    EXPECT_EQ(m.port, 3478);
    EXPECT_EQ(m.connection, (Connection{"IP4", "198.18.0.1"}));
    EXPECT_EQ(m.ice, o.ice);
    EXPECT_EQ(m.fingerprint, o.fingerprint);
    EXPECT_EQ(m.setup, Setup::Passive);
    EXPECT_TRUE(m.rtcp_mux);
    EXPECT_TRUE(m.rtcp_rsize);
    EXPECT_EQ(m.candidates.empty(), i != 0);  // candidates only in the BUNDLE-tag section
    EXPECT_EQ(m.end_of_candidates, i == 0);
    for (const auto& e : m.extmaps) {
      EXPECT_TRUE(e.uri == ext::kMid || e.uri == ext::kAbsSendTime || (m.kind == MediaKind::Audio && e.uri == ext::kAudioLevel))
          << e.uri;
      EXPECT_EQ(extmap_id(offer.media[i], e.uri), e.id);
    }
    EXPECT_EQ(extmap_id(m, ext::kMid), extmap_id(offer.media[i], ext::kMid));
    EXPECT_FALSE(extmap_id(m, ext::kTransportCc));
  }
  const auto& c = a.media[0].candidates;
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].address, "198.18.0.1");
  EXPECT_EQ(c[0].port, 3478);
  EXPECT_EQ(c[0].transport, "udp");
  EXPECT_EQ(c[0].type, "host");
  EXPECT_EQ(c[0].priority, (126u << 24) | (65535u << 8) | 255u);

  // Directions mirrored.
  EXPECT_EQ(a.media[0].direction, Direction::RecvOnly);
  EXPECT_EQ(a.media[1].direction, Direction::RecvOnly);
  EXPECT_EQ(a.media[2].direction, Direction::SendOnly);
  EXPECT_EQ(a.media[3].direction, Direction::Inactive);
  EXPECT_EQ(a.media[4].direction, Direction::SendOnly);
  EXPECT_EQ(a.media[5].direction, Direction::Inactive);

  // Audio: opus only, its fmtp kept, transport-cc dropped.
  EXPECT_EQ(names(a.media[0]), (std::vector<std::string>{"opus"}));
  EXPECT_EQ(a.media[0].codecs[0].payload_type, 111);
  EXPECT_EQ(a.media[0].codecs[0].fmtp, "minptime=10;useinbandfec=1");
  EXPECT_TRUE(a.media[0].codecs[0].rtcp_fb.empty());
  EXPECT_EQ(a.media[0].formats, (std::vector<std::string>{"111"}));
  // Video: VP8 then H264 42e01f packetization-mode=1, with nack, pli, fir, remb only.
  for (size_t i : {1, 2, 3}) {
    SCOPED_TRACE(i);
    const auto& v = a.media[i];
    EXPECT_EQ(names(v), (std::vector<std::string>{"VP8", "H264"}));
    EXPECT_EQ(payload_type(v, "VP8"), payload_type(offer.media[i], "VP8"));
    const Codec* h264 = v.find_codec(*payload_type(v, "H264"));
    ASSERT_NE(h264, nullptr);
    EXPECT_EQ(h264->parameter("profile-level-id"), "42e01f");
    EXPECT_EQ(h264->parameter("packetization-mode"), "1");
    EXPECT_EQ(h264->fmtp, offer.media[i].find_codec(h264->payload_type)->fmtp);
    EXPECT_EQ(v.codecs[0].rtcp_fb, (std::vector<std::string>{"goog-remb", "ccm fir", "nack", "nack pli"}));
    EXPECT_FALSE(rtx_payload_type(v, v.codecs[0].payload_type));
  }
  // The SFU's tracks: a=msid and a=ssrc with the publisher's SSRC; no RTX without opts.rtx.
  const auto& sent = a.media[2];
  ASSERT_EQ(sent.msids.size(), 1u);
  EXPECT_EQ(sent.msids[0], (Msid{"stream-v1", "track-v1"}));
  ASSERT_EQ(sent.ssrcs.size(), 1u);
  EXPECT_EQ(sent.ssrcs[0].ssrc, 1111u);
  EXPECT_EQ(sent.ssrcs[0].cname, "publisher-cname");
  EXPECT_EQ(sent.ssrcs[0].msid, sent.msids[0]);
  EXPECT_TRUE(sent.ssrc_groups.empty());
  EXPECT_TRUE(a.media[3].ssrcs.empty());
  EXPECT_TRUE(a.media[0].ssrcs.empty());  // nothing announced where the browser sends

  // The text itself, as Chromium reads it.
  std::string text = make_answer(offer, o);
  EXPECT_EQ(text.rfind("v=0\r\no=- 4242 2 IN IP4 198.18.0.1\r\ns=-\r\nt=0 0\r\na=ice-lite\r\n", 0), 0u) << text;
  EXPECT_NE(text.find("\r\na=candidate:1 1 udp 2130706431 198.18.0.1 3478 typ host\r\na=end-of-candidates\r\n"),
            std::string::npos);
  EXPECT_NE(text.find("\r\na=setup:passive\r\n"), std::string::npos);
  EXPECT_NE(text.find("\r\na=ssrc:1111 cname:publisher-cname\r\na=ssrc:1111 msid:stream-v1 track-v1\r\n"),
            std::string::npos);
}

TEST(SdpAnswer, OneSectionPerSsrc) {
  // The same forwarded track asked for in two sections: announced once (RFC 8843 9.2).
  auto offer = load("b_send_and_recv");
  auto o = options();
  o.send["2"] = track(1111, "v1");
  o.send["3"] = track(1111, "v1");
  o.send["4"] = track(3333, "a1");
  o.send["5"] = SendTrack{4444, 3333, "c", "s", "t"};  // its RTX SSRC collides (announced only with opts.rtx)
  auto a = answer_of(offer, o);
  EXPECT_EQ(a.media[2].direction, Direction::SendOnly);
  EXPECT_EQ(a.media[3].direction, Direction::Inactive);
  EXPECT_TRUE(a.media[3].ssrcs.empty());
  EXPECT_EQ(a.media[4].direction, Direction::SendOnly);
  EXPECT_EQ(a.media[5].direction, Direction::Inactive);
}

TEST(SdpAnswer, OptionalFeatures) {
  auto offer = load("b_send_and_recv");
  auto o = options();
  o.transport_cc = o.rtx = o.red = o.ulpfec = true;
  o.send["2"] = track(1111, "v1");
  auto a = answer_of(offer, o);
  const auto& v = a.media[1];
  EXPECT_EQ(names(v), (std::vector<std::string>{"VP8", "H264", "red", "ulpfec", "rtx", "rtx", "rtx"}));
  EXPECT_EQ(rtx_payload_type(v, 96), 97);
  EXPECT_EQ(rtx_payload_type(v, *payload_type(v, "red")), rtx_payload_type(offer.media[1], *payload_type(v, "red")));
  EXPECT_EQ(extmap_id(v, ext::kTransportCc), 3);
  EXPECT_EQ(v.codecs[0].rtcp_fb, (std::vector<std::string>{"goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"}));
  EXPECT_EQ(names(a.media[0]), (std::vector<std::string>{"opus", "red"}));
  EXPECT_EQ(a.media[0].codecs[0].rtcp_fb, (std::vector<std::string>{"transport-cc"}));
  // The forwarded track's RTX SSRC, grouped (RFC 4588 8.1).
  const auto& sent = a.media[2];
  ASSERT_EQ(sent.ssrc_groups.size(), 1u);
  EXPECT_EQ(sent.ssrc_groups[0], (SsrcGroup{"FID", {1111, 1112}}));
  ASSERT_EQ(sent.ssrcs.size(), 2u);
  EXPECT_EQ(sent.ssrcs[1].ssrc, 1112u);

  o.extmap_allow_mixed = false;
  EXPECT_FALSE(build_answer(offer, o).extmap_allow_mixed);
}

TEST(SdpAnswer, CodecPreferenceAndH264Profiles) {
  auto offer = load("a_sendonly_audio_video");
  auto o = options();
  o.video_codecs = {"H264", "VP8"};
  auto a = answer_of(offer, o);
  EXPECT_EQ(names(a.media[1]), (std::vector<std::string>{"H264", "VP8"}));
  EXPECT_EQ(a.media[1].codecs[0].payload_type, 108);  // 42e01f, not the baseline 42001f listed first

  // Only a non-constrained-baseline H264 and no VP8: nothing to take, so the section is rejected.
  std::string text = fixture("a_sendonly_audio_video");
  for (const char* cut : {"profile-level-id=42e01f", "profile-level-id=42001f"})
    while (text.find(cut) != std::string::npos) text = replace(text, cut, "profile-level-id=640c1f");
  o.video_codecs = {"H264"};
  a = answer_of(parsed(text), o);
  EXPECT_EQ(a.media[1].port, 0);
  EXPECT_EQ(bundle_group(a)->mids, (std::vector<std::string>{"0"}));

  // Another constrained baseline (42c01f: constraint_set0 and set1) is taken when 42e01f is absent.
  text = replace(fixture("a_sendonly_audio_video"), "profile-level-id=42e01f", "profile-level-id=42c01f");
  while (text.find("profile-level-id=42e01f") != std::string::npos)
    text = replace(text, "profile-level-id=42e01f", "profile-level-id=42c01f");
  a = answer_of(parsed(text), o);
  ASSERT_EQ(a.media[1].codecs.size(), 1u);
  EXPECT_EQ(a.media[1].codecs[0].parameter("profile-level-id"), "42c01f");
}

TEST(SdpAnswer, RejectedSections) {
  // Stopped in the offer (port 0), rejected by options, and a data channel.
  auto offer = load("c_reoffer_stopped_and_added");
  auto o = options();
  o.reject = {"5"};
  o.send["6"] = track(7777, "x");
  auto a = answer_of(offer, o);
  EXPECT_EQ(bundle_group(a)->mids, (std::vector<std::string>{"0", "1", "3", "4", "6"}));
  for (const char* mid : {"2", "5"}) {
    SCOPED_TRACE(mid);
    const auto* m = find_section(a, mid);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->port, 0);
    EXPECT_EQ(m->direction, Direction::Inactive);
    EXPECT_FALSE(m->ice);
    EXPECT_TRUE(m->codecs.empty() || m->codecs.size() == 1);
    EXPECT_EQ(m->formats.size(), 1u);
  }
  EXPECT_EQ(find_section(a, "6")->direction, Direction::SendOnly);

  auto dc = load("g_audio_and_datachannel");
  a = answer_of(dc, options());
  EXPECT_EQ(a.media[1].port, 0);
  EXPECT_EQ(a.media[1].protocol, "UDP/DTLS/SCTP");
  EXPECT_EQ(a.media[1].formats, (std::vector<std::string>{"webrtc-datachannel"}));
  EXPECT_EQ(bundle_group(a)->mids, (std::vector<std::string>{"0"}));
}

TEST(SdpAnswer, DataChannelFirstIsUnanswerable) {
  auto offer = load("h_datachannel_first");
  ASSERT_EQ(offer.media[0].kind, MediaKind::Application);
  auto err = check_offer(offer);
  EXPECT_EQ(err.code, Errc::Unsupported);
  EXPECT_NE(err.message.find("is not RTP"), std::string::npos) << err.message;
  // Built anyway: everything rejected, no group (RFC 8843 7.3.3).
  auto a = answer_of(offer, options());
  EXPECT_TRUE(a.groups.empty());
  for (const auto& m : a.media) EXPECT_EQ(m.port, 0);
}

TEST(SdpAnswer, RecycledMlineAndBundleTag) {
  auto offer = load("f_recycled_mline");
  auto o = options();
  o.send["7"] = track(5555, "a7");
  auto a = answer_of(offer, o);
  EXPECT_EQ(a.media[2].mid, "7");
  EXPECT_EQ(a.media[2].kind, MediaKind::Audio);
  EXPECT_EQ(a.media[2].direction, Direction::SendOnly);
  EXPECT_EQ(names(a.media[2]), (std::vector<std::string>{"opus"}));

  // The offerer's BUNDLE tag in opts.reject: accepted but inactive, since rejecting it would reject
  // the group (Chromium: "Failed to setup RTCP mux" for the next mid).
  o.reject = {"0", "1"};
  a = answer_of(offer, o);
  EXPECT_EQ(bundle_group(a)->mids.front(), "0");
  EXPECT_NE(a.media[0].port, 0);
  EXPECT_EQ(a.media[0].direction, Direction::Inactive);
  EXPECT_TRUE(a.media[0].ssrcs.empty());
  EXPECT_FALSE(a.media[0].candidates.empty());
  EXPECT_EQ(a.media[1].port, 0);
  // A tag section without a codec we take makes the offer unanswerable.
  o.reject.clear();
  o.audio_codecs = {"G722"};
  o.audio_codecs.clear();
  EXPECT_EQ(check_offer(offer, o).code, Errc::Unsupported);
  EXPECT_NE(check_offer(offer, o).message.find("no codec"), std::string::npos);
}

TEST(SdpAnswer, MoreCandidatesAndIpv6) {
  auto offer = load("e_recvonly_only");
  auto o = options();
  o.addresses = {*turn::Endpoint::parse("[2001:db8::7]:40000"), *turn::Endpoint::parse("203.0.113.9:40000")};
  auto a = answer_of(offer, o);
  EXPECT_EQ(a.origin.address_type, "IP6");
  EXPECT_EQ(a.media[0].connection, (Connection{"IP6", "2001:db8::7"}));
  ASSERT_EQ(a.media[0].candidates.size(), 2u);
  EXPECT_EQ(a.media[0].candidates[0].address, "2001:db8::7");
  EXPECT_EQ(a.media[0].candidates[1].address, "203.0.113.9");
  EXPECT_GT(a.media[0].candidates[0].priority, a.media[0].candidates[1].priority);
  EXPECT_NE(a.media[0].candidates[0].foundation, a.media[0].candidates[1].foundation);
  for (const auto& m : a.media) EXPECT_EQ(m.direction, Direction::Inactive);  // nothing to send yet
}

TEST(SdpAnswer, NegotiatedLookupsOnTheAnswer) {
  auto offer = load("b_send_and_recv");
  auto o = options();
  o.video_codecs = {"H264"};
  auto a = build_answer(offer, o);
  // On the offer the first H264 is 42001f (baseline, not what we take); on the answer it is the chosen one.
  EXPECT_EQ(payload_type(*find_section(offer, "1"), "H264"), 102);
  EXPECT_EQ(payload_type(*find_section(a, "1"), "H264"), 108);
  EXPECT_EQ(extmap_id(*find_section(a, "1"), ext::kMid), 4);
  EXPECT_FALSE(extmap_id(*find_section(a, "1"), "urn:3gpp:video-orientation"));
}

TEST(SdpAnswer, CheckOffer) {
  EXPECT_FALSE(check_offer(parsed(kMinimal)));
  struct Case {
    std::string from, to, why;
  } cases[] = {
      {"a=group:BUNDLE 0\r\n", "", "no a=group:BUNDLE"},
      {"a=setup:actpass", "a=setup:passive", "DTLS server"},
      {"a=setup:actpass\r\n", "", "no a=setup"},
      {"a=rtcp-mux\r\n", "", "rtcp-mux"},
      {"m=audio 9 ", "m=audio 0 ", "port 0"},
      {"a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n", "", "ice-ufrag"},
      {"a=fingerprint:sha-256 ", "a=x-fingerprint:sha-256 ", "fingerprint"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.why);
    auto err = check_offer(parsed(replace(kMinimal, c.from, c.to)));
    EXPECT_EQ(err.code, Errc::Unsupported);
    EXPECT_NE(err.message.find(c.why), std::string::npos) << err.message;
  }
  // a=setup:active is fine (the browser is then the DTLS client, as with actpass).
  EXPECT_FALSE(check_offer(parsed(replace(kMinimal, "a=setup:actpass", "a=setup:active"))));
  // Session-level transport attributes are used when the sections have none.
  std::string session = replace(kMinimal, "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n", "");
  session = replace(session, "t=0 0\r\n", "t=0 0\r\na=ice-ufrag:sess\r\na=ice-pwd:sessionpasswordsession1\r\n");
  auto sd = parsed(session);
  EXPECT_FALSE(check_offer(sd));
  EXPECT_EQ(ice_credentials(sd), (IceCredentials{"sess", "sessionpasswordsession1"}));
}

// The hook for tests/fixtures/chromium_sdp/verify_answer.py: answers the offer in
// $TURNPIKE_SDP_OFFER into $TURNPIKE_SDP_ANSWER. Skipped unless those are set.
TEST(SdpChromium, AnswerFromEnvironment) {
  const char* in = std::getenv("TURNPIKE_SDP_OFFER");
  const char* out = std::getenv("TURNPIKE_SDP_ANSWER");
  if (!in || !out) GTEST_SKIP() << "TURNPIKE_SDP_OFFER / TURNPIKE_SDP_ANSWER not set (verify_answer.py sets them)";
  auto env = [](const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return std::string(v ? v : fallback);
  };
  Error err;
  auto offer = parse(read_file(in), err);
  ASSERT_TRUE(offer) << err.to_string();
  ASSERT_FALSE(check_offer(*offer)) << check_offer(*offer).to_string();
  AnswerOptions o = options();
  o.ice = {env("TURNPIKE_SDP_UFRAG", "TpSf"), env("TURNPIKE_SDP_PWD", "turnpikeSfuIcePassword0")};
  o.addresses.clear();
  std::stringstream addrs(env("TURNPIKE_SDP_ADDRESSES", "198.18.0.1:3478"));
  for (std::string a; std::getline(addrs, a, ',');) {
    auto ep = turn::Endpoint::parse(a);
    ASSERT_TRUE(ep) << a;
    o.addresses.push_back(*ep);
  }
  o.session_version = std::stoull(env("TURNPIKE_SDP_VERSION", "1"));
  std::stringstream rejects(env("TURNPIKE_SDP_REJECT", ""));
  for (std::string mid; std::getline(rejects, mid, ',');) o.reject.push_back(mid);
  std::string features = env("TURNPIKE_SDP_FEATURES", "");
  o.transport_cc = features.find("transport-cc") != std::string::npos;
  o.rtx = features.find("rtx") != std::string::npos;
  o.red = o.ulpfec = features.find("fec") != std::string::npos;
  // A forwarded track in every section the browser receives on, with made-up SSRCs that stay with
  // their mid across re-offers (TURNPIKE_SDP_SHIFT_SSRCS=1 numbers them by position instead, so that
  // a re-offer moves them between mids: Chromium refuses such an answer).
  bool shift = env("TURNPIKE_SDP_SHIFT_SSRCS", "0") == "1";
  uint32_t n = 0;
  for (const auto& m : offer->media) {
    if (m.rejected() || (m.direction != Direction::RecvOnly && m.direction != Direction::SendRecv)) continue;
    uint32_t key = shift ? ++n : static_cast<uint32_t>(std::hash<std::string>{}(m.mid) & 0xFFFFF);
    uint32_t ssrc = 0x10000000 + 16 * key;
    o.send[m.mid] = SendTrack{ssrc, ssrc + 1, "sfu-test", "remote-" + m.mid, "track-" + m.mid};
  }
  std::ofstream(out, std::ios::binary) << make_answer(*offer, o);
}

// ------------------------------------------------------------------------------ malformed input

TEST(SdpParse, MinimalAndLineEndings) {
  auto sd = parsed(kMinimal);
  ASSERT_EQ(sd.media.size(), 1u);
  EXPECT_EQ(sd.media[0].codecs[0].name, "opus");
  // LF-only line ends, and no final line end, are accepted.
  std::string lf;
  for (char c : kMinimal)
    if (c != '\r') lf += c;
  EXPECT_EQ(parsed(lf), sd);
  lf.pop_back();
  EXPECT_EQ(parsed(lf), sd);
}

TEST(SdpParse, Errors) {
  struct Case {
    std::string text;
    Errc code;
    size_t line;
    std::string why;
  };
  const std::string m = kMinimal;
  std::vector<Case> cases = {
      {"", Errc::BadOrder, 0, "empty"},
      {"v=1\r\n", Errc::BadValue, 1, "version"},
      {"o=- 1 2 IN IP4 1.2.3.4\r\n", Errc::BadOrder, 1, "v=0"},
      {"v=0\r\ns=-\r\n", Errc::BadOrder, 2, "o="},
      {"v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\n", Errc::BadOrder, 0, "missing"},
      {replace(m, "t=0 0\r\n", ""), Errc::BadOrder, 5, "t="},
      {replace(m, "o=- 1 2", "o=- x 2"), Errc::BadValue, 2, "session id"},
      {replace(m, "o=- 1 2", "o=- 99999999999999999999 2"), Errc::BadValue, 2, "64-bit"},
      {replace(m, "s=-\r\n", "s=-\r\nv=0\r\n"), Errc::BadOrder, 4, "only once"},
      {replace(m, "t=0 0\r\n", "t=0 0\r\nhello\r\n"), Errc::BadLine, 5, "<type>=<value>"},
      {replace(m, "t=0 0\r\n", "t=0 0\r\ny=1\r\n"), Errc::BadLine, 5, "unknown line type y="},
      {replace(m, "t=0 0\r\n", "t=0 0\r\n\r\n"), Errc::BadLine, 5, "empty line"},
      {replace(m, "s=-", std::string("s=a\0b", 5)), Errc::BadLine, 3, "NUL"},
      {replace(m, "s=-", "s=a\rb"), Errc::BadLine, 3, "CR"},
      {replace(m, "a=sendonly\r\n", "a=sendonly\r\nt=0 0\r\n"), Errc::BadOrder, 14, "not allowed in an m= section"},
      {replace(m, "m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=audio 9 UDP/TLS/RTP/SAVPF"), Errc::BadValue, 6, "m="},
      {replace(m, "m=audio 9 ", "m=audio 65536 "), Errc::BadValue, 6, "port"},
      {replace(m, "SAVPF 111", "SAVPF 128"), Errc::BadValue, 6, "0-127"},
      {replace(m, "SAVPF 111", "SAVPF 111 111"), Errc::Duplicate, 6, "twice"},
      {replace(m, "a=rtpmap:111 opus/48000/2", "a=rtpmap:300 opus/48000/2"), Errc::BadValue, 15, "0-127"},
      {replace(m, "opus/48000/2", "opus/0/2"), Errc::BadValue, 15, "clock rate"},
      {replace(m, "opus/48000/2", "opus/48000/2/1"), Errc::BadValue, 15, "expected"},
      {replace(m, "opus/48000/2", "opus"), Errc::BadValue, 15, "expected"},
      {m + "a=rtpmap:111 opus/48000/2\r\n", Errc::Duplicate, 16, "second a=rtpmap"},
      {m + "a=fmtp:111 a=1\r\na=fmtp:111 b=2\r\n", Errc::Duplicate, 17, "second a=fmtp"},
      {m + "a=rtcp-fb:x nack\r\n", Errc::BadValue, 16, "payload type"},
      {m + "a=rtcp-fb:111\r\n", Errc::BadValue, 16, "expected"},
      {replace(m, "a=mid:0", "a=mid:0\r\na=mid:1"), Errc::Duplicate, 13, "second a=mid"},
      {replace(m, "a=mid:0", "a=mid:a b"), Errc::BadValue, 12, "bad mid"},
      {m + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n", Errc::Duplicate, 17, "already used"},
      {replace(m, "a=sendonly", "a=sendonly\r\na=recvonly"), Errc::Duplicate, 14, "direction"},
      {replace(m, "a=ice-ufrag:abcd", "a=ice-ufrag:abc"), Errc::BadValue, 8, "4-256"},
      {replace(m, "a=ice-ufrag:abcd", "a=ice-ufrag:ab#d"), Errc::BadValue, 8, "ice-chars"},
      {replace(m, "a=ice-pwd:abcdefghijklmnopqrstuvwx", "a=ice-pwd:short"), Errc::BadValue, 9, "22-256"},
      {replace(m, "a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n", ""), Errc::BadValue, 6, "no a=ice-pwd"},
      {replace(m, "a=ice-ufrag:abcd", "a=ice-ufrag:abcd\r\na=ice-ufrag:efgh"), Errc::Duplicate, 9, "second a=ice-ufrag"},
      {replace(m, ":1E:1F\r\n", ":1E\r\n"), Errc::BadValue, 10, "fingerprint"},
      {replace(m, ":1E:1F\r\n", ":1E:1G\r\n"), Errc::BadValue, 10, "fingerprint"},
      {replace(m, ":1E:1F\r\n", ":1E1F\r\n"), Errc::BadValue, 10, "fingerprint"},
      {replace(m, "a=fingerprint:sha-256 00", "a=fingerprint:sha-256  "), Errc::BadValue, 10, "fingerprint"},
      {replace(m, "a=setup:actpass", "a=setup:server"), Errc::BadValue, 11, "a=setup"},
      {replace(m, "a=setup:actpass", "a=setup:actpass\r\na=setup:active"), Errc::Duplicate, 12, "a=setup"},
      {replace(m, "c=IN IP4 0.0.0.0", "c=IN IP4"), Errc::BadValue, 7, "c="},
      {replace(m, "c=IN IP4 0.0.0.0", "c=ATM NSAP 47.0"), Errc::BadValue, 7, "c="},
      {replace(m, "c=IN IP4 0.0.0.0", "c=IN IP4 224.2.1.1/127"), Errc::BadValue, 7, "c="},
      {m + "b=AS\r\n", Errc::BadValue, 16, "b="},
      {m + "a=extmap:0 urn:x\r\n", Errc::BadValue, 16, "1-255"},
      {m + "a=extmap:256 urn:x\r\n", Errc::BadValue, 16, "1-255"},
      {m + "a=extmap:1/sideways urn:x\r\n", Errc::BadValue, 16, "direction"},
      {m + "a=extmap:1\r\n", Errc::BadValue, 16, "URI"},
      {m + "a=extmap:1 urn:x\r\na=extmap:1 urn:y\r\n", Errc::Duplicate, 17, "used twice"},
      {m + "a=ssrc:4294967296 cname:x\r\n", Errc::BadValue, 16, "SSRC"},
      {m + "a=ssrc:1\r\n", Errc::BadValue, 16, "missing attribute"},
      {m + "a=ssrc:1 cname:\r\n", Errc::BadValue, 16, "cname"},
      {m + "a=ssrc:1 cname:a\r\na=ssrc:1 cname:b\r\n", Errc::Duplicate, 17, "second cname"},
      {m + "a=ssrc:1 msid:a b c\r\n", Errc::BadValue, 16, "msid"},
      {m + "a=ssrc-group:FID\r\n", Errc::BadValue, 16, "expected"},
      {m + "a=ssrc-group:FID 1 x\r\n", Errc::BadValue, 16, "SSRC"},
      {m + "a=msid:" + std::string(65, 's') + "\r\n", Errc::BadValue, 16, "stream id"},
      {m + "a=candidate:1 1 udp 1 1.2.3.4 5 host\r\n", Errc::BadValue, 16, "expected"},
      {m + "a=candidate:1 1 udp 1 1.2.3.4 5 typ host raddr\r\n", Errc::BadValue, 16, "expected"},
      {m + "a=candidate:1 0 udp 1 1.2.3.4 5 typ host\r\n", Errc::BadValue, 16, "component"},
      {m + "a=candidate:1 1 udp 4294967296 1.2.3.4 5 typ host\r\n", Errc::BadValue, 16, "priority"},
      {m + "a=candidate:1 1 udp 1 1.2.3.4 70000 typ host\r\n", Errc::BadValue, 16, "port"},
      {m + "a=candidate:1 1 udp 1 1.2.3.4/8 5 typ host\r\n", Errc::BadValue, 16, "address"},
      {m + "a=candidate:1 1 udp 1 1.2.3.4 5 typ srflx rport x raddr 1.1.1.1\r\n", Errc::BadValue, 16, "rport"},
      {m + "a=sctp-port:x\r\n", Errc::BadValue, 16, "port"},
      {m + "a=max-message-size:-1\r\n", Errc::BadValue, 16, "size"},
      {replace(m, "a=group:BUNDLE 0", "a=group:BUNDLE 0 1"), Errc::BadValue, 5, "no m= section has"},
      {replace(m, "a=group:BUNDLE 0", "a=group:BUNDLE 0 0"), Errc::Duplicate, 5, "listed twice"},
      {replace(m, "a=group:BUNDLE 0", "a=group:"), Errc::BadValue, 5, "semantics"},
      {replace(m, "a=group:BUNDLE 0", "a=msid-semantic:"), Errc::BadValue, 5, "semantic"},
      {replace(m, "a=sendonly", "a=mid"), Errc::BadValue, 13, "missing value"},
      {replace(m, "a=group:BUNDLE 0", "a=ice-options:"), Errc::BadValue, 5, "ice-options"},
      {replace(m, "a=group:BUNDLE 0", "a=ice-pwd:abcdefghijklmnopqrstuvwx"), Errc::BadValue, 0, "a=ice-ufrag"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.why + " | " + c.text.substr(0, 300));
    auto err = parse_error(c.text);
    EXPECT_EQ(err.code, c.code) << err.to_string();
    EXPECT_EQ(err.line, c.line) << err.to_string();
    EXPECT_NE(err.message.find(c.why), std::string::npos) << err.message;
  }
}

TEST(SdpParse, Bounds) {
  // Whole size.
  std::string big = kMinimal + "a=x:" + std::string(kMaxSize, 'x') + "\r\n";
  auto err = parse_error(big);
  EXPECT_EQ(err.code, Errc::TooLarge);
  EXPECT_EQ(err.line, 0u);
  // One line.
  err = parse_error(kMinimal + "a=x:" + std::string(kMaxLineLength, 'x') + "\r\n");
  EXPECT_EQ(err.code, Errc::TooLarge);
  EXPECT_EQ(err.line, 16u);
  // m= sections: 100 are fine, the 101st is refused on its own line.
  std::string many = kMinimal;
  for (size_t i = 1; i < kMaxSections; ++i) many += "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:m" + std::to_string(i) + "\r\n";
  EXPECT_EQ(parsed(many).media.size(), kMaxSections);
  err = parse_error(many + "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n");
  EXPECT_EQ(err.code, Errc::TooMany);
  EXPECT_EQ(err.line, 16u + 2 * (kMaxSections - 1));
  // Formats on one m= line.
  std::string fmts;
  for (size_t i = 0; i <= kMaxCodecs; ++i) fmts += " x" + std::to_string(i);
  err = parse_error(kMinimal + "m=application 9 UDP/DTLS/SCTP" + fmts + "\r\n");
  EXPECT_EQ(err.code, Errc::TooMany);
  // Candidates, extmaps, SSRCs, rtcp-fb.
  std::string cands, exts, ssrcs, fbs;
  for (size_t i = 0; i <= kMaxCandidates; ++i) cands += "a=candidate:" + std::to_string(i) + " 1 udp 1 1.2.3.4 5 typ host\r\n";
  for (size_t i = 1; i <= kMaxExtmaps + 1; ++i) exts += "a=extmap:" + std::to_string(i) + " urn:x:" + std::to_string(i) + "\r\n";
  for (size_t i = 1; i <= kMaxSsrcs + 1; ++i) ssrcs += "a=ssrc:" + std::to_string(i) + " cname:c\r\n";
  for (size_t i = 0; i <= kMaxRtcpFb; ++i) fbs += "a=rtcp-fb:111 x" + std::to_string(i) + "\r\n";
  for (const auto& extra : {cands, exts, ssrcs, fbs}) {
    err = parse_error(kMinimal + extra);
    EXPECT_EQ(err.code, Errc::TooMany) << err.to_string();
  }
}

TEST(SdpParse, Leniency) {
  // Unknown attributes, i=/b=/k= lines, rtpmap for a payload type not on the m= line: ignored.
  auto sd = parsed(kMinimal + "a=x-unknown:whatever\r\ni=info\r\nb=AS:300\r\nk=prompt\r\na=rtpmap:96 VP8/90000\r\n"
                              "a=rtcp:9 IN IP4 0.0.0.0\r\na=ssrc:5 label:foo\r\n");
  EXPECT_EQ(sd.media[0].codecs.size(), 1u);
  EXPECT_TRUE(sd.media[0].ssrcs.empty());
  // fmtp and rtcp-fb before rtpmap; rtcp-fb wildcard; static payload types without rtpmap (RFC 3551).
  sd = parsed(replace(kMinimal, "SAVPF 111", "SAVPF 111 0 8 13 99") +
              "a=rtcp-fb:* nack\r\na=fmtp:96 x=1\r\n");
  const auto& m = sd.media[0];
  EXPECT_EQ(names(m), (std::vector<std::string>{"opus", "PCMU", "PCMA", "CN"}));  // 99: no rtpmap, dropped
  EXPECT_EQ(m.payload_types, (std::vector<uint8_t>{111, 0, 8, 13, 99}));
  EXPECT_EQ(m.rtcp_fb_all, (std::vector<std::string>{"nack"}));
  sd = parsed(replace(kMinimal, "a=rtpmap:111 opus/48000/2\r\n", "a=fmtp:111 minptime=10\r\na=rtcp-fb:111 nack  pli\r\na=rtpmap:111 opus/48000/2\r\n"));
  EXPECT_EQ(sd.media[0].codecs[0].fmtp, "minptime=10");
  EXPECT_EQ(sd.media[0].codecs[0].rtcp_fb, (std::vector<std::string>{"nack pli"}));
  // Several fingerprints: the strongest hash function is kept (RFC 8122 5).
  sd = parsed(replace(kMinimal, "a=setup:actpass", "a=setup:actpass\r\na=fingerprint:sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33"));
  EXPECT_EQ(sd.media[0].fingerprint->algorithm, "sha-256");
  // Upper-case hash names are folded; lower-case hex is accepted.
  auto fp = Fingerprint::parse("SHA-1 00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33");
  ASSERT_TRUE(fp);
  EXPECT_EQ(fp->algorithm, "sha-1");
  EXPECT_EQ(fp->to_string(), "sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33");
  EXPECT_FALSE(Fingerprint::parse("sha-256 00:11"));  // wrong size for the algorithm
  // mDNS candidate addresses, raddr/rport, and a bundle-only section with port 0 (not rejected).
  sd = parsed(kMinimal + "a=candidate:1 1 udp 2122262783 4e1c2ab4-0a3b-4f2e-9f0e-1234567890ab.local 54321 typ host generation 0\r\n"
                         "a=candidate:2 1 udp 1686052607 203.0.113.4 3478 typ srflx raddr 0.0.0.0 rport 0\r\n"
                         "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=bundle-only\r\n");
  EXPECT_EQ(sd.media[0].candidates[0].address, "4e1c2ab4-0a3b-4f2e-9f0e-1234567890ab.local");
  EXPECT_EQ(sd.media[0].candidates[1].related_address, "0.0.0.0");
  EXPECT_EQ(sd.media[0].candidates[1].related_port, 0);
  EXPECT_FALSE(sd.media[1].rejected());
  EXPECT_EQ(parsed(to_string(sd)), sd);
}

TEST(SdpParse, TruncatedFixturesNeverCrash) {
  // Every prefix ending at a line boundary, and every prefix of the first 400 bytes.
  for (const auto& name : {"b_send_and_recv", "g_audio_and_datachannel"}) {
    std::string text = fixture(name);
    for (size_t n = 0; n <= text.size(); ++n) {
      if (n > 400 && text[n - 1] != '\n' && n != text.size()) continue;
      Error err;
      auto sd = parse(std::string_view(text).substr(0, n), err);
      if (sd) {
        EXPECT_FALSE(err);
        EXPECT_EQ(parsed(to_string(*sd)), *sd);
      } else {
        EXPECT_TRUE(err);
        EXPECT_FALSE(err.message.empty());
      }
    }
  }
}
