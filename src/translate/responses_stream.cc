#include "translate/responses_stream.h"

#include <exception>
#include <utility>

#include "translate/chat_common.h"
#include "translate/error.h"
#include "translate/json_util.h"
#include "translate/thought_signature.h"

namespace gkm {

namespace json = boost::json;
using namespace translate_internal;  // NOLINT(build/namespaces): this module's helpers

namespace {

std::string_view ErrorCode(int status) {
  if (status == 429) return "rate_limit_exceeded";
  if (status == 400) return "invalid_prompt";
  return "server_error";
}

json::object UsageObject(const GeminiUsage& u) {
  json::object usage;
  usage["input_tokens"] = u.prompt_tokens;
  json::object in;
  in["cached_tokens"] = u.cached_tokens;
  usage["input_tokens_details"] = std::move(in);
  usage["output_tokens"] = u.candidates_tokens + u.thoughts_tokens + u.tool_use_prompt_tokens;
  json::object out;
  out["reasoning_tokens"] = u.thoughts_tokens;
  usage["output_tokens_details"] = std::move(out);
  usage["total_tokens"] = u.total_tokens;
  return usage;
}

json::object OutputText(std::string_view text) {
  json::object part;
  part["type"] = "output_text";
  part["text"] = text;
  part["annotations"] = json::array();
  return part;
}

json::object SummaryText(std::string_view text) {
  json::object part;
  part["type"] = "summary_text";
  part["text"] = text;
  return part;
}

std::string_view Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

}  // namespace

ResponsesStreamTranslator::ResponsesStreamTranslator(ResponsesContext ctx) : ctx_(std::move(ctx)) {
  if (!ctx_.echo.empty()) {
    std::string err;
    std::optional<json::value> e = ParseJson(ctx_.echo, &err);
    if (e && e->is_object()) echo_ = std::move(e->get_object());
  }
  if (!ctx_.new_id) ctx_.new_id = [](std::string_view prefix) { return std::string(prefix) + "0"; };
}

std::string ResponsesStreamTranslator::Encrypted(const std::string& signature) const {
  return "gs1." + Base64UrlEncode(signature);
}

json::object ResponsesStreamTranslator::ResponseObject(std::string_view status) const {
  return ResponseObject(status, status == "in_progress" ? json::array() : output_);
}

json::object ResponsesStreamTranslator::ResponseObject(std::string_view status,
                                                       json::array output) const {
  json::object r;
  r.reserve(26 + echo_.size());
  r["id"] = ctx_.id;
  r["object"] = "response";
  r["created_at"] = ctx_.created_at;
  r["status"] = status;
  r["error"] = nullptr;
  if (!incomplete_reason_.empty() && status == "incomplete") {
    json::object d;
    d["reason"] = incomplete_reason_;
    r["incomplete_details"] = std::move(d);
  } else {
    r["incomplete_details"] = nullptr;
  }
  r["instructions"] = nullptr;
  r["max_output_tokens"] = nullptr;
  r["model"] = ctx_.model;
  r["output"] = std::move(output);
  r["parallel_tool_calls"] = true;
  r["previous_response_id"] = nullptr;
  json::object reasoning;
  reasoning["effort"] = nullptr;
  reasoning["summary"] = nullptr;
  r["reasoning"] = std::move(reasoning);
  r["store"] = true;
  r["temperature"] = nullptr;
  json::object format;
  format["type"] = "text";
  json::object text;
  text["format"] = std::move(format);
  r["text"] = std::move(text);
  r["tool_choice"] = "auto";
  r["tools"] = json::array();
  r["top_p"] = nullptr;
  r["truncation"] = "disabled";
  r["metadata"] = json::object();
  for (const auto& kv : echo_) r[kv.key()] = kv.value();
  r["usage"] = status == "in_progress" || !usage_.present ? json::value(nullptr)
                                                          : json::value(UsageObject(usage_));
  return r;
}

void ResponsesStreamTranslator::Emit(std::string_view type, json::object data, std::string& out) {
  if (quiet_) {  // a whole answer: only the final response object is wanted
    ++seq_;
    return;
  }
  EmitMembers(type, data.empty() ? std::string_view() : json::serialize(data), out);
}

void ResponsesStreamTranslator::EmitMembers(std::string_view type, std::string_view members,
                                            std::string& out) {
  // {"type":…,"sequence_number":…, then the data's members: written in place rather than
  // built as one more object (the event types are fixed ASCII names, nothing to escape).
  out += "event: ";
  out += type;
  out += "\ndata: {\"type\":\"";
  out += type;
  out += "\",\"sequence_number\":";
  out += std::to_string(seq_++);
  if (members.size() < 2) {
    out += '}';
  } else {
    out += ',';
    out += members.substr(1);  // without its opening brace
  }
  out += "\n\n";
}

void ResponsesStreamTranslator::EmitDelta(std::string_view type, std::string_view index_name,
                                          std::string_view text, bool logprobs, std::string& out) {
  if (quiet_) {
    ++seq_;
    return;
  }
  // The most frequent event, written as text: {"item_id","output_index",<index_name>: 0,
  // "delta"[, "logprobs": []]}.
  std::string members = "{\"item_id\":";
  AppendJsonString(members, open_id_);
  members += ",\"output_index\":";
  members += std::to_string(output_.size());
  members += ",\"";
  members += index_name;
  members += "\":0,\"delta\":";
  AppendJsonString(members, text);
  if (logprobs) members += ",\"logprobs\":[]";
  members += '}';
  EmitMembers(type, members, out);
}

void ResponsesStreamTranslator::Begin(std::string& out) {
  if (begun_) return;
  begun_ = true;
  json::object created;
  created["response"] = ResponseObject("in_progress");
  const std::string members = json::serialize(created);  // the same for both events
  EmitMembers("response.created", members, out);
  EmitMembers("response.in_progress", members, out);
}

std::string ResponsesStreamTranslator::Feed(std::string_view upstream_bytes) {
  if (done_) return {};
  std::string out;
  try {
    Begin(out);
    for (const std::string& data : reader_.Feed(upstream_bytes)) {
      if (data.empty() || data == "[DONE]") continue;
      std::string err;
      ScratchJson scratch;
      std::optional<json::value> v = ParseJson(data, &err, scratch.storage());
      if (!v || !v->is_object()) {
        return Fail(502,
                    "upstream sent an unreadable stream event" + (err.empty() ? "" : ": " + err),
                    std::move(out));
      }
      Event(v->get_object(), out);
      if (done_) return out;
    }
    if (reader_.overflowed()) return Fail(502, "upstream event too large", std::move(out));
  } catch (const std::exception& e) {
    return Fail(502, std::string("stream translation failed: ") + e.what(), std::move(out));
  }
  return out;
}

std::string ResponsesStreamTranslator::Finish() {
  if (done_) return {};
  std::string out;
  try {
    Begin(out);
    for (const std::string& data : reader_.Finish()) {
      if (data.empty() || data == "[DONE]") continue;
      std::string err;
      ScratchJson scratch;
      std::optional<json::value> v = ParseJson(data, &err, scratch.storage());
      if (!v || !v->is_object()) {
        return Fail(502, "upstream sent an unreadable stream event", std::move(out));
      }
      Event(v->get_object(), out);
      if (done_) return out;
    }
    return End(out);
  } catch (const std::exception& e) {
    return Fail(502, std::string("stream translation failed: ") + e.what(), std::move(out));
  }
}

bool ResponsesStreamTranslator::Whole(std::string_view gemini_json, std::string* error) {
  std::string out;
  std::string err;
  ScratchJson scratch;
  std::optional<json::value> v = ParseJson(gemini_json, &err, scratch.storage());
  if (!v || !v->is_object()) {
    *error = "upstream answer is not a JSON object" + (err.empty() ? std::string() : ": " + err);
    return false;
  }
  const json::object& o = v->get_object();
  if (const json::value* e = o.if_contains("error"); e != nullptr) {
    const std::string_view m = e->is_object() ? Str(e->get_object(), "message") : "";
    *error = m.empty() ? std::string("upstream answered with an error") : std::string(m);
    return false;
  }
  begun_ = true;  // no created events for a whole answer
  quiet_ = true;  // nor any other: the caller takes FinalResponse()
  Event(o, out);
  End(out);
  return !failed_;
}

std::string ResponsesStreamTranslator::Error(std::string_view message, int status) {
  if (done_) return {};
  std::string out;
  try {
    Begin(out);
  } catch (const std::exception&) {
  }
  return Fail(status, message, std::move(out));
}

std::string ResponsesStreamTranslator::Fail(int status, std::string_view message, std::string out) {
  done_ = true;
  failed_ = true;
  status_ = "failed";
  try {
    const std::string_view code = ErrorCode(status);
    json::object e;
    e["code"] = code;
    e["message"] = message;
    e["param"] = nullptr;
    // OpenAI's own error event has no `error` member; openai-node raises only on one, so it
    // is added for the SDKs (Codex reads response.failed, which follows).
    json::object inner;
    inner["type"] = status == 429   ? "rate_limit_error"
                    : status == 400 ? "invalid_request_error"
                                    : "api_error";
    inner["code"] = code;
    inner["message"] = message;
    inner["param"] = nullptr;
    e["error"] = std::move(inner);
    Emit("error", std::move(e), out);
    json::object r = ResponseObject("failed");
    json::object err;
    err["code"] = code;
    err["message"] = message;
    r["error"] = std::move(err);
    json::object failed;
    failed["response"] = std::move(r);
    Emit("response.failed", std::move(failed), out);
  } catch (const std::exception&) {
    out +=
        "event: error\ndata: {\"type\":\"error\",\"code\":\"server_error\",\"message\":\"stream "
        "failed\",\"param\":null}\n\n";
  }
  return out;
}

void ResponsesStreamTranslator::Event(const json::object& ev, std::string& out) {
  if (const json::value* e = ev.if_contains("error"); e != nullptr) {
    int status = 502;
    std::string message = "upstream answered with an error";
    if (e->is_object()) {
      if (const json::value* c = e->get_object().if_contains("code")) {
        const int64_t code = AsInt(*c).value_or(502);
        if (code >= 400 && code <= 599) status = static_cast<int>(code);
      }
      if (std::string_view m = Str(e->get_object(), "message"); !m.empty()) message = m;
    }
    out = Fail(status, message, std::move(out));
    return;
  }
  if (ev.if_contains("usageMetadata") != nullptr) usage_ = ReadUsage(ev);
  const json::value* cands = ev.if_contains("candidates");
  if (cands != nullptr && cands->is_array() && !cands->get_array().empty()) {
    const json::value& c0 = cands->get_array()[0];
    if (!c0.is_object()) return;
    const json::object& cand = c0.get_object();
    ForEachPart(cand, [&](const json::object& p) { Part(p, out); });
    if (std::string_view fr = Str(cand, "finishReason"); !fr.empty()) finish_reason_ = fr;
    return;
  }
  const json::value* pf = ev.if_contains("promptFeedback");
  if (pf != nullptr && pf->is_object() && pf->get_object().if_contains("blockReason") != nullptr) {
    blocked_ = true;
  }
}

void ResponsesStreamTranslator::Part(const json::object& p, std::string& out) {
  if (p.if_contains("functionCall") != nullptr) {
    Call(p, out);
    return;
  }
  const std::string_view sig = Str(p, "thoughtSignature");
  const std::string_view text = Str(p, "text");
  if (IsThought(p)) {
    if (!text.empty()) {
      if (open_ != Open::kReasoning) OpenReasoning(out);
      open_text_ += text;
      EmitDelta("response.reasoning_summary_text.delta", "summary_index", text, false, out);
    }
    if (sig.empty()) return;
    if (open_ == Open::kReasoning && open_sig_.empty()) {
      open_sig_ = sig;
    } else if (pending_sig_.empty()) {
      pending_sig_ = sig;
    }
    return;
  }
  if (!text.empty()) {
    if (open_ != Open::kMessage) OpenMessage(out);
    open_text_ += text;
    EmitDelta("response.output_text.delta", "content_index", text, true, out);
  }
  if (!sig.empty() && pending_sig_.empty()) pending_sig_ = sig;
}

void ResponsesStreamTranslator::OpenReasoning(std::string& out) {
  json::object item;
  item["type"] = "reasoning";
  item["summary"] = json::array();
  OpenItem(Open::kReasoning, "rs_", std::move(item), "response.reasoning_summary_part.added",
           "summary_index", SummaryText(""), out);
}

void ResponsesStreamTranslator::OpenMessage(std::string& out) {
  json::object item;
  item["type"] = "message";
  item["status"] = "in_progress";
  item["role"] = "assistant";
  item["content"] = json::array();
  OpenItem(Open::kMessage, "msg_", std::move(item), "response.content_part.added", "content_index",
           OutputText(""), out);
}

void ResponsesStreamTranslator::OpenItem(Open kind, std::string_view id_prefix, json::object item,
                                         std::string_view part_event, std::string_view index_name,
                                         json::object first_part, std::string& out) {
  CloseOpen(out);
  open_ = kind;
  open_id_ = ctx_.new_id(id_prefix);
  open_text_.clear();
  open_sig_.clear();
  if (quiet_) return;  // a whole answer: no events
  const int64_t index = static_cast<int64_t>(output_.size());
  json::object added;
  added["output_index"] = index;
  // The id first, as OpenAI writes it.
  json::object with_id;
  with_id.reserve(item.size() + 1);
  with_id["id"] = open_id_;
  for (auto& kv : item) with_id[kv.key()] = std::move(kv.value());
  added["item"] = std::move(with_id);
  Emit("response.output_item.added", std::move(added), out);
  json::object part;
  part["item_id"] = open_id_;
  part["output_index"] = index;
  part[index_name] = 0;
  part["part"] = std::move(first_part);
  Emit(part_event, std::move(part), out);
}

void ResponsesStreamTranslator::CloseOpen(std::string& out) {
  if (open_ == Open::kNone) return;
  const int64_t index = static_cast<int64_t>(output_.size());
  json::object item;
  if (open_ == Open::kReasoning) {
    if (!quiet_) {  // a whole answer wants the item only
      json::object d;
      d["item_id"] = open_id_;
      d["output_index"] = index;
      d["summary_index"] = 0;
      d["text"] = open_text_;
      Emit("response.reasoning_summary_text.done", d, out);
      d.erase("text");
      d["part"] = SummaryText(open_text_);
      Emit("response.reasoning_summary_part.done", std::move(d), out);
    }
    item["id"] = open_id_;
    item["type"] = "reasoning";
    item["summary"] = json::array{SummaryText(open_text_)};
    if (ctx_.include_encrypted && !open_sig_.empty()) {
      item["encrypted_content"] = Encrypted(open_sig_);
      carried_sig_ = true;
    }
  } else {
    if (!quiet_) {
      json::object d;
      d["item_id"] = open_id_;
      d["output_index"] = index;
      d["content_index"] = 0;
      d["text"] = open_text_;
      d["logprobs"] = json::array();
      Emit("response.output_text.done", d, out);
      d.erase("text");
      d.erase("logprobs");
      d["part"] = OutputText(open_text_);
      Emit("response.content_part.done", std::move(d), out);
    }
    item["id"] = open_id_;
    item["type"] = "message";
    item["status"] = status_ == "incomplete" ? "incomplete" : "completed";
    item["role"] = "assistant";
    item["content"] = json::array{OutputText(open_text_)};
  }
  if (!quiet_) {
    json::object done;
    done["output_index"] = index;
    done["item"] = item;
    Emit("response.output_item.done", std::move(done), out);
  }
  output_.push_back(std::move(item));
  open_ = Open::kNone;
  open_text_.clear();
  open_sig_.clear();
}

void ResponsesStreamTranslator::SignatureItem(const std::string& signature, std::string& out) {
  CloseOpen(out);
  const int64_t index = static_cast<int64_t>(output_.size());
  json::object item;
  item["id"] = ctx_.new_id("rs_");
  item["type"] = "reasoning";
  item["summary"] = json::array();
  json::object added;
  added["output_index"] = index;
  added["item"] = item;
  Emit("response.output_item.added", std::move(added), out);
  item["encrypted_content"] = Encrypted(signature);
  json::object done;
  done["output_index"] = index;
  done["item"] = item;
  Emit("response.output_item.done", std::move(done), out);
  output_.push_back(std::move(item));
  carried_sig_ = true;
}

void ResponsesStreamTranslator::Call(const json::object& p, std::string& out) {
  const std::string sig(Str(p, "thoughtSignature"));
  if (!sig.empty() && ctx_.include_encrypted && !carried_sig_) {
    if (open_ == Open::kReasoning && open_sig_.empty()) {
      open_sig_ = sig;
      CloseOpen(out);
    } else {
      SignatureItem(sig, out);
    }
  }
  CloseOpen(out);
  std::string_view name;
  json::value args = json::object();
  if (const json::value* fcv = p.if_contains("functionCall"); fcv != nullptr && fcv->is_object()) {
    const json::object& fc = fcv->get_object();
    name = Str(fc, "name");
    if (const json::value* a = fc.if_contains("args"); a != nullptr && !a->is_null()) args = *a;
  }
  const bool custom = ctx_.custom_tools.contains(name);
  const std::string id = ctx_.new_id(custom ? "ctc_" : "fc_");
  const std::string call_id = IdWithSignature(ctx_.new_id("call_"), sig);
  std::string payload;
  if (custom && args.is_object() && args.get_object().if_contains("input") != nullptr &&
      args.get_object().at("input").is_string()) {
    payload = args.get_object().at("input").get_string();
  } else {
    payload = json::serialize(args);
  }
  const int64_t index = static_cast<int64_t>(output_.size());
  const std::string_view field = custom ? "input" : "arguments";
  json::object item;
  item["id"] = id;
  item["type"] = custom ? "custom_tool_call" : "function_call";
  item["status"] = "in_progress";
  item["call_id"] = call_id;
  item["name"] = name;
  item[field] = "";
  json::object added;
  added["output_index"] = index;
  added["item"] = item;
  Emit("response.output_item.added", std::move(added), out);
  const std::string_view prefix =
      custom ? "response.custom_tool_call_input" : "response.function_call_arguments";
  json::object delta;
  delta["item_id"] = id;
  delta["output_index"] = index;
  delta["delta"] = payload;
  Emit(std::string(prefix) + ".delta", std::move(delta), out);
  json::object fin;
  fin["item_id"] = id;
  fin["output_index"] = index;
  if (!custom) fin["name"] = name;
  fin[field] = payload;
  Emit(std::string(prefix) + ".done", std::move(fin), out);
  item["status"] = "completed";
  item[field] = payload;
  json::object done;
  done["output_index"] = index;
  done["item"] = item;
  Emit("response.output_item.done", std::move(done), out);
  output_.push_back(std::move(item));
}

std::string ResponsesStreamTranslator::End(std::string& out) {
  const std::string_view fr = finish_reason_;
  if (blocked_) {
    incomplete_reason_ = "content_filter";
  } else if (fr == "MAX_TOKENS") {
    incomplete_reason_ = "max_output_tokens";
  } else if (!fr.empty() && MapFinishReason(fr) == "content_filter") {
    incomplete_reason_ = "content_filter";
  }
  status_ = incomplete_reason_.empty() ? "completed" : "incomplete";
  CloseOpen(out);
  if (!pending_sig_.empty() && ctx_.include_encrypted) SignatureItem(pending_sig_, out);
  if (!quiet_) {
    json::object fin;
    fin["response"] = ResponseObject(status_);
    Emit(status_ == "completed" ? "response.completed" : "response.incomplete", std::move(fin),
         out);
  }
  done_ = true;
  return std::move(out);
}

std::string ResponsesStreamTranslator::FinalResponse() const {
  return json::serialize(ResponseObject(status_));
}

std::string ResponsesStreamTranslator::TakeFinalResponse() {
  return json::serialize(ResponseObject(status_, std::move(output_)));
}

std::string ResponsesStreamTranslator::OutputItems() const { return json::serialize(output_); }

}  // namespace gkm
