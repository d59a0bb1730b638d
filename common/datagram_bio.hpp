// An OpenSSL BIO for DTLS (RFC 6347) that moves whole datagrams between OpenSSL and a channel the
// caller owns; it does no I/O. A read hands out the one datagram the caller is processing (then
// asks OpenSSL to retry); each write (a flight's records packed up to the MTU, or one retransmitted
// message) goes whole to the caller's sink, to send or queue as one datagram. TURN over DTLS
// (server/turn_dtls.cpp) and the SFU's DTLS-SRTP (sfu/dtls_srtp.cpp) both drive OpenSSL through it.
#pragma once
#include <openssl/bio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

namespace turnpike {

// The caller's side of one BIO. It must outlive the BIO (the SSL that owns it).
struct DatagramChannel {
  // The datagram being processed: the next read hands it out (truncated to the reader's buffer,
  // as recvfrom does) and clears it. Empty: the read asks OpenSSL to retry.
  std::span<const uint8_t> incoming;
  // Answered to OpenSSL's MTU queries (BIO_CTRL_DGRAM_QUERY_MTU, BIO_CTRL_DGRAM_GET_FALLBACK_MTU).
  size_t mtu = 1200;
  // Receives every datagram OpenSSL writes. The write always succeeds, as UDP's does: a datagram
  // the sink drops is lost like any other, and the peer's retransmission recovers it.
  std::function<void(std::span<const uint8_t>)> sink;
};

// A new BIO over `channel` (not owned); SSL_set_bio(ssl, bio, bio) hands it to an SSL. Null if
// OpenSSL cannot allocate it.
BIO* new_datagram_bio(DatagramChannel* channel);

}  // namespace turnpike
