#include "upstream/answer_parser.h"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <cstring>

namespace gkm {

namespace http = boost::beast::http;
using boost::system::error_code;

namespace {

constexpr size_t kChunkLineLimit = 4096;  // a chunk-size line with its extensions
constexpr size_t kTrailerLimit = 64 * 1024;

// RFC 9110 tchar, as a table.
struct TokenChars {
  bool is[256] = {};
  constexpr TokenChars() {
    for (int c = '0'; c <= '9'; ++c) is[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) is[c] = is[c - 'a' + 'A'] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) is[static_cast<unsigned char>(c)] = true;
  }
};
constexpr TokenChars kTokenChars;

bool IsTokenChar(unsigned char c) { return kTokenChars.is[c]; }

std::string_view TrimOws(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Calls f(token) for each comma-separated token of a field value, trimmed.
template <class F>
void ForEachToken(std::string_view v, F&& f) {
  while (!v.empty()) {
    size_t comma = v.find(',');
    std::string_view t = TrimOws(v.substr(0, comma));
    if (!t.empty()) f(t);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}

std::optional<uint64_t> ParseDecimal(std::string_view v) {
  if (v.empty() || v.size() > 19) return std::nullopt;
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

}  // namespace

size_t AnswerParser::PutHead(std::string_view data, error_code& ec) {
  ec = {};
  // `data` starts where it did last time and has grown: search only the new part (and the
  // three bytes before it, where the empty line may have begun).
  size_t end = data.find("\r\n\r\n", head_scanned_ > 3 ? head_scanned_ - 3 : 0);
  if (end == std::string_view::npos) {
    head_scanned_ = data.size();
    ec = data.size() > kHeadLimit ? http::error::header_limit : http::error::need_more;
    return 0;
  }
  if (end + 4 > kHeadLimit) {
    ec = http::error::header_limit;
    return 0;
  }
  head_.assign(data.data(), end + 2);  // every line with its CRLF
  if (!ParseHead(head_, ec)) return 0;
  header_done_ = true;
  return end + 4;
}

bool AnswerParser::ParseHead(std::string_view head, error_code& ec) {
  // Status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  if (line.size() < 12 || !line.starts_with("HTTP/1.") || (line[7] != '0' && line[7] != '1') ||
      line[8] != ' ') {
    ec = http::error::bad_version;
    return false;
  }
  const bool http11 = line[7] == '1';
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') {
      ec = http::error::bad_status;
      return false;
    }
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100 || (line.size() > 12 && line[12] != ' ')) {
    ec = http::error::bad_status;
    return false;
  }
  status_ = status;
  keep_alive_ = http11;

  bool chunked = false, has_te = false;
  fields_.clear();
  fields_.reserve(16);
  // Each field line in one pass: token characters up to ':', optional white space, a value
  // without control characters, CRLF. The head ends with a CRLF (PutHead keeps it).
  const char* p = head.data() + eol + 2;
  const char* const end = head.data() + head.size();
  while (p < end) {
    const char* name_begin = p;
    while (p < end && IsTokenChar(static_cast<unsigned char>(*p))) ++p;
    if (p == name_begin || p == end || *p != ':') {
      ec = http::error::bad_field;  // also an obsolete folded line (it starts with a space)
      return false;
    }
    std::string_view name(name_begin, static_cast<size_t>(p - name_begin));
    ++p;
    while (p < end && (*p == ' ' || *p == '\t')) ++p;
    const char* value_begin = p;
    const char* value_end = p;
    for (; p < end; ++p) {
      const auto c = static_cast<unsigned char>(*p);
      if (c == ' ' || c == '\t') continue;
      if (c < 0x20 || c == 0x7f) break;
      value_end = p + 1;
    }
    if (p + 1 >= end || p[0] != '\r' || p[1] != '\n') {
      ec = http::error::bad_value;  // a control character, or a lone CR
      return false;
    }
    p += 2;
    std::string_view value(value_begin, static_cast<size_t>(value_end - value_begin));
    fields_.push_back({name, value});

    // Only three names matter for the framing; their lengths tell them apart cheaply.
    namespace beast = boost::beast;
    if (name.size() != 14 && name.size() != 17 && name.size() != 10) continue;
    if (beast::iequals(name, "content-length")) {
      auto n = ParseDecimal(value);
      if (!n || (content_length_ && *content_length_ != *n)) {
        ec = http::error::bad_content_length;
        return false;
      }
      content_length_ = n;
    } else if (beast::iequals(name, "transfer-encoding")) {
      has_te = true;
      chunked = false;
      ForEachToken(value, [&](std::string_view t) { chunked = beast::iequals(t, "chunked"); });
    } else if (beast::iequals(name, "connection")) {
      ForEachToken(value, [&](std::string_view t) {
        if (beast::iequals(t, "close")) keep_alive_ = false;
        if (!http11 && beast::iequals(t, "keep-alive")) keep_alive_ = true;
      });
    }
  }

  if (no_body_ || status_ < 200 || status_ == 204 || status_ == 304) {
    framing_ = Framing::kNone;
  } else if (has_te) {
    content_length_.reset();  // Transfer-Encoding overrides a length (RFC 9112 6.3)
    framing_ = chunked ? Framing::kChunked : Framing::kClose;
    if (!chunked) keep_alive_ = false;
  } else if (content_length_) {
    framing_ = Framing::kLength;
    remaining_ = *content_length_;
  } else {
    framing_ = Framing::kClose;
    keep_alive_ = false;
  }
  done_ = framing_ == Framing::kNone || (framing_ == Framing::kLength && remaining_ == 0);
  return true;
}

std::pair<size_t, size_t> AnswerParser::PutBody(std::string_view data, char* out, size_t cap,
                                                error_code& ec) {
  ec = {};
  if (done_ || data.empty() || cap == 0) return {0, 0};
  switch (framing_) {
    case Framing::kNone:
      return {0, 0};
    case Framing::kLength: {
      size_t n = static_cast<size_t>(std::min<uint64_t>({remaining_, data.size(), cap}));
      std::memcpy(out, data.data(), n);
      remaining_ -= n;
      done_ = remaining_ == 0;
      return {n, n};
    }
    case Framing::kClose: {
      size_t n = std::min(data.size(), cap);
      std::memcpy(out, data.data(), n);
      return {n, n};
    }
    case Framing::kChunked: {
      size_t produced = 0;
      size_t used = PutChunked(data, out, cap, &produced, ec);
      return {used, produced};
    }
  }
  return {0, 0};
}

size_t AnswerParser::PutChunked(std::string_view data, char* out, size_t cap, size_t* produced,
                                error_code& ec) {
  size_t at = 0;
  while (at < data.size() && !done_) {
    std::string_view rest = data.substr(at);
    switch (chunk_) {
      case Chunk::kSize: {
        size_t eol = rest.find("\r\n");
        if (eol == std::string_view::npos) {
          if (rest.size() > kChunkLineLimit) ec = http::error::bad_chunk;
          return at;
        }
        std::string_view line = rest.substr(0, eol);
        uint64_t size = 0;
        size_t i = 0;
        for (; i < line.size(); ++i) {
          char c = line[i];
          int d = c >= '0' && c <= '9'                     ? c - '0'
                  : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10
                                                           : -1;
          if (d < 0) break;
          if (size >> 56) {
            ec = http::error::bad_chunk;  // too large
            return at;
          }
          size = size * 16 + static_cast<uint64_t>(d);
        }
        std::string_view ext = TrimOws(line.substr(i));
        if (i == 0 || (!ext.empty() && ext.front() != ';')) {
          ec = http::error::bad_chunk;
          return at;
        }
        at += eol + 2;
        remaining_ = size;
        chunk_ = size == 0 ? Chunk::kTrailer : Chunk::kData;
        break;
      }
      case Chunk::kData: {
        if (*produced == cap) return at;
        size_t n =
            static_cast<size_t>(std::min<uint64_t>({remaining_, rest.size(), cap - *produced}));
        std::memcpy(out + *produced, rest.data(), n);
        *produced += n;
        at += n;
        remaining_ -= n;
        if (remaining_ == 0) chunk_ = Chunk::kDataEnd;
        break;
      }
      case Chunk::kDataEnd: {
        if (rest.size() < 2) return at;
        if (rest[0] != '\r' || rest[1] != '\n') {
          ec = http::error::bad_chunk;
          return at;
        }
        at += 2;
        chunk_ = Chunk::kSize;
        break;
      }
      case Chunk::kTrailer: {
        size_t eol = rest.find("\r\n");
        if (eol == std::string_view::npos) {
          if (trailer_bytes_ + rest.size() > kTrailerLimit) ec = http::error::header_limit;
          return at;
        }
        trailer_bytes_ += eol + 2;
        if (trailer_bytes_ > kTrailerLimit) {
          ec = http::error::header_limit;
          return at;
        }
        at += eol + 2;
        if (eol == 0) done_ = true;  // the empty line ends the message; trailers are dropped
        break;
      }
    }
  }
  return at;
}

void AnswerParser::PutEof(error_code& ec) {
  ec = {};
  if (done_) return;
  if (header_done_ && framing_ == Framing::kClose) {
    done_ = true;
    return;
  }
  ec = http::error::partial_message;
}

}  // namespace gkm
