#include "common/datagram_bio.hpp"

#include <algorithm>
#include <cstring>

namespace turnpike {
namespace {

DatagramChannel* channel_of(BIO* b) { return static_cast<DatagramChannel*>(BIO_get_data(b)); }

int bio_write(BIO* b, const char* data, int len) {
  DatagramChannel* c = channel_of(b);
  if (len <= 0) return 0;
  if (c && c->sink) c->sink({reinterpret_cast<const uint8_t*>(data), static_cast<size_t>(len)});
  return len;
}

int bio_read(BIO* b, char* out, int len) {
  DatagramChannel* c = channel_of(b);
  BIO_clear_retry_flags(b);
  if (!c || c->incoming.empty() || len <= 0) {
    BIO_set_retry_read(b);
    return -1;
  }
  size_t n = std::min(c->incoming.size(), static_cast<size_t>(len));
  std::memcpy(out, c->incoming.data(), n);
  c->incoming = {};
  return static_cast<int>(n);
}

long bio_ctrl(BIO* b, int cmd, long, void*) {
  DatagramChannel* c = channel_of(b);
  switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_DGRAM_QUERY_MTU:
    case BIO_CTRL_DGRAM_GET_FALLBACK_MTU: return c ? static_cast<long>(c->mtu) : 1200;
    case BIO_CTRL_WPENDING:
    case BIO_CTRL_PENDING: return 0;
    case BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT: return 1;
    default: return 0;
  }
}

BIO_METHOD* datagram_method() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "turnpike-dgram");
    BIO_meth_set_write(bm, bio_write);
    BIO_meth_set_read(bm, bio_read);
    BIO_meth_set_ctrl(bm, bio_ctrl);
    BIO_meth_set_create(bm, [](BIO* b) {
      BIO_set_init(b, 1);
      return 1;
    });
    return bm;
  }();
  return m;
}

}  // namespace

BIO* new_datagram_bio(DatagramChannel* channel) {
  BIO* bio = BIO_new(datagram_method());
  if (bio) BIO_set_data(bio, channel);
  return bio;
}

}  // namespace turnpike
