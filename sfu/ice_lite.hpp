// ICE-lite (RFC 8445 2.5, 8.2) for one participant on the SFU's single media port, sans-I/O: we
// gather one host candidate, send no checks, and answer the browser's connectivity checks (Binding
// requests with short-term credentials, RFC 8489 9.1) through turn/'s STUN codec. We are always the
// controlled agent (RFC 8445 6.1.1: a full agent facing a lite one takes the controlling role);
// the browser nominates with USE-CANDIDATE. Consent freshness (RFC 7675) is judged from the checks
// the browser keeps sending on the selected pair. A nominated address is used only once its return
// routability is proven: a participant knows its own ICE password and could otherwise send checks
// with a spoofed source and point its media (and NACK resends) at a victim. So before selecting an
// address we have not seen answer us, we send it our own Binding request (RFC 8445 7.2.2, keyed with
// the browser's password, which only the browser's ICE agent holds besides us) and select it when a
// valid success response (same transaction, MESSAGE-INTEGRITY with that password) comes back from it.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "turn/address.hpp"

namespace turn::stun {
class Message;
}

namespace sfu {

// a=ice-ufrag / a=ice-pwd (RFC 8839 5.4): ice-char = ALPHA / DIGIT / "+" / "/";
// ufrag 4..256 characters, pwd 22..256.
struct IceCredentials {
  std::string ufrag, pwd;
  // 8-character ufrag (48 random bits) and 24-character pwd (144 bits) from OpenSSL's CSPRNG.
  static IceCredentials generate();
  static bool valid_ufrag(std::string_view u);
  static bool valid_pwd(std::string_view p);
  bool valid() const { return valid_ufrag(ufrag) && valid_pwd(pwd); }
};

// What became of one datagram handed to IceLite::on_stun.
enum class IceStatus : uint8_t {
  Ok,  // a valid check: success response written
  // Dropped, no response (RFC 8489 6.3: not for us, or nothing sensible to answer):
  NotStun,             // unparseable, or a FINGERPRINT that does not match (RFC 8489 14.7)
  NoFingerprint,       // RFC 8445 7.2.2: ICE checks carry FINGERPRINT; without it the message is not ours
  NotBindingRequest,   // responses, indications (RFC 8445 11 keepalives), other methods
  BufferTooSmall,      // out_buffer cannot hold the response
  // Answered with an error response (RFC 8445 7.3, RFC 8489 9.1.3):
  BadRequest,          // 400: no USERNAME or no MESSAGE-INTEGRITY, or a malformed ICE attribute
  Unauthorized,        // 401: USERNAME is not "<local ufrag>:<remote ufrag>" (e.g. old credentials)
  BadIntegrity,        // 401: MESSAGE-INTEGRITY does not verify with the local pwd
  UnknownAttribute,    // 420: an unknown comprehension-required attribute
  RoleConflict,        // 487: the browser claims ICE-CONTROLLED too (RFC 8445 7.3.1.1)
};
const char* to_string(IceStatus s);

struct IceCheckResult {
  IceStatus status = IceStatus::NotStun;
  // The response to send back to `from` (a prefix of out_buffer); empty: send nothing.
  std::span<const uint8_t> response;
  bool use_candidate = false;     // the check carried USE-CANDIDATE (the pair is nominated)
  bool selected_changed = false;  // ... and `from` became the selected address
  uint32_t priority = 0;          // PRIORITY of the browser's candidate (RFC 8445 7.1.1)
  // ... but `from` has not answered us yet: call probe(from, true, ...) and send what it writes.
  bool probe = false;
  bool ok() const { return status == IceStatus::Ok; }
};

// What became of a STUN response handed to IceLite::on_response.
struct IceProbeResult {
  bool proven = false;            // it answers our probe to `from`: `from` reaches the browser
  bool selected_changed = false;  // ... and `from` was nominated, so it is now the selected address
};

class IceLite {
 public:
  static constexpr int64_t kConsentTimeoutMs = 30'000;  // RFC 7675 5.1
  static constexpr size_t kResponseBufferSize = 512;    // enough for any response on_stun writes
  static constexpr size_t kMaxTrackedAddresses = 16;    // per-address check times kept (LRU)
  static constexpr size_t kMaxPendingProbes = 4;        // addresses being proven at once (oldest replaced)
  static constexpr int64_t kProbeRtoMs = 250;           // RFC 8489 6.2.1 RTO, doubled per retransmission
  static constexpr unsigned kMaxProbeSends = 6;         // then the address is given up until nominated again
  static constexpr unsigned kMaxProbesPerSecond = 10;   // per participant: what spoofed nominations can reflect

  // `local` should satisfy IceCredentials::valid() (generate() does).
  explicit IceLite(IceCredentials local);
  IceLite() : IceLite(IceCredentials::generate()) {}

  const IceCredentials& local() const { return local_; }
  const IceCredentials& remote() const { return remote_; }
  // The browser's a=ice-ufrag / a=ice-pwd. False (nothing changes) if either is malformed.
  // Until it is set, checks are accepted with any remote ufrag (the local pwd still authenticates them).
  bool set_remote(std::string_view ufrag, std::string_view pwd);

  // One STUN message that arrived from `from` on the media port (RFC 7983: first byte 0..3).
  // Writes the response, if any, into out_buffer (kResponseBufferSize bytes suffice).
  IceCheckResult on_stun(std::span<const uint8_t> request, const turn::Endpoint& from, int64_t now_ms,
                         std::span<uint8_t> out_buffer);

  // Whether `request` is a fingerprinted Binding request that our short-term credentials
  // authenticate (what on_stun() would accept), without answering or recording anything: a caller
  // may refuse an authentic check (data residency) and must not be fooled by forged ones.
  bool authentic(std::span<const uint8_t> request) const;

  // RFC 8445 7.2.2: our Binding request to `to` (USERNAME "<remote ufrag>:<local ufrag>",
  // MESSAGE-INTEGRITY with the remote pwd, PRIORITY, ICE-CONTROLLED, FINGERPRINT), proving that `to`
  // reaches the browser; `nominate`: select `to` once it answers. Retransmissions keep the
  // transaction id (RFC 8489 6.2.1). Empty (send nothing) before set_remote(), when a send to `to`
  // is not due yet, or over the per-participant probe rate.
  std::span<const uint8_t> probe(const turn::Endpoint& to, bool nominate, int64_t now_ms, std::span<uint8_t> out);
  // An address whose probe is due for retransmission (tick), if any.
  std::optional<turn::Endpoint> due_probe(int64_t now_ms) const;
  // A STUN message from `from` that is not a request: a success response to our probe proves `from`.
  IceProbeResult on_response(std::span<const uint8_t> response, const turn::Endpoint& from, int64_t now_ms);
  // Whether `from` has answered one of our probes.
  bool proven(const turn::Endpoint& from) const;

  // RFC 8445 9: new local credentials; checks using the old ones are refused (401) from now on.
  // Call set_remote() with the browser's new credentials as well. The selected address and the
  // check times are kept: media keeps flowing on the old pair until a new one is nominated.
  void restart(IceCredentials local);

  // The browser's address on the latest nominated pair (RFC 8445 8.2: a lite agent uses the pair
  // the controlling agent nominated; a later nomination replaces it). Media goes there.
  const std::optional<turn::Endpoint>& selected() const { return selected_; }
  // When the latest valid check from `from` arrived.
  std::optional<int64_t> last_check_ms(const turn::Endpoint& from) const;
  // RFC 7675 5.1: true once a pair is selected and no valid check has arrived on it for
  // kConsentTimeoutMs; the engine must then stop sending to it.
  bool consent_expired(int64_t now_ms) const;

 private:
  struct Seen {
    turn::Endpoint from;
    int64_t last_ms = 0;
    bool proven = false;  // answered one of our probes
  };
  struct Probe {
    turn::Endpoint to;
    std::array<uint8_t, 12> txid{};
    int64_t sent_ms = 0;
    unsigned sends = 0;
    bool nominated = false;
  };
  void record(const turn::Endpoint& from, int64_t now_ms);
  IceStatus check_credentials(const turn::stun::Message& m) const;
  // on_stun's two answers: an error response, and the success response to a valid check.
  IceCheckResult reject(const turn::stun::Message& m, std::span<uint8_t> out, IceStatus status, int code,
                        std::string_view reason, bool authenticated, std::span<const uint8_t> unknown = {}) const;
  IceCheckResult accept(const turn::stun::Message& m, std::span<const uint8_t> priority, const turn::Endpoint& from,
                        int64_t now_ms, std::span<uint8_t> out);

  IceCredentials local_;
  IceCredentials remote_;
  bool remote_set_ = false;
  std::string expected_username_;  // "<local ufrag>:<remote ufrag>", or "<local ufrag>:" before set_remote
  std::optional<turn::Endpoint> selected_;
  std::vector<Seen> seen_;
  std::vector<Probe> probes_;
  int64_t probe_window_ms_ = 0;  // the second the probe rate is counted in
  unsigned probes_in_window_ = 0;
};

}  // namespace sfu
