#include "common/api_key.h"

#include <openssl/sha.h>

namespace gkm {

std::string KeyIdOf(std::string_view key_text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key_text.data()), key_text.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "k";
  for (int i = 0; i < 6; ++i) {
    id += kHex[digest[i] >> 4];
    id += kHex[digest[i] & 15];
  }
  return id;
}

ApiKey::ApiKey(std::string value) : value_(std::move(value)), id_(KeyIdOf(value_)) {}

std::string ApiKey::masked() const {
  if (value_.size() <= 8) return "…" + value_.substr(value_.size() > 4 ? value_.size() - 4 : 0);
  return value_.substr(0, 4) + "…" + value_.substr(value_.size() - 4);
}

}  // namespace gkm
