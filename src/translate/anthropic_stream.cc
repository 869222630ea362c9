#include "translate/anthropic_stream.h"

#include <exception>
#include <utility>

#include "translate/anthropic_blocks.h"
#include "translate/anthropic_error.h"
#include "translate/chat_common.h"
#include "translate/json_util.h"

namespace gkm {

namespace json = boost::json;
using namespace translate_internal;  // NOLINT(build/namespaces): this module's helpers

namespace {

void Append(std::string& out, std::string_view type, const json::object& data) {
  out += "event: ";
  out += type;
  out += "\ndata: ";
  out += json::serialize(data);
  out += "\n\n";
}

json::object Typed(std::string_view type) {
  json::object o;
  o["type"] = type;
  return o;
}

json::object Delta(int64_t index, json::object delta) {
  json::object o = Typed("content_block_delta");
  o["index"] = index;
  o["delta"] = std::move(delta);
  return o;
}

}  // namespace

// Writes the blocks as events into the output of the Feed or Finish being served.
class AnthropicStreamTranslator::Sink : public BlockSink {
 public:
  std::string* out = nullptr;

  void Open(int64_t index, bool thinking) override {
    json::object block = Typed(thinking ? "thinking" : "text");
    if (thinking) {
      block["thinking"] = "";
      block["signature"] = "";
    } else {
      block["text"] = "";
    }
    Start(index, std::move(block));
  }
  void Text(int64_t index, bool thinking, std::string_view text) override {
    json::object d = Typed(thinking ? "thinking_delta" : "text_delta");
    d[thinking ? "thinking" : "text"] = text;
    Append(*out, "content_block_delta", Delta(index, std::move(d)));
  }
  void Signature(int64_t index, std::string_view signature) override {
    json::object d = Typed("signature_delta");
    d["signature"] = signature;
    Append(*out, "content_block_delta", Delta(index, std::move(d)));
  }
  void Close(int64_t index) override {
    json::object o = Typed("content_block_stop");
    o["index"] = index;
    Append(*out, "content_block_stop", o);
  }
  void ToolUse(int64_t index, std::string_view id, std::string_view name,
               const json::value& input) override {
    json::object block = Typed("tool_use");
    block["id"] = id;
    block["name"] = name;
    block["input"] = json::object();
    Start(index, std::move(block));
    json::object d = Typed("input_json_delta");
    d["partial_json"] = json::serialize(input);
    Append(*out, "content_block_delta", Delta(index, std::move(d)));
    Close(index);
  }

 private:
  void Start(int64_t index, json::object block) {
    json::object o = Typed("content_block_start");
    o["index"] = index;
    o["content_block"] = std::move(block);
    Append(*out, "content_block_start", o);
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
  json::object message = Typed("message");
  message["id"] = ctx_.id;
  message["role"] = "assistant";
  message["model"] = ctx_.model;
  message["content"] = json::array();
  message["stop_reason"] = nullptr;
  message["stop_sequence"] = nullptr;
  message["usage"] = AnthropicUsage(usage_);
  json::object ev = Typed("message_start");
  ev["message"] = std::move(message);
  Append(out, "message_start", ev);
  out += AnthropicPingEvent();
}

std::string AnthropicPingEvent() {
  std::string out;
  Append(out, "ping", Typed("ping"));
  return out;
}

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
  sink_->out = &out;
  try {
    for (const std::string& data : reader_.Finish()) {
      Event(data, out);
      if (done_) return out;
    }
    Start(out);
    blocks_->Finish();
    json::object delta;
    delta["stop_reason"] = StopReason(finish_reason_, blocks_->tool_use(), blocked_);
    delta["stop_sequence"] = nullptr;
    json::object ev = Typed("message_delta");
    ev["delta"] = std::move(delta);
    ev["usage"] = AnthropicUsage(usage_);
    Append(out, "message_delta", ev);
    Append(out, "message_stop", Typed("message_stop"));
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
  ScratchJson scratch;  // the event is read and dropped here
  std::optional<json::value> v = ParseJson(data, &err, scratch.storage());
  if (!v || !v->is_object()) {
    out += Fail(502, "upstream sent an unreadable stream event" +
                         (err.empty() ? std::string() : ": " + err));
    return;
  }
  const json::object& ev = v->get_object();
  if (const json::value* e = ev.if_contains("error"); e != nullptr) {
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
  if (ev.if_contains("usageMetadata") != nullptr) usage_ = ReadUsage(ev);
  Start(out);
  const json::value* cands = ev.if_contains("candidates");
  if (cands != nullptr && cands->is_array() && !cands->get_array().empty()) {
    size_t position = 0;
    for (const json::value& c : cands->get_array()) {
      const size_t here = position++;
      if (!c.is_object()) continue;
      const json::object& cand = c.get_object();
      int64_t index = static_cast<int64_t>(here);
      if (const json::value* iv = cand.if_contains("index")) index = AsInt(*iv).value_or(-1);
      if (index != 0) continue;  // Anthropic has one answer per request
      ForEachPart(cand, [&](const json::object& p) { blocks_->Part(p); });
      if (const json::value* fr = cand.if_contains("finishReason");
          fr != nullptr && fr->is_string()) {
        finish_reason_ = fr->get_string();
      }
    }
    return;
  }
  const json::value* pf = ev.if_contains("promptFeedback");
  if (pf != nullptr && pf->is_object() && pf->get_object().if_contains("blockReason") != nullptr) {
    blocked_ = true;
  }
}

}  // namespace gkm
