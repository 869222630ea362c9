// Which header fields cross the proxy (RFC 9110 7.6.1), for requests going upstream and
// answers coming back: connection-level (hop-by-hop) fields never do, nor do the fields
// a message's Connection header names. Pure; works on Beast's parsed fields without
// copying names.
#pragma once

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/fields.hpp>
#include <string>
#include <string_view>

namespace gkm {

// The fields that name or govern one connection (Connection, Keep-Alive, TE, Trailer,
// Transfer-Encoding, Upgrade, Proxy-*), plus Content-Length, which the proxy always
// sets itself for the framing it chooses.
bool IsConnectionLevel(boost::beast::http::field f);

// The fields a message's Connection header names, lower-cased: ",a,b," ("," if none).
class ConnectionNamed {
 public:
  explicit ConnectionNamed(const boost::beast::http::fields& fields);
  bool Contains(std::string_view name) const;

 private:
  std::string tokens_;
};

}  // namespace gkm
