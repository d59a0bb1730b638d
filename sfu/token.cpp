#include "sfu/token.hpp"

#include <nlohmann/json.hpp>

#include <cmath>

#include "turn/crypto.hpp"

namespace sfu::token {

const char* to_string(Error e) {
  switch (e) {
    case Error::None: return "none";
    case Error::Malformed: return "malformed";
    case Error::BadSignature: return "bad signature";
    case Error::Expired: return "expired";
    case Error::NotYetValid: return "not yet valid";
    case Error::MissingClaim: return "missing claim";
    case Error::InvalidClaim: return "invalid claim";
  }
  return "?";
}

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int value_of(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

Result fail(Error e, std::string message) {
  Result r;
  r.error = e;
  r.message = std::move(message);
  return r;
}

// A JSON object from base64url, or nullopt. Parsing never throws (allow_exceptions = false).
std::optional<nlohmann::json> json_object(std::string_view part) {
  auto bytes = base64url_decode(part);
  if (!bytes) return std::nullopt;
  auto j = nlohmann::json::parse(bytes->begin(), bytes->end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

// RFC 7519 2: NumericDate is a JSON number of seconds, possibly non-integer; non-integers round down.
std::optional<int64_t> numeric_date(const nlohmann::json& v) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned()) {
      auto u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
      return static_cast<int64_t>(u);
    }
    return v.get<int64_t>();
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (!std::isfinite(d) || d < -9.2e18 || d > 9.2e18) return std::nullopt;
    return static_cast<int64_t>(std::floor(d));
  }
  return std::nullopt;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 'a' + 'A');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

std::string base64url_encode(std::span<const uint8_t> data) {
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t v = uint32_t{data[i]} << 16 | uint32_t{data[i + 1]} << 8 | data[i + 2];
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
    out += kAlphabet[v & 63];
  }
  if (size_t rest = data.size() - i; rest) {
    uint32_t v = uint32_t{data[i]} << 16 | (rest == 2 ? uint32_t{data[i + 1]} << 8 : 0);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    if (rest == 2) out += kAlphabet[v >> 6 & 63];
  }
  return out;
}

std::optional<std::vector<uint8_t>> base64url_decode(std::string_view s) {
  // RFC 7515 2 / Appendix C: no padding, no line breaks, no other characters.
  if (s.size() % 4 == 1) return std::nullopt;
  std::vector<uint8_t> out;
  out.reserve(s.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v = value_of(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) return std::nullopt;  // RFC 4648 3.5: the unused bits must be zero (canonical encoding)
  return out;
}

std::string encode(const Claims& c, std::string_view key) {
  nlohmann::json payload = {{"room", c.room}, {"identity", c.identity}, {"region", c.region}, {"exp", c.exp},
                            {"publish", c.publish}, {"subscribe", c.subscribe}};
  if (c.nbf) payload["nbf"] = *c.nbf;
  if (c.iat) payload["iat"] = *c.iat;
  // dump() with replacement of invalid UTF-8, so that encoding never throws.
  const std::string header = R"({"alg":"HS256","typ":"JWT"})";
  const std::string body = payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string input = base64url_encode(turn::crypto::bytes(header)) + "." + base64url_encode(turn::crypto::bytes(body));
  auto mac = turn::crypto::hmac_sha256(turn::crypto::bytes(key), turn::crypto::bytes(input));
  return input + "." + base64url_encode(mac);
}

namespace {

// RFC 7515 7.1 (compact serialization): BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(signature).
// False: not three dot-separated parts.
struct CompactParts {
  std::string_view header, payload, signature;
  std::string_view signing_input;  // header "." payload, as sent
};
bool split_compact(std::string_view token, CompactParts& out) {
  size_t d1 = token.find('.');
  size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) return false;
  out.header = token.substr(0, d1);
  out.payload = token.substr(d1 + 1, d2 - d1 - 1);
  out.signature = token.substr(d2 + 1);
  out.signing_input = token.substr(0, d2);
  return true;
}

// The JOSE header: alg, typ and crit. A success Result when it is one we accept.
Result check_header(const nlohmann::json& header) {
  // RFC 7515 4.1.1 / RFC 8725 3.1: only HS256 is accepted; "none" and every other alg are refused.
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string()) return fail(Error::Malformed, "header has no alg");
  if (alg->get<std::string>() != "HS256")
    return fail(Error::Malformed,
                "alg " + alg->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + " is not HS256");
  // RFC 7519 5.1: typ, if present, is "JWT" (compared case-insensitively as a media type).
  if (auto typ = header.find("typ"); typ != header.end() && (!typ->is_string() || !iequals(typ->get<std::string>(), "JWT")))
    return fail(Error::Malformed, "typ is not JWT");
  // RFC 7515 4.1.11: we understand no extension, so a crit header means reject.
  if (header.contains("crit")) return fail(Error::Malformed, "crit header parameter is not supported");
  return {};
}

// RFC 7515 5.2 step 8 / RFC 7518 3.2: HMAC over the ASCII of header "." payload, compared in
// constant time with every key, none skipped (so the time taken tells nothing of which matched).
bool signed_by_any(std::string_view signing_input, std::span<const uint8_t> signature,
                   std::span<const std::string> keys) {
  auto input = turn::crypto::bytes(signing_input);
  bool ok = false;
  for (const auto& key : keys) {
    auto mac = turn::crypto::hmac_sha256(turn::crypto::bytes(key), input);
    ok |= turn::crypto::equal(mac, signature);
  }
  return ok;
}

// RFC 7519 4.1: the claims this SFU reads; room, identity, region and exp are required.
Result read_claims(const nlohmann::json& p, Claims& c) {
  for (auto [name, slot] : {std::pair{"room", &c.room}, std::pair{"identity", &c.identity}, std::pair{"region", &c.region}}) {
    auto it = p.find(name);
    if (it == p.end()) return fail(Error::MissingClaim, std::string("no \"") + name + "\" claim");
    if (!it->is_string() || it->get_ref<const std::string&>().empty())
      return fail(Error::InvalidClaim, std::string("\"") + name + "\" is not a non-empty string");
    *slot = it->get<std::string>();
  }
  auto exp = p.find("exp");
  if (exp == p.end()) return fail(Error::MissingClaim, "no \"exp\" claim");
  auto e = numeric_date(*exp);
  if (!e) return fail(Error::InvalidClaim, "\"exp\" is not a NumericDate");
  c.exp = *e;
  for (auto [name, slot] : {std::pair{"nbf", &c.nbf}, std::pair{"iat", &c.iat}}) {
    auto it = p.find(name);
    if (it == p.end()) continue;
    auto v = numeric_date(*it);
    if (!v) return fail(Error::InvalidClaim, std::string("\"") + name + "\" is not a NumericDate");
    *slot = *v;
  }
  for (auto [name, slot] : {std::pair{"publish", &c.publish}, std::pair{"subscribe", &c.subscribe}}) {
    auto it = p.find(name);
    if (it == p.end()) continue;
    if (!it->is_boolean()) return fail(Error::InvalidClaim, std::string("\"") + name + "\" is not a boolean");
    *slot = it->get<bool>();
  }
  return {};
}

// RFC 7519 4.1.4: expired on or after exp; 4.1.5: not accepted before nbf; with leeway for clock skew.
Result check_validity(const Claims& c, int64_t unix_s, int64_t leeway_s) {
  // Saturating, so extreme claim values cannot overflow.
  auto add = [](int64_t a, int64_t b) {
    if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b) return INT64_MIN;
    return a + b;
  };
  if (unix_s >= add(c.exp, leeway_s))
    return fail(Error::Expired, "expired at " + std::to_string(c.exp) + " (now " + std::to_string(unix_s) + ")");
  if (c.nbf && unix_s < add(*c.nbf, -leeway_s))
    return fail(Error::NotYetValid, "not valid before " + std::to_string(*c.nbf) + " (now " + std::to_string(unix_s) + ")");
  return {};
}

}  // namespace

Result verify(std::string_view token, std::span<const std::string> keys, int64_t unix_s, int64_t leeway_s) {
  if (token.size() > kMaxTokenSize) return fail(Error::Malformed, "token longer than " + std::to_string(kMaxTokenSize) + " bytes");
  CompactParts parts;
  if (!split_compact(token, parts)) return fail(Error::Malformed, "not three dot-separated parts");
  auto header = json_object(parts.header);
  if (!header) return fail(Error::Malformed, "header is not base64url of a JSON object");
  if (auto r = check_header(*header); !r) return r;
  auto signature = base64url_decode(parts.signature);
  if (!signature) return fail(Error::Malformed, "signature is not base64url");
  auto payload = json_object(parts.payload);
  if (!payload) return fail(Error::Malformed, "payload is not base64url of a JSON object");
  if (!signed_by_any(parts.signing_input, *signature, keys))
    return fail(Error::BadSignature, keys.empty() ? "no token keys are configured" : "signature matches no configured key");
  Claims c;
  if (auto r = read_claims(*payload, c); !r) return r;
  if (auto r = check_validity(c, unix_s, leeway_s); !r) return r;
  Result r;
  r.claims = std::move(c);
  return r;
}

}  // namespace sfu::token

namespace sfu {
TokenError verify_join_token(std::string_view token, std::span<const std::string> keys, int64_t unix_s, JoinClaims& out,
                             int64_t leeway_s) {
  auto r = token::verify(token, keys, unix_s, leeway_s);
  if (r) out = std::move(r.claims);
  return r.error;
}
}  // namespace sfu
