#include "translate/chat_stream.h"

#include <exception>
#include <utility>

#include "translate/chat_common.h"
#include "translate/error.h"
#include "translate/gemini_event.h"
#include "translate/json_util.h"

namespace gkm {

namespace json = boost::json;
using namespace translate_internal;  // NOLINT(build/namespaces): this module's helpers

namespace {

// More choices than a request can ask for (n <= 8) means the stream is not Gemini's.
constexpr int64_t kMaxChoiceIndex = 63;

void Append(std::string& out, std::string_view json_text) {
  out += "data: ";
  out += json_text;
  out += "\n\n";
}

}  // namespace

ChatStreamTranslator::ChatStreamTranslator(ResponseContext ctx, bool include_usage)
    : ctx_(std::move(ctx)), include_usage_(include_usage) {}

json::object ChatStreamTranslator::Envelope() const {
  json::object o;
  o["id"] = ctx_.id;
  o["object"] = "chat.completion.chunk";
  o["created"] = ctx_.created;
  o["model"] = ctx_.model;
  return o;
}

void ChatStreamTranslator::Emit(int64_t index, json::object delta, std::string& out,
                                json::value logprobs) {
  json::object choice;
  choice["index"] = index;
  choice["delta"] = std::move(delta);
  if (!logprobs.is_null()) choice["logprobs"] = std::move(logprobs);
  choice["finish_reason"] = nullptr;
  json::object chunk = Envelope();
  chunk["choices"] = json::array{std::move(choice)};
  Append(out, json::serialize(chunk));
}

ChatStreamTranslator::Choice& ChatStreamTranslator::Start(int64_t index, std::string& out) {
  Choice& c = choices_[index];
  if (!c.started) {
    c.started = true;
    json::object delta;
    delta["role"] = "assistant";
    delta["content"] = "";
    Emit(index, std::move(delta), out);
  }
  return c;
}

std::string ChatStreamTranslator::Fail(std::string body) {
  done_ = true;
  failed_ = true;
  std::string out;
  Append(out, body);
  return out;
}

std::string ChatStreamTranslator::Feed(std::string_view upstream_bytes) {
  if (done_) return {};
  std::string out;
  try {
    for (const std::string& data : reader_.Feed(upstream_bytes)) {
      Event(data, out);
      if (done_) return out;
    }
    if (reader_.overflowed()) return out + Fail(OpenAiErrorBody(502, "upstream event too large"));
  } catch (const std::exception& e) {
    return out + Fail(OpenAiErrorBody(502, std::string("stream translation failed: ") + e.what()));
  }
  return out;
}

std::string ChatStreamTranslator::Finish() {
  if (done_) return {};
  std::string out;
  try {
    for (const std::string& data : reader_.Finish()) {
      Event(data, out);
      if (done_) return out;
    }
    if (choices_.empty()) Start(0, out);
    for (auto& [index, c] : choices_) {
      json::array annotations = Annotations(&c.grounding, c.text, {});
      if (annotations.empty()) continue;
      json::object delta;
      delta["annotations"] = std::move(annotations);
      Emit(index, std::move(delta), out);
    }
    for (auto& [index, c] : choices_) {
      json::object choice;
      choice["index"] = index;
      choice["delta"] = json::object();
      std::string reason = c.finish_reason.empty() ? "stop" : c.finish_reason;
      if (c.tool_calls > 0) reason = "tool_calls";
      choice["finish_reason"] = reason;
      json::object chunk = Envelope();
      chunk["choices"] = json::array{std::move(choice)};
      Append(out, json::serialize(chunk));
    }
    if (include_usage_) {
      json::object chunk = Envelope();
      chunk["choices"] = json::array();
      chunk["usage"] = OpenAiUsage(usage_);
      Append(out, json::serialize(chunk));
    }
    out += "data: [DONE]\n\n";
    done_ = true;
  } catch (const std::exception& e) {
    return out + Fail(OpenAiErrorBody(502, std::string("stream translation failed: ") + e.what()));
  }
  return out;
}

std::string ChatStreamTranslator::Error(std::string_view message, int status) {
  if (done_) return {};
  try {
    return Fail(OpenAiErrorBody(status, message));
  } catch (const std::exception&) {
    done_ = true;
    failed_ = true;
    return "data: {\"error\":{\"message\":\"stream failed\",\"type\":\"api_error\","
           "\"param\":null,\"code\":\"bad_gateway\"}}\n\n";
  }
}

void ChatStreamTranslator::Event(const std::string& data, std::string& out) {
  if (data.empty() || data == "[DONE]") return;
  std::string err;
  ScratchJson scratch;  // the parts kept from the event live here
  GeminiEvent ev;
  if (!ReadGeminiEvent(data, &ev, &err, scratch.storage(), /*chat=*/true) || !ev.object) {
    out += Fail(OpenAiErrorBody(502, "upstream sent an unreadable stream event" +
                                         (err.empty() ? std::string() : ": " + err)));
    return;
  }
  if (ev.error) {
    int status = 502;
    if (ev.error->is_object()) {
      if (const json::value* c = ev.error->get_object().if_contains("code")) {
        const int64_t code = AsInt(*c).value_or(502);
        if (code >= 400 && code <= 599) status = static_cast<int>(code);
      }
    }
    out += Fail(TranslateGeminiError(status, data));
    return;
  }
  if (ev.has_usage) usage_ = ev.usage;
  if (ev.has_candidates()) {
    for (const GeminiEventCandidate& c : ev.candidates) Candidate(c, out);
    return;
  }
  if (ev.blocked) Start(0, out).finish_reason = "content_filter";
}

void ChatStreamTranslator::Candidate(const GeminiEventCandidate& cand, std::string& out) {
  int64_t index = static_cast<int64_t>(cand.position);
  if (cand.has_index) index = cand.index.value_or(index);
  if (index < 0 || index > kMaxChoiceIndex) return;
  Choice& choice = Start(index, out);
  json::value logprobs = LogprobsOf(cand.logprobs ? &*cand.logprobs : nullptr);
  for (const json::value& pv : cand.parts) {
    const json::object& p = pv.get_object();
    json::object delta;
    if (p.if_contains("functionCall") != nullptr) {
      json::object call;
      call["index"] = choice.tool_calls++;
      for (auto& kv : ToolCall(p, ctx_)) call[kv.key()] = std::move(kv.value());
      delta["tool_calls"] = json::array{std::move(call)};
      Emit(index, std::move(delta), out);
      continue;
    }
    const json::value* t = p.if_contains("text");
    if (t == nullptr || !t->is_string() || t->get_string().empty()) continue;
    if (IsThought(p)) {
      delta["reasoning_content"] = t->get_string();
      Emit(index, std::move(delta), out);
    } else {
      choice.text += t->get_string();
      delta["content"] = t->get_string();
      Emit(index, std::move(delta), out, std::exchange(logprobs, nullptr));
    }
  }
  if (cand.grounding) choice.grounding = *cand.grounding;
  if (cand.finish) choice.finish_reason = MapFinishReason(*cand.finish);
}

}  // namespace gkm
