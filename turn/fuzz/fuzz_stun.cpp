// libFuzzer target: the STUN message parser and every attribute decoder; what parses must rebuild
// into a message that parses to the same attributes (round trip).
#include <cstring>
#include <vector>

#include "turn/attributes.hpp"
#include "turn/message.hpp"
#include "tests/fuzz/target.hpp"

using namespace turn::stun;

TURNPIKE_FUZZ_TARGET("turn", stun) {
  Message m;
  if (Message::parse({data, size}, m) != ParseError::None) return 0;
  const auto& tx = m.transaction_id();
  std::vector<uint8_t> buf(size + 64);
  Builder b(buf, m.raw_method(), m.cls(), tx);
  for (const auto& a : m.attributes()) {
    switch (a.type) {
      case attr::XorMappedAddress: case attr::XorPeerAddress: case attr::XorRelayedAddress:
        if (auto x = XorAddress::decode(a.value, tx)) {
          uint8_t out[20];
          size_t n = x->encode(out, tx);
          if (n != a.value.size() || std::memcmp(out + 4, a.value.data() + 4, n - 4) != 0) FUZZ_FAIL();
        }
        break;
      case attr::MappedAddress: case attr::AlternateServer: case attr::OtherAddress: case attr::ResponseOrigin:
        (void)PlainAddress::decode(a.value);
        break;
      case attr::ErrorCode: (void)ErrorCode::decode(a.value); break;
      case attr::UnknownAttributes: (void)UnknownAttributes::decode(a.value); break;
      case attr::Lifetime: (void)Lifetime::decode(a.value); break;
      case attr::ChannelNumber: (void)ChannelNumber::decode(a.value); break;
      case attr::RequestedTransport: (void)RequestedTransport::decode(a.value); break;
      case attr::RequestedAddressFamily: case attr::AdditionalAddressFamily: (void)AddressFamily::decode(a.value); break;
      case attr::EvenPort: (void)EvenPort::decode(a.value); break;
      case attr::ReservationToken: (void)ReservationToken::decode(a.value); break;
      case attr::PasswordAlgorithm: (void)PasswordAlgorithm::decode(a.value); break;
      case attr::PasswordAlgorithms: (void)PasswordAlgorithms::decode(a.value); break;
      case attr::Username: case attr::Realm: case attr::Nonce: case attr::Software:
        (void)Text::decode(a.value, kMaxUsername);
        break;
      default: break;
    }
    if (a.type != attr::Fingerprint) b.add(a.type, a.value);
  }
  (void)m.verify_integrity(std::vector<uint8_t>(16, 0x42));
  (void)m.verify_integrity_sha256(std::vector<uint8_t>(32, 0x42));
  if (!b.ok()) return 0;
  Message again;
  if (Message::parse(b.bytes(), again) != ParseError::None) FUZZ_FAIL();
  size_t n = 0;
  for (const auto& a : m.attributes()) n += a.type != attr::Fingerprint;
  if (again.attributes().size() != n) FUZZ_FAIL();
  return 0;
}
