#include "translate/json_util.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/names.h"

namespace gkm::translate_internal {

TranslateError BadField(std::string path, std::string_view what) {
  std::string message = path + ": " + std::string(what);
  return TranslateError{400, std::move(message), std::move(path)};
}

std::variant<json::value, TranslateError> ParseRequestObject(std::string_view text) {
  std::string err;
  std::optional<json::value> root = ParseJson(text, &err);
  if (!root) return TranslateError{400, "request body is not valid JSON: " + err, ""};
  if (!root->is_object()) {
    return TranslateError{
        400, "request body must be a JSON object, got " + std::string(KindName(*root)), ""};
  }
  return std::move(*root);
}

std::variant<std::string, TranslateError> RequestModel(const json::object& in,
                                                       std::string_view hint) {
  auto bad = [](std::string_view what) { return BadField("model", what); };
  const json::value* model = in.if_contains("model");
  if (model == nullptr || model->is_null()) {
    return bad(hint.empty() ? std::string("required") : "required: " + std::string(hint));
  }
  if (!model->is_string()) return bad("expected a string, got " + std::string(KindName(*model)));
  std::string_view m = model->get_string();
  if (m.starts_with("models/")) m.remove_prefix(7);
  // The one check every route applies before the pool sees a name (common/names.h).
  if (std::string problem = ModelNameProblem(m); !problem.empty()) return bad(problem);
  return std::string(m);
}

namespace {

// Whether any byte of `w` is a quote, a backslash or a control character (below 0x20).
bool NeedsEscape(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  const uint64_t quote = w ^ (kOnes * '"');
  const uint64_t slash = w ^ (kOnes * '\\');
  const uint64_t zero =
      ((quote - kOnes) & ~quote) | ((slash - kOnes) & ~slash) | ((w - kOnes * 0x20) & ~w);
  return (zero & kHigh) != 0;
}

// Whether any byte of `s` is to be escaped: eight bytes at a time, the last word overlapping
// the one before it, or a short string padded with a letter.
bool HasEscape(std::string_view s) {
  const char* p = s.data();
  const size_t n = s.size();
  uint64_t w;
  if (n == 0) return false;
  if (n < 8) {
    w = 0x6161616161616161ull;  // "aaaaaaaa"
    std::memcpy(&w, p, n);
    return NeedsEscape(w);
  }
  for (size_t i = 0; i + 8 < n; i += 8) {
    std::memcpy(&w, p + i, 8);
    if (NeedsEscape(w)) return true;
  }
  std::memcpy(&w, p + n - 8, 8);
  return NeedsEscape(w);
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  if (HasEscape(s)) {
    out += json::serialize(s);  // something to escape: the serializer's rules
    return;
  }
  out.push_back('"');
  out.append(s.data(), s.size());
  out.push_back('"');
}

void AppendInt(std::string& out, int64_t i) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, i);
  out.append(buf, r.ptr);
}

size_t FirstInvalidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // ASCII, the common case, eight bytes at a time.
    while (n - i >= 8) {
      uint64_t word;
      std::memcpy(&word, p + i, 8);
      if (word & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (n - i < len) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

json::parse_options JsonParseOptions() {
  json::parse_options opts;
  opts.max_depth = kMaxJsonDepth;
  // FirstInvalidUtf8 has checked the whole text already: not again string by string.
  opts.allow_invalid_utf8 = true;
  return opts;
}

bool OnlySpaceAfter(std::string_view text, size_t n, std::string* error) {
  // write_some stops after one complete value; anything but whitespace after it is junk.
  for (size_t i = n; i < text.size(); ++i) {
    const char c = text[i];
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
      *error = "unexpected data after the JSON value at byte " + std::to_string(i);
      return false;
    }
  }
  return true;
}

std::string JsonErrorText(std::string_view text, const json::error_code& ec, size_t n) {
  if (ec == json::error::too_deep) {
    return "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
  }
  if (ec == json::error::incomplete || n >= text.size()) {
    return text.empty() ? std::string("empty body") : std::string("incomplete JSON");
  }
  return ec.message() + " at byte " + std::to_string(n);
}

std::optional<json::value> ParseJson(std::string_view text, std::string* error,
                                     json::storage_ptr storage) {
  const size_t bad = FirstInvalidUtf8(text);
  if (bad != std::string_view::npos) {
    *error = "invalid UTF-8 at byte " + std::to_string(bad);
    return std::nullopt;
  }
  try {
    // The parser's own stack in a buffer of this frame: no allocation for it on each event.
    alignas(json::value) unsigned char temp[2048];
    json::parser p(json::storage_ptr(), JsonParseOptions(), temp, sizeof temp);
    p.reset(std::move(storage));
    boost::system::error_code ec;
    size_t n = p.write_some(text.data(), text.size(), ec);
    if (!ec) {
      if (!OnlySpaceAfter(text, n, error)) return std::nullopt;
      return p.release();
    }
    *error = JsonErrorText(text, ec, n);
  } catch (const std::exception& e) {  // allocation failure, mostly
    *error = std::string("unreadable JSON: ") + e.what();
  }
  return std::nullopt;
}

std::string_view KindName(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "number";
    case json::kind::string:
      return "string";
    case json::kind::array:
      return "array";
    case json::kind::object:
      return "object";
  }
  return "value";
}

std::optional<int64_t> AsInt(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) {
    if (v.get_uint64() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return std::nullopt;
    }
    return static_cast<int64_t>(v.get_uint64());
  }
  if (v.is_double()) {
    const double d = v.get_double();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) {
      return static_cast<int64_t>(d);
    }
  }
  return std::nullopt;
}

std::optional<double> AsDouble(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  if (v.is_double()) return v.get_double();
  return std::nullopt;
}

int64_t CountText(std::string_view s) {
  int64_t n = 0;
  if (s.empty() || s.size() > 18) return 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + (c - '0');
  }
  return n;
}

int64_t CountValue(const json::value& v) {
  if (auto i = AsInt(v)) return *i > 0 ? *i : 0;
  // int64 fields may come as strings in proto JSON
  if (v.is_string()) return CountText(v.get_string());
  return 0;
}

int64_t CountField(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v == nullptr ? 0 : CountValue(*v);
}

bool IsBase64(std::string_view s) {
  if (s.empty()) return false;
  size_t data = s.size();
  while (data > 0 && s[data - 1] == '=') --data;
  const size_t pad = s.size() - data;
  if (pad > 2 || data == 0) return false;
  for (size_t i = 0; i < data; ++i) {
    const char c = s[i];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '/' || c == '-' || c == '_';
    if (!ok) return false;
  }
  if (data % 4 == 1) return false;  // a lone sextet cannot encode a byte
  if (pad > 0 && s.size() % 4 != 0) return false;
  return true;
}

std::string Base64Encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{p[i]} << 16;
    if (rest == 2) v |= uint32_t{p[i + 1]} << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && Lower(s.substr(0, prefix.size())) == Lower(prefix);
}

std::string Quote(std::string_view s, size_t max) {
  std::string out = "'";
  if (s.size() <= max) {
    out += s;
  } else {
    size_t cut = max;  // do not cut a UTF-8 sequence in half
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    out += s.substr(0, cut);
    out += "...";
  }
  out += "'";
  return out;
}

}  // namespace gkm::translate_internal
