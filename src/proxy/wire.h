// Pure helpers of the native pass-through: what a request names (model, files, caches,
// upload sessions), which headers cross the proxy, the upload-URL rewrite, and the token
// counts a response reports. No I/O; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keypool/key_pool.h"

namespace gkm {

// The model a native path names (".../models/{model}:method", also tunedModels), read from
// the percent-decoded path as Google reads it, so that `gemini%2D2.5-flash` is
// `gemini-2.5-flash` to the pool (SPEC 8).
struct PathModel {
  std::string name = "-";  // "gemini-2.5-flash", "tunedModels/x"; "-" when the path names none
  std::string problem;     // not empty: the name is not a model name (answer 400 with this)
  bool ok() const { return problem.empty(); }
};
PathModel ModelOfPath(std::string_view path);

// The path with the model that ModelOfPath reads in it (under "/models/", not tunedModels)
// replaced by `model`, for --model-alias. The path goes out percent-decoded as Google reads
// it, with any byte outside [A-Za-z0-9-._~/:@] escaped again. The path itself when it names
// no such model.
std::string WithPathModel(std::string_view path, std::string_view model);

// The model name of an OpenAI-shaped body ("gemini-2.5-flash" or "models/gemini-2.5-flash"),
// checked like a path's: "models/" removed, no decoding (JSON is not URL-encoded). Same
// result shape as ModelOfPath.
PathModel ModelOfBody(std::string_view model);

// The Gemini method after the colon ("generateContent"), or "" for paths without one.
std::string_view MethodOfPath(std::string_view path);

// A short route label for metrics and logs: a known Gemini method ("generateContent"), or
// "models", "files", "upload", "cachedContents", "openai", "other". Always one of a fixed
// set, so that a client cannot grow the metrics with invented names or put bytes in them
// that are not UTF-8.
std::string RouteOfPath(std::string_view path);

// The query without any parameter that is a credential once percent-decoded: `key` (the
// client's token), `access_token`, `oauth_token`, in any case (`?k%65y=` too). A parameter
// whose name has a broken '%' escape is dropped as well. No leading '?'.
std::string StripKeyParam(std::string_view query);

// The percent-decoded value of the first parameter whose percent-decoded name is `name`, or
// nullopt. A value with a broken '%' escape is returned as it is.
std::optional<std::string> QueryParam(std::string_view query, std::string_view name);

// A resource that belongs to the project of the key that created it.
struct ResourceRef {
  std::string kind;  // "upload" | "file" | "cache"
  std::string name;  // upload id, "files/abc", "cachedContents/xyz"
  friend bool operator==(const ResourceRef&, const ResourceRef&) = default;
};

// Every resource the request names: in its path, the upload_id query parameter, or its
// body (fileData.fileUri, cachedContent; any spelling, any depth).
std::vector<ResourceRef> ReferencedResources(std::string_view path, std::string_view query,
                                             std::string_view body);

// The resources a creating call's response names ({"file":{"name":"files/x"}},
// {"name":"cachedContents/y"}), for binding them to the key that made them.
std::vector<ResourceRef> CreatedResources(std::string_view body);

// Rewrites the x-goog-upload-url Google returns so that it points at the proxy (origin
// like "http://127.0.0.1:5000") without the key. Sets *upload_id. nullopt when the URL
// cannot be read.
std::optional<std::string> RewriteUploadUrl(std::string_view url, std::string_view origin,
                                            std::string* upload_id);

// The last usageMetadata in a body or the tail of a stream (pretty-printed or not).
TokenUsage ScanUsage(std::string_view text);

// Replaces every occurrence of `secret` in `text` with `mask`; returns how many.
size_t RedactSecret(std::string& text, std::string_view secret, std::string_view mask);

}  // namespace gkm
