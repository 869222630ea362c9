// The pieces of HTTP/1.1 message parsing (RFC 9112) that the parser of client requests
// (RequestParser) and the parser of upstream answers (AnswerParser) share: finding the end
// of a head, the field lines as views into the head, and the chunked body coding.
//
// Strict where a proxy must be: CRLF line ends, no obsolete line folding, no control
// characters in values, one Content-Length (or equal repeats). Errors are Beast's HTTP error
// codes, so that callers treat every parser alike.
#pragma once

#include <boost/system/error_code.hpp>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace gkm {

struct HttpField {
  std::string_view name;
  std::string_view value;
};

// Whether c may appear in a token (RFC 9110 5.6.2): a method, a field name.
bool IsHttpTokenChar(unsigned char c);

// A field value without the white space (spaces, tabs) around it.
inline std::string_view TrimOws(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Calls f(item) for each non-empty item of a comma-separated field value, white space
// trimmed, in order, until f returns true; returns whether one did.
template <class F>
bool AnyListItem(std::string_view list, F&& f) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = TrimOws(list.substr(0, comma));
    if (!item.empty() && f(item)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// Whether a field name (a token) is `lower` in any case; `lower` is written in lower case
// (letters, digits, '-'). For a token, setting each byte's 0x20 bit maps exactly its upper
// case letters to lower case and no other token character onto one of those, so the names
// are compared eight bytes at a time.
inline bool NameIs(std::string_view name, std::string_view lower) {
  const size_t n = name.size();
  if (n != lower.size()) return false;
  constexpr uint64_t kCase = 0x2020202020202020ull;
  if (n >= 8) {
    uint64_t a, b;
    for (size_t i = 0; i + 8 < n; i += 8) {
      std::memcpy(&a, name.data() + i, 8);
      std::memcpy(&b, lower.data() + i, 8);
      if ((a | kCase) != b) return false;
    }
    std::memcpy(&a, name.data() + n - 8, 8);  // the last eight, overlapping the loop's
    std::memcpy(&b, lower.data() + n - 8, 8);
    return (a | kCase) == b;
  }
  for (size_t i = 0; i < n; ++i) {
    if ((name[i] | 0x20) != lower[i]) return false;
  }
  return true;
}

// What a head's field lines say about its message's framing and connection.
struct FieldFacts {
  std::optional<uint64_t> content_length;
  bool has_transfer_encoding = false;
  bool chunked = false;     // the last transfer coding is chunked
  bool close = false;       // Connection: close
  bool keep_alive = false;  // Connection: keep-alive

  // Whether the connection stays open after the message, by its version and Connection
  // field (RFC 9112 9.3): HTTP/1.1 unless "close", HTTP/1.0 only with "keep-alive".
  bool PersistsFor(bool http11) const { return !close && (http11 || keep_alive); }
};

// The length of the head at the start of `data` up to and including its empty line, or 0
// with need_more while the empty line has not arrived, or header_limit past `limit` bytes.
// `*scanned` carries the bytes already searched between calls on a growing `data` (start
// it at 0), so that a head arriving in small pieces is searched once.
size_t FindHeadEnd(std::string_view data, size_t* scanned, size_t limit,
                   boost::system::error_code& ec);

// Parses field lines, each ending in CRLF, appending them to `fields` and gathering `facts`.
bool ParseFieldLines(std::string_view lines, std::vector<HttpField>& fields, FieldFacts& facts,
                     boost::system::error_code& ec);

// The value of the first field called `name`, given in lower case (see NameIs).
std::optional<std::string_view> FindField(const std::vector<HttpField>& fields,
                                          std::string_view name);

// Removes the chunked coding from a body, piece by piece. Trailers are read and dropped.
class ChunkDecoder {
 public:
  // Decodes bytes from `data` into out[0, cap): (bytes taken from data, bytes written). Both
  // may be 0 when data holds only part of a chunk header.
  std::pair<size_t, size_t> Put(std::string_view data, char* out, size_t cap,
                                boost::system::error_code& ec);
  bool done() const { return state_ == State::kDone; }

 private:
  enum class State { kSize, kData, kDataEnd, kTrailer, kDone };
  State state_ = State::kSize;
  uint64_t remaining_ = 0;  // of the current chunk
  size_t trailer_bytes_ = 0;
};

}  // namespace gkm
