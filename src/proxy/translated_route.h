// What the translated routes (OpenAI chat and embeddings, Anthropic Messages, OpenAI
// Responses, images) share around the attempt loop: ids, sending an answer, the 503 when no
// key could serve, the upstream call of a model's method, and the stream relay over a
// translator (relay.h).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/attempts.h"
#include "proxy/exchange.h"
#include "translate/chat_response.h"
#include "upstream/answer_parser.h"

namespace gkm {

// prefix + n random letters and digits (message, call, response ids).
std::string RandomId(std::string_view prefix, size_t n);

// Sends the answer; PackResult(status, keep-alive). Takes an lvalue: callers name the
// response, since GCC 12 mishandles temporaries that live across a co_await.
boost::asio::awaitable<int> SendAnswer(ClientConn& client, http::response<http::string_body>& res,
                                       bool keep_alive);

// The 503 (or nothing, when the client left) for a request no key could serve.
boost::asio::awaitable<int> SendNoAnswer(ClientConn& client, const NoAnswer& none, ErrorShape shape,
                                         bool keep_alive);

// A POST of a JSON body to one of a model's methods (":generateContent", ...); only the
// body goes up, no client header crosses.
UpstreamCall ModelPost(const std::string& model, std::string_view method, std::string_view body);

inline TokenUsage TokensOf(const GeminiUsage& u) {
  return TokenUsage{u.prompt_tokens, u.candidates_tokens, u.thoughts_tokens};
}

// A stream relay (relay.h) over a stream translator: Gemini's SSE events translated as
// they come, the translator finished when the upstream body ends or breaks off.
template <class Translator>
struct TranslatedRelay {
  Translator& translator;
  const AnswerParser& parser;
  std::string bytes;
  std::string_view Piece(std::string_view raw) {
    bytes = translator.Feed(raw);
    if (parser.is_done() && !translator.done()) bytes += translator.Finish();
    return bytes;
  }
  bool Done() const { return translator.done(); }
  TokenUsage Usage() const { return TokensOf(translator.usage()); }
  std::string End() { return translator.done() ? std::string() : translator.Finish(); }
  std::optional<std::string> Broken() {
    if (translator.done()) return std::string();
    return translator.Error("the upstream stream broke off", 502);
  }
};

}  // namespace gkm
