// AnthropicStreamTranslator: Gemini's `streamGenerateContent?alt=sse` byte stream → the
// Anthropic Messages event stream (WIRE-AGENTS D5).
//
// Feed() takes the upstream bytes as they arrive, split anywhere, and returns the bytes to
// send to the client now (possibly none). Every event is framed
// `event: <type>\ndata: <json>\n\n`:
//   1. message_start (the message of anthropic_response.h with empty content, null
//      stop_reason and the usage of the first event), then one `ping` — both only once the
//      first upstream event is in, so that a failure before it can still be an error event
//      alone;
//   2. per block, as the parts of the first candidate arrive (cut into blocks exactly as
//      anthropic_response.h says): content_block_start (text {"text":""}, thinking
//      {"thinking":"","signature":""}, tool_use {id, name, "input":{}}), content_block_delta
//      (text_delta, thinking_delta, one input_json_delta holding the whole args — Gemini
//      sends calls whole — and for a thinking block one signature_delta right before its
//      stop), content_block_stop;
//   3. on Finish(): the open block's stop, message_delta {stop_reason, stop_sequence: null}
//      with the usage of the last usageMetadata seen, message_stop.
// A `ping` event alone is AnthropicPingEvent(); the route sends more of them while the
// upstream is silent (proxy/idle_ping.h), before message_start too (the SDK skips pings
// wherever they come; Anthropic documents that pings may come at any point).
// Errors: an upstream event `{"error":{...}}`, data that is not JSON, an event larger than
// the SseReader's bound, or a call to Error(), produce one `error` event
// {"type":"error","error":{"type","message"}} (its type by status as anthropic_error.h);
// after it the translator is done and the caller ends the stream (the SDK throws it).
//
// Pure given the context's id generator; never throws. Not thread-safe: one per stream.
#pragma once

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "translate/anthropic_response.h"
#include "translate/sse_reader.h"

namespace gkm {

namespace translate_internal {
class BlockBuilder;
}

// `event: ping\ndata: {"type":"ping"}\n\n`.
std::string AnthropicPingEvent();

class AnthropicStreamTranslator {
 public:
  explicit AnthropicStreamTranslator(AnthropicContext ctx);
  ~AnthropicStreamTranslator();
  AnthropicStreamTranslator(const AnthropicStreamTranslator&) = delete;
  AnthropicStreamTranslator& operator=(const AnthropicStreamTranslator&) = delete;

  std::string Feed(std::string_view upstream_bytes);
  // The upstream stream ended normally.
  std::string Finish();
  // Something failed after the stream began (upstream connection lost, timeout, ...).
  std::string Error(std::string_view message, int status = 502);

  bool done() const { return done_; }
  bool failed() const { return failed_; }
  // The last usageMetadata seen.
  const GeminiUsage& usage() const { return usage_; }

 private:
  class Sink;

  void Event(const std::string& data, std::string& out);
  void Start(std::string& out);
  std::string Fail(int status, std::string_view message);

  AnthropicContext ctx_;
  SseReader reader_;
  std::unique_ptr<Sink> sink_;
  std::unique_ptr<translate_internal::BlockBuilder> blocks_;
  GeminiUsage usage_;
  std::string finish_reason_;
  bool blocked_ = false;
  bool started_ = false;
  bool done_ = false;
  bool failed_ = false;
};

}  // namespace gkm
