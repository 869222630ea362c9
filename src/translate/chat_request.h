// Chat request translation: an OpenAI `POST /v1/chat/completions` body → a Gemini
// `generateContent` body (WIRE.md part C).
//
// TranslateChatRequest() is pure: no I/O, no clock, no randomness; it never throws and
// never crashes on any input (checked by fuzz/translate_request_fuzz.cc). A request it
// cannot translate is a TranslateError (400) whose message starts with the path of the
// field at fault ("messages[2].content[0].image_url.url: invalid base64 data").
//
// Remote images are fetched in two passes so that the translator stays pure: with
// ChatOptions::fetch_image_urls set, the first call answers ImageFetchNeeded with the
// URLs; the caller fetches them (size and time limits, no private addresses: SPEC 3.4)
// and calls again with the results in ChatOptions::fetched_images. Without the option a
// remote URL is a 400 naming the field.
//
// Decisions beyond WIRE.md C:
// - Bodies: UTF-8 only, nesting at most 64 deep, at most 10,000 messages, content parts
//   per message, tool calls per message, tools and stop... (see kMaxItems); more is a 400.
// - `model` may carry a "models/" prefix (dropped); what remains must be letters, digits,
//   '.', '-' and '_' (it goes into the upstream URL path).
// - system/developer messages go to systemInstruction wherever they appear, one text part
//   each (a message with several text parts gives several), in order.
// - Empty text is dropped (Gemini rejects empty parts); a message left with no parts is
//   dropped; a request left with no contents is a 400 on `messages`.
// - Tool results: content (a string, or text parts joined) that is a JSON object is sent
//   as the functionResponse.response as is; anything else as {"result": "<content>"}.
//   A run of tool messages is ordered by the position of their calls in the conversation.
// - reasoning_effort: none 0, minimal 512, low 1024, medium 8192, high 24576
//   (thinkingBudget). 512 for minimal is the smallest budget that every 2.5 model
//   accepts (Flash-Lite's floor) and stays below low. Anything else is a 400.
// - Thought summaries (includeThoughts) only when ChatOptions::include_thoughts or the
//   client asks through extra_body.google.thinking_config (as Google's own OpenAI layer
//   reads it: thinking_budget, thinking_level, include_thoughts).
// - extra_body.google (the body's own "extra_body" key: the Python SDK's
//   extra_body={"extra_body": {"google": ...}}, as Google documents it): cached_content →
//   cachedContent, safety_settings → safetySettings (as is), thinking_config →
//   generationConfig.thinkingConfig; snake_case or camelCase, as proto JSON reads them.
// - Tool schemas: a function's `parameters` goes whole, unchanged, as
//   parametersJsonSchema (Gemini's `parameters` is an OpenAPI subset that refuses
//   additionalProperties, $ref, oneOf, const...); the function's `strict` is dropped.
//   response_format json_schema's schema is passed whole as responseJsonSchema.
// - Search grounding: web_search_options (any object; its options have no Gemini
//   counterpart) or a function tool named googleSearch / google_search adds the tool
//   {"googleSearch":{}} (once, after the function declarations); a tool_choice naming
//   such a function sends no toolConfig (Gemini cannot be forced to search).
// - Content parts: fields other than the ones read (cache_control from Roo Code and
//   Cline, ...) are ignored and never forwarded: Gemini refuses unknown part fields.
// - parallel_tool_calls, user, metadata, store, service_tier and unknown fields are
//   ignored; numeric parameters are type-checked here and range-checked by Gemini.
// - top_logprobs without logprobs: true is a 400 (as OpenAI does).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/model_aliases.h"
#include "translate/error.h"

namespace gkm {

// Upper bound on every array the translator walks (messages, parts, tool calls, tools).
inline constexpr size_t kMaxItems = 10000;
// Upper bound on distinct remote image URLs in one request.
inline constexpr size_t kMaxRemoteImages = 32;

// A remote image the caller fetched for the second pass.
struct FetchedImage {
  std::string mime_type;    // from Content-Type, e.g. "image/png"
  std::string base64_data;  // the bytes, base64 (standard alphabet)
  // Non-empty when the fetch failed ("timed out", "larger than 20 MiB", "HTTP 404",
  // "private address"): the translation becomes a 400 naming the field and this reason.
  std::string error;
};

// Finds the thoughtSignature remembered for a tool call id (see SignatureStore in
// chat_response.h); nullopt when unknown.
using SignatureLookup = std::function<std::optional<std::string>(std::string_view tool_call_id)>;

struct ChatOptions {
  // --fetch-image-urls: remote http(s) image URLs are fetched (two passes) instead of
  // refused.
  bool fetch_image_urls = false;
  // Second pass: url → what fetching it gave.
  std::map<std::string, FetchedImage, std::less<>> fetched_images;
  // Consulted for an assistant tool call that does not carry
  // extra_content.google.thought_signature itself. May be empty.
  SignatureLookup signature_lookup;
  // Put on a functionCall that has no signature at all. Gemini 3 rejects a current-turn
  // function call without one; Google documents "skip_thought_signature_validator" as the
  // value to use for calls it did not produce. Empty: leave the part without one.
  std::string fallback_thought_signature;
  // Ask for thought summaries (reasoning_content) unless the client turned thinking off.
  bool include_thoughts = false;
  // --model-alias: the client's model name as a Gemini model; an unmapped name of another
  // vendor is a 404 (param "model"). Null: the name is used as it is.
  const ModelAliases* aliases = nullptr;
};

// A translated request.
struct ChatRequest {
  std::string model;           // the Gemini model, "gemini-2.5-flash", no "models/" prefix
  std::string client_model;    // as the client named it, "models/" dropped (for the answer)
  bool stream = false;         // use :streamGenerateContent?alt=sse
  bool include_usage = false;  // stream_options.include_usage
  int candidate_count = 1;     // n
  std::string body;            // the generateContent JSON
  // prompt_cache_key: the client's session, for soft session affinity (keypool/sessions.h);
  // empty when absent. Not sent to Google.
  std::string session;
};

// First pass with fetch_image_urls: fetch these (distinct, in order of appearance), then
// call again with the results in ChatOptions::fetched_images.
struct ImageFetchNeeded {
  std::vector<std::string> urls;
};

using ChatRequestResult = std::variant<ChatRequest, ImageFetchNeeded, TranslateError>;

ChatRequestResult TranslateChatRequest(std::string_view openai_json, const ChatOptions& options);

}  // namespace gkm
