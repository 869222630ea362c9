// The OpenAI-compatible routes (SPEC 3.4, 3.8): chat completions, models, embeddings, images.
//
// --openai-mode translate (default): the request is translated to native Gemini
// (translate/), sent through the same key pool phases as a native request (attempts.h),
// and the answer translated back — streams event by event as they arrive. --openai-mode
// google: the body goes as it is to Google's own /v1beta/openai/... with a pool key as
// Bearer, and the answer comes back as it is. Errors always in OpenAI's shape; 503 when no
// key can serve, with Retry-After, and x-should-retry: false when the wait exceeds 60 s.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "proxy/exchange.h"
#include "upstream/upstream.h"

namespace gkm {

// kResponses: POST /v1/responses; kResponse: GET or DELETE /v1/responses/{id} (responses.h);
// kImages: POST /v1/images/generations (SPEC 3.8, translated whatever --openai-mode says).
enum class OpenAiRoute {
  kNone,
  kChat,
  kModels,
  kModel,
  kEmbeddings,
  kResponses,
  kResponse,
  kImages
};

// Which OpenAI route a request is, or kNone. `/v1/models` with x-goog-api-key or ?key= is
// the native Gemini list, not OpenAI's.
OpenAiRoute OpenAiRouteOf(const Request& req);

// Whether a request is GET /v1/models[/{id}] from an Anthropic client (it carries
// anthropic-version): answered in Anthropic's shape, with x-api-key accepted as its token.
bool AnthropicModelsRequest(const Request& req);

// Serves one OpenAI request (already authenticated). Returns PackResult(status, keep-alive).
boost::asio::awaitable<int> ServeOpenAi(Request& req, OpenAiRoute route, ClientConn& client,
                                        Services& svc, UpstreamPool& upstream, bool keep_alive);

}  // namespace gkm
