#include "proxy/headers.h"

#include <cctype>

namespace gkm {

namespace http = boost::beast::http;

bool IsConnectionLevel(http::field f) {
  switch (f) {
    case http::field::content_length:
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::proxy_authenticate:
    case http::field::proxy_authorization:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
      return true;
    default:
      return false;
  }
}

ConnectionNamed::ConnectionNamed(const http::fields& fields) : tokens_(",") {
  for (auto it = fields.find(http::field::connection);
       it != fields.end() && it->name() == http::field::connection; ++it) {
    for (char c : it->value()) {
      if (c == ' ' || c == '\t') continue;
      tokens_ += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    tokens_ += ',';
  }
}

bool ConnectionNamed::Contains(std::string_view name) const {
  if (tokens_.size() <= 1) return false;
  std::string needle = ",";
  for (char c : name) needle += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  needle += ',';
  return tokens_.find(needle) != std::string::npos;
}

}  // namespace gkm
