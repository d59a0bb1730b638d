// Writing a SessionDescription as SDP text (RFC 8866 5 line order), CRLF line ends.
#include "sfu/sdp.hpp"

namespace sfu::sdp {

namespace {

// ---- serialization

void line(std::string& out, std::string_view a, std::string_view b = {}, std::string_view c = {}) {
  out.append(a).append(b).append(c).append("\r\n");
}

std::string join(const std::vector<std::string>& v, std::string_view prefix = " ") {
  std::string out;
  for (const auto& s : v) out.append(prefix).append(s);
  return out;
}

std::string msid_text(const Msid& m) { return m.track.empty() ? m.stream : m.stream + " " + m.track; }

void write_transport(std::string& out, const std::optional<IceCredentials>& ice, const std::vector<std::string>& options,
                     const std::optional<Fingerprint>& fp, const std::optional<Setup>& setup) {
  if (ice) {
    line(out, "a=ice-ufrag:", ice->ufrag);
    line(out, "a=ice-pwd:", ice->pwd);
  }
  if (!options.empty()) {
    std::string joined = join(options);
    line(out, "a=ice-options:", std::string_view(joined).substr(1));
  }
  if (fp) line(out, "a=fingerprint:", fp->to_string());
  if (setup) line(out, "a=setup:", to_string(*setup));
}

// RFC 8839 5.1: a=candidate lines.
void write_candidates(std::string& out, const std::vector<Candidate>& candidates) {
  for (const auto& c : candidates) {
    std::string s = c.foundation + " " + std::to_string(c.component) + " " + c.transport + " " +
                    std::to_string(c.priority) + " " + c.address + " " + std::to_string(c.port) + " typ " + c.type;
    if (c.related_address) s += " raddr " + *c.related_address;
    if (c.related_port) s += " rport " + std::to_string(*c.related_port);
    for (const auto& [k, v] : c.extensions) s += " " + k + " " + v;
    line(out, "a=candidate:", s);
  }
}

// RFC 8285 7: a=extmap lines.
void write_extmaps(std::string& out, const std::vector<Extmap>& extmaps) {
  for (const auto& e : extmaps) {
    std::string s = std::to_string(e.id);
    if (e.direction) s += std::string("/") + to_string(*e.direction);
    s += " " + e.uri;
    if (!e.attributes.empty()) s += " " + e.attributes;
    line(out, "a=extmap:", s);
  }
}

// RFC 8866 6.6/6.15, RFC 4585 4.2: a=rtpmap, a=rtcp-fb and a=fmtp per codec, then a=rtcp-fb:*.
void write_codecs(std::string& out, const MediaSection& m) {
  for (const auto& c : m.codecs) {
    std::string pt = std::to_string(c.payload_type);
    std::string map = pt + " " + c.name + "/" + std::to_string(c.clock_rate);
    if (c.channels) map += "/" + std::to_string(c.channels);
    line(out, "a=rtpmap:", map);
    for (const auto& fb : c.rtcp_fb) line(out, "a=rtcp-fb:", pt + " ", fb);
    if (!c.fmtp.empty()) line(out, "a=fmtp:", pt + " ", c.fmtp);
  }
  for (const auto& fb : m.rtcp_fb_all) line(out, "a=rtcp-fb:* ", fb);
}

// RFC 5576 4: a=ssrc-group and a=ssrc lines.
void write_ssrcs(std::string& out, const MediaSection& m) {
  for (const auto& g : m.ssrc_groups) {
    std::string s = g.semantics;
    for (auto id : g.ssrcs) s += " " + std::to_string(id);
    line(out, "a=ssrc-group:", s);
  }
  for (const auto& s : m.ssrcs) {
    std::string id = std::to_string(s.ssrc);
    if (!s.cname.empty()) line(out, "a=ssrc:", id + " cname:", s.cname);
    if (s.msid) line(out, "a=ssrc:", id + " msid:", msid_text(*s.msid));
  }
}

// RFC 8851 4 and RFC 8853 5.1: a=rid lines, then a=simulcast.
std::string simulcast_text(const std::vector<SimulcastStream>& streams) {
  std::string s;
  for (const auto& st : streams) {
    if (!s.empty()) s += ';';
    for (size_t i = 0; i < st.rids.size(); ++i) {
      if (i) s += ',';
      if (i == 0 && st.paused) s += '~';
      s += st.rids[i];
    }
  }
  return s;
}

void write_simulcast(std::string& out, const MediaSection& m) {
  for (const auto& r : m.rids)
    line(out, "a=rid:", r.id + (r.send ? " send" : " recv"), r.params.empty() ? "" : " " + r.params);
  if (!m.simulcast) return;
  std::string v;
  if (!m.simulcast->send.empty()) v = "send " + simulcast_text(m.simulcast->send);
  if (!m.simulcast->recv.empty()) v += (v.empty() ? "recv " : " recv ") + simulcast_text(m.simulcast->recv);
  line(out, "a=simulcast:", v);
}

// RFC 8866 5.14: the m= line, then the section's attributes in Chromium's order.
void write_section(std::string& out, const MediaSection& m) {
  std::string port = std::to_string(m.port);
  if (m.port_count != 1) port += "/" + std::to_string(m.port_count);
  line(out, "m=", m.media + " " + port + " " + m.protocol, join(m.formats));
  if (m.connection) line(out, "c=IN ", m.connection->address_type + " ", m.connection->address);
  write_candidates(out, m.candidates);
  if (m.end_of_candidates) line(out, "a=end-of-candidates");
  write_transport(out, m.ice, m.ice_options, m.fingerprint, m.setup);
  if (!m.mid.empty()) line(out, "a=mid:", m.mid);
  write_extmaps(out, m.extmaps);
  if (m.extmap_allow_mixed) line(out, "a=extmap-allow-mixed");
  line(out, "a=", to_string(m.direction));
  for (const auto& id : m.msids) line(out, "a=msid:", msid_text(id));
  if (m.rtcp_mux) line(out, "a=rtcp-mux");
  if (m.rtcp_mux_only) line(out, "a=rtcp-mux-only");
  if (m.rtcp_rsize) line(out, "a=rtcp-rsize");
  if (m.bundle_only) line(out, "a=bundle-only");
  write_codecs(out, m);
  write_ssrcs(out, m);
  write_simulcast(out, m);
  if (m.sctp_port) line(out, "a=sctp-port:", std::to_string(*m.sctp_port));
  if (m.max_message_size) line(out, "a=max-message-size:", std::to_string(*m.max_message_size));
}

}  // namespace

std::string Fingerprint::to_string() const {
  static const char* digits = "0123456789ABCDEF";
  std::string out = algorithm + " ";
  for (size_t i = 0; i < value.size(); ++i) {
    if (i) out += ':';
    out += digits[value[i] >> 4];
    out += digits[value[i] & 0xF];
  }
  return out;
}

std::string to_string(const SessionDescription& sd) {
  std::string out;
  out.reserve(4096);
  line(out, "v=0");
  line(out, "o=", sd.origin.username + " " + std::to_string(sd.origin.session_id) + " " +
                      std::to_string(sd.origin.session_version) + " IN " + sd.origin.address_type + " ",
       sd.origin.address);
  line(out, "s=", sd.session_name);
  line(out, "t=0 0");
  if (sd.ice_lite) line(out, "a=ice-lite");
  write_transport(out, sd.ice, sd.ice_options, sd.fingerprint, sd.setup);
  for (const auto& g : sd.groups) line(out, "a=group:", g.semantics, join(g.mids));
  if (sd.extmap_allow_mixed) line(out, "a=extmap-allow-mixed");
  if (sd.msid_semantic) line(out, "a=msid-semantic: ", sd.msid_semantic->semantic, join(sd.msid_semantic->ids));
  for (const auto& m : sd.media) write_section(out, m);
  return out;
}

}  // namespace sfu::sdp
