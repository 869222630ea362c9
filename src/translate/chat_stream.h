// ChatStreamTranslator: Gemini's `streamGenerateContent?alt=sse` byte stream → the OpenAI
// chat.completion.chunk event stream (WIRE.md B and C).
//
// Feed() takes the upstream bytes as they arrive, split anywhere (even inside an event or
// a "\r\n"), and returns the bytes to send to the client now (possibly none). Output, all
// events `data: <json>\n\n`, every chunk with the same id, created and model:
//   1. per choice, on its first appearance, the role chunk {"role":"assistant","content":""};
//   2. deltas in the order of the parts: {"content"} for text, {"reasoning_content"} for
//      thought parts, {"tool_calls":[{index, id, type, function{name, arguments}}]} for
//      a function call (Gemini sends calls whole, so one delta carries all of it; index
//      counts the choice's calls from 0); logprobs, when Gemini sends them, ride on the
//      event's first text delta (best effort, as in chat_response.h);
//   3. on Finish(): per choice with search grounding, one delta {"annotations":[...]}
//      from the last groundingMetadata seen (indices into all the content streamed, as
//      chat_response.h; the SDKs' stream helpers set message.annotations from it); then
//      per choice the finish chunk (delta {} and finish_reason, mapped as in
//      chat_response.h; tool_calls if the choice made any) — held back until the end so
//      that nothing can follow it — then, with include_usage, the usage chunk
//      ("choices": [] and usage from the last usageMetadata seen), then `data: [DONE]`.
// A blocked prompt (an event without candidates but with promptFeedback.blockReason)
// ends choice 0 with content_filter. A stream that ended without any event still gets a
// role chunk, a finish chunk (stop) and [DONE]; a caller that saw the upstream connection
// fail should call Error() instead of Finish().
//
// Errors: an upstream event `{"error":{...}}`, data that is not JSON, or an event larger
// than the SseReader's bound, or a call to Error(), produce one OpenAI error event
// `data: {"error":{"message","type","param","code"}}\n\n`; after it the translator is
// done: Feed() and Finish() return nothing more, and the caller ends the stream (the SDKs
// raise on an error event, so no [DONE] follows it).
//
// Pure given the context's callbacks; never throws. Not thread-safe: one per stream.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "translate/chat_response.h"
#include "translate/sse_reader.h"

namespace gkm {

namespace translate_internal {
struct GeminiEventCandidate;  // gemini_event.h
}  // namespace translate_internal

class ChatStreamTranslator {
 public:
  ChatStreamTranslator(ResponseContext ctx, bool include_usage);
  ChatStreamTranslator(const ChatStreamTranslator&) = delete;
  ChatStreamTranslator& operator=(const ChatStreamTranslator&) = delete;

  std::string Feed(std::string_view upstream_bytes);
  // The upstream stream ended normally.
  std::string Finish();
  // Something failed after the stream began (upstream connection lost, timeout, ...).
  // `status` picks the error type and code as OpenAiErrorBody does.
  std::string Error(std::string_view message, int status = 502);

  // Finish() or an error event has been produced.
  bool done() const { return done_; }
  // Whether the output ended in an error event.
  bool failed() const { return failed_; }
  // The last usageMetadata seen.
  const GeminiUsage& usage() const { return usage_; }

 private:
  struct Choice {
    bool started = false;
    int64_t tool_calls = 0;
    std::string finish_reason;     // OpenAI's, once Gemini sent one
    std::string text;              // the content streamed, for the annotations' indices
    boost::json::value grounding;  // the last groundingMetadata seen
  };

  void Event(const std::string& data, std::string& out);
  void Candidate(const translate_internal::GeminiEventCandidate& cand, std::string& out);
  Choice& Start(int64_t index, std::string& out);
  void Emit(int64_t index, boost::json::object delta, std::string& out,
            boost::json::value logprobs = nullptr);
  boost::json::object Envelope() const;
  std::string Fail(std::string body);

  ResponseContext ctx_;
  const bool include_usage_;
  SseReader reader_;
  std::map<int64_t, Choice> choices_;
  GeminiUsage usage_;
  bool done_ = false;
  bool failed_ = false;
};

}  // namespace gkm
