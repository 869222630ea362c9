#include "translate/chat_response.h"

#include <boost/json.hpp>
#include <exception>
#include <vector>

#include "translate/chat_common.h"
#include "translate/json_util.h"

namespace gkm {
namespace {

namespace json = boost::json;
using namespace translate_internal;  // NOLINT(build/namespaces): this module's helpers

json::object Choice(const json::object& cand, size_t position, const ResponseContext& ctx) {
  std::string text;
  std::string reasoning;
  bool has_text = false;
  json::array tool_calls;
  std::vector<int64_t> part_offsets;  // where each part's text starts in `text`, or -1
  ForEachPart(cand, [&](const json::object& p) {
    part_offsets.push_back(-1);
    if (p.if_contains("functionCall") != nullptr) {
      tool_calls.push_back(ToolCall(p, ctx));
      return;
    }
    const json::value* t = p.if_contains("text");
    if (t == nullptr || !t->is_string()) return;
    if (IsThought(p)) {
      reasoning += t->get_string();
    } else {
      part_offsets.back() = static_cast<int64_t>(text.size());
      text += t->get_string();
      has_text = true;
    }
  });
  json::array annotations = Annotations(cand.if_contains("groundingMetadata"), text, part_offsets);
  std::string_view finish = "stop";
  if (const json::value* fr = cand.if_contains("finishReason"); fr != nullptr && fr->is_string()) {
    finish = MapFinishReason(fr->get_string());
  }
  if (!tool_calls.empty()) finish = "tool_calls";

  json::object message;
  message["role"] = "assistant";
  if (has_text) {
    message["content"] = text;
  } else if (!tool_calls.empty() || finish == "content_filter") {
    message["content"] = nullptr;
  } else {
    message["content"] = "";
  }
  if (!reasoning.empty()) message["reasoning_content"] = reasoning;
  if (!tool_calls.empty()) message["tool_calls"] = std::move(tool_calls);
  if (!annotations.empty()) message["annotations"] = std::move(annotations);

  json::object choice;
  int64_t index = static_cast<int64_t>(position);
  if (const json::value* iv = cand.if_contains("index")) index = AsInt(*iv).value_or(index);
  choice["index"] = index;
  choice["message"] = std::move(message);
  choice["logprobs"] = Logprobs(cand);
  choice["finish_reason"] = finish;
  return choice;
}

}  // namespace

std::variant<ChatResponse, TranslateError> TranslateChatResponse(std::string_view gemini_json,
                                                                 const ResponseContext& ctx) {
  try {
    std::string err;
    ScratchJson scratch;  // the answer is read and dropped here
    std::optional<json::value> root = ParseJson(gemini_json, &err, scratch.storage());
    if (!root || !root->is_object()) {
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
    json::array choices;
    const json::value* cands = in.if_contains("candidates");
    if (cands != nullptr && cands->is_array() && !cands->get_array().empty()) {
      size_t position = 0;
      for (const json::value& c : cands->get_array()) {
        if (c.is_object()) choices.push_back(Choice(c.get_object(), position, ctx));
        ++position;
      }
    }
    if (choices.empty()) {  // the prompt was blocked
      json::object message;
      message["role"] = "assistant";
      message["content"] = nullptr;
      json::object choice;
      choice["index"] = 0;
      choice["message"] = std::move(message);
      choice["logprobs"] = nullptr;
      choice["finish_reason"] = "content_filter";
      choices.push_back(std::move(choice));
    }
    ChatResponse out;
    out.usage = ReadUsage(in);
    json::object body;
    body["id"] = ctx.id;
    body["object"] = "chat.completion";
    body["created"] = ctx.created;
    body["model"] = ctx.model;
    body["choices"] = std::move(choices);
    body["usage"] = OpenAiUsage(out.usage);
    out.body = json::serialize(body);
    return out;
  } catch (const std::exception& e) {
    return TranslateError{502, std::string("upstream answer could not be translated: ") + e.what(),
                          ""};
  }
}

}  // namespace gkm
