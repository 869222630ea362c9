// The OpenAI Responses routes (SPEC 3.7, WIRE-AGENTS E): `POST /v1/responses` (also under
// /openai), and `GET` / `DELETE /v1/responses/{id}` for stored exchanges.
//
// A request is translated to native Gemini (translate/responses_request.h), sent through
// the key pool's attempt loop like every surface (attempts.h: pick a key, retry before the
// first byte, 503 rules, usage accounting), and the answer translated back: whole through
// :generateContent, or streamed event by event from :streamGenerateContent?alt=sse
// (translate/responses_stream.h). The Responses API has no Google-hosted twin, so
// --openai-mode google does not apply here. Errors always in OpenAI's shape (E5): 400
// naming the field, 404 model_not_found for a name that cannot be a model, Google's own
// errors translated, the 503 of NoAnswerResponse when no key can serve.
//
// `store` (default true) keeps the conversation (the request's input items after those of
// previous_response_id, and the response's output) 24 h in the ResponseStore, for
// previous_response_id, GET and DELETE; `store: false` keeps nothing. A stored exchange is
// visible only to requests made with the client token that made it.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "proxy/exchange.h"
#include "upstream/upstream.h"

namespace gkm {

class ResponseStore;

// POST /v1/responses.
boost::asio::awaitable<int> ServeResponses(Request& req, ClientConn& client, Services& svc,
                                           UpstreamPool& upstream, bool keep_alive);

// GET or DELETE /v1/responses/{id}.
boost::asio::awaitable<int> ServeStoredResponse(Request& req, ClientConn& client, Services& svc,
                                                bool keep_alive);

// The store the Responses routes keep exchanges in, made on first use in the state dir
// (--state-dir); null when it cannot be opened (then store: true keeps nothing and the
// look-ups answer 404).
ResponseStore* ResponseStoreOf(const Services& svc);

}  // namespace gkm
