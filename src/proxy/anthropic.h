// The Anthropic Messages routes (SPEC 3.6): POST /v1/messages (whole answers and streams)
// and POST /v1/messages/count_tokens, also under /anthropic (`?beta=true` accepted, as
// Claude Code sends it).
//
// The body is translated to native Gemini (translate/anthropic_request.h), sent through the
// same key pool phases as every other request (attempts.h), and the answer translated back —
// streams event by event as they arrive (translate/anthropic_stream.h). Only the translated
// body goes upstream: anthropic-version, anthropic-beta, x-claude-code-session-id and the
// client's credentials never do. Errors always in Anthropic's shape (WIRE-AGENTS D6); 503
// overloaded_error when no key can serve, with Retry-After, and x-should-retry: false when
// the wait exceeds 60 s. The client's model name goes to Gemini as it is (a name that cannot
// be a Gemini model is a 404 not_found_error). count_tokens answers are kept a minute for
// identical requests (bounded, process-wide).
#pragma once

#include <boost/asio/awaitable.hpp>

#include "proxy/exchange.h"
#include "upstream/upstream.h"

namespace gkm {

// Whether the request is one of these routes (the method and path decide).
bool IsAnthropicRoute(const Request& req);
// Whether an error for this request is to be in Anthropic's shape: its route's, or a path
// under /anthropic/.
bool AnthropicShaped(const Request& req);

// Serves one Anthropic request (already authenticated). Returns PackResult(status, keep-alive).
boost::asio::awaitable<int> ServeAnthropic(Request& req, ClientConn& client, Services& svc,
                                           UpstreamPool& upstream, bool keep_alive);

}  // namespace gkm
