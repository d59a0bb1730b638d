#include "sfu/signal_limits.hpp"

namespace sfu {

const char* to_string(SignalReject r) {
  switch (r) {
    case SignalReject::None: return "none";
    case SignalReject::MaxConnections: return "max_connections";
    case SignalReject::MaxConnectionsPerIp: return "max_connections_per_ip";
    case SignalReject::JoinTimeout: return "join_timeout";
    case SignalReject::MessageTooBig: return "message_too_big";
  }
  return "none";
}

turn::IpAddress SignalLimits::prefix_of(const turn::IpAddress& address) const {
  turn::IpAddress a = address.unmapped();
  unsigned bits = a.is_v4() ? cfg_.prefix_v4 : cfg_.prefix_v6;
  for (size_t i = 0; i < a.bytes.size(); ++i) {
    unsigned first = static_cast<unsigned>(i) * 8;
    if (first >= bits) a.bytes[i] = 0;
    else if (bits - first < 8) a.bytes[i] &= static_cast<uint8_t>(0xff << (8 - (bits - first)));
  }
  return a;
}

SignalReject SignalLimits::admit(const turn::IpAddress& from) {
  if (open_ >= cfg_.max_connections) return SignalReject::MaxConnections;
  auto key = prefix_of(from);
  auto it = per_prefix_.find(key);
  if (it != per_prefix_.end() && it->second >= cfg_.max_connections_per_ip) return SignalReject::MaxConnectionsPerIp;
  if (it == per_prefix_.end()) it = per_prefix_.emplace(key, 0).first;
  ++it->second;
  ++open_;
  return SignalReject::None;
}

void SignalLimits::release(const turn::IpAddress& from) {
  auto it = per_prefix_.find(prefix_of(from));
  if (it == per_prefix_.end()) return;
  if (--it->second == 0) per_prefix_.erase(it);
  if (open_ > 0) --open_;
}

size_t SignalLimits::open_from(const turn::IpAddress& from) const {
  auto it = per_prefix_.find(prefix_of(from));
  return it == per_prefix_.end() ? 0 : it->second;
}

}  // namespace sfu
