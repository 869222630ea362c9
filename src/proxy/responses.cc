#include "proxy/responses.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/time.h"
#include "proxy/attempts.h"
#include "proxy/native.h"
#include "proxy/relay.h"
#include "proxy/stream_writer.h"
#include "proxy/translated_route.h"
#include "proxy/wire.h"
#include "store/response_store.h"
#include "translate/error.h"
#include "translate/responses_request.h"
#include "translate/responses_response.h"
#include "translate/responses_stream.h"
#include "upstream/content_coding.h"

namespace gkm {
namespace {

namespace asio = boost::asio;

constexpr size_t kAnswerLimit = 64u << 20;  // a whole (non-stream) answer read to translate
constexpr int64_t kStoreTtlMs = int64_t{24} * 3600 * 1000;

http::response<http::string_body> JsonAnswer(int status, std::string body, bool keep_alive) {
  auto res = JsonResponse(status, std::move(body), keep_alive);
  res.set(http::field::content_type, "application/json");
  return res;
}

asio::awaitable<int> SendJson(ClientConn& client, int status, std::string body, bool keep_alive) {
  auto res = JsonAnswer(status, std::move(body), keep_alive);
  co_return co_await SendAnswer(client, res, keep_alive);
}

asio::awaitable<int> SendError(ClientConn& client, int status, std::string body, bool keep_alive) {
  co_return co_await SendJson(client, status, std::move(body), keep_alive);
}

std::string NotFoundBody(std::string_view id, std::string_view param) {
  return ResponsesErrorBody(404,
                            "Response with id '" + std::string(id.substr(0, 128)) + "' not found.",
                            param, "not_found");
}

// Whose stored responses a request may see: the SHA-256 (hex) of the client token it
// authenticated with, so that clients of different tokens do not read each other's.
std::string OwnerOf(const Request& req) {
  if (!req.token_sha256) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : *req.token_sha256) {
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  return hex;
}

// The stored exchange if it is alive and the request's client may see it.
std::optional<StoredResponse> Lookup(const Request& req, const Services& svc,
                                     const std::string& id) {
  ResponseStore* store = ResponseStoreOf(svc);
  if (store == nullptr) return std::nullopt;
  std::optional<StoredResponse> s = store->Get(id, ToUnixMs(NowMs()));
  if (s && s->owner != OwnerOf(req)) return std::nullopt;
  return s;
}

// Google refused the request itself: its error in OpenAI's shape, with its status.
asio::awaitable<int> SendUpstreamError(Answer& a, Request& req, ClientConn& client, Services& svc,
                                       UpstreamPool& up, bool keep_alive) {
  FinishAnswer(a, req, svc, up, {});
  if (!a.error_body_whole)
    co_return co_await SendError(client, 502, OpenAiErrorBody(502, a.body_error), false);
  std::string body = TranslateGeminiError(a.status, a.error_body);
  if (a.status == 404) {  // Google's "models/x is not found": the model, as OpenAI says it
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(body, ec);
    if (!ec && v.is_object() && v.get_object().contains("error")) {
      v.get_object()["error"].get_object()["code"] = "model_not_found";
      body = boost::json::serialize(v);
    }
  }
  co_return co_await SendError(client, a.status, std::move(body), keep_alive);
}

// A Responses stream: Gemini's SSE events translated to Responses events as they come.
// `kept` runs once when the response is complete, before its last bytes go out, so that a
// client that reads response.completed can already continue from it.
struct ResponsesRelay : TranslatedRelay<ResponsesStreamTranslator> {
  std::function<void()> kept;  // keeps the exchange once the stream completed
  void Kept() {
    if (kept && translator.done() && !translator.failed()) std::exchange(kept, nullptr)();
  }
  std::string_view Piece(std::string_view raw) {
    std::string_view out = TranslatedRelay::Piece(raw);
    Kept();
    return out;
  }
  std::string End() {
    std::string tail = TranslatedRelay::End();
    Kept();
    return tail;
  }
};

// Keeps a finished exchange for previous_response_id, GET and DELETE (store: true).
void Keep(const Services& svc, const ResponsesRequest& rr, const std::string& owner,
          const std::string& id, const std::string& body, const std::string& output_items) {
  ResponseStore* store = ResponseStoreOf(svc);
  if (store == nullptr) return;
  StoredResponse s;
  s.body = body;
  s.owner = owner;
  // The conversation so far: what came in, then what went out.
  s.items = rr.items;
  if (output_items.size() > 2) {  // not "[]"
    if (s.items.size() > 2) {
      s.items.pop_back();
      s.items += ',';
      s.items.append(output_items, 1);
    } else {
      s.items = output_items;
    }
  }
  const int64_t now = ToUnixMs(NowMs());
  std::string error;
  if (!store->Put(id, s, now, now + kStoreTtlMs, &error)) {
    spdlog::warn("responses: could not store {}: {}", id, error);
  }
}

}  // namespace

ResponseStore* ResponseStoreOf(const Services& svc) {
  static std::once_flag once;
  static std::unique_ptr<ResponseStore> store;
  std::call_once(once, [&svc] {
    if (svc.config == nullptr) return;
    std::string error;
    store = ResponseStore::Open(svc.config->state_dir, &error);
    if (!store) spdlog::error("responses: the response store cannot be opened: {}", error);
  });
  return store.get();
}

asio::awaitable<int> ServeResponses(Request& req, ClientConn& client, Services& svc,
                                    UpstreamPool& up, bool keep_alive) {
  const Config& cfg = *svc.config;
  ResponsesOptions options;
  options.aliases = &cfg.model_aliases;
  ResponsesRequestResult translated = TranslateResponsesRequest(req.msg.body(), options);
  if (auto* need = std::get_if<PreviousResponseNeeded>(&translated)) {
    std::optional<StoredResponse> prev = Lookup(req, svc, need->id);
    if (!prev) {
      co_return co_await SendError(client, 404, NotFoundBody(need->id, "previous_response_id"),
                                   keep_alive);
    }
    options.previous_items = std::move(prev->items);
    translated = TranslateResponsesRequest(req.msg.body(), options);
  }
  if (auto* err = std::get_if<TranslateError>(&translated)) {
    co_return co_await SendError(client, err->status, OpenAiErrorBody(*err), keep_alive);
  }
  if (!std::holds_alternative<ResponsesRequest>(translated)) {
    co_return co_await SendError(
        client, 400, OpenAiErrorBody(400, "the previous response could not be read"), keep_alive);
  }
  ResponsesRequest& rr = std::get<ResponsesRequest>(translated);
  req.model = rr.model;

  UpstreamCall call;
  call.method = http::verb::post;
  call.target = "/v1beta/models/" + rr.model +
                (rr.stream ? ":streamGenerateContent?alt=sse" : ":generateContent");
  call.body = rr.body;
  call.content_type = "application/json";
  call.model = rr.model;
  call.session = rr.session;
  auto outcome = co_await CallUpstream(req, call, svc, up);
  if (auto* none = std::get_if<NoAnswer>(&outcome)) {
    if (none->client_gone) co_return PackResult(kClientGone, false);
    auto res = NoAnswerResponse(*none, true, keep_alive);
    co_return co_await SendAnswer(client, res, keep_alive);
  }
  Answer& a = std::get<Answer>(outcome);
  if (a.status >= 400) co_return co_await SendUpstreamError(a, req, client, svc, up, keep_alive);

  ResponsesContext ctx;
  ctx.id = RandomId("resp_", 32);
  ctx.created_at = ToUnixMs(NowMs()) / 1000;
  ctx.model = rr.client_model;
  ctx.new_id = [](std::string_view prefix) { return RandomId(prefix, 24); };
  ctx.include_encrypted = rr.include_encrypted;
  ctx.custom_tools = rr.custom_tools;
  ctx.echo = rr.echo;
  ctx.want_output_items = rr.store;

  if (!rr.stream) {
    std::string body;
    if (!co_await ReadBody(a, body, kAnswerLimit, cfg.upstream_timeout)) {
      a.conn.reset();
      FinishAnswer(a, req, svc, up, {});
      co_return co_await SendError(client, 502, OpenAiErrorBody(502, a.body_error), false);
    }
    auto response = TranslateResponsesResponse(body, ctx);
    if (auto* err = std::get_if<TranslateError>(&response)) {
      FinishAnswer(a, req, svc, up, {});
      co_return co_await SendError(client, err->status, OpenAiErrorBody(*err), keep_alive);
    }
    ResponsesAnswer& ra = std::get<ResponsesAnswer>(response);
    FinishAnswer(a, req, svc, up, TokensOf(ra.usage));
    if (rr.store) Keep(svc, rr, OwnerOf(req), ctx.id, ra.body, ra.output_items);
    co_return co_await SendJson(client, 200, std::move(ra.body), keep_alive);
  }

  // A stream in a content coding cannot be translated piece by piece; Google sends none
  // when asked for identity.
  if (CodingOf(a.parser->fields()) != Coding::kIdentity) {
    a.conn.reset();
    FinishAnswer(a, req, svc, up, {});
    co_return co_await SendError(
        client, 502, OpenAiErrorBody(502, "the upstream stream came in a content coding"), false);
  }
  ResponsesStreamTranslator translator(ctx);
  StreamWriter out(client, SseHead(keep_alive));
  std::function<void()> kept;
  if (rr.store) {
    kept = [&svc, &rr, &translator, id = ctx.id, owner = OwnerOf(req)] {
      Keep(svc, rr, owner, id, translator.FinalResponse(), translator.OutputItems());
    };
  }
  ResponsesRelay relay{{translator, *a.parser, {}}, std::move(kept)};
  RelayEnd end = co_await RelayStream(a, req, svc, up, out, relay);
  co_return PackResult(200, end.client_ok && end.upstream_ok && keep_alive);
}

asio::awaitable<int> ServeStoredResponse(Request& req, ClientConn& client, Services& svc,
                                         bool keep_alive) {
  std::string_view path = req.path;
  if (path.starts_with("/openai/")) path.remove_prefix(7);
  const std::string id(path.substr(std::string_view("/v1/responses/").size()));
  std::optional<StoredResponse> s = Lookup(req, svc, id);
  if (!s) co_return co_await SendError(client, 404, NotFoundBody(id, ""), keep_alive);
  if (req.msg.method() == http::verb::delete_) {
    ResponseStore* store = ResponseStoreOf(svc);
    if (store == nullptr || !store->Delete(id, ToUnixMs(NowMs()))) {
      co_return co_await SendError(client, 404, NotFoundBody(id, ""), keep_alive);
    }
    boost::json::object deleted;
    deleted["id"] = id;
    deleted["object"] = "response";
    deleted["deleted"] = true;
    co_return co_await SendJson(client, 200, boost::json::serialize(deleted), keep_alive);
  }
  co_return co_await SendJson(client, 200, std::move(s->body), keep_alive);
}

}  // namespace gkm
