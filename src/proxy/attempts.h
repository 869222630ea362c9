// Attempts: the part of the request path shared by every route that calls Gemini —
// pick a key (affinity first, then a session's last key), forward, judge the status line and the
// error body, and retry on another key while nothing has reached the client (SPEC 4.1, 4.2).
//
// CallUpstream() returns either the answer the client is to get (a success, or an error
// that is the request's own fault), with the connection positioned at the start of the
// body (or with the whole error body read), or why no key could give one. What the caller
// does with the body — relay it, translate it — is its own business; it must Report() the
// final usage to the pool through FinishAnswer().
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "proxy/exchange.h"
#include "upstream/answer_parser.h"
#include "upstream/upstream.h"

namespace gkm {

using UpstreamParser = AnswerParser;

// What goes upstream for one client request: the same for every attempt but the key.
struct UpstreamCall {
  http::verb method = http::verb::post;
  std::string target;  // path and query, without the upstream's base path
  // Client headers to forward (end-to-end ones only are taken), or null.
  const std::vector<HttpField>* client_headers = nullptr;
  std::string_view body;
  std::string content_type;  // set when there are no client headers
  std::string model = "-";
  bool bearer = false;                   // the key as Authorization: Bearer (Google's OpenAI layer)
  std::optional<std::string> bound_key;  // key affinity: only this key id may serve
  std::string bound_name;                // the resource that binds it, for messages
  // Soft session affinity (keypool/sessions.h): the client's name for its session, or
  // empty. The first attempt prefers the key that served the session last, if the pool
  // finds it usable; a success records the key that served. Ignored with bound_key.
  std::string_view session;
};

struct Answer {
  PickedKey picked;
  std::unique_ptr<UpstreamConnection> conn;
  std::unique_ptr<UpstreamParser> parser;
  int status = 0;
  Verdict verdict;
  std::string error_body;  // the whole body when status >= 400, plain and masked (ReadBody)
  bool error_body_whole = true;
  // The body handed on was decoded from the answer's content coding (or replaced): the
  // answer's Content-Encoding no longer describes it.
  bool decoded = false;
  std::string body_error;  // why ReadBody failed
};

struct NoAnswer {
  NoKey why;
  std::string last_failure;  // "429 per-day quota", "connection refused", ...
  // 503: no key could serve. 429 or 403: the client's own limits refused the request before
  // any key was touched (SPEC 2.3): over its rpm or rpd, or a model it may not use.
  int status = 503;
  // The client left while the upstream was answering: the call was abandoned (not counted,
  // no key blamed) and there is nobody to answer.
  bool client_gone = false;
  // The message for the client: why, and the last upstream failure if any.
  std::string Message() const;
};

boost::asio::awaitable<std::variant<Answer, NoAnswer>> CallUpstream(Request& req,
                                                                    const UpstreamCall& call,
                                                                    Services& svc,
                                                                    UpstreamPool& up);

// Reads what is available of the answer's body into buf. Returns the error and bytes got.
boost::asio::awaitable<std::pair<boost::system::error_code, size_t>> ReadSome(
    Answer& a, char* buf, size_t cap, std::chrono::seconds timeout);
// Reads the rest of the body whole into out (appending), undoes its content coding and
// masks the key in it: every body the proxy buffers, on every route, passes here, so that
// nothing judges, scans or forwards compressed bytes or a key Google echoed (SPEC 3.3, 8).
// False, with a.body_error set, when the body broke off, exceeded `limit` (coded or
// decoded), or could not be decoded.
boost::asio::awaitable<bool> ReadBody(Answer& a, std::string& out, size_t limit,
                                      std::chrono::seconds timeout);

// Sends a request head (wire bytes) and body on `conn` and reads the answer's head, all
// within `timeout` (the connection's Deadline). For exchanges outside CallUpstream (probes).
boost::asio::awaitable<boost::system::error_code> SendAndReadHead(UpstreamConnection& conn,
                                                                  const std::string& head,
                                                                  std::string_view body,
                                                                  UpstreamParser& p,
                                                                  std::chrono::seconds timeout);
// A transport failure in words for verdicts and logs: "connection refused", "upstream
// timeout", "TLS failure: ...".
std::string DescribeTransport(const boost::system::error_code& ec);

// Records the answer's usage in the pool and gives the connection back for reuse when the
// whole body was read and the server keeps it open.
void FinishAnswer(Answer& a, const Request& req, Services& svc, UpstreamPool& up,
                  const TokenUsage& tokens);

// The Retry-After value, in whole seconds (at least 1), of a NoKey; 0 when none applies.
int64_t RetryAfterSeconds(const NoKey& nk);

// The error shape of a route's answers: Gemini's, OpenAI's or Anthropic's.
enum class ErrorShape { kGemini, kOpenAi, kAnthropic };

// The 503 for a request no key could serve (SPEC 4.3), or the 429 / 403 of a client's own
// limits (NoAnswer::status): Retry-After when a wait ends it, the
// reason in the route's error shape (Anthropic's as overloaded_error), and for the OpenAI
// and Anthropic routes x-should-retry: false when the wait exceeds 60 s or nothing ends it,
// so that their SDKs (which honour Retry-After uncapped) do not loop.
http::response<http::string_body> NoAnswerResponse(const NoAnswer& none, ErrorShape shape,
                                                   bool keep_alive);
inline http::response<http::string_body> NoAnswerResponse(const NoAnswer& none, bool openai_shape,
                                                          bool keep_alive) {
  return NoAnswerResponse(none, openai_shape ? ErrorShape::kOpenAi : ErrorShape::kGemini,
                          keep_alive);
}

}  // namespace gkm
