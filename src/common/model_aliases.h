// ModelAliases: the --model-alias table (SPEC 2.1), which turns the model names agents send
// (claude-sonnet-4-5, gpt-5-codex, claude-*) into Gemini models, and the rule that refuses
// the names of other vendors' models that no alias maps.
//
// Matching: an exact FROM wins over any glob; among globs the one given first wins. `*` in
// FROM matches any run of characters (also none); matching is case-sensitive, as Google's
// model names are. A target is used as it is (aliases do not chain). Names are compared
// without a leading "models/", as everywhere else (common/names.h).
//
// Built once at startup (Add), then read-only: const methods are thread-safe. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gkm {

struct ModelAlias {
  std::string from;  // "claude-sonnet-4-5" or a glob "claude-*", without "models/"
  std::string to;    // "gemini-2.5-flash", without "models/"
};

// The model a request goes to, or why it goes nowhere.
struct ModelChoice {
  std::string model;    // the Gemini model (the client's own name when no alias matched)
  std::string refusal;  // not empty: answer 404 with this text, and send nothing upstream
  bool ok() const { return refusal.empty(); }
};

class ModelAliases {
 public:
  // Adds "FROM=TO"; returns why it cannot be added (no '=', an empty side, a TO that is a
  // glob, not a model name or another vendor's, a FROM given twice), or "" when it was.
  std::string Add(std::string_view spec);

  // The target of the first matching alias (exact before globs), or nullopt.
  std::optional<std::string> Map(std::string_view name) const;

  // What a request naming `name` uses: the alias target; else the name itself, unless it is
  // another vendor's (IsForeignModel), which is refused with a message naming the flag.
  ModelChoice Resolve(std::string_view name) const;

  // The aliases without '*' in FROM, in the order given (listed by /v1/models).
  std::vector<ModelAlias> Literals() const;

  bool empty() const { return exact_.empty() && globs_.empty(); }

 private:
  std::vector<ModelAlias> exact_;
  std::vector<ModelAlias> globs_;
};

// aliases->Resolve(name), or the name itself (without "models/") when there is no table:
// translators called without one (tests, tools) neither map nor refuse.
ModelChoice ResolveModel(const ModelAliases* aliases, std::string_view name);

// Whether `name` (without "models/") belongs to a known non-Google model family: claude-*,
// gpt-*, chatgpt-*, o<digit>*, dall-e-*, davinci*, babbage*, text-davinci*, codex*,
// whisper*, tts-*, omni-moderation*, text-moderation*, text-embedding-3*,
// text-embedding-ada*, deepseek*, qwen*, llama*, mistral*, mixtral*, grok* (ignoring case).
// Everything else may be Google's, today or later, and goes to Google.
bool IsForeignModel(std::string_view name);

// Whether `pattern` ('*' = any run of characters) matches all of `name`.
bool GlobMatch(std::string_view pattern, std::string_view name);

}  // namespace gkm
