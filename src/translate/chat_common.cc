#include "translate/chat_common.h"

#include <algorithm>
#include <optional>
#include <vector>

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
  return LogprobsOf(candidate.if_contains("logprobsResult"));
}

json::value LogprobsOf(const json::value* lr) {
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

namespace {

// The number of code points in the first `bytes` bytes of UTF-8 `text`.
int64_t CodePoints(std::string_view text, size_t bytes) {
  int64_t n = 0;
  for (size_t i = 0; i < bytes && i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++n;
  }
  return n;
}

int64_t IntField(const json::object& o, std::string_view key, int64_t def) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return def;
  return AsInt(*v).value_or(def);
}

struct Source {
  std::string_view url;
  std::string_view title;
};

// A grounding chunk's web page (or retrieved document); url empty when it has none.
Source ChunkSource(const json::value& chunk) {
  Source s;
  if (!chunk.is_object()) return s;
  for (std::string_view kind : {"web", "retrievedContext"}) {
    const json::value* w = chunk.get_object().if_contains(kind);
    if (w == nullptr || !w->is_object()) continue;
    const json::object& o = w->get_object();
    if (const json::value* u = o.if_contains("uri"); u != nullptr && u->is_string()) {
      s.url = u->get_string();
    }
    if (const json::value* t = o.if_contains("title"); t != nullptr && t->is_string()) {
      s.title = t->get_string();
    }
    if (!s.url.empty()) return s;
  }
  return s;
}

json::object UrlCitation(const Source& s, int64_t start, int64_t end) {
  json::object c;
  c["url"] = s.url;
  c["title"] = s.title;
  c["start_index"] = start;
  c["end_index"] = end;
  json::object a;
  a["type"] = "url_citation";
  a["url_citation"] = std::move(c);
  return a;
}

}  // namespace

json::array Annotations(const json::value* grounding_metadata, std::string_view text,
                        const std::vector<int64_t>& part_offsets) {
  json::array out;
  if (grounding_metadata == nullptr || !grounding_metadata->is_object()) return out;
  const json::object& gm = grounding_metadata->get_object();
  const json::value* chunks_v = gm.if_contains("groundingChunks");
  if (chunks_v == nullptr || !chunks_v->is_array()) return out;
  const json::array& chunks = chunks_v->get_array();
  std::vector<bool> cited(chunks.size(), false);
  const int64_t size = static_cast<int64_t>(text.size());
  if (const json::value* sv = gm.if_contains("groundingSupports");
      sv != nullptr && sv->is_array()) {
    for (const json::value& support : sv->get_array()) {
      if (!support.is_object()) continue;
      const json::object& so = support.get_object();
      const json::value* seg_v = so.if_contains("segment");
      const json::value* idx_v = so.if_contains("groundingChunkIndices");
      if (seg_v == nullptr || !seg_v->is_object() || idx_v == nullptr || !idx_v->is_array()) {
        continue;
      }
      const json::object& seg = seg_v->get_object();
      int64_t base = 0;
      if (!part_offsets.empty()) {
        const int64_t part = IntField(seg, "partIndex", 0);
        if (part < 0 || part >= static_cast<int64_t>(part_offsets.size())) continue;
        base = part_offsets[static_cast<size_t>(part)];
        if (base < 0) continue;
      }
      const int64_t start_rel = IntField(seg, "startIndex", 0);
      int64_t end_rel = start_rel;
      if (const json::value* t = seg.if_contains("text"); t != nullptr && t->is_string()) {
        end_rel = start_rel + static_cast<int64_t>(t->get_string().size());
      }
      end_rel = IntField(seg, "endIndex", end_rel);
      // Clamped to the text so that a hostile or stale segment never reads past it.
      const auto clamp = [size](int64_t v) { return v < 0 ? 0 : (v > size ? size : v); };
      const int64_t start_b = clamp(start_rel < 0 ? base : base + std::min(start_rel, size));
      const int64_t end_b =
          std::max(start_b, clamp(end_rel < 0 ? base : base + std::min(end_rel, size)));
      const int64_t start = CodePoints(text, static_cast<size_t>(start_b));
      const int64_t end = CodePoints(text, static_cast<size_t>(end_b));
      for (const json::value& iv : idx_v->get_array()) {
        const std::optional<int64_t> i = AsInt(iv);
        if (!i || *i < 0 || *i >= static_cast<int64_t>(chunks.size())) continue;
        const Source s = ChunkSource(chunks[static_cast<size_t>(*i)]);
        if (s.url.empty()) continue;
        cited[static_cast<size_t>(*i)] = true;
        out.push_back(UrlCitation(s, start, end));
      }
    }
  }
  const int64_t length = CodePoints(text, text.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (cited[i]) continue;
    const Source s = ChunkSource(chunks[i]);
    if (!s.url.empty()) out.push_back(UrlCitation(s, 0, length));
  }
  return out;
}

bool IsThought(const json::object& part) {
  const json::value* t = part.if_contains("thought");
  return t != nullptr && t->is_bool() && t->get_bool();
}

}  // namespace gkm::translate_internal
