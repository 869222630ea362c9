// ResponsesStreamTranslator: Gemini's `streamGenerateContent?alt=sse` byte stream → the
// OpenAI Responses event stream (WIRE-AGENTS E4).
//
// Feed() takes the upstream bytes as they arrive, split anywhere, and returns the bytes to
// send now. Every event is `event: <type>\ndata: <json>\n\n` with `type` and
// `sequence_number` (from 0) in the data. The first call (Feed, Finish or Error) opens with
// response.created then response.in_progress (the response object with status in_progress
// and no output). Then, per output item as in responses_response.h, in order:
//   reasoning: output_item.added {summary []}, reasoning_summary_part.added,
//              reasoning_summary_text.delta…, reasoning_summary_text.done,
//              reasoning_summary_part.done, output_item.done (+ encrypted_content);
//   message:   output_item.added {content []}, content_part.added, output_text.delta…,
//              output_text.done, content_part.done, output_item.done;
//   function_call: output_item.added {arguments ""}, function_call_arguments.delta,
//              function_call_arguments.done, output_item.done;
//   custom_tool_call: output_item.added {input ""}, custom_tool_call_input.delta,
//              custom_tool_call_input.done, output_item.done.
// An item is done before the next one is added. Finish() ends with response.completed (or
// response.incomplete, as OpenAI does for MAX_TOKENS and filtered output) carrying the full
// response object of responses_response.h.
//
// Errors: an upstream `{"error":…}` event, data that is not JSON, an event over the
// SseReader's bound or a call to Error() produce an `error` event {code, message, param,
// error {type, code, message, param}} (openai-node raises on the `error` member) then
// response.failed {response {status failed, error {code, message}}} (what Codex reads); after them
// the translator is done. Codes: 429 rate_limit_exceeded, 400 invalid_prompt, others server_error.
//
// Pure given the context's id generator; never throws. Not thread-safe: one per stream.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "translate/responses_response.h"
#include "translate/sse_reader.h"

namespace gkm {
namespace translate_internal {
struct GeminiEvent;
}  // namespace translate_internal

class ResponsesStreamTranslator {
 public:
  explicit ResponsesStreamTranslator(ResponsesContext ctx);
  ResponsesStreamTranslator(const ResponsesStreamTranslator&) = delete;
  ResponsesStreamTranslator& operator=(const ResponsesStreamTranslator&) = delete;

  std::string Feed(std::string_view upstream_bytes);
  // The upstream stream ended normally.
  std::string Finish();
  // Something failed after the stream began; `status` picks the code.
  std::string Error(std::string_view message, int status = 502);

  // One whole Gemini answer (not SSE) in place of Feed() and Finish(): what
  // TranslateResponsesResponse uses. False when it is not a readable answer or an error.
  bool Whole(std::string_view gemini_json, std::string* error);

  bool done() const { return done_; }
  bool failed() const { return failed_; }
  const GeminiUsage& usage() const { return usage_; }
  // After Finish(): the response object, its output array and its status.
  std::string FinalResponse() const;
  // FinalResponse() without copying the output into it: OutputItems() is empty afterwards.
  std::string TakeFinalResponse();
  std::string OutputItems() const;
  const std::string& status() const { return status_; }

 private:
  enum class Open { kNone, kReasoning, kMessage };
  // The response object's members whose value changes as the answer goes (responses_stream.cc).
  // id and created_at are slots too, so that a plan serves every response of the same echo
  // and model (PlanResponseObject keeps the last one per thread).
  enum class Slot { kNone, kId, kCreatedAt, kStatus, kError, kIncompleteDetails, kOutput, kUsage };
  // The end (in plan_text_) of a run of the response object's text that stays the same,
  // then one changing member's value.
  struct Segment {
    size_t end = 0;
    Slot slot = Slot::kNone;
  };

  void Begin(std::string& out);
  void Event(const translate_internal::GeminiEvent& ev, std::string& out);
  void Part(const boost::json::object& part, std::string& out);
  void Call(const boost::json::object& part, std::string& out);
  void OpenReasoning(std::string& out);
  void OpenMessage(std::string& out);
  // Closes what is open and opens an output item (its id made here): output_item.added with
  // `item_rest` (the item's members after its id, written as text: `,"type":…`), then
  // `part_event` (its frame, as Head takes it) for its first part.
  void OpenItem(Open kind, std::string_view id_prefix, std::string_view item_rest,
                std::string_view part_event, std::string_view index_name,
                std::string_view first_part, std::string& out);
  void CloseOpen(std::string& out);
  void SignatureItem(const std::string& signature, std::string& out);
  // Appends a finished item (its JSON text) to the output.
  void AddOutput(std::string_view item);
  // An event's frame up to its data's sequence number (`frame`, a kFrame<type> of
  // responses_stream.cc, then n); the caller writes the data's other members then `}\n\n`.
  // False in quiet mode (a whole answer), where the event is only counted.
  bool Head(std::string_view frame, std::string& out);
  // output_item.added or .done: {"output_index":…,"item":<item>}.
  void ItemEvent(std::string_view frame, std::string_view item, std::string& out);
  // A text delta of the open item (output_text or reasoning_summary_text).
  void EmitDelta(std::string_view frame, std::string_view index_name, std::string_view text,
                 bool logprobs, std::string& out);
  // `,"item_id":<open id>,"output_index":<n>`, as most item events start.
  void ItemRef(std::string_view item_id, std::string& out) const;
  // The response object with this status: output [] while in progress, else the finished
  // items; `error` (members of the error object, or empty for null) is for response.failed.
  std::string ResponseObject(std::string_view status, std::string_view error = {}) const;
  void PlanResponseObject();
  void MakePlan();
  std::string End(std::string& out);
  std::string Fail(int status, std::string_view message, std::string out);
  std::string Encrypted(const std::string& signature) const;

  ResponsesContext ctx_;
  // The response object (PlanResponseObject): its constant text, cut before each slot.
  std::string plan_text_;
  static constexpr size_t kMaxSegments = 8;  // at most one per Slot, then the end
  Segment plan_[kMaxSegments];
  size_t plan_count_ = 0;
  std::string error_default_ = "null";  // the error member's value while nothing failed
  SseReader reader_;
  bool begun_ = false;
  bool done_ = false;
  bool failed_ = false;
  bool quiet_ = false;  // Whole(): events are counted but not written
  int64_t seq_ = 0;
  GeminiUsage usage_;
  std::string output_;  // the finished items, as JSON text joined by commas
  size_t output_count_ = 0;
  std::string final_;  // the finished response object once End() wrote it
  Open open_ = Open::kNone;
  std::string open_id_;
  std::string open_text_;
  std::string open_sig_;       // the signature the open reasoning item will carry
  std::string pending_sig_;    // a signature on a non-call part not yet carried
  bool carried_sig_ = false;   // some reasoning item carries a signature already
  std::string finish_reason_;  // Gemini's
  bool blocked_ = false;
  std::string status_ = "in_progress";
  std::string incomplete_reason_;
};

}  // namespace gkm
