// Responses answer translation: a Gemini `generateContent` answer → an OpenAI Responses
// `response` object (WIRE-AGENTS E3). The stream of E4 is responses_stream.h; both build
// the output the same way (the whole answer is translated as a stream of one event), so a
// client sees the same items whether it streamed or not.
//
// Output items, in the order of the candidate's parts (candidate 0 only):
// - thought parts → one `reasoning` item {id "rs_…", summary [{type summary_text, text}]};
// - a run of text parts → one `message` item {id "msg_…", role assistant, content
//   [{type output_text, text, annotations []}]};
// - a functionCall → a `function_call` item {id "fc_…", call_id, name, arguments (the args
//   serialized)} or, for a tool the request declared as `custom`, a `custom_tool_call` item
//   {id "ctc_…", call_id, name, input (args.input, or the args serialized)}.
// Thought signatures: a call's signature always rides in its call_id ("call_…__gs_<b64url>",
// translate/thought_signature.h). With `include: ["reasoning.encrypted_content"]` a
// signature also goes into a reasoning item's `encrypted_content` as "gs1.<base64url>": the
// thought item's when there is one, else a reasoning item with an empty summary put just
// before the first signed call, or — for a signature on text, which Gemini 3 puts on the
// last part of a turn without calls — after the last item. responses_request.h reads them
// back onto the right parts.
// Status: STOP (or calls) → completed; MAX_TOKENS → incomplete {reason max_output_tokens};
// SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, LANGUAGE, OTHER, IMAGE_* and a
// blocked prompt → incomplete {reason content_filter}. usage: input_tokens = prompt
// (cached included), input_tokens_details.cached_tokens, output_tokens = candidates +
// thoughts + toolUsePrompt, output_tokens_details.reasoning_tokens = thoughts, total.
//
// Pure given the context's id generator; never throws.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <variant>

#include "translate/chat_response.h"
#include "translate/error.h"

namespace gkm {

// Makes a fresh id with the given prefix ("msg_", "fc_", "rs_", "call_", "ctc_") and random
// characters. The randomness is the caller's.
using PrefixedIdGenerator = std::function<std::string(std::string_view prefix)>;

struct ResponsesContext {
  std::string id;          // "resp_…"
  int64_t created_at = 0;  // unix seconds
  std::string model;       // the model to report
  PrefixedIdGenerator new_id;
  bool include_encrypted = false;
  std::set<std::string, std::less<>> custom_tools;
  // Request fields the response object repeats (ResponsesRequest::echo), a JSON object;
  // empty for none.
  std::string echo;
  // The answer's output items are wanted apart (ResponsesAnswer::output_items): the
  // exchange is kept (store: true).
  bool want_output_items = true;
};

struct ResponsesAnswer {
  std::string body;          // the response object
  std::string output_items;  // its output, a JSON array (for the state store)
  std::string status;        // "completed", "incomplete"
  GeminiUsage usage;
};

std::variant<ResponsesAnswer, TranslateError> TranslateResponsesResponse(
    std::string_view gemini_json, const ResponsesContext& ctx);

// An error body in OpenAI's shape ({"error":{"message","type","param","code"}}) as
// OpenAiErrorBody() makes it, with `code` replaced when not empty ("model_not_found").
std::string ResponsesErrorBody(int status, std::string_view message, std::string_view param,
                               std::string_view code);

}  // namespace gkm
