// RequestParser: reads one client request — the head whole, then the body into a string —
// without building a field container.
//
// The proxy reads a handful of a request's fields and forwards the rest as they came, so
// the head is kept as one string and the fields are views into it (Beast's parser
// allocated every field on its own, a tenth of the proxy's work per request). Strict per
// RFC 9112: the request line is `token SP target SP HTTP/1.0|1.1`, the target without
// control characters or spaces; a body is framed by chunked (the last transfer coding) or
// by one Content-Length; a request with both, or with a transfer coding that does not end in
// chunked, is refused (request smuggling); a request with neither has no body. Empty lines
// before the request line are skipped. Errors are Beast's HTTP error codes.
#pragma once

#include <boost/beast/http/verb.hpp>
#include <boost/system/error_code.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_parse.h"

namespace gkm {

class RequestParser {
 public:
  static constexpr size_t kHeadLimit = 64 * 1024;

  // body_limit: the most body bytes accepted (body_limit past it). A declared length over
  // the limit is not an error of the head: the caller may answer before reading the body.
  explicit RequestParser(uint64_t body_limit) : body_limit_(body_limit) {}

  // Parses the head if `data` holds all of it: returns the bytes it took. Returns 0 with
  // need_more while the empty line has not arrived (call again with the same bytes and
  // more), or another error: header_limit, bad_method, bad_target, bad_version, bad_field,
  // bad_value, bad_content_length, bad_transfer_encoding.
  size_t PutHead(std::string_view data, boost::system::error_code& ec);
  // Appends body bytes from `data` to body(): the bytes taken. Errors: body_limit,
  // bad_chunk, header_limit (trailers over 64 KiB).
  size_t PutBody(std::string_view data, boost::system::error_code& ec);

  bool header_done() const { return header_done_; }
  bool is_done() const { return done_; }
  // The bytes worth reading next: room for a typical head, the rest of a body of known
  // length, a piece of a chunked one.
  uint64_t ReadWant() const {
    if (!header_done_) return 2048;
    if (chunked_) return 16384;
    return content_length_.value_or(0) - body_.size();
  }

  // The request line: the method as written and as Beast's verb (unknown for others).
  std::string_view method_string() const { return method_; }
  boost::beast::http::verb method() const { return verb_; }
  std::string_view target() const { return target_; }
  unsigned version() const { return version_; }  // 10 or 11
  // Whether the connection may carry another request after this one.
  bool keep_alive() const { return keep_alive_; }
  std::optional<uint64_t> content_length() const { return content_length_; }
  bool chunked() const { return chunked_; }
  // Whether body bytes follow the head (chunked, or a length above 0).
  bool has_body() const { return chunked_ || content_length_.value_or(0) > 0; }

  const std::vector<HttpField>& fields() const { return fields_; }
  // The value of the first field called `name`, given in lower case (see NameIs).
  std::optional<std::string_view> Find(std::string_view name) const {
    return FindField(fields_, name);
  }

  const std::string& body() const { return body_; }

 private:
  bool ParseHead(std::string_view head, boost::system::error_code& ec);

  uint64_t body_limit_;
  std::string head_;         // the head's bytes; the views below point into it
  size_t head_scanned_ = 0;  // bytes of the head's start searched for its end so far
  std::vector<HttpField> fields_;
  std::string_view method_;
  std::string_view target_;
  boost::beast::http::verb verb_ = boost::beast::http::verb::unknown;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool header_done_ = false;
  bool done_ = false;
  std::optional<uint64_t> content_length_;
  bool chunked_ = false;
  ChunkDecoder chunks_;
  std::string body_;
};

}  // namespace gkm
