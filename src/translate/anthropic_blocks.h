// Internal to translate/: Gemini parts → Anthropic content blocks, shared by the whole-answer
// (anthropic_response.cc) and the streaming (anthropic_stream.cc) translators, so that both
// cut the same blocks and place the same signatures. See anthropic_response.h for the rules.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "translate/anthropic_response.h"

namespace gkm::translate_internal {

namespace json = boost::json;

// Receives the blocks as they form: Open, Text*, Signature?, Close for text and thinking
// blocks; one ToolUse call for a whole tool_use block. Indices count from 0 in order.
class BlockSink {
 public:
  virtual ~BlockSink() = default;
  virtual void Open(int64_t index, bool thinking) = 0;
  virtual void Text(int64_t index, bool thinking, std::string_view text) = 0;
  virtual void Signature(int64_t index, std::string_view signature) = 0;
  virtual void Close(int64_t index) = 0;
  virtual void ToolUse(int64_t index, std::string_view id, std::string_view name,
                       const json::value& input) = 0;
};

class BlockBuilder {
 public:
  BlockBuilder(BlockSink& sink, const AnthropicContext& ctx) : sink_(sink), ctx_(ctx) {}
  BlockBuilder(const BlockBuilder&) = delete;
  BlockBuilder& operator=(const BlockBuilder&) = delete;

  // One part of the candidate, in order (across stream events too).
  void Part(const json::object& part);
  // Closes the open block: the end of the answer.
  void Finish();

  bool tool_use() const { return tool_use_; }

 private:
  enum class Open { kNone, kText, kThinking };
  void OpenBlock(Open kind);
  void CloseOpen();
  void SignatureOfPrevious(std::string_view sig);
  void Carrier(std::string_view sig);

  BlockSink& sink_;
  const AnthropicContext& ctx_;
  Open open_ = Open::kNone;
  int64_t index_ = -1;  // the open block's
  int64_t next_ = 0;
  std::string sig_;  // the open block's signature (a thinking block's own, or a text's)
  bool tool_use_ = false;
};

// The usage object of messages and message_delta events.
json::object AnthropicUsage(const GeminiUsage& u);

// stop_reason for a Gemini finishReason (empty: none was given).
std::string_view StopReason(std::string_view finish_reason, bool tool_use, bool blocked);

}  // namespace gkm::translate_internal
