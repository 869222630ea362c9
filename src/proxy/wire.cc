#include "proxy/wire.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "common/names.h"

namespace gkm {
namespace {

bool IsIdChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

// Finds "<prefix><id>" occurrences where the prefix starts at a boundary ('/', '"', start).
void CollectNames(std::string_view text, std::string_view prefix, std::string_view kind,
                  std::vector<ResourceRef>& out) {
  for (size_t at = text.find(prefix); at != std::string_view::npos;
       at = text.find(prefix, at + 1)) {
    if (at > 0) {
      char before = text[at - 1];
      if (before != '/' && before != '"' && before != ' ' && before != '\'') continue;
    }
    size_t start = at + prefix.size();
    size_t end = start;
    while (end < text.size() && IsIdChar(text[end])) ++end;
    if (end == start) continue;
    ResourceRef ref{std::string(kind), std::string(text.substr(at, end - at))};
    if (std::find(out.begin(), out.end(), ref) == out.end()) out.push_back(std::move(ref));
  }
}

// The number after a key's closing quote: white space, ':', white space, digits (up to 15;
// a quoted number too). nullopt when something else follows.
std::optional<int64_t> NumberAt(std::string_view text, size_t i) {
  while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' ||
                             text[i] == '\t' || text[i] == ':' || text[i] == '"')) {
    ++i;
  }
  int64_t n = 0;
  size_t digits = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && digits < 15) {
    n = n * 10 + (text[i] - '0');
    ++i;
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  return n;
}

// The end of the JSON string whose opening quote is at text[open]: the index of its closing
// quote (escaped quotes skipped), or npos.
size_t StringEnd(std::string_view text, size_t open) {
  for (size_t q = text.find('"', open + 1); q != std::string_view::npos;
       q = text.find('"', q + 1)) {
    size_t backslashes = 0;
    while (backslashes < q - open - 1 && text[q - 1 - backslashes] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return q;
  }
  return std::string_view::npos;
}

// The percent-decoded form of `raw`: `raw` itself when it has no escape (no copy: nearly
// every path and name), else the decoded bytes kept in *storage; nullopt for a broken escape.
std::optional<std::string_view> Decoded(std::string_view raw, std::string* storage) {
  if (raw.find('%') == std::string_view::npos) return raw;
  std::optional<std::string> decoded = PercentDecode(raw);
  if (!decoded) return std::nullopt;
  *storage = std::move(*decoded);
  return std::string_view(*storage);
}

}  // namespace

PathModel ModelOfPath(std::string_view raw) {
  PathModel out;
  std::string storage;
  std::optional<std::string_view> decoded = Decoded(raw, &storage);
  if (!decoded) {
    out.problem = "the request path has a '%' that is not followed by two hex digits";
    return out;
  }
  std::string_view path = *decoded;
  for (std::string_view marker :
       {std::string_view("/models/"), std::string_view("/tunedModels/")}) {
    size_t at = path.find(marker);
    if (at == std::string_view::npos) continue;
    std::string_view rest = path.substr(at + marker.size());
    size_t colon = rest.find(':');
    if (colon == std::string_view::npos || colon == 0) return out;
    std::string_view model = rest.substr(0, colon);
    if (model.find('/') != std::string_view::npos) return out;
    out.problem = ModelNameProblem(model);
    if (!out.ok()) return out;
    out.name = marker == "/tunedModels/" ? "tunedModels/" + std::string(model) : std::string(model);
    return out;
  }
  return out;
}

std::string WithPathModel(std::string_view raw, std::string_view model) {
  std::string storage;
  std::optional<std::string_view> decoded = Decoded(raw, &storage);
  if (!decoded) return std::string(raw);
  std::string_view path = *decoded;
  constexpr std::string_view kMarker = "/models/";
  size_t at = path.find(kMarker);
  if (at == std::string_view::npos) return std::string(raw);
  size_t start = at + kMarker.size();
  size_t colon = path.find(':', start);
  if (colon == std::string_view::npos || colon == start) return std::string(raw);
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(path.size() + model.size());
  auto append = [&out](std::string_view part) {
    for (char c : part) {
      if (IsIdChar(c) || c == '~' || c == '/' || c == ':' || c == '@') {
        out += c;
      } else {
        auto b = static_cast<unsigned char>(c);
        out += '%';
        out += kHex[b >> 4];
        out += kHex[b & 15];
      }
    }
  };
  append(path.substr(0, start));
  append(model);
  append(path.substr(colon));
  return out;
}

PathModel ModelOfBody(std::string_view model) {
  PathModel out;
  if (model.starts_with("models/")) model.remove_prefix(7);
  out.problem = ModelNameProblem(model);
  if (out.ok()) out.name = std::string(model);
  return out;
}

std::string_view MethodOfPath(std::string_view path) {
  // One pass from the end: a ':' before any '/' starts the method.
  for (size_t i = path.size(); i > 0; --i) {
    char c = path[i - 1];
    if (c == ':') return path.substr(i);
    if (c == '/') return {};
  }
  return {};
}

std::string RouteOfPath(std::string_view raw) {
  // The methods of the Gemini API (v1, v1beta, v1alpha); any other is labelled by its
  // resource, so the set of labels stays fixed.
  static constexpr std::array<std::string_view, 24> kMethods = {"generateContent",
                                                                "streamGenerateContent",
                                                                "countTokens",
                                                                "embedContent",
                                                                "batchEmbedContents",
                                                                "batchGenerateContent",
                                                                "asyncBatchEmbedContent",
                                                                "generateAnswer",
                                                                "predict",
                                                                "predictLongRunning",
                                                                "bidiGenerateContent",
                                                                "countTextTokens",
                                                                "countMessageTokens",
                                                                "embedText",
                                                                "batchEmbedText",
                                                                "generateText",
                                                                "generateMessage",
                                                                "transferOwnership",
                                                                "download",
                                                                "cancel",
                                                                "query",
                                                                "batchCreate",
                                                                "batchUpdate",
                                                                "batchDelete"};
  std::string storage;
  std::string_view path = Decoded(raw, &storage).value_or(raw);
  if (path.starts_with("/upload/")) return "upload";
  if (path.find("/openai/") != std::string_view::npos) return "openai";
  std::string_view method = MethodOfPath(path);
  if (std::find(kMethods.begin(), kMethods.end(), method) != kMethods.end()) {
    return std::string(method);
  }
  if (path.find("/files") != std::string_view::npos) return "files";
  if (path.find("/cachedContents") != std::string_view::npos) return "cachedContents";
  if (path.find("/models") != std::string_view::npos) return "models";
  return "other";
}

namespace {

// Splits "name=value" (or "name") and percent-decodes the name (kept in *storage if it
// had escapes); nullopt when the name has a broken escape.
std::optional<std::string_view> DecodedName(std::string_view param, std::string_view* value,
                                            std::string* storage) {
  size_t eq = param.find('=');
  *value = eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
  return Decoded(param.substr(0, eq), storage);
}

bool IsCredentialName(std::string_view name) {
  static constexpr std::string_view kCredentials[] = {"key", "access_token", "oauth_token"};
  for (std::string_view c : kCredentials) {
    if (name.size() == c.size() &&
        std::equal(name.begin(), name.end(), c.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == b;
        })) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string StripKeyParam(std::string_view query) {
  std::string out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (param.empty()) continue;
    std::string_view value;
    std::string storage;
    std::optional<std::string_view> name = DecodedName(param, &value, &storage);
    if (!name || IsCredentialName(*name)) continue;
    if (!out.empty()) out += '&';
    out += param;
  }
  return out;
}

std::optional<std::string> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    // Most parameters are not escaped: compare the raw form first.
    if (param.size() > name.size() && param.starts_with(name) && param[name.size()] == '=') {
      std::string_view value = param.substr(name.size() + 1);
      return PercentDecode(value).value_or(std::string(value));
    }
    if (param.find('%') == std::string_view::npos) continue;
    std::string_view value;
    std::string storage;
    std::optional<std::string_view> decoded = DecodedName(param, &value, &storage);
    if (decoded && *decoded == name && param.find('=') != std::string_view::npos) {
      return PercentDecode(value).value_or(std::string(value));
    }
  }
  return std::nullopt;
}

std::vector<ResourceRef> ReferencedResources(std::string_view path, std::string_view query,
                                             std::string_view body) {
  std::vector<ResourceRef> refs;
  if (auto id = QueryParam(query, "upload_id"); id && !id->empty()) {
    refs.push_back(ResourceRef{"upload", *id});
  }
  CollectNames(path, "files/", "file", refs);
  CollectNames(path, "cachedContents/", "cache", refs);
  // Bodies without these words (nearly all) are not scanned further.
  if (body.find("files/") != std::string_view::npos) CollectNames(body, "files/", "file", refs);
  if (body.find("cachedContents/") != std::string_view::npos) {
    CollectNames(body, "cachedContents/", "cache", refs);
  }
  return refs;
}

std::vector<ResourceRef> CreatedResources(std::string_view body) {
  std::vector<ResourceRef> refs;
  // The names sit in "name" fields; a file's "uri" repeats the file name, which is harmless.
  size_t at = body.find("\"name\"");
  while (at != std::string_view::npos) {
    size_t q1 = body.find('"', body.find(':', at) + 1);
    if (q1 == std::string_view::npos) break;
    size_t q2 = body.find('"', q1 + 1);
    if (q2 == std::string_view::npos) break;
    std::string_view value = body.substr(q1 + 1, q2 - q1 - 1);
    if (value.starts_with("files/")) CollectNames(value, "files/", "file", refs);
    if (value.starts_with("cachedContents/")) CollectNames(value, "cachedContents/", "cache", refs);
    at = body.find("\"name\"", q2);
  }
  return refs;
}

std::optional<std::string> RewriteUploadUrl(std::string_view url, std::string_view origin,
                                            std::string* upload_id) {
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::nullopt;
  size_t path_at = url.find('/', scheme + 3);
  if (path_at == std::string_view::npos) return std::nullopt;
  std::string_view target = url.substr(path_at);
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  auto id = QueryParam(query, "upload_id");
  if (!id || id->empty()) return std::nullopt;
  *upload_id = *id;
  std::string out(origin);
  out += path;
  std::string rest = StripKeyParam(query);
  if (!rest.empty()) {
    out += '?';
    out += rest;
  }
  return out;
}

TokenUsage ScanUsage(std::string_view text) {
  TokenUsage usage;
  // The last occurrence, found with forward searches (memchr-driven; rfind compares at
  // every position from the end).
  constexpr std::string_view kUsage = "usageMetadata";
  size_t at = std::string_view::npos;
  for (size_t p = text.find(kUsage); p != std::string_view::npos; p = text.find(kUsage, p + 1)) {
    at = p;
  }
  if (at == std::string_view::npos) return usage;
  // The counts are read from the rest of the text in one pass over its strings: Google
  // nests arrays of objects among them (promptTokensDetails comes before
  // thoughtsTokenCount), so the object's first '}' is not its end, and nothing after the
  // last usageMetadata carries these names. The first of each name counts.
  size_t object = text.find('{', at);  // past the name's closing quote
  if (object == std::string_view::npos) return usage;
  std::string_view tail = text.substr(object);
  bool seen_prompt = false, seen_candidates = false, seen_thoughts = false;
  for (size_t open = tail.find('"'); open != std::string_view::npos;) {
    size_t close = StringEnd(tail, open);
    if (close == std::string_view::npos) break;
    std::string_view name = tail.substr(open + 1, close - open - 1);
    int64_t* slot = nullptr;
    bool* seen = nullptr;
    if (name == "promptTokenCount") {
      slot = &usage.prompt, seen = &seen_prompt;
    } else if (name == "candidatesTokenCount") {
      slot = &usage.candidates, seen = &seen_candidates;
    } else if (name == "thoughtsTokenCount") {
      slot = &usage.thoughts, seen = &seen_thoughts;
    }
    if (slot && !*seen) {
      if (auto n = NumberAt(tail, close + 1)) {
        *slot = *n;
        *seen = true;
      }
    }
    open = tail.find('"', close + 1);
  }
  return usage;
}

size_t RedactSecret(std::string& text, std::string_view secret, std::string_view mask) {
  if (secret.empty()) return 0;
  size_t n = 0;
  for (size_t at = text.find(secret); at != std::string::npos;
       at = text.find(secret, at + mask.size())) {
    text.replace(at, secret.size(), mask);
    ++n;
  }
  return n;
}

}  // namespace gkm
