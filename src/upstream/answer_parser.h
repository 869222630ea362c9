// AnswerParser: reads the upstream's HTTP/1.x answer — the head whole, the body piece by
// piece with its framing removed — without building a field container.
//
// The proxy forwards most answer fields as they came, so it needs them as text, not as
// Beast's ordered, individually allocated fields: the head is kept as one string and the
// fields are views into it. Parsing is strict where a proxy must be (RFC 9112): CRLF line
// ends, no obsolete line folding, no control characters in values, one Content-Length (or
// equal repeats), Transfer-Encoding ending in chunked wins over Content-Length, anything else
// with a body but neither is read until the connection closes. Errors are Beast's HTTP
// error codes, so that callers treat both parsers alike.
//
// Interim answers (100 Continue, 102 Processing, 103 Early Hints: any 1xx but 101) are not
// the answer: an upstream may send them unasked before the final one (RFC 9110 15.2, a
// client must accept them), so the parser drops their heads, which have no body, and parses
// the head after them. 101 Switching Protocols stays a final answer without a body: the
// proxy never asks to upgrade, and the caller judges it as the odd status it is.
#pragma once

#include <boost/system/error_code.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/http_parse.h"

namespace gkm {

class AnswerParser {
 public:
  using Field = HttpField;

  static constexpr size_t kHeadLimit = 64 * 1024;

  // The answer to a HEAD request: no body, whatever the head says.
  void SetNoBody() { no_body_ = true; }

  // Parses the final head if `data` holds all of it: returns the bytes it took, interim
  // heads before it included. Returns 0 with need_more while its empty line has not arrived
  // (call again with the same bytes and more), or another error. kHeadLimit bounds all the
  // heads together.
  size_t PutHead(std::string_view data, boost::system::error_code& ec);
  // Decodes body bytes from `data` into out[0, cap): (bytes taken from data, bytes written).
  // Both may be 0 when data holds only part of a chunk header.
  std::pair<size_t, size_t> PutBody(std::string_view data, char* out, size_t cap,
                                    boost::system::error_code& ec);
  // The connection closed: ends a body delimited by the close, else partial_message.
  void PutEof(boost::system::error_code& ec);

  bool header_done() const { return header_done_; }
  bool is_done() const { return done_; }
  // The bytes worth reading next: a head with the start of its body (Google's heads run to
  // about 1 KiB), the rest of a body of known length, a piece of a stream.
  uint64_t ReadWant() const {
    return header_done_ && framing_ == Framing::kLength ? remaining_ : 4096;
  }
  int status() const { return status_; }
  bool keep_alive() const { return keep_alive_; }
  // The declared length (not for chunked answers).
  std::optional<uint64_t> content_length() const { return content_length_; }
  bool chunked() const { return framing_ == Framing::kChunked; }
  const std::vector<Field>& fields() const { return fields_; }

 private:
  enum class Framing { kNone, kLength, kChunked, kClose };

  bool ParseHead(std::string_view head, boost::system::error_code& ec);

  std::string head_;          // the head's bytes; fields_ point into it
  size_t head_scanned_ = 0;   // bytes of the head's start searched for its end so far
  size_t interim_bytes_ = 0;  // of the interim heads at the start of the caller's bytes
  std::vector<Field> fields_;
  int status_ = 0;
  bool no_body_ = false;
  bool header_done_ = false;
  bool done_ = false;
  bool keep_alive_ = true;
  std::optional<uint64_t> content_length_;
  Framing framing_ = Framing::kNone;
  uint64_t remaining_ = 0;  // of the body (kLength)
  ChunkDecoder chunks_;
};

}  // namespace gkm
