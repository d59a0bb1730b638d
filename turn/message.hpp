// STUN message framing (RFC 8489 section 5 and 6): a bounds-checked view over one datagram,
// and a builder that writes a message into a caller-owned buffer (no heap).
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "turn/address.hpp"

namespace turn::stun {

constexpr uint32_t kMagicCookie = 0x2112A442;  // RFC 8489 5
constexpr size_t kHeaderSize = 20;
constexpr size_t kMaxAttributes = 48;
constexpr uint32_t kFingerprintXor = 0x5354554e;  // RFC 8489 14.7

enum class Class : uint8_t { Request = 0, Indication = 1, Success = 2, Error = 3 };

// Methods (RFC 8489 18.2, RFC 8656 18).
enum class Method : uint16_t {
  Binding = 0x001, Allocate = 0x003, Refresh = 0x004, Send = 0x006, Data = 0x007,
  CreatePermission = 0x008, ChannelBind = 0x009,
};
const char* to_string(Method m);

// Attribute types (RFC 8489 18.3, RFC 8656 18, RFC 5780 7, RFC 8445 16).
namespace attr {
constexpr uint16_t MappedAddress = 0x0001, ChangeRequest = 0x0003, Username = 0x0006,
    MessageIntegrity = 0x0008, ErrorCode = 0x0009, UnknownAttributes = 0x000A, ChannelNumber = 0x000C,
    Lifetime = 0x000D, XorPeerAddress = 0x0012, Data = 0x0013, Realm = 0x0014, Nonce = 0x0015,
    XorRelayedAddress = 0x0016, RequestedAddressFamily = 0x0017, EvenPort = 0x0018,
    RequestedTransport = 0x0019, DontFragment = 0x001A, MessageIntegritySha256 = 0x001C,
    PasswordAlgorithm = 0x001D, Userhash = 0x001E, XorMappedAddress = 0x0020, ReservationToken = 0x0022,
    Priority = 0x0024, UseCandidate = 0x0025, Padding = 0x0026, ResponsePort = 0x0027,
    AdditionalAddressFamily = 0x8000, AddressErrorCode = 0x8001, PasswordAlgorithms = 0x8002,
    AlternateDomain = 0x8003, Icmp = 0x8004, Software = 0x8022, AlternateServer = 0x8023,
    TransactionTransmitCounter = 0x8025, CacheTimeout = 0x8027, Fingerprint = 0x8028,
    IceControlled = 0x8029, IceControlling = 0x802A, ResponseOrigin = 0x802B, OtherAddress = 0x802C;
// RFC 8489 14: 0x0000-0x7FFF must be understood or the request fails with 420.
constexpr bool comprehension_required(uint16_t type) { return type < 0x8000; }
bool known(uint16_t type);
}  // namespace attr

using TransactionId = std::array<uint8_t, 12>;

enum class ParseError : uint8_t {
  None, Truncated, NotStun, BadLength, AttributeOverrun, TooManyAttributes, FingerprintNotLast, BadFingerprint,
};
const char* to_string(ParseError e);

struct RawAttribute {
  uint16_t type = 0;
  uint16_t offset = 0;  // of the attribute header within the message
  std::span<const uint8_t> value;
};

// RFC 7983 / RFC 8489 6.3: the first byte of a STUN message is 0..3 and bytes 4..7 the magic cookie.
bool looks_like_stun(std::span<const uint8_t> data);

// A parsed view; valid only while the datagram's buffer is.
class Message {
 public:
  static ParseError parse(std::span<const uint8_t> data, Message& out);

  Method method() const { return static_cast<Method>(method_); }
  uint16_t raw_method() const { return method_; }
  Class cls() const { return cls_; }
  const TransactionId& transaction_id() const { return txid_; }
  std::span<const uint8_t> bytes() const { return bytes_; }
  std::span<const RawAttribute> attributes() const { return {attrs_.data(), count_}; }
  // The first attribute of this type (RFC 8489 14: later duplicates are ignored), or null.
  // Attributes after MESSAGE-INTEGRITY(-SHA256) other than FINGERPRINT are not returned (RFC 8489 14.5).
  const RawAttribute* find(uint16_t type) const;
  bool has(uint16_t type) const { return find(type) != nullptr; }
  bool has_fingerprint() const { return has_fingerprint_; }

  // Verifies MESSAGE-INTEGRITY (HMAC-SHA1) or MESSAGE-INTEGRITY-SHA256 with `key`.
  bool verify_integrity(std::span<const uint8_t> key) const;
  bool verify_integrity_sha256(std::span<const uint8_t> key) const;

 private:
  uint16_t method_ = 0;
  Class cls_ = Class::Request;
  TransactionId txid_{};
  std::span<const uint8_t> bytes_;
  std::array<RawAttribute, kMaxAttributes> attrs_{};
  size_t count_ = 0;
  size_t usable_ = 0;  // attributes up to and including the first integrity attribute
  bool has_fingerprint_ = false;
};

uint16_t encode_type(uint16_t method, Class cls);

// Writes a message into a fixed buffer. On overflow, further adds are ignored and ok() is false.
class Builder {
 public:
  Builder(std::span<uint8_t> buffer, uint16_t method, Class cls, const TransactionId& txid);
  Builder(std::span<uint8_t> buffer, Method method, Class cls, const TransactionId& txid)
      : Builder(buffer, static_cast<uint16_t>(method), cls, txid) {}

  void add(uint16_t type, std::span<const uint8_t> value);
  void add(uint16_t type, std::string_view value);
  void add_u32(uint16_t type, uint32_t value);
  void add_empty(uint16_t type) { add(type, std::span<const uint8_t>{}); }
  void add_xor_address(uint16_t type, const Endpoint& ep);
  void add_address(uint16_t type, const Endpoint& ep);
  void add_error(int code, std::string_view reason);
  void add_integrity(std::span<const uint8_t> key);         // MESSAGE-INTEGRITY, RFC 8489 14.5
  void add_integrity_sha256(std::span<const uint8_t> key);  // MESSAGE-INTEGRITY-SHA256, RFC 8489 14.6
  void add_fingerprint();                                   // RFC 8489 14.7

  bool ok() const { return ok_; }
  const TransactionId& transaction_id() const { return txid_; }
  std::span<const uint8_t> bytes() const { return {buf_.data(), size_}; }

 private:
  uint8_t* reserve(uint16_t type, size_t len);
  void set_length(size_t body);
  std::span<uint8_t> buf_;
  TransactionId txid_;
  size_t size_ = kHeaderSize;
  bool ok_ = true;
};

}  // namespace turn::stun
