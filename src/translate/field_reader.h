// The request translators' field readers (chat, Anthropic, Responses): typed access to a
// client's JSON that fails with the field's path ("messages[2].content"), so that every bad
// input becomes a 400 naming the field (SPEC 8). Internal to translate/.
//
// A reader that finds a wrong type, a missing required field or too many items throws
// Reject; each translator's entry point turns it into its TranslateError.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "translate/chat_request.h"  // kMaxItems
#include "translate/json_util.h"

namespace gkm::translate_internal {

struct Reject {
  std::string path;
  std::string what;
  int status = 400;
};

// A field's path, built as text only when an error names it: a node on the caller's stack
// that points to its parent ("messages" → [2] → "content" reads "messages[2].content"), so
// that reading a well-formed request costs no string per field. A Path refers to its parent
// and to the text it was made from: keep both alive while it is used (make children as
// named locals or as arguments of the call that reads them).
class Path {
 public:
  Path(const char* root) : key_(root) {}         // NOLINT(runtime/explicit)
  Path(std::string_view root) : key_(root) {}    // NOLINT(runtime/explicit)
  Path(const std::string& root) : key_(root) {}  // NOLINT(runtime/explicit)
  Path(const Path& parent, std::string_view key) : parent_(&parent), key_(key) {}
  Path(const Path& parent, size_t index) : parent_(&parent), index_(index), is_index_(true) {}

  // The child paths (refer to *this: see above).
  Path Field(std::string_view key) const { return Path(*this, key); }
  Path At(size_t index) const { return Path(*this, index); }

  std::string str() const {
    std::string s;
    Append(s);
    return s;
  }

 private:
  void Append(std::string& s) const {
    if (parent_ != nullptr) parent_->Append(s);
    if (is_index_) {
      s += '[';
      s += std::to_string(index_);
      s += ']';
    } else if (parent_ == nullptr || s.empty()) {
      s += key_;
    } else {
      s += '.';
      s += key_;
    }
  }

  const Path* parent_ = nullptr;
  std::string_view key_;
  size_t index_ = 0;
  bool is_index_ = false;
};

[[noreturn]] inline void Fail(const Path& path, std::string what, int status = 400) {
  throw Reject{path.str(), std::move(what), status};
}

inline std::string Sub(const std::string& path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return path + "." + std::string(key);
}

inline std::string Idx(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

[[noreturn]] inline void WrongType(const Path& path, std::string_view expected,
                                   const json::value& got) {
  Fail(path, "expected " + std::string(expected) + ", got " + std::string(KindName(got)));
}

// A field that is absent or null reads as absent.
inline const json::value* Get(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return nullptr;
  return v;
}

inline const json::object& AsObject(const json::value& v, const Path& path) {
  if (!v.is_object()) WrongType(path, "an object", v);
  return v.get_object();
}

// An array of at most kMaxItems items.
inline const json::array& AsArray(const json::value& v, const Path& path) {
  if (!v.is_array()) WrongType(path, "an array", v);
  const json::array& a = v.get_array();
  if (a.size() > kMaxItems) {
    Fail(path,
         "more than " + std::to_string(kMaxItems) + " items (" + std::to_string(a.size()) + ")");
  }
  return a;
}

inline std::string_view AsString(const json::value& v, const Path& path) {
  if (!v.is_string()) WrongType(path, "a string", v);
  return v.get_string();
}

inline std::optional<std::string_view> OptString(const json::object& o, std::string_view key,
                                                 const Path& path) {
  const json::value* v = Get(o, key);
  if (v == nullptr) return std::nullopt;
  return AsString(*v, Path(path, key));
}

inline std::string_view ReqString(const json::object& o, std::string_view key, const Path& path) {
  const json::value* v = Get(o, key);
  if (v == nullptr) Fail(Path(path, key), "required");
  return AsString(*v, Path(path, key));
}

inline std::optional<bool> OptBool(const json::object& o, std::string_view key) {
  const json::value* v = Get(o, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_bool()) WrongType(key, "a boolean", *v);
  return v->get_bool();
}

// An integer in [min, max].
inline std::optional<int64_t> OptInt(const json::object& o, std::string_view key, const Path& path,
                                     int64_t min, int64_t max) {
  const json::value* v = Get(o, key);
  if (v == nullptr) return std::nullopt;
  const std::optional<int64_t> i = AsInt(*v);
  const Path p(path, key);
  if (!i) WrongType(p, "an integer", *v);
  if (*i < min || *i > max) {
    Fail(p, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                std::to_string(*i));
  }
  return i;
}

inline std::optional<int64_t> OptInt(const json::object& o, std::string_view key, int64_t min,
                                     int64_t max) {
  return OptInt(o, key, Path(""), min, max);
}

// Copies a number parameter into generationConfig after checking its type.
inline void CopyNumber(const json::object& in, std::string_view key, json::object& gen,
                       std::string_view gemini_key) {
  const json::value* v = Get(in, key);
  if (v == nullptr) return;
  if (!AsDouble(*v)) WrongType(key, "a number", *v);
  gen[gemini_key] = *v;
}

// Gemini parts, in `sp`'s memory (a translator that builds its output in a monotonic
// resource passes it, so that parts move into its arrays instead of being copied).
inline json::object TextPart(std::string_view text, const json::storage_ptr& sp = {}) {
  json::object p(sp);
  p["text"] = text;
  return p;
}

// Inline data; "image/jpg", which clients send, is Gemini's "image/jpeg".
inline json::object Inline(std::string_view mime, std::string_view data,
                           const json::storage_ptr& sp = {}) {
  json::object in(sp);
  in["mimeType"] = mime == "image/jpg" ? std::string_view("image/jpeg") : mime;
  in["data"] = data;
  json::object p(sp);
  p["inlineData"] = std::move(in);
  return p;
}

// A data: URL (data:<mime>[;param]*;base64,<data>): its media type (lower case) and data,
// checked; else the 400 for `path`.
struct DataUrlParts {
  std::string mime;
  std::string_view data;
};
inline DataUrlParts SplitDataUrl(std::string_view url, const Path& path) {
  const size_t comma = url.find(',');
  if (comma == std::string_view::npos) Fail(path, "malformed data: URL (no comma)");
  const std::string meta = Lower(url.substr(5, comma - 5));
  if (!meta.ends_with(";base64")) Fail(path, "only base64 data: URLs are supported");
  std::string mime = meta.substr(0, meta.find(';'));
  while (!mime.empty() && mime.back() == ' ') mime.pop_back();
  while (!mime.empty() && mime.front() == ' ') mime.erase(0, 1);
  if (mime.empty() || mime.find('/') == std::string::npos) {
    Fail(path, "data: URL without a media type");
  }
  const std::string_view data = url.substr(comma + 1);
  if (data.empty()) Fail(path, "empty data: URL");
  if (!IsBase64(data)) Fail(path, "invalid base64 data");
  return DataUrlParts{std::move(mime), data};
}

// A data: URL as an inline-data part (in `sp`'s memory).
inline json::object DataUrl(std::string_view url, const Path& path,
                            const json::storage_ptr& sp = {}) {
  const DataUrlParts d = SplitDataUrl(url, path);
  return Inline(d.mime, d.data, sp);
}

// Appends a Gemini content to `contents`, merged into the last one when the role is the
// same (Gemini wants turns to alternate).
inline void AppendContent(json::array& contents, std::string_view role, json::array parts) {
  if (parts.empty()) return;
  if (!contents.empty()) {
    json::object& last = contents.back().get_object();
    if (last["role"].get_string() == role) {
      json::array& lp = last["parts"].get_array();
      for (json::value& p : parts) lp.push_back(std::move(p));
      return;
    }
  }
  json::object c(contents.storage());
  c["role"] = role;
  c["parts"] = std::move(parts);
  contents.push_back(std::move(c));
}

}  // namespace gkm::translate_internal
