// Which header fields cross the proxy (RFC 9110 7.6.1), for requests going upstream and
// answers coming back: connection-level (hop-by-hop) fields never do, nor do the fields
// a message's Connection header names. Pure; works on fields held as views into a message's
// head (RequestParser, AnswerParser) without copying names.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_parse.h"

namespace gkm {

// The fields that name or govern one connection (Connection, Keep-Alive, TE, Trailer,
// Transfer-Encoding, Upgrade, Proxy-*), plus Content-Length, which the proxy always
// sets itself for the framing it chooses.
// By name, in any case.
bool IsConnectionLevel(std::string_view name);

// The fields a message's Connection header names. Refers to the message's field values,
// which must outlive it.
class ConnectionNamed {
 public:
  explicit ConnectionNamed(const std::vector<HttpField>& fields);
  bool Contains(std::string_view name) const;

 private:
  void Add(std::string_view value);
  std::array<std::string_view, 4> values_;  // the Connection fields' values
  size_t count_ = 0;
  std::string more_;  // values past the fourth, joined with commas
};

}  // namespace gkm
