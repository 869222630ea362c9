// Which header fields cross the proxy, in each direction: one table (headers.cc), each
// entry with its reason. Requests going upstream and answers coming back both ask here;
// nothing else in the request path decides which client or upstream fields are copied.
//
// Besides the table, the fields a message's own Connection header names never cross
// (RFC 9110 7.6.1): ConnectionNamed finds them. Pure; works on fields held as views into a
// message's head (RequestParser, AnswerParser) without copying names.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_parse.h"

namespace gkm {

enum class Direction {
  kToUpstream,  // a client request's field, copied into the request to Google
  kToClient,    // an upstream answer's field, copied into the answer to the client
};

// True when a field of this name (any case) is copied in direction `d`. False for the
// connection-level (hop-by-hop) fields, the framing the proxy sets itself, the client's
// credentials and the content negotiation the proxy does itself (it asks Google for
// identity coding so that it can judge, mask and scan every body; SPEC 8).
bool Crosses(std::string_view name, Direction d);

// The fields that name or govern one connection (Connection, Keep-Alive, TE, Trailer,
// Transfer-Encoding, Upgrade, Proxy-*), plus Content-Length, which the proxy always sets
// itself for the framing it chooses: the table's entries that cross in neither direction
// because they belong to one hop.
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
