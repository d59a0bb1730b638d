// Typed STUN/TURN attribute values, each decoded from a bounds-checked span into an owned value.
// decode() returns nullopt for a malformed value: the caller answers 400 (RFC 8489 6.3.1).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "turn/address.hpp"
#include "turn/message.hpp"

namespace turn::stun {

// XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS (RFC 8489 14.2, RFC 8656 18.3/18.5).
struct XorAddress {
  Endpoint endpoint;
  static std::optional<XorAddress> decode(std::span<const uint8_t> v, const TransactionId& txid);
  size_t encode(uint8_t out[20], const TransactionId& txid) const;
};

// MAPPED-ADDRESS, ALTERNATE-SERVER, RESPONSE-ORIGIN, OTHER-ADDRESS (RFC 8489 14.1, 14.15).
struct PlainAddress {
  Endpoint endpoint;
  static std::optional<PlainAddress> decode(std::span<const uint8_t> v);
  size_t encode(uint8_t out[20]) const;
};

// ERROR-CODE (RFC 8489 14.8): class*100 + number, 300..699, and a UTF-8 reason phrase.
struct ErrorCode {
  int code = 0;
  std::string reason;
  static std::optional<ErrorCode> decode(std::span<const uint8_t> v);
  size_t encode(uint8_t* out) const;  // out must hold 4 + reason.size()
};

// UNKNOWN-ATTRIBUTES (RFC 8489 14.9).
struct UnknownAttributes {
  std::vector<uint16_t> types;
  static std::optional<UnknownAttributes> decode(std::span<const uint8_t> v);
};

// LIFETIME (RFC 8656 18.2), seconds.
struct Lifetime {
  uint32_t seconds = 0;
  static std::optional<Lifetime> decode(std::span<const uint8_t> v);
};

// CHANNEL-NUMBER (RFC 8656 18.1). RFC 8656 12 narrows channels to 0x4000..0x4FFF, but RFC 5766
// clients still in the field (coturn's, pjnath) pick from 0x4000..0x7FFF (RFC 5766 11); a TURN port carries nothing
// else in that first-byte range, so both are accepted.
struct ChannelNumber {
  uint16_t number = 0;
  static constexpr uint16_t kMin = 0x4000, kMax = 0x7FFF;
  static std::optional<ChannelNumber> decode(std::span<const uint8_t> v);
  bool valid() const { return number >= kMin && number <= kMax; }
};

// REQUESTED-TRANSPORT (RFC 8656 18.7): an IANA protocol number; 17 is UDP.
struct RequestedTransport {
  uint8_t protocol = 0;
  static constexpr uint8_t kUdp = 17, kTcp = 6;
  static std::optional<RequestedTransport> decode(std::span<const uint8_t> v);
};

// REQUESTED-ADDRESS-FAMILY and ADDITIONAL-ADDRESS-FAMILY (RFC 8656 18.6, 18.11).
struct AddressFamily {
  Family family = Family::V4;
  static std::optional<AddressFamily> decode(std::span<const uint8_t> v);
};

// EVEN-PORT (RFC 8656 18.8): R bit asks to reserve the next-higher port.
struct EvenPort {
  bool reserve_next = false;
  static std::optional<EvenPort> decode(std::span<const uint8_t> v);
};

// RESERVATION-TOKEN (RFC 8656 18.10): 8 opaque bytes.
struct ReservationToken {
  std::array<uint8_t, 8> token{};
  static std::optional<ReservationToken> decode(std::span<const uint8_t> v);
};

// CHANGE-REQUEST (RFC 5780 7.2): flag A asks for a response from the other IP, flag B from the other port.
struct ChangeRequest {
  bool change_ip = false, change_port = false;
  static constexpr uint32_t kChangeIp = 0x04, kChangePort = 0x02;
  static std::optional<ChangeRequest> decode(std::span<const uint8_t> v);
  uint32_t value() const { return (change_ip ? kChangeIp : 0) | (change_port ? kChangePort : 0); }
};

// RESPONSE-PORT (RFC 5780 7.5): the port the response goes to, then 2 bytes of padding.
struct ResponsePort {
  uint16_t port = 0;
  static std::optional<ResponsePort> decode(std::span<const uint8_t> v);
};

// PASSWORD-ALGORITHM (RFC 8489 14.12) and PASSWORD-ALGORITHMS (14.11).
enum class PasswordAlgorithmId : uint16_t { Md5 = 0x0001, Sha256 = 0x0002 };
struct PasswordAlgorithm {
  uint16_t algorithm = 0;
  static std::optional<PasswordAlgorithm> decode(std::span<const uint8_t> v);
};
struct PasswordAlgorithms {
  std::vector<uint16_t> algorithms;
  static std::optional<PasswordAlgorithms> decode(std::span<const uint8_t> v);
  // The attribute value this server advertises: SHA-256 first, then MD5, no parameters.
  static std::span<const uint8_t> server_value();
};

// USERNAME (RFC 8489 14.3, < 513 bytes), REALM and NONCE (14.9, 14.10: < 128 characters, < 763 bytes),
// SOFTWARE (14.14: < 128 characters, < 763 bytes), ALTERNATE-DOMAIN (14.16). UTF-8 text: decode
// refuses ill-formed UTF-8 and values over the byte or character bound.
struct Text {
  std::string value;
  static std::optional<Text> decode(std::span<const uint8_t> v, size_t max_bytes, size_t max_chars = SIZE_MAX);
};
constexpr size_t kMaxUsername = 512, kMaxRealm = 763, kMaxNonce = 763, kMaxSoftware = 763;
constexpr size_t kMaxTextChars = 127;  // REALM, NONCE, SOFTWARE: "fewer than 128 characters"

// Whether every text attribute of `m` (USERNAME, REALM, NONCE, SOFTWARE, ALTERNATE-DOMAIN) is
// well-formed UTF-8 within its RFC 8489 bounds; the type of the first that is not, else 0.
uint16_t first_bad_text_attribute(const Message& m);

}  // namespace turn::stun
