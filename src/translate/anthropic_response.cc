#include "translate/anthropic_response.h"

#include <algorithm>
#include <boost/json.hpp>
#include <exception>
#include <vector>

#include "translate/anthropic_blocks.h"
#include "translate/anthropic_request.h"  // the signature prefixes
#include "translate/chat_common.h"
#include "translate/json_util.h"
#include "translate/thought_signature.h"

namespace gkm {

namespace json = boost::json;
using namespace translate_internal;  // NOLINT(build/namespaces): this module's helpers

namespace translate_internal {

namespace {

std::string_view StringField(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return {};
  return v->get_string();
}

}  // namespace

void BlockBuilder::OpenBlock(Open kind) {
  open_ = kind;
  index_ = next_++;
  sig_.clear();
  sink_.Open(index_, kind == Open::kThinking);
}

void BlockBuilder::CloseOpen() {
  const Open was = open_;
  open_ = Open::kNone;
  if (was == Open::kNone) return;
  if (was == Open::kThinking) {
    sink_.Signature(index_, std::string(kOwnThinkingPrefix) + Base64UrlEncode(sig_));
    sink_.Close(index_);
    return;
  }
  sink_.Close(index_);
  if (!sig_.empty()) Carrier(sig_);
}

// A thinking block with no thinking that carries the signature of the part before it.
void BlockBuilder::Carrier(std::string_view sig) {
  const int64_t i = next_++;
  sink_.Open(i, true);
  sink_.Signature(i, std::string(kPreviousPartPrefix) + Base64UrlEncode(sig));
  sink_.Close(i);
}

// A signature on a part without text of its own belongs to the part before it.
void BlockBuilder::SignatureOfPrevious(std::string_view sig) {
  if (open_ != Open::kNone && sig_.empty()) {
    sig_ = sig;
    return;
  }
  CloseOpen();
  Carrier(sig);
}

void BlockBuilder::Part(const json::object& part) {
  const std::string_view sig = StringField(part, "thoughtSignature");
  if (const json::value* fcv = part.if_contains("functionCall")) {
    CloseOpen();
    std::string_view name;
    json::value input = json::object();
    if (fcv->is_object()) {
      const json::object& fc = fcv->get_object();
      name = StringField(fc, "name");
      if (const json::value* a = fc.if_contains("args"); a != nullptr && a->is_object()) input = *a;
    }
    std::string id = ctx_.new_tool_use_id ? ctx_.new_tool_use_id() : std::string("toolu_0");
    tool_use_ = true;
    sink_.ToolUse(next_++, IdWithSignature(id, sig), name, input);
    return;
  }
  const std::string_view text = StringField(part, "text");
  if (text.empty()) {
    if (!sig.empty()) SignatureOfPrevious(sig);
    return;
  }
  const Open kind = IsThought(part) ? Open::kThinking : Open::kText;
  // A signed block ends with its signature: text after it starts a new block.
  if (open_ != kind || !sig_.empty()) {
    CloseOpen();
    OpenBlock(kind);
  }
  sink_.Text(index_, kind == Open::kThinking, text);
  if (!sig.empty()) sig_ = sig;
}

void BlockBuilder::Finish() { CloseOpen(); }

json::object AnthropicUsage(const GeminiUsage& u) {
  json::object usage;
  const int64_t cached = std::min(u.cached_tokens, u.prompt_tokens);
  usage["input_tokens"] = u.prompt_tokens - cached;
  usage["cache_creation_input_tokens"] = 0;
  usage["cache_read_input_tokens"] = cached;
  usage["output_tokens"] = u.candidates_tokens + u.thoughts_tokens;
  return usage;
}

std::string_view StopReason(std::string_view r, bool tool_use, bool blocked) {
  if (tool_use) return "tool_use";
  if (blocked) return "refusal";
  if (r == "MAX_TOKENS") return "max_tokens";
  if (r == "SAFETY" || r == "RECITATION" || r == "BLOCKLIST" || r == "PROHIBITED_CONTENT" ||
      r == "SPII") {
    return "refusal";
  }
  return "end_turn";
}

}  // namespace translate_internal

namespace {

// Collects the blocks of a whole answer.
class ContentSink : public BlockSink {
 public:
  void Open(int64_t, bool thinking) override {
    json::object b;
    if (thinking) {
      b["type"] = "thinking";
      b["thinking"] = "";
      b["signature"] = "";
    } else {
      b["type"] = "text";
      b["text"] = "";
    }
    content.push_back(std::move(b));
  }
  void Text(int64_t, bool thinking, std::string_view text) override {
    json::string& s = content.back().get_object()[thinking ? "thinking" : "text"].as_string();
    s.append(text);
  }
  void Signature(int64_t, std::string_view signature) override {
    content.back().get_object()["signature"] = signature;
  }
  void Close(int64_t) override {}
  void ToolUse(int64_t, std::string_view id, std::string_view name,
               const json::value& input) override {
    json::object b;
    b["type"] = "tool_use";
    b["id"] = id;
    b["name"] = name;
    b["input"] = input;
    content.push_back(std::move(b));
  }

  json::array content;
};

// The first candidate (index 0), or null.
const json::object* FirstCandidate(const json::object& response) {
  const json::value* cands = response.if_contains("candidates");
  if (cands == nullptr || !cands->is_array()) return nullptr;
  for (const json::value& c : cands->get_array()) {
    if (!c.is_object()) continue;
    const json::value* iv = c.get_object().if_contains("index");
    if (iv == nullptr || AsInt(*iv).value_or(-1) == 0) return &c.get_object();
  }
  return nullptr;
}

std::optional<json::value> ReadAnswer(std::string_view text, std::string* err,
                                      json::storage_ptr storage) {
  std::optional<json::value> root = ParseJson(text, err, std::move(storage));
  if (root && !root->is_object()) return std::nullopt;
  return root;
}

}  // namespace

std::variant<AnthropicResponse, TranslateError> TranslateAnthropicResponse(
    std::string_view gemini_json, const AnthropicContext& ctx) {
  try {
    std::string err;
    ScratchJson scratch;  // the answer is read and dropped here
    std::optional<json::value> root = ReadAnswer(gemini_json, &err, scratch.storage());
    if (!root) {
      return TranslateError{
          502, "upstream answer is not a JSON object" + (err.empty() ? std::string() : ": " + err),
          ""};
    }
    const json::object& in = root->get_object();
    if (const json::value* e = in.if_contains("error"); e != nullptr && e->is_object()) {
      const json::value* m = e->get_object().if_contains("message");
      return TranslateError{502,
                            m != nullptr && m->is_string()
                                ? std::string(m->get_string())
                                : std::string("upstream answered with an error"),
                            ""};
    }
    ContentSink sink;
    BlockBuilder blocks(sink, ctx);
    std::string_view finish;
    const json::object* cand = FirstCandidate(in);
    if (cand != nullptr) {
      ForEachPart(*cand, [&](const json::object& p) { blocks.Part(p); });
      if (const json::value* fr = cand->if_contains("finishReason");
          fr != nullptr && fr->is_string()) {
        finish = fr->get_string();
      }
    }
    blocks.Finish();
    AnthropicResponse out;
    out.usage = ReadUsage(in);
    json::object body;
    body["id"] = ctx.id;
    body["type"] = "message";
    body["role"] = "assistant";
    body["model"] = ctx.model;
    body["content"] = std::move(sink.content);
    body["stop_reason"] = StopReason(finish, blocks.tool_use(), cand == nullptr);
    body["stop_sequence"] = nullptr;
    body["usage"] = AnthropicUsage(out.usage);
    out.body = json::serialize(body);
    return out;
  } catch (const std::exception& e) {
    return TranslateError{502, std::string("upstream answer could not be translated: ") + e.what(),
                          ""};
  }
}

std::variant<std::string, TranslateError> TranslateAnthropicCountTokensResponse(
    std::string_view gemini_json) {
  try {
    std::string err;
    ScratchJson scratch;
    std::optional<json::value> root = ReadAnswer(gemini_json, &err, scratch.storage());
    if (!root) return TranslateError{502, "upstream count is not a JSON object", ""};
    json::object out;
    out["input_tokens"] = CountField(root->get_object(), "totalTokens");
    return json::serialize(out);
  } catch (const std::exception& e) {
    return TranslateError{502, std::string("upstream count could not be translated: ") + e.what(),
                          ""};
  }
}

}  // namespace gkm
