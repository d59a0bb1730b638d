#include "server/redact.hpp"

#include <openssl/evp.h>

#include <array>
#include <memory>

namespace turnpike {

std::string UserRedactor::operator()(std::string_view user) const {
  if (!on_ || user.empty()) return std::string(user);
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  bool ok = ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx.get(), salt_.data(), salt_.size()) == 1 &&
            EVP_DigestUpdate(ctx.get(), user.data(), user.size()) == 1 &&
            EVP_DigestFinal_ex(ctx.get(), md.data(), &len) == 1;
  if (!ok || len < 8) return "u:redacted";  // never the identity itself
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "u:";
  for (unsigned int i = 0; i < 8; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xf];
  }
  return out;
}

}  // namespace turnpike
