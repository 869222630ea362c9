#include "common/model_aliases.h"

#include <algorithm>
#include <cctype>

#include "common/names.h"

namespace gkm {
namespace {

std::string_view WithoutModelsPrefix(std::string_view name) {
  if (name.starts_with("models/")) name.remove_prefix(7);
  return name;
}

bool StartsWithNoCase(std::string_view name, std::string_view prefix) {
  return name.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), name.begin(), [](char p, char c) {
           return p == std::tolower(static_cast<unsigned char>(c));
         });
}

// Why FROM cannot be matched against a model name: it needs the model-name alphabet, where
// '*' may stand for any run of it.
std::string FromProblem(std::string_view from) {
  std::string letters(from);
  std::replace(letters.begin(), letters.end(), '*', 'x');
  if (ModelNameProblem(letters).empty()) return {};
  return "FROM '" + Printable(from) +
         "' is not a model name or glob: letters, digits, '.', '-', '_' and '*' only, at most " +
         std::to_string(kMaxModelName) + " bytes";
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view name) {
  // The usual two-pointer walk: on a mismatch, go back to the last '*' and let it take one
  // more character. O(|pattern| * |name|) at worst; both are short.
  size_t p = 0, n = 0;
  size_t star = std::string_view::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool IsForeignModel(std::string_view name) {
  name = WithoutModelsPrefix(name);
  // The usual answer, before twenty case-blind prefix checks: no family below begins so.
  if (name.starts_with("gemini")) return false;
  static constexpr std::string_view kFamilies[] = {"claude",
                                                   "gpt-",
                                                   "chatgpt-",
                                                   "dall-e-",
                                                   "davinci",
                                                   "babbage",
                                                   "text-davinci",
                                                   "codex",
                                                   "whisper",
                                                   "tts-",
                                                   "omni-moderation",
                                                   "text-moderation",
                                                   "text-embedding-3",
                                                   "text-embedding-ada",
                                                   "deepseek",
                                                   "qwen",
                                                   "llama",
                                                   "mistral",
                                                   "mixtral",
                                                   "grok"};
  for (std::string_view family : kFamilies) {
    if (StartsWithNoCase(name, family)) return true;
  }
  // OpenAI's reasoning models: o1, o3-mini, o4-mini-high, ...
  return name.size() >= 2 && (name[0] == 'o' || name[0] == 'O') &&
         std::isdigit(static_cast<unsigned char>(name[1]));
}

std::string ModelAliases::Add(std::string_view spec) {
  size_t eq = spec.find('=');
  if (eq == std::string_view::npos) return "expected FROM=TO (e.g. claude-*=gemini-2.5-flash)";
  std::string_view from = WithoutModelsPrefix(spec.substr(0, eq));
  std::string_view to = WithoutModelsPrefix(spec.substr(eq + 1));
  if (from.empty()) return "FROM is empty: expected FROM=TO";
  if (to.empty()) return "TO is empty: expected FROM=TO";
  if (std::string p = FromProblem(from); !p.empty()) return p;
  if (to.find('*') != std::string_view::npos) {
    return "TO must be one model, not a glob: '" + Printable(to) + "'";
  }
  if (std::string p = ModelNameProblem(to); !p.empty()) return "TO: " + p;
  if (IsForeignModel(to)) {
    return "TO '" + std::string(to) + "' is not a Gemini model (e.g. gemini-2.5-flash)";
  }
  const bool glob = from.find('*') != std::string_view::npos;
  std::vector<ModelAlias>& list = glob ? globs_ : exact_;
  for (const ModelAlias& a : list) {
    if (a.from == from) return "'" + std::string(from) + "' is aliased twice";
  }
  list.push_back(ModelAlias{std::string(from), std::string(to)});
  return {};
}

std::optional<std::string> ModelAliases::Map(std::string_view name) const {
  name = WithoutModelsPrefix(name);
  for (const ModelAlias& a : exact_) {
    if (a.from == name) return a.to;
  }
  for (const ModelAlias& a : globs_) {
    if (GlobMatch(a.from, name)) return a.to;
  }
  return std::nullopt;
}

ModelChoice ModelAliases::Resolve(std::string_view name) const {
  name = WithoutModelsPrefix(name);
  ModelChoice choice;
  if (std::optional<std::string> to = Map(name)) {
    choice.model = std::move(*to);
  } else if (IsForeignModel(name)) {
    std::string shown = Printable(name, kMaxModelName);
    choice.refusal = "model \"" + shown + "\" is not a Gemini model; map it with --model-alias " +
                     shown + "=gemini-2.5-flash";
  } else {
    choice.model = std::string(name);
  }
  return choice;
}

ModelChoice ResolveModel(const ModelAliases* aliases, std::string_view name) {
  if (aliases != nullptr) return aliases->Resolve(name);
  return ModelChoice{std::string(WithoutModelsPrefix(name)), {}};
}

std::vector<ModelAlias> ModelAliases::Literals() const { return exact_; }

}  // namespace gkm
