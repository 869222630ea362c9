// The --model-alias table: matching order, globs, the foreign-family rule, and the values
// Add refuses (common/model_aliases.h).
#include "common/model_aliases.h"

#include <gtest/gtest.h>

namespace gkm {
namespace {

ModelAliases Table(std::initializer_list<std::string_view> specs) {
  ModelAliases t;
  for (std::string_view s : specs) EXPECT_EQ(t.Add(s), "") << s;
  return t;
}

TEST(GlobMatch, StarTakesAnyRunIncludingNone) {
  struct Case {
    std::string_view pattern, name;
    bool match;
  };
  const Case cases[] = {
      {"claude-*", "claude-sonnet-4-5", true},
      {"claude-*", "claude-", true},
      {"claude-*", "claude", false},
      {"claude-*", "xclaude-a", false},
      {"*-codex", "gpt-5-codex", true},
      {"*-codex", "gpt-5-codex-mini", false},
      {"gpt-*-mini", "gpt-4o-mini", true},
      {"gpt-*-mini", "gpt--mini", true},
      {"gpt-*-mini", "gpt-4o-mini-2024", false},
      {"*", "", true},
      {"*", "anything", true},
      {"a*b*c", "aXbYbZc", true},
      {"a*b*c", "aXcYb", false},
      {"**", "x", true},
      {"exact", "exact", true},
      {"exact", "exactly", false},
      {"Claude-*", "claude-x", false},  // case-sensitive
  };
  for (const Case& c : cases) {
    EXPECT_EQ(GlobMatch(c.pattern, c.name), c.match) << c.pattern << " ~ " << c.name;
  }
}

TEST(ModelAliases, ExactBeatsGlobWhateverTheOrder) {
  ModelAliases t = Table({"claude-*=gemini-2.5-flash", "claude-opus-4-1=gemini-2.5-pro"});
  EXPECT_EQ(t.Map("claude-opus-4-1"), "gemini-2.5-pro");
  EXPECT_EQ(t.Map("claude-sonnet-4-5"), "gemini-2.5-flash");
  EXPECT_EQ(t.Map("gpt-4o"), std::nullopt);
}

TEST(ModelAliases, AmongGlobsTheFirstGivenWins) {
  ModelAliases t = Table({"claude-*-4-5=gemini-2.5-pro", "claude-*=gemini-2.5-flash"});
  EXPECT_EQ(t.Map("claude-sonnet-4-5"), "gemini-2.5-pro");
  EXPECT_EQ(t.Map("claude-haiku-4-5-20251001"), "gemini-2.5-flash");
  ModelAliases swapped = Table({"claude-*=gemini-2.5-flash", "claude-*-4-5=gemini-2.5-pro"});
  EXPECT_EQ(swapped.Map("claude-sonnet-4-5"), "gemini-2.5-flash");
}

TEST(ModelAliases, ModelsPrefixIsIgnoredOnBothSidesAndInNames) {
  ModelAliases t = Table({"models/gpt-4o=models/gemini-2.5-flash"});
  EXPECT_EQ(t.Map("gpt-4o"), "gemini-2.5-flash");
  EXPECT_EQ(t.Map("models/gpt-4o"), "gemini-2.5-flash");
  ASSERT_EQ(t.Literals().size(), 1u);
  EXPECT_EQ(t.Literals()[0].from, "gpt-4o");
  EXPECT_EQ(t.Literals()[0].to, "gemini-2.5-flash");
}

TEST(ModelAliases, LiteralsLeaveOutGlobsAndKeepTheOrder) {
  ModelAliases t =
      Table({"gpt-5-codex=gemini-2.5-pro", "claude-*=gemini-2.5-flash", "gpt-4o=gemini-2.5-flash"});
  auto lit = t.Literals();
  ASSERT_EQ(lit.size(), 2u);
  EXPECT_EQ(lit[0].from, "gpt-5-codex");
  EXPECT_EQ(lit[1].from, "gpt-4o");
  EXPECT_FALSE(t.empty());
  EXPECT_TRUE(ModelAliases().empty());
}

TEST(ModelAliases, GeminiNamesMayBeAliasedToo) {
  ModelAliases t = Table({"gemini-2.5-pro=gemini-2.5-flash"});
  EXPECT_EQ(t.Resolve("gemini-2.5-pro").model, "gemini-2.5-flash");
  // No chains: a target is used as it is.
  ModelAliases chain = Table({"a=b", "b=gemini-2.5-pro"});
  EXPECT_EQ(chain.Map("a"), "b");
}

TEST(ModelAliases, ResolveRefusesUnmappedForeignNamesAndPassesTheRest) {
  ModelAliases t = Table({"gpt-4o=gemini-2.5-flash"});
  EXPECT_EQ(t.Resolve("gpt-4o").model, "gemini-2.5-flash");
  EXPECT_TRUE(t.Resolve("gpt-4o").ok());
  ModelChoice refused = t.Resolve("claude-sonnet-4-5");
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.refusal,
            "model \"claude-sonnet-4-5\" is not a Gemini model; map it with --model-alias "
            "claude-sonnet-4-5=gemini-2.5-flash");
  EXPECT_EQ(t.Resolve("models/claude-x").refusal.find("\"claude-x\""), 6u);
  // Google's names, today's and tomorrow's, go to Google.
  for (std::string_view name :
       {"gemini-2.5-flash", "gemini-99-ultra", "gemma-3-27b-it", "text-embedding-004",
        "embedding-001", "imagen-4.0", "veo-3", "learnlm-2.0", "aqa", "omega-1"}) {
    ModelChoice c = t.Resolve(name);
    EXPECT_TRUE(c.ok()) << name;
    EXPECT_EQ(c.model, name);
  }
}

TEST(IsForeignModel, KnownFamiliesOfOtherVendors) {
  for (std::string_view name : {"claude-sonnet-4-5",
                                "claude-haiku-4-5-20251001",
                                "Claude-3-opus",
                                "gpt-5-codex",
                                "gpt-4o",
                                "GPT-4o",
                                "chatgpt-4o-latest",
                                "o1",
                                "o3-mini",
                                "o4-mini-high",
                                "dall-e-3",
                                "text-davinci-003",
                                "davinci-002",
                                "babbage-002",
                                "codex-mini-latest",
                                "whisper-1",
                                "tts-1-hd",
                                "omni-moderation-latest",
                                "text-moderation-stable",
                                "text-embedding-3-small",
                                "text-embedding-ada-002",
                                "deepseek-chat",
                                "qwen3-coder",
                                "llama-3.3-70b",
                                "mistral-large",
                                "mixtral-8x7b",
                                "grok-4",
                                "models/gpt-4o"}) {
    EXPECT_TRUE(IsForeignModel(name)) << name;
  }
  for (std::string_view name : {"gemini-2.5-flash", "gemma-3-1b-it", "text-embedding-004", "o",
                                "omni", "oX1", "models/gemini-2.5-pro", "nano-banana"}) {
    EXPECT_FALSE(IsForeignModel(name)) << name;
  }
}

TEST(ModelAliases, AddRefusesBadValuesWithAReason) {
  struct Case {
    std::string_view spec;
    std::string_view says;
  };
  const Case cases[] = {
      {"claude-sonnet-4-5", "expected FROM=TO"},
      {"=gemini-2.5-flash", "FROM is empty"},
      {"models/=gemini-2.5-flash", "FROM is empty"},
      {"claude-*=", "TO is empty"},
      {"claude-*=gemini-*", "not a glob"},
      {"claude-*=gemini 2.5", "TO: invalid model name"},
      {"claude-*=gemini/2.5", "TO: invalid model name"},
      {"claude-*=gpt-4o", "not a Gemini model"},
      {"claude sonnet=gemini-2.5-flash", "is not a model name or glob"},
      {"claude:x=gemini-2.5-flash", "is not a model name or glob"},
      {"a=gemini-2.5-flash=x", "TO: invalid model name"},
  };
  for (const Case& c : cases) {
    ModelAliases t;
    std::string problem = t.Add(c.spec);
    EXPECT_NE(problem.find(c.says), std::string::npos) << c.spec << " -> " << problem;
    EXPECT_TRUE(t.empty()) << c.spec;
  }
  ModelAliases twice;
  EXPECT_EQ(twice.Add("gpt-4o=gemini-2.5-flash"), "");
  EXPECT_NE(twice.Add("gpt-4o=gemini-2.5-pro").find("aliased twice"), std::string::npos);
  EXPECT_NE(twice.Add("models/gpt-4o=gemini-2.5-pro").find("aliased twice"), std::string::npos);
  EXPECT_EQ(twice.Add("claude-*=gemini-2.5-flash"), "");
  EXPECT_NE(twice.Add("claude-*=gemini-2.5-pro").find("aliased twice"), std::string::npos);
}

}  // namespace
}  // namespace gkm
