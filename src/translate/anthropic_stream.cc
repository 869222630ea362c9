#include "translate/anthropic_stream.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "translate/anthropic_blocks.h"
#include "translate/anthropic_error.h"
#include "translate/chat_common.h"
#include "translate/gemini_event.h"
#include "translate/json_util.h"

namespace gkm {

namespace json = boost::json;
using namespace translate_internal;  // NOLINT(build/namespaces): this module's helpers

namespace {

// The events are written as text, not built as JSON objects and serialized: a stream's
// events are small, fixed shapes around a few strings (the event types are fixed ASCII
// names, nothing to escape), and this is the hot path of every Anthropic stream.

// The frame heads of the events, up to and including their data's opening
// `{"type":"<type>"`, each appended in one piece.
constexpr std::string_view kMessageStart =
    "event: message_start\ndata: {\"type\":\"message_start\"";
constexpr std::string_view kContentBlockStart =
    "event: content_block_start\ndata: {\"type\":\"content_block_start\"";
constexpr std::string_view kContentBlockDelta =
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\"";
constexpr std::string_view kContentBlockStop =
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\"";
constexpr std::string_view kMessageDelta =
    "event: message_delta\ndata: {\"type\":\"message_delta\"";
constexpr std::string_view kMessageStop = "event: message_stop\ndata: {\"type\":\"message_stop\"";

void Head(std::string& out, std::string_view head) { out += head; }

void Tail(std::string& out) { out += "}\n\n"; }

void Index(std::string& out, int64_t index) {
  out += ",\"index\":";
  AppendInt(out, index);
}

// "usage":{...} as AnthropicUsage has it.
void Usage(std::string& out, const GeminiUsage& u) {
  const int64_t cached = std::min(u.cached_tokens, u.prompt_tokens);
  out += ",\"usage\":{\"input_tokens\":";
  AppendInt(out, u.prompt_tokens - cached);
  out += ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":";
  AppendInt(out, cached);
  out += ",\"output_tokens\":";
  AppendInt(out, u.candidates_tokens + u.thoughts_tokens);
  out += '}';
}

// The deltas up to their value: `,"delta":{"type":"<delta type>","<field>":`.
constexpr std::string_view kTextDelta = ",\"delta\":{\"type\":\"text_delta\",\"text\":";
constexpr std::string_view kThinkingDelta = ",\"delta\":{\"type\":\"thinking_delta\",\"thinking\":";
constexpr std::string_view kSignatureDelta =
    ",\"delta\":{\"type\":\"signature_delta\",\"signature\":";
constexpr std::string_view kInputJsonDelta =
    ",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":";

// A content_block_delta: `delta` (one of the above), then the value as a JSON string.
void Delta(std::string& out, int64_t index, std::string_view delta, std::string_view value) {
  Head(out, kContentBlockDelta);
  Index(out, index);
  out += delta;
  AppendJsonString(out, value);
  out += '}';
  Tail(out);
}

}  // namespace

// Writes the blocks as events into the output of the Feed or Finish being served.
class AnthropicStreamTranslator::Sink : public BlockSink {
 public:
  std::string* out = nullptr;

  void Open(int64_t index, bool thinking) override {
    StartHead(index);
    *out += thinking ? "{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}"
                     : "{\"type\":\"text\",\"text\":\"\"}";
    Tail(*out);
  }
  void Text(int64_t index, bool thinking, std::string_view text) override {
    if (thinking) {
      Delta(*out, index, kThinkingDelta, text);
    } else {
      Delta(*out, index, kTextDelta, text);
    }
  }
  void Signature(int64_t index, std::string_view signature) override {
    Delta(*out, index, kSignatureDelta, signature);
  }
  void Close(int64_t index) override {
    Head(*out, kContentBlockStop);
    Index(*out, index);
    Tail(*out);
  }
  void ToolUse(int64_t index, std::string_view id, std::string_view name,
               const json::value& input) override {
    StartHead(index);
    *out += "{\"type\":\"tool_use\",\"id\":";
    AppendJsonString(*out, id);
    *out += ",\"name\":";
    AppendJsonString(*out, name);
    *out += ",\"input\":{}}";
    Tail(*out);
    Delta(*out, index, kInputJsonDelta, json::serialize(input));
    Close(index);
  }

 private:
  // A content_block_start up to its content_block's value.
  void StartHead(int64_t index) {
    Head(*out, kContentBlockStart);
    Index(*out, index);
    *out += ",\"content_block\":";
  }
};

AnthropicStreamTranslator::AnthropicStreamTranslator(AnthropicContext ctx)
    : ctx_(std::move(ctx)),
      sink_(std::make_unique<Sink>()),
      blocks_(std::make_unique<BlockBuilder>(*sink_, ctx_)) {}

AnthropicStreamTranslator::~AnthropicStreamTranslator() = default;

void AnthropicStreamTranslator::Start(std::string& out) {
  if (started_) return;
  started_ = true;
  Head(out, kMessageStart);
  out += ",\"message\":{\"type\":\"message\",\"id\":";
  AppendJsonString(out, ctx_.id);
  out += ",\"role\":\"assistant\",\"model\":";
  AppendJsonString(out, ctx_.model);
  out += ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null";
  Usage(out, usage_);
  out += '}';
  Tail(out);
  out += AnthropicPingEvent();
}

std::string AnthropicPingEvent() { return "event: ping\ndata: {\"type\":\"ping\"}\n\n"; }

std::string AnthropicStreamTranslator::Fail(int status, std::string_view message) {
  done_ = true;
  failed_ = true;
  std::string out = "event: error\ndata: ";
  out += AnthropicErrorBody(status, message);
  out += "\n\n";
  return out;
}

std::string AnthropicStreamTranslator::Feed(std::string_view upstream_bytes) {
  if (done_) return {};
  std::string out;
  // Gemini's events are wordier than the ones written for them; the first adds the
  // message_start and ping. One allocation instead of the string's doublings.
  out.reserve(upstream_bytes.size() + 512);
  sink_->out = &out;
  try {
    for (const std::string& data : reader_.Feed(upstream_bytes)) {
      Event(data, out);
      if (done_) return out;
    }
    if (reader_.overflowed()) return out + Fail(502, "upstream event too large");
  } catch (const std::exception& e) {
    return out + Fail(502, std::string("stream translation failed: ") + e.what());
  }
  return out;
}

std::string AnthropicStreamTranslator::Finish() {
  if (done_) return {};
  std::string out;
  out.reserve(512);
  sink_->out = &out;
  try {
    for (const std::string& data : reader_.Finish()) {
      Event(data, out);
      if (done_) return out;
    }
    Start(out);
    blocks_->Finish();
    Head(out, kMessageDelta);
    out += ",\"delta\":{\"stop_reason\":";
    AppendJsonString(out, StopReason(finish_reason_, blocks_->tool_use(), blocked_));
    out += ",\"stop_sequence\":null}";
    Usage(out, usage_);
    Tail(out);
    Head(out, kMessageStop);
    Tail(out);
    done_ = true;
  } catch (const std::exception& e) {
    return out + Fail(502, std::string("stream translation failed: ") + e.what());
  }
  return out;
}

std::string AnthropicStreamTranslator::Error(std::string_view message, int status) {
  if (done_) return {};
  try {
    return Fail(status, message);
  } catch (const std::exception&) {
    done_ = true;
    failed_ = true;
    return "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\","
           "\"message\":\"stream failed\"}}\n\n";
  }
}

void AnthropicStreamTranslator::Event(const std::string& data, std::string& out) {
  if (data.empty() || data == "[DONE]") return;
  std::string err;
  ScratchJson scratch;  // the parts kept from the event live here
  GeminiEvent ev;
  if (!ReadGeminiEvent(data, &ev, &err, scratch.storage()) || !ev.object) {
    out += Fail(502, "upstream sent an unreadable stream event" +
                         (err.empty() ? std::string() : ": " + err));
    return;
  }
  if (ev.error) {
    const json::value* e = &*ev.error;
    int status = 502;
    std::string message = "upstream stream failed";
    if (e->is_object()) {
      if (const json::value* c = e->get_object().if_contains("code")) {
        const int64_t code = AsInt(*c).value_or(502);
        if (code >= 400 && code <= 599) status = static_cast<int>(code);
      }
      if (const json::value* m = e->get_object().if_contains("message");
          m != nullptr && m->is_string()) {
        message = m->get_string();
      }
    }
    out += Fail(status, message);
    return;
  }
  if (ev.has_usage) usage_ = ev.usage;
  Start(out);
  if (ev.has_candidates()) {
    for (const GeminiEventCandidate& cand : ev.candidates) {
      int64_t index = static_cast<int64_t>(cand.position);
      if (cand.has_index) index = cand.index.value_or(-1);
      if (index != 0) continue;  // Anthropic has one answer per request
      for (const json::value& p : cand.parts) blocks_->Part(p.get_object());
      if (cand.finish) finish_reason_ = *cand.finish;
    }
    return;
  }
  if (ev.blocked) blocked_ = true;
}

}  // namespace gkm
