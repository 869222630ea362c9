#include "common/http_parse.h"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <cstring>

namespace gkm {

namespace beast = boost::beast;
namespace http = beast::http;
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

// Whether [p, end) holds a control character other than a tab (or DEL), which a field value
// may not (RFC 9110 5.5). Eight bytes at a time: a word with a byte below 0x20 or equal to
// 0x7f is looked at byte by byte (it may be a tab).
bool HasControl(const char* p, const char* end) {
  constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  auto bad = [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; };
  for (; end - p >= 8; p += 8) {
    uint64_t x;
    std::memcpy(&x, p, 8);
    uint64_t below = (x - 0x20 * kOnes) & ~x & kHigh;  // some byte < 0x20
    uint64_t del = x ^ (0x7f * kOnes);
    del = (del - kOnes) & ~del & kHigh;  // some byte == 0x7f
    if (below | del) {
      for (int i = 0; i < 8; ++i) {
        if (bad(static_cast<unsigned char>(p[i]))) return true;
      }
    }
  }
  for (; p < end; ++p) {
    if (bad(static_cast<unsigned char>(*p))) return true;
  }
  return false;
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

bool IsHttpTokenChar(unsigned char c) { return kTokenChars.is[c]; }

size_t FindHeadEnd(std::string_view data, size_t* scanned, size_t limit, error_code& ec) {
  ec = {};
  // `data` starts where it did last time and has grown: search only the new part (and the
  // three bytes before it, where the empty line may have begun).
  size_t end = data.find("\r\n\r\n", *scanned > 3 ? *scanned - 3 : 0);
  if (end == std::string_view::npos) {
    *scanned = data.size();
    ec = data.size() > limit ? http::error::header_limit : http::error::need_more;
    return 0;
  }
  if (end + 4 > limit) {
    ec = http::error::header_limit;
    return 0;
  }
  return end + 4;
}

bool ParseFieldLines(std::string_view lines, std::vector<HttpField>& fields, FieldFacts& facts,
                     error_code& ec) {
  // Each field line in one pass: token characters up to ':', optional white space, a value
  // without control characters, CRLF.
  const char* p = lines.data();
  const char* const end = p + lines.size();
  while (p < end) {
    const char* name_begin = p;
    while (p < end && kTokenChars.is[static_cast<unsigned char>(*p)]) ++p;
    if (p == name_begin || p == end || *p != ':') {
      ec = http::error::bad_field;  // also an obsolete folded line (it starts with a space)
      return false;
    }
    std::string_view name(name_begin, static_cast<size_t>(p - name_begin));
    ++p;
    while (p < end && (*p == ' ' || *p == '\t')) ++p;
    // The value runs to the line's CR, which must be followed by LF; no control characters
    // inside, white space around it is not part of it.
    const char* value_begin = p;
    const char* cr = static_cast<const char*>(std::memchr(p, '\r', static_cast<size_t>(end - p)));
    if (!cr || end - cr < 2 || cr[1] != '\n' || HasControl(value_begin, cr)) {
      ec = http::error::bad_value;  // a control character, or a lone CR
      return false;
    }
    const char* value_end = cr;
    while (value_end > value_begin && (value_end[-1] == ' ' || value_end[-1] == '\t')) --value_end;
    p = cr + 2;
    std::string_view value(value_begin, static_cast<size_t>(value_end - value_begin));
    fields.push_back({name, value});

    // Only three names matter for the framing; their lengths tell them apart cheaply.
    if (name.size() != 14 && name.size() != 17 && name.size() != 10) continue;
    if (NameIs(name, "content-length")) {
      auto n = ParseDecimal(value);
      if (!n || (facts.content_length && *facts.content_length != *n)) {
        ec = http::error::bad_content_length;
        return false;
      }
      facts.content_length = n;
    } else if (NameIs(name, "transfer-encoding")) {
      facts.has_transfer_encoding = true;
      facts.chunked = false;
      AnyListItem(value, [&](std::string_view t) {
        facts.chunked = beast::iequals(t, "chunked");  // the last coding decides
        return false;
      });
    } else if (NameIs(name, "connection")) {
      AnyListItem(value, [&](std::string_view t) {
        if (beast::iequals(t, "close")) facts.close = true;
        if (beast::iequals(t, "keep-alive")) facts.keep_alive = true;
        return false;
      });
    }
  }
  return true;
}

std::optional<std::string_view> FindField(const std::vector<HttpField>& fields,
                                          std::string_view name) {
  for (const auto& f : fields) {
    if (NameIs(f.name, name)) return f.value;
  }
  return std::nullopt;
}

std::pair<size_t, size_t> ChunkDecoder::Put(std::string_view data, char* out, size_t cap,
                                            error_code& ec) {
  ec = {};
  size_t at = 0;
  size_t produced = 0;
  while (at < data.size() && state_ != State::kDone) {
    std::string_view rest = data.substr(at);
    switch (state_) {
      case State::kSize: {
        size_t eol = rest.find("\r\n");
        if (eol == std::string_view::npos) {
          if (rest.size() > kChunkLineLimit) ec = http::error::bad_chunk;
          return {at, produced};
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
            return {at, produced};
          }
          size = size * 16 + static_cast<uint64_t>(d);
        }
        std::string_view ext = TrimOws(line.substr(i));
        if (i == 0 || (!ext.empty() && ext.front() != ';')) {
          ec = http::error::bad_chunk;
          return {at, produced};
        }
        at += eol + 2;
        remaining_ = size;
        state_ = size == 0 ? State::kTrailer : State::kData;
        break;
      }
      case State::kData: {
        if (produced == cap) return {at, produced};
        size_t n =
            static_cast<size_t>(std::min<uint64_t>({remaining_, rest.size(), cap - produced}));
        std::memcpy(out + produced, rest.data(), n);
        produced += n;
        at += n;
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::kDataEnd;
        break;
      }
      case State::kDataEnd: {
        if (rest.size() < 2) return {at, produced};
        if (rest[0] != '\r' || rest[1] != '\n') {
          ec = http::error::bad_chunk;
          return {at, produced};
        }
        at += 2;
        state_ = State::kSize;
        break;
      }
      case State::kTrailer: {
        size_t eol = rest.find("\r\n");
        if (eol == std::string_view::npos) {
          if (trailer_bytes_ + rest.size() > kTrailerLimit) ec = http::error::header_limit;
          return {at, produced};
        }
        trailer_bytes_ += eol + 2;
        if (trailer_bytes_ > kTrailerLimit) {
          ec = http::error::header_limit;
          return {at, produced};
        }
        at += eol + 2;
        if (eol == 0) state_ = State::kDone;  // the empty line ends the message
        break;
      }
      case State::kDone:
        break;
    }
  }
  return {at, produced};
}

}  // namespace gkm
