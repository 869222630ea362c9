// Which header fields cross the proxy (RFC 9110 7.6.1), for requests going upstream and
// answers coming back: connection-level (hop-by-hop) fields never do, nor do the fields
// a message's Connection header names. Pure; works on Beast's parsed fields without
// copying names.
#pragma once

#include <array>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/fields.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "upstream/answer_parser.h"

namespace gkm {

// The fields that name or govern one connection (Connection, Keep-Alive, TE, Trailer,
// Transfer-Encoding, Upgrade, Proxy-*), plus Content-Length, which the proxy always
// sets itself for the framing it chooses.
bool IsConnectionLevel(boost::beast::http::field f);
// The same, by name (any case), for fields not parsed into Beast's containers.
bool IsConnectionLevel(std::string_view name);

// The fields a message's Connection header names. Refers to the message's field values,
// which must outlive it.
class ConnectionNamed {
 public:
  explicit ConnectionNamed(const boost::beast::http::fields& fields);
  // From the fields of an upstream answer.
  explicit ConnectionNamed(const std::vector<AnswerParser::Field>& fields);
  bool Contains(std::string_view name) const;

 private:
  void Add(std::string_view value);
  std::array<std::string_view, 4> values_;  // the Connection fields' values
  size_t count_ = 0;
  std::string more_;  // values past the fourth, joined with commas
};

}  // namespace gkm
