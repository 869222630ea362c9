// Names a client sends (query parameter names, model names) as Google will read them, and
// text made safe for places that must hold valid UTF-8 (JSON, metrics labels, SQLite).
//
// Google percent-decodes query names and path segments before it looks at them, so the
// proxy compares them only after the same decoding: `?k%65y=` is `key=`, and
// `gemini%2D2.5-flash` is `gemini-2.5-flash` (SPEC 8). Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gkm {

// Decodes every %XX (either case of hex digit). '+' stays '+' (a path does not use form
// encoding, and the client token may contain it). nullopt when a '%' is not followed by two
// hex digits: such a name is not one Google would read as we do.
std::optional<std::string> PercentDecode(std::string_view in);

// Longest model name accepted (Google's are under 64 bytes).
inline constexpr size_t kMaxModelName = 128;

// Why `name` (already decoded, without "models/") is not a model name: empty when it is one,
// i.e. 1..kMaxModelName bytes of [A-Za-z0-9._-]. The text names the problem and shows the
// name with unsafe bytes escaped, for a 400 message.
std::string ModelNameProblem(std::string_view name);

// Whether `text` is valid UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool IsValidUtf8(std::string_view text);

// `text` with each byte that is not printable ASCII written as \xHH, cut at `max` bytes of
// input (then "..."): safe to show in any message, JSON string or log line.
std::string Printable(std::string_view text, size_t max = 64);

// `text` unchanged if it is valid UTF-8, else with each invalid byte replaced by U+FFFD.
std::string ValidUtf8(std::string_view text);

}  // namespace gkm
