// Responses request translation: an OpenAI `POST /v1/responses` body → a Gemini
// `generateContent` body (WIRE-AGENTS E2, SPEC 3.7).
//
// TranslateResponsesRequest() is pure: no I/O, no clock, no randomness; it never throws
// and never crashes on any input (fuzz/responses_request_fuzz.cc). A request it cannot
// translate is a TranslateError (400) whose message starts with the path of the field at
// fault ("input[3].content[0].image_url: remote image URLs are not fetched ...").
//
// previous_response_id is resolved in two passes so that the translator stays pure: the
// first call answers PreviousResponseNeeded with the id; the caller looks the stored
// exchange up (the items of its conversation so far) and calls again with them in
// ResponsesOptions::previous_items, or answers 404 itself.
//
// Mapping (E2), and decisions beyond it:
// - `input`: a string is one user text; an array holds items: messages (`type` message or
//   absent; roles user, assistant, system, developer; content a string or parts
//   input_text / output_text / refusal / input_image (base64 data: URL) / input_file
//   (file_data, a data: URL or bare base64 with the filename's type)), reasoning,
//   function_call, function_call_output, custom_tool_call, custom_tool_call_output.
//   web_search_call items are dropped (no Gemini counterpart); an item_reference stands for
//   the item of the conversation (previous_response_id's included) with that id; file_id,
//   remote URLs and other item types are a 400 naming the field.
// - `instructions` and system/developer messages → systemInstruction, instructions first,
//   then the messages in order (their position among the turns is lost).
// - function_call / custom_tool_call → a model functionCall (args = the parsed arguments,
//   or {"input": <input>} for custom calls). Its thoughtSignature: the one carried in the
//   call_id (translate/thought_signature.h), else one carried by a reasoning item of the
//   same model turn (encrypted_content "gs1.<base64url>", see responses_response.h), else,
//   for the first call of the turn, ResponsesOptions::fallback_thought_signature. A turn
//   without calls puts a reasoning item's signature on its last text part.
// - *_output items → functionResponse{name of the call with that call_id, response:
//   {"output": <text>}}; images in an output go as functionResponse.parts inlineData. A
//   run of outputs is one user content, ordered by the position of their calls.
// - tools: function → functionDeclarations with `parameters` as parametersJsonSchema
//   (strict dropped); custom (freeform text or grammar) → a declaration taking
//   {"type":"object","properties":{"input":{"type":"string"}}}, its grammar appended to the
//   description so the model knows the input's shape; its calls are answered as
//   custom_tool_call (ResponsesRequest::custom_tools). Other tool types are dropped.
// - tool_choice: none/auto/required, {type:function|custom,name}, {type:allowed_tools,
//   mode, tools} → functionCallingConfig; other hosted-tool choices → AUTO.
// - reasoning.effort: Gemini 3 models get thinkingLevel ("low" for none/minimal/low, "high"
//   for medium/high/xhigh: the two levels every 3.x model takes); others thinkingBudget as
//   chat (none 0, minimal 512, low 1024, medium 8192, high/xhigh 24576).
//   reasoning.summary (auto/concise/detailed) → includeThoughts, unless effort is none.
// - text.format json_object / json_schema → responseMimeType application/json (+
//   responseJsonSchema); max_output_tokens, temperature, top_p as chat.
// - conversation, background: true, prompt → 400 naming the field (not supported).
// - parallel_tool_calls, text.verbosity, metadata, user, prompt_cache_key, store (the
//   route's), service_tier, truncation, safety_identifier and unknown fields: ignored.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>

#include "common/model_aliases.h"
#include "translate/error.h"

namespace gkm {

struct ResponsesOptions {
  // Put on the first functionCall of a model turn that has no signature at all (Google's
  // documented bypass value by default); empty: leave it without.
  std::string fallback_thought_signature = "skip_thought_signature_validator";
  // Second pass with previous_response_id: the stored conversation's items (a JSON array),
  // put before this request's input.
  std::optional<std::string> previous_items;
  // --model-alias: the client's model name as a Gemini model; an unmapped name of another
  // vendor is a 404 (param "model"). Null: the name is used as it is.
  const ModelAliases* aliases = nullptr;
};

struct ResponsesRequest {
  std::string model;         // the Gemini model, "models/" dropped
  std::string client_model;  // as the client named it, "models/" dropped (for the answer)
  bool stream = false;
  bool store = true;
  bool include_encrypted = false;  // include has "reasoning.encrypted_content"
  std::string previous_response_id;
  // prompt_cache_key: the client's session, for soft session affinity (keypool/sessions.h);
  // empty when absent. Not sent to Google.
  std::string session;
  std::set<std::string, std::less<>> custom_tools;  // names of the request's custom tools
  std::string body;                                 // the generateContent JSON
  // The conversation so far as a JSON array of items (previous + input); empty when store
  // is false (nothing keeps it).
  std::string items;
  // The request's fields a response object repeats (instructions, tools, tool_choice,
  // reasoning, text, temperature, top_p, max_output_tokens, metadata, ...), a JSON object.
  std::string echo;
};

struct PreviousResponseNeeded {
  std::string id;
};

using ResponsesRequestResult =
    std::variant<ResponsesRequest, PreviousResponseNeeded, TranslateError>;

ResponsesRequestResult TranslateResponsesRequest(std::string_view openai_json,
                                                 const ResponsesOptions& options);

}  // namespace gkm
