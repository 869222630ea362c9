#include "translate/chat_common.h"

#include "translate/json_util.h"

namespace gkm::translate_internal {

GeminiUsage ReadUsage(const json::object& response) {
  GeminiUsage u;
  const json::value* m = response.if_contains("usageMetadata");
  if (m == nullptr || !m->is_object()) return u;
  const json::object& o = m->get_object();
  u.present = true;
  u.prompt_tokens = CountField(o, "promptTokenCount");
  u.candidates_tokens = CountField(o, "candidatesTokenCount");
  u.thoughts_tokens = CountField(o, "thoughtsTokenCount");
  u.tool_use_prompt_tokens = CountField(o, "toolUsePromptTokenCount");
  u.cached_tokens = CountField(o, "cachedContentTokenCount");
  u.total_tokens = CountField(o, "totalTokenCount");
  if (o.if_contains("totalTokenCount") == nullptr) {
    u.total_tokens =
        u.prompt_tokens + u.candidates_tokens + u.thoughts_tokens + u.tool_use_prompt_tokens;
  }
  return u;
}

json::object OpenAiUsage(const GeminiUsage& u) {
  json::object usage;
  usage["prompt_tokens"] = u.prompt_tokens;
  usage["completion_tokens"] = u.candidates_tokens + u.thoughts_tokens + u.tool_use_prompt_tokens;
  usage["total_tokens"] = u.total_tokens;
  json::object details;
  details["reasoning_tokens"] = u.thoughts_tokens;
  usage["completion_tokens_details"] = std::move(details);
  if (u.cached_tokens > 0) {
    json::object pd;
    pd["cached_tokens"] = u.cached_tokens;
    usage["prompt_tokens_details"] = std::move(pd);
  }
  return usage;
}

std::string_view MapFinishReason(std::string_view r) {
  if (r == "STOP") return "stop";
  if (r == "MAX_TOKENS") return "length";
  if (r == "SAFETY" || r == "RECITATION" || r == "LANGUAGE" || r == "OTHER" || r == "BLOCKLIST" ||
      r == "PROHIBITED_CONTENT" || r == "SPII" || r.starts_with("IMAGE_")) {
    return "content_filter";
  }
  return "stop";
}

json::object ToolCall(const json::object& part, const ResponseContext& ctx) {
  const json::value* fcv = part.if_contains("functionCall");
  json::object fn;
  std::string id;
  std::string_view name;
  json::value args = json::object();
  if (fcv != nullptr && fcv->is_object()) {
    const json::object& fc = fcv->get_object();
    if (const json::value* n = fc.if_contains("name"); n != nullptr && n->is_string()) {
      name = n->get_string();
    }
    if (const json::value* a = fc.if_contains("args"); a != nullptr && !a->is_null()) args = *a;
    if (const json::value* i = fc.if_contains("id");
        i != nullptr && i->is_string() && !i->get_string().empty()) {
      id = i->get_string();
    }
  }
  if (id.empty()) id = ctx.new_tool_call_id ? ctx.new_tool_call_id() : std::string("call_0");
  fn["name"] = name;
  fn["arguments"] = json::serialize(args);
  json::object call;
  call["id"] = id;
  call["type"] = "function";
  call["function"] = std::move(fn);
  const json::value* sig = part.if_contains("thoughtSignature");
  if (sig != nullptr && sig->is_string() && !sig->get_string().empty()) {
    json::object google;
    google["thought_signature"] = sig->get_string();
    json::object extra;
    extra["google"] = std::move(google);
    call["extra_content"] = std::move(extra);
    if (ctx.remember_signature) ctx.remember_signature(id, sig->get_string());
  }
  return call;
}

namespace {

json::object TokenLogprob(const json::value& c) {
  json::object out;
  std::string_view token;
  double lp = 0;
  if (c.is_object()) {
    const json::object& o = c.get_object();
    if (const json::value* t = o.if_contains("token"); t != nullptr && t->is_string()) {
      token = t->get_string();
    }
    if (const json::value* l = o.if_contains("logProbability")) lp = AsDouble(*l).value_or(0);
  }
  out["token"] = token;
  out["logprob"] = lp;
  json::array bytes;
  for (unsigned char ch : token) bytes.push_back(static_cast<int64_t>(ch));
  out["bytes"] = std::move(bytes);
  return out;
}

}  // namespace

json::value Logprobs(const json::object& candidate) {
  const json::value* lr = candidate.if_contains("logprobsResult");
  if (lr == nullptr || !lr->is_object()) return nullptr;
  const json::value* chosen = lr->get_object().if_contains("chosenCandidates");
  const json::value* top = lr->get_object().if_contains("topCandidates");
  if (chosen == nullptr || !chosen->is_array()) return nullptr;
  json::array content;
  const json::array& ch = chosen->get_array();
  for (size_t i = 0; i < ch.size(); ++i) {
    json::object entry = TokenLogprob(ch[i]);
    json::array tops;
    if (top != nullptr && top->is_array() && i < top->get_array().size()) {
      const json::value& ti = top->get_array()[i];
      if (ti.is_object()) {
        const json::value* cands = ti.get_object().if_contains("candidates");
        if (cands != nullptr && cands->is_array()) {
          for (const json::value& c : cands->get_array()) tops.push_back(TokenLogprob(c));
        }
      }
    }
    entry["top_logprobs"] = std::move(tops);
    content.push_back(std::move(entry));
  }
  json::object out;
  out["content"] = std::move(content);
  return out;
}

bool IsThought(const json::object& part) {
  const json::value* t = part.if_contains("thought");
  return t != nullptr && t->is_bool() && t->get_bool();
}

}  // namespace gkm::translate_internal
