#include "translate/responses_stream.h"

#include <algorithm>
#include <array>
#include <exception>
#include <utility>
#include <vector>

#include "translate/chat_common.h"
#include "translate/error.h"
#include "translate/gemini_event.h"
#include "translate/json_util.h"
#include "translate/thought_signature.h"

namespace gkm {

namespace json = boost::json;
using namespace translate_internal;  // NOLINT(build/namespaces): this module's helpers
using namespace std::string_view_literals;

namespace {

std::string_view ErrorCode(int status) {
  if (status == 429) return "rate_limit_exceeded";
  if (status == 400) return "invalid_prompt";
  return "server_error";
}

// The usage object as UsageObject had it: input_tokens, input_tokens_details
// {cached_tokens}, output_tokens (candidates + thoughts + tool-use prompt),
// output_tokens_details {reasoning_tokens}, total_tokens.
void AppendUsage(std::string& out, const GeminiUsage& u) {
  out += "{\"input_tokens\":"sv;
  AppendInt(out, u.prompt_tokens);
  out += ",\"input_tokens_details\":{\"cached_tokens\":"sv;
  AppendInt(out, u.cached_tokens);
  out += "},\"output_tokens\":"sv;
  AppendInt(out, u.candidates_tokens + u.thoughts_tokens + u.tool_use_prompt_tokens);
  out += ",\"output_tokens_details\":{\"reasoning_tokens\":"sv;
  AppendInt(out, u.thoughts_tokens);
  out += "},\"total_tokens\":"sv;
  AppendInt(out, u.total_tokens);
  out += '}';
}

std::string JsonString(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

void Tail(std::string& out) { out += "}\n\n"sv; }

// An event type as a template argument.
template <size_t N>
struct Literal {
  char text[N];
  consteval Literal(const char (&t)[N]) {  // NOLINT(runtime/explicit): made from literals
    std::copy_n(t, N, text);
  }
};

// kFrame<"type">: an event's frame up to its data's sequence number,
// `event: <type>\ndata: {"type":"<type>","sequence_number":`, made at compile time so that
// each event's head is one append (the types are fixed ASCII names, nothing to escape).
template <Literal T>
struct FrameText {
  static constexpr std::string_view kType{T.text, sizeof(T.text) - 1};
  static constexpr std::string_view kParts[] = {"event: ", kType, "\ndata: {\"type\":\"", kType,
                                                "\",\"sequence_number\":"};
  static constexpr size_t kSize = [] {
    size_t n = 0;
    for (std::string_view part : kParts) n += part.size();
    return n;
  }();
  static constexpr std::array<char, kSize> kText = [] {
    std::array<char, kSize> a{};
    size_t i = 0;
    for (std::string_view part : kParts) {
      for (char c : part) a[i++] = c;
    }
    return a;
  }();
};
template <Literal T>
constexpr std::string_view kFrame{FrameText<T>::kText.data(), FrameText<T>::kSize};

std::string_view Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

}  // namespace

ResponsesStreamTranslator::ResponsesStreamTranslator(ResponsesContext ctx) : ctx_(std::move(ctx)) {
  if (!ctx_.new_id) ctx_.new_id = [](std::string_view prefix) { return std::string(prefix) + "0"; };
  PlanResponseObject();
}

std::string ResponsesStreamTranslator::Encrypted(const std::string& signature) const {
  return "gs1." + Base64UrlEncode(signature);
}

// The response object is written as text from a plan made once per stream: its members in
// OpenAI's order with their defaults, the request's echoed fields (ctx.echo) in place of a
// default of the same name or after the defaults, then usage. Members whose value changes
// (status, error, incomplete_details, output, usage) are slots filled in as it is written;
// an echoed field of the same name fixes the value, except error (set on failure) and usage.
// The text is the one Boost.JSON gave for the object built member by member.
void ResponsesStreamTranslator::PlanResponseObject() {
  // The plan depends on the echo and the model only (id and created_at are slots). Requests
  // of one client repeat their echo (instructions, tools, ...), so the last plan made on this
  // thread is kept and reused when both are the same: a copy instead of parsing the echo.
  struct Cached {
    std::string echo;
    std::string model;
    std::string text;
    Segment plan[kMaxSegments];
    size_t count = 0;
    std::string error_default;
    bool valid = false;
  };
  thread_local Cached cached;
  if (cached.valid && cached.echo == ctx_.echo && cached.model == ctx_.model) {
    plan_text_ = cached.text;
    std::copy_n(cached.plan, cached.count, plan_);
    plan_count_ = cached.count;
    error_default_ = cached.error_default;
    return;
  }
  MakePlan();
  cached.valid = false;  // stays so if a copy below throws
  cached.echo = ctx_.echo;
  cached.model = ctx_.model;
  cached.text = plan_text_;
  std::copy_n(plan_, plan_count_, cached.plan);
  cached.count = plan_count_;
  cached.error_default = error_default_;
  cached.valid = true;
}

void ResponsesStreamTranslator::MakePlan() {
  // Values that are not constant text: the model (written at its place) or an echoed field's
  // (its serialization, in `echoed`).
  enum Source : int { kText = -1, kModel = -2 };
  struct Member {
    std::string_view key;
    std::string_view text;  // the value, or the slot's value when it has none to fill in
    Slot slot = Slot::kNone;
    int source = kText;  // kText, kModel, or an index into `echoed`
  };
  static constexpr Member kDefaults[] = {
      {"id", "", Slot::kId},
      {"object", "\"response\""},
      {"created_at", "", Slot::kCreatedAt},
      {"status", "", Slot::kStatus},
      {"error", "null", Slot::kError},
      {"incomplete_details", "", Slot::kIncompleteDetails},
      {"instructions", "null"},
      {"max_output_tokens", "null"},
      {"model", "", Slot::kNone, kModel},
      {"output", "", Slot::kOutput},
      {"parallel_tool_calls", "true"},
      {"previous_response_id", "null"},
      {"reasoning", "{\"effort\":null,\"summary\":null}"},
      {"store", "true"},
      {"temperature", "null"},
      {"text", "{\"format\":{\"type\":\"text\"}}"},
      {"tool_choice", "\"auto\""},
      {"tools", "[]"},
      {"top_p", "null"},
      {"truncation", "\"disabled\""},
      {"metadata", "{}"},
  };
  std::vector<Member> members(std::begin(kDefaults), std::end(kDefaults));
  std::vector<std::string> echoed;
  ScratchJson scratch;  // the parsed echo, whose keys the members point to
  std::optional<json::value> e;
  if (!ctx_.echo.empty()) {
    std::string err;
    e = ParseJson(ctx_.echo, &err, scratch.storage());
  }
  if (e && e->is_object()) {
    const json::object& o = e->get_object();
    members.reserve(members.size() + o.size() + 1);
    echoed.reserve(o.size());
    for (const auto& kv : o) {
      const std::string_view key = kv.key();
      auto it = std::find_if(members.begin(), members.end(),
                             [&](const Member& m) { return m.key == key; });
      if (it == members.end()) it = members.insert(members.end(), Member{key, ""});
      it->source = static_cast<int>(echoed.size());
      echoed.push_back(json::serialize(kv.value()));
      if (it->slot != Slot::kError) it->slot = Slot::kNone;
    }
  }
  auto usage = std::find_if(members.begin(), members.end(),
                            [](const Member& m) { return m.key == "usage"; });
  if (usage == members.end()) {
    members.push_back(Member{"usage", "", Slot::kUsage});
  } else {
    usage->slot = Slot::kUsage;
  }
  plan_text_.reserve(512 + ctx_.echo.size() + ctx_.id.size() + ctx_.model.size());
  plan_count_ = 0;
  for (size_t i = 0; i < members.size(); ++i) {
    const Member& m = members[i];
    plan_text_ += plan_text_.empty() ? '{' : ',';
    if (i < std::size(kDefaults)) {  // our names need no escaping
      plan_text_ += '"';
      plan_text_ += m.key;
      plan_text_ += "\":"sv;
    } else {
      AppendJsonString(plan_text_, m.key);
      plan_text_ += ':';
    }
    std::string_view value = m.text;
    if (m.source >= 0) value = echoed[static_cast<size_t>(m.source)];
    if (m.slot == Slot::kNone) {
      switch (m.source) {
        case kModel:
          AppendJsonString(plan_text_, ctx_.model);
          break;
        default:
          plan_text_ += value;
          break;
      }
      continue;
    }
    if (m.slot == Slot::kError) error_default_ = value;
    plan_[plan_count_++] = Segment{plan_text_.size(), m.slot};
  }
  plan_text_ += '}';
  plan_[plan_count_++] = Segment{plan_text_.size(), Slot::kNone};
}

std::string ResponsesStreamTranslator::ResponseObject(std::string_view status,
                                                      std::string_view error) const {
  const bool in_progress = status == "in_progress";
  std::string r;
  r.reserve(plan_text_.size() + ctx_.id.size() + 256 + (in_progress ? 0 : output_.size()));
  size_t start = 0;
  for (size_t i = 0; i < plan_count_; ++i) {
    const Segment& seg = plan_[i];
    r.append(plan_text_, start, seg.end - start);
    start = seg.end;
    switch (seg.slot) {
      case Slot::kNone:
        break;
      case Slot::kId:
        AppendJsonString(r, ctx_.id);
        break;
      case Slot::kCreatedAt:
        AppendInt(r, ctx_.created_at);
        break;
      case Slot::kStatus:
        AppendJsonString(r, status);
        break;
      case Slot::kError:
        r += error.empty() ? std::string_view(error_default_) : error;
        break;
      case Slot::kIncompleteDetails:
        if (!incomplete_reason_.empty() && status == "incomplete") {
          r += "{\"reason\":"sv;
          AppendJsonString(r, incomplete_reason_);
          r += '}';
        } else {
          r += "null"sv;
        }
        break;
      case Slot::kOutput:
        r += '[';
        if (!in_progress) r += output_;
        r += ']';
        break;
      case Slot::kUsage:
        if (in_progress || !usage_.present) {
          r += "null"sv;
        } else {
          AppendUsage(r, usage_);
        }
        break;
    }
  }
  return r;
}

bool ResponsesStreamTranslator::Head(std::string_view frame, std::string& out) {
  if (quiet_) {  // a whole answer: only the final response object is wanted
    ++seq_;
    return false;
  }
  out += frame;
  AppendInt(out, seq_++);
  return true;
}

void ResponsesStreamTranslator::ItemRef(std::string_view item_id, std::string& out) const {
  out += ",\"item_id\":"sv;
  AppendJsonString(out, item_id);
  out += ",\"output_index\":"sv;
  AppendInt(out, static_cast<int64_t>(output_count_));
}

void ResponsesStreamTranslator::ItemEvent(std::string_view frame, std::string_view item,
                                          std::string& out) {
  if (!Head(frame, out)) return;
  out += ",\"output_index\":"sv;
  AppendInt(out, static_cast<int64_t>(output_count_));
  out += ",\"item\":"sv;
  out += item;
  Tail(out);
}

void ResponsesStreamTranslator::EmitDelta(std::string_view frame, std::string_view index_name,
                                          std::string_view text, bool logprobs, std::string& out) {
  // The most frequent event: {"item_id","output_index",<index_name>: 0, "delta"[,
  // "logprobs": []]}.
  if (!Head(frame, out)) return;
  ItemRef(open_id_, out);
  out += ",\""sv;
  out += index_name;
  out += "\":0,\"delta\":"sv;
  AppendJsonString(out, text);
  if (logprobs) out += ",\"logprobs\":[]"sv;
  Tail(out);
}

void ResponsesStreamTranslator::Begin(std::string& out) {
  if (begun_) return;
  begun_ = true;
  const std::string response = ResponseObject("in_progress");  // the same for both events
  for (std::string_view frame : {kFrame<"response.created">, kFrame<"response.in_progress">}) {
    if (!Head(frame, out)) continue;
    out += ",\"response\":"sv;
    out += response;
    Tail(out);
  }
}

std::string ResponsesStreamTranslator::Feed(std::string_view upstream_bytes) {
  if (done_) return {};
  std::string out;
  // Each event written is about as long as Gemini's; the first Feed adds the two response
  // objects. One allocation instead of the string's doublings.
  out.reserve(upstream_bytes.size() + 512 + (begun_ ? 0 : 2 * plan_text_.size()));
  try {
    Begin(out);
    for (const std::string& data : reader_.Feed(upstream_bytes)) {
      if (data.empty() || data == "[DONE]") continue;
      std::string err;
      ScratchJson scratch;  // the parts kept from the event live here
      GeminiEvent ev;
      if (!ReadGeminiEvent(data, &ev, &err, scratch.storage()) || !ev.object) {
        return Fail(502,
                    "upstream sent an unreadable stream event" + (err.empty() ? "" : ": " + err),
                    std::move(out));
      }
      Event(ev, out);
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
      GeminiEvent ev;
      if (!ReadGeminiEvent(data, &ev, &err, scratch.storage()) || !ev.object) {
        return Fail(502, "upstream sent an unreadable stream event", std::move(out));
      }
      Event(ev, out);
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
  GeminiEvent ev;
  if (!ReadGeminiEvent(gemini_json, &ev, &err, scratch.storage()) || !ev.object) {
    *error = "upstream answer is not a JSON object" + (err.empty() ? std::string() : ": " + err);
    return false;
  }
  if (ev.error) {
    const std::string_view m = ev.error->is_object() ? Str(ev.error->get_object(), "message") : "";
    *error = m.empty() ? std::string("upstream answered with an error") : std::string(m);
    return false;
  }
  begun_ = true;  // no created events for a whole answer
  quiet_ = true;  // nor any other: the caller takes FinalResponse()
  Event(ev, out);
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
    const std::string quoted = JsonString(message);
    // OpenAI's own error event has no `error` member; openai-node raises only on one, so it
    // is added for the SDKs (Codex reads response.failed, which follows).
    if (Head(kFrame<"error">, out)) {
      out += ",\"code\":\""sv;
      out += code;
      out += "\",\"message\":"sv;
      out += quoted;
      out += ",\"param\":null,\"error\":{\"type\":\""sv;
      out += status == 429   ? "rate_limit_error"
             : status == 400 ? "invalid_request_error"
                             : "api_error";
      out += "\",\"code\":\""sv;
      out += code;
      out += "\",\"message\":"sv;
      out += quoted;
      out += ",\"param\":null}"sv;
      Tail(out);
    }
    if (Head(kFrame<"response.failed">, out)) {
      std::string error = "{\"code\":\"";
      error += code;
      error += "\",\"message\":"sv;
      error += quoted;
      error += '}';
      out += ",\"response\":"sv;
      out += ResponseObject("failed", error);
      Tail(out);
    }
  } catch (const std::exception&) {
    out +=
        "event: error\ndata: {\"type\":\"error\",\"code\":\"server_error\",\"message\":\"stream "
        "failed\",\"param\":null}\n\n";
  }
  return out;
}

void ResponsesStreamTranslator::Event(const GeminiEvent& ev, std::string& out) {
  if (ev.error) {
    const json::value* e = &*ev.error;
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
  if (ev.has_usage) usage_ = ev.usage;
  if (ev.has_candidates()) {
    // candidates[0] only, and only when it is an object.
    if (ev.candidates.empty() || ev.candidates[0].position != 0) return;
    const GeminiEventCandidate& cand = ev.candidates[0];
    for (const json::value& p : cand.parts) Part(p.get_object(), out);
    if (cand.finish && !cand.finish->empty()) finish_reason_ = *cand.finish;
    return;
  }
  if (ev.blocked) blocked_ = true;
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
      EmitDelta(kFrame<"response.reasoning_summary_text.delta">, "summary_index", text, false, out);
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
    EmitDelta(kFrame<"response.output_text.delta">, "content_index", text, true, out);
  }
  if (!sig.empty() && pending_sig_.empty()) pending_sig_ = sig;
}

void ResponsesStreamTranslator::OpenReasoning(std::string& out) {
  OpenItem(Open::kReasoning, "rs_", ",\"type\":\"reasoning\",\"summary\":[]",
           kFrame<"response.reasoning_summary_part.added">, "summary_index",
           "{\"type\":\"summary_text\",\"text\":\"\"}", out);
}

void ResponsesStreamTranslator::OpenMessage(std::string& out) {
  OpenItem(Open::kMessage, "msg_",
           ",\"type\":\"message\",\"status\":\"in_progress\",\"role\":\"assistant\",\"content\":[]",
           kFrame<"response.content_part.added">, "content_index",
           "{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}", out);
}

void ResponsesStreamTranslator::OpenItem(Open kind, std::string_view id_prefix,
                                         std::string_view item_rest, std::string_view part_event,
                                         std::string_view index_name, std::string_view first_part,
                                         std::string& out) {
  CloseOpen(out);
  open_ = kind;
  open_id_ = ctx_.new_id(id_prefix);
  open_text_.clear();
  open_sig_.clear();
  if (quiet_) return;  // a whole answer: no events
  // The id first, as OpenAI writes it.
  std::string item = "{\"id\":";
  AppendJsonString(item, open_id_);
  item += item_rest;
  item += '}';
  ItemEvent(kFrame<"response.output_item.added">, item, out);
  if (!Head(part_event, out)) return;
  ItemRef(open_id_, out);
  out += ",\""sv;
  out += index_name;
  out += "\":0,\"part\":"sv;
  out += first_part;
  Tail(out);
}

void ResponsesStreamTranslator::CloseOpen(std::string& out) {
  if (open_ == Open::kNone) return;
  std::string item = "{\"id\":";
  AppendJsonString(item, open_id_);
  const std::string text = JsonString(open_text_);
  if (open_ == Open::kReasoning) {
    if (Head(kFrame<"response.reasoning_summary_text.done">, out)) {
      ItemRef(open_id_, out);
      out += ",\"summary_index\":0,\"text\":"sv;
      out += text;
      Tail(out);
    }
    if (Head(kFrame<"response.reasoning_summary_part.done">, out)) {
      ItemRef(open_id_, out);
      out += ",\"summary_index\":0,\"part\":{\"type\":\"summary_text\",\"text\":"sv;
      out += text;
      out += '}';
      Tail(out);
    }
    item += ",\"type\":\"reasoning\",\"summary\":[{\"type\":\"summary_text\",\"text\":"sv;
    item += text;
    item += "}]"sv;
    if (ctx_.include_encrypted && !open_sig_.empty()) {
      item += ",\"encrypted_content\":"sv;
      AppendJsonString(item, Encrypted(open_sig_));
      carried_sig_ = true;
    }
  } else {
    if (Head(kFrame<"response.output_text.done">, out)) {
      ItemRef(open_id_, out);
      out += ",\"content_index\":0,\"text\":"sv;
      out += text;
      out += ",\"logprobs\":[]"sv;
      Tail(out);
    }
    if (Head(kFrame<"response.content_part.done">, out)) {
      ItemRef(open_id_, out);
      out += ",\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":"sv;
      out += text;
      out += ",\"annotations\":[]}"sv;
      Tail(out);
    }
    item += ",\"type\":\"message\",\"status\":"sv;
    item += status_ == "incomplete" ? "\"incomplete\"" : "\"completed\"";
    item += ",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":"sv;
    item += text;
    item += ",\"annotations\":[]}]"sv;
  }
  item += '}';
  ItemEvent(kFrame<"response.output_item.done">, item, out);
  AddOutput(item);
  open_ = Open::kNone;
  open_text_.clear();
  open_sig_.clear();
}

void ResponsesStreamTranslator::AddOutput(std::string_view item) {
  if (output_count_ > 0) output_ += ',';
  output_ += item;
  ++output_count_;
}

void ResponsesStreamTranslator::SignatureItem(const std::string& signature, std::string& out) {
  CloseOpen(out);
  std::string item = "{\"id\":";
  AppendJsonString(item, ctx_.new_id("rs_"));
  item += ",\"type\":\"reasoning\",\"summary\":[]"sv;
  ItemEvent(kFrame<"response.output_item.added">, item + '}', out);
  item += ",\"encrypted_content\":"sv;
  AppendJsonString(item, Encrypted(signature));
  item += '}';
  ItemEvent(kFrame<"response.output_item.done">, item, out);
  AddOutput(item);
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
  const std::string quoted_id = JsonString(id);
  const std::string quoted_name = JsonString(name);
  const std::string quoted_payload = JsonString(payload);
  const std::string_view field = custom ? "input" : "arguments";
  // {"id","type","status","call_id","name",<field>}
  std::string head = "{\"id\":" + quoted_id + ",\"type\":";
  head += custom ? "\"custom_tool_call\"" : "\"function_call\"";
  std::string rest = ",\"call_id\":";
  AppendJsonString(rest, call_id);
  rest += ",\"name\":"sv;
  rest += quoted_name;
  rest += ",\""sv;
  rest += field;
  rest += "\":"sv;
  ItemEvent(kFrame<"response.output_item.added">,
            head + ",\"status\":\"in_progress\"" + rest + "\"\"}", out);
  if (Head(custom ? kFrame<"response.custom_tool_call_input.delta">
                  : kFrame<"response.function_call_arguments.delta">,
           out)) {
    ItemRef(id, out);
    out += ",\"delta\":"sv;
    out += quoted_payload;
    Tail(out);
  }
  if (Head(custom ? kFrame<"response.custom_tool_call_input.done">
                  : kFrame<"response.function_call_arguments.done">,
           out)) {
    ItemRef(id, out);
    if (!custom) {
      out += ",\"name\":"sv;
      out += quoted_name;
    }
    out += ",\""sv;
    out += field;
    out += "\":"sv;
    out += quoted_payload;
    Tail(out);
  }
  const std::string item = head + ",\"status\":\"completed\"" + rest + quoted_payload + '}';
  ItemEvent(kFrame<"response.output_item.done">, item, out);
  AddOutput(item);
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
    // Kept: FinalResponse() (the exchange being stored) wants the same bytes.
    final_ = ResponseObject(status_);
    Head(status_ == "completed" ? kFrame<"response.completed"> : kFrame<"response.incomplete">,
         out);
    out += ",\"response\":"sv;
    out += final_;
    Tail(out);
  }
  done_ = true;
  return std::move(out);
}

std::string ResponsesStreamTranslator::FinalResponse() const {
  if (!final_.empty()) return final_;
  return ResponseObject(status_);
}

std::string ResponsesStreamTranslator::TakeFinalResponse() {
  std::string r = final_.empty() ? ResponseObject(status_) : std::move(final_);
  final_.clear();
  output_.clear();
  output_count_ = 0;
  return r;
}

std::string ResponsesStreamTranslator::OutputItems() const { return "[" + output_ + "]"; }

}  // namespace gkm
