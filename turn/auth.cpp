#include "turn/auth.hpp"

#include <charconv>
#include <cstdio>

#include "turn/crypto.hpp"

namespace turn {

namespace {
constexpr std::string_view kCookie = "obMatJos2";  // RFC 8489 9.2
// Security feature set: bit 0 "Password algorithms" (RFC 8489 18.1), 24 bits base64-encoded.
constexpr std::string_view kFeatures = "gAAA";

std::vector<uint8_t> derive(std::string_view username, std::string_view realm, std::string_view password,
                            stun::PasswordAlgorithmId alg) {
  std::string input;
  input.reserve(username.size() + realm.size() + password.size() + 2);
  input.append(username).append(":").append(realm).append(":").append(password);
  if (alg == stun::PasswordAlgorithmId::Sha256) {
    auto h = crypto::sha256(input);
    return {h.begin(), h.end()};
  }
  auto h = crypto::md5(input);
  return {h.begin(), h.end()};
}

// The tag part of a REST username: ";key=value" repeated (the leading ';' included).
bool parse_tags(std::string_view part, Tags& out) {
  out.clear();
  while (!part.empty()) {
    part.remove_prefix(1);  // the ';'
    auto end = part.find(';');
    auto tag = part.substr(0, end);
    part = end == std::string_view::npos ? std::string_view() : part.substr(end);
    auto eq = tag.find('=');
    if (eq == std::string_view::npos || out.size() == kMaxTags) return false;
    auto key = tag.substr(0, eq), value = tag.substr(eq + 1);
    if (!tag_text_ok(key) || !tag_text_ok(value)) return false;
    if (find_tag(out, key)) return false;
    out.emplace_back(key, value);
  }
  return true;
}
}  // namespace

bool RestUsername::parse(std::string_view username, RestUsername& out) {
  auto semicolon = username.find(';');
  if (semicolon != std::string_view::npos) {
    if (!parse_tags(username.substr(semicolon), out.tags)) return false;
    username = username.substr(0, semicolon);
  } else {
    out.tags.clear();
  }
  auto colon = username.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  int64_t ts = 0;
  auto [p, ec] = std::from_chars(username.data(), username.data() + colon, ts);
  if (ec != std::errc{} || p != username.data() + colon) return false;
  out.expiry = ts;
  auto rest = username.substr(colon + 1);
  auto second = rest.find(':');
  out.user = std::string(rest.substr(0, second));
  out.region = second == std::string_view::npos ? std::string() : std::string(rest.substr(second + 1));
  return true;
}

std::string rest_password(std::string_view secret, std::string_view username) {
  auto mac = crypto::hmac_sha1(crypto::bytes(secret), crypto::bytes(username));
  return crypto::base64(mac);
}

Authenticator::Authenticator(AuthConfig cfg) : cfg_(std::move(cfg)) {
  if (cfg_.nonce_secret.empty()) crypto::random_bytes(nonce_secret_);
  else nonce_secret_ = crypto::sha256("turnpike nonce key|" + cfg_.nonce_secret);
}

Authenticator::Lookup Authenticator::keys(std::string_view username, stun::PasswordAlgorithmId alg,
                                          int64_t now_unix, std::vector<Credential>& out) const {
  out.clear();
  if (auto it = cfg_.users.find(std::string(username)); it != cfg_.users.end()) {
    out.push_back({derive(username, cfg_.realm, it->second, alg), it->first, 0, {}, {}});
    return Lookup::Ok;
  }
  RestUsername rest;
  if (cfg_.rest_secrets.empty() || !RestUsername::parse(username, rest)) return Lookup::UnknownUser;
  if (rest.expiry <= now_unix) return Lookup::Expired;
  for (const auto& secret : cfg_.rest_secrets)
    out.push_back({derive(username, cfg_.realm, rest_password(secret, username), alg), rest.user, rest.expiry, rest.region,
                   rest.tags});
  return Lookup::Ok;
}

Authenticator::Lookup Authenticator::check_password(std::string_view username, std::string_view password,
                                                    int64_t now_unix) const {
  auto same = [&password](std::string_view expected) {
    return expected.size() == password.size() && crypto::equal(crypto::bytes(expected), crypto::bytes(password));
  };
  if (auto it = cfg_.users.find(std::string(username)); it != cfg_.users.end())
    return same(it->second) ? Lookup::Ok : Lookup::UnknownUser;
  RestUsername rest;
  if (cfg_.rest_secrets.empty() || !RestUsername::parse(username, rest)) return Lookup::UnknownUser;
  if (rest.expiry <= now_unix) return Lookup::Expired;
  bool ok = false;
  for (const auto& secret : cfg_.rest_secrets) ok |= same(rest_password(secret, username));
  return ok ? Lookup::Ok : Lookup::UnknownUser;
}

std::string Authenticator::nonce_mac(const FiveTuple& from, NonceScope scope, std::string_view expiry_hex) const {
  std::string input = from.client.address.unmapped().to_string();
  input.append("|").append(to_string(from.transport));
  if (scope == NonceScope::Flow) {
    input.append("|").append(std::to_string(from.client.port));
    input.append("|").append(Endpoint{from.server.address.unmapped(), from.server.port}.to_string());
  } else {
    input.append("|redirect");
  }
  input.append("|").append(expiry_hex);
  auto mac = crypto::try_hmac_sha256(nonce_secret_, crypto::bytes(input));
  if (!mac) return {};
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < 10; ++i) {
    out.push_back(hex[(*mac)[i] >> 4]);
    out.push_back(hex[(*mac)[i] & 15]);
  }
  return out;
}

namespace {
constexpr char kScopeFlow = 'f', kScopeRedirect = 'r';
constexpr size_t kMacHex = 20;
}  // namespace

std::string Authenticator::make_nonce(const FiveTuple& from, NonceScope scope, int64_t now_unix) const {
  char expiry[17];
  std::snprintf(expiry, sizeof expiry, "%016llx", static_cast<unsigned long long>(now_unix + cfg_.nonce_lifetime_s));
  std::string mac = nonce_mac(from, scope, expiry);
  if (mac.empty()) mac.assign(kMacHex, 'x');  // not hex: never valid anywhere
  std::string n;
  n.append(kCookie).append(kFeatures).append(expiry);
  n.push_back(scope == NonceScope::Flow ? kScopeFlow : kScopeRedirect);
  n.append(mac);
  return n;
}

Authenticator::NonceCheck Authenticator::check_nonce(std::string_view nonce, const FiveTuple& from,
                                                     int64_t now_unix) const {
  // Anything not minted with our key for what its scope binds, or past its expiry, is stale: the
  // client retries with the fresh nonce in the 438 response (RFC 8489 9.2.4).
  size_t prefix = kCookie.size() + kFeatures.size();
  if (nonce.size() != prefix + 16 + 1 + kMacHex || nonce.substr(0, kCookie.size()) != kCookie) return NonceCheck::Stale;
  auto expiry_hex = nonce.substr(prefix, 16);
  uint64_t expiry = 0;
  auto [p, ec] = std::from_chars(expiry_hex.data(), expiry_hex.data() + 16, expiry, 16);
  if (ec != std::errc{} || p != expiry_hex.data() + 16) return NonceCheck::Stale;
  char scope_char = nonce[prefix + 16];
  if (scope_char != kScopeFlow && scope_char != kScopeRedirect) return NonceCheck::Stale;
  auto want = nonce_mac(from, scope_char == kScopeFlow ? NonceScope::Flow : NonceScope::Redirect, expiry_hex);
  if (want.size() != kMacHex) return NonceCheck::Stale;  // the MAC failed: fail closed
  if (!crypto::equal(crypto::bytes(want), crypto::bytes(nonce.substr(prefix + 17)))) return NonceCheck::Stale;
  if (static_cast<int64_t>(expiry) <= now_unix) return NonceCheck::Stale;
  return NonceCheck::Valid;
}

}  // namespace turn
