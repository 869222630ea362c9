// Internal helpers of translate/: bounded JSON parsing, value inspection, base64, UTF-8.
//
// Not part of the module's interface; the public headers are chat_request.h,
// chat_response.h, chat_stream.h, sse_reader.h, embeddings.h, models.h and error.h.
// Everything here is pure and thread-safe.
#pragma once

#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "translate/error.h"

namespace gkm::translate_internal {

namespace json = boost::json;

// Appends `s` as a JSON string (quoted, escaped as Boost.JSON's serializer does), without
// building a value: for translators that write their output as text.
void AppendJsonString(std::string& out, std::string_view s);

// Appends the decimal digits of `i` (as std::to_string writes them, without a temporary).
void AppendInt(std::string& out, int64_t i);

// Deepest nesting accepted in any JSON the module parses (client bodies, tool-call
// arguments, Gemini answers). Boost.JSON's parser enforces it without recursing.
inline constexpr size_t kMaxJsonDepth = 64;

// Parses `text` as one JSON value. On failure returns nullopt and sets *error to a short
// description that names the problem: "invalid UTF-8 at byte 17", "nested deeper than 64
// levels", "syntax error at byte 3", "incomplete JSON", ... The value's memory comes from
// `storage` (default: the heap); a value that is only read and dropped is cheapest with a
// json::monotonic_resource that outlives it (see ScratchJson).
std::optional<json::value> ParseJson(std::string_view text, std::string* error,
                                     json::storage_ptr storage = {});

// ParseJson's parts, for readers that drive Boost.JSON's basic_parser themselves (see
// gemini_event.h): its options; whether only whitespace follows the value's n bytes (else
// *error says where); the message for a parser's error after n bytes.
json::parse_options JsonParseOptions();
bool OnlySpaceAfter(std::string_view text, size_t n, std::string* error);
std::string JsonErrorText(std::string_view text, const json::error_code& ec, size_t n);

// The 400 for one field of a client's request: "path: what", param `path`.
TranslateError BadField(std::string path, std::string_view what);

// A client's request body as a JSON object, or the 400 that says why it is not one ("request
// body is not valid JSON: ...", "request body must be a JSON object, got array").
std::variant<json::value, TranslateError> ParseRequestObject(std::string_view text);

// The request's `model`: required (the 400's message adds `hint` when not empty), a string,
// "models/" removed, and a model name by common/names.h's rule; else the 400 naming `model`.
std::variant<std::string, TranslateError> RequestModel(const json::object& in,
                                                       std::string_view hint = {});

// Memory for a JSON value parsed, read and dropped within one call: a stack-sized first
// block, then larger blocks from the heap, all released at once when this goes out of
// scope (declare it before the value). Dropping a value stored here skips the walk that
// frees every node.
class ScratchJson {
 public:
  ScratchJson() : resource_(first_, sizeof first_) {}
  ScratchJson(const ScratchJson&) = delete;
  ScratchJson& operator=(const ScratchJson&) = delete;
  json::storage_ptr storage() { return json::storage_ptr(&resource_); }

 private:
  unsigned char first_[4096];
  json::monotonic_resource resource_;
};

// The offset of the first byte that is not part of well-formed UTF-8 (no overlong forms,
// no surrogates, nothing above U+10FFFF), or npos.
size_t FirstInvalidUtf8(std::string_view s);

// "null", "boolean", "number", "string", "array" or "object".
std::string_view KindName(const json::value& v);

// The value as an integer if it is one (an integral double such as 100.0 counts).
std::optional<int64_t> AsInt(const json::value& v);
// The value as a double if it is a number.
std::optional<double> AsDouble(const json::value& v);

// A non-negative integer field of a Gemini answer (int, or a numeric string); 0 otherwise.
int64_t CountField(const json::object& o, std::string_view key);
// The same for the value itself, and for the text of a string value.
int64_t CountValue(const json::value& v);
int64_t CountText(std::string_view s);

// Whether `s` is base64 (standard or URL-safe alphabet, padding optional but only at the
// end, no whitespace) and not empty.
bool IsBase64(std::string_view s);
std::string Base64Encode(std::string_view bytes);

// ASCII lower case.
std::string Lower(std::string_view s);
bool StartsWithNoCase(std::string_view s, std::string_view prefix);

// Shortens client-supplied text quoted in an error message.
std::string Quote(std::string_view s, size_t max = 64);

}  // namespace gkm::translate_internal
