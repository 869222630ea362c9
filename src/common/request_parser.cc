#include "common/request_parser.h"

#include <algorithm>
#include <boost/beast/http/error.hpp>

namespace gkm {

namespace http = boost::beast::http;
using boost::system::error_code;

size_t RequestParser::PutHead(std::string_view data, error_code& ec) {
  ec = {};
  // Empty lines before the request line are skipped (RFC 9112 2.2). Once a byte other than
  // such a line has arrived, where the head starts no longer moves as `data` grows.
  size_t skip = 0;
  while (data.size() - skip >= 2 && data[skip] == '\r' && data[skip + 1] == '\n') skip += 2;
  if (skip > kHeadLimit) {
    ec = http::error::header_limit;
    return 0;
  }
  if (data.size() - skip < 2) {
    ec = http::error::need_more;
    return 0;
  }
  std::string_view rest = data.substr(skip);
  size_t length = FindHeadEnd(rest, &head_scanned_, kHeadLimit - skip, ec);
  if (ec) return 0;
  head_.assign(rest.data(), length - 2);  // every line with its CRLF
  if (!ParseHead(head_, ec)) return 0;
  header_done_ = true;
  return skip + length;
}

bool RequestParser::ParseHead(std::string_view head, error_code& ec) {
  // Request line: method SP target SP HTTP/1.x CRLF.
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  size_t sp = line.find(' ');
  std::string_view method = line.substr(0, sp);
  if (method.empty() || sp == std::string_view::npos ||
      !std::all_of(method.begin(), method.end(),
                   [](char c) { return IsHttpTokenChar(static_cast<unsigned char>(c)); })) {
    ec = http::error::bad_method;
    return false;
  }
  line.remove_prefix(sp + 1);
  sp = line.find(' ');
  std::string_view target = line.substr(0, sp);
  if (target.empty() || sp == std::string_view::npos ||
      std::any_of(target.begin(), target.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7f;
      })) {
    ec = sp == std::string_view::npos && !target.empty() ? http::error::bad_version
                                                         : http::error::bad_target;
    return false;
  }
  std::string_view version = line.substr(sp + 1);
  if (version == "HTTP/1.1") {
    version_ = 11;
  } else if (version == "HTTP/1.0") {
    version_ = 10;
  } else {
    ec = http::error::bad_version;
    return false;
  }
  method_ = method;
  target_ = target;
  verb_ = http::string_to_verb(method);

  fields_.clear();
  fields_.reserve(16);
  FieldFacts facts;
  if (!ParseFieldLines(head.substr(eol + 2), fields_, facts, ec)) return false;
  if (facts.has_transfer_encoding) {
    // Both framings, or a coding the proxy cannot find the end of: the body's length would
    // be a guess, which is how requests are smuggled past a proxy (RFC 9112 6.3).
    if (facts.content_length || !facts.chunked) {
      ec = http::error::bad_transfer_encoding;
      return false;
    }
    chunked_ = true;
  }
  content_length_ = facts.content_length;
  keep_alive_ = facts.PersistsFor(version_ == 11);
  // HTTP/1.0 knows no transfer codings: its framing is suspect, the connection ends after
  // this request (RFC 9112 6.1).
  if (version_ == 10 && facts.has_transfer_encoding) keep_alive_ = false;
  done_ = !has_body();
  return true;
}

size_t RequestParser::PutBody(std::string_view data, error_code& ec) {
  ec = {};
  if (done_ || data.empty()) return 0;
  if (!chunked_) {
    const uint64_t length = *content_length_;
    if (length > body_limit_) {
      ec = http::error::body_limit;
      return 0;
    }
    // A declared length is a claim, not bytes: reserve what a normal body needs and let a
    // longer one grow as it actually arrives.
    constexpr uint64_t kReserveLimit = 1 << 20;
    if (body_.empty()) body_.reserve(static_cast<size_t>(std::min(length, kReserveLimit)));
    size_t n = static_cast<size_t>(std::min<uint64_t>(length - body_.size(), data.size()));
    body_.append(data.data(), n);
    done_ = body_.size() == length;
    return n;
  }
  // Decoded bytes are never more than coded ones: decode straight into the body's tail.
  size_t old = body_.size();
  body_.resize(old + data.size());
  auto [used, produced] = chunks_.Put(data, body_.data() + old, data.size(), ec);
  body_.resize(old + produced);
  if (!ec && body_.size() > body_limit_) {
    body_.resize(static_cast<size_t>(body_limit_));
    ec = http::error::body_limit;
  }
  done_ = !ec && chunks_.done();
  return used;
}

}  // namespace gkm
