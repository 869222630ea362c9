// Internal to translate/: one event of a Gemini stream read without building it as a JSON
// tree. The stream translators need few parts of an event (error, usageMetadata, each
// candidate's index, content.parts, finishReason and, for chat, groundingMetadata and
// logprobsResult, and promptFeedback.blockReason); the rest (modelVersion, responseId, the
// wrappers) is skipped, so that a stream's events cost the scan of their text and the parts
// only. Two readers: a hand-written scanner for the shape Gemini sends, which gives up on
// anything unusual, and behind it a SAX handler on Boost.JSON's basic_parser for any text.
//
// What is kept is what a lookup in the parsed object would give, duplicate keys included
// (the last one wins, as in Boost.JSON's objects), and a text that ParseJson refuses is
// refused with the same message.
#pragma once

#include <boost/container/small_vector.hpp>
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "translate/chat_common.h"  // GeminiUsage

namespace gkm::translate_internal {

namespace json = boost::json;

struct GeminiEventCandidate {
  size_t position = 0;  // in the candidates array
  bool has_index = false;
  std::optional<int64_t> index;  // "index" as AsInt reads it, when present
  // content.parts' objects, in order (inline up to two: no allocation for the usual event)
  boost::container::small_vector<json::value, 2> parts;
  std::optional<std::string> finish;     // finishReason, when a string
  std::optional<json::value> grounding;  // groundingMetadata, when present (`chat` only)
  std::optional<json::value> logprobs;   // logprobsResult, when present (`chat` only)
};

struct GeminiEvent {
  bool object = false;               // the event is a JSON object (the rest needs it)
  std::optional<json::value> error;  // "error": an object, or null for any other value
  bool has_usage = false;            // "usageMetadata" present; usage as ReadUsage reads it
  GeminiUsage usage;
  bool candidates_array = false;  // "candidates" is an array...
  size_t candidate_count = 0;     // ...of this many values...
  // ...of which these are objects (one inline: no allocation for the usual event)
  boost::container::small_vector<GeminiEventCandidate, 1> candidates;
  bool blocked = false;  // promptFeedback is an object holding blockReason

  // What `if (cands is a non-empty array)` tests on the parsed event.
  bool has_candidates() const { return candidates_array && candidate_count > 0; }
};

// Reads `text` (one event's data) into *event. False, with *error set as ParseJson sets it,
// when the text is not one JSON value. Captured values (parts, error, grounding) live in
// `storage`. `chat`: whether to keep each candidate's groundingMetadata and logprobsResult
// (which the chat stream translates).
bool ReadGeminiEvent(std::string_view text, GeminiEvent* event, std::string* error,
                     json::storage_ptr storage, bool chat = false);

// ReadGeminiEvent's two halves, for the tests that hold them to each other. The fast one
// scans the shape Gemini sends (small non-negative integers, the short escapes, parts
// without repeated keys, no error or promptFeedback, valid UTF-8) and gives false on anything
// else, the event then half read; the SAX one reads any JSON text (its UTF-8 already checked).
bool ReadGeminiEventFast(std::string_view text, GeminiEvent* event,
                         const json::storage_ptr& storage, bool chat);
bool ReadGeminiEventSax(std::string_view text, GeminiEvent* event, std::string* error,
                        json::storage_ptr storage, bool chat);

}  // namespace gkm::translate_internal
