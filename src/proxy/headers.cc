#include "proxy/headers.h"

#include <boost/beast/core/string.hpp>

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
  // A walk over the few fields of a message is cheaper than the name-ordered lookup.
  for (const auto& f : fields) {
    if (f.name() != http::field::connection) continue;
    for (char c : f.value()) {
      if (c == ' ' || c == '\t') continue;
      tokens_ += c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    }
    tokens_ += ',';
  }
}

bool ConnectionNamed::Contains(std::string_view name) const {
  // tokens_ is ",a,b,": each token sits between two commas.
  std::string_view rest(tokens_);
  while (rest.size() > 1) {
    rest.remove_prefix(1);
    size_t end = rest.find(',');
    if (end == std::string_view::npos) break;
    if (boost::beast::iequals(rest.substr(0, end), name)) return true;
    rest.remove_prefix(end);
  }
  return false;
}

}  // namespace gkm
