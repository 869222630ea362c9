#include "translate/gemini_event.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "translate/chat_common.h"
#include "translate/json_util.h"

namespace gkm {
namespace {

namespace json = boost::json;
using namespace translate_internal;  // NOLINT(build/namespaces)

// What the stream translators read from the parsed event (the lookups they made before the
// SAX reader), written out as text to compare.
std::string FromTree(const json::value& v, bool chat) {
  std::string s;
  if (!v.is_object()) return "not an object";
  const json::object& ev = v.get_object();
  if (const json::value* e = ev.if_contains("error")) {
    s += "error " + (e->is_object() ? json::serialize(*e) : std::string("non-object")) + "\n";
  }
  if (ev.if_contains("usageMetadata") != nullptr) {
    const GeminiUsage u = ReadUsage(ev);
    s += "usage " + std::to_string(u.present) + " " + std::to_string(u.prompt_tokens) + " " +
         std::to_string(u.candidates_tokens) + " " + std::to_string(u.thoughts_tokens) + " " +
         std::to_string(u.tool_use_prompt_tokens) + " " + std::to_string(u.cached_tokens) + " " +
         std::to_string(u.total_tokens) + "\n";
  }
  const json::value* cands = ev.if_contains("candidates");
  if (cands != nullptr && cands->is_array() && !cands->get_array().empty()) {
    size_t position = 0;
    for (const json::value& c : cands->get_array()) {
      const size_t here = position++;
      if (!c.is_object()) continue;
      const json::object& cand = c.get_object();
      s += "candidate " + std::to_string(here);
      if (const json::value* iv = cand.if_contains("index")) {
        const auto i = AsInt(*iv);
        s += " index " + (i ? std::to_string(*i) : std::string("none"));
      }
      s += "\n";
      ForEachPart(cand, [&](const json::object& p) { s += "part " + json::serialize(p) + "\n"; });
      if (const json::value* fr = cand.if_contains("finishReason");
          fr != nullptr && fr->is_string()) {
        s += "finish " + std::string(fr->get_string()) + "\n";
      }
      if (const json::value* gm = cand.if_contains("groundingMetadata"); gm != nullptr && chat) {
        s += "grounding " + json::serialize(*gm) + "\n";
      }
      if (const json::value* lr = cand.if_contains("logprobsResult"); lr != nullptr && chat) {
        s += "logprobs " + json::serialize(*lr) + "\n";
      }
    }
  } else {
    const json::value* pf = ev.if_contains("promptFeedback");
    if (pf != nullptr && pf->is_object() &&
        pf->get_object().if_contains("blockReason") != nullptr) {
      s += "blocked\n";
    }
  }
  return s;
}

std::string FromEvent(const GeminiEvent& ev, bool chat) {
  std::string s;
  if (!ev.object) return "not an object";
  if (ev.error) {
    s += "error " +
         (ev.error->is_object() ? json::serialize(*ev.error) : std::string("non-object")) + "\n";
  }
  if (ev.has_usage) {
    const GeminiUsage& u = ev.usage;
    s += "usage " + std::to_string(u.present) + " " + std::to_string(u.prompt_tokens) + " " +
         std::to_string(u.candidates_tokens) + " " + std::to_string(u.thoughts_tokens) + " " +
         std::to_string(u.tool_use_prompt_tokens) + " " + std::to_string(u.cached_tokens) + " " +
         std::to_string(u.total_tokens) + "\n";
  }
  if (ev.has_candidates()) {
    for (const GeminiEventCandidate& c : ev.candidates) {
      s += "candidate " + std::to_string(c.position);
      if (c.has_index) s += " index " + (c.index ? std::to_string(*c.index) : std::string("none"));
      s += "\n";
      for (const json::value& p : c.parts) s += "part " + json::serialize(p) + "\n";
      if (c.finish) s += "finish " + *c.finish + "\n";
      if (c.grounding && chat) s += "grounding " + json::serialize(*c.grounding) + "\n";
      if (c.logprobs && chat) s += "logprobs " + json::serialize(*c.logprobs) + "\n";
    }
  } else if (ev.blocked) {
    s += "blocked\n";
  }
  return s;
}

// Events as Gemini sends them, and every shape the lookups treat specially: duplicate keys
// (the last wins), values of the wrong kind, escaped keys and strings, numeric strings.
const char* kEvents[] = {
    R"({"candidates":[{"content":{"parts":[{"text":"ok"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":9,"thoughtsTokenCount":5},"modelVersion":"gemini-2.5-flash","responseId":"r0"})",
    R"({"candidates":[{"content":{"parts":[{"text":" mock"}],"role":"model"},"index":0,"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":"12","candidatesTokenCount":2.0,"cachedContentTokenCount":1,"toolUsePromptTokenCount":4,"promptTokensDetails":[{"modality":"TEXT","tokenCount":3}]}})",
    R"({"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"a":[1,{"b":null}],"c":"d\"e"}},"thoughtSignature":"c2ln"},{"text":"t","thought":true},7,"x",[1],null]}}]})",
    R"({"candidates":[{"index":1,"content":{"parts":[{"text":"a"}]}},{"content":{"parts":[{"text":"b"}]},"index":0,"finishReason":"MAX_TOKENS"},5,{"index":"0"},{"index":null},{"index":2.5},{"index":{}}]})",
    R"({"candidates":[{"content":{"parts":[{"text":"one"}]},"content":{"parts":[{"text":"two"}],"parts":[{"text":"three"}]}}]})",
    R"({"candidates":[{"content":{"parts":[{"text":"one"}]},"content":5,"finishReason":"STOP","finishReason":7}]})",
    R"({"candidates":[{"content":{"parts":[{"text":"x"}]}}],"candidates":[{"content":{"parts":[{"text":"y"}]}}]})",
    R"({"candidates":[{"content":{"parts":[{"text":"x"}]}}],"candidates":{}})",
    R"({"candidates":[],"promptFeedback":{"blockReason":"SAFETY"}})",
    R"({"promptFeedback":{"blockReason":null},"usageMetadata":{"promptTokenCount":4}})",
    R"({"promptFeedback":{"blockReason":"SAFETY"},"promptFeedback":{"safetyRatings":[]}})",
    R"({"promptFeedback":"x"})",
    R"({"usageMetadata":{"promptTokenCount":4},"usageMetadata":null})",
    R"({"usageMetadata":{"promptTokenCount":-4,"candidatesTokenCount":"1x","thoughtsTokenCount":1e3,"totalTokenCount":{}}})",
    R"({"usageMetadata":{"promptTokenCount":18446744073709551615,"candidatesTokenCount":"0000000000000000001","thoughtsTokenCount":true,"totalTokenCount":null}})",
    R"({"usageMetadata":{"promptTokenCount":5,"promptTokenCount":6,"totalTokenCount":1,"totalTokenCount":[2]}})",
    R"({"error":{"code":429,"message":"Resource exhausted","status":"RESOURCE_EXHAUSTED"}})",
    R"({"error":"boom","candidates":[{"content":{"parts":[{"text":"x"}]}}]})",
    R"({"error":{"code":500},"error":[1,2]})",
    R"({"error":null})",
    R"({"error":12})",
    R"({"error":{"code":1},"error":{"code":503,"message":"later"}})",
    R"({"c\u0061ndidates":[{"cont\u0065nt":{"p\u0061rts":[{"t\u0065xt":"\u00e9\n\"q\""}]},"finishR\u0065ason":"ST\u004FP"}]})",
    R"({"candidates":[{"content":{"parts":[{"text":"g"}]},"groundingMetadata":{"groundingChunks":[{"web":{"uri":"u","title":"t"}}]}},{"groundingMetadata":null},{"groundingMetadata":"s"}]})",
    R"({"candidates":[{"content":{"parts":[{"text":"a"}]},"logprobsResult":{"chosenCandidates":[{"token":"a","logProbability":-0.5}],"topCandidates":[]}},{"logprobsResult":7,"logprobsResult":{"x":"\u0041"}}]})",
    R"({"modelVersion":"m","responseId":"r","candidates":[{"safetyRatings":[{"category":"x","probability":"NEGLIGIBLE"}],"citationMetadata":{"citations":[]}}]})",
    R"({})",
    R"([])",
    R"("text")",
    R"(42)",
    R"(null)",
    R"({"a":{"b":{"c":{"candidates":[{"content":{"parts":[{"text":"deep"}]}}]}}}})",
};

TEST(ReadGeminiEvent, KeepsWhatLookupsInTheParsedEventGive) {
  for (bool chat : {false, true}) {
    for (const char* text : kEvents) {
      std::string err;
      ScratchJson tree_scratch;
      std::optional<json::value> v = ParseJson(text, &err, tree_scratch.storage());
      ASSERT_TRUE(v.has_value()) << text << ": " << err;
      ScratchJson scratch;
      GeminiEvent ev;
      ASSERT_TRUE(ReadGeminiEvent(text, &ev, &err, scratch.storage(), chat)) << text << ": " << err;
      EXPECT_EQ(FromEvent(ev, chat), FromTree(*v, chat)) << text;
    }
  }
}

TEST(ReadGeminiEvent, RefusesWhatParseJsonRefusesWithItsMessage) {
  std::string deep(70, '[');
  deep += std::string(70, ']');
  std::string deep_obj;
  for (int i = 0; i < 70; ++i) deep_obj += "{\"a\":";
  deep_obj += "1" + std::string(70, '}');
  const std::string cases[] = {
      "",
      "   ",
      "{",
      "{\"a\":1} x",
      "{\"a\":1}  \r\n",
      "{\"a\":}",
      "[1,]",
      "\"\xff\"",
      "{\"a\":tru}",
      deep,
      deep_obj,
      "{\"a\":1}{}",
      "nul",
      "01",
      "{'a':1}",
      "{\"a\":\"\x01\"}",
  };
  for (const std::string& text : cases) {
    std::string tree_err;
    const bool tree_ok = ParseJson(text, &tree_err).has_value();
    std::string err;
    ScratchJson scratch;
    GeminiEvent ev;
    const bool ok = ReadGeminiEvent(text, &ev, &err, scratch.storage());
    EXPECT_EQ(ok, tree_ok) << text;
    EXPECT_EQ(err, tree_err) << text;
  }
}

// Events the fast reader is meant for: Gemini's usual shape, with space, the short escapes,
// text beyond ASCII, every scalar kind in a part.
const char* kUsualEvents[] = {
    R"({"candidates":[{"content":{"parts":[{"text":"ok"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":9,"thoughtsTokenCount":5},"modelVersion":"gemini-2.5-flash","responseId":"r0"})",
    R"({"candidates": [{"content": {"parts": [{"text": "a\n\"b\" \\ \/ \t\r\b\f"}], "role": "model"}, "finishReason": "STOP", "index": 0}], "usageMetadata": {"promptTokenCount": 12, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}]}}
)",
    "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"caf\xc3\xa9 "
    "\xe2\x82\xac\",\"thought\":true,\"n\":null,\"f\":false,\"i\":0}]}}]}",
    R"({"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"a":[1,{"b":null}],"c":"d\"e"}},"thoughtSignature":"c2ln"},{"text":""}]},"index":1},{"content":{"parts":[]},"index":0}]})",
    R"({"candidates":[{"content":{"parts":[{"text":"one"}]},"content":{"parts":[{"text":"two"}],"parts":[{"text":"three"}]},"finishReason":"A","finishReason":"B"}]})",
    R"({"usageMetadata":{"promptTokenCount":5,"promptTokenCount":6,"totalTokenCount":1,"totalTokenCount":2},"usageMetadata":{"cachedContentTokenCount":123456789012345678}})",
    R"({"candidates":[],"modelVersion":"m","x":[true,false,null,{},[],""]})",
    R"({})",
};

TEST(ReadGeminiEvent, FastReaderTakesTheUsualShape) {
  for (const char* text : kUsualEvents) {
    ScratchJson scratch;
    GeminiEvent ev;
    EXPECT_TRUE(ReadGeminiEventFast(text, &ev, scratch.storage(), false)) << text;
  }
}

// The fast reader, wherever it reads an event, gives what the SAX reader gives: over the
// events above and every text made from them by deleting one byte or setting one byte to a
// JSON token (most of them broken or unusual, which it must leave to the SAX reader).
TEST(ReadGeminiEvent, FastReaderAgreesWithTheSaxReader) {
  std::vector<std::string> texts;
  for (const char* t : kEvents) texts.emplace_back(t);
  for (const char* t : kUsualEvents) texts.emplace_back(t);
  const size_t originals = texts.size();
  for (size_t k = 0; k < originals; ++k) {
    const std::string t = texts[k];
    for (size_t i = 0; i < t.size(); ++i) {
      texts.push_back(t.substr(0, i) + t.substr(i + 1));
      for (const char c : std::string_view("\"\\{}[],:0-.e \x80\xc3")) {
        std::string m = t;
        m[i] = c;
        texts.push_back(std::move(m));
      }
    }
  }
  size_t fast = 0;
  for (bool chat : {false, true}) {
    for (const std::string& text : texts) {
      ScratchJson fast_scratch;
      GeminiEvent a;
      if (!ReadGeminiEventFast(text, &a, fast_scratch.storage(), chat)) continue;
      ++fast;
      ASSERT_EQ(FirstInvalidUtf8(text), std::string_view::npos) << text;
      ScratchJson scratch;
      GeminiEvent b;
      std::string err;
      ASSERT_TRUE(ReadGeminiEventSax(text, &b, &err, scratch.storage(), chat)) << text;
      EXPECT_EQ(FromEvent(a, chat), FromEvent(b, chat)) << text;
      EXPECT_EQ(a.candidate_count, b.candidate_count) << text;
    }
  }
  EXPECT_GT(fast, texts.size() / 4);  // the check ran over many texts, not none
}

}  // namespace
}  // namespace gkm
